//! Loom models of the one-step free of a task with no handle.
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p core --test adversarial_loom --release`
#![cfg(loom)]

use core::future::poll_fn;
use core::task::Poll;

use kasync::executor::{Executor, Idle, Platform};
use loom::future::AtomicWaker;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread::{self, Thread};

struct LoomPlatform {
    runner: Thread,
}
impl Platform for LoomPlatform {
    fn pend(&self) {
        self.runner.unpark();
    }
    fn park(&self, idle: &Idle<'_>) {
        if idle.is_idle() {
            thread::park();
        }
    }
}
unsafe impl Sync for LoomPlatform {}

fn executor() -> &'static Executor<LoomPlatform, 1, 128> {
    Box::leak(Box::new(Executor::new(LoomPlatform {
        runner: thread::current(),
    })))
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    static ITER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    builder.check(move || {
        ITER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom iterations so far: {}",
        ITER.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}
impl Signal {
    async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register_by_ref(cx.waker());
            if self.set.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
    fn fire(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// abort, then drop, on another thread, while the task finishes (output
/// without drop glue): freed exactly once.
#[test]
fn abort_then_drop_races_a_one_step_finish() {
    model(|| {
        let exec = executor();
        let runner = exec.runner().unwrap();
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let freed = exec.freed_slots();
        let task = exec
            .spawn(async move {
                s.wait().await;
                7u32
            })
            .unwrap();
        runner.tick(1);
        let other = thread::spawn(move || {
            task.abort();
            drop(task);
        });
        signal.fire();
        runner.tick(4);
        other.join().unwrap();
        runner.tick(4);
        assert_eq!(exec.occupied(), 0);
        assert_eq!(exec.freed_slots().wrapping_sub(freed), 1);
    });
}

/// A detached task finishes with the one-step free while another thread
/// spawns into the (single) slot and a stale waker of the first task
/// wakes: the new task runs exactly once to completion, nothing twice.
#[test]
fn one_step_free_races_a_spawn_into_the_slot_and_a_stale_wake() {
    model(|| {
        let exec = executor();
        let runner = exec.runner().unwrap();
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let ran = Arc::new(AtomicUsize::new(0));
        exec.spawn_detached(async move {
            s.wait().await;
        })
        .unwrap();
        runner.tick(1);
        let sig = signal.clone();
        let r = ran.clone();
        let other = thread::spawn(move || {
            sig.fire();
            // Spin until the slot is free, then spawn into it.
            loop {
                let r = r.clone();
                match exec.spawn_detached(async move {
                    r.fetch_add(1, Ordering::SeqCst);
                }) {
                    Ok(()) => break,
                    Err(_) => thread::yield_now(),
                }
            }
            // A stale wake of the first task (same slot).
            sig.waker.wake();
        });
        while ran.load(Ordering::SeqCst) == 0 {
            if !runner.tick(4).ready_left {
                thread::yield_now();
            }
        }
        other.join().unwrap();
        while runner.tick(4).ready_left {}
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(exec.occupied(), 0);
    });
}
