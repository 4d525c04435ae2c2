//! A task slot: the header every context may touch, and the storage only the
//! slot's current owner touches.

use core::cell::{Cell, UnsafeCell};
use core::future::Future;
use core::pin::Pin;
use core::ptr;
use core::task::{Context, Poll};

use super::shared::Shared;
use super::state::{self, ALIVE, REFS};
use crate::atomics::{AtomicU32, Ordering, WakerSlot};
use crate::storage::Storage;

/// What the run loop needs to know about the future in a slot, erased to
/// plain functions so that slots of every future type look alike.
pub(crate) struct TaskVTable {
    /// Polls the future in place. On `Ready` the future has been dropped and
    /// its output written over it. `dropping` is set right before the
    /// future is dropped, so a panic guard knows whether it still lives.
    pub(crate) poll: unsafe fn(*mut u8, &mut Context<'_>, &Cell<bool>) -> Poll<()>,
    /// Drops the future in place (abort, shutdown, panic).
    pub(crate) drop_future: unsafe fn(*mut u8),
    /// Drops the output in place (nobody is left to take it).
    pub(crate) drop_output: unsafe fn(*mut u8),
    /// `drop_output` runs code (the output has drop glue): a finished task
    /// with no handle must keep its slot while it runs.
    pub(crate) output_needs_drop: bool,
}

/// The vtable for future type `F`.
pub(crate) struct VTableOf<F>(core::marker::PhantomData<F>);

impl<F: Future> VTableOf<F> {
    pub(crate) const VTABLE: TaskVTable = TaskVTable {
        poll: poll_in_place::<F>,
        drop_future: drop_in_place_as::<F>,
        drop_output: drop_in_place_as::<F::Output>,
        output_needs_drop: core::mem::needs_drop::<F::Output>(),
    };
}

/// # Safety
/// `ptr` points to a live, pinned `F` that the caller may use exclusively.
unsafe fn poll_in_place<F: Future>(
    ptr: *mut u8,
    cx: &mut Context<'_>,
    dropping: &Cell<bool>,
) -> Poll<()> {
    let ptr = ptr.cast::<F>();
    // SAFETY: the caller owns the live future at `ptr`; slot storage never
    // moves, so pinning it in place is sound.
    let fut = unsafe { Pin::new_unchecked(&mut *ptr) };
    match fut.poll(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(output) => {
            dropping.set(true);
            // SAFETY: the future is finished and still live; after dropping
            // it the storage is free for the output, which `fits` checked
            // to be no larger and no more aligned than the storage.
            unsafe {
                ptr::drop_in_place(ptr);
                ptr.cast::<F::Output>().write(output);
            }
            Poll::Ready(())
        }
    }
}

/// # Safety
/// `ptr` points to a live `T` that nobody uses afterwards.
unsafe fn drop_in_place_as<T>(ptr: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr::drop_in_place(ptr.cast::<T>()) }
}

/// Alignment of a slot: 64 bytes, a cache line, which also leaves the low
/// [`state::TAG_BITS`] bits of a header pointer free for a waker's tag.
pub(crate) const SLOT_ALIGN: usize = 64;
const _: () = assert!(1 << state::TAG_BITS == SLOT_ALIGN);

/// Flag of [`Header::shared_offset`]: the offset leads to a chunk's head.
/// (Offsets are multiples of [`SLOT_ALIGN`], so the low bit is free.)
pub(crate) const VIA_CHUNK: usize = 1;

/// The start of a chunk of task slots: where its headers find the
/// executor's [`Shared`]. Padded to a slot's alignment, so the slots that
/// follow it are aligned.
#[repr(C, align(64))]
pub(crate) struct ChunkHead {
    pub(crate) shared: *const Shared,
}

/// The part of a slot that wakers, join handles and the run loop share.
#[repr(C)]
pub(crate) struct Header {
    /// Flags and generation, see [`state`].
    pub(crate) state: AtomicU32,
    /// This slot's index in the executor.
    pub(crate) index: u32,
    /// Byte distance from this header back to the executor's [`Shared`]
    /// (inline slots) or, with [`VIA_CHUNK`] set, back to the start of its
    /// chunk, which holds a pointer to the `Shared` (chunk slots).
    pub(crate) shared_offset: usize,
    /// The task's vtable; written only by the spawner while it holds
    /// `CLAIMED`, read by the run loop after `ALIVE` was published.
    pub(crate) vtable: UnsafeCell<Option<&'static TaskVTable>>,
    /// Woken when the task finishes; registered only by the `JoinHandle`.
    pub(crate) join_waker: WakerSlot,
}

/// One task's home: header plus storage for its future (later its output).
#[repr(C, align(64))]
pub(crate) struct Slot<const S: usize> {
    pub(crate) header: Header,
    pub(crate) storage: UnsafeCell<Storage<S>>,
}

impl<const S: usize> Slot<S> {
    crate::atomics::const_fn! {
        pub(crate) fn new(index: u32, shared_offset: usize) -> Self {
            Self {
                header: Header {
                    state: AtomicU32::new(0),
                    index,
                    shared_offset,
                    vtable: UnsafeCell::new(None),
                    join_waker: WakerSlot::new(),
                },
                storage: UnsafeCell::new(Storage::uninit()),
            }
        }
    }

    /// Pointer to the storage, valid for the executor's lifetime.
    pub(crate) fn storage_ptr(&self) -> *mut u8 {
        self.storage.get().cast()
    }
}

impl Header {
    /// The executor state the header at `this` belongs to.
    ///
    /// # Safety
    /// `this` points to a header inside a live executor and carries the
    /// provenance of the whole executor — or, for a slot in a chunk, of the
    /// whole chunk (it was derived from a pointer to the executor or the
    /// chunk, never narrowed through a `&Header`).
    #[inline(always)]
    pub(crate) unsafe fn shared(this: *const Header) -> *const Shared {
        // SAFETY: set once when the slot was made, never changed.
        let offset = unsafe { (*this).shared_offset };
        // SAFETY: the header sits `offset & !VIA_CHUNK` bytes after its
        // executor's `Shared` or its chunk's head; the caller's pointer may
        // reach either.
        let base = unsafe { this.byte_sub(offset & !VIA_CHUNK) };
        if offset & VIA_CHUNK == 0 {
            base.cast::<Shared>()
        } else {
            // SAFETY: a chunk's head was written before the chunk was
            // published and never changes; it points to the `Shared` with
            // the whole executor's provenance.
            unsafe { (*base.cast::<ChunkHead>()).shared }
        }
    }

    /// Schedules the task at `this` if `tag` still names its current
    /// generation and it is alive. Lock-free, allocation-free and callable
    /// from any context; the ready queue holds each task at most once.
    ///
    /// The check and the enqueue are not one atomic step: if the task
    /// finishes in between, the queue holds a stale entry that the run loop
    /// skips (the slot is not `ALIVE`), or — if the slot was reused in
    /// between — its new task is polled once without cause, which every
    /// future tolerates.
    ///
    /// # Safety
    /// As for [`Header::shared`].
    pub(crate) unsafe fn wake(this: *const Header, tag: usize) {
        // SAFETY: the caller guarantees `this` is a live header.
        let header = unsafe { &*this };
        if !header.wanted(tag) {
            return;
        }
        // SAFETY: guaranteed by the caller.
        let shared = unsafe { Header::shared(this) };
        // SAFETY: `shared` is the live executor's `Shared`, reached with
        // the executor's provenance.
        unsafe { Shared::enqueue(shared, header) };
    }

    /// `true` if a wake with generation tag `tag` is for the task now in
    /// the slot and it is alive (a wake of a finished task, or of the
    /// slot's earlier occupant, does nothing).
    #[inline(always)]
    pub(crate) fn wanted(&self, tag: usize) -> bool {
        // Relaxed: the check only filters stale wakers; what the waker did
        // before waking reaches the run loop through the queue.
        let s = self.state.load(Ordering::Relaxed);
        s & ALIVE != 0 && state::tag(s) == tag
    }

    /// Clears reference flags `refs`; frees the slot when no reference
    /// remains (and then calls `on_free`, which counts it). Returns the
    /// state it stored.
    pub(crate) fn release(&self, refs: u32, on_free: impl FnOnce()) -> u32 {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert_eq!(s & refs, refs, "releasing a reference not held");
            let mut new = s & !refs;
            if new & REFS == 0 {
                new = state::freed(s);
            }
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if state::is_free(new) {
                        on_free();
                    }
                    return new;
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// The task's vtable.
    ///
    /// # Safety
    /// The caller has observed `ALIVE` of the current generation with
    /// Acquire, so the spawner's write is visible and final.
    #[inline]
    pub(crate) unsafe fn vtable(&self) -> &'static TaskVTable {
        // SAFETY: per the caller, the write happened-before and no write
        // can happen while the slot is held.
        let vtable = unsafe { *self.vtable.get() };
        vtable.expect("an occupied slot always has a vtable")
    }
}
