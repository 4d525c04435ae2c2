//! User code inside the primitives of `kasync::sync`: a message's `Clone`
//! or `Drop` and a waker's `wake` that call back into the same primitive
//! (they must return, not deadlock) or panic (every value stays exactly
//! once in the primitive or with the caller). Each case here failed before
//! the rule "no user code under an internal lock or in a half-changed
//! state" was followed. Also under miri.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use kasync::sync::{Channel, PubSub, Signal, WaitResult};
use kasync_tests::wake::{counting_waker, panicking_waker};
use kasync_tests::watchdog::watchdog;

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}
fn noop<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    poll(f, Waker::noop())
}

thread_local! {
    /// Values of `Counted` alive on this thread, by number.
    static ALIVE: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// A value that tracks its copies: `alive(n)` tells how many values
/// numbered `n` exist (so "exactly once" is checked, not assumed).
#[derive(Debug, PartialEq)]
struct Counted(u32);
impl Counted {
    fn new(n: u32) -> Self {
        ALIVE.with(|a| a.borrow_mut().push(n));
        Counted(n)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        ALIVE.with(|a| {
            let mut a = a.borrow_mut();
            let i = a.iter().position(|&n| n == self.0).expect("dropped twice");
            a.swap_remove(i);
        });
    }
}
fn alive(n: u32) -> usize {
    ALIVE.with(|a| a.borrow().iter().filter(|&&m| m == n).count())
}

// --- Channel ------------------------------------------------------------

#[test]
fn a_senders_panicking_waker_in_try_recv_gives_the_value_back() {
    let ch: Channel<Counted, 2> = Channel::new();
    ch.try_send(Counted::new(1)).unwrap();
    ch.try_send(Counted::new(2)).unwrap();
    let (bomb, waker) = panicking_waker();
    let mut send = pin!(ch.send(Counted::new(3)));
    assert!(
        poll(send.as_mut(), &waker).is_pending(),
        "full: the sender waits"
    );

    let r = catch_unwind(AssertUnwindSafe(|| ch.try_recv()));
    assert!(r.is_err(), "the sender's waker panicked inside try_recv");
    assert_eq!(alive(1), 1, "value 1 neither lost nor copied");
    assert_eq!(ch.len(), 2, "value 1 is back in the channel, beside 2");

    // The given-back value is received next, then the rest in order; the
    // sender (told of the room before its waker panicked) gets it.
    bomb.armed.store(false, Ordering::SeqCst);
    assert_eq!(ch.try_recv().map(|c| c.0), Some(1));
    assert_eq!(noop(send.as_mut()), Poll::Ready(()));
    assert_eq!(ch.try_recv().map(|c| c.0), Some(2));
    assert_eq!(ch.try_recv().map(|c| c.0), Some(3));
    assert!(ch.try_recv().is_none());
    for n in 1..=3 {
        assert_eq!(alive(n), 0, "value {n} was received and dropped once");
    }
}

#[test]
fn a_given_back_value_that_is_never_received_is_dropped_with_the_channel() {
    let ch: Channel<Counted, 2> = Channel::new();
    ch.try_send(Counted::new(7)).unwrap();
    ch.try_send(Counted::new(8)).unwrap();
    let (_bomb, waker) = panicking_waker();
    {
        let mut send = pin!(ch.send(Counted::new(9)));
        assert!(poll(send.as_mut(), &waker).is_pending());
        assert!(catch_unwind(AssertUnwindSafe(|| ch.try_recv())).is_err());
        // The room is there: the sender's value goes in as a third value.
        assert_eq!(noop(send.as_mut()), Poll::Ready(()));
    }
    assert_eq!(ch.len(), 3, "N + 1 while the given-back value waits");
    assert!(ch.is_full());
    drop(ch);
    for n in 7..=9 {
        assert_eq!(alive(n), 0, "value {n} dropped once with the channel");
    }
}

#[test]
fn a_receive_inside_a_senders_waker_is_left_to_the_waking_one() {
    // A waker that receives from the same channel while the receive that
    // woke it is still waking senders: its wake is owed, not lost.
    use std::sync::Arc;
    use std::task::Wake;
    static CH: Channel<u32, 2> = Channel::new();
    struct Reenter(std::sync::Mutex<Vec<u32>>);
    impl Wake for Reenter {
        fn wake(self: Arc<Self>) {
            if let Some(v) = CH.try_recv() {
                self.0.lock().unwrap().push(v);
            }
        }
    }
    CH.try_send(1).unwrap();
    CH.try_send(2).unwrap();
    let reenter = Arc::new(Reenter(std::sync::Mutex::new(Vec::new())));
    let first = Waker::from(reenter.clone());
    let (second_woken, second) = counting_waker();
    let mut s1 = pin!(CH.send(3));
    let mut s2 = pin!(CH.send(4));
    assert!(poll(s1.as_mut(), &first).is_pending());
    assert!(poll(s2.as_mut(), &second).is_pending());
    watchdog("re-entrant receive in a waker", || {
        assert_eq!(CH.try_recv(), Some(1));
    });
    assert_eq!(
        *reenter.0.lock().unwrap(),
        [2],
        "the waker received the next value"
    );
    assert_eq!(
        second_woken.get(),
        1,
        "the second receive's room woke the second sender"
    );
    assert_eq!(noop(s1.as_mut()), Poll::Ready(()));
    assert_eq!(noop(s2.as_mut()), Poll::Ready(()));
    assert_eq!(
        (CH.try_recv(), CH.try_recv(), CH.try_recv()),
        (Some(3), Some(4), None)
    );
}

#[test]
fn a_receivers_panicking_waker_in_try_send_leaves_the_value_sent_once() {
    let ch: Channel<Counted, 2> = Channel::new();
    let (_bomb, waker) = panicking_waker();
    let mut recv = pin!(ch.recv());
    assert!(poll(recv.as_mut(), &waker).is_pending());
    let r = catch_unwind(AssertUnwindSafe(|| ch.try_send(Counted::new(5))));
    assert!(r.is_err(), "the receiver's waker panicked inside try_send");
    // The panic means "sent": the value is in the channel, once.
    assert_eq!(alive(5), 1);
    assert_eq!(noop(recv.as_mut()).map(|c| c.0), Poll::Ready(5));
    assert!(ch.try_recv().is_none());
    assert_eq!(alive(5), 0);
}

#[test]
fn a_send_future_whose_receivers_waker_panics_does_not_send_twice() {
    let ch: Channel<Counted, 2> = Channel::new();
    let (_bomb, waker) = panicking_waker();
    let mut recv = pin!(ch.recv());
    assert!(poll(recv.as_mut(), &waker).is_pending());
    let mut send = pin!(ch.send(Counted::new(6)));
    assert!(catch_unwind(AssertUnwindSafe(|| noop(send.as_mut()))).is_err());
    // Polled again (a retry), the send is done: nothing is sent twice.
    assert_eq!(noop(send.as_mut()), Poll::Ready(()));
    assert_eq!(ch.len(), 1);
    assert_eq!(alive(6), 1);
}

#[test]
fn a_recv_future_keeps_its_value_when_forwarding_a_notification_panics() {
    // Two receivers wait; the first is told of a value, but before it is
    // polled a second value arrives too and a `try_recv` elsewhere takes
    // one. The first receiver takes the other value and forwards its
    // notification to the second, whose waker panics: the first keeps its
    // value and returns it when polled again.
    let ch: Channel<Counted, 2> = Channel::new();
    let (first_woken, first) = counting_waker();
    let (_bomb, second) = panicking_waker();
    let mut r1 = pin!(ch.recv());
    let mut r2 = pin!(ch.recv());
    assert!(poll(r1.as_mut(), &first).is_pending());
    assert!(poll(r2.as_mut(), &second).is_pending());
    ch.try_send(Counted::new(10)).unwrap(); // notifies r1
    assert_eq!(first_woken.get(), 1);
    // r1 leaves with a value while notified: it forwards (wakes r2).
    let r = catch_unwind(AssertUnwindSafe(|| poll(r1.as_mut(), &first)));
    assert!(
        r.is_err(),
        "forwarding woke the second receiver, whose waker panicked"
    );
    assert_eq!(alive(10), 1, "the value is kept in the first receiver");
    assert_eq!(poll(r1.as_mut(), &first).map(|c| c.0), Poll::Ready(10));
    assert_eq!(alive(10), 0);
}

// --- Signal -------------------------------------------------------------

thread_local! {
    static SIGNAL_IN_DROP: Cell<Option<&'static Signal<Reentrant>>> = const { Cell::new(None) };
}

/// A value whose `Drop` uses the signal it was in.
#[derive(Debug, PartialEq)]
struct Reentrant(u32);
impl Drop for Reentrant {
    fn drop(&mut self) {
        if let Some(signal) = SIGNAL_IN_DROP.with(|s| s.take()) {
            // Each of these took the taker's lock, held by `try_take`.
            signal.reset();
            let _ = signal.try_take();
            let _ = noop(pin!(signal.wait()));
            signal.signal(Reentrant(self.0 + 100));
        }
    }
}

#[test]
fn a_drop_that_uses_the_same_signal_returns() {
    static SIGNAL: Signal<Reentrant> = Signal::new();
    SIGNAL.signal(Reentrant(1));
    SIGNAL.signal(Reentrant(2)); // both places full: 1 is the older
    SIGNAL_IN_DROP.with(|s| s.set(Some(&SIGNAL)));
    let taken = watchdog("a Drop re-entering Signal::try_take", || SIGNAL.try_take());
    // Dropping 1 ran the re-entrant calls: their `try_take` took 2, and the
    // drop signalled 101, which is what this take found last.
    assert_eq!(taken, Some(Reentrant(101)));
    assert!(!SIGNAL.signaled());
}

thread_local! { static DROP_PANICS: Cell<bool> = const { Cell::new(false) }; }

#[derive(Debug, PartialEq)]
struct PanicsOnDrop(u32);
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if DROP_PANICS.with(|p| p.replace(false)) {
            panic!("Drop of {} panics on purpose", self.0);
        }
    }
}

#[test]
fn a_panicking_drop_of_the_older_value_keeps_the_newest() {
    let signal: Signal<PanicsOnDrop> = Signal::new();
    signal.signal(PanicsOnDrop(1));
    signal.signal(PanicsOnDrop(2));
    DROP_PANICS.with(|p| p.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| signal.try_take()));
    assert!(r.is_err(), "the older value's Drop panicked");
    assert!(signal.signaled(), "the newest value is still there");
    assert_eq!(signal.try_take(), Some(PanicsOnDrop(2)));
    assert_eq!(signal.try_take(), None);
}

// --- PubSub -------------------------------------------------------------

/// What a `Talker`'s `Clone` does with the queue it is in.
#[derive(Clone, Copy)]
enum OnClone {
    Nothing,
    /// Counts, subscribes and publishes (into the place being read when
    /// the queue is full).
    UseQueue,
    Panic,
}

thread_local! {
    static PUBSUB: Cell<Option<&'static PubSub<Talker, 2, 4>>> = const { Cell::new(None) };
    static ON_CLONE: Cell<OnClone> = const { Cell::new(OnClone::Nothing) };
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug, PartialEq)]
struct Talker(u32);
impl Clone for Talker {
    fn clone(&self) -> Self {
        match ON_CLONE.with(|c| c.replace(OnClone::Nothing)) {
            OnClone::Nothing => {}
            OnClone::Panic => panic!("Clone of {} panics on purpose", self.0),
            OnClone::UseQueue => {
                let ps = PUBSUB.with(Cell::get).expect("a queue to use");
                let len = ps.len();
                let sub = ps.subscriber().expect("a place");
                ps.publish_immediate(Talker(self.0 + 100));
                SEEN.with(|s| s.borrow_mut().push(format!("len {len}")));
                drop(sub);
            }
        }
        Talker(self.0)
    }
}

#[test]
fn a_clone_that_uses_the_same_pubsub_returns() {
    static PS: PubSub<Talker, 2, 4> = PubSub::new();
    PUBSUB.with(|p| p.set(Some(&PS)));
    let mut sub = PS.subscriber().unwrap();
    PS.publish_immediate(Talker(1));
    PS.publish_immediate(Talker(2)); // full: the clone's publish drops 1
    ON_CLONE.with(|c| c.set(OnClone::UseQueue));
    let got = watchdog("a Clone re-entering the PubSub", || sub.try_next_message());
    // The copy was made before its original was dropped for room.
    assert_eq!(got, Some(WaitResult::Message(Talker(1))));
    assert_eq!(SEEN.with(|s| s.take()), ["len 2"]);
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Talker(2))));
    assert_eq!(
        sub.try_next_message(),
        Some(WaitResult::Message(Talker(101)))
    );
    assert_eq!(sub.try_next_message(), None);
}

#[test]
fn a_panicking_clone_leaves_the_message_unread() {
    let ps: PubSub<Talker, 2, 4> = PubSub::new();
    let mut sub = ps.subscriber().unwrap();
    ps.publish_immediate(Talker(1));
    ON_CLONE.with(|c| c.set(OnClone::Panic));
    let r = catch_unwind(AssertUnwindSafe(|| sub.try_next_message()));
    assert!(r.is_err(), "the clone panicked");
    assert_eq!(ps.len(), 1, "the message is back in its place, unread");
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Talker(1))));
    assert_eq!(sub.try_next_message(), None);
    assert_eq!(ps.len(), 0);
}

/// A message whose clone waits, on another thread, until told to go on.
#[derive(Debug, PartialEq)]
struct SlowClone(u32);
static CLONING: AtomicBool = AtomicBool::new(false);
static GO_ON: AtomicBool = AtomicBool::new(false);
impl Clone for SlowClone {
    fn clone(&self) -> Self {
        CLONING.store(true, Ordering::SeqCst);
        while !GO_ON.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        SlowClone(self.0)
    }
}

#[test]
fn a_message_being_cloned_is_waited_for_by_other_readers() {
    // While one subscriber clones a message (the lock released), another
    // that wants the same message finds it lent out and waits; the
    // message's return wakes it, and both read it.
    static PS: PubSub<SlowClone, 2, 2> = PubSub::new();
    let mut first = PS.subscriber().unwrap();
    let mut other = PS.subscriber().unwrap();
    PS.publish_immediate(SlowClone(5));
    let reader = std::thread::spawn(move || first.try_next_message());
    while !CLONING.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let (woken, waker) = counting_waker();
    {
        let mut next = pin!(other.next_message());
        assert!(
            poll(next.as_mut(), &waker).is_pending(),
            "lent out: the other reader waits"
        );
        GO_ON.store(true, Ordering::SeqCst);
        let got = reader.join().unwrap();
        assert_eq!(got, Some(WaitResult::Message(SlowClone(5))));
        assert_eq!(woken.get(), 1, "the message's return woke the other reader");
        assert_eq!(
            poll(next.as_mut(), &waker),
            Poll::Ready(WaitResult::Message(SlowClone(5)))
        );
    }
    assert_eq!(PS.len(), 0, "both read it: its place is free");
}

#[test]
fn a_read_whose_publisher_wake_panics_keeps_the_copy_for_the_subscriber() {
    let ps: PubSub<Talker, 1, 2> = PubSub::new();
    let mut sub = ps.subscriber().unwrap();
    ps.publish_immediate(Talker(1));
    let (_bomb, waker) = panicking_waker();
    let mut publish = pin!(ps.publish(Talker(2)));
    assert!(
        poll(publish.as_mut(), &waker).is_pending(),
        "full: the publisher waits"
    );
    // The read frees the room and wakes the publisher, whose waker panics.
    let r = catch_unwind(AssertUnwindSafe(|| sub.try_next_message()));
    assert!(r.is_err());
    // The copy read is kept for the subscriber, and counted as read.
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Talker(1))));
    assert_eq!(noop(publish.as_mut()), Poll::Ready(()));
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Talker(2))));
    assert_eq!(sub.try_next_message(), None);
}
