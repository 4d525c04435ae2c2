//! The echo server under peers that stream more than it buffers, readers
//! that fall behind, and peers that send but never read: every byte comes
//! back in order, and nobody starves the others of receive buffers.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use kasync::io::sim::SimRng;
use kasync_host::net::TcpListener;
use kasync_host::{Backend, apps, sleep, spawn};

mod support;
use support::each_backend_by_name;

/// The byte at stream position `i` of stream `seed`: position-dependent,
/// so a reordering, a loss or a duplicate shows.
fn byte_at(seed: u64, i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9).wrapping_add(seed * 131) >> 7) as u8
}

/// Lets the run loop turn once (reaping completions) before going on.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// Runs `host echo`'s server on its own thread and a runtime of
/// `backend`, with `buffers` shared receive buffers of 4 KiB; returns its
/// address. The server thread ends with the test process.
fn echo_server(backend: Backend, buffers: u16) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = support::runtime(backend);
        support::recv_buffers(&rt, buffers, 4096);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            apps::serve_echo(listener).await
        })
        .unwrap();
    });
    rx.recv().unwrap()
}

/// Writes `total` bytes of stream `seed` in pieces of random sizes while
/// another thread reads the echo and checks every byte in order.
fn full_duplex(addr: SocketAddr, seed: u64, total: u64) {
    let stream = TcpStream::connect(addr).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let check = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = 0u64;
        while at < total {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0, "stream {seed}: the echo ended at {at} of {total}");
            for (k, &b) in buf[..n].iter().enumerate() {
                let i = at + k as u64;
                assert_eq!(b, byte_at(seed, i), "stream {seed}: byte {i} differs");
            }
            at += n as u64;
        }
    });
    let mut writer = stream;
    let mut rng = SimRng::new(seed);
    let mut at = 0u64;
    let mut piece = Vec::new();
    while at < total {
        let len = (1 + rng.below(64 * 1024)).min(total - at);
        piece.clear();
        piece.extend((at..at + len).map(|i| byte_at(seed, i)));
        writer.write_all(&piece).unwrap();
        at += len;
    }
    check.join().unwrap();
}

/// 64 MiB in all, over four connections at once, each written in pieces
/// of 1 byte to 64 KiB while its echo is read: every byte back, in order.
#[test]
fn large_full_duplex_streams_come_back_in_order() {
    each_backend_by_name("large_full_duplex_streams_come_back_in_order", |backend| {
        let addr = echo_server(backend, 512);
        let streams: Vec<_> = (0..4)
            .map(|seed| thread::spawn(move || full_duplex(addr, seed, 16 << 20)))
            .collect();
        for stream in streams {
            stream.join().unwrap();
        }
    });
}

/// A reader that is slow on purpose — it sleeps between items — on a
/// multishot receive while the peer writes 8 MiB as fast as it can: the
/// receive keeps falling behind, is paused and re-armed again and again,
/// and the bytes still arrive in order.
#[test]
fn a_slow_reader_on_recv_multi_gets_every_byte_in_order() {
    each_backend_by_name("a_slow_reader_on_recv_multi", |backend| {
        let rt = support::runtime(backend);
        let ring = support::recv_buffers(&rt, 1024, 4096);
        let total: u64 = 8 << 20;
        let got = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                let data: Vec<u8> = (0..total).map(|i| byte_at(9, i)).collect();
                stream.write_all(&data).unwrap();
            });
            let (server, _) = listener.accept().await.unwrap();
            let mut stream = server.recv_multi();
            let mut at = 0u64;
            let mut items = 0u64;
            while let Some(buf) = stream.next().await {
                let buf = buf.unwrap();
                for (k, &b) in buf.iter().enumerate() {
                    assert_eq!(b, byte_at(9, at + k as u64), "byte {}", at + k as u64);
                }
                at += buf.len() as u64;
                items += 1;
                // Slow: a turn of the loop (and new completions) between
                // any two items, a pause now and then.
                if items % 8 == 0 {
                    sleep(Duration::from_millis(1)).await;
                } else {
                    yield_once().await;
                }
            }
            writer.join().unwrap();
            at
        });
        assert_eq!(got, total);
        if let Some(ring) = ring {
            assert_eq!(ring.available(), 1024, "every shared buffer back");
        }
    });
}

/// 100 peers that send and never read, while 100 others echo and check
/// random payloads: the others are served (well within the watchdog),
/// although the shared receive buffers are fewer than the hostile peers
/// could pin. Then the hostile peers leave and everything is released.
#[test]
fn peers_that_never_read_do_not_starve_the_others() {
    each_backend_by_name(
        "peers_that_never_read_do_not_starve_the_others",
        |backend| {
            let addr = echo_server(backend, 128);
            let hostile: Vec<TcpStream> = (0..100)
                .map(|_| {
                    let s = TcpStream::connect(addr).unwrap();
                    s.set_nonblocking(true).unwrap();
                    s
                })
                .collect();
            // Each sends until its socket is full: the server's echo of it
            // cannot be sent back (nobody reads), its receive falls behind.
            let chunk = vec![0x55u8; 64 * 1024];
            for _ in 0..3 {
                for mut s in &hostile {
                    loop {
                        match s.write(&chunk) {
                            Ok(_) => {}
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => panic!("hostile peer: {e}"),
                        }
                    }
                }
                thread::sleep(Duration::from_millis(50));
            }
            let good: Vec<_> = (0..100u64)
                .map(|seed| {
                    thread::spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        let mut rng = SimRng::new(seed);
                        for round in 0..10 {
                            let len = 1 + rng.below(8000) as usize;
                            let payload: Vec<u8> = (0..len)
                                .map(|i| byte_at(seed + 1000, (round * 8000 + i) as u64))
                                .collect();
                            s.write_all(&payload).unwrap();
                            let mut back = vec![0u8; len];
                            s.read_exact(&mut back).unwrap();
                            assert_eq!(back, payload, "good peer {seed}, round {round}");
                        }
                    })
                })
                .collect();
            for g in good {
                g.join().unwrap();
            }
            drop(hostile);
        },
    );
}

/// The echo server keeps serving after the hostile peers have gone: a
/// task on the server's runtime sees its receive buffers come back.
#[test]
fn shared_buffers_come_back_after_hostile_peers_leave() {
    each_backend_by_name("shared_buffers_come_back", |backend| {
        let rt = support::runtime(backend);
        let ring = support::recv_buffers(&rt, 32, 4096);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let _server = spawn(apps::serve_echo(listener)).unwrap();
            let peers = thread::spawn(move || {
                let peers: Vec<TcpStream> = (0..20)
                    .map(|_| {
                        let mut s = TcpStream::connect(addr).unwrap();
                        s.set_nonblocking(true).unwrap();
                        let _ = s.write(&[0xAA; 200_000]);
                        s
                    })
                    .collect();
                thread::sleep(Duration::from_millis(100));
                drop(peers);
            });
            while !peers.is_finished() {
                sleep(Duration::from_millis(5)).await;
            }
            peers.join().unwrap();
            for _ in 0..200 {
                if ring.is_none_or(|ring| ring.available() == 32) {
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
        });
        if let Some(ring) = ring {
            assert_eq!(ring.available(), 32, "every shared buffer is back");
        }
    });
}

/// A peer that sends but never reads keeps the echo of its data waiting:
/// after the write timeout it is let go, and the op-table slots its
/// connection held (a receive, a send) are free again — while the peer is
/// still connected.
#[test]
fn a_peer_that_never_reads_is_let_go_and_its_slots_come_back() {
    each_backend_by_name("a_peer_that_never_reads_is_let_go", |backend| {
        let rt = support::runtime(backend);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let _server =
                spawn(apps::serve_echo_with(listener, Duration::from_millis(200))).unwrap();
            sleep(Duration::from_millis(10)).await;
            let io = kasync_host::io();
            let baseline = io.reactor().occupied();
            let (done, stop) = mpsc::channel::<()>();
            let peer = thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nonblocking(true).unwrap();
                let chunk = vec![0x77u8; 64 * 1024];
                // Keep sending, never reading, until the test is done (or
                // the server has let go of the connection).
                loop {
                    match s.write(&chunk) {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            if stop.recv_timeout(Duration::from_millis(10)).is_ok() {
                                break;
                            }
                        }
                        Err(_) => {
                            let _ = stop.recv();
                            break;
                        }
                    }
                }
                drop(s);
            });
            // The connection's receive and its stuck send occupy slots...
            let mut busy = false;
            for _ in 0..200 {
                if io.reactor().occupied() > baseline {
                    busy = true;
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
            assert!(busy, "the connection took op slots");
            // ...until the write timeout lets the peer go.
            while io.reactor().occupied() > baseline {
                sleep(Duration::from_millis(10)).await;
            }
            done.send(()).unwrap();
            peer.join().unwrap();
        });
    });
}

/// A peer that reads its echo slowly but steadily is served to the end:
/// what counts is that it takes something within each stall time, not
/// that a whole piece goes out in it (a send that waits for room resumes
/// only once much of the send queue has drained).
#[test]
fn a_slow_but_steady_reader_is_not_let_go() {
    each_backend_by_name("a_slow_but_steady_reader_is_not_let_go", |backend| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let rt = support::runtime(backend);
            rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                // Three seconds of patience: 60 of the reader's pauses, so
                // that a loaded or emulated machine (CI boots an older
                // kernel under QEMU) does not make a pause look like a stop.
                apps::serve_echo_with(listener, Duration::from_secs(3)).await
            })
            .unwrap();
        });
        let addr = rx.recv().unwrap();
        let total: u64 = 8 << 20;
        let stream = TcpStream::connect(addr).unwrap();
        let mut reader = stream.try_clone().unwrap();
        let writer = thread::spawn(move || {
            let mut stream = stream;
            let data: Vec<u8> = (0..total).map(|i| byte_at(5, i)).collect();
            let _ = stream.write_all(&data);
        });
        let mut at = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while at < total {
            // At most about 1.3 MiB/s: slower than the sender (the
            // server's sends wait for room, each for longer than the stall
            // time), never stalled for the seconds the server allows.
            thread::sleep(Duration::from_millis(50));
            let n = reader.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "let go after {at} of {total} bytes");
            for (k, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, byte_at(5, at + k as u64));
            }
            at += n as u64;
        }
        writer.join().unwrap();
    });
}
