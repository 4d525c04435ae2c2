//! The executor side of the readiness driver's wake-ups.

use std::sync::{Arc, OnceLock};

use kasync::executor::{Idle, Platform};

/// The executor side of the driver's wake-up: `pend` wakes mio's `Waker`,
/// which ends the driver's wait. Set the waker once the driver exists
/// ([`PollDriver::waker`](crate::PollDriver::waker)); until then `pend`
/// does nothing (nothing can be parked yet).
#[derive(Debug, Default)]
pub struct PollPlatform {
    waker: OnceLock<Arc<mio::Waker>>,
}

impl PollPlatform {
    /// A platform with no waker yet.
    pub const fn new() -> Self {
        Self {
            waker: OnceLock::new(),
        }
    }

    /// Uses `waker` to wake the driver. A second call keeps the first
    /// waker (a platform serves one driver).
    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        let _ = self.waker.set(waker);
    }
}

impl Platform for PollPlatform {
    fn pend(&self) {
        // `OnceLock::get` is one atomic load; `wake` one `write` to an
        // eventfd (Linux) or one `kevent` (elsewhere): no lock, no
        // allocation. A failed wake leaves the waker readable anyway.
        if let Some(waker) = self.waker.get() {
            let _ = waker.wake();
        }
    }

    /// Only reached without a driver: spin once (the run loop parks in the
    /// driver instead).
    fn park(&self, _idle: &Idle<'_>) {
        std::hint::spin_loop();
    }
}
