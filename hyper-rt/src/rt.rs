//! hyper's runtime traits on kasync: [`Executor`] spawns hyper's
//! background tasks (HTTP/2 streams, client connections) on the current
//! runtime, [`Timer`] gives hyper kasync's timers (header-read timeouts,
//! HTTP/2 keep-alive, the client pool's idle sweep).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kasync_host::thread_bound::ThreadBound;

/// `hyper::rt::Executor` on the current kasync runtime: every future hyper
/// hands it becomes a detached task there (`Send` or not).
///
/// A runtime at its task limit cannot take one more: the future is
/// dropped (for HTTP/2, the stream is reset; for a client, the request
/// fails) and stderr says so once per process — raise
/// [`Builder::max_tasks`](kasync_host::Builder::max_tasks), or bound the
/// connections ([`Serve::max_connections`](crate::Serve::max_connections)).
///
/// ```
/// use hyper::rt::Executor as _;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     kasync_hyper::Executor.execute(async { println!("a hyper task") });
///     kasync_host::time::sleep(std::time::Duration::from_millis(1)).await;
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + 'static,
    F::Output: 'static,
{
    /// # Panics
    /// Outside [`Runtime::block_on`](kasync_host::Runtime::block_on).
    fn execute(&self, future: F) {
        if let Err(e) = kasync_host::spawn_detached(future) {
            static SAID: AtomicBool = AtomicBool::new(false);
            if !SAID.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "kasync-hyper: a task hyper asked for was dropped ({e}); \
                     raise Builder::max_tasks or limit the connections (said once)"
                );
            }
        }
    }
}

/// `hyper::rt::Timer` on the current kasync runtime's timer wheel.
///
/// hyper asks for `Send + Sync` sleeps; kasync's are bound to their
/// runtime's thread, so each is wrapped in a
/// [`ThreadBound`]: polled on another thread it panics, dropped on another
/// thread it is leaked — on a thread-per-core runtime neither happens.
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer as _;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let start = Instant::now();
///     kasync_hyper::Timer.sleep(Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Timer;

/// The sleep [`Timer`] hands out.
struct Sleep(ThreadBound<kasync_host::time::Sleep>);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for Sleep {}

impl hyper::rt::Timer for Timer {
    /// # Panics
    /// Outside [`Runtime::block_on`](kasync_host::Runtime::block_on).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep(ThreadBound::new(kasync_host::sleep(duration))))
    }

    /// # Panics
    /// Outside [`Runtime::block_on`](kasync_host::Runtime::block_on).
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep(ThreadBound::new(kasync_host::time::sleep_until(
            deadline,
        ))))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        let ours = sleep
            .as_mut()
            .downcast_mut_pin::<Sleep>()
            .and_then(|ours| Pin::new(&mut ours.get_mut().0).get_pin_mut());
        match ours {
            Some(ours) => ours.reset(new_deadline),
            // Another timer's sleep, or one from another thread: a new one.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
