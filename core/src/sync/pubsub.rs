//! [`PubSub`]: every message to every subscriber.

use core::fmt;
use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::spin::SpinLock;
use super::wait_queue::{Registered, WaitQueue, Waiter};
use crate::atomics::Racy;

/// A broadcast queue: each message published goes to every subscriber
/// there is when it is published. It keeps the last `N` messages and up to
/// `SUBS` subscribers, in static memory.
///
/// # Subscribers that fall behind
///
/// A message is kept until every subscriber has read it, so the slowest
/// subscriber decides when there is room. What a publisher does about a
/// subscriber that does not keep up — or never reads at all — is its
/// choice, per message:
///
/// * [`publish_immediate`](PubSub::publish_immediate) never waits: when
///   all `N` places hold unread messages it drops the oldest one, and each
///   subscriber that had not read it gets [`WaitResult::Lagged`] with the
///   number of messages it missed, then carries on with the oldest one
///   kept. A slow subscriber loses messages; nobody else is held up. **Use
///   this when a subscriber may be an untrusted peer.**
/// * [`publish`](PubSub::publish) waits for room: nothing is lost, and
///   every publisher waits for the slowest subscriber.
/// * [`try_publish`](PubSub::try_publish) hands the message back instead
///   of waiting.
///
/// A new subscriber sees the messages published after it subscribed. With
/// no subscriber, a message is dropped at once. All of it happens in tasks
/// (an interrupt handler hands values to a task through a
/// [`Channel`](super::Channel) or [`Signal`](super::Signal)).
///
/// # User code: `Clone` and `Drop`
///
/// A message is cloned for each subscriber that reads it — keep `T` cheap
/// to clone (a small value, an `Arc`) — and never under the queue's lock:
/// the reader moves the message out of its place under the lock, clones it
/// with the lock released, and puts it back. A `Clone` may therefore use
/// this queue (publish, count, subscribe) without deadlocking, and a
/// panicking `Clone` puts the message back unread. While one subscriber
/// clones a message, another that wants the same message waits for it (a
/// `try_` read finds nothing new yet); a publisher that overwrites the
/// message meanwhile leaves the reader's copy to be dropped by the reader.
/// Because only one context holds a message at a time, `T` need only be
/// `Send`, not `Sync`. A message everyone has read is dropped when its
/// place is used again (or with the queue), by the publisher — also never
/// under the lock, so a panicking `Drop` cannot leave the queue locked or
/// a publisher unwoken.
///
/// ```
/// use kasync::sync::{PubSub, WaitResult};
///
/// static NEWS: PubSub<u32, 4, 8> = PubSub::new();
///
/// # futures_util::FutureExt::now_or_never(async {
/// let mut alice = NEWS.subscriber().unwrap();
/// let mut bob = NEWS.subscriber().unwrap();
/// NEWS.publish_immediate(1);
/// assert_eq!(alice.next_message().await, WaitResult::Message(1));
/// assert_eq!(bob.next_message().await, WaitResult::Message(1));
///
/// // Bob stops reading; Alice keeps up. Five more messages in four places:
/// for n in 2..7 {
///     NEWS.publish_immediate(n);
///     assert_eq!(alice.next_message().await, WaitResult::Message(n));
/// }
/// assert_eq!(bob.next_message().await, WaitResult::Lagged(1)); // message 2 is gone
/// assert_eq!(bob.next_message().await, WaitResult::Message(3));
/// # }).unwrap();
/// ```
pub struct PubSub<T, const N: usize, const SUBS: usize> {
    lock: SpinLock,
    inner: Racy<Inner<T, N, SUBS>>,
    /// Subscribers waiting for a message (all are woken by each).
    readers: WaitQueue,
    /// Publishers waiting for room.
    writers: WaitQueue,
}

/// What a subscriber gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitResult<T> {
    /// The next message.
    Message(T),
    /// This many messages were dropped before this subscriber read them
    /// (see [`PubSub::publish_immediate`]); the next read continues with
    /// the oldest message kept.
    Lagged(u64),
}

/// [`PubSub::subscriber`] found all `SUBS` places taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribersFull {
    /// How many subscribers the queue takes.
    pub limit: usize,
}

impl fmt::Display for SubscribersFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "all {} subscriber places of the PubSub are taken: drop a subscriber or make SUBS larger",
            self.limit
        )
    }
}

impl core::error::Error for SubscribersFull {}

struct Inner<T, const N: usize, const SUBS: usize> {
    /// The places. Those from `tail` to `head` hold the messages kept; a
    /// place outside that range may still hold a message every subscriber
    /// has read (`Filled`), dropped when the place is written again or the
    /// queue is dropped — never under the lock, where user code must not
    /// run.
    messages: [MaybeUninit<T>; N],
    /// What each place holds.
    places: [Place; N],
    /// The number of the message each place was last written with.
    numbers: [u64; N],
    /// A reader found its message lent out (see [`Loan`]) and waits for
    /// its return.
    waiting_for_loan: bool,
    /// Subscribers yet to read each message (by place).
    unread: [usize; N],
    /// Number of the next message to publish.
    head: u64,
    /// Number of the oldest message kept (`head - tail <= N`).
    tail: u64,
    /// Each subscriber's next message number, if the place is taken.
    cursors: [Option<u64>; SUBS],
    subscribers: usize,
}

/// What a place of [`Inner::messages`] holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Nothing.
    Empty,
    /// A value.
    Filled,
    /// Its value is lent to a reader that clones it with the lock
    /// released ([`Loan`]); the place is empty until it is returned.
    Lent,
}

impl<T, const N: usize, const SUBS: usize> Inner<T, N, SUBS> {
    fn place(number: u64) -> usize {
        (number % N as u64) as usize
    }

    /// Frees the places of the messages every subscriber has read, from
    /// the front (their values stay until the places are written again);
    /// returns how many came free. Runs no user code.
    fn trim(&mut self) -> usize {
        let mut freed = 0;
        while self.tail < self.head && self.unread[Self::place(self.tail)] == 0 {
            self.tail += 1;
            freed += 1;
        }
        freed
    }

    /// Stores `message`, giving up the oldest one if `make_room` and all
    /// places are taken; else hands it back. Returns the value the place
    /// held before (to be dropped after the lock).
    fn push(&mut self, message: T, make_room: bool) -> Result<Option<T>, T> {
        if self.subscribers == 0 {
            return Ok(Some(message));
        }
        if self.head - self.tail == N as u64 {
            if !make_room {
                return Err(message);
            }
            self.tail += 1;
        }
        let place = Self::place(self.head);
        let old = if self.places[place] == Place::Filled {
            // SAFETY: a filled place holds a value, outside `tail..head`
            // now (the range is full only up to this place).
            Some(unsafe { self.messages[place].assume_init_read() })
        } else {
            // Empty, or lent: the reader that holds the value finds the
            // place written again and drops it.
            None
        };
        self.messages[place].write(message);
        self.places[place] = Place::Filled;
        self.numbers[place] = self.head;
        self.unread[place] = self.subscribers;
        self.head += 1;
        Ok(old)
    }
}

// SAFETY: everything in `inner` is touched only under `lock`, but for a
// message lent out: it was moved out of its place under the lock and is
// touched only by the one reader holding it until it moves back under the
// lock. No two contexts ever see one message at once, so values only move
// between contexts (`T: Send`; no `Sync` needed).
unsafe impl<T: Send, const N: usize, const SUBS: usize> Sync for PubSub<T, N, SUBS> {}
// SAFETY: as above.
unsafe impl<T: Send, const N: usize, const SUBS: usize> Send for PubSub<T, N, SUBS> {}

impl<T: Clone, const N: usize, const SUBS: usize> PubSub<T, N, SUBS> {
    crate::atomics::const_fn! {
        /// An empty queue with no subscribers.
        pub fn new() -> Self {
            const { assert!(N > 0, "a PubSub needs room for at least one message") };
            Self {
                lock: SpinLock::new(),
                inner: Racy::new(Inner {
                    messages: [const { MaybeUninit::uninit() }; N],
                    places: [Place::Empty; N],
                    numbers: [0; N],
                    waiting_for_loan: false,
                    unread: [0; N],
                    head: 0,
                    tail: 0,
                    cursors: [None; SUBS],
                    subscribers: 0,
                }),
                readers: WaitQueue::new(false, 0),
                writers: WaitQueue::new(false, 0),
            }
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner<T, N, SUBS>) -> R) -> R {
        let _locked = self.lock.lock();
        // SAFETY: `inner` is touched only under `lock`, which we hold.
        self.inner.with_mut(|inner| f(unsafe { &mut *inner }))
    }

    /// A new subscriber, which gets every message published from now on;
    /// an error when all `SUBS` places are taken.
    pub fn subscriber(&self) -> Result<Subscriber<'_, T, N, SUBS>, SubscribersFull> {
        self.with(|inner| {
            let index = inner.cursors.iter().position(Option::is_none)?;
            inner.cursors[index] = Some(inner.head);
            inner.subscribers += 1;
            Some(index)
        })
        .map(|index| Subscriber {
            pubsub: self,
            index,
            copy: None,
        })
        .ok_or(SubscribersFull { limit: SUBS })
    }

    /// Publishes `message` without waiting: if all places hold unread
    /// messages, the oldest is dropped (its laggards get
    /// [`WaitResult::Lagged`]).
    pub fn publish_immediate(&self, message: T) {
        let dropped = self.with(|inner| inner.push(message, true));
        self.readers.grant(0, true);
        // After the lock: user code.
        drop(dropped);
    }

    /// Publishes `message` if there is room, else hands it back.
    pub fn try_publish(&self, message: T) -> Result<(), T> {
        let unused = self.with(|inner| inner.push(message, false))?;
        self.readers.grant(0, true);
        drop(unused);
        Ok(())
    }

    /// Publishes `message`, waiting until every subscriber has read the
    /// oldest message if all places are taken.
    pub fn publish(&self, message: T) -> Publish<'_, T, N, SUBS> {
        Publish {
            pubsub: self,
            message: Some(message),
            waiter: Waiter::new(),
        }
    }

    /// Messages kept (published and not yet read by every subscriber).
    pub fn len(&self) -> usize {
        self.with(|inner| (inner.head - inner.tail) as usize)
    }

    /// `true` when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Current subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.with(|inner| inner.subscribers)
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> Default for PubSub<T, N, SUBS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize, const SUBS: usize> Drop for PubSub<T, N, SUBS> {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        // Every message, also when one's `Drop` panics. (No place is
        // lent: a loan borrows the queue.)
        let places = inner.messages.iter_mut().zip(&mut inner.places);
        crate::unwind::each_even_if_one_panics(places, |(message, place)| {
            if core::mem::replace(place, Place::Empty) == Place::Filled {
                // SAFETY: a filled place holds a value; emptied before it is
                // dropped, so taken once.
                unsafe { message.assume_init_drop() };
            }
        });
    }
}

impl<T, const N: usize, const SUBS: usize> fmt::Debug for PubSub<T, N, SUBS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("capacity", &N)
            .field("subscribers", &SUBS)
            .finish_non_exhaustive()
    }
}

/// One subscriber of a [`PubSub`]; dropping it gives its place back (and
/// the messages it had not read stop waiting for it).
pub struct Subscriber<'p, T: Clone, const N: usize, const SUBS: usize> {
    pubsub: &'p PubSub<T, N, SUBS>,
    index: usize,
    /// A copy read but not yet returned: kept here while the read wakes
    /// publishers (user code), so a panicking waker loses no message.
    copy: Option<T>,
}

impl<'p, T: Clone, const N: usize, const SUBS: usize> Subscriber<'p, T, N, SUBS> {
    /// The next message, or how many were dropped before this subscriber
    /// read them; `None` if there is nothing new (or the next message is
    /// being cloned by another subscriber right now: then
    /// [`next_message`](Self::next_message) waits for it).
    ///
    /// The message is cloned with the queue's lock released; if the
    /// `Clone` panics, the message stays unread.
    pub fn try_next_message(&mut self) -> Option<WaitResult<T>> {
        if let Some(copy) = self.copy.take() {
            return Some(WaitResult::Message(copy));
        }
        let index = self.index;
        let pubsub = self.pubsub;
        let loan = pubsub.with(|inner| {
            let next = inner.cursors[index].expect("a live subscriber has a cursor");
            if next < inner.tail {
                inner.cursors[index] = Some(inner.tail);
                return Err(Some(WaitResult::Lagged(inner.tail - next)));
            }
            if next == inner.head {
                return Err(None);
            }
            let place = Inner::<T, N, SUBS>::place(next);
            if inner.places[place] == Place::Lent {
                inner.waiting_for_loan = true;
                return Err(None);
            }
            inner.places[place] = Place::Lent;
            // SAFETY: `tail <= next < head`: the place holds a message,
            // and marking it lent makes this reader its only user.
            let message = unsafe { inner.messages[place].assume_init_read() };
            Ok(Loan {
                pubsub,
                place,
                number: next,
                message: Some(message),
            })
        });
        let mut loan = match loan {
            Ok(loan) => loan,
            Err(result) => return result,
        };
        // The lock is released: user code may run (and use this queue).
        self.copy = loan.message.clone();
        loan.give_back(Some(index));
        self.copy.take().map(WaitResult::Message)
    }

    /// Waits for the next message (or the news that some were dropped).
    pub fn next_message(&mut self) -> NextMessage<'_, 'p, T, N, SUBS> {
        NextMessage {
            subscriber: self,
            waiter: Waiter::new(),
            got: None,
        }
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> Drop for Subscriber<'_, T, N, SUBS> {
    fn drop(&mut self) {
        let index = self.index;
        let freed = self.pubsub.with(|inner| {
            let next = inner.cursors[index]
                .take()
                .expect("a live subscriber has a cursor");
            inner.subscribers -= 1;
            // The messages it had not read no longer wait for it.
            for number in next.max(inner.tail)..inner.head {
                inner.unread[Inner::<T, N, SUBS>::place(number)] -= 1;
            }
            inner.trim()
        });
        if freed > 0 {
            self.pubsub.writers.grant(freed, false);
        }
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> fmt::Debug for Subscriber<'_, T, N, SUBS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("index", &self.index)
            .finish()
    }
}

/// A message moved out of its place for a reader to clone with the lock
/// released. Giving it back (also while unwinding from a panicking
/// `Clone`) returns it to its place — or, if a publisher wrote the place
/// again meanwhile, drops it after the lock.
struct Loan<'p, T: Clone, const N: usize, const SUBS: usize> {
    pubsub: &'p PubSub<T, N, SUBS>,
    place: usize,
    number: u64,
    message: Option<T>,
}

impl<T: Clone, const N: usize, const SUBS: usize> Loan<'_, T, N, SUBS> {
    /// Returns the message; with `read`, subscriber `read` has read it
    /// (its cursor moves on). Wakes readers that waited for the loan and
    /// publishers for the room the read freed.
    fn give_back(&mut self, read: Option<usize>) {
        let Some(message) = self.message.take() else {
            return;
        };
        let (superseded, woken, freed) = self.pubsub.with(|inner| {
            let place = self.place;
            let superseded =
                if inner.places[place] == Place::Lent && inner.numbers[place] == self.number {
                    inner.messages[place].write(message);
                    inner.places[place] = Place::Filled;
                    None
                } else {
                    Some(message)
                };
            let mut freed = 0;
            if let Some(index) = read {
                inner.cursors[index] = Some(self.number + 1);
                // Still kept (not dropped for room meanwhile): one fewer
                // to read it.
                if self.number >= inner.tail {
                    inner.unread[place] -= 1;
                    freed = inner.trim();
                }
            }
            (
                superseded,
                core::mem::take(&mut inner.waiting_for_loan),
                freed,
            )
        });
        if freed > 0 {
            self.pubsub.writers.grant(freed, false);
        }
        if woken {
            self.pubsub.readers.grant(0, true);
        }
        // After the lock: user code.
        drop(superseded);
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> Drop for Loan<'_, T, N, SUBS> {
    fn drop(&mut self) {
        // Only reached with the message still out when the clone panicked:
        // the message goes back unread.
        self.give_back(None);
    }
}

/// Future of [`Subscriber::next_message`].
#[must_use = "futures do nothing unless awaited"]
pub struct NextMessage<'s, 'p, T: Clone, const N: usize, const SUBS: usize> {
    subscriber: &'s mut Subscriber<'p, T, N, SUBS>,
    waiter: Waiter,
    /// A result read while the waiter leaves the list (which may run user
    /// code: a waker's drop); kept here if that panics, and returned by the
    /// next poll.
    got: Option<WaitResult<T>>,
}

impl<T: Clone, const N: usize, const SUBS: usize> Future for NextMessage<'_, '_, T, N, SUBS> {
    type Output = WaitResult<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WaitResult<T>> {
        // SAFETY: `waiter` is never moved out of the pinned future; the
        // subscriber reference is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&this.waiter) };
        let readers = &this.subscriber.pubsub.readers;
        if let Some(result) = this.got.take() {
            return Poll::Ready(result);
        }
        loop {
            if let Some(result) = this.subscriber.try_next_message() {
                if waiter.is_active() {
                    this.got = Some(result);
                    // A wake-everyone needs no forwarding.
                    readers.cancel(waiter);
                    return Poll::Ready(this.got.take().expect("kept until here"));
                }
                return Poll::Ready(result);
            }
            if waiter.take_notified() {
                continue;
            }
            if readers.register(waiter, cx.waker(), 1) == Registered::Notified {
                continue;
            }
            if let Some(result) = this.subscriber.try_next_message() {
                this.got = Some(result);
                readers.cancel(waiter);
                return Poll::Ready(this.got.take().expect("kept until here"));
            }
            return Poll::Pending;
        }
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> Drop for NextMessage<'_, '_, T, N, SUBS> {
    fn drop(&mut self) {
        // SAFETY: pinned since its first poll (or never linked); last use.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        if waiter.is_active() {
            self.subscriber.pubsub.readers.cancel(waiter);
        }
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> fmt::Debug for NextMessage<'_, '_, T, N, SUBS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextMessage").finish_non_exhaustive()
    }
}

/// Future of [`PubSub::publish`].
#[must_use = "futures do nothing unless awaited"]
pub struct Publish<'p, T: Clone, const N: usize, const SUBS: usize> {
    pubsub: &'p PubSub<T, N, SUBS>,
    message: Option<T>,
    waiter: Waiter,
}

/// Takes a publisher's waiter out of the list; room it was told of goes
/// to the next publisher.
fn leave<T: Clone, const N: usize, const SUBS: usize>(
    pubsub: &PubSub<T, N, SUBS>,
    waiter: Pin<&Waiter>,
) {
    if waiter.is_active() && pubsub.writers.cancel(waiter) {
        pubsub.writers.grant(1, false);
    }
}

/// Tries to publish; `true` when done.
fn try_publish<T: Clone, const N: usize, const SUBS: usize>(
    pubsub: &PubSub<T, N, SUBS>,
    message: &mut Option<T>,
) -> bool {
    let Some(m) = message.take() else {
        return true;
    };
    match pubsub.try_publish(m) {
        Ok(()) => true,
        Err(m) => {
            *message = Some(m);
            false
        }
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> Future for Publish<'_, T, N, SUBS> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `waiter` is never moved out of the pinned future;
        // `message` is not pinned.
        let Publish {
            pubsub,
            message,
            waiter,
        } = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&*waiter) };
        loop {
            if try_publish(pubsub, message) {
                leave(pubsub, waiter);
                return Poll::Ready(());
            }
            if waiter.take_notified() {
                continue;
            }
            if pubsub.writers.register(waiter, cx.waker(), 1) == Registered::Notified {
                continue;
            }
            if try_publish(pubsub, message) {
                leave(pubsub, waiter);
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> Drop for Publish<'_, T, N, SUBS> {
    fn drop(&mut self) {
        // SAFETY: pinned since its first poll (or never linked); last use.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        leave(self.pubsub, waiter);
    }
}

impl<T: Clone, const N: usize, const SUBS: usize> fmt::Debug for Publish<'_, T, N, SUBS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("published", &self.message.is_none())
            .finish()
    }
}
