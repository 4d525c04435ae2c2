//! A real interrupt for tests: `SIGALRM` from an interval timer, handled
//! by a function that runs on whatever the thread was doing — as an
//! interrupt handler preempts a kernel.

use std::time::Duration;

/// Installs `handler` for `SIGALRM` (with `SA_RESTART`). The handler must
/// be async-signal-safe: atomics and kasync's interrupt-safe operations.
pub fn on_alarm(handler: extern "C" fn(libc::c_int)) {
    // SAFETY: `action` is zeroed and its mask initialised by
    // `sigemptyset`; the handler's safety is the caller's contract above.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = libc::SA_RESTART;
        assert_eq!(
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Fires `SIGALRM` every `interval` (`Duration::ZERO` stops it).
pub fn set_timer(interval: Duration) {
    let tv = libc::timeval {
        tv_sec: interval.as_secs() as libc::time_t,
        tv_usec: interval.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: a valid timer value; the old value is not needed.
    let r = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    assert_eq!(r, 0);
}

/// Stops the timer and settles: a `SIGALRM` generated before (pending, or
/// on its way to another thread) is discarded or has run when this
/// returns, so counters its handler keeps are final — otherwise a signal
/// already pending when the timer stops can run its handler between two
/// reads of them. (Ignoring `SIGALRM` discards a pending one; a handler
/// that had already started on another thread ends within microseconds.)
/// [`on_alarm`] installs the handler again.
pub fn stop_timer() {
    set_timer(Duration::ZERO);
    // SAFETY: setting the disposition of SIGALRM to "ignore".
    unsafe { libc::signal(libc::SIGALRM, libc::SIG_IGN) };
    std::thread::sleep(Duration::from_millis(20));
}
