//! Wakers for tests that poll futures by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

/// Counts how often the wakers made from it were woken.
#[derive(Debug, Default)]
pub struct WakeCount(AtomicUsize);

impl WakeCount {
    /// Wakes so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and the counter of its wakes.
///
/// ```
/// let (count, waker) = kasync_tests::wake::counting_waker();
/// waker.wake_by_ref();
/// assert_eq!(count.get(), 1);
/// ```
pub fn counting_waker() -> (Arc<WakeCount>, Waker) {
    let count = Arc::new(WakeCount::default());
    (count.clone(), Waker::from(count))
}

/// A waker whose wake panics while `armed` is set (and counts as woken
/// otherwise) — for checking that a panicking waker leaves no structure
/// half-updated.
#[derive(Debug, Default)]
pub struct PanickingWake {
    /// Panic on the next wakes.
    pub armed: std::sync::atomic::AtomicBool,
    /// Wakes that did not panic.
    pub woken: AtomicUsize,
}

impl Wake for PanickingWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.armed.load(Ordering::SeqCst) {
            panic!("waker panics on purpose");
        }
        self.woken.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that panics when woken while its handle is armed.
pub fn panicking_waker() -> (Arc<PanickingWake>, Waker) {
    let wake = Arc::new(PanickingWake {
        armed: std::sync::atomic::AtomicBool::new(true),
        woken: AtomicUsize::new(0),
    });
    (wake.clone(), Waker::from(wake))
}
