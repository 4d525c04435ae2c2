//! Turning hangs into failures.

use std::sync::mpsc;
use std::time::Duration;

/// How long a watched test may run before it counts as hung. Generous on
/// purpose: this catches lost wake-ups, it does not measure speed.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `f`, aborting the whole process with a message naming `what` if it
/// has not returned within [`DEADLINE`]. A lost wake-up shows up as a hang;
/// this turns it into a failure instead of a stuck test run.
pub fn watchdog<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (done, wait) = mpsc::channel::<()>();
    let what = what.to_owned();
    let dog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(DEADLINE) {
            eprintln!(
                "watchdog: `{what}` did not finish within {DEADLINE:?} — hung (lost wake-up?)"
            );
            std::process::abort();
        }
    });
    let out = f();
    drop(done);
    dog.join().expect("watchdog thread");
    out
}
