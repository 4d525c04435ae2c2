//! A task executor with static, fixed-capacity task storage — or storage
//! that grows in chunks that never move.
//!
//! An [`Executor<P, N, S>`] holds `N` task slots of `S` bytes each, inline:
//! put it in a `static` and no task ever touches a heap. Spawning writes the
//! future into a free slot; the slot is reused once the task has finished
//! and its [`JoinHandle`] is gone. An executor built with
//! [`Executor::init_growing`] adds slots in chunks from a
//! [`ChunkAlloc`](crate::chunk::ChunkAlloc) when every slot is occupied, up
//! to 262 144 tasks (see [`Growth`]).
//!
//! * Wakers are one word (the slot's address plus a generation tag); clone
//!   and drop do nothing, and waking sets the task's bit in a lock-free
//!   ready bitmap (one atomic `fetch_or`, rarely two) — safe from interrupt
//!   handlers and other threads, and the ready queue cannot overflow. A
//!   waker that outlives its task does nothing (at worst, if it races the
//!   slot's reuse, the slot's next task is polled once without cause).
//! * Exactly one [`Runner`] at a time polls the tasks; it is `!Send`, so
//!   `!Send` futures can be spawned on it with [`Runner::spawn_local`].
//!   `Send` futures can be spawned from anywhere with [`Executor::spawn`].
//! * Idling goes through a [`Platform`]; see its idle contract.
//!
//! ```
//! use kasync::executor::{Executor, Spin};
//!
//! static EXECUTOR: Executor<Spin, 8, 128> = Executor::new(Spin);
//!
//! let runner = EXECUTOR.runner().expect("nobody else runs it");
//! let task = EXECUTOR.spawn(async { 6 * 7 }).expect("a slot is free");
//! assert_eq!(runner.block_on(task), Ok(42));
//! ```
//!
//! A future larger than the slot size is rejected when the program is
//! compiled (here 64 bytes do not fit 32-byte slots):
//!
//! ```compile_fail
//! use kasync::executor::{Executor, Spin};
//! static EXECUTOR: Executor<Spin, 2, 32> = Executor::new(Spin);
//! let big = [0u8; 64];
//! let _ = EXECUTOR.spawn(async move { big.len() });
//! ```

mod drive;
mod join;
mod platform;
mod ready;
mod runner;
mod shared;
mod slot;
mod state;
#[cfg(all(feature = "std", not(loom)))]
mod thread_platform;
mod waker;

use core::fmt;
use core::future::Future;
use core::mem::{MaybeUninit, align_of, size_of};

pub use drive::Drive;
pub use join::{JoinError, JoinHandle};
pub use platform::{Idle, Platform, Spin};
pub use runner::{Runner, TickStats};
#[cfg(all(feature = "std", not(loom)))]
pub use thread_platform::ThreadPlatform;
pub(crate) use waker::{WakeBatch, WakerCell, wake};

use crate::atomics::{AtomicU32, AtomicUsize, Ordering};
use crate::chunk::{Chunks, GrowError, Growth};
use crate::storage::{self, STORAGE_ALIGN};
use core::alloc::Layout;
use core::ptr::NonNull;
use shared::Shared;
use slot::{ChunkHead, Header, SLOT_ALIGN, Slot, VIA_CHUNK, VTableOf};
use state::{ALIVE, CLAIMED, HANDLE};

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// Every task slot is occupied and the executor may not add more (it
    /// is fixed, or at its growth limit, or its chunk table is full — see
    /// [`Executor::max_capacity`]). Wait for a task to finish (or drop a
    /// finished task's `JoinHandle`; [`Executor::freed_slots`] moves), or
    /// give the executor more room (a larger `N`, a higher
    /// [`Growth::max_slots`], larger chunks).
    Full,
    /// The allocator had no memory for task slots: every slot is occupied
    /// and no chunk could be added, or (from
    /// [`Executor::init_growing`]) there was no memory for the ready queue.
    OutOfMemory,
    /// The future (or its output) needs more bytes than a task slot has.
    /// Build the executor with a slot size `S` of at least `size`.
    TooLarge {
        /// Bytes the future or its output needs.
        size: usize,
        /// Bytes a slot has (`S`).
        max: usize,
    },
    /// The future (or its output) needs a stricter alignment than task
    /// slots provide.
    Misaligned {
        /// Alignment the future or its output needs.
        align: usize,
        /// Alignment slots provide (16).
        max: usize,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpawnError::Full => f.write_str(
                "every task slot is occupied and the executor may add no more (its limit or its chunk table is reached): wait for a task to finish, or build it with a higher limit or larger chunks",
            ),
            SpawnError::OutOfMemory => f.write_str(
                "no memory for task slots: the allocator refused to give the executor more (wait for a task to finish, or free memory)",
            ),
            SpawnError::TooLarge { size, max } => write!(
                f,
                "the future needs {size} bytes but a task slot has {max}: build the executor with a slot size of at least {size}"
            ),
            SpawnError::Misaligned { align, max } => write!(
                f,
                "the future needs {align}-byte alignment but task slots are {max}-byte aligned"
            ),
        }
    }
}

impl core::error::Error for SpawnError {}

/// A future that could not be spawned, handed back with the reason (see
/// [`Runner::spawn_local_or_return`]).
pub struct Rejected<F> {
    /// Why it was not spawned.
    pub error: SpawnError,
    /// The future, untouched.
    pub future: F,
}

impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<F> core::error::Error for Rejected<F> {}

/// The claim on an executor failed because a [`Runner`] for it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerBusy;

impl fmt::Display for RunnerBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this executor already has a runner; drop it before claiming another")
    }
}

impl core::error::Error for RunnerBusy {}

/// Compile-time check that `F` and its output fit a slot of `S` bytes.
pub(crate) const fn assert_fits<F: Future, const S: usize>() {
    assert!(
        storage::fits::<F, S>() && storage::fits::<F::Output, S>(),
        "future (or its output) is larger than the executor's task slot size S, or needs more than 16-byte alignment"
    );
}

/// Run-time version of [`assert_fits`].
pub(crate) fn check_fits<F: Future, const S: usize>() -> Result<(), SpawnError> {
    let size = size_of::<F>().max(size_of::<F::Output>());
    if size > S {
        return Err(SpawnError::TooLarge { size, max: S });
    }
    let align = align_of::<F>().max(align_of::<F::Output>());
    if align > STORAGE_ALIGN {
        return Err(SpawnError::Misaligned {
            align,
            max: STORAGE_ALIGN,
        });
    }
    Ok(())
}

/// A task executor: `N` task slots of `S` bytes each inline (plus, if
/// built growing, chunks of more), idling through platform `P`. `N` is at
/// most 4096 (1024 on targets with a 32-bit `usize`), checked at compile
/// time.
///
/// Build it in a `static` with [`Executor::new`] (a `const fn`); spawning
/// and running need `&'static self`, because wakers point into the slots
/// and may outlive any scope. See the [module docs](self).
#[repr(C)]
pub struct Executor<P: Platform + 'static, const N: usize, const S: usize = 256> {
    /// Must stay the first field: headers find it at a fixed offset.
    shared: Shared,
    slots: [Slot<S>; N],
    /// Slots beyond the inline ones (none unless built growing).
    chunks: Chunks,
    /// Where the next spawn starts looking for a free slot (may be the
    /// capacity: nothing left after the last claim).
    next_free: AtomicU32,
    /// [`Shared::freed`] when a scan of every slot last found none free:
    /// while it has not moved, only slots after `next_free` (those of
    /// chunks added since) can be free, so a claim need not rescan the
    /// rest — growing stays linear, not quadratic.
    full_at: AtomicUsize,
    platform: P,
}

// SAFETY: every field shared between contexts is an atomic; slot storage
// and vtables are touched only by the spawner holding the slot's `CLAIMED`
// reference or by the run loop while the task is `ALIVE` (see `state`),
// and `!Send` futures only by the `!Send` `Runner`. `P: Platform` is `Sync`.
unsafe impl<P: Platform, const N: usize, const S: usize> Sync for Executor<P, N, S> {}

impl<P: Platform + 'static, const N: usize, const S: usize> fmt::Debug for Executor<P, N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("slot_size", &S)
            .field("capacity", &self.capacity())
            .field("max_capacity", &self.max_capacity())
            .field("occupied", &self.occupied())
            .finish_non_exhaustive()
    }
}

impl<P: Platform + 'static, const N: usize, const S: usize> Drop for Executor<P, N, S> {
    /// Only an executor that was never `'static` can be dropped, so no
    /// task, waker or handle points into it: its chunks are just memory.
    fn drop(&mut self) {
        /// Gives the ready queue's leaves back last, also if freeing a
        /// chunk unwinds.
        struct FreeLeaves(
            Option<(
                NonNull<ready::Leaves>,
                &'static dyn crate::chunk::ChunkAlloc,
            )>,
        );
        impl Drop for FreeLeaves {
            fn drop(&mut self) {
                if let Some((leaves, alloc)) = self.0 {
                    // SAFETY: `init_growing` allocated the leaves with this
                    // layout through this allocator; nothing uses them any
                    // more (see below).
                    unsafe { alloc.deallocate(leaves.cast(), Layout::new::<ready::Leaves>()) };
                }
            }
        }
        let _leaves = FreeLeaves(
            self.shared
                .ready
                .leaves()
                .zip(self.chunks.growth())
                .map(|(leaves, growth)| (NonNull::from(leaves), growth.alloc)),
        );
        // SAFETY: see above — nothing points into the chunks.
        unsafe { self.chunks.free() };
    }
}

impl<P: Platform + 'static, const N: usize, const S: usize> Executor<P, N, S> {
    /// Number of inline task slots (a growing executor adds more).
    pub const CAPACITY: usize = N;
    /// Bytes of storage per task.
    pub const SLOT_SIZE: usize = S;

    crate::atomics::const_fn! {
        /// An executor with every slot free, idling through `platform`.
        pub fn new(platform: P) -> Self {
            const {
                assert!(
                    N > 0 && N <= ready::MAX_TASKS,
                    "N must be between 1 and 4096 (1024 where usize has 32 bits)"
                );
                assert!(core::mem::align_of::<Slot<S>>() == SLOT_ALIGN);
            };
            let slots_at = core::mem::offset_of!(Self, slots);
            #[cfg(not(loom))]
            let slots = {
                let mut slots = [const { Slot::new(0, 0) }; N];
                let mut i = 0;
                while i < N {
                    slots[i].header.index = i as u32;
                    slots[i].header.shared_offset = slots_at + i * size_of::<Slot<S>>();
                    i += 1;
                }
                slots
            };
            #[cfg(loom)]
            let slots = core::array::from_fn(|i| Slot::new(i as u32, slots_at + i * size_of::<Slot<S>>()));
            Self {
                shared: Shared::new(Self::pend, None),
                slots,
                chunks: Self::chunks(None),
                next_free: AtomicU32::new(0),
                full_at: AtomicUsize::new(usize::MAX),
                platform,
            }
        }
    }

    /// Builds an executor in place — for executors too large for the stack
    /// (a `Box::new_uninit`, a leaked allocation). Each slot is written
    /// directly; no executor-sized temporary is made.
    ///
    /// ```
    /// use kasync::executor::{Executor, Spin};
    ///
    /// type Big = Executor<Spin, 256, 1024>; // 272 KiB of task slots
    /// let mut place = Box::<Big>::new_uninit();
    /// Big::init(&mut place, Spin);
    /// // SAFETY: `init` initialised it.
    /// let executor: Box<Big> = unsafe { place.assume_init() };
    /// assert_eq!(executor.occupied(), 0);
    /// // To spawn, it must be `'static`: `Box::leak` it (see `spawn`).
    /// ```
    pub fn init(place: &mut MaybeUninit<Self>, platform: P) -> &mut Self {
        const {
            assert!(
                N > 0 && N <= ready::MAX_TASKS,
                "N must be between 1 and 4096 (1024 where usize has 32 bits)"
            )
        };
        Self::init_with(place, platform, None)
    }

    /// Builds a *growing* executor in place: `N` slots inline, and when
    /// every slot is occupied a spawn adds a chunk of
    /// [`Growth::slots_per_chunk`] slots from the growth's allocator — up
    /// to [`Growth::max_slots`] tasks and at most 262 144 (32 768 where
    /// `usize` has 32 bits). Chunks never move; they are freed only if the
    /// executor is dropped (which a `'static` one never is).
    ///
    /// The ready queue gets a third bitmap level for the larger index
    /// space, from the same allocator (32 KiB). A spawn that must add a
    /// chunk calls the allocator: spawn from interrupt handlers only where
    /// that allocator may be called there. Fails with
    /// [`SpawnError::OutOfMemory`] if the allocator has no memory for the
    /// ready queue.
    ///
    /// ```
    /// # use core::alloc::Layout;
    /// # use core::ptr::NonNull;
    /// use kasync::chunk::{ChunkAlloc, Growth};
    /// use kasync::executor::{Executor, Spin};
    ///
    /// struct Heap;
    /// // SAFETY: the global allocator's blocks are fresh and valid until
    /// // freed.
    /// unsafe impl ChunkAlloc for Heap {
    ///     fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
    ///         // SAFETY: never asked for zero bytes.
    ///         NonNull::new(unsafe { std::alloc::alloc(layout) })
    ///     }
    ///     unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
    ///         // SAFETY: `ptr` came from `allocate(layout)`.
    ///         unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    ///     }
    /// }
    ///
    /// type Exec = Executor<Spin, 4, 128>;
    /// // Built once, for the rest of the program (wakers point into it).
    /// static EXECUTOR: std::sync::OnceLock<&'static Exec> = std::sync::OnceLock::new();
    /// let executor = *EXECUTOR.get_or_init(|| {
    ///     let growth = Growth::new(&Heap).chunk_slots(16);
    ///     Exec::init_growing(Box::leak(Box::new_uninit()), Spin, growth).unwrap()
    /// });
    /// let runner = executor.runner().unwrap();
    /// let tasks: Vec<_> = (0..100u32).map(|i| executor.spawn(async move { i }).unwrap()).collect();
    /// assert!(executor.capacity() >= 100);
    /// let sum = runner.block_on(async {
    ///     let mut sum = 0;
    ///     for task in tasks {
    ///         sum += task.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 4950);
    /// ```
    pub fn init_growing(
        place: &mut MaybeUninit<Self>,
        platform: P,
        growth: Growth,
    ) -> Result<&mut Self, SpawnError> {
        const {
            assert!(
                N > 0 && N <= ready::MAX_TASKS,
                "N must be between 1 and 4096 (1024 where usize has 32 bits)"
            )
        };
        let layout = Layout::new::<ready::Leaves>();
        let leaves = growth
            .alloc
            .allocate(layout)
            .ok_or(SpawnError::OutOfMemory)?
            .cast::<crate::atomics::AtomicUsize>();
        for i in 0..ready::LEAF_WORDS {
            // SAFETY: the block has room for `LEAF_WORDS` words and is ours.
            unsafe { leaves.add(i).write(crate::atomics::AtomicUsize::new(0)) };
        }
        // SAFETY: initialised above; it lives until the executor's drop
        // gives it back, and the executor is its only user.
        let leaves = unsafe { leaves.cast::<ready::Leaves>().as_ref() };
        Ok(Self::init_with(place, platform, Some((growth, leaves))))
    }

    crate::atomics::const_fn! {
        /// The chunk table for `growth`.
        fn chunks(growth: Option<Growth>) -> Chunks {
            let growth = match growth {
                Some(mut g) => {
                    if g.max_slots > ready::MAX_TASKS_GROWING {
                        g.max_slots = ready::MAX_TASKS_GROWING;
                    }
                    Some(g)
                }
                None => None,
            };
            Chunks::new(
                growth,
                N,
                size_of::<Slot<S>>(),
                SLOT_ALIGN,
                size_of::<ChunkHead>(),
            )
        }
    }

    fn init_with<'a>(
        place: &'a mut MaybeUninit<Self>,
        platform: P,
        growth: Option<(Growth, &'static ready::Leaves)>,
    ) -> &'a mut Self {
        let this = place.as_mut_ptr();
        let slots_at = core::mem::offset_of!(Self, slots);
        let leaves = growth.map(|(_, leaves)| leaves);
        // SAFETY: every field is written exactly once through raw pointers
        // into `place`, which is valid for writes; no reference to the
        // uninitialised value is made.
        unsafe {
            (&raw mut (*this).shared).write(Shared::new(Self::pend, leaves));
            (&raw mut (*this).chunks).write(Self::chunks(growth.map(|(g, _)| g)));
            (&raw mut (*this).next_free).write(AtomicU32::new(0));
            (&raw mut (*this).full_at).write(AtomicUsize::new(usize::MAX));
            (&raw mut (*this).platform).write(platform);
            let slots = (&raw mut (*this).slots).cast::<Slot<S>>();
            for i in 0..N {
                slots
                    .add(i)
                    .write(Slot::new(i as u32, slots_at + i * size_of::<Slot<S>>()));
            }
            &mut *this
        }
    }

    /// # Safety
    /// `shared` is `&self.shared` of a live `Self` with whole-`Self`
    /// provenance (it is at offset 0, so the cast is exact).
    unsafe fn pend(shared: *const Shared) {
        // SAFETY: guaranteed by the caller.
        let this = unsafe { &*shared.cast::<Self>() };
        this.platform.pend();
    }

    /// The platform this executor idles through.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Claims the right to run this executor on the current thread.
    pub fn runner(&'static self) -> Result<Runner<P, N, S>, RunnerBusy> {
        self.shared
            .runner_claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| RunnerBusy)?;
        Ok(Runner::new(self))
    }

    /// Spawns a `Send` future from any context — another thread, or an
    /// interrupt handler (spawning is lock-free and never allocates).
    ///
    /// The future and its output must fit the slot size `S`; this is
    /// checked at compile time (use [`try_spawn`](Self::try_spawn) to check
    /// at run time instead). A full executor is [`SpawnError::Full`].
    pub fn spawn<F>(&'static self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        const { assert_fits::<F, S>() };
        // SAFETY: `F` is `Send`, so whichever thread runs it is fine.
        unsafe { self.spawn_unchecked(future) }.map_err(|r| r.error)
    }

    /// [`spawn`](Self::spawn) without a [`JoinHandle`]: the task runs on its
    /// own, its output is dropped when it finishes (on the runner's
    /// thread), and nobody can wait for it or abort it. Cheaper than
    /// dropping the handle of [`spawn`](Self::spawn) — no handle to let go
    /// of, and the slot is freed in the step that finishes the task.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use kasync::executor::{Executor, Spin};
    ///
    /// static EXECUTOR: Executor<Spin, 4, 64> = Executor::new(Spin);
    /// static RAN: AtomicU32 = AtomicU32::new(0);
    ///
    /// let runner = EXECUTOR.runner().unwrap();
    /// for _ in 0..10 {
    ///     EXECUTOR.spawn_detached(async { RAN.fetch_add(1, Ordering::Relaxed); }).unwrap();
    ///     runner.tick(u32::MAX); // runs it; its slot is free again
    /// }
    /// assert_eq!(RAN.load(Ordering::Relaxed), 10);
    /// assert_eq!(EXECUTOR.occupied(), 0);
    /// ```
    pub fn spawn_detached<F>(&'static self, future: F) -> Result<(), SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: 'static,
    {
        const { assert_fits::<F, S>() };
        // SAFETY: `F` is `Send`, so whichever thread runs it is fine; its
        // output is made and dropped by the run loop alone.
        unsafe { self.spawn_detached_unchecked(future) }.map_err(|r| r.error)
    }

    /// [`try_spawn`](Self::try_spawn) that hands the future back when it
    /// cannot be spawned (no slot free, or too large), so the caller can
    /// wait and try again — back-pressure — instead of losing it.
    pub fn spawn_or_return<F>(
        &'static self,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if let Err(error) = check_fits::<F, S>() {
            return Err(Rejected { error, future });
        }
        // SAFETY: `F` is `Send`, so whichever thread runs it is fine.
        unsafe { self.spawn_unchecked(future) }
    }

    /// [`spawn`](Self::spawn) with the size check at run time: a future too
    /// large for the slots is [`SpawnError::TooLarge`].
    pub fn try_spawn<F>(&'static self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        check_fits::<F, S>()?;
        // SAFETY: `F` is `Send`, so whichever thread runs it is fine.
        unsafe { self.spawn_unchecked(future) }.map_err(|r| r.error)
    }

    /// Number of occupied slots: unfinished tasks and finished ones whose
    /// output still waits for its handle.
    pub fn occupied(&self) -> usize {
        (0..self.capacity())
            .filter_map(|index| self.slot(index))
            .filter(|slot| !state::is_free(slot.header.state.load(Ordering::Acquire)))
            .count()
    }

    /// How many times a task slot became free — a task finished with no
    /// handle, or its handle took the output or was dropped — counting
    /// with wrap-around. A spawner turned away with [`SpawnError::Full`]
    /// (or [`SpawnError::OutOfMemory`]) can wait for this to move before it
    /// tries again.
    pub fn freed_slots(&self) -> usize {
        self.shared.freed.total()
    }

    /// Task slots now: `N`, plus those of the chunks a growing executor
    /// has added.
    pub fn capacity(&self) -> usize {
        self.chunks.capacity()
    }

    /// The most task slots this executor can have: `N` for a fixed one;
    /// the growth limit for a growing one.
    pub fn max_capacity(&self) -> usize {
        self.chunks.limit()
    }

    /// The slot at `index`, if it exists.
    #[inline]
    pub(crate) fn slot(&self, index: usize) -> Option<&Slot<S>> {
        if index < N {
            return Some(&self.slots[index]);
        }
        self.chunk_slot(index)
    }

    /// The slot at `index` (`>= N`), if its chunk was added — out of line,
    /// so that fixed executors' run loops stay small.
    #[inline(never)]
    fn chunk_slot(&self, index: usize) -> Option<&Slot<S>> {
        let (chunk, within) = self.chunks.locate(index)?;
        // SAFETY: the elements of a chunk are `Slot<S>`s, initialised
        // before it was published, and live as long as the executor.
        Some(unsafe {
            self.chunks
                .element(chunk, within)
                .cast::<Slot<S>>()
                .as_ref()
        })
    }

    /// Writes the slots of a new chunk for indices `first..`.
    fn init_chunk(&'static self, chunk: NonNull<u8>, first: usize) {
        // SAFETY: the chunk is ours until published; it starts with room
        // for a `ChunkHead` (the chunk table's `head`) and is aligned for
        // it.
        unsafe {
            chunk.cast::<ChunkHead>().write(ChunkHead {
                shared: self.shared_ptr(),
            })
        };
        for within in 0..self.chunks.per_chunk() {
            let offset = self.chunks.offset_of(within);
            // SAFETY: `within` is below the chunk's slot count, so the
            // element lies inside the chunk, which is ours until published.
            unsafe {
                self.chunks
                    .element(chunk, within)
                    .cast::<Slot<S>>()
                    .write(Slot::new((first + within) as u32, offset | VIA_CHUNK))
            };
        }
    }

    /// # Safety
    /// If `F` or its output is not `Send`, the caller guarantees that only
    /// the current (unique, `!Send`) runner will poll and drop it.
    /// `F` and its output fit a slot (checked by the caller).
    unsafe fn spawn_unchecked<F>(
        &'static self,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Rejected<F>>
    where
        F: Future + 'static,
    {
        // SAFETY: forwarded from the caller.
        let (header, storage) = unsafe { self.spawn_raw(future, HANDLE) }?;
        // SAFETY: the header pointer has whole-executor provenance, and the
        // slot holds a `HANDLE` reference for the new handle.
        Ok(unsafe { JoinHandle::new(header, storage) })
    }

    /// [`spawn_unchecked`](Self::spawn_unchecked) with no handle: the run
    /// loop drops the output and frees the slot when the task finishes.
    ///
    /// # Safety
    /// As for `spawn_unchecked`.
    pub(crate) unsafe fn spawn_detached_unchecked<F>(
        &'static self,
        future: F,
    ) -> Result<(), Rejected<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // SAFETY: forwarded from the caller.
        unsafe { self.spawn_raw(future, 0) }.map(drop)
    }

    /// Claims a slot, writes `future` into it and queues it, with the
    /// reference flags `handle` (`HANDLE` or none) besides `ALIVE`; returns
    /// the slot's header (with whole-executor or whole-chunk provenance)
    /// and storage.
    ///
    /// # Safety
    /// As for [`spawn_unchecked`](Self::spawn_unchecked).
    #[inline(always)]
    unsafe fn spawn_raw<F>(
        &'static self,
        future: F,
        handle: u32,
    ) -> Result<(*const Header, *mut u8), Rejected<F>>
    where
        F: Future + 'static,
    {
        let (index, claimed) = match self.claim() {
            Ok(claimed) => claimed,
            Err(error) => return Err(Rejected { error, future }),
        };
        let slot_ptr = self.slot_ptr(index).expect("a claimed slot exists");
        // SAFETY: slots are initialised and live as long as the executor.
        let slot = unsafe { slot_ptr.as_ref() };
        let storage = slot.storage_ptr();
        // SAFETY: `CLAIMED` gives this context the slot exclusively (wakers
        // ignore it until `ALIVE`); the caller checked that `F` fits.
        unsafe {
            *slot.header.vtable.get() = Some(&VTableOf::<F>::VTABLE);
            storage.cast::<F>().write(future);
        }
        // Publish: the Release store makes the writes above visible to
        // whoever sees `ALIVE`. Nobody else writes the state while only
        // `CLAIMED` is set.
        slot.header.state.store(
            state::generation(claimed) | ALIVE | handle,
            Ordering::Release,
        );
        // SAFETY: `shared_ptr` has whole-executor provenance.
        unsafe { Shared::enqueue(self.shared_ptr(), &slot.header) };
        // (`Header` is the first field of the `repr(C)` slot.)
        Ok((slot_ptr.cast::<Header>().as_ptr(), storage))
    }

    /// Finds a free slot and marks it `CLAIMED` — adding a chunk if every
    /// slot is occupied and the executor grows; returns its index and the
    /// state it had.
    #[inline]
    fn claim(&'static self) -> Result<(usize, u32), SpawnError> {
        let freed = self.shared.freed.total();
        let wrap = freed != self.full_at.load(Ordering::Relaxed);
        match self.find_free(wrap) {
            Some(claimed) => Ok(claimed),
            None => self.claim_growing(freed),
        }
    }

    /// Claims the first free slot from where the last claim stopped: to
    /// the end, and with `wrap` on from the start (every slot once).
    #[inline]
    fn find_free(&self, wrap: bool) -> Option<(usize, u32)> {
        let capacity = self.capacity();
        let mut index = self.next_free.load(Ordering::Relaxed) as usize;
        let count = match (index < capacity, wrap) {
            (true, true) => capacity,
            (true, false) => capacity - index,
            (false, true) => {
                index = 0;
                capacity
            }
            (false, false) => 0,
        };
        for _ in 0..count {
            if let Some(slot) = self.slot(index) {
                let header = &slot.header;
                let s = header.state.load(Ordering::Relaxed);
                if state::is_free(s)
                    && header
                        .state
                        .compare_exchange(s, s | CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    self.next_free.store((index + 1) as u32, Ordering::Relaxed);
                    return Some((index, s));
                }
            }
            index += 1;
            if index == capacity {
                index = 0;
            }
        }
        None
    }

    /// [`claim`](Self::claim) once every slot was occupied (as of `freed`
    /// slots freed): adds a chunk (or finds one another context added) and
    /// claims from it.
    #[cold]
    #[inline(never)]
    fn claim_growing(&'static self, freed: usize) -> Result<(usize, u32), SpawnError> {
        self.full_at.store(freed, Ordering::Relaxed);
        loop {
            match self
                .chunks
                .grow(|chunk, first| self.init_chunk(chunk, first))
            {
                Ok(first) => self.next_free.store(first as u32, Ordering::Relaxed),
                Err(GrowError::Limit) => return Err(SpawnError::Full),
                Err(GrowError::OutOfMemory) => return Err(SpawnError::OutOfMemory),
            }
            if let Some(claimed) = self.find_free(false) {
                return Ok(claimed);
            }
        }
    }

    /// Pointer to `Shared` carrying the whole executor's provenance.
    fn shared_ptr(&'static self) -> *const Shared {
        let this: *const Self = self;
        this.cast()
    }

    /// Pointer to slot `index`, if it exists, carrying the whole
    /// executor's provenance (inline slots) or its whole chunk's (chunk
    /// slots): what [`Header::shared`] needs of the header at its start.
    #[inline]
    fn slot_ptr(&'static self, index: usize) -> Option<NonNull<Slot<S>>> {
        if index < N {
            let this: *const Self = self;
            // SAFETY: `this` is valid; the projection creates no reference.
            let slot = unsafe { &raw const (*this).slots[index] };
            return NonNull::new(slot.cast_mut());
        }
        self.chunk_slot_ptr(index)
    }

    /// [`slot_ptr`](Self::slot_ptr) for a chunk slot (out of line).
    #[inline(never)]
    fn chunk_slot_ptr(&self, index: usize) -> Option<NonNull<Slot<S>>> {
        let (chunk, within) = self.chunks.locate(index)?;
        Some(self.chunks.element(chunk, within).cast::<Slot<S>>())
    }
}
