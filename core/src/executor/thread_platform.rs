//! A platform for std threads: park the thread, unpark it on a wake.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::{self, Thread};

use super::platform::{Idle, Platform};

/// No wake since the runner last looked for work.
const EMPTY: u8 = 0;
/// The runner is asleep (or about to be) in `thread::park`.
const PARKED: u8 = 1;
/// A wake arrived; the next `park` returns at once.
const NOTIFIED: u8 = 2;

/// Parks the runner's thread when idle; a wake from any thread unparks it.
///
/// The executor calls `pend` only while the runner sleeps (or is about to);
/// only a wake that finds the runner parked calls `Thread::unpark`.
///
/// The platform binds to the first thread that parks on it, so an executor
/// using it must be run from that thread only.
#[derive(Debug)]
pub struct ThreadPlatform {
    state: AtomicU8,
    thread: OnceLock<Thread>,
}

impl ThreadPlatform {
    /// A platform not yet bound to a thread.
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            thread: OnceLock::new(),
        }
    }
}

impl Default for ThreadPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for ThreadPlatform {
    fn pend(&self) {
        // The executor calls this only after an enqueue found the run loop
        // flagged as sleeping, and that enqueue acquired everything the run
        // loop did before (including its last reset of `state` below): a
        // NOTIFIED seen here is one the run loop has not consumed yet.
        if self.state.load(Ordering::SeqCst) == NOTIFIED {
            return; // the runner will look for work before it sleeps
        }
        if self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    /// # Panics
    /// If the platform is used from a second thread.
    fn park(&self, idle: &Idle<'_>) {
        let me = self.thread.get_or_init(thread::current);
        assert_eq!(
            me.id(),
            thread::current().id(),
            "a ThreadPlatform belongs to the first thread that parks on it"
        );
        // Arm: a wake from here on sees PARKED (or finds NOTIFIED already
        // set, which makes us return and look for work).
        if self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // NOTIFIED: consume it; the caller re-checks for work.
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        if !idle.is_idle() {
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        // `thread::park` may return spuriously; only NOTIFIED ends the sleep.
        while self.state.load(Ordering::SeqCst) == PARKED {
            thread::park();
        }
        self.state.store(EMPTY, Ordering::SeqCst);
    }
}
