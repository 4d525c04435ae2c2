//! io_uring operations. Each owns what the kernel may touch — buffers,
//! paths, socket addresses — until its completion, and hands the buffers
//! back with the result. Descriptors produced after their future was dropped
//! (an accept or open that completed despite a cancel) are closed.
//!
//! One file per family: file operations (read/write at an
//! offset, vectored, open, close, fsync, statx, timeout), sockets, multishot
//! receives and accepts, and registered-buffer I/O; the helpers they share
//! are here.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use io_uring::opcode;
use kasync::io::{Completion, IoBufMut, Operation};

use crate::UringDriver;
use crate::submission::{UringOp, bound_result};

/// A completion's result; none of these operations gets `EXDEV` from the
/// kernel, so it stands for a refused registered resource of another ring.
fn result(completion: Completion) -> io::Result<u32> {
    bound_result(completion)
}

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

/// `op` bound (also) to the ring of a registered buffer; an operation that
/// names registered resources of two different rings is refused everywhere.
fn bind_buffer(op: UringOp, buffer_ring: crate::RingId) -> UringOp {
    match op.ring {
        Some(ring) if ring != buffer_ring => UringOp::bound(op.entry, crate::RingId::NOWHERE),
        _ => UringOp::bound(op.entry, buffer_ring),
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

/// Does nothing, through the ring (for measuring the round trip).
#[derive(Debug, Clone, Copy, Default)]
pub struct Nop;

// SAFETY: describes no memory.
unsafe impl Operation<UringDriver> for Nop {
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        opcode::Nop::new().build().into()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

mod file;
mod fixed;
mod multi;
mod net;

pub use file::{Close, Fsync, OpenAt, ReadAt, ReadvAt, Statx, Timeout, WriteAt, WritevAt};
pub use fixed::{ReadFixedAt, WriteFixedAt};
pub use multi::{AcceptMulti, RecvMulti};
pub use net::{Accept, Connect, RawAddr, Recv, RecvFrom, Send, SendTo, Shutdown};
