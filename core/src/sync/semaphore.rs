//! [`Semaphore`]: permits handed out first come, first served.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::wait_queue::{MAX_UNITS, Registered, WaitQueue, Waiter};

/// A counting semaphore: `acquire(n)` waits until `n` permits are free and
/// takes them; dropping the [`Permit`] gives them back.
///
/// Waiters are served strictly in the order they started waiting: a
/// request for many permits is not overtaken by later small ones, and no
/// newcomer takes permits while someone waits (no starvation).
/// [`release`](Semaphore::release) may be called from **any context**,
/// interrupt handlers included (it never waits); acquiring happens in
/// tasks. At most [`MAX_PERMITS`](Semaphore::MAX_PERMITS) permits.
///
/// ```
/// use kasync::sync::Semaphore;
///
/// // At most two transfers at a time.
/// static TRANSFERS: Semaphore = Semaphore::new(2);
///
/// async fn transfer(block: u32) -> u32 {
///     let _permit = TRANSFERS.acquire(1).await;
///     // … at most one other task is here now …
///     block * 2
/// } // the permit goes back here
/// # assert_eq!(futures_util::FutureExt::now_or_never(transfer(21)), Some(42));
/// # assert_eq!(TRANSFERS.available_permits(), 2);
/// ```
pub struct Semaphore {
    queue: WaitQueue,
}

impl Semaphore {
    /// The most permits a semaphore holds; more are capped.
    pub const MAX_PERMITS: usize = MAX_UNITS;

    crate::atomics::const_fn! {
        /// A semaphore with `permits` free permits.
        pub fn new(permits: usize) -> Self {
            let permits = if permits > MAX_UNITS { MAX_UNITS } else { permits };
            Self { queue: WaitQueue::new(true, permits) }
        }
    }

    /// Takes `n` permits if they are free and nobody waits ahead. Task
    /// context.
    pub fn try_acquire(&self, n: usize) -> Option<Permit<'_>> {
        let n = n.min(MAX_UNITS);
        let taken = self.queue.lock().take_units(n);
        taken.then(|| Permit { semaphore: self, n })
    }

    /// Waits until `n` permits are free (and everyone who waited before
    /// is served), then takes them. Asking for more than the semaphore
    /// will ever have waits forever.
    pub fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            n: n.min(MAX_UNITS),
            waiter: Waiter::new(),
        }
    }

    /// Adds `n` permits (served to waiters in order). Any context,
    /// interrupt handlers included: never waits.
    pub fn release(&self, n: usize) {
        self.queue.grant(n, false);
    }

    /// Free permits (a snapshot). Task context.
    pub fn available_permits(&self) -> usize {
        self.queue.lock().units()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").finish_non_exhaustive()
    }
}

/// `n` permits of a [`Semaphore`], given back when dropped.
#[must_use = "dropping a permit gives it back at once"]
pub struct Permit<'s> {
    semaphore: &'s Semaphore,
    n: usize,
}

impl Permit<'_> {
    /// How many permits this is.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits taken for good (they are not given back).
    pub fn forget(mut self) {
        self.n = 0;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.semaphore.release(self.n);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("n", &self.n).finish()
    }
}

/// Future of [`Semaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'s> {
    semaphore: &'s Semaphore,
    n: usize,
    waiter: Waiter,
}

impl<'s> Future for Acquire<'s> {
    type Output = Permit<'s>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'s>> {
        let (semaphore, n) = (self.semaphore, self.n);
        // SAFETY: `waiter` is never moved out of the pinned future.
        let waiter = unsafe { self.into_ref().map_unchecked(|this| &this.waiter) };
        // Granted while waiting: the permits are ours.
        if waiter.take_notified() {
            return Poll::Ready(Permit { semaphore, n });
        }
        // Takes the permits at once if nobody waits ahead and they are
        // there; else waits in line. (The permit exists only once they are
        // ours: a waker's code that panics inside `register` must not give
        // back permits never taken — `register` itself gives back the ones
        // it took then.)
        match semaphore.queue.register(waiter, cx.waker(), n) {
            Registered::Notified => Poll::Ready(Permit { semaphore, n }),
            Registered::Waiting => Poll::Pending,
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        // SAFETY: pinned since its first poll (or never linked); last use.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        // Granted but never taken: give the permits back.
        if waiter.is_active() && self.semaphore.queue.cancel(waiter) {
            self.semaphore.release(self.n);
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("n", &self.n).finish()
    }
}
