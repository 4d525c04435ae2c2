//! Memory a careless caller can make the readiness backend keep. Alone in
//! its test binary: it measures the process's resident memory.

use std::pin::pin;
use std::time::Duration;

use kasync_host::{Backend, Builder, io};

/// Resident memory of this process, in KiB.
fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Timeouts of the backend's own, cancelled long before they are due (a
/// select-with-timeout loop), do not pile up — on either backend.
#[test]
fn cancelled_backend_timeouts_do_not_pile_up() {
    for backend in [Backend::Uring, Backend::Poll] {
        let rt = Builder::new().backend(backend).build().unwrap();
        let before = rss_kib();
        rt.block_on(async {
            for _ in 0..300_000 {
                let mut t =
                    pin!(io().submit(kasync_ops::ops::Timeout::new(Duration::from_secs(3600))));
                let _ = kasync_host::time::timeout(Duration::ZERO, t.as_mut()).await;
                let _ = t.as_mut().cancel().await;
            }
        });
        let grown = rss_kib() - before;
        // Kept, 300 000 cancelled timeouts would be 7 MB or more.
        assert!(
            grown < 2048,
            "{backend}: resident memory grew by {grown} KiB"
        );
    }
}
