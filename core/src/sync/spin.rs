//! A spin lock for state only tasks touch.

use crate::atomics::{AtomicBool, Ordering, spin_loop};

/// Guards state that tasks (never interrupt handlers) touch for a few
/// instructions at a time: a task that finds it held spins until the
/// holder — a task on another thread, never one it preempted — is done.
pub(crate) struct SpinLock {
    locked: AtomicBool,
}

impl SpinLock {
    crate::atomics::const_fn! {
        pub(crate) fn new() -> Self {
            Self { locked: AtomicBool::new(false) }
        }
    }

    /// Takes the lock; dropping the guard (also while unwinding) gives it
    /// back.
    pub(crate) fn lock(&self) -> SpinGuard<'_> {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
        SpinGuard { lock: self }
    }
}

/// [`SpinLock`] held.
pub(crate) struct SpinGuard<'l> {
    lock: &'l SpinLock,
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
