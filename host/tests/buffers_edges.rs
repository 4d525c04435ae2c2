//! Appending reads at their edges, from a review that tried to break
//! them: full, empty and partly filled buffers through `read_exact`,
//! `read_to_end`, `recv_from` (empty and truncated datagrams) and vectored
//! reads over mixed buffers, on both backends.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd};

use kasync_host::fs::File;
use kasync_host::io;
use kasync_host::net::{UdpSocket, UnixStream};
use kasync_ops::ops::ReadvAt;

mod support;
use support::each_backend;

#[test]
fn edges_of_appending_reads() {
    each_backend("edges", |rt| {
        rt.block_on(async {
            let (ours, peer) = UnixStream::pair().unwrap();
            // Full buffer: InvalidInput, bytes kept, nothing consumed.
            let (r, full) = ours
                .read(b"abc".to_vec().into_boxed_slice().into_vec())
                .await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(full, b"abc");
            // read_exact into no spare capacity: Ok at once.
            let (r, _) = ours.read_exact(Vec::new()).await;
            r.unwrap();
            // read_exact into a partly filled buffer fills only the spare.
            peer.write_all("12345").await.0.unwrap();
            let mut v = Vec::with_capacity(4);
            v.extend_from_slice(b"ab");
            let (r, v) = ours.read_exact(v).await;
            r.unwrap();
            assert_eq!(v, b"ab12");
            // read_to_end from a full Vec keeps it and appends.
            drop(peer);
            let (r, v) = ours.read_to_end(v).await;
            assert_eq!(r.unwrap(), 3);
            assert_eq!(v, b"ab12345");

            // Datagrams: no spare -> InvalidInput; a short spare truncates.
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (r, _) = b.recv_from(Vec::new()).await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
            a.send_to("", b.local_addr().unwrap()).await.0.unwrap();
            let (r, buf) = b.recv_from(Vec::with_capacity(8)).await;
            assert_eq!(r.unwrap().0, 0, "an empty datagram is Ok(0)");
            assert!(buf.is_empty());
            a.send_to("0123456789", b.local_addr().unwrap())
                .await
                .0
                .unwrap();
            let mut v = Vec::with_capacity(6);
            v.extend_from_slice(b"xy");
            let (r, v) = b.recv_from(v).await;
            assert_eq!(r.unwrap().0, 4);
            assert_eq!(v, b"xy0123");

            // Vectored: full, empty-capacity, partly filled, roomy.
            let path = std::env::temp_dir().join(format!("zz_breaker_{}", std::process::id()));
            std::fs::File::create(&path)
                .unwrap()
                .write_all(b"ABCDEFGH")
                .unwrap();
            let file = File::open(&path).await.unwrap();
            let mut part = Vec::with_capacity(3);
            part.push(b'p');
            let bufs = vec![b"full".to_vec(), Vec::new(), part, Vec::with_capacity(100)];
            let cap3 = bufs[3].capacity();
            let (r, bufs) = io()
                .submit(ReadvAt::new(file.as_fd().as_raw_fd(), bufs, 0))
                .await;
            assert_eq!(r.unwrap(), 8);
            assert_eq!(bufs[0], b"full");
            assert!(bufs[1].is_empty());
            assert_eq!(bufs[2], b"pAB");
            assert_eq!(bufs[3], b"CDEFGH");
            assert_eq!(bufs[3].capacity(), cap3);
            // All full: InvalidInput.
            let (r, _) = io()
                .submit(ReadvAt::new(
                    file.as_fd().as_raw_fd(),
                    vec![b"x".to_vec(), Vec::new()],
                    0,
                ))
                .await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
            std::fs::remove_file(&path).unwrap();
        })
    });
}
