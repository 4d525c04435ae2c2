//! The ready queue: an intrusive lock-free stack of task headers that the run
//! loop empties in one atomic swap.
//!
//! Why a stack and not a FIFO linked list: pushing is a single
//! compare-and-swap on the head, so a push that an interrupt handler cuts in
//! half leaves nothing half-linked for the run loop to wait on — there is no
//! window in which the consumer must spin on a preempted producer. The run
//! loop takes the whole stack at once and reverses it, so tasks run in the
//! order they were woken, and a task that wakes itself while being polled
//! lands in the *next* batch: every task already queued runs first.
//!
//! A task is pushed only by the context that set its `QUEUED` flag, so it is
//! in the stack at most once and the stack needs no capacity limit.

use super::slot::{Header, Slot};
use crate::sync::{AtomicU32, Ordering};

/// The head of the ready stack: index + 1 of the newest queued slot, or 0.
pub(crate) struct ReadyQueue {
    head: AtomicU32,
}

impl ReadyQueue {
    crate::sync::const_fn! {
        pub(crate) fn new() -> Self {
            Self { head: AtomicU32::new(0) }
        }
    }

    /// Pushes `header`, whose `QUEUED` flag the caller just set.
    /// Lock-free: a failed CAS means another context pushed, never that one
    /// is waited for.
    pub(crate) fn push(&self, header: &Header) {
        let link = header.index + 1;
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            header.next.store(head, Ordering::Relaxed);
            match self
                .head
                // SeqCst: a platform arming its sleep with a SeqCst
                // read-modify-write then sees either this push (through
                // `is_empty`) or the pend that follows it; see `Platform`.
                .compare_exchange_weak(head, link, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// `true` when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst) == 0
    }

    /// Takes every queued task, oldest first, as a chain of links through
    /// `Header::next` (0 ends it). Only the run loop calls this.
    pub(crate) fn take_all<const S: usize>(&self, slots: &[Slot<S>]) -> u32 {
        let mut link = self.head.swap(0, Ordering::Acquire);
        // Reverse in place: the run loop owns every node it took until it
        // clears that node's `QUEUED` flag, so no one else writes `next`.
        let mut reversed = 0;
        while link != 0 {
            let header = &slots[link as usize - 1].header;
            let next = header.next.load(Ordering::Relaxed);
            header.next.store(reversed, Ordering::Relaxed);
            reversed = link;
            link = next;
        }
        reversed
    }
}
