//! Breaker: Channel lost wake-up when a receiver is notified while an
//! earlier push is still writing its place (the ring's pop then says
//! "empty" although a later push is complete). Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!   cargo test -p core --test zz_breaker_loom --release
//! ```
#![cfg(loom)]

use core::future::Future;
use core::task::{Context, Poll, Waker};
use std::sync::Arc as StdArc;
use std::task::Wake;

use kasync::sync::Channel;
use loom::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

struct Flag(StdArc<AtomicBool>);
impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn channel_receiver_notified_during_an_unfinished_push() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.max_branches = 50_000;
    builder.check(|| {
        let ch = Arc::new(Channel::<u32, 4>::new());
        let flags = [
            StdArc::new(AtomicBool::new(false)),
            StdArc::new(AtomicBool::new(false)),
        ];
        let wakers: Vec<Waker> = flags
            .iter()
            .map(|f| Waker::from(StdArc::new(Flag(f.clone()))))
            .collect();
        let mut rs = [Box::pin(ch.recv()), Box::pin(ch.recv())];
        for (r, w) in rs.iter_mut().zip(&wakers) {
            assert!(r.as_mut().poll(&mut Context::from_waker(w)).is_pending());
        }
        let a = {
            let ch = ch.clone();
            thread::spawn(move || ch.try_send(1).unwrap())
        };
        let b = {
            let ch = ch.clone();
            thread::spawn(move || ch.try_send(2).unwrap())
        };
        let mut got: [Option<u32>; 2] = [None, None];
        // Poll whoever was woken, concurrently with the sends.
        let mut step = |got: &mut [Option<u32>; 2]| {
            for i in 0..2 {
                if got[i].is_none() && flags[i].swap(false, Ordering::SeqCst) {
                    if let Poll::Ready(v) =
                        rs[i].as_mut().poll(&mut Context::from_waker(&wakers[i]))
                    {
                        got[i] = Some(v);
                    } else {
                        eprintln!("polled {i}: pending");
                    }
                }
            }
        };
        step(&mut got);
        step(&mut got);
        a.join().unwrap();
        b.join().unwrap();
        let seen = [
            flags[0].load(Ordering::SeqCst),
            flags[1].load(Ordering::SeqCst),
        ];
        for _ in 0..4 {
            step(&mut got);
        }
        if got.iter().any(Option::is_none) {
            eprintln!("flags after join: {seen:?} len {}", ch.len());
        }
        assert!(
            got.iter().all(Option::is_some),
            "LOST WAKE-UP: got {got:?}, {} value(s) left in the channel, nobody woken",
            ch.len()
        );
    });
}
