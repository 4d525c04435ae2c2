//! Which descriptor numbers were closed: a process-wide count per number,
//! so that every readiness driver notices that a number it remembers now
//! names another file — whichever thread closed it, inside a runtime or
//! not.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// Counters, by descriptor number modulo their count. Two numbers that
/// share one only cost a spurious "closed" (the driver looks afresh).
const COUNTERS: usize = 4096;

static CLOSES: [AtomicU32; COUNTERS] = [const { AtomicU32::new(0) }; COUNTERS];

fn counter(fd: RawFd) -> &'static AtomicU32 {
    &CLOSES[(fd as u32 as usize) % COUNTERS]
}

/// Tells every readiness driver in the process that `fd` is about to be
/// closed (or handed to code that may close it): what a driver remembers
/// about the number — its registration, its kind, operations still
/// waiting on it (they fail with `-EBADF`) — is dropped before the number
/// is used again. Call it before closing a descriptor that a
/// [`PollDriver`](crate::PollDriver) may have seen; closing one through
/// the driver's `Close` operation does it itself. Lock-free, no
/// allocation.
pub fn closing(fd: RawFd) {
    // Release: a driver that later sees the number again (from a new
    // `socket`/`open`) sees the count after the close.
    counter(fd).fetch_add(1, Ordering::Release);
}

/// The close count of `fd`'s number.
pub(crate) fn count(fd: RawFd) -> u32 {
    counter(fd).load(Ordering::Acquire)
}
