//! A server restarted at once binds its port again: `host echo` killed
//! with connections open, and the same port bound right after it exited —
//! 20 times each way, never `AddrInUse`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

/// Held by each test for its whole run. Both tests open listening sockets
/// in this process (the bind checks) while the other spawns servers: a
/// child forked at that moment holds a copy of the listener until it
/// `exec`s, the other test's clients can connect to that copy, and they
/// are reset when the `exec` closes it — a race of the test harness (seen
/// as "connection reset" in about one run in ten), not of the server. One
/// test at a time keeps every fork away from a listener.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A free port on the loopback address.
fn free_addr() -> SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// Starts `host echo` on `addr` and opens a few echoing connections to it.
fn echo_with_clients(addr: SocketAddr) -> (Child, Vec<TcpStream>) {
    let server = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(["echo", "--addr", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..400 {
        if let Ok(c) = TcpStream::connect(addr) {
            clients.push(c);
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(clients.len(), 1, "the server listens");
    for _ in 0..4 {
        clients.push(TcpStream::connect(addr).unwrap());
    }
    for c in &mut clients {
        c.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).unwrap();
    }
    (server, clients)
}

/// A plain `kill` (SIGTERM): the server stops, and the port is free for
/// any program (here std's listener) the moment the process is gone.
#[test]
fn a_terminated_server_s_port_can_be_bound_again_at_once() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let addr = free_addr();
    for round in 0..20 {
        let (mut server, clients) = echo_with_clients(addr);
        // SAFETY: sends SIGTERM to our own child.
        unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
        assert!(server.wait().unwrap().success(), "round {round}");
        if let Err(e) = std::net::TcpListener::bind(addr) {
            panic!("round {round}: the port is still taken: {e}");
        }
        drop(clients);
    }
}

/// SIGKILL: the kernel tears the dead process's ring down in the
/// background, and its listener lingers until then; kasync's `bind`
/// waits for it instead of failing.
#[test]
fn a_killed_server_s_port_can_be_bound_again_by_kasync_at_once() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let addr = free_addr();
    for round in 0..20 {
        let (mut server, clients) = echo_with_clients(addr);
        server.kill().unwrap();
        server.wait().unwrap();
        if let Err(e) = kasync_host::net::TcpListener::bind(addr) {
            panic!("round {round}: the port is still taken: {e}");
        }
        drop(clients);
    }
}
