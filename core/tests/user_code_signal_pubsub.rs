//! `Signal` and `PubSub` with user code at every point: re-entrant
//! wakers, panicking `Clone` / `Drop` / wakers with every value counted,
//! futures dropped at each point, the primitives' own `Drop`, and threads.
//! The tests share counters and panic switches: they run one at a time.

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

use kasync::sync::{PubSub, Signal, WaitResult};

/// Quiets the panics raised on purpose; the guard runs the tests one at a
/// time (they share the counters and panic switches).
fn quiet() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let s = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !s.contains("on purpose") {
                default(info);
            }
        }));
    });
    guard
}

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

const IDS: usize = 8192;
static MADE: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
static DROPPED: [AtomicUsize; IDS] = [const { AtomicUsize::new(0) }; IDS];
/// Ids whose `Drop` (or `Clone`) panics, once each.
static PANIC_DROP: AtomicUsize = AtomicUsize::new(usize::MAX);
static PANIC_CLONE: AtomicUsize = AtomicUsize::new(usize::MAX);
static CLONE_PANIC_EVERY: AtomicUsize = AtomicUsize::new(0);
static CLONES: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq, Eq)]
struct Tok(usize);
impl Tok {
    fn new(id: usize) -> Self {
        MADE[id].fetch_add(1, Ordering::SeqCst);
        Tok(id)
    }
}
impl Clone for Tok {
    fn clone(&self) -> Self {
        if PANIC_CLONE
            .compare_exchange(self.0, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            panic!("Clone of {} panics on purpose", self.0);
        }
        let every = CLONE_PANIC_EVERY.load(Ordering::Relaxed);
        if every > 0 && CLONES.fetch_add(1, Ordering::Relaxed) % every == 0 {
            panic!("Clone panics on purpose (every {every})");
        }
        Tok::new(self.0)
    }
}
impl Drop for Tok {
    fn drop(&mut self) {
        DROPPED[self.0].fetch_add(1, Ordering::SeqCst);
        if PANIC_DROP
            .compare_exchange(self.0, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            panic!("Drop of {} panics on purpose", self.0);
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
struct OnWake<F: Fn() + Send + Sync + 'static>(F);
impl<F: Fn() + Send + Sync + 'static> Wake for OnWake<F> {
    fn wake(self: Arc<Self>) {
        (self.0)()
    }
}
fn on_wake(f: impl Fn() + Send + Sync + 'static) -> Waker {
    Waker::from(Arc::new(OnWake(f)))
}

// --- Signal ---------------------------------------------------------------

/// Both places full, the older value's `Drop` panics when the signal is
/// dropped: the newer is dropped too.
#[test]
fn dropping_a_signal_drops_both_values_even_if_one_drop_panics() {
    let _one_at_a_time = quiet();
    let s: Signal<Tok> = Signal::new();
    s.signal(Tok::new(1));
    s.signal(Tok::new(2));
    PANIC_DROP.store(1, Ordering::SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(s))).is_err());
    assert_eq!((alive(1), alive(2)), (0, 0), "values left undropped");
}

/// A waiter's waker that takes the value just signalled and signals a new
/// one, re-entering `signal` from inside `signal`.
#[test]
fn a_waker_that_takes_and_signals_again() {
    let _one_at_a_time = quiet();
    static S: Signal<Tok> = Signal::new();
    static TAKEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let w = on_wake(|| {
        if let Some(t) = S.try_take() {
            TAKEN.lock().unwrap().push(t.0);
        }
        S.signal(Tok::new(21));
        S.reset();
        S.signal(Tok::new(22));
    });
    let mut wait = pin!(S.wait());
    assert!(poll(wait.as_mut(), &w).is_pending());
    S.signal(Tok::new(20));
    assert_eq!(*TAKEN.lock().unwrap(), [20]);
    assert_eq!(S.try_take().map(|t| t.0), Some(22));
    assert_eq!(poll(wait.as_mut(), Waker::noop()), Poll::Pending);
    for id in 20..=22 {
        assert_eq!(alive(id), 0);
    }
}

/// A waiter's waker that panics inside `signal`: the value is published
/// (the waiter gets it), the replaced value dropped once.
#[test]
fn a_panicking_waker_in_signal() {
    let _one_at_a_time = quiet();
    let s: Signal<Tok> = Signal::new();
    s.signal(Tok::new(30));
    s.signal(Tok::new(31));
    let w = on_wake(|| panic!("waker panics on purpose"));
    let mut wait = pin!(s.wait());
    // Takes 31 at once (and drops 30): wait again.
    assert_eq!(poll(wait.as_mut(), &w).map(|t| t.0), Poll::Ready(31));
    let mut wait = pin!(s.wait());
    assert!(poll(wait.as_mut(), &w).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| s.signal(Tok::new(32)))).is_err());
    assert_eq!(
        poll(wait.as_mut(), Waker::noop()).map(|t| t.0),
        Poll::Ready(32)
    );
    for id in 30..=32 {
        assert_eq!(alive(id), 0, "value {id}");
    }
}

/// Two waiters; the first is woken and dropped without being polled: the
/// second is woken instead.
#[test]
fn a_woken_wait_dropped_forwards() {
    let s: Signal<Tok> = Signal::new();
    let (c1, w1) = counting();
    let (c2, w2) = counting();
    let mut second = pin!(s.wait());
    {
        let mut first = pin!(s.wait());
        assert!(poll(first.as_mut(), &w1).is_pending());
        assert!(poll(second.as_mut(), &w2).is_pending());
        s.signal(Tok::new(40));
        assert_eq!(c1.0.load(Ordering::SeqCst), 1);
    }
    assert_eq!(c2.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll(second.as_mut(), &w2).map(|t| t.0), Poll::Ready(40));
    assert_eq!(alive(40), 0);
}

/// Signallers and takers on threads, with `Drop`s counted: every value is
/// dropped exactly once (taken or replaced); the last one signalled is the
/// last one taken.
#[test]
fn signal_threads_drop_every_value_once() {
    static S: Signal<Tok> = Signal::new();
    static DONE: AtomicBool = AtomicBool::new(false);
    const BASE: usize = 5000;
    let n = if cfg!(miri) { 30 } else { 1000 };
    let signallers: Vec<_> = (0..2)
        .map(|k| {
            std::thread::spawn(move || {
                for i in 0..n {
                    S.signal(Tok::new(BASE + k * n + i));
                }
            })
        })
        .collect();
    let taker = std::thread::spawn(|| {
        let mut taken = 0;
        while !DONE.load(Ordering::SeqCst) {
            if S.try_take().is_some() {
                taken += 1;
            }
        }
        taken
    });
    for h in signallers {
        h.join().unwrap();
    }
    DONE.store(true, Ordering::SeqCst);
    let _ = taker.join().unwrap();
    S.reset();
    assert!(!S.signaled());
    for id in BASE..BASE + 2 * n {
        assert_eq!(alive(id), 0, "value {id}");
    }
}

// --- PubSub -----------------------------------------------------------------

/// Dropping a queue whose first kept message's `Drop` panics drops the
/// others too.
#[test]
fn dropping_a_pubsub_drops_every_message_even_if_one_drop_panics() {
    let _one_at_a_time = quiet();
    let ps: PubSub<Tok, 4, 2> = PubSub::new();
    let sub = ps.subscriber().unwrap();
    for id in 500..503 {
        ps.publish_immediate(Tok::new(id));
    }
    drop(sub);
    PANIC_DROP.store(500, Ordering::SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(ps))).is_err());
    let left: Vec<usize> = (500..503).filter(|&id| alive(id) != 0).collect();
    assert!(left.is_empty(), "messages never dropped: {left:?}");
}

/// A subscriber's waker that reads (and publishes) re-entrantly while
/// `publish_immediate` wakes it; then every NextMessage dropped at each
/// point; every message counted.
#[test]
fn pubsub_reentrant_waker_and_dropped_futures() {
    let _one_at_a_time = quiet();
    static PS: PubSub<Tok, 2, 4> = PubSub::new();
    static SUB: Mutex<Option<kasync::sync::Subscriber<'static, Tok, 2, 4>>> = Mutex::new(None);
    static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    *SUB.lock().unwrap() = Some(PS.subscriber().unwrap());
    let mut other = PS.subscriber().unwrap();
    let w = on_wake(|| {
        let mut sub = SUB.lock().unwrap();
        while let Some(r) = sub.as_mut().unwrap().try_next_message() {
            if let WaitResult::Message(t) = r {
                SEEN.lock().unwrap().push(t.0);
            }
        }
        drop(sub);
        let n = SEEN.lock().unwrap().len();
        if n < 3 {
            PS.publish_immediate(Tok::new(600 + n + 10));
        }
    });
    {
        let mut next = pin!(other.next_message());
        assert!(poll(next.as_mut(), &w).is_pending());
        PS.publish_immediate(Tok::new(600));
        // `next` was woken (its waker ran and re-entered the queue).
        assert_eq!(
            poll(next.as_mut(), Waker::noop()).map(|r| r),
            Poll::Ready(WaitResult::Message(Tok(600)))
        );
    }
    // Dropped before its first poll, after a pending poll, after a wake.
    drop(other.next_message());
    {
        let (_c, cw) = counting();
        let mut n = pin!(other.next_message());
        let _ = poll(n.as_mut(), &cw);
    }
    while other.try_next_message().is_some() {}
    *SUB.lock().unwrap() = None;
    drop(other);
    assert_eq!(PS.len(), 0);
    assert_eq!(SEEN.lock().unwrap()[0], 600);
    for id in 600..620 {
        // Every copy made was dropped; the originals are dropped when their
        // places are written again or with the queue (a static: never), so
        // allow one original each.
        assert!(alive(id) <= 1, "value {id}: {} alive", alive(id));
    }
}

/// Publisher and subscriber threads, `Clone` panicking every 7th time:
/// each subscriber gets every message at most once, in order; after the
/// queue is dropped nothing is alive.
#[test]
fn pubsub_threads_with_panicking_clones() {
    let _one_at_a_time = quiet();
    const BASE: usize = 2000;
    let n = if cfg!(miri) { 20 } else { 2000 };
    static PS: PubSub<Tok, 4, 4> = PubSub::new();
    let ps = &PS;
    let subs: Vec<_> = (0..2).map(|_| ps.subscriber().unwrap()).collect();
    CLONE_PANIC_EVERY.store(7, Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut last = None;
                loop {
                    match catch_unwind(AssertUnwindSafe(|| sub.try_next_message())) {
                        Ok(Some(WaitResult::Message(t))) => {
                            assert!(last.is_none_or(|l| t.0 > l), "out of order");
                            last = Some(t.0);
                        }
                        Ok(Some(WaitResult::Lagged(_))) => {}
                        Ok(None) if stop.load(Ordering::SeqCst) => break,
                        Ok(None) | Err(_) => std::thread::yield_now(),
                    }
                }
                drop(sub);
            })
        })
        .collect();
    for i in 0..n {
        ps.publish_immediate(Tok::new(BASE + i));
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    CLONE_PANIC_EVERY.store(0, Ordering::SeqCst);
    assert_eq!(ps.subscriber_count(), 0);
    // Publish into every place with a fresh subscriber so the old values
    // are dropped by the publisher, then check.
    let s = ps.subscriber().unwrap();
    for _ in 0..8 {
        ps.publish_immediate(Tok::new(BASE + n));
    }
    drop(s);
    for id in BASE..BASE + n {
        assert_eq!(alive(id), 0, "message {id}");
    }
}
