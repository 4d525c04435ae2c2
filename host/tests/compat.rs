//! `Compat`, the adapter to the ecosystem's I/O traits: reads that are
//! left pending (a `select!` that picked the other branch) and resumed,
//! partial reads out of its buffer, and — with the `tokio-io` feature —
//! tokio's traits over a large two-way transfer.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use kasync_host::compat::Compat;
use kasync_host::net::UnixStream;
use kasync_host::sleep;

mod support;
use support::each_backend;

#[test]
fn a_read_left_pending_and_resumed_after_partial_reads_loses_and_repeats_nothing() {
    each_backend("pending read", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = Compat::new(a);
            b.write_all("abcdef").await.0.unwrap();
            let mut three = [0; 3];
            a.read_exact(&mut three).await.unwrap();
            assert_eq!(&three, b"abc");
            a.read_exact(&mut three).await.unwrap();
            assert_eq!(&three, b"def");
            // Nothing there: the read is started and left pending (as a
            // `select!` does when the other branch wins), twice.
            for _ in 0..2 {
                let mut read = pin!(a.read(&mut three));
                let cx = &mut Context::from_waker(Waker::noop());
                assert!(read.as_mut().poll(cx).is_pending());
            }
            b.write_all("ghi").await.0.unwrap();
            sleep(std::time::Duration::from_millis(1)).await;
            let n = a.read(&mut three).await.unwrap();
            assert_eq!(&three[..n], &b"ghi"[..n]);
            let mut rest = Vec::new();
            if n < 3 {
                rest.resize(3 - n, 0);
                a.read_exact(&mut rest).await.unwrap();
            }
            assert_eq!([&three[..n], &rest[..]].concat(), b"ghi");
        })
    });
}

#[test]
fn writes_and_reads_of_every_size_arrive_in_order() {
    each_backend("sizes", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Compat::new(a), Compat::new(b));
            let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let expected = data.clone();
            let writer = kasync_host::spawn(async move {
                let mut at = 0;
                let mut size = 1;
                while at < data.len() {
                    let end = (at + size).min(data.len());
                    a.write_all(&data[at..end]).await.unwrap();
                    at = end;
                    size = size * 3 % 40_000 + 1;
                }
                a.close().await.unwrap();
            })
            .unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0; 7_000];
            loop {
                let n = b.read(&mut buf[..(got.len() % 6_999) + 1]).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            writer.await.unwrap();
            assert!(got == expected, "{} bytes, differs", got.len());
        })
    });
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_traits_carry_a_large_transfer_both_ways() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    each_backend("tokio-io", |rt| {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (a, mut b) = (Compat::new(a), Compat::new(b));
            let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
            let expected = data.clone();
            let echo = kasync_host::spawn(async move {
                // Echo everything back, in small reads.
                let mut buf = [0; 1_000];
                loop {
                    let n = tokio::io::AsyncReadExt::read(&mut b, &mut buf)
                        .await
                        .unwrap();
                    if n == 0 {
                        break;
                    }
                    tokio::io::AsyncWriteExt::write_all(&mut b, &buf[..n])
                        .await
                        .unwrap();
                }
                tokio::io::AsyncWriteExt::shutdown(&mut b).await.unwrap();
            })
            .unwrap();
            let (mut read_half, mut write_half) = tokio::io::split(a);
            let sender = kasync_host::spawn(async move {
                write_half.write_all(&data).await.unwrap();
                write_half.shutdown().await.unwrap();
            })
            .unwrap();
            let mut got = Vec::new();
            read_half.read_to_end(&mut got).await.unwrap();
            sender.await.unwrap();
            echo.await.unwrap();
            assert!(got == expected, "{} bytes back, differs", got.len());
        })
    });
}
