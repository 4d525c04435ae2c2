//! What the run loop turns besides tasks: I/O completions and timers.

use super::platform::{Idle, Platform};

/// Something the run loop drives between rounds of polling tasks: an I/O
/// backend with its timers ([`Reactor`](crate::io::Reactor)), or just the
/// platform's idle.
///
/// The loop is: poll ready tasks → if none is ready any more,
/// [`park`](Drive::park) (submit what the tasks queued and wait until
/// something happens, in one step) → [`turn`](Drive::turn) (reap what
/// finished, fire due timers, submit what is left, without blocking). One
/// submission per loop turn, never one per operation.
pub trait Drive {
    /// Makes progress without blocking: submits, reaps, fires due timers.
    fn turn(&self) {}

    /// Submits what is queued, then blocks until work may be ready: a
    /// completion, a due timer, or a wake through the executor's
    /// `Platform::pend` (the loop calls [`turn`](Drive::turn) right after to
    /// collect it). Must not block if `idle.is_idle()` is `false`, and
    /// follows the platform's idle contract (see [`Platform`]). Spurious
    /// returns are allowed.
    fn park(&self, idle: &Idle<'_>);
}

/// Drives nothing but the platform's own idle.
pub(crate) struct PlatformDrive<'a, P>(pub(crate) &'a P);

impl<P: Platform> Drive for PlatformDrive<'_, P> {
    fn park(&self, idle: &Idle<'_>) {
        self.0.park(idle);
    }
}
