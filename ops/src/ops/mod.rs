//! The operations. Each owns what the kernel may touch — buffers, paths,
//! socket addresses — until its completion, and hands the buffers back with
//! the result. Descriptors produced after their future was dropped (an
//! accept or open that completed despite a cancel) are closed. Each runs on
//! every driver whose operations are [`Call`]s.
//!
//! One file per family: file operations (read/write at an
//! offset, vectored, open, close, fsync, statx, timeout), sockets, multishot
//! receives and accepts, and registered-buffer I/O; the helpers they share
//! are here.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use kasync::io::{Completion, Driver, IoBufMut, Operation};

use crate::Call;
use crate::backend::result;

/// Where a read into `buf` goes — its spare capacity, after the bytes it
/// holds — as a pointer and a length for the kernel; `None` when it has no
/// spare capacity (the read is then a [`Call::Nop`] and completes with
/// [`no_spare_capacity`]).
fn read_target<B: IoBufMut>(buf: &mut B) -> Option<(*mut u8, u32)> {
    match buf.spare_len() {
        0 => None,
        len => Some((buf.spare_ptr(), u32::try_from(len).unwrap_or(u32::MAX))),
    }
}

/// The error of a read into a buffer without spare capacity.
pub(crate) fn no_spare_capacity() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "read into a buffer with no spare capacity: a read appends after the bytes the \
         buffer holds (its length) up to its capacity; use Vec::with_capacity(n) rather \
         than vec![0; n], and clear() a buffer to reuse it",
    )
}

/// The result of a read into `buf`: on success the `n` bytes after the
/// ones it held are marked initialised; a buffer that had no spare
/// capacity (and was not read into) is refused.
fn filled<B: IoBufMut>(completion: Completion, mut buf: B) -> (io::Result<usize>, B) {
    if buf.spare_len() == 0 {
        return (Err(no_spare_capacity()), buf);
    }
    match result(completion) {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes at the buffer's spare
            // capacity (`read_target`).
            unsafe { buf.advance_init(n as usize) };
            (Ok(n as usize), buf)
        }
        Err(e) => (Err(e), buf),
    }
}

/// Closes a descriptor a completion produced for nobody.
fn close_orphan(completion: Completion) {
    if let Ok(fd) = completion.into_result() {
        // SAFETY: the kernel created `fd` for this operation and nobody
        // else has seen it.
        drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    }
}

/// Does nothing, through the backend (for measuring the round trip).
#[derive(Debug, Clone, Copy, Default)]
pub struct Nop;

// SAFETY: describes no memory.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Nop {
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        Call::Nop
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

mod file;
mod fixed;
mod multi;
mod net;
#[cfg(target_os = "linux")]
mod statx;

pub use file::{Close, Fsync, OpenAt, ReadAt, ReadvAt, Timeout, WriteAt, WritevAt};
pub use fixed::{ReadFixedAt, WriteFixedAt};
pub use multi::{AcceptMulti, RecvMulti};
pub use net::{Accept, Connect, Readable, Recv, RecvFrom, Send, SendTo, Shutdown};
#[cfg(target_os = "linux")]
pub use statx::Statx;
