//! `ThreadBound` off its home thread: nothing read, nothing freed twice,
//! a panic elsewhere leaves the value usable at home. (Moving a pinned
//! value out through `get_mut` no longer compiles: a `compile_fail`
//! doc-test of `get_mut` keeps that.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use kasync_host::thread_bound::ThreadBound;

/// Pending once, then Ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// A self-referential future: a reference to its own local across an
/// await.
async fn make(v: u8) -> u8 {
    let x = [v; 16];
    let r = &x;
    YieldOnce(false).await;
    r[0]
}

/// Sync: &ThreadBound shared with another thread — Debug elsewhere must not read.
#[test]
fn debug_off_home_does_not_read() {
    let tb = ThreadBound::new(std::rc::Rc::new(5));
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(format!("{tb:?}"), "ThreadBound(<on another thread>)"));
    });
    assert_eq!(format!("{tb:?}"), "ThreadBound(5)");
}

/// into_inner elsewhere is Err(self), and the value comes back at home; drop
/// elsewhere leaks (no double free).
#[test]
fn into_inner_and_drop_elsewhere() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct D(std::marker::PhantomData<std::rc::Rc<()>>); // !Send
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let tb = ThreadBound::new(D(std::marker::PhantomData));
    let tb = std::thread::spawn(move || match tb.into_inner() {
        Err(tb) => tb,
        Ok(_) => panic!("off home"),
    })
    .join()
    .unwrap();
    let d = tb.into_inner().ok().unwrap();
    drop(d);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    let tb = ThreadBound::new(D(std::marker::PhantomData));
    std::thread::spawn(move || drop(tb)).join().unwrap();
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "leaked, not dropped, off home"
    );
    // Home thread exits, value moved back to a third thread: still unreachable.
    let tb = std::thread::spawn(|| ThreadBound::new(D(std::marker::PhantomData)))
        .join()
        .unwrap();
    let mut tb = tb;
    assert!(tb.get_mut().is_none());
    drop(tb);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

/// A panic in the poll off home, then back home the future still works.
#[test]
fn poll_off_home_panics_then_home_works() {
    let mut tb = ThreadBound::new(make(3));
    let mut tb = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut cx = Context::from_waker(Waker::noop());
            let _ = Pin::new(&mut tb).poll(&mut cx);
        }));
        assert!(r.is_err());
        tb
    })
    .join()
    .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut tb).poll(&mut cx).is_pending());
    assert_eq!(Pin::new(&mut tb).poll(&mut cx), Poll::Ready(3));
}
