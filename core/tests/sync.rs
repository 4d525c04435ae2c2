//! `kasync::sync`: what each primitive promises — order, fairness, the
//! lagging-subscriber policy, what a dropped future hands on — polled by
//! hand, then raced from threads. Also under miri (smaller sizes).

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use kasync::sync::{Channel, Mutex, PubSub, Semaphore, Signal, WaitResult};
use kasync_tests::wake::{counting_waker, panicking_waker};

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

fn noop<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    poll(f, Waker::noop())
}

/// Runs `future` on this thread, parking while it is pending.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = poll(future.as_mut(), &waker) {
            return out;
        }
        thread::park();
    }
}

const ROUNDS: usize = if cfg!(miri) { 30 } else { 5_000 };

// ----- Channel ---------------------------------------------------------

#[test]
fn channel_keeps_order_and_hands_back_what_does_not_fit() {
    let ch: Channel<u32, 4> = Channel::new();
    for i in 0..4 {
        ch.try_send(i).unwrap();
    }
    assert!(ch.is_full());
    assert_eq!(ch.try_send(9), Err(9));
    for i in 0..4 {
        assert_eq!(ch.try_recv(), Some(i));
    }
    assert_eq!(ch.try_recv(), None);
}

#[test]
fn a_waiting_receiver_is_woken_by_a_send_from_any_context() {
    let ch: Channel<u32, 4> = Channel::new();
    let (woken, waker) = counting_waker();
    let mut recv = pin!(ch.recv());
    assert!(poll(recv.as_mut(), &waker).is_pending());
    assert!(
        poll(recv.as_mut(), &waker).is_pending(),
        "polled again: still one waiter"
    );
    ch.try_send(7).unwrap();
    assert_eq!(woken.get(), 1);
    assert_eq!(poll(recv.as_mut(), &waker), Poll::Ready(7));
}

#[test]
fn receivers_are_woken_in_order_and_a_dropped_one_hands_its_wake_on() {
    let ch: Channel<u32, 4> = Channel::new();
    let (first_woken, first_waker) = counting_waker();
    let (second_woken, second_waker) = counting_waker();
    let mut first = Box::pin(ch.recv());
    let mut second = pin!(ch.recv());
    assert!(poll(first.as_mut(), &first_waker).is_pending());
    assert!(poll(second.as_mut(), &second_waker).is_pending());
    ch.try_send(1).unwrap();
    assert_eq!((first_woken.get(), second_woken.get()), (1, 0), "FIFO");
    // The first is dropped before it takes the value: the second is told.
    drop(first);
    assert_eq!(second_woken.get(), 1);
    assert_eq!(poll(second.as_mut(), &second_waker), Poll::Ready(1));
}

#[test]
fn a_sender_waits_for_room_and_is_woken_by_a_receive() {
    let ch: Channel<u32, 2> = Channel::new();
    ch.try_send(1).unwrap();
    ch.try_send(2).unwrap();
    let (woken, waker) = counting_waker();
    let mut send = pin!(ch.send(3));
    assert!(poll(send.as_mut(), &waker).is_pending());
    assert_eq!(ch.try_recv(), Some(1));
    assert_eq!(woken.get(), 1);
    assert_eq!(poll(send.as_mut(), &waker), Poll::Ready(()));
    assert_eq!((ch.try_recv(), ch.try_recv()), (Some(2), Some(3)));
}

#[test]
fn a_dropped_send_drops_its_value_and_a_channel_drops_what_it_holds() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let ch: Channel<Counted, 2> = Channel::new();
    ch.try_send(Counted(drops.clone())).ok().unwrap();
    ch.try_send(Counted(drops.clone())).ok().unwrap();
    {
        let mut send = pin!(ch.send(Counted(drops.clone())));
        assert!(noop(send.as_mut()).is_pending());
    }
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    drop(ch);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

#[test]
fn threads_send_and_receive_every_value_exactly_once() {
    static CH: Channel<usize, 8> = Channel::new();
    const PRODUCERS: usize = 3;
    let per = ROUNDS / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                for i in 0..per {
                    let value = p * per + i;
                    if i % 2 == 0 {
                        block_on(CH.send(value));
                    } else {
                        // The interrupt way: spin on try_send.
                        let mut v = value;
                        while let Err(back) = CH.try_send(v) {
                            v = back;
                            thread::yield_now();
                        }
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|c| {
            thread::spawn(move || {
                let mut got = Vec::new();
                let share = if c == 0 {
                    per * PRODUCERS / 2
                } else {
                    per * PRODUCERS - per * PRODUCERS / 2
                };
                for _ in 0..share {
                    got.push(block_on(CH.recv()));
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<usize> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..per * PRODUCERS).collect::<Vec<_>>());
}

// ----- Signal ----------------------------------------------------------

#[test]
fn the_latest_signal_wins_and_replaced_values_are_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    #[derive(Debug)]
    struct Counted(u32, Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    let signal: Signal<Counted> = Signal::new();
    assert!(signal.try_take().is_none());
    for i in 1..=5 {
        signal.signal(Counted(i, drops.clone()));
    }
    assert!(signal.signaled());
    let got = signal.try_take().unwrap();
    assert_eq!(got.0, 5);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        4,
        "the four older values are gone"
    );
    assert!(signal.try_take().is_none(), "taken");
    assert!(!signal.signaled());
    drop(got);
    signal.signal(Counted(6, drops.clone()));
    drop(signal);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        6,
        "each value dropped exactly once"
    );
}

#[test]
fn a_waiting_task_is_woken_by_a_signal() {
    let signal: Signal<u8> = Signal::new();
    let (woken, waker) = counting_waker();
    let mut wait = pin!(signal.wait());
    assert!(poll(wait.as_mut(), &waker).is_pending());
    signal.signal(1);
    signal.signal(2);
    assert!(woken.get() >= 1);
    assert_eq!(poll(wait.as_mut(), &waker), Poll::Ready(2));
}

#[test]
fn a_taker_never_sees_an_older_value_after_a_newer_one() {
    static SIGNAL: Signal<usize> = Signal::new();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            thread::spawn(move || {
                for i in 1..=ROUNDS {
                    // Two writers, each with increasing values of its own.
                    SIGNAL.signal(i * 2 + w);
                }
            })
        })
        .collect();
    let mut last = [0usize; 2];
    let mut taken = 0;
    while writers.iter().any(|w| !w.is_finished()) || SIGNAL.signaled() {
        if let Some(v) = SIGNAL.try_take() {
            let w = v % 2;
            assert!(v > last[w], "writer {w}: {v} after {}", last[w]);
            last[w] = v;
            taken += 1;
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(taken > 0);
    assert!(
        last.contains(&(ROUNDS * 2)) || last.contains(&(ROUNDS * 2 + 1)),
        "the last value signalled is taken: {last:?}"
    );
}

// ----- Mutex -----------------------------------------------------------

#[test]
fn the_mutex_goes_to_waiters_in_order_and_newcomers_do_not_barge() {
    let mutex = Mutex::new(Vec::new());
    let guard = mutex.try_lock().unwrap();
    let (b_woken, b_waker) = counting_waker();
    let (c_woken, c_waker) = counting_waker();
    let mut b = pin!(mutex.lock());
    let mut c = pin!(mutex.lock());
    assert!(poll(b.as_mut(), &b_waker).is_pending());
    assert!(poll(c.as_mut(), &c_waker).is_pending());
    drop(guard);
    assert_eq!((b_woken.get(), c_woken.get()), (1, 0));
    assert!(
        mutex.try_lock().is_none(),
        "handed to B, not free for a newcomer"
    );
    let Poll::Ready(mut guard) = poll(b.as_mut(), &b_waker) else {
        panic!("B holds it")
    };
    guard.push('b');
    drop(guard);
    assert_eq!(c_woken.get(), 1);
    let Poll::Ready(mut guard) = poll(c.as_mut(), &c_waker) else {
        panic!("C holds it")
    };
    guard.push('c');
    drop(guard);
    assert_eq!(*mutex.try_lock().unwrap(), ['b', 'c']);
}

#[test]
fn a_dropped_lock_future_that_was_handed_the_mutex_passes_it_on() {
    let mutex = Mutex::new(0);
    let guard = mutex.try_lock().unwrap();
    let mut b = Box::pin(mutex.lock());
    let (c_woken, c_waker) = counting_waker();
    let mut c = pin!(mutex.lock());
    assert!(noop(b.as_mut()).is_pending());
    assert!(poll(c.as_mut(), &c_waker).is_pending());
    drop(guard); // to B, which never comes back for it
    drop(b);
    assert_eq!(c_woken.get(), 1);
    assert!(poll(c.as_mut(), &c_waker).is_ready());
}

#[test]
fn threads_increment_under_the_mutex() {
    static COUNT: Mutex<usize> = Mutex::new(0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..ROUNDS / 4 {
                    let mut count = block_on(COUNT.lock());
                    let seen = *count;
                    thread::yield_now();
                    *count = seen + 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*COUNT.try_lock().unwrap(), ROUNDS / 4 * 4);
}

// ----- Semaphore -------------------------------------------------------

#[test]
fn a_large_request_is_not_overtaken_by_later_small_ones() {
    let sem = Semaphore::new(2);
    let two = sem.try_acquire(2).unwrap();
    let (b_woken, b_waker) = counting_waker();
    let (c_woken, c_waker) = counting_waker();
    let mut b = pin!(sem.acquire(2));
    let mut c = pin!(sem.acquire(1));
    assert!(poll(b.as_mut(), &b_waker).is_pending());
    assert!(poll(c.as_mut(), &c_waker).is_pending());
    drop(two);
    assert_eq!((b_woken.get(), c_woken.get()), (1, 0), "B first, with both");
    assert!(sem.try_acquire(1).is_none());
    let Poll::Ready(permit) = poll(b.as_mut(), &b_waker) else {
        panic!("B was granted")
    };
    assert_eq!(permit.count(), 2);
    drop(permit);
    assert_eq!(c_woken.get(), 1);
    let Poll::Ready(permit) = poll(c.as_mut(), &c_waker) else {
        panic!("C was granted")
    };
    assert_eq!(
        sem.available_permits(),
        1,
        "C holds one until its permit drops"
    );
    drop(permit);
    assert_eq!(sem.available_permits(), 2);
    assert!(sem.try_acquire(3).is_none());
    assert_eq!(
        sem.available_permits(),
        2,
        "a failed try takes nothing and gives nothing"
    );
}

#[test]
fn granted_permits_of_a_dropped_future_come_back_and_forgotten_ones_do_not() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut waiting = Box::pin(sem.acquire(1));
    assert!(noop(waiting.as_mut()).is_pending());
    drop(held); // granted to `waiting`
    assert_eq!(sem.available_permits(), 0);
    drop(waiting);
    assert_eq!(sem.available_permits(), 1);
    sem.try_acquire(1).unwrap().forget();
    assert_eq!(sem.available_permits(), 0);
    sem.release(3);
    assert_eq!(sem.available_permits(), 3);
}

// ----- PubSub ----------------------------------------------------------

#[test]
fn every_subscriber_gets_every_message_and_laggards_are_told() {
    let news: PubSub<u32, 2, 3> = PubSub::new();
    news.publish_immediate(0); // nobody subscribed: dropped
    let mut a = news.subscriber().unwrap();
    let mut b = news.subscriber().unwrap();
    assert_eq!(news.subscriber_count(), 2);
    news.publish_immediate(1);
    news.publish_immediate(2);
    assert_eq!(a.try_next_message(), Some(WaitResult::Message(1)));
    news.publish_immediate(3); // drops 1: B has not read it
    assert_eq!(a.try_next_message(), Some(WaitResult::Message(2)));
    assert_eq!(a.try_next_message(), Some(WaitResult::Message(3)));
    assert_eq!(a.try_next_message(), None);
    assert_eq!(b.try_next_message(), Some(WaitResult::Lagged(1)));
    assert_eq!(b.try_next_message(), Some(WaitResult::Message(2)));
    assert_eq!(b.try_next_message(), Some(WaitResult::Message(3)));
    assert!(news.is_empty(), "read by all: dropped");
    let late = news.subscriber().unwrap();
    drop(late);
    let _c = news.subscriber().unwrap();
    let full = news.subscriber().unwrap_err();
    assert_eq!(full.limit, 3);
    assert!(full.to_string().contains("SUBS"), "{full}");
}

#[test]
fn publish_waits_for_the_slowest_subscriber_and_a_leaving_one_makes_room() {
    let news: PubSub<u32, 2, 2> = PubSub::new();
    let mut fast = news.subscriber().unwrap();
    let slow = news.subscriber().unwrap();
    news.try_publish(1).unwrap();
    news.try_publish(2).unwrap();
    assert_eq!(news.try_publish(3), Err(3));
    let (woken, waker) = counting_waker();
    let mut publish = pin!(news.publish(3));
    assert!(poll(publish.as_mut(), &waker).is_pending());
    assert_eq!(fast.try_next_message(), Some(WaitResult::Message(1)));
    assert_eq!(woken.get(), 0, "the slow one has not read 1");
    drop(slow);
    assert_eq!(woken.get(), 1, "room: message 1 is read by everyone left");
    assert!(poll(publish.as_mut(), &waker).is_ready());
    assert_eq!(fast.try_next_message(), Some(WaitResult::Message(2)));
    assert_eq!(fast.try_next_message(), Some(WaitResult::Message(3)));
}

#[test]
fn a_publish_wakes_every_waiting_subscriber_more_than_one_batch() {
    let news: PubSub<u32, 4, 20> = PubSub::new();
    let mut subs: Vec<_> = (0..20).map(|_| news.subscriber().unwrap()).collect();
    let wakers: Vec<_> = (0..20).map(|_| counting_waker()).collect();
    let mut waits: Vec<_> = subs
        .iter_mut()
        .map(|s| Box::pin(s.next_message()))
        .collect();
    for (w, (_, waker)) in waits.iter_mut().zip(&wakers) {
        assert!(poll(w.as_mut(), waker).is_pending());
    }
    news.publish_immediate(5);
    assert!(wakers.iter().all(|(woken, _)| woken.get() == 1));
    for (w, (_, waker)) in waits.iter_mut().zip(&wakers) {
        assert_eq!(poll(w.as_mut(), waker), Poll::Ready(WaitResult::Message(5)));
    }
}

#[test]
fn a_panicking_clone_leaves_the_queue_usable() {
    thread_local!(static PANIC_ON_CLONE: Cell<bool> = const { Cell::new(false) });
    #[derive(Debug, PartialEq)]
    struct Fragile(u32);
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            if PANIC_ON_CLONE.with(Cell::get) {
                panic!("clone failed");
            }
            Fragile(self.0)
        }
    }
    let news: PubSub<Fragile, 2, 1> = PubSub::new();
    let mut sub = news.subscriber().unwrap();
    news.publish_immediate(Fragile(1));
    PANIC_ON_CLONE.with(|p| p.set(true));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sub.try_next_message()));
    assert!(caught.is_err());
    PANIC_ON_CLONE.with(|p| p.set(false));
    assert_eq!(
        sub.try_next_message(),
        Some(WaitResult::Message(Fragile(1))),
        "still there"
    );
    news.publish_immediate(Fragile(2));
    assert_eq!(
        sub.try_next_message(),
        Some(WaitResult::Message(Fragile(2)))
    );
}

// ----- Wakers that misbehave ---------------------------------------------

#[test]
fn a_panicking_waker_does_not_leave_a_list_locked_or_others_unwoken() {
    let news: PubSub<u32, 2, 2> = PubSub::new();
    let mut first = news.subscriber().unwrap();
    let mut second = news.subscriber().unwrap();
    let (_, bad) = panicking_waker();
    let (woken, good) = counting_waker();
    let mut a = Box::pin(first.next_message());
    let mut b = Box::pin(second.next_message());
    assert!(poll(a.as_mut(), &bad).is_pending());
    assert!(poll(b.as_mut(), &good).is_pending());
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| news.publish_immediate(1)));
    assert!(caught.is_err(), "the waker's panic reaches the publisher");
    assert_eq!(woken.get(), 1, "the other subscriber is still woken");
    assert_eq!(noop(a.as_mut()), Poll::Ready(WaitResult::Message(1)));
    assert_eq!(noop(b.as_mut()), Poll::Ready(WaitResult::Message(1)));
    // The lists are free: a waiting channel receiver still works.
    let ch: Channel<u8, 2> = Channel::new();
    let mut recv = pin!(ch.recv());
    assert!(poll(recv.as_mut(), &bad).is_pending());
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ch.try_send(1))).is_err());
    assert_eq!(noop(recv.as_mut()), Poll::Ready(1));
}
