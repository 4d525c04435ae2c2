//! Reads and writes through registered buffers (`READ_FIXED`,
//! `WRITE_FIXED`).

use std::io;

use kasync::io::{Completion, Driver, IoBuf, Operation};

use super::{filled, read_target, result};
use crate::Call;
use crate::fixed::{FixedBuf, Target};

/// Reads into a registered buffer at `offset` (`READ_FIXED`: no page
/// mapping per operation).
#[derive(Debug)]
pub struct ReadFixedAt {
    /// Descriptor to read from (plain or registered).
    pub fd: Target,
    /// The registered buffer: appended to after the bytes it holds, up to
    /// its size (no room left: `InvalidInput`).
    pub buf: FixedBuf,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned registered `buf`
// (leaked pool memory), and the operation is bound to the buffer's ring.
unsafe impl<D: Driver<Op = Call>> Operation<D> for ReadFixedAt {
    type Output = (io::Result<usize>, FixedBuf);
    fn build(&mut self) -> Call {
        let Some((buf, len)) = read_target(&mut self.buf) else {
            return Call::Nop;
        };
        Call::ReadFixed {
            fd: self.fd,
            buf,
            len,
            offset: self.offset,
            index: self.buf.index(),
            owner: self.buf.owner(),
        }
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
unsafe impl<D: Driver<Op = Call>> Operation<D> for WriteFixedAt {
    type Output = (io::Result<usize>, FixedBuf);
    fn build(&mut self) -> Call {
        Call::WriteFixed {
            fd: self.fd,
            buf: self.buf.stable_ptr(),
            len: u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX),
            offset: self.offset,
            index: self.buf.index(),
            owner: self.buf.owner(),
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}
