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

/// The result of a read into `buf`: on success the buffer's first `n`
/// bytes are marked initialised.
fn filled<B: IoBufMut>(completion: Completion, mut buf: B) -> (io::Result<usize>, B) {
    match result(completion) {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes at the buffer's start.
            unsafe { buf.set_init(n as usize) };
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
pub use net::{Accept, Connect, Recv, RecvFrom, Send, SendTo, Shutdown};
#[cfg(target_os = "linux")]
pub use statx::Statx;
