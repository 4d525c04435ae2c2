//! [`Channel`]: a bounded multi-producer, multi-consumer queue.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use core::mem::MaybeUninit;

use super::wait_queue::{Registered, WaitQueue, Waiter};
use crate::atomics::{AtomicUsize, Ordering, Racy};
use crate::ring::Ring;

/// [`Channel::waking`]: a receive is waking senders; the one place for a
/// given-back value is reserved for that receive's value.
const WAKING: usize = 1;
/// [`Channel::waking`]: a value given back by a receive whose waking of
/// senders panicked is in [`Channel::returned`]; whoever takes it also
/// takes over the waking.
const RETURNED: usize = 2;
/// [`Channel::waking`]: one sender wake owed by a receive that found
/// another waking (counted from this bit up).
const OWED: usize = 4;

/// A bounded queue of `N` values between any number of senders and
/// receivers, in static memory. `N` is a power of two and at least 2; any
/// other capacity is refused at compile time:
///
/// ```compile_fail
/// # use kasync::sync::Channel;
/// static ONE: Channel<u8, 1> = Channel::new(); // error: at least 2
/// ```
///
/// ```compile_fail
/// # use kasync::sync::Channel;
/// static NONE: Channel<u8, 0> = Channel::new(); // error: at least 2
/// ```
///
/// * [`try_send`](Channel::try_send) and [`try_recv`](Channel::try_recv)
///   never wait: they are safe in **interrupt handlers** (lock-free, no
///   allocation, no panic), and wake a task waiting on the other side.
/// * [`send`](Channel::send) waits for room, [`recv`](Channel::recv) for a
///   value; both in tasks. Waiting tasks are kept in the futures
///   themselves (no allocation, no limit on how many wait).
///
/// Values are received in the order their sends claimed a place (but see
/// a value given back, below). A channel is never closed: it lives in a
/// `static`.
///
/// # Wakers are user code
///
/// A receive that makes room wakes a waiting sender, and a send wakes a
/// waiting receiver; a waker's `wake` may panic. Every value stays exactly
/// once in the channel or with the caller:
///
/// * If a sender's waker panics inside [`try_recv`](Self::try_recv) (or
///   [`recv`](Self::recv)), the value it took is given back to the channel
///   and is the next one received (a receiver waiting meanwhile is woken
///   for it); the panic goes on to the caller. (Meanwhile the channel may
///   hold `N + 1` values.) A receive that ran while the waker did — one the
///   waker made itself, an interrupt handler's, another thread's — may
///   have taken the value after it, so these two arrive swapped.
/// * If a receiver's waker panics inside [`try_send`](Self::try_send), the
///   value **has been sent**: it is in the channel, and the panic goes on
///   to the caller, which must not send it again. [`send`](Self::send)
///   keeps track itself: polled again, it finishes without sending twice.
///
/// Only one receive at a time runs senders' wakers while it holds a value
/// (the one place for a given-back value is reserved for it); a receive
/// that finds another one waking — an interrupt handler that preempted it,
/// another thread — leaves its wake to that one and returns at once.
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
    /// `WAKING` / `RETURNED` and the sender wakes `OWED`: who wakes
    /// senders for the room receives make (see the type's docs).
    waking: AtomicUsize,
    /// The value given back while `RETURNED` is set; written by the
    /// `WAKING` receive, read by the one that clears `RETURNED`.
    returned: Racy<MaybeUninit<T>>,
}

// SAFETY: the ring is `Sync`/`Send` for `T: Send`; `returned` is touched
// only by the one context the `waking` word hands it to (Release when the
// value is put there, Acquire when it is taken). Values cross contexts.
unsafe impl<T: core::marker::Send, const N: usize> Sync for Channel<T, N> {}
// SAFETY: as above; the channel owns its values.
unsafe impl<T: core::marker::Send, const N: usize> core::marker::Send for Channel<T, N> {}

impl<T, const N: usize> Channel<T, N> {
    crate::atomics::const_fn! {
        /// An empty channel.
        pub fn new() -> Self {
            Self {
                ring: Ring::new(),
                receivers: WaitQueue::new(false, 0),
                senders: WaitQueue::new(false, 0),
                waking: AtomicUsize::new(0),
                returned: Racy::new(MaybeUninit::uninit()),
            }
        }
    }

    /// Sends `value` if there is room, else hands it back. Any context,
    /// interrupt handlers included.
    ///
    /// If a receiver's waker panics, the panic comes out of this call
    /// after the value was sent (see the type's docs).
    pub fn try_send(&self, value: T) -> Result<(), T> {
        self.ring.push(value)?;
        self.receivers.grant(1, false);
        Ok(())
    }

    /// Takes the oldest value, if one is there. Any context.
    ///
    /// If a sender's waker panics, the value is given back to the channel
    /// before the panic comes out of this call (see the type's docs).
    pub fn try_recv(&self) -> Option<T> {
        let mut word = self.waking.load(Ordering::Acquire);
        loop {
            if word & RETURNED != 0 {
                // Take the given-back value, and the waking with it.
                match self.waking.compare_exchange_weak(
                    word,
                    (word & !RETURNED) | WAKING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // SAFETY: `RETURNED` said the place holds a value
                        // (Acquire made it visible) and clearing it made
                        // this context its only reader. Its room was
                        // already announced: no new wake is owed.
                        let value = self
                            .returned
                            .with_mut(|v| unsafe { (*v).assume_init_read() });
                        return Some(self.wake_senders(value, 0));
                    }
                    Err(actual) => word = actual,
                }
            } else if word & WAKING == 0 {
                match self.waking.compare_exchange_weak(
                    word,
                    word | WAKING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let Some(value) = self.ring.pop() else {
                            self.stop_waking(0);
                            return None;
                        };
                        return Some(self.wake_senders(value, 1));
                    }
                    Err(actual) => word = actual,
                }
            } else {
                let value = self.ring.pop()?;
                return Some(self.owe_wake(value));
            }
        }
    }

    /// The room the receive of `value` made is owed a sender wake, and
    /// another context is waking senders: leave the wake to it — or, if
    /// it has finished meanwhile, wake them here.
    fn owe_wake(&self, value: T) -> T {
        let mut word = self.waking.load(Ordering::Relaxed);
        loop {
            let (new, here) = if word & (WAKING | RETURNED) != 0 {
                (word + OWED, false)
            } else {
                (word | WAKING, true)
            };
            match self
                .waking
                .compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) if here => return self.wake_senders(value, 1),
                Ok(_) => return value,
                Err(actual) => word = actual,
            }
        }
    }

    /// Holding `WAKING`: wakes senders for `units` of room, and for the
    /// wakes other receives left meanwhile, then lets go. `value` is given
    /// back to the channel if a waker panics.
    fn wake_senders(&self, value: T, units: usize) -> T {
        let mut held = GiveBack {
            channel: self,
            value: Some(value),
        };
        self.stop_waking(units);
        held.value.take().expect("the value is held until here")
    }

    /// Holding `WAKING`: grants `units` of room to waiting senders, and
    /// the wakes owed, until none is owed; then lets go of `WAKING`.
    fn stop_waking(&self, mut units: usize) {
        loop {
            if units > 0 {
                // User code (wakers) may run here.
                self.senders.grant(units, false);
            }
            let word = self.waking.load(Ordering::Acquire);
            let owed = word / OWED;
            let next = if owed == 0 {
                word & !WAKING
            } else {
                word & (WAKING | RETURNED)
            };
            if self
                .waking
                .compare_exchange(word, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                if owed == 0 {
                    return;
                }
                units = owed;
            } else {
                units = 0;
            }
        }
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
            got: None,
        }
    }

    /// Values in the channel (a snapshot): at most `N`, or `N + 1` while
    /// a value given back by a panicking receive waits (see the type's
    /// docs).
    pub fn len(&self) -> usize {
        let returned = self.waking.load(Ordering::Relaxed) & RETURNED != 0;
        self.ring.len() + usize::from(returned)
    }

    /// `true` when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` when [`len`](Self::len) is `N` (or more).
    pub fn is_full(&self) -> bool {
        self.len() >= N
    }

    /// `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

/// The value a receive holds while it wakes senders. Dropped with the
/// value still inside — a waker panicked — it gives the value back to the
/// channel's one place for it, reserved by the receive's `WAKING`, and
/// hands the waking (and the wakes still owed) to whoever takes it.
struct GiveBack<'c, T, const N: usize> {
    channel: &'c Channel<T, N>,
    value: Option<T>,
}

impl<T, const N: usize> Drop for GiveBack<'_, T, N> {
    fn drop(&mut self) {
        let Some(value) = self.value.take() else {
            return;
        };
        let channel = self.channel;
        // SAFETY: this context holds `WAKING` (so `RETURNED` is clear and
        // the place is empty): it alone may write the place.
        channel.returned.with_mut(|v| unsafe { (*v).write(value) });
        // `WAKING` → `RETURNED`, the wakes owed kept; Release hands the
        // value over.
        channel
            .waking
            .fetch_xor(WAKING | RETURNED, Ordering::AcqRel);
        // A receiver that found the channel empty meanwhile (the value
        // was held) waits for it: wake one. (A second panicking waker,
        // this one, aborts: it runs while the first panic unwinds.)
        channel.receivers.grant(1, false);
    }
}

impl<T, const N: usize> Drop for Channel<T, N> {
    fn drop(&mut self) {
        if self.waking.load(Ordering::Acquire) & RETURNED != 0 {
            // SAFETY: `RETURNED` says the place holds a value; `&mut self`.
            self.returned
                .with_mut(|v| unsafe { (*v).assume_init_drop() });
        }
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
    /// A value received while the waiter leaves the list (which may run
    /// user code: a waker's drop or wake); kept here if that panics, and
    /// returned by the next poll.
    got: Option<T>,
}

impl<T, const N: usize> Future for Recv<'_, T, N> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: `waiter` is never moved out of the pinned future (it is
        // only used through `Pin<&Waiter>`); `got` is not pinned.
        let Recv {
            channel,
            waiter,
            got,
        } = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&*waiter) };
        if let Some(value) = got.take() {
            return Poll::Ready(value);
        }
        loop {
            if let Some(value) = channel.try_recv() {
                *got = Some(value);
                leave(&channel.receivers, waiter);
                return Poll::Ready(got.take().expect("kept until here"));
            }
            if waiter.take_notified() {
                continue;
            }
            if channel.receivers.register(waiter, cx.waker(), 1) == Registered::Notified {
                continue;
            }
            if let Some(value) = channel.try_recv() {
                *got = Some(value);
                leave(&channel.receivers, waiter);
                return Poll::Ready(got.take().expect("kept until here"));
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
