//! Careless callers of the readiness backend, found by a review that set
//! out to break it: each case behaves as on io_uring (checked on both),
//! or at least never blocks the loop or the process.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use kasync::io::{Completion, Driver, Operation};
use kasync_host::{Backend, Builder, Runtime, io, sleep, spawn};
use kasync_ops::Call;
use kasync_ops::ops::{ReadAt, Recv, WriteAt};
use kasync_tests::watchdog::watchdog;

fn runtime(backend: Backend) -> Runtime {
    Builder::new().backend(backend).build().unwrap()
}

/// A pipe, both ends close-on-exec and owned by the caller.
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

fn close(fd: RawFd) {
    kasync_poll::closing(fd);
    // SAFETY: the caller owns `fd` and gives it up.
    unsafe { libc::close(fd) };
}

/// A read at an offset of a pipe (`host cat <(cmd)`): a pipe has no
/// offset, so it reads where it is — as io_uring does — instead of failing
/// with `ESPIPE` (what `pread` says).
#[test]
fn a_pipe_read_at_an_offset_reads_where_it_is() {
    for backend in [Backend::Uring, Backend::Poll] {
        let rt = runtime(backend);
        let (r, w) = pipe();
        // SAFETY: three bytes from a live buffer into our pipe.
        assert_eq!(unsafe { libc::write(w, b"abc".as_ptr().cast(), 3) }, 3);
        let (n, buf) = rt.block_on(async {
            io().submit(ReadAt {
                fd: r.into(),
                buf: Vec::with_capacity(16),
                offset: 0,
            })
            .await
        });
        assert_eq!((n.unwrap(), &buf[..]), (3, &b"abc"[..]), "{backend}");
        close(r);
        close(w);
    }
}

/// A write of more than a blocking pipe holds, whose reader is a task of
/// the same runtime: the loop must not block in the write (the reader
/// would never run). Every byte arrives.
#[test]
fn a_large_write_to_a_blocking_pipe_does_not_block_the_loop() {
    watchdog("large pipe write", || {
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            let (r, w) = pipe();
            let total = rt.block_on(async move {
                let reader = spawn(async move {
                    let mut total = 0usize;
                    let mut buf = Vec::with_capacity(64 * 1024);
                    while total < 1 << 20 {
                        buf.clear();
                        let (n, back) = io()
                            .submit(ReadAt {
                                fd: r.into(),
                                buf,
                                offset: u64::MAX,
                            })
                            .await;
                        buf = back;
                        assert!(buf.iter().all(|&b| b == 1));
                        total += n.unwrap();
                    }
                    total
                })
                .unwrap();
                sleep(Duration::from_millis(5)).await;
                let mut data = vec![1u8; 1 << 20];
                while !data.is_empty() {
                    let (n, back) = io()
                        .submit(WriteAt {
                            fd: w.into(),
                            buf: data,
                            offset: u64::MAX,
                        })
                        .await;
                    data = back[n.unwrap()..].to_vec();
                }
                reader.await.unwrap()
            });
            assert_eq!(total, 1 << 20, "{backend}");
            close(r);
            close(w);
        }
    });
}

/// A zero-length read of an empty pipe (a driver-level `Call::Read` with
/// length 0: the operations refuse such a buffer before it gets here)
/// completes at once with 0 (there is nothing to wait for), as on io_uring.
#[test]
fn a_zero_length_pipe_read_completes_at_once() {
    /// `read(fd, buf, 0)`, as a user's operation over `Call::Read`.
    struct EmptyRead(RawFd);
    // SAFETY: a zero-length read touches no memory.
    unsafe impl<D: Driver<Op = Call>> Operation<D> for EmptyRead {
        type Output = i32;
        fn build(&mut self) -> Call {
            Call::Read {
                fd: self.0.into(),
                buf: std::ptr::NonNull::<u8>::dangling().as_ptr(),
                len: 0,
                offset: u64::MAX,
            }
        }
        fn complete(self, c: Completion) -> i32 {
            c.result
        }
    }
    watchdog("zero-length read", || {
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            let (r, w) = pipe();
            let n = rt.block_on(async move {
                let read = io().submit(EmptyRead(r));
                kasync_host::time::timeout(Duration::from_secs(5), read)
                    .await
                    .expect("a zero-length read waited")
            });
            assert_eq!(n, 0, "{backend}");
            close(r);
            close(w);
        }
    });
}

/// A read into a buffer without spare capacity is refused at once with
/// `InvalidInput` on both backends — never `Ok(0)`, which would look like
/// the end of the stream — and the buffer comes back untouched.
#[test]
fn a_read_into_a_full_buffer_is_invalid_input_at_once() {
    watchdog("full-buffer read", || {
        for backend in [Backend::Uring, Backend::Poll] {
            let rt = runtime(backend);
            let (r, w) = pipe();
            let (n, buf) = rt.block_on(async move {
                let read = io().submit(ReadAt {
                    fd: r.into(),
                    buf: b"full".to_vec(),
                    offset: u64::MAX,
                });
                kasync_host::time::timeout(Duration::from_secs(5), read)
                    .await
                    .expect("a read into a full buffer waited")
            });
            let error = n.unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{backend}");
            assert!(error.to_string().contains("spare capacity"), "{error}");
            assert_eq!(buf, b"full", "{backend}");
            close(r);
            close(w);
        }
    });
}

/// Closing another descriptor — even one whose number shares the low bits
/// with the socket's — leaves a receive waiting on the socket alone.
#[test]
fn closing_an_unrelated_descriptor_leaves_a_waiting_receive_alone() {
    kasync_tests::crowd::raise_descriptor_limit(8192).expect("8192 descriptors");
    watchdog("unrelated close", || {
        for backend in [Backend::Uring, Backend::Poll] {
            for distance in [4096, 4096 + 1024] {
                let rt = runtime(backend);
                let (ours, mut theirs) = StdUnixStream::pair().unwrap();
                let fd = ours.as_raw_fd();
                let (n, buf) = rt.block_on(async move {
                    let waiting = spawn(io().submit(Recv {
                        fd,
                        buf: Vec::with_capacity(16),
                    }))
                    .unwrap();
                    sleep(Duration::from_millis(5)).await;
                    let other = fd + distance;
                    let null = std::fs::File::open("/dev/null").unwrap();
                    // SAFETY: duplicates our own descriptor onto a number
                    // nothing uses.
                    assert_eq!(unsafe { libc::dup2(null.as_raw_fd(), other) }, other);
                    close(other);
                    sleep(Duration::from_millis(5)).await;
                    theirs.write_all(b"data").unwrap();
                    waiting.await.unwrap()
                });
                assert_eq!(
                    (n.unwrap(), &buf[..]),
                    (4, &b"data"[..]),
                    "{backend}, {distance}"
                );
                // A raw descriptor the driver saw is closed the way the
                // readiness backend asks for (host types do this).
                kasync_poll::closing(fd);
                drop(ours);
            }
        }
    });
}

/// A descriptor number far beyond any open one is refused with `EBADF` —
/// not a table sized by the number (which aborted the process).
#[test]
fn an_absurd_descriptor_number_is_ebadf() {
    for backend in [Backend::Uring, Backend::Poll] {
        let rt = runtime(backend);
        for fd in [i32::MAX, 1 << 30, 70_000] {
            let (n, _) = rt.block_on(async {
                io().submit(Recv {
                    fd,
                    buf: Vec::with_capacity(16),
                })
                .await
            });
            assert_eq!(
                n.unwrap_err().raw_os_error(),
                Some(libc::EBADF),
                "{backend}: {fd}"
            );
        }
    }
}
