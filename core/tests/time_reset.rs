//! `Sleep::reset` while linked in the wheel: deadlines moved between
//! levels again and again, reset to the past, reset before the first poll,
//! beside neighbours that are dropped.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Waker};
use core::time::Duration;
use kasync::time::{ManualClock, Timers};

#[test]
fn reset_shuffles_across_levels() {
    let timers = Timers::new(ManualClock::new(1000));
    let mut cx = Context::from_waker(Waker::noop());
    let mut a = Box::pin(timers.sleep(Duration::from_millis(5)));
    let mut b = Box::pin(timers.sleep(Duration::from_millis(70)));
    let mut c = Box::pin(timers.sleep(Duration::from_secs(100)));
    for s in [&mut a, &mut b, &mut c] {
        assert!(s.as_mut().poll(&mut cx).is_pending());
    }
    // move deadlines between levels, repeatedly, while linked
    for i in 0..if cfg!(miri) { 20u64 } else { 200 } {
        let now = timers.now();
        a.as_mut().reset(now + (i * 37) % 5000 + 1);
        b.as_mut().reset(now + (i * 1013) % 300_000 + 1);
        c.as_mut().reset(now + 1);
        timers.clock().advance(1);
        timers.advance();
        // c due now: poll it, then reset it again after completion
        assert!(c.as_mut().poll(&mut cx).is_ready());
        c.as_mut().reset(timers.now() + 1_000_000);
        assert!(c.as_mut().poll(&mut cx).is_pending());
        let _ = a.as_mut().poll(&mut cx);
        let _ = b.as_mut().poll(&mut cx);
    }
    // reset to the past while linked: wakes; drop right after reset
    a.as_mut().reset(0);
    drop(a);
    b.as_mut().reset(timers.now());
    assert!(b.as_mut().poll(&mut cx).is_ready());
    drop(b);
    timers.clock().advance(2_000_000);
    assert_eq!(timers.advance(), 1);
    assert!(c.as_mut().poll(&mut cx).is_ready());
    drop(c);
    assert_eq!(timers.next_deadline(), None);
}

#[test]
fn reset_never_polled_and_after_drop_of_neighbour() {
    let timers = Timers::new(ManualClock::new(1000));
    let mut cx = Context::from_waker(Waker::noop());
    let mut a = pin!(timers.sleep(Duration::from_millis(5)));
    a.as_mut().reset(3); // never polled
    {
        let mut n = pin!(timers.sleep(Duration::from_millis(3)));
        assert!(n.as_mut().poll(&mut cx).is_pending());
        assert!(a.as_mut().poll(&mut cx).is_pending());
    } // neighbour in the same slot dropped
    a.as_mut().reset(u64::MAX);
    timers.clock().advance(10);
    timers.advance();
    assert!(a.as_mut().poll(&mut cx).is_pending());
    a.as_mut().reset(timers.now() + 1);
    timers.clock().advance(1);
    assert_eq!(timers.advance(), 1);
    assert!(a.as_mut().poll(&mut cx).is_ready());
}
