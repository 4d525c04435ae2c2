//! `Compat` is `Send` and bound to its thread; the end of a stream is
//! held back one poll for an owed flush, and never longer.

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use kasync_host::compat::Compat;
use kasync_host::net::UnixStream;
use kasync_host::thread_bound::ThreadBound;

mod support;
use support::each_backend;

fn is_send<T: Send>(_: &T) {}

/// Used on another thread, every call is an error that says so; home
/// again, it works as before.
#[test]
fn a_compat_moved_to_another_thread_errs_there_and_works_at_home() {
    each_backend("moved", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            is_send(&a);
            let mut a = std::thread::spawn(move || {
                let mut buf = [0u8; 4];
                let read = futures_util::FutureExt::now_or_never(a.read(&mut buf))
                    .expect("an error at once, not a wait");
                let err = read.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Other);
                assert!(err.to_string().contains("another thread"), "{err}");
                let write = futures_util::FutureExt::now_or_never(a.write(b"x")).unwrap();
                assert!(write.is_err());
                a
            })
            .join()
            .unwrap();
            a.write_all(b"home").await.unwrap();
            a.flush().await.unwrap();
            let (n, buf) = b.read(Vec::with_capacity(8)).await;
            assert_eq!(&buf[..n.unwrap()], b"home");
        })
    });
}

/// Dropped on another thread while a receive is in flight: nothing is
/// freed under the kernel (miri-free check: the runtime keeps working and
/// the peer's bytes go nowhere harmful).
#[test]
fn a_compat_dropped_elsewhere_with_a_receive_in_flight_is_leaked_safely() {
    each_backend("dropped elsewhere", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            let mut buf = [0u8; 4];
            // Start a receive and leave it in flight.
            assert!(futures_util::FutureExt::now_or_never(a.read(&mut buf)).is_none());
            std::thread::spawn(move || drop(a)).join().unwrap();
            // The leaked receive still owns its buffer; the peer writes into it.
            b.write_all("into the leaked buffer").await.0.unwrap();
            kasync_host::sleep(Duration::from_millis(5)).await;
            // The runtime goes on.
            let (c, d) = UnixStream::pair().unwrap();
            c.write_all("still fine").await.0.unwrap();
            let (n, buf) = d.read(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"still fine");
        })
    });
}

/// A caller that writes and then reads to the end without ever flushing
/// still sees the end (one poll later), and the bytes before it.
#[test]
fn the_end_is_held_back_one_poll_only_for_a_caller_that_never_flushes() {
    each_backend("no flush", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            a.write_all(b"question").await.unwrap(); // no flush
            let (n, buf) = b.read(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"question");
            b.write_all("answer").await.0.unwrap();
            drop(b);
            let mut got = String::new();
            a.read_to_string(&mut got).await.unwrap();
            assert_eq!(got, "answer");
            // Reading again at the end: still the end.
            let mut more = [0u8; 1];
            assert_eq!(a.read(&mut more).await.unwrap(), 0);
        })
    });
}

/// `ThreadBound` drops its value at home and leaks it elsewhere; the
/// value is out of reach off home.
#[test]
fn thread_bound_drops_at_home_and_leaks_elsewhere() {
    let at_home = Rc::new(());
    drop(ThreadBound::new(at_home.clone()));
    assert_eq!(Rc::strong_count(&at_home), 1, "dropped at home");

    let elsewhere = Rc::new(());
    let mut bound = ThreadBound::new(elsewhere.clone());
    assert!(bound.get_mut().is_some());
    std::thread::spawn(move || {
        assert!(!bound.is_home());
        assert!(bound.get_mut().is_none());
        assert_eq!(format!("{bound:?}"), "ThreadBound(<on another thread>)");
        drop(bound);
    })
    .join()
    .unwrap();
    assert_eq!(
        Rc::strong_count(&elsewhere),
        2,
        "leaked, never dropped off home"
    );
}

/// A thread-bound future polled elsewhere panics with a message that says
/// why.
#[test]
fn a_thread_bound_future_polled_elsewhere_panics_clearly() {
    let future = ThreadBound::new(async { 1 });
    let panic = std::thread::spawn(move || {
        let mut future = future;
        futures_util::FutureExt::now_or_never(&mut future)
    })
    .join()
    .unwrap_err();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("another thread"), "{message}");
}
