//! File reads and writes tried without waiting first (`RWF_NOWAIT`, Linux
//! 4.14 and later): what the page cache can answer completes on the loop's
//! thread at the cost of one system call, as io_uring does before it hands
//! work to its own threads; only what would wait for the disk (`EAGAIN`),
//! or what the file system cannot try this way, goes to the pool.
//!
//! * A positional read completes here only when it transferred all it
//!   asked for, or nothing (the end of the file): a read that stopped
//!   short goes to the pool whole, which reads the same bytes again and
//!   the rest — so a read of a regular file is short only at its end, as
//!   on io_uring.
//! * A read or write at the file's position, and a positional write,
//!   complete with whatever they transferred (they moved the position, or
//!   wrote bytes that must not be written twice; a short count is a legal
//!   result, which the caller's loop continues).
//! * An error (`EAGAIN`; `EOPNOTSUPP` or `EINVAL` where the file system or
//!   kernel cannot try without waiting; any other) transferred nothing:
//!   the pool makes the call again and reports its own result. After
//!   `EOPNOTSUPP` (most file systems refuse buffered writes this way) the
//!   driver stops trying that descriptor in that direction.
//!
//! The driver tries this only when nothing else is queued or running on
//! the descriptor, so the order of its operations holds.

use crate::fds::Dir;
use crate::file_rw::FileRw;

/// What came of trying a call without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tried {
    /// Complete the operation with this result now.
    Done(i32),
    /// Hand it to the pool.
    Pool,
    /// Hand it to the pool, and do not try this descriptor in this
    /// direction again: its file system cannot (`EOPNOTSUPP`).
    Refused,
}

/// Tries the transfer `rw` of an operation being pushed without waiting.
/// `calls` counts the system calls made.
pub(crate) fn attempt(rw: &FileRw, calls: &mut u64) -> Tried {
    *calls += 1;
    // SAFETY: the operation is being pushed: its memory is alive, and
    // nobody else uses it before its completion.
    let ret = unsafe { rw.run(rw.fd, true) };
    if ret < 0 {
        return if ret == -(libc::EOPNOTSUPP as isize) {
            Tried::Refused
        } else {
            Tried::Pool
        };
    }
    // A positional read that stopped short goes to the pool whole.
    let short = rw.dir == Dir::Read && !rw.at_position() && ret != 0 && {
        // SAFETY: as above.
        let asked = unsafe { rw.asked() };
        (ret as usize) < asked
    };
    if short {
        return Tried::Pool;
    }
    Tried::Done(i32::try_from(ret).unwrap_or(i32::MAX))
}
