//! Timers at scale: a million pending sleeps on one thread, kasync's timer
//! wheel next to tokio's. Each run is a fresh child process (so that memory
//! freed by an earlier run does not hide what this one takes): it makes
//! `n` sleeps that all end within one millisecond of a common deadline,
//! held in a `FuturesUnordered` (the same for both), polls each once (the
//! insert), then waits for all of them (the fire). Reported per sleep:
//! insert time, fire time after the deadline, and resident memory (the
//! sleep and the `FuturesUnordered` node that holds it).

use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::harness::{median, median_and_spread as spread};

/// Time from the start of the inserts to the common deadline: long enough
/// for every insert to be done before the first sleep ends.
const LEAD: Duration = Duration::from_millis(1500);

/// This process's resident set, in KiB.
fn own_rss_kib() -> u64 {
    crate::cpu::rss_kib("self")
}

/// Polls `stream`'s futures once each (`FuturesUnordered` polls every new
/// future on its first `poll_next`).
async fn poll_all_once<S: futures_util::Stream + Unpin>(stream: &mut S) {
    struct Once<'a, S>(&'a mut S);
    impl<S: futures_util::Stream + Unpin> Future for Once<'_, S> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let _ = self.0.poll_next_unpin(cx);
            Poll::Ready(())
        }
    }
    Once(stream).await
}

/// What a child prints: insert ns per sleep, fire ns per sleep after the
/// deadline, bytes per sleep.
fn report(n: usize, insert: Duration, fire: Duration, rss_kib: u64) -> String {
    format!(
        "{:.1} {:.1} {:.0}",
        insert.as_nanos() as f64 / n as f64,
        fire.as_nanos() as f64 / n as f64,
        rss_kib as f64 * 1024.0 / n as f64
    )
}

/// The kasync child: `n` sleeps on the runtime's timer wheel.
pub fn child_kasync(n: usize) -> std::io::Result<String> {
    let rt = kasync_host::Runtime::new().map_err(std::io::Error::other)?;
    Ok(rt.block_on(async move {
        let timers = kasync_host::io().timers();
        let rss = own_rss_kib();
        let start = Instant::now();
        let deadline = timers.now() + timers.ticks(LEAD);
        let mut set: FuturesUnordered<_> = (0..n)
            .map(|i| timers.sleep_until(deadline + (i % 1000) as u64))
            .collect();
        poll_all_once(&mut set).await;
        let insert = start.elapsed();
        let rss = own_rss_kib().saturating_sub(rss);
        while set.next().await.is_some() {}
        let fire = start.elapsed().saturating_sub(LEAD);
        report(n, insert, fire, rss)
    }))
}

/// The tokio child: `n` sleeps on tokio's current-thread timer.
pub fn child_tokio(n: usize) -> std::io::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    Ok(rt.block_on(async move {
        let rss = own_rss_kib();
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + LEAD;
        let mut set: FuturesUnordered<_> = (0..n)
            .map(|i| {
                // Unconstrained: tokio's cooperative budget would make the
                // `FuturesUnordered` re-poll its whole set once per 128
                // fired sleeps (quadratic in the set), which measures the
                // harness, not the timer.
                Box::pin(tokio::task::unconstrained(tokio::time::sleep_until(
                    deadline + Duration::from_micros((i % 1000) as u64),
                )))
            })
            .collect();
        poll_all_once(&mut set).await;
        let insert = start.elapsed();
        let rss = own_rss_kib().saturating_sub(rss);
        while set.next().await.is_some() {}
        let fire = start.elapsed().saturating_sub(LEAD);
        report(n, insert, fire, rss)
    }))
}

/// One child run: `[insert ns, fire ns, bytes]` per sleep.
fn one_run(kind: &str, n: usize) -> [f64; 3] {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .args([&format!("timers-{kind}"), &n.to_string()])
        .output()
        .expect("start the timer child");
    assert!(
        out.status.success(),
        "the {kind} timer child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert_eq!(v.len(), 3, "the {kind} timer child printed {text:?}");
    [v[0], v[1], v[2]]
}

/// Runs the benchmark and returns its Markdown section, with the rows for
/// the chart.
pub fn run(reps: usize, n: usize) -> (String, Vec<(String, f64)>) {
    let kinds = [("kasync", "kasync"), ("tokio", "tokio current-thread")];
    let mut samples: Vec<Vec<[f64; 3]>> = vec![Vec::new(); kinds.len()];
    for rep in 0..reps {
        let mut order: Vec<usize> = (0..kinds.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for k in order {
            samples[k].push(one_run(kinds[k].0, n));
        }
    }
    let mut out = format!(
        "## Timers at scale\n\n{n} pending sleeps on one thread, all ending within 1 ms of one \
         deadline, held in a `FuturesUnordered` (the same for both): insert (first poll) and \
         fire (after the deadline) time per sleep, and resident memory per sleep (the sleep \
         and its `FuturesUnordered` node). Each run a fresh process; medians of {reps} \
         alternating runs, min–max in parentheses; ratios within each run, > 1× is kasync \
         ahead.\n\n"
    );
    out += "| runtime | insert, ns per sleep | fire, ns per sleep | bytes per sleep |\n";
    out += "|---|---|---|---|\n";
    for ((_, name), runs) in kinds.iter().zip(&samples) {
        out += &format!(
            "| {name} | {} | {} | {} |\n",
            spread(runs.iter().map(|r| r[0]).collect(), 1),
            spread(runs.iter().map(|r| r[1]).collect(), 1),
            spread(runs.iter().map(|r| r[2]).collect(), 0),
        );
    }
    let ratio = |i: usize| {
        spread(
            samples[1]
                .iter()
                .zip(&samples[0])
                .map(|(t, k)| t[i] / k[i])
                .collect(),
            2,
        )
    };
    out += &format!(
        "| kasync ahead by | {}× | {}× | {}× |\n\n",
        ratio(0),
        ratio(1),
        ratio(2)
    );
    let chart = ["insert", "fire", "memory"]
        .iter()
        .enumerate()
        .map(|(i, what)| {
            let mut r: Vec<f64> = samples[1]
                .iter()
                .zip(&samples[0])
                .map(|(t, k)| t[i] / k[i])
                .collect();
            (format!("{n} timers: {what} vs tokio"), median(&mut r))
        })
        .collect();
    (out, chart)
}
