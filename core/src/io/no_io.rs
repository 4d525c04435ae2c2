//! A backend with no I/O at all, for kernels and firmware that only have
//! timers and interrupts.

use core::convert::Infallible;
use core::time::Duration;

use super::{Completion, Driver, OpId};
use crate::executor::{Idle, Platform};

/// A [`Driver`] without operations whose `park` is the platform's idle
/// (e.g. `hlt`). With it a [`Reactor`](super::Reactor) is just the timers,
/// which is all a kernel with a periodic timer interrupt needs: every tick
/// ends the idle, the run loop advances the timers, due sleeps wake.
///
/// The timeout `park` receives is ignored — a tickless kernel would program
/// its one-shot timer with it here instead.
#[derive(Debug)]
pub struct NoIo<'p, P: Platform> {
    platform: &'p P,
}

impl<'p, P: Platform> NoIo<'p, P> {
    /// Idles through `platform` (usually the executor's own).
    pub const fn new(platform: &'p P) -> Self {
        Self { platform }
    }
}

// SAFETY: `push` never accepts an operation (there is no `Infallible`
// value to queue), so there is nothing to report.
unsafe impl<P: Platform> Driver for NoIo<'_, P> {
    type Op = Infallible;

    // `build` cannot return (no `Infallible` value exists), so nothing
    // after it runs.
    #[expect(unreachable_code, reason = "there is no operation to queue")]
    fn push(&mut self, _id: OpId, build: impl FnOnce() -> Infallible) -> bool {
        match build() {}
    }

    fn push_cancel(&mut self, _id: OpId) -> bool {
        true // there is never anything to cancel
    }

    fn flush(&mut self) {}

    fn reap(&mut self, _sink: impl FnMut(OpId, Completion)) {}

    fn park(&mut self, _timeout: Option<Duration>, idle: &Idle<'_>) {
        self.platform.park(idle);
    }
}
