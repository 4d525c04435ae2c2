//! Cancellation against the real kernel: nothing lost, nothing leaked.
//! (Its own test binary: it counts the process's open descriptors.)

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;
use std::time::Duration;

use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, io, sleep, spawn};
use kasync_tests::watchdog::watchdog;

/// The tests here count descriptors: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// 1 000 accepts dropped in flight — some while a connection is arriving,
/// so the kernel may complete them anyway — leak no descriptor.
#[test]
fn dropped_accepts_leak_no_descriptor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("dropped accepts", || {
        let rt = Runtime::new().unwrap();
        let before = open_fds();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut accepted = 0;
            for round in 0..1000 {
                // A client connects while the accept is cut short after 0-99 µs.
                let connect = spawn(async move { TcpStream::connect(addr).await.ok() }).unwrap();
                let wait = Duration::from_micros(round % 100);
                if let Ok(Ok((stream, _))) = io().timeout(wait, listener.accept()).await {
                    accepted += 1;
                    drop(stream);
                }
                drop(connect.await.unwrap());
            }
            // Connections nobody accepted are still queued on the listener:
            // drain them so only leaks would remain.
            while let Ok(Ok(_)) = io()
                .timeout(Duration::from_millis(20), listener.accept())
                .await
            {
                accepted += 1;
            }
            assert!(accepted > 0);
        });
        drop(rt);
        let after = open_fds();
        assert!(
            after <= before,
            "descriptors: {before} before, {after} after"
        );
    });
}

/// A timeout around a read that fires while data is arriving loses no
/// bytes: `cancel` hands over the data of a read that completed anyway.
#[test]
fn timeout_while_data_arrives_loses_no_bytes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("timeout vs data", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let total: usize = 200_000;
            let sender = spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                let mut sent = 0;
                let mut n = 0u8;
                while sent < total {
                    let chunk: Vec<u8> = (0..997.min(total - sent))
                        .map(|i| n.wrapping_add(i as u8))
                        .collect();
                    n = n.wrapping_add(chunk.len() as u8);
                    sent += chunk.len();
                    let (r, _) = stream.write_all(chunk).await;
                    r.unwrap();
                    sleep(Duration::from_micros(50)).await;
                }
                stream.shutdown_write().await.unwrap();
            })
            .unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut received = Vec::with_capacity(total);
            let (mut timeouts, mut despite_cancel) = (0, 0);
            let fd = stream.as_fd().as_raw_fd();
            loop {
                let read = io().submit(kasync_ops::ops::Recv {
                    fd,
                    buf: Vec::with_capacity(4096),
                });
                let mut read = std::pin::pin!(read);
                let (result, buf) =
                    match io().timeout(Duration::from_micros(30), read.as_mut()).await {
                        Ok(done) => done,
                        Err(_) => {
                            // Time is up: cancel, and take whatever arrived anyway.
                            timeouts += 1;
                            let (result, buf) = read.as_mut().cancel().await;
                            match result {
                                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => continue,
                                _ => despite_cancel += 1,
                            }
                            (result, buf)
                        }
                    };
                let n = result.unwrap();
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
            sender.await.unwrap();
            eprintln!("{timeouts} timeouts, {despite_cancel} reads completed despite the cancel");
            assert!(
                timeouts > 0,
                "the timer never fired: the race was not exercised"
            );
            assert_eq!(received.len(), total);
            let mut n = 0u8;
            let mut i = 0;
            while i < total {
                let len = 997.min(total - i);
                for k in 0..len {
                    assert_eq!(received[i + k], n.wrapping_add(k as u8), "byte {}", i + k);
                }
                n = n.wrapping_add(len as u8);
                i += len;
            }
        });
    });
}

/// Dropping the runtime with 500 reads in flight waits for each to be
/// cancelled and releases their buffers only then.
#[test]
fn dropping_the_runtime_with_500_reads_in_flight() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("drop with reads in flight", || {
        // The runtime's own ring and eventfd stay open (its core is kept
        // for reuse): count after creating it.
        let rt = Runtime::new().unwrap();
        let before = open_fds();
        let mut pipes = Vec::new();
        rt.block_on(async {
            for _ in 0..500 {
                let mut fds = [0; 2];
                // SAFETY: `pipe` fills two descriptors we own afterwards.
                assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
                pipes.push(fds);
                let read = io().submit(kasync_ops::ops::ReadAt {
                    fd: (fds[0]).into(),
                    buf: Vec::<u8>::with_capacity(1024),
                    offset: u64::MAX,
                });
                let _detached = spawn(async move {
                    let _ = read.await;
                })
                .unwrap();
            }
            sleep(Duration::from_millis(2)).await;
        });
        drop(rt);
        for [r, w] in pipes {
            // SAFETY: closing descriptors `pipe` gave us, once.
            unsafe {
                libc::close(r);
                libc::close(w);
            }
        }
        assert_eq!(open_fds(), before);
    });
}

/// A multishot accept serves many connections from one submission; dropped
/// while connections keep arriving, it leaks no descriptor.
#[test]
fn multishot_accept_serves_and_drops_cleanly() {
    use futures_util::StreamExt;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watchdog("multishot accept", || {
        let rt = Runtime::new().unwrap();
        let before = open_fds();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let clients = spawn(async move {
                let mut streams = Vec::new();
                for _ in 0..100 {
                    streams.push(TcpStream::connect(addr).await.unwrap());
                }
                streams
            })
            .unwrap();
            let mut incoming = listener.incoming();
            let mut accepted = Vec::new();
            while accepted.len() < 50 {
                accepted.push(incoming.next().await.unwrap().unwrap());
            }
            // Stop accepting while the other 50 are still arriving.
            drop(incoming);
            let streams = clients.await.unwrap();
            assert_eq!(streams.len(), 100);
            drop(streams);
            drop(accepted);
            sleep(Duration::from_millis(5)).await;
        });
        drop(rt);
        let after = open_fds();
        assert!(
            after <= before,
            "descriptors: {before} before, {after} after"
        );
    });
}
