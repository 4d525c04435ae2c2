//! Chunk memory for growing tables in tests: the global allocator, counting
//! live blocks and failing on demand.

use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use kasync::chunk::ChunkAlloc;

/// The global allocator, counting what is live, failing once `budget`
/// blocks are out.
pub struct Heap {
    /// Blocks allocated and not yet given back.
    pub live: AtomicUsize,
    /// Allocations fail while `live` is at least this.
    pub budget: AtomicUsize,
}

impl Heap {
    /// A heap with no budget.
    pub const fn new() -> Self {
        Self {
            live: AtomicUsize::new(0),
            budget: AtomicUsize::new(usize::MAX),
        }
    }
}

// SAFETY: the global allocator's blocks are fresh and valid until freed.
unsafe impl ChunkAlloc for Heap {
    fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        if self.live.load(Ordering::SeqCst) >= self.budget.load(Ordering::SeqCst) {
            return None;
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        // SAFETY: tables never ask for zero bytes.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: per the caller, `ptr` came from `allocate(layout)`.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}

/// What the tests leak on purpose (`'static` executors, as a host's are),
/// kept reachable so that miri does not report it as a leak.
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

struct Kept(#[allow(dead_code)] *const ());

// SAFETY: only stored, never used.
unsafe impl Send for Kept {}

/// Keeps `value` reachable from a static (see [`KEPT`]).
pub fn keep<T>(value: &'static T) -> &'static T {
    KEPT.lock().unwrap().push(Kept((value as *const T).cast()));
    value
}

/// Leaks `value` on purpose (like `mem::forget`, for a test of what a
/// leaked future or operation does) and keeps it reachable.
pub fn keep_leaked<T>(value: T) {
    let leaked: *const T = Box::into_raw(Box::new(value));
    KEPT.lock().unwrap().push(Kept(leaked.cast()));
}

/// Keeps the memory at `ptr` reachable in case whatever owns it is leaked
/// on purpose (an operation left in a table whose chunks are freed). The
/// pointer may dangle later: it is only kept, never used.
pub fn keep_address<T: ?Sized>(ptr: *const T) {
    KEPT.lock().unwrap().push(Kept(ptr.cast()));
}

/// A counting heap that lives for the rest of the test run.
pub fn leak_heap() -> &'static Heap {
    keep(Box::leak(Box::new(Heap::new())))
}

/// An allocator that panics or fails on chosen calls, and may run a hook
/// (re-entering whatever is allocating) once.
pub struct Flaky {
    /// Blocks allocated and not yet given back.
    pub live: AtomicUsize,
    /// `allocate` calls so far.
    pub calls: AtomicUsize,
    /// Call number (0-based) of `allocate` that panics.
    pub panic_at: AtomicUsize,
    /// Call number of `allocate` that returns `None`.
    pub none_at: AtomicUsize,
    /// Every call from this number on returns `None`.
    pub fail_from: AtomicUsize,
    /// The next `deallocate` panics (after freeing).
    pub panic_dealloc: AtomicBool,
}

thread_local! {
    /// Run once inside the next `Flaky::allocate` on this thread.
    pub static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

impl Flaky {
    /// A flaky allocator that lives for the rest of the test run, and
    /// behaves until told otherwise.
    pub fn leak() -> &'static Flaky {
        keep(Box::leak(Box::new(Flaky {
            live: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            panic_at: AtomicUsize::new(usize::MAX),
            none_at: AtomicUsize::new(usize::MAX),
            fail_from: AtomicUsize::new(usize::MAX),
            panic_dealloc: AtomicBool::new(false),
        })))
    }
}

// SAFETY: blocks come from the global allocator, fresh and valid until
// freed; failing and panicking are allowed.
unsafe impl ChunkAlloc for Flaky {
    fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
            hook();
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call == self.panic_at.load(Ordering::SeqCst) {
            panic!("allocator panics on call {call}");
        }
        if call == self.none_at.load(Ordering::SeqCst)
            || call >= self.fail_from.load(Ordering::SeqCst)
        {
            return None;
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        // SAFETY: tables never ask for zero bytes.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: per the caller, `ptr` came from `allocate(layout)`.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        // Once: a second panic while the first unwinds would abort.
        if self.panic_dealloc.swap(false, Ordering::SeqCst) {
            panic!("deallocate panics");
        }
    }
}
