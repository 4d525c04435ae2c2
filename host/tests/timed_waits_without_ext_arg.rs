//! Timed waits on a ring without `IORING_FEAT_EXT_ARG` (Linux 5.10, or
//! pretended): each park submits a TIMEOUT entry instead. It must end with
//! the wait it bounds (no kernel request left behind per park) and must
//! never be skipped (a full submission queue must not turn a timed wait
//! into an untimed one).

use std::io::Write;
use std::time::Duration;

use kasync_host::net::UnixStream;
use kasync_host::{Backend, Builder, Feature, Features, sleep, spawn};
use kasync_tests::watchdog::watchdog;

/// A due timer wakes the ring when the submission queue is full of reads
/// that never complete: the sleep ends (before, the park waited for a
/// completion with no timeout, forever; the watchdog fails a hang).
#[test]
fn a_due_timer_wakes_the_ring_even_with_a_full_submission_queue() {
    for without in [Features::NONE, Features::NONE.with(Feature::ExtArg)] {
        watchdog(
            &format!("a due timer with a full queue, without {without}"),
            || {
                let rt = Builder::new()
                    .backend(Backend::Uring)
                    .ring_entries(8)
                    .io_uring_without(without)
                    .build()
                    .unwrap();
                // Idle sockets: reads on them never complete (their peers stay open).
                let pairs: Vec<_> = (0..8).map(|_| UnixStream::pair().unwrap()).collect();
                let pairs: &'static [(UnixStream, UnixStream)] =
                    Box::leak(pairs.into_boxed_slice());
                rt.block_on(async move {
                    // One park first, so the eventfd read is armed already.
                    sleep(Duration::from_millis(1)).await;
                    for (ours, _theirs) in pairs {
                        let _ = spawn(async move {
                            let _ = ours.read(Vec::with_capacity(16)).await;
                        });
                    }
                    sleep(Duration::from_millis(50)).await;
                });
            },
        );
    }
}

/// Live io_uring requests in the whole kernel (`/proc/slabinfo`, root
/// only).
fn io_kiocbs() -> Option<i64> {
    let slabs = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let line = slabs.lines().find(|l| l.starts_with("io_kiocb "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How many more io_uring requests are live after 3000 parks that a
/// completion ended early, with a timer a minute off.
fn kernel_requests_after_busy_reads(without: Features) -> Option<i64> {
    const BYTES: usize = 3000;
    let rt = Builder::new()
        .backend(Backend::Uring)
        .io_uring_without(without)
        .build()
        .unwrap();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        let mut theirs = theirs;
        for _ in 0..BYTES {
            std::thread::sleep(Duration::from_micros(100));
            if theirs.write_all(b"x").is_err() {
                return;
            }
        }
    });
    let growth = rt.block_on(async move {
        // A timer far off: every park carries a timeout.
        let _far = kasync_host::spawn(kasync_host::sleep(Duration::from_secs(60))).unwrap();
        let ours = UnixStream::from(ours);
        let before = io_kiocbs()?;
        let mut got = 0;
        while got < BYTES {
            // One byte per read: each read's completion ends a park early.
            let (n, _) = ours.read(Vec::with_capacity(1)).await;
            got += n.unwrap();
        }
        let after = io_kiocbs()?;
        Some(after - before)
    });
    writer.join().unwrap();
    growth
}

/// A park that a completion ends leaves no timeout armed in the kernel.
#[test]
fn a_wait_ended_early_leaves_no_timeout_armed_without_ext_arg() {
    let Some(with_ext_arg) = kernel_requests_after_busy_reads(Features::NONE) else {
        eprintln!("/proc/slabinfo has no io_kiocb line (not root?): skipped");
        return;
    };
    let without = kernel_requests_after_busy_reads(Features::NONE.with(Feature::ExtArg)).unwrap();
    eprintln!(
        "io_kiocb growth over 3000 woken parks: with ext-arg {with_ext_arg}, without {without}"
    );
    assert!(
        without < 500,
        "without ext-arg, {without} more io_uring requests are live after 3000 early-ended \
         parks (with ext-arg: {with_ext_arg}): each park's TIMEOUT entry stays armed until it \
         expires (60 s here), so a busy ring with a long timer grows kernel memory without bound"
    );
}
