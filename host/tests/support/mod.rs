//! What several host test binaries share.

use kasync_host::{Backend, Builder, Runtime};
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
