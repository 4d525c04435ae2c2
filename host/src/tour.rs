//! A short tour of the core runtime that runs for real and reports what it
//! saw: static task slots, back-pressure when they are full, wakes from
//! another thread, and an interrupt-style queue.

use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use kasync::IrqQueue;
use kasync::executor::{Executor, SpawnError, ThreadPlatform};

/// Task slots of the tour's executor: deliberately few, so spawning more
/// tasks than that shows the back-pressure path.
const SLOTS: usize = 16;
static EXECUTOR: Executor<ThreadPlatform, SLOTS, 256> = Executor::new(ThreadPlatform::new());
/// Stands in for a device's interrupt queue.
static DEVICE: IrqQueue<u32, 64> = IrqQueue::new();

/// What the tour observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TourReport {
    /// Tasks spawned in the spawn stage.
    pub tasks_run: u32,
    /// Times a spawn met a full executor and waited for a slot.
    pub spawn_waits: u32,
    /// Wake-ups delivered from another thread to the runner.
    pub cross_thread_wakes: u32,
    /// Events a "device" thread delivered through the `IrqQueue`.
    pub events_received: u32,
    /// Events the device dropped because the queue was full.
    pub events_dropped: usize,
    /// Wall time of the whole tour.
    pub elapsed: Duration,
}

impl fmt::Display for TourReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tasks:        {} run through {SLOTS} static slots ({} spawns waited for a free slot)",
            self.tasks_run, self.spawn_waits
        )?;
        writeln!(
            f,
            "wakes:        {} delivered from another thread (the runner parks between them)",
            self.cross_thread_wakes
        )?;
        writeln!(
            f,
            "irq queue:    {} events received, {} dropped (queue full, counted)",
            self.events_received, self.events_dropped
        )?;
        write!(f, "took:         {:.1?}", self.elapsed)
    }
}

/// Why the tour could not run.
#[derive(Debug)]
pub enum TourError {
    /// The tour's executor is already being run (the tour runs once per
    /// process).
    Busy,
    /// A stage finished with a result that is not what it must be.
    Mismatch(String),
}

impl fmt::Display for TourError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TourError::Busy => f.write_str("the tour is already running in this process"),
            TourError::Mismatch(what) => write!(f, "tour check failed: {what}"),
        }
    }
}

impl std::error::Error for TourError {}

/// Runs the tour on the current thread (plus helper threads).
///
/// ```no_run
/// // What `host` runs (it takes a few seconds).
/// let report = kasync_host::tour::run()?;
/// println!("{report:?}");
/// # Ok::<(), kasync_host::tour::TourError>(())
/// ```
pub fn run() -> Result<TourReport, TourError> {
    let start = Instant::now();
    let runner = EXECUTOR.runner().map_err(|_| TourError::Busy)?;

    // 1. Many more tasks than slots: a full executor is an error value that
    //    the caller handles by letting tasks finish, never a panic.
    let total = 1_000u32;
    let sum = Arc::new(AtomicU32::new(0));
    let mut spawn_waits = 0;
    let mut spawned = 0;
    while spawned < total {
        let s = sum.clone();
        let i = spawned;
        match EXECUTOR.spawn(async move { s.fetch_add(i, Ordering::Relaxed) }) {
            Ok(handle) => {
                drop(handle); // detached
                spawned += 1;
            }
            Err(SpawnError::Full) => {
                spawn_waits += 1;
                while runner.tick(u32::MAX).ready_left {}
            }
            Err(other) => return Err(TourError::Mismatch(other.to_string())),
        }
    }
    while runner.tick(u32::MAX).ready_left {}
    let expected = total * (total - 1) / 2;
    if sum.load(Ordering::Relaxed) != expected {
        return Err(TourError::Mismatch(format!(
            "tasks summed to {} instead of {expected}",
            sum.load(Ordering::Relaxed)
        )));
    }

    // 2. Wakes from another thread: the runner parks, the other thread
    //    moves a counter and wakes it, 1 000 times.
    let rounds = 1_000u32;
    let turn = Arc::new(AtomicU32::new(0));
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (t, w) = (turn.clone(), slot.clone());
    let waker_thread = std::thread::spawn(move || {
        for round in 0..rounds {
            while t.load(Ordering::Acquire) != 2 * round {
                std::thread::yield_now();
            }
            t.store(2 * round + 1, Ordering::Release);
            loop {
                if let Some(waker) = w.lock().expect("waker slot").take() {
                    waker.wake();
                    break;
                }
                std::thread::yield_now();
            }
        }
    });
    let cross_thread_wakes = runner.block_on(async {
        let mut woken = 0;
        for round in 0..rounds {
            poll_fn(|cx| {
                *slot.lock().expect("waker slot") = Some(cx.waker().clone());
                if turn.load(Ordering::Acquire) == 2 * round + 1 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            woken += 1;
            turn.store(2 * round + 2, Ordering::Release);
        }
        woken
    });
    waker_thread
        .join()
        .map_err(|_| TourError::Mismatch("waker thread panicked".into()))?;

    // 3. An interrupt-style producer feeds a 64-place queue; the consumer
    //    task receives until the end marker, overflow is counted.
    // Bursts of 80 into 64 places: a burst that outruns the consumer loses
    // events, and the queue says how many.
    let (bursts, burst) = (100u32, 80u32);
    let events = bursts * burst;
    let device = std::thread::spawn(move || {
        for b in 0..bursts {
            for i in 0..burst {
                let _ = DEVICE.push(b * burst + i + 1);
            }
            while !DEVICE.is_empty() {
                std::thread::yield_now();
            }
        }
        while DEVICE.push(u32::MAX).is_err() {
            std::thread::yield_now();
        }
    });
    let consumer = EXECUTOR
        .spawn(async {
            let mut received = 0u32;
            while DEVICE.recv().await != u32::MAX {
                received += 1;
            }
            received
        })
        .map_err(|e| TourError::Mismatch(e.to_string()))?;
    let events_received = runner
        .block_on(consumer)
        .map_err(|e| TourError::Mismatch(e.to_string()))?;
    device
        .join()
        .map_err(|_| TourError::Mismatch("device thread panicked".into()))?;
    let events_dropped = DEVICE.dropped();
    // Every event was either received or counted as dropped; the end
    // marker's failed retries are counted too.
    if (events_received as usize) + events_dropped < events as usize {
        return Err(TourError::Mismatch(format!(
            "{events_received} received + {events_dropped} dropped < {events} sent"
        )));
    }

    Ok(TourReport {
        tasks_run: total,
        spawn_waits,
        cross_thread_wakes,
        events_received,
        events_dropped,
        elapsed: start.elapsed(),
    })
}
