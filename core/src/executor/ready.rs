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
//!
//! The head word also carries two flags, so that the decisions that must
//! see each other are made on one memory location (plain coherence, no
//! store-load fences):
//!
//! * `SLEEPING` — the run loop is in `Platform::park`. A push that finds it
//!   set tells its caller to call the platform's `pend`; a push that does not
//!   is seen by the run loop's own check before it sleeps. Busy run loops
//!   therefore cost wakers no `pend` at all (which matters where `pend` is a
//!   system call).
//! * `ROOT` — the future passed to `block_on` was woken.

use super::slot::{Header, Slot};
use crate::sync::{AtomicU32, Ordering};

/// Mask of the link part of the head word: index + 1 of the newest queued
/// slot, or 0. Executors have fewer than 2^24 slots.
const LINK: u32 = (1 << 24) - 1;
/// The `block_on` future was woken.
const ROOT: u32 = 1 << 30;
/// The run loop is (about to be) asleep in `Platform::park`.
const SLEEPING: u32 = 1 << 31;

/// The head of the ready stack plus the `ROOT` and `SLEEPING` flags.
pub(crate) struct ReadyQueue {
    head: AtomicU32,
}

/// What the run loop took out of the queue.
pub(crate) struct Taken {
    /// Chain of queued tasks, oldest first, linked through `Header::next`.
    pub(crate) link: u32,
    /// The `block_on` future was woken.
    pub(crate) root: bool,
}

impl ReadyQueue {
    crate::sync::const_fn! {
        pub(crate) fn new() -> Self {
            Self { head: AtomicU32::new(0) }
        }
    }

    /// Pushes `header`, whose `QUEUED` flag the caller just set. Lock-free:
    /// a failed CAS means another context pushed, never that one is waited
    /// for. Returns `true` if the run loop sleeps and must be pended.
    pub(crate) fn push(&self, header: &Header) -> bool {
        let link = header.index + 1;
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            header.next.store(head & LINK, Ordering::Relaxed);
            // AcqRel: Release publishes the task; Acquire, when this finds
            // `SLEEPING`, makes everything the run loop did before it went
            // to sleep (such as resetting its platform's state) visible to
            // the `pend` that follows.
            match self.head.compare_exchange_weak(
                head,
                (head & !LINK) | link,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return head & SLEEPING != 0,
                Err(actual) => head = actual,
            }
        }
    }

    /// Flags the `block_on` future as woken. Returns `true` if the run loop
    /// sleeps and must be pended.
    pub(crate) fn wake_root(&self) -> bool {
        let prev = self.head.fetch_or(ROOT, Ordering::AcqRel);
        prev & SLEEPING != 0 && prev & ROOT == 0
    }

    /// Takes every queued task, oldest first, and the `ROOT` flag. Only the
    /// run loop calls this.
    pub(crate) fn take_all<const S: usize>(&self, slots: &[Slot<S>]) -> Taken {
        let head = self.head.swap(0, Ordering::Acquire);
        // Reverse in place: the run loop owns every node it took until it
        // clears that node's `QUEUED` flag, so no one else writes `next`.
        let mut link = head & LINK;
        let mut reversed = 0;
        while link != 0 {
            let header = &slots[link as usize - 1].header;
            let next = header.next.load(Ordering::Relaxed);
            header.next.store(reversed, Ordering::Relaxed);
            reversed = link;
            link = next;
        }
        Taken {
            link: reversed,
            root: head & ROOT != 0,
        }
    }

    /// Takes just the `ROOT` flag, leaving queued tasks in place.
    pub(crate) fn take_root(&self) -> bool {
        self.head.load(Ordering::Relaxed) & ROOT != 0
            && self.head.fetch_and(!ROOT, Ordering::Acquire) & ROOT != 0
    }

    /// Marks the run loop as going to sleep. Returns `true` if nothing is
    /// queued (the flag stays set: sleeping is safe, every later push will
    /// ask for a pend); `false` if work is already there (the flag is
    /// cleared again).
    pub(crate) fn start_sleeping(&self) -> bool {
        let prev = self.head.fetch_or(SLEEPING, Ordering::AcqRel);
        if prev & (LINK | ROOT) == 0 {
            true
        } else {
            self.stop_sleeping();
            false
        }
    }

    /// Clears the sleeping flag after `Platform::park` returned.
    pub(crate) fn stop_sleeping(&self) {
        self.head.fetch_and(!SLEEPING, Ordering::Relaxed);
    }

    /// `true` when no task and no `block_on` future is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) & (LINK | ROOT) == 0
    }
}
