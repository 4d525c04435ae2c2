//! `Channel` with user code at every point: re-entrant and panicking
//! wakers, values counted exactly once, futures dropped at each point,
//! leaks, `len()` under races, the channel's own `Drop` with panicking
//! values, and threads racing with panicking wakers.

#![allow(
    clippy::needless_range_loop,
    reason = "values are counted by id: the loops walk the ids"
)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};

use kasync::sync::{Channel, Recv};

// --- helpers -------------------------------------------------------------

/// Quiet the panics raised on purpose (they would flood the output).
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains("on purpose") {
                default(info);
            }
        }));
    });
}

const IDS: usize = 4096;
/// Per id: made, dropped (so "exactly once" is checked, not assumed).
static MADE: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
static DROPPED: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
/// A `Tok` whose id is here panics in its `Drop` (once).
static PANIC_DROP_ID: AtomicUsize = AtomicUsize::new(usize::MAX);

#[derive(Debug, PartialEq, Eq)]
struct Tok(usize);
impl Tok {
    fn new(id: usize) -> Self {
        MADE[id].fetch_add(1, Ordering::SeqCst);
        Tok(id)
    }
}
impl Drop for Tok {
    fn drop(&mut self) {
        DROPPED[self.0].fetch_add(1, Ordering::SeqCst);
        if PANIC_DROP_ID
            .compare_exchange(self.0, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            panic!("Drop of Tok({}) panics on purpose", self.0);
        }
    }
}
fn alive(id: usize) -> usize {
    MADE[id].load(Ordering::SeqCst) - DROPPED[id].load(Ordering::SeqCst)
}

struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
fn counting() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// A waker that runs `f` when woken.
struct OnWake<F: Fn() + Send + Sync + 'static>(F);
impl<F: Fn() + Send + Sync + 'static> Wake for OnWake<F> {
    fn wake(self: Arc<Self>) {
        (self.0)()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        (self.0)()
    }
}
fn on_wake(f: impl Fn() + Send + Sync + 'static) -> Waker {
    Waker::from(Arc::new(OnWake(f)))
}

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

// --- 1. a receiver that starts waiting while a receive holds a value -----

/// A receive (`try_recv`) takes value 1 and wakes the waiting sender. The
/// sender's waker (user code) takes value 2, then polls a `Recv`: the
/// channel looks empty (1 is held by the waking receive), so it waits.
/// The waker panics and value 1 is given back to the channel: the waiting
/// `Recv` is woken for it.
#[test]
fn a_receiver_that_waits_while_a_value_is_given_back_is_woken() {
    quiet_panics();
    static CH: Channel<u32, 2> = Channel::new();
    static RECV: Mutex<Option<Pin<Box<Recv<'static, u32, 2>>>>> = Mutex::new(None);
    static TAKEN_IN_WAKER: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let (recv_woken, recv_waker) = counting();
    let recv_waker2 = recv_waker.clone();
    *RECV.lock().unwrap() = Some(Box::pin(CH.recv()));

    CH.try_send(1).unwrap();
    CH.try_send(2).unwrap();
    let sender_waker = on_wake(move || {
        if let Some(v) = CH.try_recv() {
            TAKEN_IN_WAKER.lock().unwrap().push(v);
        }
        let mut slot = RECV.lock().unwrap();
        let r = slot.as_mut().unwrap();
        assert!(
            poll(r.as_mut(), &recv_waker2).is_pending(),
            "ring looks empty"
        );
        drop(slot);
        panic!("sender waker panics on purpose");
    });
    let mut send = pin!(CH.send(3));
    assert!(poll(send.as_mut(), &sender_waker).is_pending());
    drop(sender_waker);

    assert!(catch_unwind(AssertUnwindSafe(|| CH.try_recv())).is_err());
    assert_eq!(*TAKEN_IN_WAKER.lock().unwrap(), [2]);
    assert_eq!(CH.len(), 1, "value 1 is back in the channel");
    // A value is there and a receiver waits for one: it must have been
    // woken (or be woken by something still owed).
    let woken = recv_woken.0.load(Ordering::SeqCst);
    // What an executor would see: the Recv future is never polled again.
    let mut slot = RECV.lock().unwrap();
    let polled = poll(slot.as_mut().unwrap().as_mut(), &recv_waker);
    assert_eq!(polled, Poll::Ready(1), "the value was there all along");
    assert!(
        woken > 0,
        "lost wake-up: a Recv waiting while the channel held a value (len 1) was never woken"
    );
}

// --- 2. order after a re-entrant receive and a panic ---------------------

/// A receive inside the sender's waker takes 2 while 1 is held; the waker
/// panics and 1 is given back: received 2, then 1 (the documented swap),
/// then 3 — each once.
#[test]
fn receive_order_after_a_reentrant_receive_and_a_panicking_waker() {
    quiet_panics();
    static CH: Channel<u32, 2> = Channel::new();
    static GOT: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    CH.try_send(1).unwrap();
    CH.try_send(2).unwrap();
    let w = on_wake(|| {
        if let Some(v) = CH.try_recv() {
            GOT.lock().unwrap().push(v);
        }
        panic!("waker panics on purpose");
    });
    let mut send = pin!(CH.send(3));
    assert!(poll(send.as_mut(), &w).is_pending());
    drop(w);
    assert!(catch_unwind(AssertUnwindSafe(|| CH.try_recv())).is_err());
    while let Some(v) = CH.try_recv() {
        GOT.lock().unwrap().push(v);
    }
    assert_eq!(poll(send.as_mut(), Waker::noop()), Poll::Ready(()));
    while let Some(v) = CH.try_recv() {
        GOT.lock().unwrap().push(v);
    }
    assert_eq!(
        *GOT.lock().unwrap(),
        [2, 1, 3],
        "the given-back value next, each once"
    );
}

// --- 3. the channel's Drop with a panicking value Drop ------------------

/// Dropping a channel whose first value's `Drop` panics drops the other
/// values too, as a `Vec` would.
#[test]
fn dropping_a_channel_drops_every_value_even_if_one_drop_panics() {
    quiet_panics();
    let ch: Channel<Tok, 4> = Channel::new();
    for id in 100..103 {
        ch.try_send(Tok::new(id)).unwrap();
    }
    PANIC_DROP_ID.store(100, Ordering::SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(ch))).is_err());
    let leaked: Vec<usize> = (100..103).filter(|&id| alive(id) != 0).collect();
    assert!(
        leaked.is_empty(),
        "values never dropped after one Drop panicked: {leaked:?}"
    );
}

/// Same with the given-back value panicking in its `Drop`: the ring's
/// values are dropped after it (a panicking `Drop::drop` still drops the
/// fields).
#[test]
fn dropping_a_channel_whose_returned_value_drop_panics() {
    quiet_panics();
    let ch: Channel<Tok, 2> = Channel::new();
    ch.try_send(Tok::new(110)).unwrap();
    ch.try_send(Tok::new(111)).unwrap();
    let w = on_wake(|| panic!("waker panics on purpose"));
    {
        let mut send = pin!(ch.send(Tok::new(112)));
        assert!(poll(send.as_mut(), &w).is_pending());
        assert!(catch_unwind(AssertUnwindSafe(|| ch.try_recv())).is_err());
        assert_eq!(poll(send.as_mut(), Waker::noop()), Poll::Ready(()));
    }
    assert_eq!(ch.len(), 3);
    assert!(ch.is_full());
    assert_eq!(ch.try_send(Tok::new(113)).map_err(|t| t.0), Err(113));
    PANIC_DROP_ID.store(110, Ordering::SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(ch))).is_err());
    for id in 110..=113 {
        assert_eq!(alive(id), 0, "value {id}");
    }
}

// --- 4. len() is a snapshot that may read N when nearly empty -----------

/// One thread keeps at most one value in a `Channel<_, 64>` (send, then
/// receive). Another reads `len()`: 0 or 1, never "full" — sends and
/// receives between its loads of the two ends must not make it read a
/// huge difference.
#[test]
fn len_of_a_nearly_empty_channel_never_reads_full() {
    static CH: Channel<u32, 64> = Channel::new();
    static STOP: AtomicBool = AtomicBool::new(false);
    let rounds = if cfg!(miri) { 200 } else { 5_000_000 };
    let churn = std::thread::spawn(move || {
        let mut n = 0;
        while !STOP.load(Ordering::Relaxed) {
            CH.try_send(1).unwrap();
            assert_eq!(CH.try_recv(), Some(1));
            n += 1;
            if cfg!(miri) && n > 2000 {
                break;
            }
        }
    });
    let mut worst = 0;
    let mut full = 0;
    for _ in 0..rounds {
        let len = CH.len();
        worst = worst.max(len);
        full += usize::from(CH.is_full());
    }
    STOP.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    assert!(
        worst <= 1,
        "len() read {worst} (is_full() true {full} times) with at most 1 value in flight"
    );
}

// --- 5. futures dropped at each point: notifications are forwarded ------

#[test]
fn a_notified_recv_dropped_before_its_poll_forwards_to_the_next() {
    let ch: Channel<Tok, 2> = Channel::new();
    let (w1c, w1) = counting();
    let (w2c, w2) = counting();
    let mut r2 = pin!(ch.recv());
    {
        let mut r1 = pin!(ch.recv());
        assert!(poll(r1.as_mut(), &w1).is_pending());
        assert!(poll(r2.as_mut(), &w2).is_pending());
        ch.try_send(Tok::new(200)).unwrap();
        assert_eq!(w1c.0.load(Ordering::SeqCst), 1);
    } // r1 dropped, notified
    assert_eq!(w2c.0.load(Ordering::SeqCst), 1, "forwarded");
    assert_eq!(poll(r2.as_mut(), &w2).map(|t| t.0), Poll::Ready(200));
    assert_eq!(alive(200), 0);
}

#[test]
fn a_notified_send_dropped_before_its_poll_forwards_and_drops_its_value_once() {
    let ch: Channel<Tok, 2> = Channel::new();
    ch.try_send(Tok::new(210)).unwrap();
    ch.try_send(Tok::new(211)).unwrap();
    let (w1c, w1) = counting();
    let (w2c, w2) = counting();
    let mut s2 = pin!(ch.send(Tok::new(213)));
    {
        let mut s1 = pin!(ch.send(Tok::new(212)));
        assert!(poll(s1.as_mut(), &w1).is_pending());
        assert!(poll(s2.as_mut(), &w2).is_pending());
        assert_eq!(ch.try_recv().map(|t| t.0), Some(210));
        assert_eq!(w1c.0.load(Ordering::SeqCst), 1);
    }
    assert_eq!(alive(212), 0, "the dropped send's value, once");
    assert_eq!(
        w2c.0.load(Ordering::SeqCst),
        1,
        "forwarded to the next sender"
    );
    assert_eq!(poll(s2.as_mut(), &w2), Poll::Ready(()));
    assert_eq!(ch.try_recv().map(|t| t.0), Some(211));
    assert_eq!(ch.try_recv().map(|t| t.0), Some(213));
    assert_eq!(ch.len(), 0);
}

/// A waiting `Recv` leaked (`Box::pin` + `mem::forget`) keeps its place at
/// the front of the list forever; the next value's notification goes to
/// it, and the live receiver behind it is not woken. (A leak is allowed
/// by safe Rust; documenting the consequence.)
#[test]
fn a_leaked_waiting_recv_swallows_a_notification() {
    static CH: Channel<u32, 2> = Channel::new();
    // Leaked for good: kept where a static reaches it (so miri does not
    // count it as lost memory), never dropped.
    static LEAKED: std::sync::atomic::AtomicPtr<()> =
        std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    let leaked: &'static mut _ = Box::leak(Box::new(CH.recv()));
    LEAKED.store((&raw mut *leaked).cast(), Ordering::SeqCst);
    let mut leaked = Pin::static_mut(leaked);
    assert!(poll(leaked.as_mut(), Waker::noop()).is_pending());
    let (wc, w) = counting();
    let mut r = pin!(CH.recv());
    assert!(poll(r.as_mut(), &w).is_pending());
    CH.try_send(7).unwrap();
    let first = wc.0.load(Ordering::SeqCst);
    CH.try_send(8).unwrap();
    let second = wc.0.load(Ordering::SeqCst);
    assert_eq!(poll(r.as_mut(), &w), Poll::Ready(7));
    assert_eq!(
        (first, second),
        (0, 1),
        "the first value's wake went to the leaked future"
    );
}

/// Replacing a waiting sender's waker with one whose `Drop` panics on
/// the replace (the old waker's last reference is in the list): the value
/// stays in the future, and the send completes later.
#[test]
fn a_replaced_waker_whose_drop_panics() {
    quiet_panics();
    struct Bomb;
    impl Wake for Bomb {
        fn wake(self: Arc<Self>) {}
    }
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("waker drop panics on purpose");
        }
    }
    let ch: Channel<Tok, 2> = Channel::new();
    ch.try_send(Tok::new(220)).unwrap();
    ch.try_send(Tok::new(221)).unwrap();
    let mut send = pin!(ch.send(Tok::new(222)));
    {
        let bomb = Waker::from(Arc::new(Bomb));
        assert!(poll(send.as_mut(), &bomb).is_pending());
    } // the list holds the last reference
    let (wc, w) = counting();
    assert!(catch_unwind(AssertUnwindSafe(|| poll(send.as_mut(), &w))).is_err());
    assert_eq!(ch.try_recv().map(|t| t.0), Some(220));
    assert_eq!(wc.0.load(Ordering::SeqCst), 1, "the new waker was linked");
    assert_eq!(poll(send.as_mut(), &w), Poll::Ready(()));
    assert_eq!(ch.try_recv().map(|t| t.0), Some(221));
    assert_eq!(ch.try_recv().map(|t| t.0), Some(222));
    for id in 220..=222 {
        assert_eq!(alive(id), 0);
    }
}

// --- 6. threads: try_send / try_recv / futures with panicking wakers ----

/// Sender threads drive `send` futures (one of them with a waker that
/// panics half the time); receiver threads drive `try_recv` (catching the panics of the
/// senders' wakers) and `recv` futures with panicking wakers. Every value
/// must be received exactly once and dropped exactly once.
#[test]
fn threads_with_panicking_wakers_lose_and_duplicate_nothing() {
    quiet_panics();
    static CH: Channel<Tok, 2> = Channel::new();
    static RECEIVED: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
    static TOTAL: AtomicUsize = AtomicUsize::new(0);
    const BASE: usize = 1000;
    let per_sender = if cfg!(miri) { 8 } else { 1000 };
    let senders = 2;
    let all = per_sender * senders;

    struct Flaky(AtomicUsize);
    impl Wake for Flaky {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref()
        }
        fn wake_by_ref(self: &Arc<Self>) {
            // Never while another panic unwinds: the primitives wake the
            // rest of a batch then, and a second panic aborts (as in any
            // Rust code; SOUNDNESS.md).
            if self.0.fetch_add(1, Ordering::Relaxed) % 2 == 0 && !std::thread::panicking() {
                panic!("flaky waker panics on purpose");
            }
        }
    }

    let mut handles = Vec::new();
    for s in 0..senders {
        handles.push(std::thread::spawn(move || {
            // One panicking waker per wait list.
            let waker = if s == 0 {
                Waker::from(Arc::new(Flaky(AtomicUsize::new(0))))
            } else {
                Waker::noop().clone()
            };
            for i in 0..per_sender {
                let id = BASE + s * per_sender + i;
                let mut send = pin!(CH.send(Tok::new(id)));
                loop {
                    match catch_unwind(AssertUnwindSafe(|| poll(send.as_mut(), &waker))) {
                        Ok(Poll::Ready(())) => break,
                        Ok(Poll::Pending) | Err(_) => std::thread::yield_now(),
                    }
                }
            }
        }));
    }
    for r in 0..2 {
        handles.push(std::thread::spawn(move || {
            let waker = Waker::from(Arc::new(Flaky(AtomicUsize::new(r))));
            while TOTAL.load(Ordering::SeqCst) < all {
                let got = if r == 0 {
                    catch_unwind(AssertUnwindSafe(|| CH.try_recv()))
                        .ok()
                        .flatten()
                } else {
                    let mut recv = pin!(CH.recv());
                    let mut got = None;
                    for _ in 0..4 {
                        match catch_unwind(AssertUnwindSafe(|| poll(recv.as_mut(), &waker))) {
                            Ok(Poll::Ready(t)) => {
                                got = Some(t);
                                break;
                            }
                            _ => std::thread::yield_now(),
                        }
                    }
                    got
                };
                if let Some(t) = got {
                    RECEIVED[t.0].fetch_add(1, Ordering::SeqCst);
                    TOTAL.fetch_add(1, Ordering::SeqCst);
                } else {
                    std::thread::yield_now();
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert!(CH.try_recv().is_none());
    assert_eq!(CH.len(), 0);
    for id in BASE..BASE + all {
        assert_eq!(
            RECEIVED[id].load(Ordering::SeqCst),
            1,
            "value {id} received"
        );
        assert_eq!(alive(id), 0, "value {id} dropped once");
    }
}
