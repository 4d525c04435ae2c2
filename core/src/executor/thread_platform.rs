//! A platform for std threads: park the thread, unpark it on a wake.

use std::sync::OnceLock;
use std::sync::atomic::{Ordering, fence};
use std::thread::{self, Thread};

use super::platform::{Idle, Platform};

/// Parks the runner's thread when idle; a wake from any thread unparks it.
///
/// The platform binds to the first thread that parks on it, so an executor
/// using it must be run from that thread only.
#[derive(Debug)]
pub struct ThreadPlatform {
    thread: OnceLock<Thread>,
}

impl ThreadPlatform {
    /// A platform not yet bound to a thread.
    pub const fn new() -> Self {
        Self {
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
        // Pairs with the fence in `park`: either the runner sees the work
        // this wake queued, or this sees the runner's thread and unparks it.
        fence(Ordering::SeqCst);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
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
        fence(Ordering::SeqCst);
        if idle.is_idle() {
            thread::park();
        }
    }
}
