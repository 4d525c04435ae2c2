//! The wait list under every primitive with more waiters served at once
//! than one batch of wakes holds (8), the first one's waker panicking:
//! every waiter is still woken — also those past the first batch, which
//! the unwind serves.

#![allow(
    clippy::needless_range_loop,
    reason = "values are counted by id: the loops walk the ids"
)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use kasync::sync::{PubSub, Semaphore};

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
struct Bomb;
impl Wake for Bomb {
    fn wake(self: Arc<Self>) {
        panic!("waker panics on purpose");
    }
}

fn quiet() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let s = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
        if !s.contains("on purpose") {
            default(info);
        }
    }));
}

const WAITERS: usize = 12;

#[test]
fn every_subscriber_is_woken_when_the_first_ones_waker_panics() {
    quiet();
    let ps: PubSub<u32, 4, 16> = PubSub::new();
    let mut subs: Vec<_> = (0..WAITERS).map(|_| ps.subscriber().unwrap()).collect();
    let counts: Vec<Arc<Count>> = (0..WAITERS)
        .map(|_| Arc::new(Count(AtomicUsize::new(0))))
        .collect();
    let bomb = Waker::from(Arc::new(Bomb));
    let mut futs: Vec<_> = subs
        .iter_mut()
        .map(|s| Box::pin(s.next_message()))
        .collect();
    for (i, f) in futs.iter_mut().enumerate() {
        let w = if i == 0 {
            bomb.clone()
        } else {
            Waker::from(counts[i].clone())
        };
        assert!(poll(f.as_mut(), &w).is_pending());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| ps.publish_immediate(1))).is_err());
    let unwoken: Vec<usize> = (1..WAITERS)
        .filter(|&i| counts[i].0.load(Ordering::SeqCst) == 0)
        .collect();
    assert!(
        unwoken.is_empty(),
        "subscribers waiting for a message that is there were not woken: {unwoken:?}"
    );
}

#[test]
fn every_acquirer_is_woken_when_the_first_ones_waker_panics() {
    quiet();
    let sem = Semaphore::new(0);
    let counts: Vec<Arc<Count>> = (0..WAITERS)
        .map(|_| Arc::new(Count(AtomicUsize::new(0))))
        .collect();
    let bomb = Waker::from(Arc::new(Bomb));
    let mut futs: Vec<_> = (0..WAITERS).map(|_| Box::pin(sem.acquire(1))).collect();
    for (i, f) in futs.iter_mut().enumerate() {
        let w = if i == 0 {
            bomb.clone()
        } else {
            Waker::from(counts[i].clone())
        };
        assert!(poll(f.as_mut(), &w).is_pending());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| sem.release(WAITERS))).is_err());
    let unwoken: Vec<usize> = (1..WAITERS)
        .filter(|&i| counts[i].0.load(Ordering::SeqCst) == 0)
        .collect();
    assert!(
        unwoken.is_empty(),
        "acquirers whose permits were released were not woken: {unwoken:?}"
    );
}

/// Control: with at most 8 waiters the rule holds.
#[test]
fn with_eight_waiters_the_rest_are_woken() {
    quiet();
    let sem = Semaphore::new(0);
    let counts: Vec<Arc<Count>> = (0..8)
        .map(|_| Arc::new(Count(AtomicUsize::new(0))))
        .collect();
    let bomb = Waker::from(Arc::new(Bomb));
    let mut futs: Vec<_> = (0..8).map(|_| Box::pin(sem.acquire(1))).collect();
    for (i, f) in futs.iter_mut().enumerate() {
        let w = if i == 0 {
            bomb.clone()
        } else {
            Waker::from(counts[i].clone())
        };
        assert!(poll(f.as_mut(), &w).is_pending());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| sem.release(8))).is_err());
    for (i, count) in counts.iter().enumerate().skip(1) {
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "waiter {i}");
    }
}
