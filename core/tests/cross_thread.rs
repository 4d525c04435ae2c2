//! Wakes from other threads while the runner is parked: never lost.
//!
//! A lost wake shows up as a hang, so every test runs under a watchdog that
//! aborts the process after a generous deadline instead of timing anything.

use core::future::poll_fn;
use core::task::{Poll, Waker};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use kasync::IrqQueue;
use kasync::executor::{Executor, ThreadPlatform};
use kasync_tests::watchdog::watchdog;

const ROUNDS: usize = if cfg!(miri) { 30 } else { 10_000 };

/// Ping-pong between the runner and a foreign thread through a shared
/// waker slot and counter: each round parks the runner, the other thread
/// wakes it. A lost wake hangs forever.
#[test]
fn wake_from_another_thread_while_parked() {
    static EXEC: Executor<ThreadPlatform, 4, 256> = Executor::new(ThreadPlatform::new());
    ping_pong_with_another_thread("wake_from_another_thread_while_parked", &EXEC);
}

/// The same with no spin before sleeping: every idle moment is a real
/// `thread::park`.
#[test]
fn wake_from_another_thread_while_parked_without_spinning() {
    static EXEC: Executor<ThreadPlatform, 4, 256> =
        Executor::new(ThreadPlatform::with_spin(Duration::ZERO));
    ping_pong_with_another_thread(
        "wake_from_another_thread_while_parked_without_spinning",
        &EXEC,
    );
}

/// The same with a spin longer than the test: the runner never sleeps, so
/// only the spin's own watch for wakes can let it see them.
#[test]
fn wake_from_another_thread_while_spinning() {
    static EXEC: Executor<ThreadPlatform, 4, 256> =
        Executor::new(ThreadPlatform::with_spin(Duration::from_secs(3600)));
    ping_pong_with_another_thread("wake_from_another_thread_while_spinning", &EXEC);
}

fn ping_pong_with_another_thread(name: &str, exec: &'static Executor<ThreadPlatform, 4, 256>) {
    watchdog(name, || {
        let runner = exec.runner().unwrap();
        let turn = Arc::new(AtomicUsize::new(0));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let (t, w) = (turn.clone(), waker.clone());
        let waiter = exec
            .spawn(async move {
                for round in 0..ROUNDS {
                    // Wait until the other thread moved the counter to odd.
                    poll_fn(|cx| {
                        *w.lock().unwrap() = Some(cx.waker().clone());
                        if t.load(Ordering::Acquire) == 2 * round + 1 {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                    t.store(2 * round + 2, Ordering::Release);
                }
                ROUNDS
            })
            .unwrap();
        let (t, w) = (turn.clone(), waker.clone());
        let waker_thread = std::thread::spawn(move || {
            for round in 0..ROUNDS {
                while t.load(Ordering::Acquire) != 2 * round {
                    std::thread::yield_now();
                }
                t.store(2 * round + 1, Ordering::Release);
                // The waker registered for this round (or a later one: a
                // wake is a wake).
                let waker = loop {
                    if let Some(waker) = w.lock().unwrap().clone() {
                        break waker;
                    }
                    std::thread::yield_now();
                };
                waker.wake();
            }
        });
        assert_eq!(runner.block_on(waiter), Ok(ROUNDS));
        waker_thread.join().unwrap();
    });
}

/// Tasks spawned from another thread wake the parked runner.
#[test]
fn spawn_from_another_thread_while_parked() {
    static EXEC: Executor<ThreadPlatform, 8, 256> = Executor::new(ThreadPlatform::new());
    watchdog("spawn_from_another_thread_while_parked", || {
        let runner = EXEC.runner().unwrap();
        let rounds = ROUNDS / 10;
        let (send, recv) = mpsc::channel();
        let spawner = std::thread::spawn(move || {
            for i in 0..rounds {
                let handle = loop {
                    match EXEC.spawn(async move { i }) {
                        Ok(h) => break h,
                        Err(_) => std::thread::yield_now(),
                    }
                };
                send.send(handle).unwrap();
            }
        });
        let total = runner.block_on(async move {
            let mut total = 0;
            for _ in 0..rounds {
                // `recv` blocks this thread, which is fine for the test:
                // the handle's task is queued and runs below.
                let handle = recv.recv().unwrap();
                total += handle.await.unwrap();
            }
            total
        });
        spawner.join().unwrap();
        assert_eq!(total, (0..rounds).sum::<usize>());
    });
}

/// Tasks in every word of the ready bitmap (200 tasks, four words) are
/// woken from another thread in a scattered order while the runner works
/// and parks: each task must see every one of its wakes. A lost wake hangs.
#[test]
fn wakes_from_another_thread_across_bitmap_words() {
    const TASKS: usize = 200;
    static EXEC: Executor<ThreadPlatform, TASKS, 128> = Executor::new(ThreadPlatform::new());
    let rounds = if cfg!(miri) { 2 } else { 200 };
    watchdog("wakes_from_another_thread_across_bitmap_words", || {
        let runner = EXEC.runner().unwrap();
        // Per task: how many wakes were sent, and the waker to send them to.
        let sent: Arc<Vec<AtomicUsize>> =
            Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
        let wakers: Arc<Vec<Mutex<Option<Waker>>>> =
            Arc::new((0..TASKS).map(|_| Mutex::new(None)).collect());
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let (sent, wakers) = (sent.clone(), wakers.clone());
                EXEC.spawn(async move {
                    for round in 1..=rounds {
                        poll_fn(|cx| {
                            *wakers[i].lock().unwrap() = Some(cx.waker().clone());
                            if sent[i].load(Ordering::Acquire) >= round {
                                Poll::Ready(())
                            } else {
                                Poll::Pending
                            }
                        })
                        .await;
                    }
                    i
                })
                .unwrap()
            })
            .collect();
        let (s, w) = (sent.clone(), wakers.clone());
        let waker_thread = std::thread::spawn(move || {
            for _ in 0..rounds {
                // 7 is coprime to 200: every task once per round, scattered
                // over the four words.
                for k in 0..TASKS {
                    let i = k * 7 % TASKS;
                    s[i].fetch_add(1, Ordering::Release);
                    if let Some(waker) = w[i].lock().unwrap().take() {
                        waker.wake();
                    }
                }
                std::thread::yield_now();
            }
        });
        let total = runner.block_on(async move {
            let mut total = 0;
            for handle in handles {
                total += handle.await.unwrap();
            }
            total
        });
        waker_thread.join().unwrap();
        assert_eq!(total, (0..TASKS).sum::<usize>());
        assert_eq!(EXEC.occupied(), 0);
    });
}

/// A "signal handler" on another thread pushes into an `IrqQueue` while the
/// consumer task is parked; every value arrives or is counted as dropped.
#[test]
fn irq_queue_producer_thread_wakes_parked_consumer() {
    static EXEC: Executor<ThreadPlatform, 4, 256> = Executor::new(ThreadPlatform::new());
    static QUEUE: IrqQueue<usize, 16> = IrqQueue::new();
    watchdog("irq_queue_producer_thread_wakes_parked_consumer", || {
        let runner = EXEC.runner().unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let producer = std::thread::spawn(move || {
            let mut pushed = 0;
            for i in 1..=ROUNDS {
                if QUEUE.push(i).is_ok() {
                    pushed += 1;
                }
                if i % 64 == 0 {
                    std::thread::yield_now();
                }
            }
            f.store(true, Ordering::Release);
            // A final value the consumer waits for; retried until it fits.
            while QUEUE.push(usize::MAX).is_err() {
                std::thread::yield_now();
            }
            pushed
        });
        let consumer = EXEC
            .spawn(async move {
                let (mut count, mut last) = (0, 0);
                loop {
                    let v = QUEUE.recv().await;
                    if v == usize::MAX {
                        return count;
                    }
                    assert!(v > last, "values arrive in push order");
                    last = v;
                    count += 1;
                }
            })
            .unwrap();
        let received = runner.block_on(consumer).unwrap();
        let pushed = producer.join().unwrap();
        assert!(finished.load(Ordering::Acquire));
        assert_eq!(received, pushed);
        // Every final-marker retry that failed was counted as dropped too.
        assert!(QUEUE.dropped() >= ROUNDS - pushed);
    });
}
