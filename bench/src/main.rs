//! `kasync-bench`: kasync side by side with its peers.
//!
//! ```text
//! kasync-bench [executor|nop|file|echo|http|idle|timers|all] [--quick] [--report FILE]
//! ```
//!
//! Each benchmark runs every contender in alternation, several times, and
//! reports medians, the min–max spread, and per-repetition ratios against
//! kasync. `--quick` runs small sizes in seconds (what CI does to keep the
//! suite working); `--report` writes the Markdown report to a file.

mod bridge_cost;
mod cpu;
mod cross_wake;
mod echo;
mod embassy;
mod epoll_client;
mod executor;
mod file;
mod harness;
mod http;
mod idle;
mod nop;
mod parker;
mod timers;

use std::process::ExitCode;

use kasync_tests::alloc_counter::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const USAGE: &str = "usage: kasync-bench [executor|nop|file|echo|http|idle|timers|all] [--quick] [--report FILE [--chart FILE.svg]]";

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(args) => args,
        Err(bad) => return usage(&format!("the argument {bad:?} is not valid UTF-8")),
    };
    // Either echo client on its own, for profiling a server by hand:
    // `kasync-bench client-epoll|client-kasync ADDR CONNS REQUESTS SIZE`.
    if let [kind, addr, conns, requests, size] = args.as_slice()
        && (kind == "client-epoll" || kind == "client-kasync")
    {
        let (Ok(addr), Ok(conns), Ok(requests), Ok(size)) =
            (addr.parse(), conns.parse(), requests.parse(), size.parse())
        else {
            return usage("client-epoll|client-kasync ADDR CONNS REQUESTS SIZE");
        };
        // Each connection holds a buffer of SIZE bytes and a latency per
        // request: bounds that fit a machine, checked before connecting.
        let (conns, requests, size): (usize, usize, usize) = (conns, requests, size);
        if !(1..=100_000).contains(&conns)
            || !(1..=100_000_000).contains(&requests)
            || !(1..=1 << 20).contains(&size)
            || conns.checked_mul(requests).is_none_or(|n| n > 100_000_000)
        {
            return usage(
                "client: CONNS 1..=100000, REQUESTS 1..=100000000 per connection (at most 100000000 in all), SIZE 1..=1048576 bytes",
            );
        }
        let outcome = if kind == "client-epoll" {
            epoll_client::run(addr, conns, requests, size, None)
        } else {
            kasync_host::Runtime::new()
                .map_err(|e| e.to_string())
                .and_then(|rt| echo::client(&rt, addr, conns, requests, size, None))
        };
        return match outcome {
            Ok((wall, _)) => {
                println!("{} requests in {wall:?}", conns * requests);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kasync-bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // The echo benchmark runs its servers as child processes of this binary.
    if let [kind, addr] = args.as_slice() {
        let serve = match kind.as_str() {
            "serve-kasync" => Some(echo::serve_kasync as fn(_) -> _),
            "serve-kasync-poll" => Some(echo::serve_kasync_poll as fn(_) -> _),
            "serve-tokio" => Some(echo::serve_tokio as fn(_) -> _),
            "serve-monoio" => Some(echo::serve_monoio as fn(_) -> _),
            "serve-hyper-tokio" => Some(http::serve_hyper_tokio as fn(_) -> _),
            "serve-http-tokio" => Some(http::serve_http_tokio as fn(_) -> _),
            "serve-auto-kasync" => Some(http::serve_auto_kasync as fn(_) -> _),
            "serve-auto-tokio" => Some(http::serve_auto_tokio as fn(_) -> _),
            _ => None,
        };
        let timers = match kind.as_str() {
            "timers-kasync" => Some(timers::child_kasync as fn(_) -> _),
            "timers-tokio" => Some(timers::child_tokio as fn(_) -> _),
            _ => None,
        };
        if let Some(child) = timers {
            let Ok(n) = addr.parse() else {
                return usage("bad timer count");
            };
            return match child(n) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kasync-bench: timers: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        if let Some(serve) = serve {
            let Ok(addr) = addr.parse() else {
                return usage("bad server address");
            };
            return match serve(addr) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kasync-bench: server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let mut suite = "all".to_owned();
    let mut suite_named = false;
    let mut quick = false;
    let mut report = None;
    let mut chart = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--report" => match it.next() {
                Some(path) => report = Some(path.clone()),
                None => return usage("--report needs a FILE"),
            },
            "--chart" => match it.next() {
                Some(path) => chart = Some(path.clone()),
                None => return usage("--chart needs a FILE"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "executor" | "nop" | "file" | "echo" | "http" | "idle" | "timers" | "all" => {
                if suite_named {
                    return usage(&format!(
                        "one suite at a time ({suite:?} and {arg:?} given); `all` runs every suite"
                    ));
                }
                suite_named = true;
                suite = arg.clone()
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    // A report that cannot be written is said before the suites run, not
    // after (opening creates the file, which the end of the run fills).
    for path in report.iter().chain(chart.iter()) {
        if let Err(e) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            eprintln!("kasync-bench: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let (reps, spawns, cycles, nops, rings) = if quick {
        (3, 5_000, 20_000, 5_000, 2_000)
    } else {
        (11, 100_000, 1_000_000, 200_000, 20_000)
    };
    let (file_size, file_reads) = if quick {
        (32u64 << 20, 5_000)
    } else {
        (256u64 << 20, 100_000)
    };

    let mut out = String::new();
    let mut charted: Vec<(String, f64)> = Vec::new();
    out += &format!("# kasync benchmarks\n\n{}\n", machine());
    out += &format!(
        "Mode: {}; {reps} alternating repetitions per benchmark, warm-up excluded.\n\n",
        if quick {
            "quick (sizes too small to quote)"
        } else {
            "full"
        }
    );
    // The in-process benchmarks (not file, whose tokio::fs contender needs
    // its thread pool on other CPUs) run with the thread pinned.
    let pinned = matches!(suite.as_str(), "executor" | "nop" | "all")
        .then(cpu::Pinned::to_last_cpu)
        .flatten();
    if pinned.is_some() {
        out += "Executor and no-op benchmarks: the measuring thread pinned to one CPU.\n\n";
    }
    if suite == "executor" || suite == "all" {
        out += "## Executor\n\n";
        out += &harness::Results::header(None, false, false);
        for r in executor::run(reps, spawns, cycles) {
            out += &r.markdown();
        }
        out += "\n";
        out += "### Wakes from another thread\n\n";
        out += "A task waits on a doorbell that a thread on the other CPU rings as soon \
                as the task waits again; latency is from the ring to the task running. \
                Spinning: the run loop is polled in a busy loop. Parking: each executor's \
                own idle policy (kasync's `ThreadPlatform` spins up to 5 µs before it sleeps; \
                a row without that spin beside it). Gaps: the bell rings 2 µs or 50 µs \
                after the task waits; the counter is the runner thread's CPU time per wake.\n\n";
        for r in cross_wake::run(reps, rings) {
            out += &harness::Results::header(r.counter, true, false);
            out += &r.markdown();
            out += "\n";
        }
    }
    if suite == "nop" || suite == "all" {
        out += "## No-op round trip through io_uring\n\n";
        out += "Two hand-written loops keep the same number of no-ops in flight with one \
                `io_uring_enter` per turn: one on a ring made by `IoUring::new` (no setup \
                flags, what a hand-written loop starts from), one on a ring set up exactly \
                like kasync's (the flags above, its descriptor registered) — the ceiling for \
                kasync's own cost.\n\n";
        out += &harness::Results::header(Some("io_uring_enter"), false, false);
        for r in nop::run(reps, nops) {
            out += &r.markdown();
        }
        out += "\n";
    }
    drop(pinned);
    if suite == "file" || suite == "all" {
        out += &format!(
            "## 4 KiB random reads, page-cached {} MiB file\n\n",
            file_size >> 20
        );
        let (results, note) = file::run(reps, file_size, file_reads);
        out += &harness::Results::header(None, false, false);
        for r in results {
            out += &r.markdown();
            charted.extend(r.ratios());
        }
        if let Some(note) = note {
            out += &format!("\nNote: {note}.\n");
        }
        out += "\n";
    }
    if suite == "http" || suite == "all" {
        out += &http::run(if quick { 1 } else { 5 }, if quick { 1 } else { 5 });
    }
    if suite == "echo" || suite == "all" {
        out += "## TCP echo over loopback\n\nServer pinned to CPU 0 in a fresh process per run, client pinned to CPU 1; write-then-read ping-pong per connection. Every configuration is run with two clients: kasync's own (on io_uring), and an independent one — a single-threaded level-triggered epoll loop written against the system calls, on no runtime under test. The servers: kasync on io_uring (the reference), kasync on its readiness backend (epoll through mio), tokio current-thread (epoll), monoio (io_uring). ns/op is wall time per request (1 / requests per second) — meaningful at saturation; at a fixed offered load (\"k req/s offered\") the ratio compares the server CPU time per request instead (\"by server CPU ns\"), the headline on 2 vCPUs where the client saturates first. The last column splits the server's CPU time between user space and the kernel (clock ticks summed over the repetitions): the kernel's share — wake-ups and the TCP stack, the same work whichever runtime serves — bounds what a runtime can save.\n\n";
        out += &harness::Results::header(Some("server CPU ns"), true, true);
        let saturated = |size, conns| echo::Config {
            size,
            conns,
            rate: None,
        };
        let paced = |size, conns| echo::Config {
            size,
            conns,
            rate: Some(20_000),
        };
        let configs: Vec<echo::Config> = if quick {
            vec![saturated(100, 16), paced(100, 16)]
        } else {
            [1, 64, 256]
                .into_iter()
                .flat_map(|conns| [saturated(100, conns), saturated(1024, conns)])
                .chain([paced(100, 64), paced(1024, 64)])
                .collect()
        };
        let results = echo::run(reps, &configs, if quick { 2_000 } else { 40_000 });
        for r in &results {
            out += &r.markdown();
            charted.extend(r.ratios());
        }
        out += "\n### io_uring vs epoll, from the runs above\n\nServer CPU time per request and time per request, as ratios taken within each repetition, median (min–max). \"epoll vs tokio\": kasync's readiness backend over tokio (both epoll; ≤ 1.10 is the goal); \"epoll vs io_uring\": kasync's readiness backend over kasync on io_uring (> 1: io_uring is ahead by that much).\n\n| benchmark | server CPU per request, epoll vs tokio | server CPU per request, epoll vs io_uring | time per request, epoll vs tokio | time per request, epoll vs io_uring |\n|---|---|---|---|---|\n";
        let show = |(m, lo, hi): (f64, f64, f64)| format!("{m:.2} ({lo:.2}–{hi:.2})");
        for r in &results {
            out += &format!(
                "| {} | {} | {} | {} | {} |\n",
                r.name,
                show(r.counter_ratio(echo::POLL, echo::TOKIO)),
                show(r.counter_ratio(echo::POLL, 0)),
                show(r.time_ratio(echo::POLL, echo::TOKIO)),
                show(r.time_ratio(echo::POLL, 0)),
            );
        }
        out += "\n";
        if echo::have_strace() {
            out += "### System calls per request\n\nEach server traced with `strace -f -c` over one run driven by the epoll-loop client (connection set-up spread over the run). Tracing slows every server alike and changes its timing (more requests pile up per wake-up, so io_uring's batches grow); the counts, not the times, are the result.\n\n| benchmark | server | system calls per request | the main ones, per request |\n|---|---|---|---|\n";
            let runs: &[(usize, usize, usize)] = if quick {
                &[(100, 16, 200)]
            } else {
                &[(100, 1, 5_000), (100, 64, 300), (1024, 64, 300)]
            };
            for &(size, conns, requests) in runs {
                for counted in echo::count_syscalls(conns, requests, size)
                    .into_iter()
                    .flatten()
                {
                    let main: Vec<String> = counted
                        .top
                        .iter()
                        .map(|(call, per)| format!("{call} {per:.2}"))
                        .collect();
                    out += &format!(
                        "| echo {size} B, {conns} connection{} | {} | {:.2} | {} |\n",
                        if conns == 1 { "" } else { "s" },
                        counted.server,
                        counted.total,
                        main.join(", ")
                    );
                }
            }
            out += "\n";
        } else {
            out += "(strace is not installed: the system-call counts are missing.)\n\n";
        }
    }
    if suite == "idle" || suite == "all" {
        let (section, rows) = idle::run(if quick { 1 } else { 3 }, quick);
        out += &section;
        charted.extend(rows);
    }
    if suite == "timers" || suite == "all" {
        let (section, rows) = timers::run(
            if quick { 1 } else { 5 },
            if quick { 20_000 } else { 1_000_000 },
        );
        out += &section;
        charted.extend(rows);
    }
    print!("{out}");
    if let Some(path) = chart {
        let svg = harness::svg_chart(
            "kasync faster by (time per operation, or server CPU per request at an offered load; > 1× is kasync ahead)",
            &charted,
        );
        if let Err(e) = std::fs::write(&path, svg) {
            eprintln!("kasync-bench: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = report {
        if let Err(e) = std::fs::write(&path, &out) {
            eprintln!("kasync-bench: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage(message: &str) -> ExitCode {
    eprintln!("kasync-bench: {message}\n{USAGE}");
    ExitCode::from(2)
}

/// Kernel, CPU and ring flags, for the report.
fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A runtime's flags: ring setup plus what its driver set up after.
    let flags = kasync_host::Builder::new()
        .backend(kasync_host::Backend::Uring)
        .build()
        .map(|rt| rt.flags().map_or_else(|| "none".into(), |f| f.to_string()))
        .unwrap_or_else(|e| format!("io_uring unavailable: {e}"));
    format!(
        "Machine: Linux {}, {cpus} × {cpu}; ring flags {flags}.\n",
        kernel.trim()
    )
}
