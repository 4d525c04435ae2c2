//! Timers on the current runtime (microsecond ticks of a monotonic clock).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kasync::time::Interval;

use crate::runtime::{MonotonicClock, io};

/// Completes after `duration`, measured from this call (as tokio's
/// `sleep`): a [`Sleep`], which can be [`reset`](Sleep::reset).
///
/// # Panics
/// Outside [`Runtime::block_on`](crate::Runtime::block_on).
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
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        inner: io().sleep(duration),
    }
}

/// Completes at `deadline` (at once if it has passed).
///
/// # Panics
/// Outside [`Runtime::block_on`](crate::Runtime::block_on).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(2);
///     kasync_host::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    let timers = io().timers();
    Sleep {
        inner: timers.sleep_until(timers.clock().tick_at(deadline)),
    }
}

/// The future of [`sleep`] and [`sleep_until`]: filed in the current
/// runtime's timer wheel while a task waits on it (it is not `Send`; see
/// [`ThreadBound`](crate::thread_bound::ThreadBound) for APIs that ask).
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    inner: kasync::time::Sleep<'static, MonotonicClock>,
}

impl Sleep {
    /// When it completes (rounded up to the clock's microsecond).
    pub fn deadline(&self) -> Instant {
        io_clock(&self.inner).instant_at(self.inner.deadline())
    }

    /// `true` once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.inner.is_elapsed()
    }

    /// Moves the deadline — later or earlier, also after it completed (it
    /// then completes again at the new deadline). A task waiting on it is
    /// woken at the new deadline without polling it in between, or at once
    /// if that has passed. tokio's `Sleep::reset`: the idle timeout that
    /// every request pushes back.
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::{Duration, Instant};
    ///
    /// kasync_host::Runtime::new()?.block_on(async {
    ///     let start = Instant::now();
    ///     let mut idle = pin!(kasync_host::sleep(Duration::from_secs(3600)));
    ///     idle.as_mut().reset(Instant::now() + Duration::from_millis(2));
    ///     idle.await;
    ///     assert!(start.elapsed() < Duration::from_secs(3600));
    /// });
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        // SAFETY: structural pinning of the only field: it is never moved
        // out of a pinned `Sleep`, which has no `Drop` of its own.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        let tick = io_clock(&inner).tick_at(deadline);
        inner.reset(tick);
    }
}

/// The clock a sleep's deadline is counted in: its runtime's (every
/// runtime's clock counts from its own start).
fn io_clock(sleep: &kasync::time::Sleep<'static, MonotonicClock>) -> MonotonicClock {
    *sleep.timers().clock()
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: structural pinning, as in `reset`.
        unsafe { self.map_unchecked_mut(|s| &mut s.inner) }.poll(cx)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
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
