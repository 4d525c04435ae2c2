//! Idle connections: as many connections as the descriptor limit allows,
//! held open on one server thread (kasync, tokio current-thread, monoio,
//! each the echo server of the echo benchmark, in a fresh process pinned to
//! CPU 0), while 64 active connections echo at a fixed rate. Reported: the
//! server's resident memory per idle connection, the time to open them all
//! and have each answer one byte, and the active connections' latency with
//! the idle crowd next to the same server's latency without it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kasync_host::Runtime;
use kasync_tests::crowd::{connect_from, raise_descriptor_limit, source_for};

use crate::cpu::{cpus, pin_to};
use crate::echo::{client, free_port, percentile, start_server};
use crate::harness::{median, median_and_spread as spread};

/// Active connections and their offered load.
const ACTIVE: usize = 64;
const ACTIVE_RATE: u64 = 20_000;
/// Loopback source addresses the idle clients are spread over.
const SOURCES: u8 = 8;

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> u64 {
    crate::cpu::rss_kib(&pid.to_string())
}

/// What one run against one server measured.
struct Sample {
    /// Server memory per idle connection, bytes.
    bytes_per_conn: f64,
    /// Seconds to open every idle connection and get one byte back on each.
    accept_s: f64,
    /// Active p50 and p99 without the crowd, µs.
    alone: (f64, f64),
    /// Active p50 and p99 with the crowd, µs.
    crowded: (f64, f64),
}

/// Latency percentiles of the 64 paced active connections, µs.
fn active_latency(rt: &Runtime, addr: SocketAddr, requests: usize) -> (f64, f64) {
    let (_, mut latencies) = client(rt, addr, ACTIVE, requests, 100, Some(ACTIVE_RATE))
        .unwrap_or_else(|e| panic!("active connections: {e}"));
    latencies.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (
        us(percentile(&latencies, 0.5)),
        us(percentile(&latencies, 0.99)),
    )
}

/// Opens `n` connections to `addr`, then has each echo one byte.
fn open_crowd(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut crowd = Vec::with_capacity(n);
    for i in 0..n {
        let source = source_for(i, SOURCES);
        let stream = connect_from(source, addr)
            .unwrap_or_else(|e| panic!("idle connection {i} from {source}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        crowd.push(stream);
    }
    for (i, stream) in crowd.iter_mut().enumerate() {
        stream
            .write_all(b"x")
            .unwrap_or_else(|e| panic!("idle connection {i}: {e}"));
    }
    for (i, stream) in crowd.iter_mut().enumerate() {
        let mut byte = [0u8];
        stream
            .read_exact(&mut byte)
            .unwrap_or_else(|e| panic!("idle connection {i} was not served: {e}"));
    }
    crowd
}

fn one_run(rt: &Runtime, kind: &str, n: usize, requests: usize) -> Sample {
    let addr = free_port();
    let mut server = start_server(kind, addr);
    let alone = active_latency(rt, addr, requests);
    let before = rss_kib(server.id());
    let start = Instant::now();
    let crowd = open_crowd(addr, n);
    let accept_s = start.elapsed().as_secs_f64();
    let after = rss_kib(server.id());
    let crowded = active_latency(rt, addr, requests);
    drop(crowd);
    let _ = server.kill();
    let _ = server.wait();
    Sample {
        bytes_per_conn: after.saturating_sub(before) as f64 * 1024.0 / n as f64,
        accept_s,
        alone,
        crowded,
    }
}

/// Runs the benchmark and returns its Markdown section, with the rows for
/// the chart (kasync ahead by, per run: the peer's figure over kasync's).
pub fn run(reps: usize, quick: bool) -> (String, Vec<(String, f64)>) {
    // Clients and servers each hold one descriptor per connection; leave
    // room for the runtime's own.
    let wanted = if quick { 2_000 } else { 19_000 };
    let limit = match raise_descriptor_limit(wanted as u64 + 512) {
        Ok(limit) => limit,
        Err(why) => {
            return (
                format!("## Idle connections\n\nSkipped: {why}.\n\n"),
                Vec::new(),
            );
        }
    };
    let n = wanted.min(limit as usize - 512);
    let requests = if quick { 200 } else { 2_000 };
    let kinds = [
        ("kasync", "kasync"),
        ("tokio", "tokio current-thread"),
        ("monoio", "monoio"),
    ];
    let samples: Vec<Vec<Sample>> = std::thread::scope(|s| {
        s.spawn(|| {
            if cpus() > 1 {
                let _ = pin_to(1);
            }
            let rt = Runtime::new().expect("io_uring");
            let mut samples: Vec<Vec<Sample>> = kinds.iter().map(|_| Vec::new()).collect();
            for rep in 0..reps {
                // Alternate the order every repetition.
                let mut order: Vec<usize> = (0..kinds.len()).collect();
                if rep % 2 == 1 {
                    order.reverse();
                }
                for k in order {
                    samples[k].push(one_run(&rt, kinds[k].0, n, requests));
                }
            }
            samples
        })
        .join()
        .expect("the idle-connection client")
    });
    let mut out = format!(
        "## Idle connections\n\n{n} idle connections (the descriptor limit is {limit}; clients \
         in this process, spread over {SOURCES} loopback source addresses) held open on one \
         server thread, next to {ACTIVE} active connections echoing 100 B at {} k req/s in \
         all. Memory: the server's resident set before and after the crowd, per connection \
         (kernel socket memory is not in it). Accept: opening every idle connection and getting \
         one byte back on each. Latency of the active connections, µs, with the crowd and \
         alone; the last column is p99 with the crowd over p99 alone. Medians of {reps} \
         alternating runs, min–max in parentheses.\n\n",
        ACTIVE_RATE / 1000
    );
    out += "| server | bytes per idle connection | accept all, s | p50 / p99 alone, µs | p50 / p99 with the crowd, µs | p99 crowd ÷ alone |\n";
    out += "|---|---|---|---|---|---|\n";
    let mut chart = Vec::new();
    for (k, peer) in [(1, "tokio"), (2, "monoio")] {
        let mut ratios: Vec<f64> = samples[k]
            .iter()
            .zip(&samples[0])
            .map(|(p, kasync)| p.bytes_per_conn / kasync.bytes_per_conn)
            .collect();
        chart.push((
            format!("idle connections: memory per connection vs {peer}"),
            median(&mut ratios),
        ));
    }
    for ((_, name), runs) in kinds.iter().zip(samples) {
        let ratio: Vec<f64> = runs.iter().map(|r| r.crowded.1 / r.alone.1).collect();
        out += &format!(
            "| {name} | {} | {} | {} / {} | {} / {} | {}× |\n",
            spread(runs.iter().map(|r| r.bytes_per_conn).collect(), 0),
            spread(runs.iter().map(|r| r.accept_s).collect(), 2),
            spread(runs.iter().map(|r| r.alone.0).collect(), 0),
            spread(runs.iter().map(|r| r.alone.1).collect(), 0),
            spread(runs.iter().map(|r| r.crowded.0).collect(), 0),
            spread(runs.iter().map(|r| r.crowded.1).collect(), 0),
            spread(ratio, 2),
        );
    }
    (out + "\n", chart)
}
