//! The io_uring runtime against the real kernel: tasks, timers, operations,
//! cancellation, shutdown with operations in flight.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use kasync_host::{Backend, Builder, Runtime, io, sleep, spawn};
use kasync_ops::ops::{Nop, ReadAt, WriteAt};
use kasync_tests::watchdog::watchdog;

#[test]
fn block_on_spawn_sleep_and_nop() {
    let rt = Runtime::new().expect("io_uring is available on this machine");
    let out = rt.block_on(async {
        let task = spawn(async {
            sleep(Duration::from_millis(5)).await;
            21
        })
        .unwrap();
        io().submit(Nop).await.unwrap();
        task.await.unwrap() * 2
    });
    assert_eq!(out, 42);
    assert!(rt.driver_stats().completions >= 1);
}

/// A submission ring of 4 entries under 64 tasks' worth of operations: a
/// full ring is back-pressure (the operation waits for the next turn), so
/// every operation is submitted exactly once and completes. A lost
/// operation would hang, which the watchdog turns into a failure.
#[test]
fn a_full_submission_ring_is_back_pressure() {
    watchdog("a_full_submission_ring_is_back_pressure", || {
        let rt = Builder::new().ring_entries(4).build().unwrap();
        let before = rt.driver_stats();
        let done = rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    spawn(async {
                        for _ in 0..50 {
                            io().submit(Nop).await.unwrap();
                        }
                        50
                    })
                    .unwrap()
                })
                .collect();
            let mut done = 0;
            for task in tasks {
                done += task.await.unwrap();
            }
            done
        });
        let after = rt.driver_stats();
        assert_eq!(done, 64 * 50);
        assert_eq!(after.submitted - before.submitted, 64 * 50);
        assert!(after.completions - before.completions >= 64 * 50);
    });
}

/// A fresh, empty file opened for reading and writing in its own
/// directory (remove the directory when done).
fn scratch_file(tag: &str) -> (std::path::PathBuf, std::fs::File) {
    let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("data"))
        .unwrap();
    (dir, file)
}

#[test]
fn sleep_never_ends_early() {
    let rt = Runtime::new().unwrap();
    let start = Instant::now();
    rt.block_on(sleep(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn file_write_then_read_at_offsets() {
    let (dir, file) = scratch_file("kasync-rt");
    let fd = file.as_raw_fd();
    let rt = Runtime::new().unwrap();
    let (written, read) = rt.block_on(async {
        let (n, _) = io()
            .submit(WriteAt {
                fd: fd.into(),
                buf: b"hello, uring".to_vec(),
                offset: 3,
            })
            .await;
        let (m, buf) = io()
            .submit(ReadAt {
                fd: fd.into(),
                buf: Vec::with_capacity(64),
                offset: 3,
            })
            .await;
        (n.unwrap(), (m.unwrap(), buf))
    });
    assert_eq!(written, 12);
    assert_eq!(read.0, 12);
    assert_eq!(&read.1, b"hello, uring");
    drop(file);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads on a pipe nobody writes stay in flight; dropping the runtime
/// cancels them and waits for the kernel, then the buffers go.
#[test]
fn dropping_the_runtime_cancels_reads_in_flight() {
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills two descriptors we own afterwards.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..100 {
            let read = io().submit(ReadAt {
                fd: (fds[0]).into(),
                buf: Vec::with_capacity(4096),
                offset: u64::MAX,
            });
            let _detached = spawn(async move {
                let _ = read.await;
            })
            .unwrap();
        }
        sleep(Duration::from_millis(1)).await;
    });
    drop(rt); // must not hang, must not release the buffers early
    // SAFETY: closing the descriptors `pipe` gave us.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    // The next runtime on this thread reuses the core, clean.
    let rt = Runtime::new().unwrap();
    assert_eq!(rt.block_on(async { 7 }), 7);
}

#[test]
fn statx_timeout_and_vectored_io() {
    use kasync_ops::ops::{ReadvAt, Statx, Timeout, WritevAt};
    let (dir, file) = scratch_file("kasync-vec");
    let path = dir.join("data");
    let fd = file.as_raw_fd();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (n, _) = io()
            .submit(WritevAt::new(
                fd,
                vec![b"abc".to_vec(), b"defgh".to_vec()],
                0,
            ))
            .await;
        assert_eq!(n.unwrap(), 8);
        let (n, bufs) = io()
            .submit(ReadvAt::new(
                fd,
                vec![Vec::with_capacity(2), Vec::with_capacity(10)],
                1,
            ))
            .await;
        assert_eq!(n.unwrap(), 7);
        assert_eq!(bufs, [b"bc".to_vec(), b"defgh".to_vec()]);

        let stat = io().submit(Statx::new(&path).unwrap()).await.unwrap();
        assert_eq!(stat.stx_size, 8);
        let missing = io()
            .submit(Statx::new(&dir.join("nope")).unwrap())
            .await
            .unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);

        let start = Instant::now();
        io().submit(Timeout::new(Duration::from_millis(5)))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(5));
    });
    drop(file);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ring sizes no kernel accepts are a clear configuration error, not the
/// "io_uring is unavailable" diagnosis (or a panic) — and not a reason to
/// fall back to the readiness backend either.
#[test]
fn impossible_ring_sizes_are_a_configuration_error() {
    for (entries, backend) in [
        (0, Backend::Uring),
        (65_536, Backend::Uring),
        (u32::MAX, Backend::Uring),
        (0, Backend::Auto),
    ] {
        if backend == Backend::Auto && std::env::var_os(kasync_host::BACKEND_VARIABLE).is_some() {
            continue; // the variable decides what `Auto` is
        }
        let err = Builder::new()
            .backend(backend)
            .ring_entries(entries)
            .build()
            .err()
            .expect("refused");
        let message = err.to_string();
        assert!(
            message.contains("bad io_uring settings") && message.contains("submission entries"),
            "{entries}: {message}"
        );
    }
    assert!(Builder::new().ring_entries(1).build().is_ok());
}

/// Operations still waiting for room in a full submission queue when the
/// runtime is dropped — their futures leaked, so nothing will cancel them
/// — are failed instead of submitted: the drop does not wait forever on
/// a receive from an idle socket.
#[test]
fn a_leaked_held_back_operation_does_not_hang_the_runtime_drop() {
    use std::future::Future;
    use std::task::{Context, Waker};
    watchdog("a_leaked_held_back_operation_does_not_hang", || {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let rt = Builder::new().ring_entries(1).build().unwrap();
        rt.block_on(async move {
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..2 {
                let mut read = Box::pin(io().submit(ReadAt {
                    fd: fd.into(),
                    buf: Vec::with_capacity(16),
                    offset: u64::MAX,
                }));
                assert!(read.as_mut().poll(&mut cx).is_pending());
                std::mem::forget(read);
            }
        });
        drop(rt);
    });
}

/// A spare ring is only reused by a runtime that asks for the same setup
/// (io_uring's setup flags: on io_uring whatever the environment says).
#[test]
fn a_runtime_gets_the_setup_it_asks_for_after_another_was_dropped() {
    let plain = Builder::new()
        .backend(Backend::Uring)
        .setup_flags(false, false, false)
        .build()
        .unwrap();
    assert!(!plain.flags().unwrap().single_issuer);
    drop(plain);
    let default = Builder::new().backend(Backend::Uring).build().unwrap();
    let features = default.io_uring_features().unwrap();
    if features.contains(kasync_host::Feature::SingleIssuer) {
        assert!(
            default.flags().unwrap().single_issuer,
            "not the spare plain ring"
        );
    } else {
        eprintln!("this ring lacks single-issuer: which ring was reused is not visible");
    }
    drop(default);
    let poll = Builder::new().backend(Backend::Poll).build().unwrap();
    assert_eq!(poll.backend(), Backend::Poll, "not a spare io_uring core");
    assert_eq!(poll.flags(), None);
}

/// `write_all_at` at `u64::MAX` (the current position) keeps writing at
/// the current position after a short write instead of overflowing the
/// offset; an offset no file can have is refused.
#[test]
fn write_all_at_the_current_position_survives_short_writes() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    watchdog("write_all_at_the_current_position", || {
        let dir = std::env::temp_dir().join(format!("kasync-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        // SAFETY: clears the flags of a descriptor we own (blocking reads).
        let cleared = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETFL, 0) };
        assert_eq!(cleared, 0);
        // A writer that stays open until the end, so the reader sees no
        // end of stream before the runtime's writer opens.
        let keep = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let drain = std::thread::spawn(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).unwrap();
            all.len()
        });
        let rt = Runtime::new().unwrap();
        let outcome = rt.block_on(async {
            let file =
                kasync_host::fs::File::open_with(&path, libc::O_WRONLY | libc::O_NONBLOCK, 0)
                    .await
                    .unwrap();
            let (far, _) = file.write_all_at(vec![1u8; 8], 1 << 63).await;
            assert_eq!(far.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
            // More than the pipe holds: short writes, each continued at the
            // current position.
            spawn(async move { file.write_all_at(vec![1u8; 200_000], u64::MAX).await.0 })
                .unwrap()
                .await
        });
        drop(keep);
        let read = drain.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        match outcome.expect("the writing task did not panic") {
            Ok(()) => assert_eq!(read, 200_000, "every byte, once"),
            // A kernel that does not wait for a non-blocking pipe.
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        }
    });
}
