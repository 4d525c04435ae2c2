//! A platform for std threads: spin briefly, then park the thread; a wake
//! unparks it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::platform::{Idle, Platform};

/// No wake since the runner last looked for work.
const EMPTY: u8 = 0;
/// The runner is asleep (or about to be) in `thread::park`.
const PARKED: u8 = 1;
/// A wake arrived; the next `park` returns at once.
const NOTIFIED: u8 = 2;

/// Parks the runner's thread when idle; a wake from any thread unparks it.
///
/// Before it sleeps, an idle runner spins for a short, bounded time
/// ([`DEFAULT_SPIN`](Self::DEFAULT_SPIN), 5 µs, unless built
/// [`with_spin`](Self::with_spin)) watching for a wake: a wake that comes
/// within it costs no sleep and no `unpark` — a few hundred nanoseconds
/// from wake to poll instead of a thread wake-up (tens of microseconds on
/// a virtual machine, and several microseconds of CPU time). The price is
/// at most the spin per idle gap that is longer: an idle runner with no
/// wakes at all spins once and then sleeps.
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
    spin: Duration,
}

/// Spin iterations between two looks at the clock.
const SPINS_PER_CLOCK_READ: u32 = 64;

impl ThreadPlatform {
    /// How long an idle runner spins before it sleeps, by default.
    pub const DEFAULT_SPIN: Duration = Duration::from_micros(5);

    /// A platform not yet bound to a thread, spinning
    /// [`DEFAULT_SPIN`](Self::DEFAULT_SPIN) before each sleep.
    pub const fn new() -> Self {
        Self::with_spin(Self::DEFAULT_SPIN)
    }

    /// A platform that spins for `spin` before each sleep
    /// ([`Duration::ZERO`]: sleep at once — the least CPU time when wakes
    /// are rare, the most latency when they come in quick succession).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kasync::executor::{Executor, ThreadPlatform};
    ///
    /// static EXECUTOR: Executor<ThreadPlatform, 8> =
    ///     Executor::new(ThreadPlatform::with_spin(Duration::ZERO));
    /// let runner = EXECUTOR.runner().unwrap();
    /// assert_eq!(runner.block_on(async { 1 + 1 }), 2);
    /// ```
    pub const fn with_spin(spin: Duration) -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            thread: OnceLock::new(),
            spin,
        }
    }

    /// Spins for up to the platform's spin time, watching for a wake.
    /// `true` when one came (or work is there): the caller returns and
    /// looks for work.
    fn spin_for_a_wake(&self, idle: &Idle<'_>) -> bool {
        if self.spin.is_zero() {
            return false;
        }
        let start = Instant::now();
        loop {
            for _ in 0..SPINS_PER_CLOCK_READ {
                std::hint::spin_loop();
                if self.state.load(Ordering::Acquire) == NOTIFIED {
                    // Consume it, as the sleep below would.
                    self.state.store(EMPTY, Ordering::SeqCst);
                    return true;
                }
                if !idle.is_idle() {
                    // Its pend may still come; the next park then returns
                    // at once, which the idle contract allows.
                    return true;
                }
            }
            if start.elapsed() >= self.spin {
                return false;
            }
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
        if self.spin_for_a_wake(idle) {
            return;
        }
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
