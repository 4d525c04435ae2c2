//! The part of an executor that every waker reaches: the ready queue, the
//! root-future flag and the platform's pender.

use super::ready::ReadyQueue;
use crate::sync::{AtomicBool, Ordering};

/// Executor state reachable from any context through a task header.
///
/// It sits at offset 0 of every `Executor`, so a header finds it by a fixed
/// byte offset and wakers need not know the executor's generic parameters.
#[repr(C)]
pub(crate) struct Shared {
    /// Tasks ready to be polled.
    pub(crate) ready: ReadyQueue,
    /// The future passed to `block_on` was woken.
    pub(crate) root_woken: AtomicBool,
    /// A `Runner` exists for this executor.
    pub(crate) runner_claimed: AtomicBool,
    /// The run loop is in (or on its way into) `Platform::park`: only then
    /// do wakes call the platform's `pend`. Busy loops pay nothing for it.
    pub(crate) sleeping: AtomicBool,
    /// Calls `Platform::pend` of the executor that owns this `Shared`.
    pend_fn: unsafe fn(*const Shared),
}

impl Shared {
    crate::sync::const_fn! {
        /// `pend_fn` must treat its argument as the start of the executor
        /// that contains this value.
        pub(crate) fn new(pend_fn: unsafe fn(*const Shared)) -> Self {
            Self {
                ready: ReadyQueue::new(),
                root_woken: AtomicBool::new(false),
                runner_claimed: AtomicBool::new(false),
                sleeping: AtomicBool::new(false),
                pend_fn,
            }
        }
    }

    /// Tells the platform that work is ready, if the run loop sleeps.
    /// Called after every enqueue.
    ///
    /// # Safety
    /// `this` points to the `Shared` of a live executor and carries the
    /// provenance of the whole executor.
    pub(crate) unsafe fn pend(this: *const Shared) {
        // SeqCst after the SeqCst enqueue, against the run loop's SeqCst
        // store of `sleeping` before its idle check (see `park`): either
        // the run loop sees the enqueued work, or this sees it sleeping.
        // SAFETY: the caller guarantees `this` is live.
        if unsafe { &*this }.sleeping.load(Ordering::SeqCst) {
            // SAFETY: `pend_fn` was chosen by the executor that embeds
            // `*this` at offset 0 (see `Executor::new`); the caller
            // guarantees the pointer may reach that whole executor.
            unsafe { ((*this).pend_fn)(this) }
        }
    }

    /// Marks the run loop as sleeping for the duration of `park`, which
    /// must re-check for work (through `Idle::is_idle`) before it sleeps.
    pub(crate) fn sleep(&self, park: impl FnOnce()) {
        self.sleeping.store(true, Ordering::SeqCst);
        park();
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Wakes the root future of `block_on`.
    ///
    /// # Safety
    /// As for [`Shared::pend`].
    pub(crate) unsafe fn wake_root(this: *const Shared) {
        // SAFETY: guaranteed by the caller.
        if !unsafe { &*this }.root_woken.swap(true, Ordering::SeqCst) {
            // SAFETY: guaranteed by the caller.
            unsafe { Shared::pend(this) };
        }
    }

    /// `true` when no task and no root future is ready.
    pub(crate) fn is_idle(&self) -> bool {
        self.ready.is_empty() && !self.root_woken.load(Ordering::SeqCst)
    }
}
