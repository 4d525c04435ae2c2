//! Executor micro-benchmarks: spawning (in batches of 1 024 and 64, and one
//! task at a time), and wake→poll ping-pong. Every contender runs the same
//! futures, so the difference is the executor: kasync, tokio's
//! current-thread runtime, `futures`' `LocalPool`, and the executors a
//! kernel or firmware author picks instead — embassy-executor's raw
//! executor (tasks in a `TaskPool`) and maitake's `LocalScheduler` (boxed
//! tasks, driven by `tick`). Tasks nobody waits for are spawned the way each
//! executor offers: kasync's `spawn_detached` (and, in a row of its own,
//! `spawn` with the handle dropped, as tokio, `LocalPool` and maitake must),
//! embassy's pool spawn (it has no handles).

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt as _;
use kasync::executor::{Executor, ThreadPlatform};
use maitake::scheduler::LocalScheduler;

use crate::embassy::{Embassy, pool_like};
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
    /// Players that played all their turns (for executors without join
    /// handles).
    finished: Cell<usize>,
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
    court.finished.set(court.finished.get() + 1);
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

/// Spawn-and-run in batches of 1 024, 64 and 1, and ping-pong: kasync vs
/// tokio current-thread, the `futures` `LocalPool`, embassy and maitake.
pub fn run(reps: usize, spawns: usize, cycles: usize) -> Vec<Results> {
    let runner = EXEC.runner().expect("the benchmark owns its executor");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let embassy = Embassy::new();
    let spawn_pool = pool_like::<_, SLOTS>(&trivial_task());
    let maitake = LocalScheduler::new();

    let mut results = Vec::new();
    for batch in [SLOTS, 64, 1] {
        let name = match batch {
            1 => "spawn + run a trivial task, one at a time".to_owned(),
            SLOTS => "spawn + run a trivial task, batches of 1 024".to_owned(),
            n => format!("spawn + run a trivial task, batches of {n}"),
        };
        let pool = LocalPool::new();
        let pool = std::cell::RefCell::new(pool);
        results.push(compare(
            &name,
            spawns,
            reps,
            None,
            vec![
                Contender {
                    name: "kasync",
                    run: Box::new(|| {
                        in_batches(spawns, batch, |n| {
                            for _ in 0..n {
                                EXEC.spawn_detached(trivial_task()).expect("the batch fits");
                            }
                            while runner.tick(u32::MAX).ready_left {}
                        })
                    }),
                },
                Contender {
                    name: "kasync, JoinHandle dropped",
                    run: Box::new(|| {
                        in_batches(spawns, batch, |n| {
                            for _ in 0..n {
                                drop(EXEC.spawn(trivial_task()).expect("the batch fits"));
                            }
                            while runner.tick(u32::MAX).ready_left {}
                        })
                    }),
                },
                Contender {
                    name: "tokio current-thread",
                    run: Box::new(|| {
                        DONE.store(0, Ordering::Relaxed);
                        tokio.block_on(async {
                            let mut spawned = 0;
                            while spawned < spawns {
                                let n = batch.min(spawns - spawned);
                                for _ in 0..n {
                                    drop(tokio::spawn(trivial_task()));
                                }
                                spawned += n;
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
                        let mut pool = pool.borrow_mut();
                        let spawner = pool.spawner();
                        in_batches(spawns, batch, |n| {
                            for _ in 0..n {
                                spawner.spawn_local(trivial_task()).expect("pool alive");
                            }
                            pool.run_until_stalled();
                        })
                    }),
                },
                Contender {
                    name: "embassy-executor (raw, TaskPool)",
                    run: Box::new(|| {
                        in_batches(spawns, batch, |n| {
                            for _ in 0..n {
                                embassy.spawn(spawn_pool, trivial_task);
                            }
                            embassy.poll();
                        })
                    }),
                },
                Contender {
                    name: "maitake LocalScheduler",
                    run: Box::new(|| {
                        in_batches(spawns, batch, |n| {
                            for _ in 0..n {
                                drop(maitake.spawn(trivial_task()));
                            }
                            while maitake.tick().has_remaining {}
                        })
                    }),
                },
            ],
        ));
    }
    results.push(ping_pong(reps, cycles, runner, &tokio, embassy, &maitake));
    results
}

/// Spawns `spawns` trivial tasks `batch` at a time through `one_batch`
/// (which spawns `n` and runs them to completion), checking each batch
/// really ran.
fn in_batches(spawns: usize, batch: usize, mut one_batch: impl FnMut(usize)) -> Run {
    DONE.store(0, Ordering::Relaxed);
    let mut spawned = 0;
    while spawned < spawns {
        let n = batch.min(spawns - spawned);
        one_batch(n);
        spawned += n;
        assert_eq!(
            DONE.load(Ordering::Relaxed),
            spawned,
            "a batch did not finish"
        );
    }
    Run::plain()
}

/// Two players hand the turn back and forth `cycles` times in all.
fn ping_pong(
    reps: usize,
    cycles: usize,
    runner: kasync::executor::Runner<ThreadPlatform, SLOTS, 128>,
    tokio: &tokio::runtime::Runtime,
    embassy: Embassy,
    maitake: &LocalScheduler,
) -> Results {
    let court = Rc::new(Court::default());
    let player_pool = pool_like::<_, 2>(&player(court.clone(), 0, 0));
    let new_game = || {
        court.turn.set(0);
        court.finished.set(0);
    };
    compare(
        "ping-pong wake → poll",
        cycles,
        reps,
        None,
        vec![
            Contender {
                name: "kasync",
                run: Box::new(|| {
                    new_game();
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
                    new_game();
                    let local = tokio::task::LocalSet::new();
                    let a = local.spawn_local(player(court.clone(), 0, cycles / 2));
                    let b = local.spawn_local(player(court.clone(), 1, cycles / 2));
                    local.block_on(tokio, async {
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
                    local.block_on(tokio, async {
                        a.await.expect("player a");
                        b.await.expect("player b");
                    });
                    Run::plain()
                }),
            },
            Contender {
                name: "futures LocalPool",
                run: Box::new(|| {
                    new_game();
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
            Contender {
                name: "embassy-executor (raw, TaskPool)",
                run: Box::new(|| {
                    new_game();
                    embassy.spawn(player_pool, || player(court.clone(), 0, cycles / 2));
                    embassy.spawn(player_pool, || player(court.clone(), 1, cycles / 2));
                    while court.finished.get() < 2 {
                        embassy.poll();
                    }
                    Run::plain()
                }),
            },
            Contender {
                name: "maitake LocalScheduler",
                run: Box::new(|| {
                    new_game();
                    drop(maitake.spawn(player(court.clone(), 0, cycles / 2)));
                    drop(maitake.spawn(player(court.clone(), 1, cycles / 2)));
                    while court.finished.get() < 2 {
                        maitake.tick();
                    }
                    Run::plain()
                }),
            },
        ],
    )
}
