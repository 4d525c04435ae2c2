//! What the run loop turns besides tasks: I/O completions and timers.

use super::platform::{Idle, Platform};

/// Something the run loop drives between rounds of polling tasks: an I/O
/// backend with its timers ([`Reactor`](crate::io::Reactor)), or just the
/// platform's idle.
///
/// The loop is: poll ready tasks → [`turn`](Drive::turn) (submit what the
/// tasks queued, reap what finished, fire due timers — one submission per
/// turn, never one per operation) → if nothing is ready,
/// [`park`](Drive::park) until something happens.
pub trait Drive {
    /// Makes progress without blocking. Called once per loop turn.
    fn turn(&self) {}

    /// Blocks until work may be ready: a completion, a due timer, or a wake
    /// through the executor's `Platform::pend`. Must return at once if
    /// `idle.is_idle()` is `false`, and follows the platform's idle
    /// contract (see [`Platform`]). Spurious returns are allowed.
    fn park(&self, idle: &Idle<'_>);
}

/// Drives nothing but the platform's own idle.
pub(crate) struct PlatformDrive<'a, P>(pub(crate) &'a P);

impl<P: Platform> Drive for PlatformDrive<'_, P> {
    fn park(&self, idle: &Idle<'_>) {
        self.0.park(idle);
    }
}
