//! Executor micro-benchmarks: spawning, and wake→poll ping-pong. Every
//! contender runs the same futures, so the difference is the executor.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt as _;
use kasync::executor::{Executor, ThreadPlatform};

use crate::harness::{Contender, Results, Run, compare};

const SLOTS: usize = 1024;
static EXEC: Executor<ThreadPlatform, SLOTS, 128> = Executor::new(ThreadPlatform::new());

static DONE: AtomicUsize = AtomicUsize::new(0);

async fn trivial_task() {
    DONE.fetch_add(1, Ordering::Relaxed);
}

/// Two players hand a turn back and forth; each hand-over is one wake of
/// the other player and one poll of it.
#[derive(Default)]
struct Court {
    turn: Cell<usize>,
    wakers: [Cell<Option<Waker>>; 2],
}

async fn player(court: Rc<Court>, me: usize, turns: usize) {
    for _ in 0..turns {
        poll_fn(|cx| {
            if court.turn.get() == me {
                Poll::Ready(())
            } else {
                court.wakers[me].set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        court.turn.set(1 - me);
        if let Some(other) = court.wakers[1 - me].take() {
            other.wake();
        }
    }
}

/// The same game played the way tokio users write it, with
/// `tokio::sync::Notify` — the baseline the benchmark goals were set
/// against. It measures tokio's primitive as well as its executor.
async fn notify_player(notify: Rc<[tokio::sync::Notify; 2]>, me: usize, turns: usize) {
    for turn in 0..turns {
        if me == 1 || turn > 0 {
            notify[me].notified().await;
        }
        notify[1 - me].notify_one();
    }
}

/// Spawn-and-run and ping-pong, kasync vs tokio current-thread vs the
/// `futures` `LocalPool`.
pub fn run(reps: usize, spawns: usize, cycles: usize) -> Vec<Results> {
    let runner = EXEC.runner().expect("the benchmark owns its executor");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let court = Rc::new(Court::default());

    let spawn = compare(
        "spawn + run a trivial task",
        spawns,
        reps,
        None,
        vec![
            Contender {
                name: "kasync",
                run: Box::new(|| {
                    DONE.store(0, Ordering::Relaxed);
                    let mut spawned = 0;
                    while spawned < spawns {
                        let batch = SLOTS.min(spawns - spawned);
                        for _ in 0..batch {
                            drop(EXEC.spawn(trivial_task()).expect("the batch fits"));
                        }
                        spawned += batch;
                        while runner.tick(u32::MAX).ready_left {}
                    }
                    assert_eq!(DONE.load(Ordering::Relaxed), spawns);
                    Run::plain()
                }),
            },
            Contender {
                name: "tokio current-thread",
                run: Box::new(|| {
                    DONE.store(0, Ordering::Relaxed);
                    tokio.block_on(async {
                        let mut spawned = 0;
                        while spawned < spawns {
                            let batch = SLOTS.min(spawns - spawned);
                            for _ in 0..batch {
                                drop(tokio::spawn(trivial_task()));
                            }
                            spawned += batch;
                            while DONE.load(Ordering::Relaxed) < spawned {
                                tokio::task::yield_now().await;
                            }
                        }
                    });
                    Run::plain()
                }),
            },
            Contender {
                name: "futures LocalPool",
                run: Box::new(|| {
                    DONE.store(0, Ordering::Relaxed);
                    let mut pool = LocalPool::new();
                    let spawner = pool.spawner();
                    let mut spawned = 0;
                    while spawned < spawns {
                        let batch = SLOTS.min(spawns - spawned);
                        for _ in 0..batch {
                            spawner.spawn_local(trivial_task()).expect("pool alive");
                        }
                        spawned += batch;
                        pool.run_until_stalled();
                    }
                    assert_eq!(DONE.load(Ordering::Relaxed), spawns);
                    Run::plain()
                }),
            },
        ],
    );

    let ping = compare(
        "ping-pong wake → poll",
        cycles,
        reps,
        None,
        vec![
            Contender {
                name: "kasync",
                run: Box::new(|| {
                    let a = runner
                        .spawn_local(player(court.clone(), 0, cycles / 2))
                        .expect("slot");
                    let b = runner
                        .spawn_local(player(court.clone(), 1, cycles / 2))
                        .expect("slot");
                    runner.block_on(async {
                        a.await.expect("player a");
                        b.await.expect("player b");
                    });
                    Run::plain()
                }),
            },
            Contender {
                name: "tokio current-thread",
                run: Box::new(|| {
                    let local = tokio::task::LocalSet::new();
                    let a = local.spawn_local(player(court.clone(), 0, cycles / 2));
                    let b = local.spawn_local(player(court.clone(), 1, cycles / 2));
                    local.block_on(&tokio, async {
                        a.await.expect("player a");
                        b.await.expect("player b");
                    });
                    Run::plain()
                }),
            },
            Contender {
                name: "tokio current-thread, tokio::sync::Notify",
                run: Box::new(|| {
                    let notify = Rc::new([tokio::sync::Notify::new(), tokio::sync::Notify::new()]);
                    let local = tokio::task::LocalSet::new();
                    let a = local.spawn_local(notify_player(notify.clone(), 0, cycles / 2));
                    let b = local.spawn_local(notify_player(notify, 1, cycles / 2));
                    local.block_on(&tokio, async {
                        a.await.expect("player a");
                        b.await.expect("player b");
                    });
                    Run::plain()
                }),
            },
            Contender {
                name: "futures LocalPool",
                run: Box::new(|| {
                    let mut pool = LocalPool::new();
                    let spawner = pool.spawner();
                    spawner
                        .spawn_local(player(court.clone(), 0, cycles / 2))
                        .expect("pool alive");
                    spawner
                        .spawn_local(player(court.clone(), 1, cycles / 2))
                        .expect("pool alive");
                    pool.run();
                    Run::plain()
                }),
            },
        ],
    );
    vec![spawn, ping]
}
