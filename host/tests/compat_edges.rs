//! `Compat` at its edges, from a review that tried to break it: zero-byte
//! writes, closing twice, writing after close, a peer that resets
//! mid-write, dropped read futures — and a descriptor closed while a send
//! on it is still queued for io_uring (the number then reused by a new
//! socket must not receive that send: the close submits what is queued
//! first).

use std::io::ErrorKind;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use futures_util::io::{AsyncRead, AsyncWrite};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use kasync_host::Backend;
use kasync_host::compat::Compat;
use kasync_host::net::{TcpListener, TcpStream, UnixStream};

mod support;
use support::each_backend;

#[test]
fn zero_writes_double_close_write_after_close() {
    each_backend("odd orders", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Compat::new(a), Compat::new(b));
            assert_eq!(a.write(b"").await.unwrap(), 0);
            a.flush().await.unwrap();
            a.write_all(b"xy").await.unwrap();
            a.close().await.unwrap();
            a.close().await.unwrap(); // twice
            // A write after close: reported written, failing on the next call.
            let w = a.write(b"late").await;
            let f = a.flush().await;
            eprintln!("write after close: {w:?}, flush: {f:?}");
            assert!(
                w.is_err() || f.is_err(),
                "bytes after close must fail somewhere"
            );
            // Sticky: every later write fails too.
            assert!(a.write(b"z").await.is_err());
            let mut s = Vec::new();
            b.read_to_end(&mut s).await.unwrap();
            assert_eq!(s, b"xy");
            // Reads after EOF stay at EOF.
            let mut one = [0u8; 1];
            assert_eq!(b.read(&mut one).await.unwrap(), 0);
            assert_eq!(b.read(&mut one).await.unwrap(), 0);
        })
    });
}

#[test]
fn peer_resets_mid_write() {
    each_backend("reset mid-write", |rt| {
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            let mut c = Compat::new(c);
            // The peer closes with unread data: RST.
            s.write_all("junk").await.0.unwrap();
            drop(s);
            let big = vec![7u8; 256 * 1024];
            let mut err = None;
            for _ in 0..64 {
                if let Err(e) = c.write_all(&big).await {
                    err = Some(e);
                    break;
                }
            }
            let e = err.expect("writes to a reset peer fail");
            eprintln!("reset: {e:?}");
            // Using it after the error.
            assert!(c.flush().await.is_err());
            let r = c.close().await;
            eprintln!("close after reset: {r:?}");
            let mut buf = [0u8; 8];
            let r = c.read(&mut buf).await;
            eprintln!("read after reset: {r:?}");
        })
    });
}

#[test]
fn full_duplex_with_a_pending_read_and_dropped_read_futures() {
    each_backend("duplex", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Compat::new(a), Compat::new(b));
            let cx = &mut Context::from_waker(Waker::noop());
            let mut buf = [0u8; 4];
            // Start a read on `a`, leave it pending, write and flush on `a`.
            {
                let mut r = pin!(a.read(&mut buf));
                assert!(r.as_mut().poll(cx).is_pending());
            }
            a.write_all(b"ping").await.unwrap();
            a.flush().await.unwrap();
            let mut got = [0u8; 4];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
            b.write_all(b"pong").await.unwrap();
            b.flush().await.unwrap();
            // Pending read resumed through a fresh call.
            a.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
            // poll_read with an empty buffer, poll_write with empty data, raw.
            let mut pa = std::pin::Pin::new(&mut a);
            assert!(matches!(
                pa.as_mut().poll_read(cx, &mut []),
                Poll::Ready(Ok(0))
            ));
            assert!(matches!(
                pa.as_mut().poll_write(cx, &[]),
                Poll::Ready(Ok(0))
            ));
        })
    });
}

#[test]
fn dropping_compat_with_ops_in_flight_then_reusing_the_descriptor_number() {
    each_backend("drop in flight", |rt| {
        rt.block_on(async {
            for round in 0..3 {
                let (a, b) = UnixStream::pair().unwrap();
                let mut a = Compat::new(a);
                let cx = &mut Context::from_waker(Waker::noop());
                let mut buf = [0u8; 4];
                {
                    let mut r = pin!(a.read(&mut buf));
                    assert!(r.as_mut().poll(cx).is_pending());
                }
                // A chunk being sent, and a read in flight, then drop (the
                // stream field drops — closes the fd — before the ops).
                let _ = std::pin::Pin::new(&mut a).poll_write(cx, &vec![1u8; 300_000]);
                drop(a);
                drop(b);
                // New sockets very likely reuse the numbers.
                let (c, d) = UnixStream::pair().unwrap();
                let (mut c, mut d) = (Compat::new(c), Compat::new(d));
                c.write_all(b"okay").await.unwrap();
                c.flush().await.unwrap();
                let mut got = [0u8; 4];
                d.read_exact(&mut got).await.unwrap();
                assert_eq!(&got, b"okay", "round {round}");
                let _ = ErrorKind::Other;
            }
        })
    });
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_traits_zero_and_shutdown_twice() {
    use tokio::io::AsyncWriteExt as _;
    each_backend("tokio", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Compat::new(a), Compat::new(b));
            assert_eq!(
                tokio::io::AsyncWriteExt::write(&mut a, b"").await.unwrap(),
                0
            );
            tokio::io::AsyncWriteExt::write_all(&mut a, b"abc")
                .await
                .unwrap();
            a.shutdown().await.unwrap();
            a.shutdown().await.unwrap();
            let mut s = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut s)
                .await
                .unwrap();
            assert_eq!(s, b"abc");
        })
    });
}

/// Same, with `Compat` over a reference: the adapter (and its ops) is
/// dropped *before* the stream closes its descriptor.
#[test]
fn dropping_compat_by_ref_with_a_send_in_flight_then_reusing_the_number() {
    each_backend("drop in flight, by ref", |rt| {
        let backend = rt.backend();
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            {
                let mut ca = Compat::new(&a);
                let cx = &mut Context::from_waker(Waker::noop());
                let _ = std::pin::Pin::new(&mut ca).poll_write(cx, &vec![1u8; 300_000]);
            }
            drop(a);
            drop(b);
            a_new_pair_reads_only_its_own_bytes(backend).await;
        })
    });
}

/// Without Compat: a plain owned-buffer write future polled once and
/// dropped, the stream closed, a new pair made.
#[test]
fn plain_write_future_dropped_before_submission_then_number_reused() {
    each_backend("plain drop in flight", |rt| {
        let backend = rt.backend();
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            {
                let cx = &mut Context::from_waker(Waker::noop());
                let mut w = pin!(a.write_all(vec![1u8; 300_000]));
                let _ = w.as_mut().poll(cx);
            }
            drop(a);
            drop(b);
            a_new_pair_reads_only_its_own_bytes(backend).await;
        })
    });
}

/// A new pair — on the numbers just closed, most likely — reads only its
/// own bytes, none of a cancelled send queued for the old ones.
async fn a_new_pair_reads_only_its_own_bytes(backend: Backend) {
    let (c, d) = UnixStream::pair().unwrap();
    c.write_all("okay").await.0.unwrap();
    let (r, got) = d.read_exact(Vec::with_capacity(4)).await;
    r.unwrap();
    assert_eq!(
        got, b"okay",
        "on {backend}: another socket's cancelled bytes arrived here"
    );
}
