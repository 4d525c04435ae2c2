//! What several host test binaries share.

use kasync_host::{Backend, Builder, Feature, Runtime};
use kasync_ops::BufRing;
use kasync_tests::watchdog::watchdog;

/// The backends every backend-dependent test runs on, in order.
pub const BACKENDS: [Backend; 2] = [Backend::Uring, Backend::Poll];

/// Runs `test` once on a fresh runtime of each backend (io_uring, then
/// readiness), each under a watchdog that turns a hang into a failure.
#[allow(
    dead_code,
    reason = "not every test binary runs its tests on this thread"
)]
pub fn each_backend(what: &str, test: impl Fn(Runtime)) {
    each_backend_by_name(what, |backend| {
        test(Builder::new().backend(backend).build().unwrap())
    });
}

/// Runs `test` once for each backend (io_uring, then readiness), each
/// under a watchdog that turns a hang into a failure, for tests whose
/// servers run on runtimes of their own threads (or in other processes):
/// `test` makes them on the backend it is given. Says on stderr which
/// backend each run is on, so a failure names it.
#[allow(dead_code, reason = "not every test binary runs servers of its own")]
pub fn each_backend_by_name(what: &str, test: impl Fn(Backend)) {
    for backend in BACKENDS {
        let run = format!("{what} on {backend}");
        eprintln!("{run}: starting");
        watchdog(&run, || test(backend));
        eprintln!("{run}: passed");
    }
}

/// A runtime of `backend` (for a server thread).
#[allow(dead_code, reason = "not every test binary runs servers of its own")]
pub fn runtime(backend: Backend) -> Runtime {
    Builder::new()
        .backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("a runtime on {backend}: {e}"))
}

/// `rt`'s shared receive buffers (`count` × `size`, registered now), or
/// `None` where its ring has none to use — no provided-buffer rings or no
/// multishot receive (before Linux 6.0, or pretended so with
/// `KASYNC_URING_WITHOUT`). Says so on stderr; the caller then checks
/// what holds without them (every byte, in order, in buffers of the
/// stream's own).
#[allow(
    dead_code,
    reason = "not every test binary uses shared receive buffers"
)]
pub fn recv_buffers(rt: &Runtime, count: u16, size: usize) -> Option<&'static BufRing> {
    let shared = rt
        .io_uring_features()
        .is_none_or(|f| f.contains(Feature::BufferRings) && f.contains(Feature::MultishotRecv));
    if !shared {
        eprintln!(
            "this ring lacks buffer-rings or multishot-recv: shared receive buffers are not checked here, only the fallback"
        );
        return None;
    }
    Some(rt.register_recv_buffers(count, size).unwrap())
}
