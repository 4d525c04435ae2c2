//! The readiness backend's "drained" rule (a descriptor known to be empty
//! waits for its next event without a call) where a short read does not
//! mean empty — a peek, a Unix socket passing credentials — and where it
//! does (a half-close, full-duplex TCP with small buffers): every case
//! behaves as on io_uring. Found by a review that set out to break it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use kasync::io::{Completion, Driver, IoBufMut, Operation};
use kasync_host::{Backend, Builder, Runtime, io, sleep, spawn};
use kasync_ops::Call;
use kasync_ops::ops::{Recv, Send};
use kasync_tests::watchdog::watchdog;

fn runtime(backend: Backend) -> Runtime {
    Builder::new().backend(backend).build().unwrap()
}

async fn recv(fd: RawFd, len: usize) -> (usize, Vec<u8>) {
    let (n, buf) = io()
        .submit(Recv {
            fd,
            buf: Vec::with_capacity(len),
        })
        .await;
    (n.unwrap(), buf)
}

/// A `recv` with `MSG_PEEK` (a user's operation over `Call::Recv`).
struct Peek {
    fd: RawFd,
    buf: Vec<u8>,
}

// SAFETY: pointer and length from the owned Vec.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Peek {
    type Output = (i32, Vec<u8>);
    fn build(&mut self) -> Call {
        Call::Recv {
            fd: self.fd,
            buf: self.buf.stable_mut_ptr(),
            len: self.buf.capacity() as u32,
            flags: libc::MSG_PEEK,
        }
    }
    fn complete(mut self, c: Completion) -> Self::Output {
        if c.result > 0 {
            // SAFETY: the kernel wrote that many bytes.
            unsafe { self.buf.set_len(c.result as usize) };
        }
        (c.result, self.buf)
    }
}

/// A short `MSG_PEEK` leaves the data in the socket; the next receive
/// must get it (io_uring does at once).
#[test]
fn a_short_peek_does_not_make_the_next_receive_wait() {
    for backend in [Backend::Uring, Backend::Poll] {
        watchdog(&format!("peek {backend}"), move || {
            let rt = runtime(backend);
            let (ours, mut theirs) = StdUnixStream::pair().unwrap();
            let fd = ours.as_raw_fd();
            rt.block_on(async {
                // Registered (a receive waited), its event consumed.
                let first = spawn(async move { recv(fd, 64).await }).unwrap();
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"zero").unwrap();
                assert_eq!(first.await.unwrap().0, 4);
                theirs.write_all(b"abc").unwrap();
                sleep(Duration::from_millis(20)).await;
                let (n, buf) = io()
                    .submit(Peek {
                        fd,
                        buf: Vec::with_capacity(64),
                    })
                    .await;
                assert_eq!((n, &buf[..]), (3, &b"abc"[..]));
                let (n, buf) = recv(fd, 64).await;
                assert_eq!((n, &buf[..]), (3, &b"abc"[..]), "{backend}");
            });
            kasync_poll::closing(fd);
        });
    }
}

/// With `SO_PASSCRED`, a Unix stream read never glues bytes of two
/// writers with different credentials (another process): the read of the
/// first writer's bytes is short although the second's are queued.
#[test]
fn passcred_reads_stop_between_writers() {
    for backend in [Backend::Uring, Backend::Poll] {
        watchdog(&format!("passcred {backend}"), move || {
            let rt = runtime(backend);
            let (ours, mut theirs) = StdUnixStream::pair().unwrap();
            let one: libc::c_int = 1;
            // SAFETY: an int option, from a live `c_int`, on our socket.
            let set = unsafe {
                libc::setsockopt(
                    ours.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_PASSCRED,
                    (&one as *const libc::c_int).cast(),
                    4,
                )
            };
            assert_eq!(set, 0);
            let fd = ours.as_raw_fd();
            // Registered (a receive waited), its event consumed.
            rt.block_on(async {
                let first = spawn(async move { recv(fd, 64).await }).unwrap();
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"zero").unwrap();
                assert_eq!(first.await.unwrap().0, 4);
            });
            theirs.write_all(b"parent").unwrap();
            let child_end: OwnedFd = theirs.try_clone().unwrap().into();
            let status = std::process::Command::new("sh")
                .args(["-c", "printf child"])
                .stdout(child_end)
                .status()
                .unwrap();
            assert!(status.success());
            rt.block_on(async {
                sleep(Duration::from_millis(20)).await;
                let (n, buf) = recv(fd, 64).await;
                assert_eq!(&buf[..n], b"parent", "{backend}");
                let (n, buf) = recv(fd, 64).await;
                assert_eq!(&buf[..n], b"child", "{backend}");
            });
            kasync_poll::closing(fd);
        });
    }
}

/// After a short read, the peer sends and half-closes while the next
/// receive waits: it gets the bytes, then the end.
#[test]
fn short_read_then_half_close() {
    for backend in [Backend::Uring, Backend::Poll] {
        watchdog(&format!("half close {backend}"), move || {
            let rt = runtime(backend);
            let (ours, mut theirs) = StdUnixStream::pair().unwrap();
            let fd = ours.as_raw_fd();
            rt.block_on(async {
                theirs.write_all(b"one").unwrap();
                assert_eq!(recv(fd, 64).await.0, 3);
                // Data right after the short read, before the next push.
                theirs.write_all(b"two").unwrap();
                let (n, buf) = recv(fd, 64).await;
                assert_eq!(&buf[..n], b"two");
                let next = spawn(async move { recv(fd, 64).await }).unwrap();
                sleep(Duration::from_millis(5)).await;
                theirs.write_all(b"x").unwrap();
                theirs.shutdown(std::net::Shutdown::Write).unwrap();
                let (n, buf) = next.await.unwrap();
                assert_eq!(&buf[..n], b"x");
                assert_eq!(recv(fd, 64).await.0, 0);
                assert_eq!(recv(fd, 64).await.0, 0);
            });
            kasync_poll::closing(fd);
        });
    }
}

/// TCP: a reader task and a writer task on one socket, small buffers,
/// a peer thread that echoes in odd chunk sizes with pauses.
#[test]
fn tcp_full_duplex_with_small_buffers() {
    let only = std::env::var("ZZ_BACKEND").ok();
    for backend in [Backend::Uring, Backend::Poll] {
        if only.as_deref().is_some_and(|o| o != format!("{backend}")) {
            continue;
        }
        watchdog(&format!("duplex {backend}"), move || {
            let rt = runtime(backend);
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let ours = std::net::TcpStream::connect(addr).unwrap();
            let (mut peer, _) = listener.accept().unwrap();
            for fd in [ours.as_raw_fd(), peer.as_raw_fd()] {
                let size: libc::c_int = 4096;
                // SAFETY: an int option, from a live `c_int`, on our socket.
                unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_SNDBUF,
                        (&size as *const libc::c_int).cast(),
                        4,
                    )
                };
            }
            const TOTAL: usize = 4 << 20;
            let echo = std::thread::spawn(move || {
                let mut buf = vec![0u8; 7919];
                let mut done = 0;
                let mut i = 0u32;
                while done < TOTAL {
                    let want = 1 + (i as usize * 613) % buf.len();
                    let n = peer.read(&mut buf[..want]).unwrap();
                    if n == 0 {
                        break;
                    }
                    peer.write_all(&buf[..n]).unwrap();
                    done += n;
                    i += 1;
                    if i % 97 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                done
            });
            let fd = ours.as_raw_fd();
            let got = rt.block_on(async move {
                let writer = spawn(async move {
                    let mut sent = 0;
                    let mut k = 0usize;
                    while sent < TOTAL {
                        let len = (1 + k * 31337 % 65536).min(TOTAL - sent);
                        let data: Vec<u8> = (0..len).map(|j| ((sent + j) % 251) as u8).collect();
                        let (n, _) = io().submit(Send { fd, buf: data }).await;
                        sent += n.unwrap();
                        if std::env::var("ZZ_TRACE").is_ok() {
                            eprintln!("sent {sent}");
                        }
                        k += 1;
                    }
                })
                .unwrap();
                let mut got = 0;
                let mut k = 0usize;
                while got < TOTAL {
                    let (n, buf) = recv(fd, 1 + k * 4099 % 20000).await;
                    assert!(n > 0);
                    for (j, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, ((got + j) % 251) as u8);
                    }
                    got += n;
                    k += 1;
                    if std::env::var("ZZ_TRACE").is_ok() {
                        eprintln!("got {got}");
                    }
                }
                writer.await.unwrap();
                got
            });
            assert_eq!(got, TOTAL);
            assert_eq!(echo.join().unwrap(), TOTAL);
            kasync_poll::closing(fd);
            drop(ours);
        });
    }
}
