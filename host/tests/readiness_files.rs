//! The readiness backend's file work on the blocking pool: an `open` that
//! blocks (a FIFO nobody writes to yet) leaves the loop running; writes
//! to one file keep their order; file operations dropped while queued or
//! running leave nothing behind; a cancelled `open` that still blocks
//! does not hold its runtime's drop; what the page cache holds is read
//! and written on the loop, without a trip to the pool, unless work on
//! the same file is queued there.

use std::ffi::CString;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::{join, join_all};
use kasync_host::fs::File;
use kasync_host::time::timeout;
use kasync_host::{Backend, Builder, Runtime};

fn poll_runtime() -> Runtime {
    Builder::new()
        .backend(Backend::Poll)
        .build()
        .expect("the readiness backend starts everywhere")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kasync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opening a FIFO for reading blocks until a writer opens it. On the
/// loop's thread that stalled every task — here a ticking task that would
/// open the writer itself after 10 ticks. With the open on the pool, the
/// ticker runs and opens it; a watchdog opens it after 20 s otherwise, so
/// the test fails (it does not hang) if the loop is blocked.
#[test]
fn a_blocking_open_leaves_the_loop_running() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("fifo");
    let path = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let opened_by_ticker = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let fifo = fifo.clone();
        let opened_by_ticker = opened_by_ticker.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(20));
            if !opened_by_ticker.load(Ordering::SeqCst) {
                // Unblocks a stalled loop (ENXIO once the reader is gone).
                let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
            }
        })
    };
    let rt = poll_runtime();
    let ticks = Rc::new(std::cell::Cell::new(0u32));
    rt.block_on(async {
        let ticker = {
            let (ticks, fifo, opened_by_ticker) =
                (ticks.clone(), fifo.clone(), opened_by_ticker.clone());
            kasync_host::spawn(async move {
                for _ in 0..10 {
                    kasync_host::sleep(Duration::from_millis(2)).await;
                    ticks.set(ticks.get() + 1);
                }
                opened_by_ticker.store(true, Ordering::SeqCst);
                // The writer opens once the reader's open is waiting (it
                // is, on a pool thread); on a thread of its own, as it
                // blocks until then.
                std::thread::spawn(move || {
                    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                    std::io::Write::write_all(&mut w, b"through the fifo").unwrap();
                })
            })
            .unwrap()
        };
        let reader = File::open(&fifo).await.expect("the FIFO opens");
        assert_eq!(ticks.get(), 10, "the loop ran while the open blocked");
        let writer = ticker.await.unwrap();
        writer.join().unwrap();
        let (n, buf) = reader.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(&buf[..n.unwrap()], b"through the fifo");
    });
    assert!(
        opened_by_ticker.load(Ordering::SeqCst),
        "the watchdog had to unblock the loop"
    );
    drop(watchdog); // detached: it finds the flag set and does nothing
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 64 writes to the same place, pushed in order in one poll behind an
/// `fsync` (which always goes to the pool, so the writes queue behind it
/// instead of completing from the page cache): on the pool they run one
/// at a time per descriptor, so the last one pushed is what the file
/// holds (side by side, any of them could be).
#[test]
fn writes_to_one_file_keep_their_order() {
    let dir = temp_dir("order");
    let path = dir.join("f");
    let rt = poll_runtime();
    rt.block_on(async {
        let file = File::create(&path).await.unwrap();
        let before = rt.driver_stats();
        let writes = (0..64u8).map(|i| file.write_all_at(vec![i; 4096], 0));
        let (synced, written) = join(file.sync_all(), join_all(writes)).await;
        synced.unwrap();
        for (r, _) in written {
            r.unwrap();
        }
        let after = rt.driver_stats();
        assert!(
            after.offloaded - before.offloaded > 1,
            "the writes queued behind the fsync"
        );
        file.sync_all().await.unwrap();
        file.close().await.unwrap();
    });
    let written = std::fs::read(&path).unwrap();
    assert_eq!(written.len(), 4096);
    assert!(
        written.iter().all(|&b| b == 63),
        "first byte {}",
        written[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Operations dropped after their first poll — an `fsync` running on the
/// pool, reads waiting behind it on the descriptor — then the file closed and
/// its number reused: the runtime goes on, and the new file's contents
/// are its own (the dropped reads ran on a duplicate of the old one).
#[test]
fn dropped_file_operations_leave_nothing_behind() {
    let dir = temp_dir("drop");
    let (old, new) = (dir.join("old"), dir.join("new"));
    std::fs::write(&old, vec![1u8; 1 << 16]).unwrap();
    let rt = poll_runtime();
    rt.block_on(async {
        let file = File::open(&old).await.unwrap();
        {
            // Reads at the current position, behind an `fsync`: they
            // queue for the pool (reads at an offset would be answered
            // by the page cache at once).
            let mut sync = Box::pin(file.sync_all());
            let mut reads: Vec<_> = (0..32u64)
                .map(|_| Box::pin(file.read_at(Vec::with_capacity(4096), u64::MAX)))
                .collect();
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let _ = sync.as_mut().poll(&mut cx);
            for read in &mut reads {
                assert!(read.as_mut().poll(&mut cx).is_pending());
            }
        } // dropped: cancelled where waiting, left to finish where running
        file.close().await.unwrap();
        let fresh = File::open_with(&new, libc::O_RDWR | libc::O_CREAT, 0o600)
            .await
            .unwrap();
        fresh.write_all_at(vec![2u8; 8192], 0).await.0.unwrap();
        let (n, buf) = fresh.read_at(Vec::with_capacity(8192), 0).await;
        assert_eq!(n.unwrap(), 8192);
        assert!(buf.iter().all(|&b| b == 2));
        fresh.close().await.unwrap();
    });
    drop(rt); // waits for nothing that never completes
    assert!(std::fs::read(&old).unwrap().iter().all(|&b| b == 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn mkfifo(path: &std::path::Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A FIFO `open` that times out (nobody writes) is cancelled at once,
/// although its thread still blocks: dropping the runtime does not wait
/// for it. (It waited until a writer came, forever if none did.)
#[test]
fn a_cancelled_blocking_open_does_not_hold_the_runtime() {
    let dir = temp_dir("fifo-drop");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let rt = poll_runtime();
        let r = rt.block_on(timeout(Duration::from_millis(50), File::open(&path)));
        drop(rt);
        let _ = tx.send(r.is_err());
    });
    let outcome = rx.recv_timeout(Duration::from_secs(20));
    // Unblock the pool thread (and, had it hung, the runtime's drop); the
    // descriptor its open returns then is closed, as nobody awaits it.
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo);
    assert_eq!(
        outcome,
        Ok(true),
        "the runtime's drop waited for a cancelled open"
    );
    drop(writer);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes at the current position, pushed in order, land in order.
#[test]
fn writes_at_the_current_position_keep_their_order() {
    let dir = temp_dir("append");
    let path = dir.join("f");
    poll_runtime().block_on(async {
        let file = File::create(&path).await.unwrap();
        // Half of them from the page cache at once, half queued on the
        // pool behind an `fsync`.
        let early = (0..150u16).map(|i| file.write_all_at(i.to_be_bytes().to_vec(), u64::MAX));
        for (r, _) in join_all(early).await {
            r.unwrap();
        }
        let late = (150..300u16).map(|i| file.write_all_at(i.to_be_bytes().to_vec(), u64::MAX));
        let (synced, written) = join(file.sync_all(), join_all(late)).await;
        synced.unwrap();
        for (r, _) in written {
            r.unwrap();
        }
        file.close().await.unwrap();
    });
    let data = std::fs::read(&path).unwrap();
    let seq: Vec<u16> = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(seq, (0..300).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads and writes the page cache answers complete on the loop's thread
/// (`RWF_NOWAIT`): nothing goes to the pool but the `open`, the `fsync`,
/// writes the file system refuses to try that way, and a read that
/// stopped short at the file's end (read again whole on
/// the pool: what it returns is the tail, as on io_uring).
#[test]
#[cfg(target_os = "linux")]
fn what_the_page_cache_holds_completes_on_the_loop() {
    let dir = temp_dir("cached");
    let path = dir.join("f");
    let contents: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &contents).unwrap();
    // Some file systems (tmpfs, procfs) refuse to try: their reads all go
    // to the pool.
    let refused = if nowait_reads(&path) { 0 } else { 1 };
    let rt = poll_runtime();
    rt.block_on(async {
        let file = File::open_with(&path, libc::O_RDWR, 0).await.unwrap();
        let before = rt.driver_stats();
        for at in [0u64, 4096, 8192, 12_288] {
            let (n, buf) = file.read_at(Vec::with_capacity(4096), at).await;
            assert_eq!(n.unwrap(), 4096);
            assert_eq!(&buf[..], &contents[at as usize..at as usize + 4096]);
        }
        // Most file systems refuse to try a buffered write without
        // waiting: it may go to the pool (once asked, never again).
        let (r, _) = file.write_all_at(vec![7u8; 4096], 0).await;
        r.unwrap();
        let writes = rt.driver_stats().offloaded - before.offloaded - 4 * refused;
        assert!(writes <= 1);
        let (n, buf) = file.read_at(Vec::with_capacity(4096), 0).await;
        assert_eq!((n.unwrap(), buf), (4096, vec![7u8; 4096]));
        let (n, _) = file.read_at(Vec::with_capacity(16), 20_000).await;
        assert_eq!(n.unwrap(), 0, "at the end");
        assert_eq!(
            rt.driver_stats().offloaded - before.offloaded,
            writes + 6 * refused,
            "from the page cache, on the loop"
        );
        let (n, buf) = file.read_at(Vec::with_capacity(4096), 18_000).await;
        assert_eq!(n.unwrap(), 2000);
        assert_eq!(&buf[..], &contents[18_000..]);
        // A read at an offset does not wait for an `fsync` on the pool
        // (reads at an offset run side by side, as on io_uring); one at
        // the current position waits its turn there.
        let before = rt.driver_stats();
        let (synced, (n, _)) = join(file.sync_all(), file.read_at(Vec::with_capacity(64), 0)).await;
        synced.unwrap();
        assert_eq!(n.unwrap(), 64);
        assert_eq!(rt.driver_stats().offloaded - before.offloaded, 1 + refused);
        let before = rt.driver_stats();
        let (synced, (n, buf)) = join(
            file.sync_all(),
            file.read_at(Vec::with_capacity(64), u64::MAX),
        )
        .await;
        synced.unwrap();
        assert_eq!(n.unwrap(), 64);
        assert_eq!(
            buf,
            vec![7u8; 64],
            "from the start: nothing read at the position yet"
        );
        assert_eq!(rt.driver_stats().offloaded - before.offloaded, 2);
        file.close().await.unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `true` if `path`'s file system reads from the page cache without
/// waiting when asked to (`RWF_NOWAIT`), as ext4, xfs and btrfs do.
#[cfg(target_os = "linux")]
fn nowait_reads(path: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let mut byte = 0u8;
    let iov = libc::iovec {
        iov_base: (&raw mut byte).cast(),
        iov_len: 1,
    };
    // SAFETY: one `iovec` over a live byte, on an open descriptor.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) };
    n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EOPNOTSUPP)
}
