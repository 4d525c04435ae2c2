//! Capacity: one runtime thread holds 8 000 concurrent connections — each
//! with a task and a pending receive, twice the fixed ready queue's 3 968
//! and eight times the old fixed tables' 1 024 — while 100 of them echo
//! random payloads, checked byte for byte.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use kasync_host::net::TcpListener;
use kasync_host::{Runtime, apps};
use kasync_tests::crowd::{connect_from, raise_descriptor_limit, source_for};

/// Connections held at once.
const CONNECTIONS: usize = 8_000;
/// Of them, the ones that also echo random payloads.
const ACTIVE: usize = 100;
/// Loopback source addresses the clients are spread over.
const SOURCES: u8 = 4;

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
        let source = source_for(i, SOURCES);
        let stream = connect_from(source, server)
            .unwrap_or_else(|e| panic!("connection {i} from {source}: {e}"));
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
