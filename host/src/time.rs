//! Timers on the current runtime (microsecond ticks of a monotonic clock).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kasync::time::Interval;

use crate::runtime::{Io, MonotonicClock, io, try_io};

/// Completes after `duration`, measured from this call (as tokio's
/// `sleep`) — or, when called outside a runtime (to hand to
/// [`Runtime::block_on`](crate::Runtime::block_on)), from its first poll.
/// A [`Sleep`], which can be [`reset`](Sleep::reset).
///
/// # Panics
/// When polled outside [`Runtime::block_on`](crate::Runtime::block_on).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let rt = kasync_host::Runtime::new()?;
/// rt.block_on(async {
///     let start = Instant::now();
///     kasync_host::sleep(Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// rt.block_on(kasync_host::sleep(Duration::from_millis(1))); // made outside: fine
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    match try_io() {
        Some(io) => Sleep::filed(io.sleep(duration)),
        None => Sleep {
            state: State::After(duration),
        },
    }
}

/// Completes at `deadline` (at once if it has passed).
///
/// # Panics
/// When polled outside [`Runtime::block_on`](crate::Runtime::block_on).
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
    match try_io() {
        Some(io) => Sleep::filed(filed_at(io, deadline)),
        None => Sleep {
            state: State::At(deadline),
        },
    }
}

/// `duration` from now, or about 30 years from now if the clock cannot
/// count that far (`Duration::MAX`: "never", as tokio takes it too).
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// A sleep on `io`'s timers ending at `deadline`.
fn filed_at(io: Io, deadline: Instant) -> kasync::time::Sleep<'static, MonotonicClock> {
    let timers = io.timers();
    timers.sleep_until(timers.clock().tick_at(deadline))
}

/// The future of [`sleep`] and [`sleep_until`]: filed in the current
/// runtime's timer wheel while a task waits on it (it is not `Send`; see
/// [`ThreadBound`](crate::thread_bound::ThreadBound) for APIs that ask).
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    state: State,
}

/// A sleep made outside a runtime is filed at its first poll.
enum State {
    After(Duration),
    At(Instant),
    Filed(kasync::time::Sleep<'static, MonotonicClock>),
}

impl Sleep {
    fn filed(inner: kasync::time::Sleep<'static, MonotonicClock>) -> Self {
        Self {
            state: State::Filed(inner),
        }
    }

    /// The state, pinned. (Structural pinning: the state is only replaced
    /// in place with `Pin::set`, never moved out; `Sleep` has no `Drop`.)
    fn state(self: Pin<&mut Self>) -> Pin<&mut State> {
        // SAFETY: see above.
        unsafe { self.map_unchecked_mut(|s| &mut s.state) }
    }

    /// The filed sleep, filing it on the current runtime first if needed.
    ///
    /// # Panics
    /// Outside [`Runtime::block_on`](crate::Runtime::block_on), if not
    /// filed yet.
    fn bound(self: Pin<&mut Self>) -> Pin<&mut kasync::time::Sleep<'static, MonotonicClock>> {
        let mut state = self.state();
        let deadline = match &*state {
            State::After(d) => Some(after(*d)),
            State::At(at) => Some(*at),
            State::Filed(_) => None,
        };
        if let Some(deadline) = deadline {
            state.set(State::Filed(filed_at(io(), deadline)));
        }
        // SAFETY: structural pinning of the variant's field, as above.
        unsafe {
            state.map_unchecked_mut(|s| match s {
                State::Filed(inner) => inner,
                _ => unreachable!("filed just above"),
            })
        }
    }

    /// When it completes (rounded up to the clock's microsecond); for a
    /// sleep of a duration made outside a runtime and not polled yet,
    /// when it would if polled now.
    pub fn deadline(&self) -> Instant {
        match &self.state {
            State::After(d) => after(*d),
            State::At(at) => *at,
            State::Filed(inner) => inner.timers().clock().instant_at(inner.deadline()),
        }
    }

    /// `true` once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        match &self.state {
            State::After(d) => d.is_zero(),
            State::At(at) => Instant::now() >= *at,
            State::Filed(inner) => inner.is_elapsed(),
        }
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
        let mut state = self.state();
        if let State::Filed(inner) = &*state {
            let tick = inner.timers().clock().tick_at(deadline);
            // SAFETY: structural pinning of the variant's field, as in
            // `bound`.
            let inner = unsafe {
                state.map_unchecked_mut(|s| match s {
                    State::Filed(inner) => inner,
                    _ => unreachable!("matched above"),
                })
            };
            inner.reset(tick);
        } else {
            state.set(State::At(deadline));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Filed in another runtime's timers (made in one `block_on`,
        // awaited in another's): those are not driven here, so it moves
        // to this runtime's, with the same deadline.
        if let (State::Filed(inner), Some(io)) = (&self.state, try_io()) {
            if !std::ptr::eq(inner.timers(), io.timers()) {
                let deadline = inner.timers().clock().instant_at(inner.deadline());
                self.as_mut().state().set(State::At(deadline));
            }
        }
        self.bound().poll(cx)
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
