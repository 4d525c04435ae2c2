//! Wakes from another thread: a task waits on a doorbell that a second
//! thread (on the other CPU) rings as soon as the task is waiting again.
//! Every executor runs the same listening future; what differs is how its
//! waker reaches the run loop and how the run loop waits for it.
//!
//! Four rows:
//! * **runner spinning** — the run loop is polled in a busy loop (`tick`,
//!   `poll`), never sleeping: the cost of the wake path alone.
//! * **runner parking** — each executor's own idle policy: kasync's
//!   `ThreadPlatform`, embassy's pender and maitake's ticking loop parking
//!   on the same [`Parker`], tokio's current-thread driver. The bell rings
//!   at once, so how often the runner really fell asleep (voluntary context
//!   switches per wake) is as telling as the latency.
//! * **idle gaps** — the bell rings 2 µs (within kasync's spin before
//!   sleeping) or 50 µs (past it) after the task waits, and the counter is
//!   the runner thread's CPU time per wake: what a sleep costs, what the
//!   spin saves on short gaps and what it costs an idle machine on long
//!   ones (a row of kasync with the spin off shows both).
//!
//! Latency is from the ring (just before the waker is called) to the task
//! running again: p50 / p99 over all wakes of a run, medians over runs.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use kasync::executor::{Executor, ThreadPlatform};
use maitake::scheduler::LocalScheduler;

use crate::embassy::{Embassy, pool_like};
use crate::harness::{Contender, Results, Run, compare};
use crate::parker::Parker;

static EXEC: Executor<ThreadPlatform, 4, 256> = Executor::new(ThreadPlatform::new());
/// kasync with its spin before sleeping turned off.
static NO_SPIN: Executor<ThreadPlatform, 4, 256> =
    Executor::new(ThreadPlatform::with_spin(Duration::ZERO));

/// The gap before each ring in the short-gaps row: within kasync's spin.
const SHORT_GAP: Duration = Duration::from_micros(2);
/// The gap before each ring in the long-gaps row: past kasync's spin.
const LONG_GAP: Duration = Duration::from_micros(50);

/// What the listening task and the ringing thread share.
struct Bell {
    /// Rings sent so far.
    sent: AtomicU64,
    /// The task waits for ring number `armed` (its waker is registered).
    armed: AtomicU64,
    /// When the last ring was sent, in ns since `epoch`.
    sent_at: AtomicU64,
    waker: AtomicWaker,
    epoch: Instant,
    /// The task heard every ring.
    done: AtomicBool,
    /// Ring-to-run latency of every ring, in ns (written at the end).
    latencies: Mutex<Vec<u64>>,
}

impl Bell {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            sent: AtomicU64::new(0),
            armed: AtomicU64::new(0),
            sent_at: AtomicU64::new(0),
            waker: AtomicWaker::new(),
            epoch: Instant::now(),
            done: AtomicBool::new(false),
            latencies: Mutex::new(Vec::new()),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// The task: waits for `rings` rings, one at a time, noting each latency.
async fn listen(bell: Arc<Bell>, rings: u64) {
    let mut latencies = Vec::with_capacity(rings as usize);
    for ring in 1..=rings {
        poll_fn(|cx| {
            if bell.sent.load(Ordering::Acquire) >= ring {
                return Poll::Ready(());
            }
            bell.waker.register(cx.waker());
            bell.armed.store(ring, Ordering::Release);
            if bell.sent.load(Ordering::Acquire) >= ring {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        latencies.push(
            bell.now()
                .saturating_sub(bell.sent_at.load(Ordering::Relaxed)),
        );
    }
    *bell.latencies.lock().expect("not poisoned") = latencies;
    bell.done.store(true, Ordering::Release);
}

/// The other thread: rings `rings` times, each as soon as the task waits
/// (after `gap`, if any), then calls `after_wake` (a parker's pend, for an
/// executor whose waker does not end its runner's sleep by itself).
fn ring(
    bell: Arc<Bell>,
    rings: u64,
    gap: Option<Duration>,
    after_wake: Option<&'static Parker>,
) -> std::thread::JoinHandle<()> {
    let started = Arc::new(AtomicBool::new(false));
    let ringer_started = started.clone();
    let ringer = std::thread::spawn(move || {
        // The runner is pinned to the last CPU; this thread goes to the
        // first (on a one-CPU machine the pin changes nothing, and a
        // spinning runner then shares its CPU with this thread).
        let _ = crate::cpu::pin_to(0);
        ringer_started.store(true, Ordering::Release);
        for n in 1..=rings {
            while bell.armed.load(Ordering::Acquire) < n {
                std::hint::spin_loop();
            }
            if let Some(gap) = gap {
                let until = Instant::now() + gap;
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            bell.sent_at.store(bell.now(), Ordering::Relaxed);
            bell.sent.store(n, Ordering::Release);
            bell.waker.wake();
            if let Some(parker) = after_wake {
                parker.pend();
            }
        }
    });
    // The new thread starts on the runner's CPU: let it run there until it
    // moved away, so that a spinning runner does not keep it off its CPU
    // until the scheduler's next tick.
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    ringer
}

/// The runner thread's CPU time (user + system) and voluntary context
/// switches so far.
fn thread_usage() -> (Duration, u64) {
    // SAFETY: `usage` is zero-initialised and filled by the kernel.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (
        tv(usage.ru_utime) + tv(usage.ru_stime),
        usage.ru_nvcsw as u64,
    )
}

/// What the counter column of a row counts.
#[derive(Clone, Copy)]
enum Count {
    /// Voluntary context switches of the runner (times it really slept).
    Sleeps,
    /// The runner's CPU time, in ns.
    CpuNs,
}

/// One run: starts the ringing thread, lets `drive` run the executor until
/// the task heard every ring, and reports latency and the counter.
fn measured(
    rings: u64,
    gap: Option<Duration>,
    after_wake: Option<&'static Parker>,
    count: Count,
    drive: impl FnOnce(Arc<Bell>),
) -> Run {
    let bell = Bell::new();
    let ringer = ring(bell.clone(), rings, gap, after_wake);
    let (cpu0, sleeps0) = thread_usage();
    drive(bell.clone());
    let (cpu1, sleeps1) = thread_usage();
    ringer.join().expect("the ringing thread");
    assert!(bell.done(), "the task heard every ring");
    let mut latencies = std::mem::take(&mut *bell.latencies.lock().expect("not poisoned"));
    assert_eq!(latencies.len() as u64, rings);
    latencies.sort_unstable();
    let at = |q: f64| Duration::from_nanos(latencies[((latencies.len() - 1) as f64 * q) as usize]);
    Run {
        counter: Some(match count {
            Count::Sleeps => sleeps1 - sleeps0,
            Count::CpuNs => (cpu1 - cpu0).as_nanos() as u64,
        }),
        latency: Some((at(0.5), at(0.99))),
        ..Run::default()
    }
}

/// The four rows (see the module docs); the 50 µs row rings a quarter as
/// often.
pub fn run(reps: usize, rings: u64) -> Vec<Results> {
    let runner = EXEC.runner().expect("the benchmark owns its executor");
    let no_spin = NO_SPIN.runner().expect("the benchmark owns its executor");
    let embassy = Embassy::new();
    let pool = pool_like::<_, 1>(&listen(Bell::new(), 0));
    let maitake = LocalScheduler::new();
    let maitake_parker: &'static Parker = Box::leak(Box::new(Parker::for_current_thread()));
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");

    let spinning = compare(
        "wake from another thread, runner spinning",
        rings as usize,
        reps,
        Some("runner sleeps"),
        vec![
            Contender {
                name: "kasync",
                run: Box::new(|| {
                    measured(rings, None, None, Count::Sleeps, |bell| {
                        runner
                            .spawn_local_detached(listen(bell.clone(), rings))
                            .expect("a slot is free");
                        while !bell.done() {
                            runner.tick(u32::MAX);
                        }
                    })
                }),
            },
            Contender {
                name: "embassy-executor (raw, TaskPool)",
                run: Box::new(|| {
                    measured(rings, None, None, Count::Sleeps, |bell| {
                        embassy.spawn(pool, || listen(bell.clone(), rings));
                        while !bell.done() {
                            embassy.poll();
                        }
                    })
                }),
            },
            Contender {
                name: "maitake LocalScheduler",
                run: Box::new(|| {
                    measured(rings, None, None, Count::Sleeps, |bell| {
                        drop(maitake.spawn(listen(bell.clone(), rings)));
                        while !bell.done() {
                            maitake.tick();
                        }
                    })
                }),
            },
        ],
    );

    let parking = |name: &'static str, rings: u64, gap: Option<Duration>, count, counter| {
        compare(
            name,
            rings as usize,
            reps,
            Some(counter),
            vec![
                Contender {
                    name: "kasync",
                    run: Box::new(|| {
                        measured(rings, gap, None, count, |bell| {
                            let task = runner
                                .spawn_local(listen(bell, rings))
                                .expect("a slot is free");
                            runner.block_on(task).expect("the task finishes");
                        })
                    }),
                },
                Contender {
                    name: "kasync, no spin before sleeping",
                    run: Box::new(|| {
                        measured(rings, gap, None, count, |bell| {
                            let task = no_spin
                                .spawn_local(listen(bell, rings))
                                .expect("a slot is free");
                            no_spin.block_on(task).expect("the task finishes");
                        })
                    }),
                },
                Contender {
                    name: "embassy-executor (raw, TaskPool)",
                    run: Box::new(|| {
                        measured(rings, gap, None, count, |bell| {
                            embassy.spawn(pool, || listen(bell.clone(), rings));
                            loop {
                                embassy.poll();
                                if bell.done() {
                                    break;
                                }
                                embassy.parker.park();
                            }
                        })
                    }),
                },
                Contender {
                    name: "maitake LocalScheduler",
                    run: Box::new(|| {
                        measured(rings, gap, Some(maitake_parker), count, |bell| {
                            drop(maitake.spawn(listen(bell.clone(), rings)));
                            loop {
                                if maitake.tick().has_remaining {
                                    continue;
                                }
                                if bell.done() {
                                    break;
                                }
                                maitake_parker.park();
                            }
                        })
                    }),
                },
                Contender {
                    name: "tokio current-thread",
                    run: Box::new(|| {
                        measured(rings, gap, None, count, |bell| {
                            let local = tokio::task::LocalSet::new();
                            let task = local.spawn_local(listen(bell, rings));
                            local.block_on(&tokio, task).expect("the task finishes");
                        })
                    }),
                },
            ],
        )
    };
    let parked = parking(
        "wake from another thread, runner parking",
        rings,
        None,
        Count::Sleeps,
        "runner sleeps",
    );
    let short = parking(
        "wake after a 2 µs gap, runner parking",
        rings,
        Some(SHORT_GAP),
        Count::CpuNs,
        "runner CPU ns",
    );
    let long = parking(
        "wake after a 50 µs gap, runner parking",
        (rings / 4).max(1),
        Some(LONG_GAP),
        Count::CpuNs,
        "runner CPU ns",
    );
    vec![spinning, parked, short, long]
}
