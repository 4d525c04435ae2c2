//! What a read does to the buffer it owns, for every buffer type a host
//! user reads into (`Vec<u8>`, the core's `PoolBuf`, a registered
//! `FixedBuf`, the `Vec`s of a vectored read), on both backends: it appends
//! after the bytes the buffer holds, up to its capacity, and a buffer with
//! no spare capacity is `InvalidInput` — never `Ok(0)`, which reads as the
//! end of the stream. Also the helpers built on it (`read_exact`,
//! `read_to_end`) and the owned buffers a write takes.

use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;

use kasync::io::BufPool;
use kasync_host::fs::File;
use kasync_host::io;
use kasync_host::net::{UdpSocket, UnixStream};
use kasync_ops::ops::ReadvAt;

mod support;
use support::each_backend;

#[test]
fn a_socket_read_appends_to_a_vec() {
    each_backend("append", |rt| {
        rt.block_on(async {
            let (ours, peer) = UnixStream::pair().unwrap();
            peer.write_all("world").await.0.unwrap();
            let mut buf = Vec::with_capacity(64);
            buf.extend_from_slice(b"hello ");
            let (n, buf) = ours.read(buf).await;
            assert_eq!(n.unwrap(), 5);
            assert_eq!(buf, b"hello world");
        })
    });
}

#[test]
fn a_read_into_an_empty_or_full_vec_is_invalid_input() {
    each_backend("no spare capacity", |rt| {
        rt.block_on(async {
            let (ours, peer) = UnixStream::pair().unwrap();
            peer.write_all("data").await.0.unwrap();
            let (n, buf) = ours.read(Vec::new()).await;
            let error = n.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput);
            assert!(error.to_string().contains("with_capacity"), "{error}");
            assert!(buf.is_empty());
            let (n, buf) = ours.read(vec![0u8; 4]).await;
            assert_eq!(n.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(buf, [0; 4]);
            // The data is still there for a read that has room.
            let (n, buf) = ours.read(Vec::with_capacity(8)).await;
            assert_eq!(n.unwrap(), 4);
            assert_eq!(buf, b"data");
        })
    });
}

#[test]
fn a_read_appends_to_a_pool_buffer() {
    static POOL: BufPool<2, 16> = BufPool::new();
    each_backend("pool buffer", |rt| {
        rt.block_on(async {
            let (ours, peer) = UnixStream::pair().unwrap();
            peer.write_all("0123456789abcdefXYZ").await.0.unwrap();
            let mut buf = POOL.take().unwrap();
            buf.extend_from_slice(b">>");
            let (n, buf) = ours.read(buf).await;
            assert_eq!(n.unwrap(), 14);
            assert_eq!(&buf[..], b">>0123456789abcd");
            let (n, buf) = ours.read(buf).await;
            assert_eq!(n.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(&buf[..], b">>0123456789abcd", "a full buffer is left alone");
        })
    });
}

#[test]
fn a_datagram_read_appends() {
    each_backend("datagram", |rt| {
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            b.send_to(b"ping", a.local_addr().unwrap()).unwrap();
            let mut buf = Vec::with_capacity(32);
            buf.extend_from_slice(b"got ");
            let (got, buf) = a.recv_from(buf).await;
            let (n, from) = got.unwrap();
            assert_eq!(n, 4);
            assert_eq!(from, b.local_addr().unwrap());
            assert_eq!(buf, b"got ping");
            let (got, _) = a.recv_from(Vec::new()).await;
            assert_eq!(got.unwrap_err().kind(), ErrorKind::InvalidInput);
        })
    });
}

#[test]
fn file_reads_append_to_vecs_registered_buffers_and_vectors() {
    let path = std::env::temp_dir().join(format!("kasync-buffers-{}", std::process::id()));
    std::fs::write(&path, b"abcdefghijklmnopqrstuvwxyz").unwrap();
    each_backend("file", |rt| {
        let pool = rt.register_buffers(1, 8).unwrap();
        rt.block_on(async {
            let file = File::open(&path).await.unwrap();
            let mut buf = Vec::with_capacity(6);
            buf.extend_from_slice(b"<");
            let (n, buf) = file.read_at(buf, 3).await;
            assert_eq!(n.unwrap(), 5);
            assert_eq!(buf, b"<defgh");

            let mut fixed = pool.take().unwrap();
            fixed.extend_from_slice(b"123");
            let (n, fixed) = file.read_fixed_at(fixed, 0).await;
            assert_eq!(n.unwrap(), 5);
            assert_eq!(fixed.as_slice(), b"123abcde");
            let (n, fixed) = file.read_fixed_at(fixed, 0).await;
            assert_eq!(n.unwrap_err().kind(), ErrorKind::InvalidInput);
            drop(fixed);

            // Vectored: each buffer's spare capacity, in order.
            let mut first = Vec::with_capacity(4);
            first.extend_from_slice(b"1:");
            let mut second = Vec::with_capacity(3);
            second.extend_from_slice(b"2:");
            let fd = std::fs::File::open(&path).unwrap();
            let (n, bufs) = io()
                .submit(ReadvAt::new(fd.as_raw_fd(), vec![first, second], 0))
                .await;
            assert_eq!(n.unwrap(), 3);
            assert_eq!(bufs, [b"1:ab".to_vec(), b"2:c".to_vec()]);
            let (n, _) = io().submit(ReadvAt::new(fd.as_raw_fd(), bufs, 0)).await;
            assert_eq!(n.unwrap_err().kind(), ErrorKind::InvalidInput);
            kasync_poll::closing(fd.as_raw_fd());
        })
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn read_exact_and_read_to_end() {
    each_backend("helpers", |rt| {
        rt.block_on(async {
            let (ours, theirs) = StdUnixStream::pair().unwrap();
            let ours = UnixStream::from(ours);
            let writer = std::thread::spawn(move || {
                let mut theirs = theirs;
                for chunk in [&b"ab"[..], b"cdef", b"gh", b"ij"] {
                    theirs.write_all(chunk).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            });
            let mut buf = Vec::with_capacity(7);
            buf.push(b'>');
            let (r, buf) = ours.read_exact(buf).await;
            r.unwrap();
            assert_eq!(buf, b">abcdef", "filled to its capacity across reads");
            let (r, rest) = ours.read_to_end(b"..".to_vec()).await;
            assert_eq!(r.unwrap(), 4);
            assert_eq!(rest, b"..ghij");
            writer.join().unwrap();
            // The peer is gone: a read_exact that cannot finish says so,
            // keeping what it got.
            let (ours, peer) = UnixStream::pair().unwrap();
            peer.write_all("xy").await.0.unwrap();
            drop(peer);
            let (r, buf) = ours.read_exact(Vec::with_capacity(5)).await;
            let error = r.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
            assert!(error.to_string().contains("2 of 5"), "{error}");
            assert_eq!(buf, b"xy");
        })
    });
}

#[test]
fn writes_take_static_text_strings_and_vecs() {
    each_backend("owned writes", |rt| {
        rt.block_on(async {
            let (ours, peer) = UnixStream::pair().unwrap();
            ours.write_all("static ").await.0.unwrap();
            ours.write_all(&b"bytes "[..]).await.0.unwrap();
            let (r, s) = ours.write_all(String::from("string ")).await;
            r.unwrap();
            assert_eq!(s, "string ", "the String comes back");
            ours.write_all(b"vec".to_vec()).await.0.unwrap();
            drop(ours);
            let (r, all) = peer.read_to_end(Vec::new()).await;
            r.unwrap();
            assert_eq!(all, b"static bytes string vec");
        })
    });
}
