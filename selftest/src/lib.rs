//! The timer checks that kasync's bare-metal embeddings — the demo kernel
//! (`kernel/`, x86_64, PIT) and the firmware (`firmware/`, Cortex-M4,
//! SysTick) — run against their own tick interrupt, written once.
//!
//! Each check takes the embedding's reactor [`Handle`] and a function that
//! prints a line on its console, and returns `Err` with what went wrong.
//!
//! ```
//! use core::fmt;
//! use core::sync::atomic::{AtomicU64, Ordering};
//!
//! use kasync::executor::{Executor, Spin};
//! use kasync::io::{NoIo, Reactor};
//! use kasync::time::Clock;
//!
//! /// Stands in for a tick interrupt: one tick each time it is read.
//! struct Moving(AtomicU64);
//!
//! impl Clock for Moving {
//!     fn now(&self) -> u64 {
//!         self.0.fetch_add(1, Ordering::Relaxed)
//!     }
//!     fn ticks_per_second(&self) -> u64 {
//!         1_000
//!     }
//! }
//!
//! static CLOCK: Moving = Moving(AtomicU64::new(0));
//! static EXECUTOR: Executor<Spin, 4> = Executor::new(Spin);
//!
//! fn print(line: fmt::Arguments<'_>) {
//!     println!("{line}");
//! }
//!
//! let reactor = Box::pin(Reactor::<_, _, 1, 8>::new(NoIo::new(&Spin), &CLOCK));
//! let io = reactor.as_ref().handle();
//! let runner = EXECUTOR.runner().unwrap();
//! let checks = runner.block_on_with(&*reactor, async {
//!     let lines = kasync_selftest::ticker(io, 3, 10, print).await?;
//!     let fired_at = kasync_selftest::timeouts(io, print).await?;
//!     Ok::<_, &str>((lines, fired_at))
//! });
//! let (lines, fired_at) = checks.unwrap();
//! assert_eq!(lines, 3);
//! assert!(fired_at >= 20);
//! ```
#![no_std]

use core::fmt;
use core::future::pending;
use core::time::Duration;

use kasync::io::{Driver, Handle};
use kasync::time::Clock;

/// Sleeps `lines` times until `every`, `2 × every`, … ticks after it
/// started, printing `tick line N at +T ticks (due +D)` after each; fails
/// if a sleep ended early or out of order. Returns `lines`.
pub async fn ticker<D: Driver, C: Clock, const M: usize, const K: usize>(
    io: Handle<'_, D, C, M, K>,
    lines: u64,
    every: u64,
    print: fn(fmt::Arguments<'_>),
) -> Result<u64, &'static str> {
    let timers = io.timers();
    let start = timers.now();
    let mut last = 0;
    for line in 1..=lines {
        let due = line * every;
        timers.sleep_until(start + due).await;
        let at = timers.now() - start;
        print(format_args!("tick line {line} at +{at} ticks (due +{due})"));
        if at < due || at < last {
            return Err("a sleep ended early or out of order");
        }
        last = at;
    }
    Ok(lines)
}

/// A 20 ms timeout around a future that never completes fires (not
/// early), and prints `timeout fired at +T ticks (limit 20)`; a 100 ms
/// timeout around a 5 ms sleep does not fire. Returns when the first
/// fired, in ticks after the check started (the clock at 1 kHz).
pub async fn timeouts<D: Driver, C: Clock, const M: usize, const K: usize>(
    io: Handle<'_, D, C, M, K>,
    print: fn(fmt::Arguments<'_>),
) -> Result<u64, &'static str> {
    let start = io.timers().now();
    if io
        .timeout(Duration::from_millis(20), pending::<()>())
        .await
        .is_ok()
    {
        return Err("a timeout around a pending future did not fire");
    }
    let fired_at = io.timers().now() - start;
    if fired_at < 20 {
        return Err("a timeout fired early");
    }
    print(format_args!(
        "timeout fired at +{fired_at} ticks (limit 20)"
    ));
    if io
        .timeout(
            Duration::from_millis(100),
            io.sleep(Duration::from_millis(5)),
        )
        .await
        .is_err()
    {
        return Err("a timeout fired although its future finished first");
    }
    Ok(fired_at)
}
