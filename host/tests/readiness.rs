//! What only a readiness backend has to get right — spurious readiness, a
//! peer that closes between readiness and the call, `EAGAIN` storms,
//! cancellation while waiting for readiness, descriptor numbers that come
//! back — and the cases where it must behave exactly like io_uring,
//! checked on both backends side by side.

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt;
use kasync_host::{Backend, Builder, Runtime, io, sleep, spawn};
use kasync_ops::ops::{Recv, RecvMulti, Send, Timeout};
use kasync_tests::watchdog::watchdog;

mod support;

fn runtime(backend: Backend) -> Runtime {
    Builder::new().backend(backend).build().unwrap()
}

/// Polls `f` once: `true` if it is still pending.
async fn is_pending<F: Future>(mut f: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx).is_pending())).await
}

/// A receive of up to `len` bytes on `fd`, as its own task.
fn recv(fd: RawFd, len: usize) -> kasync::JoinHandle<(std::io::Result<usize>, Vec<u8>)> {
    spawn(io().submit(Recv {
        fd,
        buf: Vec::with_capacity(len),
    }))
    .unwrap()
}

/// Two receives wait on one datagram socket; the datagram that arrives is
/// taken by the first, so the readiness the second sees is spurious: it
/// tries, finds nothing (`EAGAIN`), and waits again — until its own comes.
#[test]
fn a_spurious_readiness_makes_a_receive_wait_again() {
    watchdog("spurious readiness", || {
        let rt = runtime(Backend::Poll);
        let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let fd = ours.as_raw_fd();
        let before = rt.driver_stats();
        rt.block_on(async {
            let first = recv(fd, 64);
            let second = recv(fd, 64);
            sleep(Duration::from_millis(5)).await;
            theirs.send(b"hello").unwrap();
            let (n, buf) = first.await.unwrap();
            assert_eq!((n.unwrap(), &buf[..]), (5, &b"hello"[..]));
            sleep(Duration::from_millis(20)).await;
            theirs.send(b"world").unwrap();
            let (n, buf) = second.await.unwrap();
            assert_eq!((n.unwrap(), &buf[..]), (5, &b"world"[..]));
        });
        let after = rt.driver_stats();
        // The first tried and waited (the second queued behind it without
        // a try); the datagram woke both: the first read it (and the
        // driver asked, once, what kind of socket this is: two calls), the
        // second tried, found nothing and waited again; then it read its
        // own.
        assert_eq!(after.would_block - before.would_block, 2, "{after:?}");
        assert_eq!(after.calls - before.calls, 6, "{after:?}");
    });
}

/// On a TCP socket a read shorter than its buffer means the socket is
/// drained: the next receive waits for readiness without a call that
/// would only say `EAGAIN` (what keeps the readiness backend at tokio's
/// system calls per request).
#[test]
fn a_short_read_on_a_tcp_socket_waits_without_a_call() {
    watchdog("short read", || {
        let rt = runtime(Backend::Poll);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut theirs = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        let fd = ours.as_raw_fd();
        let before = rt.driver_stats();
        rt.block_on(async {
            theirs.write_all(b"one").unwrap();
            sleep(Duration::from_millis(5)).await;
            let (n, _) = io()
                .submit(Recv {
                    fd,
                    buf: Vec::with_capacity(64),
                })
                .await;
            assert_eq!(n.unwrap(), 3);
            let next = recv(fd, 64);
            sleep(Duration::from_millis(5)).await;
            theirs.write_all(b"two").unwrap();
            let (n, buf) = next.await.unwrap();
            assert_eq!((n.unwrap(), &buf[..]), (3, &b"two"[..]));
        });
        let after = rt.driver_stats();
        // recv "one", the socket's kind (three calls: fstat, SO_TYPE,
        // getsockname), recv "two": no `EAGAIN` in between.
        assert_eq!(after.would_block - before.would_block, 0, "{after:?}");
        assert_eq!(after.calls - before.calls, 5, "{after:?}");
        kasync_poll::closing(fd);
    });
}

/// The peer sends and closes before the driver gets to the call: the
/// receive gets the data, the next one the end of the stream; a send that
/// waits for room when the peer goes away fails instead of hanging.
#[test]
fn a_peer_that_closes_between_readiness_and_the_call() {
    watchdog("peer closes", || {
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            let (ours, mut theirs) = StdUnixStream::pair().unwrap();
            let fd = ours.as_raw_fd();
            rt.block_on(async {
                let waiting = recv(fd, 64);
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"bye").unwrap();
                drop(theirs);
                let (n, buf) = waiting.await.unwrap();
                assert_eq!((n.unwrap(), &buf[..]), (3, &b"bye"[..]), "{backend}");
                let (n, _) = recv(fd, 64).await.unwrap();
                assert_eq!(n.unwrap(), 0, "{backend}: end of stream");
            });
            let (ours, theirs) = StdUnixStream::pair().unwrap();
            let fd = ours.as_raw_fd();
            rt.block_on(async {
                // Far more than the socket buffers hold: the send waits.
                let send = spawn(io().submit(Send {
                    fd,
                    buf: vec![7u8; 16 << 20],
                }))
                .unwrap();
                sleep(Duration::from_millis(20)).await;
                drop(theirs);
                let (result, _) = send.await.unwrap();
                match result {
                    // Some went before the peer left; a later send fails.
                    Ok(n) => {
                        assert!(n < 16 << 20, "{backend}: {n}");
                        let again = io()
                            .timeout(
                                Duration::from_secs(2),
                                io().submit(Send { fd, buf: vec![1] }),
                            )
                            .await;
                        assert!(again.unwrap().0.is_err(), "{backend}");
                    }
                    Err(e) => assert!(
                        matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)),
                        "{backend}: {e}"
                    ),
                }
            });
        }
    });
}

/// Sends all of `data` on `fd` with plain send operations.
async fn send_all(fd: RawFd, data: Vec<u8>) {
    let mut rest = data;
    while !rest.is_empty() {
        let (result, buf) = io().submit(Send { fd, buf: rest }).await;
        let n = result.unwrap();
        assert!(n > 0);
        rest = buf[n..].to_vec();
    }
}

/// Shrinks `fd`'s send buffer, so that sends fill it quickly.
fn small_send_buffer(fd: RawFd) {
    let size: libc::c_int = 4096;
    // SAFETY: passes a live `c_int` of the right size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

/// Eight writers push more than their socket buffers hold while their
/// peers drain them in small bites: a storm of `EAGAIN`s and writable
/// edges on eight descriptors at once. Every byte arrives once and in
/// order.
#[test]
fn an_eagain_storm_loses_and_reorders_nothing() {
    watchdog("EAGAIN storm", || {
        let rt = runtime(Backend::Poll);
        const STREAMS: usize = 8;
        const CHUNKS: usize = 200;
        const BYTES: usize = 3000;
        let chunk = |s: usize, i: usize| -> Vec<u8> {
            (0..BYTES).map(|k| (s * 7 + i * 13 + k) as u8).collect()
        };
        let mut ours = Vec::new();
        let mut readers = Vec::new();
        for s in 0..STREAMS {
            let (a, mut theirs) = StdUnixStream::pair().unwrap();
            small_send_buffer(a.as_raw_fd());
            ours.push(a);
            readers.push(std::thread::spawn(move || {
                let mut all = Vec::with_capacity(CHUNKS * BYTES);
                let mut bite = [0u8; 777];
                while all.len() < CHUNKS * BYTES {
                    let n = theirs.read(&mut bite).unwrap();
                    assert!(n > 0, "stream {s} ended early");
                    all.extend_from_slice(&bite[..n]);
                    std::thread::sleep(Duration::from_micros(20));
                }
                all
            }));
        }
        let before = rt.driver_stats();
        rt.block_on(async {
            let writers: Vec<_> = ours
                .iter()
                .enumerate()
                .map(|(s, sock)| {
                    let fd = sock.as_raw_fd();
                    spawn(async move {
                        for i in 0..CHUNKS {
                            send_all(fd, chunk(s, i)).await;
                        }
                    })
                    .unwrap()
                })
                .collect();
            for writer in writers {
                writer.await.unwrap();
            }
        });
        let after = rt.driver_stats();
        for (s, reader) in readers.into_iter().enumerate() {
            let all = reader.join().unwrap();
            for (i, got) in all.chunks(BYTES).enumerate() {
                assert!(
                    got == &chunk(s, i)[..],
                    "stream {s}, chunk {i} came back changed"
                );
            }
        }
        assert!(
            after.would_block - before.would_block >= 20,
            "the storm was not exercised: {after:?}"
        );
    });
}

/// A receive cancelled while it waits for readiness completes with
/// `-ECANCELED`, its buffer untouched, and the data that comes later is
/// there for the next receive — on both backends.
#[test]
fn cancellation_while_waiting_for_readiness() {
    watchdog("cancel while waiting", || {
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            let (ours, mut theirs) = StdUnixStream::pair().unwrap();
            let fd = ours.as_raw_fd();
            rt.block_on(async {
                let mut op = pin!(io().submit(Recv {
                    fd,
                    buf: Vec::with_capacity(32),
                }));
                assert!(
                    is_pending(op.as_mut()).await,
                    "{backend}: nothing to read yet"
                );
                let (result, buf) = op.as_mut().cancel().await;
                assert_eq!(
                    result.unwrap_err().raw_os_error(),
                    Some(libc::ECANCELED),
                    "{backend}"
                );
                assert!(buf.is_empty(), "{backend}: the buffer was not written");
                theirs.write_all(b"later").unwrap();
                let (n, buf) = recv(fd, 32).await.unwrap();
                assert_eq!((n.unwrap(), &buf[..]), (5, &b"later"[..]), "{backend}");
                // A waiting receive whose future is dropped is cancelled
                // too: the next byte goes to the next receive.
                {
                    let mut dropped = pin!(io().submit(Recv {
                        fd,
                        buf: Vec::with_capacity(32),
                    }));
                    assert!(is_pending(dropped.as_mut()).await, "{backend}");
                }
                let waiting = spawn(io().submit(Recv {
                    fd,
                    buf: Vec::with_capacity(32),
                }))
                .unwrap();
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"!").unwrap();
                let (n, buf) = waiting.await.unwrap();
                assert_eq!((n.unwrap(), &buf[..]), (1, &b"!"[..]), "{backend}");
            });
        }
    });
}

/// A timeout of the backend's own completes after its time, and one that is
/// cancelled completes at once with `-ECANCELED` — on both backends.
#[test]
fn timeouts_fire_and_cancel_alike() {
    watchdog("timeouts", || {
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            rt.block_on(async {
                let start = std::time::Instant::now();
                io().submit(Timeout::new(Duration::from_millis(15)))
                    .await
                    .unwrap();
                assert!(start.elapsed() >= Duration::from_millis(15), "{backend}");
                let mut long = pin!(io().submit(Timeout::new(Duration::from_secs(3600))));
                assert!(is_pending(long.as_mut()).await);
                let err = long.as_mut().cancel().await.unwrap_err();
                assert_eq!(err.raw_os_error(), Some(libc::ECANCELED), "{backend}");
            });
        }
    });
}

/// A multishot receive takes the shared buffers in the same order on both
/// backends, and ends with `ENOBUFS` when the application holds them all.
#[test]
fn multishot_receives_use_the_shared_buffers_alike() {
    watchdog("multishot alike", || {
        let mut seen = Vec::new();
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            let Some(ring) = support::recv_buffers(&rt, 2, 8) else {
                continue; // io_uring without them: only readiness is checked
            };
            let (ours, mut theirs) = StdUnixStream::pair().unwrap();
            let fd = ours.as_raw_fd();
            let outcome = rt.block_on(async {
                let mut stream = pin!(io().submit_multishot(RecvMulti::new(fd, ring)));
                theirs.write_all(b"12345678").unwrap();
                let first = stream.next().await.unwrap().unwrap().unwrap();
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"abcdefgh").unwrap();
                let second = stream.next().await.unwrap().unwrap().unwrap();
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"zz").unwrap();
                // Both buffers are held: the receive ends for want of one.
                let third = stream.next().await.unwrap().map(|b| b.map(|b| b.to_vec()));
                (first.to_vec(), second.to_vec(), format!("{third:?}"))
            });
            assert_eq!(outcome.0, b"12345678", "{backend}");
            assert_eq!(outcome.1, b"abcdefgh", "{backend}");
            assert!(
                outcome.2.contains("No buffer space"),
                "{backend}: {}",
                outcome.2
            );
            assert_eq!(ring.available(), 2, "{backend}: buffers back in the ring");
            seen.push(outcome);
        }
        if let [uring, poll] = &seen[..] {
            assert_eq!(uring, poll, "io_uring and readiness behave alike");
        }
    });
}

/// A descriptor number closed by one socket and handed to the next is a
/// new file to the readiness backend: the new socket's reads are not
/// mistaken for the old one's registration, whoever closed it.
#[test]
fn a_descriptor_number_that_comes_back_is_a_new_file() {
    watchdog("fd reuse", || {
        let rt = runtime(Backend::Poll);
        rt.block_on(async {
            let mut numbers = Vec::new();
            for round in 0..20u8 {
                let (a, b) = kasync_host::net::UnixStream::pair().unwrap();
                numbers.push(a.as_fd().as_raw_fd());
                // A read waits (registers the descriptor), then is served.
                let fd = a.as_fd().as_raw_fd();
                let waiting = recv(fd, 8);
                sleep(Duration::from_millis(1)).await;
                let (r, _) = b.write_all(vec![round]).await;
                r.unwrap();
                let (n, buf) = waiting.await.unwrap();
                assert_eq!((n.unwrap(), buf), (1, vec![round]));
                drop((a, b));
            }
            numbers.sort_unstable();
            numbers.dedup();
            assert!(numbers.len() < 20, "numbers were reused: {numbers:?}");
        });
    });
}
