//! Which descriptor numbers were closed: a process-wide count per number,
//! so that every readiness driver notices that a number it remembers now
//! names another file — whichever thread closed it, inside a runtime or
//! not.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// Counters per chunk (256 KiB of counters, allocated on first use).
const CHUNK: usize = 1 << 16;
/// Chunks: numbers below `CHUNKS × CHUNK` (16 777 216) have a counter of
/// their own. Larger ones (beyond Linux's default ceiling of 1 048 576
/// descriptors, `fs.nr_open`) share the last chunk's counters: closing one
/// of them counts as closing the others that share its counter, and
/// operations waiting on those fail with `-EBADF`.
const CHUNKS: usize = 256;

static TABLE: [AtomicPtr<AtomicU32>; CHUNKS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

/// The counter of `fd`'s number (its chunk made on first use).
fn counter(fd: RawFd) -> &'static AtomicU32 {
    let n = fd as u32 as usize;
    let (chunk, index) = ((n / CHUNK).min(CHUNKS - 1), n % CHUNK);
    let slot = &TABLE[chunk];
    let mut counters = slot.load(Ordering::Acquire);
    if counters.is_null() {
        let fresh: Box<[AtomicU32]> = (0..CHUNK).map(|_| AtomicU32::new(0)).collect();
        let fresh = Box::into_raw(fresh).cast::<AtomicU32>();
        counters = match slot.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(theirs) => {
                // Another thread published its chunk first: ours goes.
                // SAFETY: `fresh` came from `Box::into_raw` of a slice of
                // `CHUNK` counters just above and was never shared.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(fresh, CHUNK)) });
                theirs
            }
        };
    }
    // SAFETY: a published chunk holds `CHUNK` counters and is never freed
    // (it lives for the rest of the program); `index < CHUNK`.
    unsafe { &*counters.add(index) }
}

/// Tells every readiness driver in the process that `fd` is about to be
/// closed (or handed to code that may close it): what a driver remembers
/// about the number — its registration, its kind, operations still
/// waiting on it (they fail with `-EBADF` when the driver next looks at
/// the number) — is dropped before the number is used again. Call it
/// before closing a descriptor that a [`PollDriver`](crate::PollDriver)
/// may have seen; closing one through the driver's `Close` operation does
/// it itself. Lock-free; allocates only the first time a range of 65 536
/// numbers is used.
pub fn closing(fd: RawFd) {
    // Release: a driver that later sees the number again (from a new
    // `socket`/`open`) sees the count after the close.
    counter(fd).fetch_add(1, Ordering::Release);
}

/// The close count of `fd`'s number.
pub(crate) fn count(fd: RawFd) -> u32 {
    counter(fd).load(Ordering::Acquire)
}
