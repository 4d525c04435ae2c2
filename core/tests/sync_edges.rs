//! `kasync::sync` at its edges, from a review that tried to break it:
//! user code that panics (a message's `Drop`) or re-enters (a waker's
//! `clone`), more waiters than a wake batch, leaked waiters, extreme
//! counts. Also under miri.

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};

use kasync::sync::{Channel, Mutex, PubSub, Semaphore, Signal, WaitResult};
use kasync_tests::wake::counting_waker;

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}
fn noop<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    poll(f, Waker::noop())
}

// A message's `Drop` that panics: PubSub never drops a message under its
// lock (a read one is dropped when its place is used again, by the
// publisher), so the room freed by a read or a leaving subscriber always
// reaches a waiting publisher, and nothing is lost.

thread_local! { static ARMED: Cell<bool> = const { Cell::new(false) }; }

#[derive(Debug, PartialEq)]
struct Bomb(u32);
impl Clone for Bomb {
    fn clone(&self) -> Self {
        Bomb(self.0) // clones never panic
    }
}
impl Drop for Bomb {
    fn drop(&mut self) {
        // Only the original stored in the queue explodes, once.
        if self.0 == 666 && ARMED.with(|a| a.replace(false)) {
            panic!("Bomb dropped");
        }
    }
}

#[test]
fn a_panicking_drop_of_a_read_message_loses_no_wake_up_and_no_message() {
    let ps: PubSub<Bomb, 1, 1> = PubSub::new();
    let mut sub = ps.subscriber().unwrap();
    ps.publish_immediate(Bomb(666));
    let (woken, waker) = counting_waker();
    let mut publish = pin!(ps.publish(Bomb(1)));
    assert!(poll(publish.as_mut(), &waker).is_pending(), "full: waits");
    // Reading the only message frees its place (nothing is dropped yet).
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Bomb(666))));
    assert_eq!(ps.len(), 0);
    assert_eq!(woken.get(), 1, "the waiting publisher is told of the room");
    ARMED.with(|a| a.set(true)); // the stored original's Drop panics now
    // The publisher stores its message, then drops the old one: the panic
    // reaches the publisher, and its message is in.
    let r = catch_unwind(AssertUnwindSafe(|| poll(publish.as_mut(), &waker)));
    assert!(
        r.is_err(),
        "the old message's Drop panicked in the publisher"
    );
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Bomb(1))));
    ps.publish_immediate(Bomb(2));
    assert_eq!(sub.try_next_message(), Some(WaitResult::Message(Bomb(2))));
}

#[test]
fn a_leaving_subscriber_frees_room_for_a_waiting_publisher() {
    let ps: PubSub<Bomb, 1, 1> = PubSub::new();
    let sub = ps.subscriber().unwrap();
    ps.publish_immediate(Bomb(666));
    let (woken, waker) = counting_waker();
    let mut publish = pin!(ps.publish(Bomb(1)));
    assert!(poll(publish.as_mut(), &waker).is_pending());
    ARMED.with(|a| a.set(true));
    drop(sub); // runs no user code
    assert_eq!(ps.len(), 0);
    assert_eq!(woken.get(), 1, "room freed: the publisher is woken");
    // No subscriber: the message is dropped at once; the old one with the
    // queue (its armed Drop panics there, not here).
    assert!(poll(publish.as_mut(), &waker).is_ready());
    ARMED.with(|a| a.set(false));
}

// A waker whose `clone` uses the same primitive (here: reads
// `available_permits`): wakers are cloned with the waiter list released,
// so this does not spin on a lock its own thread holds. Native only: a
// regression hangs, which a thread and a deadline turn into a failure.
#[cfg(not(miri))]
#[test]
fn a_waker_whose_clone_uses_the_semaphore_does_not_deadlock() {
    static SEM: Semaphore = Semaphore::new(0);
    static REENTER: AtomicBool = AtomicBool::new(false);
    unsafe fn clone(p: *const ()) -> RawWaker {
        if REENTER.load(Ordering::Relaxed) {
            let _ = SEM.available_permits(); // task-context call: allowed
        }
        RawWaker::new(p, &VT)
    }
    unsafe fn nop(_: *const ()) {}
    static VT: RawWakerVTable = RawWakerVTable::new(clone, nop, nop, nop);

    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        // SAFETY: the vtable's functions do nothing unsafe.
        let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VT)) };
        REENTER.store(true, Ordering::Relaxed);
        let mut acq = Box::pin(SEM.acquire(1));
        let _ = poll(acq.as_mut(), &waker);
        d.store(true, Ordering::Relaxed);
        drop(acq);
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        done.load(Ordering::Relaxed),
        "HANG: Waker::clone ran under the waiter list's lock and re-entered it"
    );
}

// ---------------------------------------------------------------------
// What held up (kept as passing cases)
// ---------------------------------------------------------------------

/// A waker recording the order in which it was woken.
struct Order(usize, Arc<std::sync::Mutex<Vec<usize>>>);
impl Wake for Order {
    fn wake(self: Arc<Self>) {
        self.1.lock().unwrap().push(self.0);
    }
}

#[test]
fn more_than_a_batch_of_waiters_woken_at_once_all_wake_in_order() {
    const W: usize = if cfg!(miri) { 19 } else { 40 };
    let sem = Semaphore::new(0);
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut futs: Vec<_> = (0..W).map(|_| Box::pin(sem.acquire(1))).collect();
    let wakers: Vec<Waker> = (0..W)
        .map(|i| Waker::from(Arc::new(Order(i, log.clone()))))
        .collect();
    for (f, w) in futs.iter_mut().zip(&wakers) {
        assert!(poll(f.as_mut(), w).is_pending());
    }
    sem.release(W);
    assert_eq!(*log.lock().unwrap(), (0..W).collect::<Vec<_>>());
    let permits: Vec<_> = futs
        .iter_mut()
        .zip(&wakers)
        .map(|(f, w)| match poll(f.as_mut(), w) {
            Poll::Ready(p) => p,
            Poll::Pending => panic!("woken but pending"),
        })
        .collect();
    assert_eq!(sem.available_permits(), 0);
    drop(permits);
    assert_eq!(sem.available_permits(), W);
}

#[test]
fn pubsub_wake_all_beyond_a_batch() {
    const W: usize = if cfg!(miri) { 11 } else { 30 };
    let ps: PubSub<u32, 2, W> = PubSub::new();
    let mut subs: Vec<_> = (0..W).map(|_| ps.subscriber().unwrap()).collect();
    let (woken, waker) = counting_waker();
    {
        let mut futs: Vec<_> = subs
            .iter_mut()
            .map(|s| Box::pin(s.next_message()))
            .collect();
        for f in &mut futs {
            assert!(poll(f.as_mut(), &waker).is_pending());
        }
        ps.publish_immediate(5);
        assert_eq!(woken.get(), W);
        for f in &mut futs {
            assert_eq!(
                poll(f.as_mut(), &waker),
                Poll::Ready(WaitResult::Message(5))
            );
        }
    }
    assert_eq!(ps.len(), 0);
}

#[test]
fn mutex_fifo_no_barging_with_notified_and_dropped_waiters() {
    let m = Mutex::new(0u32);
    let g = m.try_lock().unwrap();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    let mut c = Box::pin(m.lock());
    assert!(noop(a.as_mut()).is_pending());
    assert!(noop(b.as_mut()).is_pending());
    assert!(noop(c.as_mut()).is_pending());
    drop(g); // A notified
    assert!(m.try_lock().is_none(), "newcomer barged past notified A");
    let mut newcomer = Box::pin(m.lock());
    assert!(noop(newcomer.as_mut()).is_pending());
    drop(a); // notified, dropped: goes to B
    assert!(m.try_lock().is_none());
    let gb = match noop(b.as_mut()) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("B lost the hand-over"),
    };
    // Re-poll B after Ready: must not produce a second guard.
    assert!(noop(b.as_mut()).is_pending(), "second guard from re-poll");
    drop(gb);
    // B's re-poll registered behind C and the newcomer: C is next.
    let gc = match noop(c.as_mut()) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("C lost"),
    };
    assert!(noop(newcomer.as_mut()).is_pending());
    drop(gc);
    assert!(noop(newcomer.as_mut()).is_ready());
}

#[test]
fn waiting_future_polled_with_a_new_waker_each_time() {
    let sem = Semaphore::new(0);
    let mut f = Box::pin(sem.acquire(2));
    let mut counts = Vec::new();
    for _ in 0..5 {
        let (c, w) = counting_waker();
        assert!(poll(f.as_mut(), &w).is_pending());
        counts.push(c);
    }
    sem.release(2);
    let got: Vec<_> = counts.iter().map(|c| c.get()).collect();
    assert_eq!(got, [0, 0, 0, 0, 1], "only the latest waker is woken");
    assert!(noop(f.as_mut()).is_ready());
}

#[test]
fn semaphore_edge_counts() {
    let sem = Semaphore::new(usize::MAX);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    let p = noop(pin!(sem.acquire(usize::MAX)));
    assert!(p.is_ready());
    drop(p);
    sem.release(usize::MAX);
    sem.release(usize::MAX);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);

    let sem = Semaphore::new(0);
    assert!(noop(pin!(sem.acquire(0))).is_ready());
    let mut big = Box::pin(sem.acquire(3));
    assert!(noop(big.as_mut()).is_pending());
    let mut zero = Box::pin(sem.acquire(0));
    assert!(
        noop(zero.as_mut()).is_pending(),
        "zero waits behind big (FIFO)"
    );
    sem.release(3);
    assert!(noop(big.as_mut()).is_ready());
    assert!(noop(zero.as_mut()).is_ready());
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn a_forgotten_waiter_in_the_middle_of_a_list() {
    // A waiter whose future is forgotten (never dropped, its memory never
    // freed — what `Pin` allows) stays linked; its neighbours come and go.
    let sem = Semaphore::new(0);
    let mut a = Box::pin(sem.acquire(1));
    let mut forgotten = Box::pin(sem.acquire(1));
    let mut c = Box::pin(sem.acquire(1));
    assert!(noop(a.as_mut()).is_pending());
    assert!(noop(forgotten.as_mut()).is_pending());
    assert!(noop(c.as_mut()).is_pending());
    let forgotten = std::mem::ManuallyDrop::new(forgotten);
    drop(a);
    sem.release(1); // goes to the forgotten one (FIFO)
    sem.release(1);
    assert!(noop(c.as_mut()).is_ready());
    drop(c);
    // (Given back at the end, so the test itself leaks nothing: dropping
    // it returns the permit it was granted.)
    assert_eq!(sem.available_permits(), 1, "C's permit is back");
    drop(std::mem::ManuallyDrop::into_inner(forgotten));
    assert_eq!(sem.available_permits(), 2, "and the forgotten one's");
}

#[test]
fn signal_never_goes_backwards_and_drops_each_value_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    #[derive(Debug)]
    struct D(u32);
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let s: Signal<D> = Signal::new();
    let mut last = 0;
    for i in 1..=20u32 {
        s.signal(D(i));
        if i % 3 == 0 {
            s.signal(D(i + 1000));
            let v = s.try_take().unwrap();
            assert!(v.0 > last);
            last = v.0;
        }
    }
    drop(s);
    assert_eq!(DROPS.load(Ordering::Relaxed), 20 + 6);
}

#[test]
fn channel_dropped_notified_receivers_forward_and_values_are_kept() {
    let ch: Channel<u32, 4> = Channel::new();
    let mut rs: Vec<_> = (0..10).map(|_| Box::pin(ch.recv())).collect();
    for r in &mut rs {
        assert!(noop(r.as_mut()).is_pending());
    }
    ch.try_send(1).unwrap();
    ch.try_send(2).unwrap();
    // The two notified receivers are dropped: their wakes go on.
    let mut rest = rs.split_off(2);
    drop(rs);
    let mut got = Vec::new();
    for r in &mut rest {
        if let Poll::Ready(v) = noop(r.as_mut()) {
            got.push(v);
        }
    }
    assert_eq!(got, [1, 2]);
}

#[test]
fn pubsub_lagging_and_unread_accounting() {
    let ps: PubSub<u32, 2, 3> = PubSub::new();
    let mut fast = ps.subscriber().unwrap();
    let mut slow = ps.subscriber().unwrap();
    for i in 0..7 {
        ps.publish_immediate(i);
        assert_eq!(fast.try_next_message(), Some(WaitResult::Message(i)));
    }
    let late = ps.subscriber().unwrap();
    assert_eq!(slow.try_next_message(), Some(WaitResult::Lagged(5)));
    assert_eq!(slow.try_next_message(), Some(WaitResult::Message(5)));
    drop(late);
    drop(slow); // message 6 only waited for slow
    assert_eq!(ps.len(), 0);
    drop(fast);
    assert_eq!(ps.subscriber_count(), 0);
}

/// A million places (a thousand under miri) build in a `static`: the ring
/// is one constant array, not a loop that const evaluation would stop.
#[test]
fn a_ring_of_a_million_places_is_a_static() {
    #[cfg(not(miri))]
    const PLACES: usize = 1 << 20;
    #[cfg(miri)]
    const PLACES: usize = 1 << 10;
    static CH: kasync::sync::Channel<u32, PLACES> = kasync::sync::Channel::new();
    static Q: kasync::IrqQueue<u32, PLACES> = kasync::IrqQueue::new();
    for lap in 0..3u32 {
        for i in 0..PLACES as u32 {
            CH.try_send(lap ^ i).unwrap();
        }
        assert!(CH.is_full());
        for i in 0..PLACES as u32 {
            assert_eq!(CH.try_recv(), Some(lap ^ i));
        }
        assert_eq!(CH.try_recv(), None);
    }
    Q.push(7).unwrap();
    assert_eq!(Q.try_recv(), Some(7));
}
