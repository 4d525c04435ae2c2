//! Timers on the current runtime (microsecond ticks of a monotonic clock).

use std::future::Future;
use std::time::Duration;

use kasync::time::Interval;

use crate::runtime::{MonotonicClock, io};

/// Completes after `duration` (measured from the first poll).
///
/// # Panics
/// When polled outside [`Runtime::block_on`](crate::Runtime::block_on).
pub async fn sleep(duration: Duration) {
    io().sleep(duration).await
}

/// Runs `future` for at most `duration` (from the first poll):
/// `Ok(output)`, or `Err(Elapsed)` if the time ran out first. The inner
/// future wins a tie.
///
/// # Panics
/// When polled outside [`Runtime::block_on`](crate::Runtime::block_on).
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    io().timeout(duration, future).await
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
