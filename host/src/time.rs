//! Timers on the current runtime (microsecond ticks of a monotonic clock).

use std::future::Future;
use std::time::Duration;

use kasync::time::Interval;

use crate::runtime::{MonotonicClock, io};

/// Completes after `duration` (measured from the first poll).
///
/// # Panics
/// When polled outside [`Runtime::block_on`](crate::Runtime::block_on).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let start = Instant::now();
///     kasync_host::sleep(Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub async fn sleep(duration: Duration) {
    io().sleep(duration).await
}

/// Runs `future` for at most `duration` (from the first poll):
/// `Ok(output)`, or `Err(Elapsed)` if the time ran out first. The inner
/// future wins a tie.
///
/// # Panics
/// When polled outside [`Runtime::block_on`](crate::Runtime::block_on).
///
/// ```
/// use std::time::Duration;
/// use kasync_host::time::timeout;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     assert_eq!(timeout(Duration::from_millis(50), async { 7 }).await, Ok(7));
///     let never = std::future::pending::<()>();
///     assert!(timeout(Duration::from_millis(1), never).await.is_err());
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    io().timeout(duration, future).await
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// Outside [`Runtime::block_on`](crate::Runtime::block_on), or if `period`
/// is shorter than a microsecond.
///
/// ```
/// use std::time::Duration;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let mut every = kasync_host::time::interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         every.tick().await; // at once, then every millisecond
///     }
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub fn interval(period: Duration) -> Interval<'static, MonotonicClock> {
    io().interval(period)
}

pub use kasync::time::Elapsed;
