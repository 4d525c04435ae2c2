//! Executor micro-benchmarks: kasync against tokio's current-thread
//! runtime, measured side by side in one run.
//!
//! ```text
//! cargo bench -p host --bench executor            # full run
//! cargo bench -p host --bench executor -- --quick # a few seconds
//! ```
//!
//! Both runtimes run the *same* futures (a trivial task; a two-player
//! ping-pong over hand-written waker slots), so the difference is the
//! executor: spawning, waking, queueing and polling. Runs alternate
//! kasync/tokio (order flipped every repetition), each ratio is taken within
//! one pair, and the report gives medians with the min–max spread — a lone
//! absolute time on a shared 2-core machine means little.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use kasync::executor::{Executor, Runner, ThreadPlatform};
use kasync_tests::alloc_counter::{CountingAllocator, allocations_in};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SLOTS: usize = 1024;
static EXEC: Executor<ThreadPlatform, SLOTS, 128> = Executor::new(ThreadPlatform::new());
type KRunner = Runner<ThreadPlatform, SLOTS, 128>;

/// Tasks completed by the spawn benchmark.
static DONE: AtomicUsize = AtomicUsize::new(0);

async fn trivial_task() {
    DONE.fetch_add(1, Ordering::Relaxed);
}

/// Spawns `n` trivial tasks in batches of `SLOTS` and runs them all.
fn kasync_spawn(runner: &KRunner, n: usize) {
    DONE.store(0, Ordering::Relaxed);
    let mut spawned = 0;
    while spawned < n {
        let batch = SLOTS.min(n - spawned);
        for _ in 0..batch {
            // Detached: the handle is not needed to run the task.
            drop(EXEC.spawn(trivial_task()).expect("batch fits the slots"));
        }
        spawned += batch;
        while runner.tick(u32::MAX).ready_left {}
    }
    assert_eq!(DONE.load(Ordering::Relaxed), n);
}

fn tokio_spawn(rt: &tokio::runtime::Runtime, n: usize) {
    DONE.store(0, Ordering::Relaxed);
    rt.block_on(async {
        let mut spawned = 0;
        while spawned < n {
            let batch = SLOTS.min(n - spawned);
            for _ in 0..batch {
                drop(tokio::spawn(trivial_task()));
            }
            spawned += batch;
            while DONE.load(Ordering::Relaxed) < spawned {
                tokio::task::yield_now().await;
            }
        }
    });
    assert_eq!(DONE.load(Ordering::Relaxed), n);
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

fn kasync_ping_pong(runner: &KRunner, court: &Rc<Court>, cycles: usize) {
    let court = court.clone();
    let a = runner
        .spawn_local(player(court.clone(), 0, cycles / 2))
        .unwrap();
    let b = runner.spawn_local(player(court, 1, cycles / 2)).unwrap();
    runner.block_on(async {
        a.await.unwrap();
        b.await.unwrap();
    });
}

fn tokio_ping_pong(rt: &tokio::runtime::Runtime, court: &Rc<Court>, cycles: usize) {
    let local = tokio::task::LocalSet::new();
    let court = court.clone();
    let a = local.spawn_local(player(court.clone(), 0, cycles / 2));
    let b = local.spawn_local(player(court, 1, cycles / 2));
    local.block_on(rt, async {
        a.await.unwrap();
        b.await.unwrap();
    });
}

/// One measured repetition: wall time and allocations.
#[derive(Clone, Copy)]
struct Sample {
    time: Duration,
    allocations: usize,
}

fn measure(f: impl FnOnce()) -> Sample {
    let start = Instant::now();
    let ((), allocations) = allocations_in(f);
    Sample {
        time: start.elapsed(),
        allocations,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Row {
    name: &'static str,
    units: usize,
    ours: Vec<Sample>,
    theirs: Vec<Sample>,
}

impl Row {
    fn print(&self) {
        let ns = |s: &[Sample]| -> Vec<f64> {
            s.iter()
                .map(|x| x.time.as_nanos() as f64 / self.units as f64)
                .collect()
        };
        let (mut ours, mut theirs) = (ns(&self.ours), ns(&self.theirs));
        let mut ratios: Vec<f64> = theirs.iter().zip(&ours).map(|(t, o)| t / o).collect();
        let spread = |v: &[f64]| {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(0.0, f64::max);
            format!("{min:.1}–{max:.1}")
        };
        let allocs = |s: &[Sample]| s.iter().map(|x| x.allocations).max().unwrap_or(0);
        println!(
            "| {} | {:.1} ({}) | {:.1} ({}) | **{:.2}×** ({:.2}–{:.2}) | {} | {} |",
            self.name,
            median(&mut ours),
            spread(&ours),
            median(&mut theirs),
            spread(&theirs),
            median(&mut ratios),
            ratios.first().copied().unwrap_or(0.0),
            ratios.last().copied().unwrap_or(0.0),
            allocs(&self.ours),
            allocs(&self.theirs),
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no
    // such flag: then do one tiny round as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench") && !quick;
    let (reps, spawn_n, cycles) = if smoke {
        (1, 2_000, 2_000)
    } else if quick {
        (5, 20_000, 200_000)
    } else {
        (15, 100_000, 1_000_000)
    };

    let runner = EXEC.runner().expect("the benchmark owns the executor");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    // Warm up both (page faults, thread platform binding, tokio's lazy init).
    kasync_spawn(&runner, SLOTS);
    tokio_spawn(&rt, SLOTS);
    // The court is shared set-up, allocated once outside the measurements.
    let court = Rc::new(Court::default());
    kasync_ping_pong(&runner, &court, 1_000);
    tokio_ping_pong(&rt, &court, 1_000);

    let mut spawn = Row {
        name: "spawn + run a trivial task",
        units: spawn_n,
        ours: vec![],
        theirs: vec![],
    };
    let mut ping = Row {
        name: "ping-pong wake → poll",
        units: cycles,
        ours: vec![],
        theirs: vec![],
    };
    for rep in 0..reps {
        // Alternate which runtime goes first, so drift hits both alike.
        if rep % 2 == 0 {
            spawn.ours.push(measure(|| kasync_spawn(&runner, spawn_n)));
            spawn.theirs.push(measure(|| tokio_spawn(&rt, spawn_n)));
            ping.ours
                .push(measure(|| kasync_ping_pong(&runner, &court, cycles)));
            ping.theirs
                .push(measure(|| tokio_ping_pong(&rt, &court, cycles)));
        } else {
            spawn.theirs.push(measure(|| tokio_spawn(&rt, spawn_n)));
            spawn.ours.push(measure(|| kasync_spawn(&runner, spawn_n)));
            ping.theirs
                .push(measure(|| tokio_ping_pong(&rt, &court, cycles)));
            ping.ours
                .push(measure(|| kasync_ping_pong(&runner, &court, cycles)));
        }
    }

    println!(
        "kasync executor vs tokio current-thread — {reps} alternating repetitions, {spawn_n} tasks, {cycles} ping-pong cycles"
    );
    println!();
    println!(
        "| benchmark | kasync ns/op (min–max) | tokio ns/op (min–max) | speed-up, median (min–max) | kasync allocations per run | tokio allocations per run |"
    );
    println!("|---|---|---|---|---|---|");
    spawn.print();
    ping.print();
}
