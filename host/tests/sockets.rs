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
        let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
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

/// The ecosystem's `AsyncRead`/`AsyncWrite` tools work on kasync sockets:
/// `copy` echoes a stream, `read_to_end` collects it.
#[test]
fn futures_io_adapters_copy_and_read_to_end() {
    watchdog("futures-io", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let (reader, mut writer) = Compat::new(stream).split();
                futures_util::io::copy(reader, &mut writer).await.unwrap();
                writer.close().await.unwrap();
            })
            .unwrap();
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
