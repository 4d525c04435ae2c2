//! Timers on the current runtime (microsecond ticks of a monotonic clock).

use std::future::Future;
use std::time::Duration;

use kasync::time::{Interval, Sleep, Timeout};

use crate::runtime::{MonotonicClock, io};

/// Completes after `duration`.
///
/// # Panics
/// Outside [`Runtime::block_on`](crate::Runtime::block_on).
pub fn sleep(duration: Duration) -> Sleep<'static, MonotonicClock> {
    io().sleep(duration)
}

/// Runs `future` for at most `duration`: `Ok(output)`, or
/// `Err(Elapsed)` if the time ran out first.
///
/// # Panics
/// Outside [`Runtime::block_on`](crate::Runtime::block_on).
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<'static, MonotonicClock, F> {
    io().timeout(duration, future)
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// Outside [`Runtime::block_on`](crate::Runtime::block_on), or if `period`
/// is shorter than a microsecond.
pub fn interval(period: Duration) -> Interval<'static, MonotonicClock> {
    io().interval(period)
}

pub use kasync::time::Elapsed;
