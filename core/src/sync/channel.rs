//! [`Channel`]: a bounded multi-producer, multi-consumer queue.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::wait_queue::{Registered, WaitQueue, Waiter};
use crate::ring::Ring;

/// A bounded queue of `N` values (`N` a power of two) between any number
/// of senders and receivers, in static memory.
///
/// * [`try_send`](Channel::try_send) and [`try_recv`](Channel::try_recv)
///   never wait: they are safe in **interrupt handlers** (lock-free, no
///   allocation, no panic), and wake a task waiting on the other side.
/// * [`send`](Channel::send) waits for room, [`recv`](Channel::recv) for a
///   value; both in tasks. Waiting tasks are kept in the futures
///   themselves (no allocation, no limit on how many wait).
///
/// Values are received in the order their sends claimed a place. A
/// channel is never closed: it lives in a `static`.
///
/// ```
/// use kasync::sync::Channel;
///
/// static EVENTS: Channel<u32, 8> = Channel::new();
///
/// // An interrupt handler: never waits; a full channel hands the value back.
/// fn on_interrupt(code: u32) {
///     if EVENTS.try_send(code).is_err() {
///         // count it as dropped
///     }
/// }
///
/// async fn consumer() -> u32 {
///     let mut sum = 0;
///     for _ in 0..3 {
///         sum += EVENTS.recv().await;
///     }
///     sum
/// }
/// # on_interrupt(1); on_interrupt(2);
/// # futures_util::FutureExt::now_or_never(EVENTS.send(3)).unwrap();
/// # assert_eq!(futures_util::FutureExt::now_or_never(consumer()), Some(6));
/// ```
pub struct Channel<T, const N: usize> {
    ring: Ring<T, N>,
    receivers: WaitQueue,
    senders: WaitQueue,
}

impl<T, const N: usize> Channel<T, N> {
    crate::atomics::const_fn! {
        /// An empty channel.
        pub fn new() -> Self {
            Self {
                ring: Ring::new(),
                receivers: WaitQueue::new(false, 0),
                senders: WaitQueue::new(false, 0),
            }
        }
    }

    /// Sends `value` if there is room, else hands it back. Any context,
    /// interrupt handlers included.
    pub fn try_send(&self, value: T) -> Result<(), T> {
        self.ring.push(value)?;
        self.receivers.grant(1, false);
        Ok(())
    }

    /// Takes the oldest value, if one is there. Any context.
    pub fn try_recv(&self) -> Option<T> {
        let value = self.ring.pop()?;
        self.senders.grant(1, false);
        Some(value)
    }

    /// Sends `value`, waiting for room.
    pub fn send(&self, value: T) -> Send<'_, T, N> {
        Send {
            channel: self,
            value: Some(value),
            waiter: Waiter::new(),
        }
    }

    /// Receives the oldest value, waiting for one.
    pub fn recv(&self) -> Recv<'_, T, N> {
        Recv {
            channel: self,
            waiter: Waiter::new(),
        }
    }

    /// Values in the channel (a snapshot).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// `true` when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` when [`len`](Self::len) is `N`.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<T, const N: usize> Default for Channel<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for Channel<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("len", &self.len())
            .field("capacity", &N)
            .finish()
    }
}

/// Takes `waiter` out of `queue` as its future finishes or is dropped; a
/// notification it got and did not wait for goes to the next waiter.
fn leave(queue: &WaitQueue, waiter: Pin<&Waiter>) {
    if waiter.is_active() && queue.cancel(waiter) {
        queue.grant(1, false);
    }
}

/// Future of [`Channel::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'c, T, const N: usize> {
    channel: &'c Channel<T, N>,
    value: Option<T>,
    waiter: Waiter,
}

/// Tries to push the value; `true` when it is sent.
fn push<T, const N: usize>(channel: &Channel<T, N>, value: &mut Option<T>) -> bool {
    let Some(v) = value.take() else {
        return true;
    };
    match channel.try_send(v) {
        Ok(()) => true,
        Err(v) => {
            *value = Some(v);
            false
        }
    }
}

impl<T, const N: usize> Future for Send<'_, T, N> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `waiter` is never moved out of the pinned future (it is
        // only used through `Pin<&Waiter>`); `value` is not pinned.
        let Send {
            channel,
            value,
            waiter,
        } = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&*waiter) };
        loop {
            if push(channel, value) {
                leave(&channel.senders, waiter);
                return Poll::Ready(());
            }
            if waiter.take_notified() {
                continue;
            }
            if channel.senders.register(waiter, cx.waker(), 1) == Registered::Notified {
                continue;
            }
            // A receive between the first try and the registration woke
            // nobody: look again.
            if push(channel, value) {
                leave(&channel.senders, waiter);
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
    }
}

impl<T, const N: usize> Drop for Send<'_, T, N> {
    fn drop(&mut self) {
        // SAFETY: pinned since its first poll (or never linked); this is
        // the last use.
        leave(&self.channel.senders, unsafe {
            Pin::new_unchecked(&self.waiter)
        });
    }
}

impl<T, const N: usize> fmt::Debug for Send<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("sent", &self.value.is_none())
            .finish()
    }
}

/// Future of [`Channel::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'c, T, const N: usize> {
    channel: &'c Channel<T, N>,
    waiter: Waiter,
}

impl<T, const N: usize> Future for Recv<'_, T, N> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let channel = self.channel;
        // SAFETY: `waiter` is never moved out of the pinned future.
        let waiter = unsafe { self.into_ref().map_unchecked(|this| &this.waiter) };
        loop {
            if let Some(value) = channel.try_recv() {
                leave(&channel.receivers, waiter);
                return Poll::Ready(value);
            }
            if waiter.take_notified() {
                continue;
            }
            if channel.receivers.register(waiter, cx.waker(), 1) == Registered::Notified {
                continue;
            }
            if let Some(value) = channel.try_recv() {
                leave(&channel.receivers, waiter);
                return Poll::Ready(value);
            }
            return Poll::Pending;
        }
    }
}

impl<T, const N: usize> Drop for Recv<'_, T, N> {
    fn drop(&mut self) {
        // SAFETY: pinned since its first poll (or never linked); this is
        // the last use.
        leave(&self.channel.receivers, unsafe {
            Pin::new_unchecked(&self.waiter)
        });
    }
}

impl<T, const N: usize> fmt::Debug for Recv<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}
