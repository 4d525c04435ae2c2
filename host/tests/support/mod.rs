//! What several host test binaries share.

use kasync_host::{Backend, Builder, Runtime};
use kasync_tests::watchdog::watchdog;

/// Runs `test` once on a fresh runtime of each backend (io_uring, then
/// readiness), each under a watchdog that turns a hang into a failure.
pub fn each_backend(what: &str, test: impl Fn(Runtime)) {
    for backend in [Backend::Uring, Backend::Poll] {
        watchdog(&format!("{what} on {backend}"), || {
            test(Builder::new().backend(backend).build().unwrap())
        });
    }
}
