//! Capacity: one runtime thread holds 8 000 concurrent connections — each
//! with a task and a pending receive, twice the fixed ready queue's 3 968
//! and eight times the old fixed tables' 1 024 — while 100 of them echo
//! random payloads, checked byte for byte.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use kasync_host::net::TcpListener;
use kasync_host::{Runtime, apps};

/// Connections held at once.
const CONNECTIONS: usize = 8_000;
/// Of them, the ones that also echo random payloads.
const ACTIVE: usize = 100;
/// Loopback source addresses the clients are spread over.
const SOURCES: u8 = 4;

/// Raises the soft descriptor limit to the hard one; `Err` with the reason
/// if that is still too low for `needed`.
fn raise_descriptor_limit(needed: u64) -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_max < needed {
        return Err(format!(
            "the hard RLIMIT_NOFILE is {}, this test needs {needed} descriptors",
            limit.rlim_max
        ));
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid in-parameter.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
    Ok(limit.rlim_cur)
}

/// A blocking client connection to `server` from loopback address
/// `127.0.0.{source}`.
fn connect_from(source: u8, server: SocketAddr) -> std::io::Result<TcpStream> {
    // SAFETY: plain socket creation; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let local = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, source), 0);
    let raw = |addr: SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let SocketAddr::V4(server) = server else {
        unreachable!("the server listens on IPv4")
    };
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let (local, server) = (raw(local), raw(server));
    // SAFETY: `local` and `server` are valid `sockaddr_in`s of `len` bytes.
    unsafe {
        if libc::bind(fd, (&raw const local).cast(), len) != 0
            || libc::connect(fd, (&raw const server).cast(), len) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(stream)
}

/// Deterministic pseudo-random bytes (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn eight_thousand_connections_on_one_runtime_thread() {
    // Server and clients share this process: two descriptors each.
    let needed = 2 * CONNECTIONS as u64 + 256;
    match raise_descriptor_limit(needed) {
        Ok(_) => {}
        Err(why) => {
            eprintln!("SKIPPED eight_thousand_connections_on_one_runtime_thread: {why}");
            return;
        }
    }
    let (addr_tx, addr_rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            apps::serve_echo(listener).await.unwrap();
        });
    });
    let server: SocketAddr = addr_rx.recv().unwrap();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let source = 2 + (i % usize::from(SOURCES)) as u8;
        let stream = connect_from(source, server)
            .unwrap_or_else(|e| panic!("connection {i} from 127.0.0.{source}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        clients.push(stream);
    }
    // Every connection is served: each echoes one byte (so each was
    // accepted, has its task and its pending receive, at the same time).
    for (i, client) in clients.iter_mut().enumerate() {
        let byte = [i as u8];
        client.write_all(&byte).unwrap();
        let mut back = [0u8];
        client
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("connection {i} gave no echo: {e}"));
        assert_eq!(back, byte, "connection {i}");
    }
    // 100 of them, spread over the crowd, echo random payloads at once
    // while the other 7 900 sit with their receives pending.
    let stride = CONNECTIONS / ACTIVE;
    let active: Vec<TcpStream> = clients
        .iter()
        .step_by(stride)
        .map(|c| c.try_clone().unwrap())
        .collect();
    let workers: Vec<_> = active
        .into_iter()
        .enumerate()
        .map(|(k, mut stream)| {
            thread::spawn(move || {
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ ((k as u64 + 1) * 0x9e37_79b9));
                for round in 0..8 {
                    let len = 1 + (rng.next() % 20_000) as usize;
                    let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    let mut writer = stream.try_clone().unwrap();
                    let sent = payload.clone();
                    // Write and read at once: the echo may not wait for
                    // the whole payload.
                    let write = thread::spawn(move || writer.write_all(&sent).unwrap());
                    let mut back = vec![0u8; len];
                    stream
                        .read_exact(&mut back)
                        .unwrap_or_else(|e| panic!("active connection {k}, round {round}: {e}"));
                    write.join().unwrap();
                    assert!(
                        back == payload,
                        "active connection {k}, round {round}: the echo differs"
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    // The idle crowd is still there, every connection still echoing.
    for (i, client) in clients.iter_mut().enumerate().step_by(97) {
        client.write_all(b"!").unwrap();
        let mut back = [0u8];
        client
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("connection {i} after the active phase: {e}"));
        assert_eq!(&back, b"!");
    }
}
