//! Reads and writes through registered buffers (`READ_FIXED`,
//! `WRITE_FIXED`).

use std::io;

use io_uring::opcode;
use kasync::io::{Completion, IoBuf, IoBufMut, Operation};

use super::{bind_buffer, filled, result};
use crate::UringDriver;
use crate::fixed::{FixedBuf, Target};
use crate::submission::UringOp;

/// Reads into a registered buffer at `offset` (`READ_FIXED`: no page
/// mapping per operation).
#[derive(Debug)]
pub struct ReadFixedAt {
    /// Descriptor to read from (plain or registered).
    pub fd: Target,
    /// The registered buffer (filled from its start).
    pub buf: FixedBuf,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned registered `buf`
// (leaked pool memory), and the operation is bound to the buffer's ring.
unsafe impl Operation<UringDriver> for ReadFixedAt {
    type Output = (io::Result<usize>, FixedBuf);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        let (ptr, index, offset) = (self.buf.stable_mut_ptr(), self.buf.index(), self.offset);
        let op = self.fd.build(
            |fd| {
                opcode::ReadFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
            |fd| {
                opcode::ReadFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
        );
        bind_buffer(op, self.buf.ring())
    }
    fn complete(self, c: Completion) -> Self::Output {
        filled(c, self.buf)
    }
}

/// Writes a registered buffer's data at `offset` (`WRITE_FIXED`).
#[derive(Debug)]
pub struct WriteFixedAt {
    /// Descriptor to write to (plain or registered).
    pub fd: Target,
    /// The registered buffer.
    pub buf: FixedBuf,
    /// File offset.
    pub offset: u64,
}

// SAFETY: as for `ReadFixedAt`.
unsafe impl Operation<UringDriver> for WriteFixedAt {
    type Output = (io::Result<usize>, FixedBuf);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        let (ptr, index, offset) = (self.buf.stable_ptr(), self.buf.index(), self.offset);
        let op = self.fd.build(
            |fd| {
                opcode::WriteFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
            |fd| {
                opcode::WriteFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
        );
        bind_buffer(op, self.buf.ring())
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}
