//! HTTP/1.1 keep-alive "hello" under `wrk`: hyper 1.x on kasync (the
//! `hyper` example: through `Compat` and the `tokio-io` feature) against
//! hyper on tokio's current-thread runtime, and the hand-written server
//! (the `http` example) against the same server written for tokio. Each
//! server runs in a fresh process pinned to CPU 0, `wrk` (one thread)
//! pinned to CPU 1; the contenders alternate. Reported: requests/s and the
//! server's CPU time per request, with ratios taken within each
//! repetition.
//!
//! The kasync servers are the examples' binaries (build them with
//! `cargo build --release -p host --examples --features tokio-io`), so
//! what is measured is what the examples show.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cpu::{cpus, pin_to};
use crate::harness::median_and_spread;

/// Where the examples' binaries are (next to this binary's directory).
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

/// `true` if `wrk` runs here.
pub fn have_wrk() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A server to measure: a program that takes the address as its last
/// argument.
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
}

/// Starts `server` on `addr`, pinned to CPU 0, and waits until it accepts.
pub(crate) fn start(server: &Server, addr: SocketAddr) -> Result<Child, String> {
    let pin = cpus() > 1;
    let mut command = Command::new(&server.program);
    command
        .args(&server.args)
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only `sched_setaffinity` runs, on a
    // stack-allocated set.
    unsafe {
        command.pre_exec(move || if pin { pin_to(0) } else { Ok(()) });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the {} server: {e}", server.name))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            return Err(format!("the {} server did not start", server.name));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(child)
}

/// CPU time the process has used, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One `wrk` run: requests/s and the server's CPU ns per request.
fn measure(child: &Child, addr: SocketAddr, conns: usize, secs: u64) -> Result<(f64, f64), String> {
    let before = cpu_ns(child.id());
    let mut wrk = Command::new("wrk");
    wrk.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        &format!("http://{addr}/"),
    ]);
    let pin = cpus() > 1;
    // SAFETY: as in `start`.
    unsafe {
        wrk.pre_exec(move || if pin { pin_to(1) } else { Ok(()) });
    }
    let out = wrk.output().map_err(|e| format!("wrk: {e}"))?;
    let after = cpu_ns(child.id());
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    let rps = field("Requests/sec:").ok_or_else(|| format!("wrk said: {text}"))?;
    // "N requests in Ts, M read"
    let total = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(rps * secs as f64);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk saw errors:\n{text}"));
    }
    Ok((rps, (after - before) as f64 / total.max(1.0)))
}

/// The suite: returns the Markdown section.
pub fn run(reps: usize, secs: u64) -> String {
    let mut out = String::from(
        "## HTTP/1.1 keep-alive \"hello\" under wrk\n\nServer pinned to CPU 0 in a fresh process per run, `wrk -t1` pinned to CPU 1, the contenders alternating. hyper 1.x on kasync runs through `Compat` (feature `tokio-io`) and `hyper_util::rt::TokioIo` — the `hyper` example; the hand-written server is the `http` example, and the same code written for tokio. Ratios are kasync over tokio within each repetition, median (min–max): requests/s above 1 and CPU per request below 1 favour kasync.\n\n",
    );
    if !have_wrk() {
        out += "Skipped: `wrk` is not installed (`apt-get install wrk`).\n\n";
        return out + &run_h2(reps, secs) + &crate::bridge_cost::run(reps);
    }
    let (Some(hyper), Some(http)) = (example("hyper"), example("http")) else {
        out += "Skipped: the examples are not built (`cargo build --release -p host --examples --features tokio-io`).\n\n";
        return out + &run_h2(reps, secs) + &crate::bridge_cost::run(reps);
    };
    let me = std::env::current_exe().expect("own path");
    let contender = |name, program: &PathBuf, args: &[&str]| Server {
        name,
        program: program.clone(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    out += "| benchmark | server | requests/s | server CPU ns per request | requests/s, kasync vs tokio | CPU per request, kasync vs tokio |\n|---|---|---|---|---|---|\n";
    let pairs = [
        (
            "hyper",
            contender("kasync (hyper example)", &hyper, &[]),
            contender("tokio current-thread", &me, &["serve-hyper-tokio"]),
        ),
        (
            "hand-written",
            contender("kasync (http example)", &http, &[]),
            contender("tokio current-thread", &me, &["serve-http-tokio"]),
        ),
    ];
    let mut port = 31_000;
    for (kind, kasync, tokio) in &pairs {
        for conns in [64, 256] {
            let servers = [kasync, tokio];
            let mut samples: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
            let mut failed = None;
            for _ in 0..reps {
                for (i, server) in servers.iter().enumerate() {
                    port += 1;
                    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
                    let result = start(server, addr).and_then(|mut child| {
                        let m = measure(&child, addr, conns, secs);
                        let _ = child.kill();
                        let _ = child.wait();
                        m
                    });
                    match result {
                        Ok(sample) => samples[i].push(sample),
                        Err(e) => failed = Some(e),
                    }
                }
            }
            if let Some(e) = failed {
                out += &format!("| {kind}, {conns} connections | failed: {e} | | | | |\n");
                continue;
            }
            out += &rows(&format!("{kind}, {conns} connections"), &servers, &samples);
        }
    }
    out += "\n";
    out + &run_h2(reps, secs) + &crate::bridge_cost::run(reps)
}

/// `true` if `h2load` runs here.
fn have_h2load() -> bool {
    Command::new("h2load")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// One `h2load` run (HTTP/2 with prior knowledge, `clients` connections,
/// `streams` concurrent streams each, for `secs`): requests/s and the
/// server's CPU ns per request.
fn measure_h2(
    child: &Child,
    addr: SocketAddr,
    clients: usize,
    streams: usize,
    secs: u64,
) -> Result<(f64, f64), String> {
    let before = cpu_ns(child.id());
    let mut h2load = Command::new("h2load");
    h2load.args([
        "-c",
        &clients.to_string(),
        "-m",
        &streams.to_string(),
        "-D",
        &secs.to_string(),
        &format!("http://{addr}/"),
    ]);
    let pin = cpus() > 1;
    // SAFETY: as in `start`.
    unsafe {
        h2load.pre_exec(move || if pin { pin_to(1) } else { Ok(()) });
    }
    let out = h2load.output().map_err(|e| format!("h2load: {e}"))?;
    let after = cpu_ns(child.id());
    let text = String::from_utf8_lossy(&out.stdout);
    // "finished in 5.00s, 123456.78 req/s, 4.21MB/s"
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| {
            l.split(", ")
                .nth(1)?
                .strip_suffix(" req/s")?
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| format!("h2load said: {text}"))?;
    // "requests: N total, N started, N done, N succeeded, F failed, E errored, T timeout"
    let counts: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .map(|l| {
            l.split(", ")
                .filter_map(|part| part.split_whitespace().next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (succeeded, failed) = (counts.get(3).copied(), counts.get(4).copied());
    match (succeeded, failed) {
        (Some(ok), Some(0)) if ok > 0 => Ok((rps, (after - before) as f64 / ok as f64)),
        _ => Err(format!("h2load saw failures:\n{text}")),
    }
}

/// HTTP/2 (h2c, prior knowledge) under h2load: `kasync_hyper::serve`
/// against hyper-util's `auto` server on tokio current-thread, the same
/// service.
fn run_h2(reps: usize, secs: u64) -> String {
    let mut out = String::from(
        "## HTTP/2 \"hello\" under h2load\n\nServer pinned to CPU 0 in a fresh process per run, `h2load -c 32 -m 10` (32 connections, 10 concurrent streams each, prior-knowledge h2c) pinned to CPU 1, the contenders alternating. kasync runs `kasync_hyper::serve`; tokio runs hyper-util's `auto` server with `TokioExecutor`, `TokioTimer` and `TokioIo`, the same service. Ratios are kasync over tokio within each repetition, median (min–max).\n\n",
    );
    if !have_h2load() {
        out += "Skipped: `h2load` is not installed (`apt-get install nghttp2-client`).\n\n";
        return out;
    }
    let me = std::env::current_exe().expect("own path");
    let servers = [
        Server {
            name: "kasync (kasync_hyper::serve)",
            program: me.clone(),
            args: vec!["serve-auto-kasync".into()],
        },
        Server {
            name: "tokio current-thread (hyper-util auto)",
            program: me,
            args: vec!["serve-auto-tokio".into()],
        },
    ];
    out += "| benchmark | server | requests/s | server CPU ns per request | requests/s, kasync vs tokio | CPU per request, kasync vs tokio |\n|---|---|---|---|---|---|\n";
    // Below the ephemeral range (32768 and up), where client sockets live.
    let mut port = 30_000;
    let mut samples: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..reps {
        for (i, server) in servers.iter().enumerate() {
            port += 1;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let result = start(server, addr).and_then(|mut child| {
                let m = measure_h2(&child, addr, 32, 10, secs);
                let _ = child.kill();
                let _ = child.wait();
                m
            });
            match result {
                Ok(sample) => samples[i].push(sample),
                Err(e) => {
                    return out + &format!("| HTTP/2, 32 × 10 streams | failed: {e} | | | | |\n\n");
                }
            }
        }
    }
    let servers = [&servers[0], &servers[1]];
    out + &rows("HTTP/2, 32 × 10 streams", &servers, &samples) + "\n"
}

/// The table rows of one benchmark: each server's requests/s and CPU per
/// request (median, min–max), and kasync's (the first) ratios over the
/// second's per repetition.
fn rows(benchmark: &str, servers: &[&Server; 2], samples: &[Vec<(f64, f64)>; 2]) -> String {
    let ratio = |pick: fn(&(f64, f64)) -> f64| {
        let r: Vec<f64> = samples[0]
            .iter()
            .zip(&samples[1])
            .map(|(k, t)| pick(k) / pick(t))
            .collect();
        median_and_spread(r, 2)
    };
    let ratios = [(ratio(|s| s.0), ratio(|s| s.1)), ("1".into(), "1".into())];
    let mut out = String::new();
    for (i, server) in servers.iter().enumerate() {
        let rps: Vec<f64> = samples[i].iter().map(|s| s.0).collect();
        let cpu: Vec<f64> = samples[i].iter().map(|s| s.1).collect();
        out += &format!(
            "| {benchmark} | {} | {} | {} | {} | {} |\n",
            server.name,
            median_and_spread(rps, 0),
            median_and_spread(cpu, 0),
            ratios[i].0,
            ratios[i].1,
        );
    }
    out
}

/// The "hello" service both HTTP/2 contenders run.
async fn hello_service(
    _: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, Infallible> {
    Ok(hyper::Response::new(http_body_util::Full::new(
        bytes::Bytes::from_static(b"hello"),
    )))
}

/// `kasync_hyper::serve` (HTTP/1 and HTTP/2) on `addr`.
pub fn serve_auto_kasync(addr: SocketAddr) -> std::io::Result<()> {
    let rt = kasync_host::Runtime::new().map_err(std::io::Error::other)?;
    rt.block_on(async {
        let listener = kasync_host::net::TcpListener::bind(addr)?;
        kasync_hyper::serve(listener, kasync_hyper::ServiceFn(hello_service))
            .on_connection_error(|_, _| {})
            .run()
            .await
    })
}

/// hyper-util's `auto` server (HTTP/1 and HTTP/2) on tokio's
/// current-thread runtime.
pub fn serve_auto_tokio(addr: SocketAddr) -> std::io::Result<()> {
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    serve_tokio(addr, |stream| async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        let _ = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service_fn(hello_service))
            .await;
    })
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello";

/// Serves `addr` on tokio's current-thread runtime: a listener with the
/// same backlog as kasync's, `TCP_NODELAY`, a task per connection.
fn serve_tokio<F, Fut>(addr: SocketAddr, connection: F) -> std::io::Result<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(4096)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(connection(stream));
        }
    })
}

/// The hand-written server of the `http` example, for tokio.
pub fn serve_http_tokio(addr: SocketAddr) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    serve_tokio(addr, |mut stream| async move {
        let mut received = Vec::with_capacity(4096);
        let mut replies = Vec::with_capacity(4096);
        let mut buf = [0u8; 4096];
        loop {
            let mut start = 0;
            while let Some(len) = received[start..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| at + 4)
            {
                start += len;
                replies.extend_from_slice(RESPONSE);
            }
            received.drain(..start);
            if !replies.is_empty() {
                if stream.write_all(&replies).await.is_err() {
                    return;
                }
                replies.clear();
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// hyper 1.x on tokio's current-thread runtime.
pub fn serve_hyper_tokio(addr: SocketAddr) -> std::io::Result<()> {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    serve_tokio(addr, |stream| async move {
        let hello = |_: hyper::Request<hyper::body::Incoming>| async {
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                b"hello",
            ))))
        };
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(hello))
            .await;
    })
}
