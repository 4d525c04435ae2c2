//! Careless callers of `Compat`: no flush, writes after a close, polls
//! from two places, moves between threads, the adapter given up with bytes
//! still in it, an adapter that outlives its runtime.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_util::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use kasync_host::compat::Compat;
use kasync_host::net::UnixStream;
use kasync_host::time::timeout;

mod support;
use support::each_backend;

const T: Duration = Duration::from_secs(10);

/// Never flushes: writes a request, then reads the whole answer.
#[test]
fn never_flush_then_read_to_end() {
    each_backend("never flush", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            let peer = kasync_host::spawn(async move {
                let (n, buf) = b.read(Vec::with_capacity(64)).await;
                assert_eq!(&buf[..n.unwrap()], b"req");
                b.write_all("resp").await.0.unwrap();
                drop(b);
            })
            .unwrap();
            a.write_all(b"req").await.unwrap(); // never flushed
            let mut got = Vec::new();
            timeout(T, a.read_to_end(&mut got))
                .await
                .expect("no hang")
                .unwrap();
            assert_eq!(got, b"resp");
            // read after EOF, many times, with writes (never flushed) in between
            for _ in 0..5 {
                let _ = a.write(b"x").await; // may fail (peer gone)
                let mut buf = [0u8; 8];
                let n = timeout(T, a.read(&mut buf))
                    .await
                    .expect("no hang")
                    .unwrap();
                assert_eq!(n, 0);
            }
            peer.await.unwrap();
        })
    });
}

/// Writes after the peer closed: an error, no panic, no hang; flush and close too.
#[test]
fn write_after_peer_closed() {
    each_backend("write after close", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            drop(b);
            let mut a = Compat::new(a);
            let big = vec![7u8; 1 << 20];
            let r = timeout(T, a.write_all(&big)).await.expect("no hang");
            assert!(r.is_err(), "write_all after the peer closed: {r:?}");
            let f = timeout(T, a.flush()).await.expect("no hang");
            assert!(f.is_err(), "flush reports it: {f:?}");
            let c = timeout(T, a.close()).await.expect("no hang");
            eprintln!("close after a failed write: {c:?}");
            let mut buf = [0u8; 4];
            let n = timeout(T, a.read(&mut buf)).await.expect("no hang");
            eprintln!("read after: {n:?}");
        })
    });
}

/// Write after our own close (shutdown): an error.
#[test]
fn write_after_own_close() {
    each_backend("write after own close", |rt| {
        rt.block_on(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            a.write_all(b"x").await.unwrap();
            a.close().await.unwrap();
            a.close().await.unwrap(); // twice
            let w = timeout(T, async {
                a.write_all(b"after").await?;
                a.flush().await
            })
            .await
            .expect("no hang");
            assert!(w.is_err(), "write after close: {w:?}");
        })
    });
}

/// Full duplex through split halves: 4 MiB each way, every byte in order.
#[test]
fn full_duplex_split_no_loss() {
    each_backend("full duplex", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Compat::new(a), Compat::new(b));
            // b echoes
            let echo = kasync_host::spawn(async move {
                let (r, mut w) = b.split();
                futures_util::io::copy(r, &mut w).await.unwrap();
                w.close().await.unwrap();
            })
            .unwrap();
            let (mut r, mut w) = a.split();
            let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 251) as u8).collect();
            let send = async {
                w.write_all(&data).await.unwrap();
                w.close().await.unwrap();
            };
            let mut got = Vec::new();
            let recv = async {
                r.read_to_end(&mut got).await.unwrap();
            };
            timeout(
                Duration::from_secs(30),
                futures_util::future::join(send, recv),
            )
            .await
            .expect("no hang");
            assert_eq!(got.len(), data.len());
            assert!(got == data, "bytes differ");
            echo.await.unwrap();
        })
    });
}

/// Alternate poll_read / poll_write by hand on one adapter, with the same
/// context (what a hand-written protocol loop does).
#[test]
fn alternating_polls_one_adapter() {
    each_backend("alternating", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Compat::new(a), Compat::new(b));
            let echo = kasync_host::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = b.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    b.write_all(&buf[..n]).await.unwrap();
                }
                b.close().await.unwrap();
            })
            .unwrap();
            let total = 1usize << 20;
            let data: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
            let mut sent = 0;
            let mut got = Vec::new();
            let mut closed = false;
            let mut rbuf = vec![0u8; 3000];
            timeout(
                Duration::from_secs(30),
                poll_fn(|cx| {
                    loop {
                        let mut progress = false;
                        if sent < total {
                            if let Poll::Ready(r) = Pin::new(&mut a)
                                .poll_write(cx, &data[sent..(sent + 5000).min(total)])
                            {
                                sent += r.unwrap();
                                progress = true;
                            }
                        } else if !closed {
                            if let Poll::Ready(r) = Pin::new(&mut a).poll_close(cx) {
                                r.unwrap();
                                closed = true;
                                progress = true;
                            }
                        }
                        match Pin::new(&mut a).poll_read(cx, &mut rbuf) {
                            Poll::Ready(Ok(0)) => return Poll::Ready(()),
                            Poll::Ready(Ok(n)) => {
                                got.extend_from_slice(&rbuf[..n]);
                                progress = true;
                            }
                            Poll::Ready(Err(e)) => panic!("{e}"),
                            Poll::Pending => {}
                        }
                        if !progress {
                            return Poll::Pending;
                        }
                    }
                }),
            )
            .await
            .expect("no hang");
            assert_eq!(got.len(), total);
            assert!(got == data);
            echo.await.unwrap();
        })
    });
}

/// A receive in flight, moved to another thread and back: no byte lost.
#[test]
fn moved_mid_read_and_back() {
    each_backend("moved mid read", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            let mut buf = [0u8; 16];
            assert!(a.read(&mut buf).now_or_never().is_none()); // receive in flight
            let mut a = std::thread::spawn(move || {
                let mut buf = [0u8; 16];
                let e = a.read(&mut buf).now_or_never().unwrap().unwrap_err();
                assert!(e.to_string().contains("another thread"));
                let e = a.close().now_or_never().unwrap().unwrap_err();
                assert!(e.to_string().contains("another thread"));
                a
            })
            .join()
            .unwrap();
            b.write_all("hello").await.0.unwrap();
            let n = timeout(T, a.read(&mut buf))
                .await
                .expect("no hang")
                .unwrap();
            assert_eq!(&buf[..n], b"hello");
        })
    });
}

/// into_inner on another thread with a receive in flight: documented panic.
#[test]
fn into_inner_elsewhere_busy_panics() {
    each_backend("into_inner elsewhere", |rt| {
        rt.block_on(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            let mut buf = [0u8; 16];
            assert!(a.read(&mut buf).now_or_never().is_none());
            let r = std::thread::spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = a.into_inner();
                }));
                r.is_err()
            })
            .join()
            .unwrap();
            assert!(r, "into_inner elsewhere while busy panics");
        })
    });
}

/// Bytes received but not read yet come back with `into_parts`.
#[test]
fn into_parts_keeps_the_bytes_received_but_not_read() {
    each_backend("into_inner buffered", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            b.write_all("hello world").await.0.unwrap();
            drop(b);
            let mut a = Compat::new(a);
            let mut five = [0u8; 5];
            a.read_exact(&mut five).await.unwrap();
            let (a, unread) = a.into_parts();
            let (n, rest) = a.read_to_end(unread).await;
            n.unwrap();
            assert_eq!(
                &rest[..],
                b" world",
                "bytes received into Compat's buffer were lost"
            );
        })
    });
}

/// Bytes reported written, flushed, then `into_inner` with the peer not
/// reading yet: every byte arrives (unflushed ones may not: documented).
#[test]
fn into_inner_after_a_flush_loses_nothing() {
    each_backend("into_inner unflushed", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            // Fill the socket so the chunk stays in flight.
            let big = vec![1u8; 1 << 20];
            let mut written = 0;
            while written < big.len() {
                match timeout(Duration::from_millis(200), a.write(&big[written..])).await {
                    Ok(n) => written += n.unwrap(),
                    Err(_) => break,
                }
            }
            let reader =
                kasync_host::spawn(async move { b.read_to_end(Vec::new()).await }).unwrap();
            timeout(T, a.flush())
                .await
                .expect("the peer reads: the flush ends")
                .unwrap();
            drop(a.into_inner());
            let (n, got) = reader.await.unwrap();
            n.unwrap();
            eprintln!("reported written {written}, peer got {}", got.len());
            assert_eq!(
                got.len(),
                written,
                "write() reported bytes written that never arrived"
            );
        })
    });
}

/// A Compat with a receive in flight outlives its runtime; a new runtime on
/// the same thread then uses it and drops it.
#[test]
fn compat_outlives_its_runtime() {
    let rt1 = kasync_host::Runtime::new().unwrap();
    let (mut a, b) = rt1.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = Compat::new(a);
        let mut buf = [0u8; 16];
        assert!(a.read(&mut buf).now_or_never().is_none());
        (a, b)
    });
    drop(rt1);
    let rt2 = kasync_host::Runtime::new().unwrap();
    rt2.block_on(async {
        // A fresh op of the new runtime, likely in the same slot.
        let (c, d) = UnixStream::pair().unwrap();
        let mut c = Compat::new(c);
        let mut cbuf = [0u8; 16];
        assert!(c.read(&mut cbuf).now_or_never().is_none());
        b.write_all("old").await.0.unwrap();
        let mut buf = [0u8; 16];
        let r = timeout(Duration::from_secs(3), a.read(&mut buf)).await;
        eprintln!(
            "old compat read in new runtime: {:?}",
            r.as_ref().map(|r| r.as_ref().map(|n| &buf[..*n]))
        );
        drop(a);
        d.write_all("new").await.0.unwrap();
        let n = timeout(Duration::from_secs(3), c.read(&mut cbuf))
            .await
            .expect("the new runtime's read still completes")
            .unwrap();
        assert_eq!(&cbuf[..n], b"new");
    });
}
