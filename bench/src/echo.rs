//! TCP echo over loopback: each server in a fresh process pinned to CPU 0,
//! the client pinned to CPU 1 — kasync's own, and an independent epoll
//! loop that no runtime under test runs on; every connection does
//! write-then-read ping-pongs. Servers: kasync on io_uring and on its
//! readiness backend, tokio current-thread, monoio. Reported: time per
//! request (the inverse of requests/s), p50/p99 latency, and the server's
//! CPU time per request (from `/proc/<pid>/schedstat`).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, spawn};

use crate::cpu::{cpus, pin_to};
use crate::harness::{Contender, CpuSplit, Results, Run, compare};

/// The process's CPU time split into user space and kernel, in clock ticks
/// (`utime` and `stime` of `/proc/<pid>/stat`).
fn cpu_split(pid: u32) -> CpuSplit {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name, which may hold spaces;
    // utime and stime are fields 14 and 15 of the whole line.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match fields[..] {
        [user, kernel] => CpuSplit { user, kernel },
        _ => CpuSplit::default(),
    }
}

/// CPU time the process has used, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Starts `kasync-bench serve-<kind> ADDR` pinned to CPU 0 and waits until
/// it accepts.
pub(crate) fn start_server(kind: &str, addr: SocketAddr) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args([&format!("serve-{kind}"), &addr.to_string()])
        .stdout(Stdio::null());
    let pin = cpus() > 1;
    // SAFETY: between fork and exec only `sched_setaffinity` runs, on a
    // stack-allocated set.
    unsafe {
        cmd.pre_exec(move || if pin { pin_to(0) } else { Ok(()) });
    }
    let child = cmd.spawn().expect("start the server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the {kind} server did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Bytes the tokio and monoio servers read at most per call: the size of
/// kasync's receive buffers ([`kasync_host::RECV_BUFFER_BYTES`]), so that
/// every server reads in the same pieces — and holds what a typical server
/// holds per idle connection.
const READ_BYTES: usize = kasync_host::RECV_BUFFER_BYTES;

/// The kasync echo server (multishot accept, a task per connection) on
/// io_uring.
pub fn serve_kasync(addr: SocketAddr) -> std::io::Result<()> {
    serve_kasync_on(kasync_host::Backend::Uring, addr)
}

/// The same kasync server on its readiness backend (epoll).
pub fn serve_kasync_poll(addr: SocketAddr) -> std::io::Result<()> {
    serve_kasync_on(kasync_host::Backend::Poll, addr)
}

fn serve_kasync_on(backend: kasync_host::Backend, addr: SocketAddr) -> std::io::Result<()> {
    let rt = kasync_host::Builder::new()
        .backend(backend)
        .build()
        .map_err(std::io::Error::other)?;
    rt.block_on(async { kasync_host::apps::serve_echo(TcpListener::bind(addr)?).await })
}

/// The same server on tokio's current-thread runtime.
pub fn serve_tokio(addr: SocketAddr) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // The same accept backlog as the other servers: tokio's `bind`
        // listens with 128 (std's default), which overflows when 256
        // clients connect at once — dropped handshakes, retried a second
        // later, or reset.
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        loop {
            // Like kasync's server, a failed accept is reported, not fatal.
            let mut stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("tokio echo: accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; READ_BYTES];
                loop {
                    let result = match stream.read(&mut buf).await {
                        Ok(0) => return,
                        Ok(n) => stream.write_all(&buf[..n]).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = result {
                        eprintln!("tokio echo: closing a connection: {e}");
                        return;
                    }
                }
            });
        }
    })
}

/// The same server on monoio (io_uring driver, thread-per-core).
pub fn serve_monoio(addr: SocketAddr) -> std::io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::bind(addr)?;
        loop {
            let mut stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("monoio echo: accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            monoio::spawn(async move {
                let mut buf = Vec::with_capacity(READ_BYTES);
                loop {
                    buf.clear();
                    let (n, back) = stream.read(buf).await;
                    buf = back;
                    let result = match n {
                        Ok(0) => return,
                        Ok(_) => {
                            let (r, back) = stream.write_all(buf).await;
                            buf = back;
                            r
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = result {
                        eprintln!("monoio echo: closing a connection: {e}");
                        return;
                    }
                }
            });
        }
    })
}

/// One client run: `conns` connections × `requests` ping-pongs of `size`
/// bytes, as fast as possible or — with `rate` — paced to that many
/// requests per second in all. Returns the wall time and every request's
/// latency, or what went wrong first.
pub(crate) fn client(
    rt: &Runtime,
    addr: SocketAddr,
    conns: usize,
    requests: usize,
    size: usize,
    rate: Option<u64>,
) -> Result<(Duration, Vec<Duration>), String> {
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..conns)
            .map(|conn| {
                spawn(async move {
                    let fail = |what: &str, i: usize, e: std::io::Error| {
                        format!("connection {conn}, request {i}: {what}: {e}")
                    };
                    let stream = TcpStream::connect(addr)
                        .await
                        .map_err(|e| fail("connect", 0, e))?;
                    stream
                        .set_nodelay(true)
                        .map_err(|e| fail("nodelay", 0, e))?;
                    let mut latencies = Vec::with_capacity(requests);
                    let mut message = vec![7u8; size];
                    let mut recv = Vec::with_capacity(size.max(4096));
                    // Each connection sends every `interval`, if paced.
                    let interval = rate.map(|r| Duration::from_secs_f64(conns as f64 / r as f64));
                    // Connections take turns: spread their schedules evenly.
                    let begin = Instant::now()
                        + interval.map_or(Duration::ZERO, |i| i * conn as u32 / conns as u32);
                    for i in 0..requests {
                        if let Some(interval) = interval {
                            let due = begin + interval * i as u32;
                            let now = Instant::now();
                            if due > now {
                                kasync_host::sleep(due - now).await;
                            }
                        }
                        let t = Instant::now();
                        let (r, back) = stream.write_all(message).await;
                        r.map_err(|e| fail("send", i, e))?;
                        message = back;
                        let mut got = 0;
                        while got < size {
                            recv.clear();
                            let (n, back) = stream.read(recv).await;
                            recv = back;
                            let n = n.map_err(|e| fail("recv", i, e))?;
                            if n == 0 {
                                return Err(format!(
                                    "connection {conn}, request {i}: the server closed"
                                ));
                            }
                            got += n;
                        }
                        latencies.push(t.elapsed());
                    }
                    Ok(latencies)
                })
                .expect("a task slot")
            })
            .collect();
        // Every connection runs to its end, so none is left behind.
        let mut all = Vec::with_capacity(conns * requests);
        let mut failure = None;
        for t in tasks {
            match t.await.expect("a client task") {
                Ok(latencies) => all.extend(latencies),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            None => Ok((start.elapsed(), all)),
            Some(e) => Err(e),
        }
    })
}

/// A loopback address with a port that is free right now.
pub(crate) fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// Which client drives a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The kasync client (io_uring).
    Kasync,
    /// The independent epoll loop ([`crate::epoll_client`]).
    Epoll,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Kasync => "kasync client",
            Client::Epoll => "epoll-loop client",
        }
    }
}

/// One run against a fresh server of `kind`.
fn one_run(
    rt: &Runtime,
    kind: &str,
    driver: Client,
    conns: usize,
    requests: usize,
    size: usize,
    rate: Option<u64>,
) -> Run {
    // A fresh port per run: a killed server's ring may hold its listener
    // for a moment after the process is gone.
    let addr = free_port();
    let mut server = start_server(kind, addr);
    let cpu_before = cpu_ns(server.id());
    let split_before = cpu_split(server.id());
    let outcome = match driver {
        Client::Kasync => client(rt, addr, conns, requests, size, rate),
        Client::Epoll => crate::epoll_client::run(addr, conns, requests, size, rate),
    };
    let (wall, mut latencies) = outcome
        .unwrap_or_else(|e| panic!("echo against the {kind} server ({conns} connections): {e}"));
    let cpu = cpu_ns(server.id()) - cpu_before;
    let split_after = cpu_split(server.id());
    let _ = server.kill();
    let _ = server.wait();
    latencies.sort();
    Run {
        counter: Some(cpu),
        elapsed: Some(wall),
        latency: Some((percentile(&latencies, 0.5), percentile(&latencies, 0.99))),
        cpu_split: Some(CpuSplit {
            user: split_after.user.saturating_sub(split_before.user),
            kernel: split_after.kernel.saturating_sub(split_before.kernel),
        }),
    }
}

/// One echo configuration.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Message size in bytes.
    pub size: usize,
    /// Concurrent connections.
    pub conns: usize,
    /// Offered load in requests per second (all connections), or `None` for
    /// as fast as possible (saturation).
    pub rate: Option<u64>,
}

/// The servers, in the order of the report (the first is the reference).
const SERVERS: [(&str, &str); 4] = [
    ("kasync", "kasync (io_uring)"),
    ("kasync-poll", "kasync (epoll)"),
    ("tokio", "tokio current-thread"),
    ("monoio", "monoio"),
];
/// Where the readiness backend and tokio are in [`SERVERS`].
pub const POLL: usize = 1;
/// See [`POLL`].
pub const TOKIO: usize = 2;

/// Echo at each configuration, with each client, against every server.
pub fn run(reps: usize, configs: &[Config], total_requests: usize) -> Vec<Results> {
    // The client runs on its own thread, pinned to CPU 1.
    std::thread::scope(|s| {
        s.spawn(|| {
            if cpus() > 1 {
                let _ = pin_to(1);
            }
            let rt = Runtime::new().expect("io_uring");
            let rt = &rt;
            let mut results = Vec::new();
            for &Config { size, conns, rate } in configs {
                for driver in [Client::Kasync, Client::Epoll] {
                    // Paced runs last half a second; saturated ones send
                    // `total_requests` in all.
                    let total = rate.map_or(total_requests, |r| (r / 2) as usize);
                    let requests = (total / conns).max(10);
                    let contenders = SERVERS
                        .into_iter()
                        .map(|(kind, name)| Contender {
                            name,
                            run: Box::new(move || {
                                one_run(rt, kind, driver, conns, requests, size, rate)
                            }),
                        })
                        .collect();
                    let plural = if conns == 1 { "" } else { "s" };
                    let load = match rate {
                        Some(r) => format!(", {} k req/s offered", r / 1000),
                        None => String::new(),
                    };
                    let result = compare(
                        &format!(
                            "echo {size} B, {conns} connection{plural}{load}, {}",
                            driver.name()
                        ),
                        conns * requests,
                        reps,
                        Some("server CPU ns"),
                        contenders,
                    );
                    // At an offered load the time per request is the
                    // client's pacing; what differs is the server's CPU
                    // time.
                    results.push(if rate.is_some() {
                        result.by_counter()
                    } else {
                        result
                    });
                }
            }
            results
        })
        .join()
        .expect("the echo client thread")
    })
}

/// System calls an echo server made, per request, counted by `strace -c`
/// over one run driven by the independent epoll client.
pub struct Syscalls {
    /// The server.
    pub server: &'static str,
    /// All system calls per request (connection set-up included, spread
    /// over the run).
    pub total: f64,
    /// The most frequent calls, per request, most frequent first.
    pub top: Vec<(String, f64)>,
}

/// `true` if `strace` can be run here.
pub fn have_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Counts the system calls of each server over `conns × requests` echoes
/// of `size` bytes (`None` for a server whose count failed). Tracing slows
/// every server down alike; the counts, not the times, are the result.
pub fn count_syscalls(conns: usize, requests: usize, size: usize) -> Vec<Option<Syscalls>> {
    SERVERS
        .iter()
        .map(|&(kind, name)| {
            let counts = strace_server(kind, conns, requests, size)?;
            let total_requests = (conns * requests) as f64;
            let total = counts.iter().map(|(_, n)| *n).sum::<u64>() as f64 / total_requests;
            let mut top: Vec<(String, f64)> = counts
                .into_iter()
                .map(|(call, n)| (call, n as f64 / total_requests))
                .filter(|(_, per)| *per >= 0.01)
                .collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            top.truncate(4);
            Some(Syscalls {
                server: name,
                total,
                top,
            })
        })
        .collect()
}

/// One traced run: (call, count) for every system call of the server.
fn strace_server(
    kind: &str,
    conns: usize,
    requests: usize,
    size: usize,
) -> Option<Vec<(String, u64)>> {
    let addr = free_port();
    let out = std::env::temp_dir().join(format!("kasync-strace-{}-{kind}", std::process::id()));
    let mut strace = Command::new("strace")
        .arg("-f")
        .arg("-c")
        .arg("-o")
        .arg(&out)
        .arg(std::env::current_exe().ok()?)
        .args([&format!("serve-{kind}"), &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            let _ = strace.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let result = crate::epoll_client::run(addr, conns, requests, size, None);
    // The server is strace's child: ending it makes strace write its table.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.id()))
        .unwrap_or_default();
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        // SAFETY: plain `kill` of the traced server process.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let _ = strace.wait();
    let table = std::fs::read_to_string(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    result.ok()?;
    // Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    Some(
        table
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (calls, name) = match fields.len() {
                    5 => (fields[3], fields[4]),
                    6 => (fields[3], fields[5]),
                    _ => return None,
                };
                (name != "total" && name != "syscall")
                    .then(|| Some((name.to_owned(), calls.parse().ok()?)))
                    .flatten()
            })
            .collect(),
    )
}
