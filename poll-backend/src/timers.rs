//! The driver's own timeouts ([`Call::Timeout`](kasync_ops::Call::Timeout)):
//! deadlines in a heap, the earliest bounding the wait.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use kasync::io::OpId;

/// Pending timeouts, earliest first. A cancelled one stays in the heap
/// until due and is skipped then (the driver checks that it still waits).
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
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
        self.heap.pop().map(|Reverse((_, id))| OpId::from_u64(id))
    }
}
