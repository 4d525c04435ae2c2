//! `IrqQueue` with user code in its waker slot: the `Drop` of a replaced
//! consumer waker that panics (it runs after the slot is let go, so later
//! registrations and wakes still work); the smallest capacity; and the
//! queue's `Drop` with a panicking value `Drop`.

#![allow(
    clippy::needless_range_loop,
    reason = "values are counted by id: the loops walk the ids"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};

use kasync::IrqQueue;

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
fn a_consumer_waker_whose_drop_panics_does_not_stop_all_later_wakes() {
    quiet();
    let q: IrqQueue<u32, 4> = IrqQueue::new();
    {
        let bomb = Waker::from(Arc::new(DropBomb));
        assert!(q.poll_recv(&mut Context::from_waker(&bomb)).is_pending());
    } // the queue's waker slot holds the bomb's last reference
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let good = Waker::from(count.clone());
    // Re-registering replaces (drops) the bomb: the panic comes out.
    assert!(
        catch_unwind(AssertUnwindSafe(
            || q.poll_recv(&mut Context::from_waker(&good))
        ))
        .is_err()
    );
    // A well-behaved consumer from now on.
    assert!(q.poll_recv(&mut Context::from_waker(&good)).is_pending());
    q.push(1).unwrap();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "push did not wake the registered consumer (the waker slot is stuck)"
    );
}

#[test]
fn capacity_two_is_the_smallest_and_works() {
    let q: IrqQueue<u8, 2> = IrqQueue::new();
    assert_eq!(q.push(1), Ok(()));
    assert_eq!(q.push(2), Ok(()));
    assert_eq!(q.push(3), Err(3));
    assert_eq!(q.dropped(), 1);
    assert_eq!(q.len(), 2);
    assert_eq!(q.try_recv(), Some(1));
    assert_eq!(q.push(4), Ok(()));
    assert_eq!(
        (q.try_recv(), q.try_recv(), q.try_recv()),
        (Some(2), Some(4), None)
    );
    // Many laps round the two places.
    for i in 0..1000u32 {
        q.push((i % 256) as u8).unwrap();
        assert_eq!(q.try_recv(), Some((i % 256) as u8));
    }
}

static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
struct PanicsFirst(bool);
impl Drop for PanicsFirst {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
        if self.0 {
            panic!("value Drop panics on purpose");
        }
    }
}

/// Dropping a queue whose first value's `Drop` panics drops the others
/// too.
#[test]
fn dropping_a_queue_drops_every_value_even_if_one_drop_panics() {
    quiet();
    let q: IrqQueue<PanicsFirst, 4> = IrqQueue::new();
    for first in [true, false, false] {
        MADE.fetch_add(1, Ordering::SeqCst);
        assert!(q.push(PanicsFirst(first)).is_ok());
    }
    assert!(catch_unwind(AssertUnwindSafe(|| drop(q))).is_err());
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        MADE.load(Ordering::SeqCst),
        "values dropped of those made"
    );
}
