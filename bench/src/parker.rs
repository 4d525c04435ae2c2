//! The park/unpark signal the embedded peers are given on a std thread:
//! embassy's raw executor calls its pender through it, and maitake's
//! scheduler (which has no idle hook) is parked on it by the loop that
//! ticks it. The same three-state protocol as kasync's `ThreadPlatform`,
//! so every executor sleeps and wakes the same way.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::{self, Thread};

const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// A wake-up signal for one runner thread.
#[derive(Debug, Default)]
pub struct Parker {
    state: AtomicU8,
    thread: OnceLock<Thread>,
}

impl Parker {
    /// A parker for the calling thread (the runner).
    pub fn for_current_thread() -> Self {
        let parker = Self::default();
        parker
            .thread
            .set(thread::current())
            .expect("a fresh parker has no thread yet");
        parker
    }

    /// Signals the runner: a park in progress returns, the next one returns
    /// at once. Cheap (one swap) while the runner is not asleep.
    pub fn pend(&self) {
        if self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    /// Sleeps until [`pend`](Self::pend) — at once if it was called since
    /// the last park (the signal of work that arrived while the runner
    /// polled).
    pub fn park(&self) {
        if self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        while self.state.load(Ordering::SeqCst) == PARKED {
            thread::park();
        }
        self.state.store(EMPTY, Ordering::SeqCst);
    }
}

/// embassy's raw executor calls this (by its exported name) whenever it has
/// work; every embassy executor in this crate is built with a pointer to a
/// leaked [`Parker`] as its context.
#[unsafe(export_name = "__pender")]
fn embassy_pender(context: *mut ()) {
    // SAFETY: the only embassy executors in this binary are made by
    // `embassy::executor`, whose context is a `&'static Parker`.
    let parker = unsafe { &*context.cast_const().cast::<Parker>() };
    parker.pend();
}
