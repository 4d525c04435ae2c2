//! The readiness backend's file work shares the process's
//! blocking pool (64 threads). Cancelled `open`s of FIFOs nobody writes to
//! complete at once for their runtime, but each keeps a pool thread
//! blocked. Own process: the pool is process-wide.

use std::ffi::CString;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kasync_host::fs::File;
use kasync_host::time::timeout;
use kasync_host::{Backend, Builder};

fn mkfifo(path: &std::path::Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// 64 FIFO opens that time out (cancelled: their runtime goes on), then a
/// read of an ordinary tmpfs file with a 500 ms timeout, in a fresh
/// runtime, and that runtime's drop. Every pool thread still blocks in a
/// cancelled `open`, so the read waits in the pool's queue; its timeout
/// withdraws it from there (it never starts), and the drop returns at
/// once. Before, a read handed to the pool counted as running even while
/// queued: it could not be cancelled, and the drop waited until the FIFOs
/// were opened.
#[test]
fn a_read_queued_behind_a_starved_pool_is_withdrawn_by_its_cancel() {
    let dir =
        std::path::Path::new("/dev/shm").join(format!("kasync-starve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifos: Vec<_> = (0..64).map(|i| dir.join(format!("fifo{i}"))).collect();
    for f in &fifos {
        mkfifo(f);
    }
    let plain = dir.join("plain");
    std::fs::write(&plain, vec![9u8; 4096]).unwrap();

    let (tx, rx) = mpsc::channel();
    {
        let (fifos, plain) = (fifos.clone(), plain.clone());
        std::thread::spawn(move || {
            let rt = Builder::new().backend(Backend::Poll).build().unwrap();
            let file = rt.block_on(async {
                let file = File::open(&plain).await.unwrap();
                let opens = fifos
                    .iter()
                    .map(|f| timeout(Duration::from_millis(50), File::open(f)));
                for r in futures_util::future::join_all(opens).await {
                    assert!(r.is_err(), "nobody writes: the open times out");
                }
                file
            });
            let _ = tx.send(("fifo opens cancelled", Instant::now()));
            let read = rt.block_on(timeout(
                Duration::from_millis(500),
                file.read_at(Vec::with_capacity(4096), 0),
            ));
            let _ = tx.send((
                if read.is_ok() {
                    "read completed"
                } else {
                    "read timed out"
                },
                Instant::now(),
            ));
            drop(file);
            drop(rt);
            let _ = tx.send(("runtime dropped", Instant::now()));
        });
    }
    let mut seen = Vec::new();
    let start = Instant::now();
    while let Ok(event) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push((event.0, event.1 - start));
        if event.0 == "runtime dropped" {
            break;
        }
    }
    // Unblock the pool threads (each open then returns a descriptor that
    // is closed, as nobody awaits it).
    let writers: Vec<_> = fifos
        .iter()
        .map(|f| std::fs::OpenOptions::new().write(true).open(f).unwrap())
        .collect();
    let mut after = Vec::new();
    while let Ok(event) = rx.recv_timeout(Duration::from_secs(10)) {
        after.push((event.0, event.1 - start));
    }
    drop(writers);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        seen.iter().any(|(what, _)| *what == "runtime dropped"),
        "before the FIFOs were opened: {seen:?}; after: {after:?}"
    );
}
