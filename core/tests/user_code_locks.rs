//! `Mutex` and `Semaphore` with a waker whose `Drop` panics (safe code:
//! the `Wake` trait; the wait list holds the waker's last reference, so
//! replacing it runs the user's `Drop` inside `register`). The panic
//! reaches the caller and no permit appears that was never taken — for a
//! `Mutex`, no second guard (two `&mut T` at once, which miri reports).

#![allow(
    clippy::needless_range_loop,
    reason = "values are counted by id: the loops walk the ids"
)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use kasync::sync::{Mutex, Semaphore};

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

/// A waker whose `Drop` panics.
struct DropBomb;
impl Wake for DropBomb {
    fn wake(self: Arc<Self>) {}
}
impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("waker Drop panics on purpose");
    }
}

struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
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

#[test]
fn a_panicking_waker_drop_in_acquire_does_not_create_permits() {
    quiet();
    let sem = Semaphore::new(0);
    let mut acquire = pin!(sem.acquire(1));
    {
        let bomb = Waker::from(Arc::new(DropBomb));
        assert!(poll(acquire.as_mut(), &bomb).is_pending());
    } // the wait list now holds the bomb's last reference
    let other = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
    // Re-polled with another waker: the bomb is replaced and dropped.
    assert!(catch_unwind(AssertUnwindSafe(|| poll(acquire.as_mut(), &other))).is_err());
    // Nobody released anything: no permit may exist.
    let got = poll(acquire.as_mut(), &other);
    assert!(
        got.is_pending(),
        "a permit of a Semaphore::new(0) that nobody released was acquired"
    );
}

#[test]
fn two_mutex_guards_at_once() {
    quiet();
    let mutex = Mutex::new(0u64);
    let mut first = mutex.try_lock().expect("unlocked");
    let mut lock = pin!(mutex.lock());
    {
        let bomb = Waker::from(Arc::new(DropBomb));
        assert!(poll(lock.as_mut(), &bomb).is_pending(), "locked: waits");
    }
    let other = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
    assert!(catch_unwind(AssertUnwindSafe(|| poll(lock.as_mut(), &other))).is_err());
    match poll(lock.as_mut(), &other) {
        Poll::Pending => {} // what should happen: `first` still holds it
        Poll::Ready(mut second) => {
            // Two guards, two `&mut u64` to one value: miri reports UB
            // here (Stacked Borrows), safe code only.
            let a: &mut u64 = &mut first;
            let b: &mut u64 = &mut second;
            *b += 1;
            *a += 1;
            panic!("the mutex handed out a second guard while the first was held");
        }
    }
}
