//! UDP, Unix sockets, the futures-io adapters, signals as futures, and
//! wakes from other threads — against the real kernel.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use kasync_host::compat::Compat;
use kasync_host::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use kasync_host::signal::Signals;
use kasync_host::{Runtime, spawn, time};
use kasync_tests::watchdog::watchdog;

#[test]
fn udp_round_trip() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (r, _) = a.send_to(b"ping".to_vec(), b.local_addr().unwrap()).await;
        assert_eq!(r.unwrap(), 4);
        let (r, buf) = b.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = r.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, a.local_addr().unwrap());
    });
}

#[test]
fn unix_listener_and_pair() {
    let dir = std::env::temp_dir().join(format!("kasync-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let server = listener.accept().await.unwrap();
        let (r, _) = client.write_all(b"over unix".to_vec()).await;
        r.unwrap();
        let (n, buf) = server.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..n.unwrap()], b"over unix");

        let (x, y) = UnixStream::pair().unwrap();
        let (r, _) = y.write_all(b"pair".to_vec()).await;
        r.unwrap();
        let (n, buf) = x.read(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..n.unwrap()], b"pair");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An echo server of one connection through `futures::io::copy` over the
/// adapter, closing its writing half at the end of the input.
fn spawn_copy_echo(listener: TcpListener) -> kasync::JoinHandle<()> {
    spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (reader, mut writer) = Compat::new(stream).split();
        futures_util::io::copy(reader, &mut writer).await.unwrap();
        writer.close().await.unwrap();
    })
    .unwrap()
}

/// The ecosystem's `AsyncRead`/`AsyncWrite` tools work on kasync sockets:
/// `copy` echoes a stream, `read_to_end` collects it.
#[test]
fn futures_io_adapters_copy_and_read_to_end() {
    watchdog("futures-io", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn_copy_echo(listener);
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut io = Compat::new(stream);
            let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
            io.write_all(&data).await.unwrap();
            io.close().await.unwrap(); // shuts down our writing half
            let mut back = Vec::new();
            io.read_to_end(&mut back).await.unwrap();
            assert!(
                back == data,
                "copied {} of {} bytes",
                back.len(),
                data.len()
            );
            server.await.unwrap();
        });
    });
}

#[test]
fn signals_arrive_as_values() {
    let signals = Signals::new(&[libc::SIGUSR1]).unwrap();
    let rt = Runtime::new().unwrap();
    let got = rt.block_on(async {
        // SAFETY: sends SIGUSR1 to this thread, where it is blocked and
        // therefore queued for the signalfd.
        unsafe { libc::raise(libc::SIGUSR1) };
        time::timeout(Duration::from_secs(5), signals.recv()).await
    });
    assert_eq!(got.unwrap().unwrap(), libc::SIGUSR1);
}

/// A waker used on another thread wakes the runtime parked in io_uring.
#[test]
fn waker_on_another_thread_wakes_the_parked_ring() {
    watchdog("cross-thread wake", || {
        let rt = Runtime::new().unwrap();
        let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
        let s = slot.clone();
        let waker_thread = std::thread::spawn(move || {
            for _ in 0..200 {
                loop {
                    let mut guard = s.lock().unwrap();
                    if let Some(waker) = guard.1.take() {
                        guard.0 = true;
                        drop(guard);
                        waker.wake();
                        break;
                    }
                    drop(guard);
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        });
        rt.block_on(async {
            for _ in 0..200 {
                poll_fn(|cx| {
                    let mut guard = slot.lock().unwrap();
                    if std::mem::take(&mut guard.0) {
                        Poll::Ready(())
                    } else {
                        guard.1 = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
            }
        });
        waker_thread.join().unwrap();
        assert!(rt.driver_stats().wakeups > 0, "woken through the eventfd");
    });
}

/// `poll_write` reports the bytes of its own call: a caller that gets
/// `Pending` (the peer is not reading) and then writes *other* data finds
/// exactly the data it was told was written in the stream, in order —
/// never the first call's bytes counted as the second's.
#[test]
fn compat_writes_count_the_bytes_of_their_own_call() {
    use futures_util::io::AsyncWrite;
    use std::io::Read;
    use std::task::Context;
    watchdog("compat_writes_count_their_own_bytes", || {
        let rt = Runtime::new().unwrap();
        let (accepted, peer) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = std::net::TcpStream::connect(addr).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut io = Compat::new(stream);
            let mut cx = Context::from_waker(Waker::noop());
            let mut accepted: Vec<u8> = Vec::new();
            // Write until a write is pending (the peer's buffers are full).
            let mut round = 0u8;
            loop {
                let chunk = vec![round; 16 * 1024];
                match std::pin::Pin::new(&mut io).poll_write(&mut cx, &chunk) {
                    Poll::Ready(Ok(n)) => accepted.extend_from_slice(&chunk[..n]),
                    Poll::Ready(Err(e)) => panic!("{e}"),
                    Poll::Pending => break,
                }
                round = round.wrapping_add(1);
                // Let the sends make progress.
                kasync_host::sleep(Duration::from_millis(1)).await;
            }
            // Different data after the `Pending`: only what is reported
            // written may appear in the stream.
            let other = vec![0xEE; 1000];
            let n = std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_write(cx, &other));
            let reader = std::thread::spawn(move || {
                let mut peer = peer;
                let mut all = Vec::new();
                peer.read_to_end(&mut all).unwrap();
                all
            });
            let n = n.await.unwrap();
            accepted.extend_from_slice(&other[..n]);
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_close(cx))
                .await
                .unwrap();
            drop(io);
            (accepted, reader)
        });
        let received = peer.join().unwrap();
        assert_eq!(received.len(), accepted.len());
        assert!(
            received == accepted,
            "the stream holds exactly what was reported written"
        );
    });
}

/// An interactive echo through `futures::io::copy` over the adapter: each
/// write is sent at once, not held until a flush that `copy` never makes
/// while it waits for input. A read into an empty buffer is `Ok(0)` at
/// once.
#[test]
fn compat_sends_each_write_at_once() {
    watchdog("compat_sends_each_write_at_once", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn_copy_echo(listener);
            let mut client = Compat::new(TcpStream::connect(addr).await.unwrap());
            assert_eq!(client.read(&mut []).await.unwrap(), 0, "empty read");
            for round in 0..3u8 {
                let ping = [b'p', b'i', b'n', round];
                client.write_all(&ping).await.unwrap();
                client.flush().await.unwrap();
                let mut back = [0u8; 4];
                time::timeout(Duration::from_secs(5), client.read_exact(&mut back))
                    .await
                    .expect("the echo came back while copy waited for input")
                    .unwrap();
                assert_eq!(back, ping);
            }
            client.close().await.unwrap();
            server.await.unwrap();
        });
    });
}

/// After the peer resets the connection, every later write through the
/// adapter fails: no bytes are claimed written after a failed chunk.
#[test]
fn compat_write_errors_stick() {
    use futures_util::io::AsyncWrite;
    use std::os::fd::AsRawFd;
    watchdog("compat_write_errors_stick", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = std::net::TcpStream::connect(addr).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            // The peer resets: linger 0, then close.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: sets `SO_LINGER` from a live `linger` on our socket.
            let r = unsafe {
                libc::setsockopt(
                    peer.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(r, 0);
            drop(peer);
            time::sleep(Duration::from_millis(20)).await;
            let mut io = Compat::new(stream);
            let chunk = vec![1u8; 16 * 1024];
            let mut failed_at = None;
            for i in 0..8 {
                let r = poll_fn(|cx| std::pin::Pin::new(&mut io).poll_write(cx, &chunk)).await;
                match (r, failed_at) {
                    (Err(_), None) => failed_at = Some(i),
                    (Ok(_), Some(at)) => panic!("write {i} succeeded after write {at} failed"),
                    _ => {}
                }
            }
            assert!(failed_at.is_some(), "the reset showed");
            // Closing reports that the data did not all go out.
            let err = io.close().await.unwrap_err();
            assert_ne!(err.kind(), std::io::ErrorKind::NotConnected, "{err}");
        });
    });
}

/// Closing the writing side twice is fine.
#[test]
fn compat_close_twice_is_fine() {
    watchdog("compat_close_twice_is_fine", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn_copy_echo(listener);
            let mut io = Compat::new(TcpStream::connect(addr).await.unwrap());
            io.write_all(b"bye").await.unwrap();
            io.close().await.unwrap();
            let mut back = Vec::new();
            io.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"bye");
            server.await.unwrap();
            io.close().await.unwrap();
        });
    });
}
