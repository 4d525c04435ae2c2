//! An echo client that no runtime under test runs on: one thread, one
//! level-triggered epoll loop written directly against the system calls,
//! non-blocking sockets. Each connection does write-then-read ping-pongs,
//! like the kasync client, so the two can be set side by side: a server
//! that does well only against a client on its own runtime shows here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// One connection's state.
struct Conn {
    stream: TcpStream,
    /// Requests finished.
    done: usize,
    /// Bytes of the current echo received.
    got: usize,
    /// When the current request was sent (`None`: not in flight).
    sent: Option<Instant>,
}

/// Sends one request on `conn` (small messages fit the empty socket
/// buffer; a partial write is finished by retrying, which a ping-pong
/// client with nothing in flight on the connection never needs long).
fn send(conn: &mut Conn, message: &[u8]) -> io::Result<()> {
    let mut at = 0;
    while at < message.len() {
        match conn.stream.write(&message[at..]) {
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    conn.sent = Some(Instant::now());
    conn.got = 0;
    Ok(())
}

/// `conns` connections × `requests` ping-pongs of `size` bytes, as fast as
/// possible or — with `rate` — paced to that many requests per second in
/// all. Returns the wall time and every request's latency.
pub(crate) fn run(
    addr: SocketAddr,
    conns: usize,
    requests: usize,
    size: usize,
    rate: Option<u64>,
) -> Result<(Duration, Vec<Duration>), String> {
    let fail = |what: &str, e: io::Error| format!("epoll client: {what}: {e}");
    // SAFETY: plain system call; the result is checked.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(fail("epoll_create1", io::Error::last_os_error()));
    }
    let _close = Close(epoll);
    let start = Instant::now();
    let mut all: Vec<Conn> = Vec::with_capacity(conns);
    for i in 0..conns {
        let stream = TcpStream::connect(addr).map_err(|e| fail("connect", e))?;
        stream.set_nodelay(true).map_err(|e| fail("nodelay", e))?;
        stream
            .set_nonblocking(true)
            .map_err(|e| fail("nonblocking", e))?;
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: a live event and our own descriptors.
        if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event) }
            < 0
        {
            return Err(fail("epoll_ctl", io::Error::last_os_error()));
        }
        all.push(Conn {
            stream,
            done: 0,
            got: 0,
            sent: None,
        });
    }
    let message = vec![7u8; size];
    let mut buf = vec![0u8; size.max(4096)];
    let mut latencies = Vec::with_capacity(conns * requests);
    // Paced: each connection sends every `interval`, schedules spread
    // evenly; `due` holds (time, connection) of the next sends.
    let interval = rate.map(|r| Duration::from_secs_f64(conns as f64 / r as f64));
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let begin = Instant::now();
    for (i, conn) in all.iter_mut().enumerate() {
        match interval {
            Some(interval) => due.push(Reverse((begin + interval * i as u32 / conns as u32, i))),
            None => send(conn, &message).map_err(|e| fail("send", e))?,
        }
    }
    let mut finished = 0;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.clamp(1, 1024)];
    while finished < conns {
        // Paced sends that are due.
        let now = Instant::now();
        while let Some(&Reverse((at, i))) = due.peek() {
            if at > now {
                break;
            }
            due.pop();
            send(&mut all[i], &message).map_err(|e| fail("send", e))?;
        }
        let timeout = due.peek().map_or(-1, |Reverse((at, _))| {
            at.saturating_duration_since(now).as_millis().min(1000) as i32
        });
        // SAFETY: `events` has room for `len` entries.
        let n =
            unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(fail("epoll_wait", e));
        }
        for event in &events[..n as usize] {
            let i = event.u64 as usize;
            let conn = &mut all[i];
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        return Err(format!("epoll client: connection {i}: the server closed"));
                    }
                    Ok(n) => conn.got += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(fail("recv", e)),
                }
            }
            if conn.got < size {
                continue;
            }
            if let Some(sent) = conn.sent.take() {
                latencies.push(sent.elapsed());
            }
            conn.done += 1;
            if conn.done == requests {
                finished += 1;
            } else if let Some(interval) = interval {
                let at = begin + interval * (i as u32) / conns as u32 + interval * conn.done as u32;
                due.push(Reverse((at, i)));
            } else {
                send(conn, &message).map_err(|e| fail("send", e))?;
            }
        }
    }
    Ok((start.elapsed(), latencies))
}

/// Closes a descriptor when dropped.
struct Close(i32);

impl Drop for Close {
    fn drop(&mut self) {
        // SAFETY: our own epoll descriptor, closed once.
        unsafe { libc::close(self.0) };
    }
}
