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

use std::os::fd::RawFd;

use kasync_ops::Call;

use crate::fds::Dir;
use crate::offload::clamp;

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

/// The descriptor and direction (`Dir::Read` or `Dir::Write`) `attempt`
/// would try `call` on, `None` for calls it does not try.
pub(crate) fn target(call: &Call) -> Option<(RawFd, Dir)> {
    match *call {
        Call::Read { fd, .. } | Call::ReadFixed { fd, .. } => Some((fd.raw(), Dir::Read)),
        Call::Write { fd, .. } | Call::WriteFixed { fd, .. } => Some((fd.raw(), Dir::Write)),
        Call::Readv { fd, .. } => Some((fd, Dir::Read)),
        Call::Writev { fd, .. } => Some((fd, Dir::Write)),
        _ => None,
    }
}

/// Tries `call` without waiting, if it is a read or write (else
/// [`Tried::Pool`]). `calls` counts the system calls made.
pub(crate) fn attempt(call: &Call, calls: &mut u64) -> Tried {
    let Some((fd, dir)) = target(call) else {
        return Tried::Pool;
    };
    let read = dir == Dir::Read;
    let (one, iovecs, count, offset) = match *call {
        Call::Read {
            buf, len, offset, ..
        }
        | Call::ReadFixed {
            buf, len, offset, ..
        } => (iovec(buf, len), None, 1, offset),
        Call::Write {
            buf, len, offset, ..
        }
        | Call::WriteFixed {
            buf, len, offset, ..
        } => (iovec(buf.cast_mut(), len), None, 1, offset),
        Call::Readv {
            iovecs,
            count,
            offset,
            ..
        }
        | Call::Writev {
            iovecs,
            count,
            offset,
            ..
        } => (iovec(core::ptr::null_mut(), 0), Some(iovecs), count, offset),
        _ => return Tried::Pool,
    };
    let iov: *const libc::iovec = iovecs.unwrap_or(&one);
    let count = count.min(libc::c_int::MAX as u32) as libc::c_int;
    // Offset -1: at the file's position, which the call moves.
    let at = if offset == u64::MAX {
        -1
    } else {
        offset as libc::off_t
    };
    *calls += 1;
    // SAFETY: `iov` is the operation's own `iovec` array (`count` entries,
    // alive and unused by anyone else until its final completion) or
    // `one`, built from the operation's buffer and length, alive for the
    // call; the buffers they describe are the operation's. The call blocks
    // for nothing (`RWF_NOWAIT`).
    let ret = unsafe {
        if read {
            libc::preadv2(fd, iov, count, at, libc::RWF_NOWAIT)
        } else {
            libc::pwritev2(fd, iov, count, at, libc::RWF_NOWAIT)
        }
    };
    if ret < 0 {
        let refused = std::io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP);
        return if refused { Tried::Refused } else { Tried::Pool };
    }
    let done = i32::try_from(ret).unwrap_or(i32::MAX);
    if read && at != -1 && ret != 0 {
        // SAFETY: as above: `count` `iovec`s, alive for the call.
        let asked: usize = unsafe { core::slice::from_raw_parts(iov, count as usize) }
            .iter()
            .map(|v| v.iov_len)
            .sum();
        if (ret as usize) < asked.min(i32::MAX as usize) {
            return Tried::Pool; // short: the pool reads it all
        }
    }
    Tried::Done(done)
}

/// One `iovec` for a plain read or write, its length at most what the
/// result can report.
fn iovec(buf: *mut u8, len: u32) -> libc::iovec {
    libc::iovec {
        iov_base: buf.cast(),
        iov_len: clamp(len),
    }
}
