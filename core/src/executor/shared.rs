//! The part of an executor that every waker reaches besides the task's own
//! slot: the ready queue and the platform's pender.

use super::ready::{Leaves, ReadyQueue};
use crate::atomics::{AtomicBool, AtomicUsize, Ordering};

/// Executor state reachable from any context through a task header.
///
/// It sits at offset 0 of every `Executor`, so a header finds it by a fixed
/// byte offset and wakers need not know the executor's generic parameters.
#[repr(C)]
pub(crate) struct Shared {
    /// Tasks ready to be polled, plus the root and sleeping flags.
    pub(crate) ready: ReadyQueue,
    /// A `Runner` exists for this executor.
    pub(crate) runner_claimed: AtomicBool,
    /// How many times a slot became free: what a spawner waiting for a
    /// slot watches.
    pub(crate) freed: FreedCount,
    /// Calls `Platform::pend` of the executor that owns this `Shared`.
    pend_fn: unsafe fn(*const Shared),
}

/// How many times a task slot became free, in two counters (wrapping): the
/// run loop's frees — a task that finished with no handle, the common case
/// — counted without a read-modify-write (only the run loop writes it),
/// and the frees by join handles, from any context.
pub(crate) struct FreedCount {
    by_run_loop: AtomicUsize,
    by_handles: AtomicUsize,
}

impl FreedCount {
    crate::atomics::const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                by_run_loop: AtomicUsize::new(0),
                by_handles: AtomicUsize::new(0),
            }
        }
    }

    /// Counts a slot freed by the run loop (only the run loop calls this).
    #[inline]
    pub(crate) fn by_run_loop(&self) {
        let n = self.by_run_loop.load(Ordering::Relaxed);
        self.by_run_loop.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Counts a slot freed by a join handle (any context).
    #[inline]
    pub(crate) fn by_handle(&self) {
        self.by_handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Both counts together.
    pub(crate) fn total(&self) -> usize {
        self.by_run_loop
            .load(Ordering::Relaxed)
            .wrapping_add(self.by_handles.load(Ordering::Relaxed))
    }
}

impl Shared {
    crate::atomics::const_fn! {
        /// `pend_fn` must treat its argument as the start of the executor
        /// that contains this value.
        /// `leaves`: the ready queue's leaf words of a growing executor.
        pub(crate) fn new(pend_fn: unsafe fn(*const Shared), leaves: Option<&'static Leaves>) -> Self {
            Self {
                ready: ReadyQueue::new(leaves),
                runner_claimed: AtomicBool::new(false),
                freed: FreedCount::new(),
                pend_fn,
            }
        }
    }

    /// Marks the task of `header` ready and pends the platform if the run
    /// loop sleeps.
    ///
    /// # Safety
    /// `this` points to the `Shared` of a live executor and carries the
    /// provenance of the whole executor; `header` belongs to it.
    #[inline]
    pub(crate) unsafe fn enqueue(this: *const Shared, header: &super::slot::Header) {
        // SAFETY: guaranteed by the caller.
        let ready = unsafe { &(*this).ready };
        if ready.leaves().is_some() {
            // SAFETY: guaranteed by the caller.
            return unsafe { Shared::enqueue_growing(this, header.index) };
        }
        // A fixed executor's wake, with no call but the pend: the common
        // case in kernels and the one the ping-pong benchmark measures.
        if ready.push_small(header.index as usize) {
            // SAFETY: guaranteed by the caller.
            unsafe { Shared::pend(this) };
        }
    }

    /// [`enqueue`](Self::enqueue) for a growing executor (out of line).
    ///
    /// # Safety
    /// As for [`Shared::enqueue`].
    #[inline(never)]
    unsafe fn enqueue_growing(this: *const Shared, index: u32) {
        // SAFETY: guaranteed by the caller.
        if unsafe { &*this }.ready.push(index as usize) {
            // SAFETY: guaranteed by the caller.
            unsafe { Shared::pend(this) };
        }
    }

    /// Marks the tasks of `bits` in ready-queue leaf word `leaf` ready and
    /// pends the platform if the run loop sleeps (see [`WakeBatch`]).
    ///
    /// [`WakeBatch`]: super::waker::WakeBatch
    ///
    /// # Safety
    /// As for [`Shared::enqueue`]; the bits name tasks of this executor.
    pub(crate) unsafe fn enqueue_bits(this: *const Shared, leaf: usize, bits: usize) {
        // SAFETY: guaranteed by the caller.
        if unsafe { &*this }.ready.push_bits(leaf, bits) {
            // SAFETY: guaranteed by the caller.
            unsafe { Shared::pend(this) };
        }
    }

    /// Wakes the root future of `block_on`.
    ///
    /// # Safety
    /// As for [`Shared::enqueue`].
    pub(crate) unsafe fn wake_root(this: *const Shared) {
        // SAFETY: guaranteed by the caller.
        if unsafe { &*this }.ready.wake_root() {
            // SAFETY: guaranteed by the caller.
            unsafe { Shared::pend(this) };
        }
    }

    /// Calls the platform's `pend`.
    ///
    /// # Safety
    /// As for [`Shared::enqueue`].
    unsafe fn pend(this: *const Shared) {
        // SAFETY: `pend_fn` was chosen by the executor that embeds `*this`
        // at offset 0 (see `Executor::new`); the caller guarantees the
        // pointer may reach that whole executor.
        unsafe { ((*this).pend_fn)(this) }
    }
}
