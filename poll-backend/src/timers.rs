//! The driver's own timeouts ([`Call::Timeout`](kasync_ops::Call::Timeout)):
//! deadlines in a heap, the earliest bounding the wait.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use kasync::io::OpId;

/// Pending timeouts, earliest first. A cancelled one stays in the heap
/// until due and is skipped then (the driver checks that it still waits),
/// unless cancelled ones come to outnumber the live: then they are swept
/// out, so a loop that keeps cancelling long timeouts stays bounded.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Entries in the heap that were cancelled.
    cancelled: usize,
}

impl Timers {
    /// `id` is due after `after`.
    pub(crate) fn add(&mut self, id: OpId, after: Duration) {
        let now = Instant::now();
        let deadline = now
            .checked_add(after)
            .unwrap_or(now + Duration::from_secs(1 << 32));
        self.heap.push(Reverse((deadline, id.to_u64())));
    }

    /// Notes that a timeout in the heap was cancelled; sweeps the heap
    /// (keeping the entries `live` says still wait) once most are.
    pub(crate) fn cancelled(&mut self, live: impl Fn(OpId) -> bool) {
        self.cancelled += 1;
        if self.cancelled > 32 && self.cancelled * 2 > self.heap.len() {
            self.heap
                .retain(|Reverse((_, id))| live(OpId::from_u64(*id)));
            self.cancelled = 0;
        }
    }

    /// How long until the earliest deadline (zero if one passed).
    pub(crate) fn next(&self) -> Option<Duration> {
        let Reverse((deadline, _)) = self.heap.peek()?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// Takes the next timeout that is due, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<OpId> {
        let Reverse((deadline, _)) = self.heap.peek()?;
        if *deadline > now {
            return None;
        }
        let id = self.heap.pop().map(|Reverse((_, id))| OpId::from_u64(id));
        // Popped entries may be cancelled ones (the driver skips them).
        self.cancelled = self.cancelled.min(self.heap.len());
        id
    }
}
