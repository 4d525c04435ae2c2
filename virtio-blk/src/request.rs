//! The requests the driver queues ([`Request`], its `Driver::Op`) and the
//! operations that make them: [`ReadSectors`], [`WriteSectors`],
//! [`Flush`]. Each operation owns its buffer from submission until the
//! device has returned the request — also when its future is dropped
//! first: virtio-blk cannot abort a request, so the buffer stays with the
//! operation in the reactor's table until the used ring gives it back.

use kasync::io::{Completion, IoBuf, IoBufMut, Operation, errno};

use crate::dma::Dma;
use crate::driver::{BlkDriver, Halt};
use crate::transport::Transport;

/// Bytes of a sector, the unit of every request.
pub const SECTOR: usize = 512;

/// Request types (virtio 1.x §5.2.6).
pub(crate) mod kind {
    pub(crate) const IN: u32 = 0;
    pub(crate) const OUT: u32 = 1;
    pub(crate) const FLUSH: u32 = 4;
}

/// One request, as an operation describes it to the driver.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub(crate) what: What,
}

/// What a [`Request`] asks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum What {
    /// Read `len` bytes from `sector` on into `data`.
    Read {
        sector: u64,
        data: *mut u8,
        len: u32,
    },
    /// Write the `len` bytes at `data` from `sector` on.
    Write {
        sector: u64,
        data: *const u8,
        len: u32,
    },
    /// Make the writes so far durable.
    Flush,
    /// Never reaches the device: completes with `-errno`.
    Refused(i32),
}

/// The largest transfer one request carries (the result is an `i32`).
const MAX_BYTES: usize = (i32::MAX as usize / SECTOR) * SECTOR;

/// Whole sectors of `bytes` (at most [`MAX_BYTES`]) as a length, or the
/// error a request of that size gets.
fn whole_sectors(bytes: usize) -> Result<u32, i32> {
    let bytes = bytes.min(MAX_BYTES) / SECTOR * SECTOR;
    if bytes == 0 {
        Err(errno::EINVAL)
    } else {
        Ok(bytes as u32)
    }
}

/// Reads whole sectors from `sector` on into the spare capacity of an
/// owned buffer (as many as fit: a buffer with room for less than one
/// sector fails with `EINVAL`); resolves to `(bytes read or errno,
/// buffer)`. A read past the disk's end fails with `EINVAL`, one the
/// device rejects with `EIO`.
#[derive(Debug)]
pub struct ReadSectors<B> {
    sector: u64,
    buf: B,
}

impl<B: IoBufMut> ReadSectors<B> {
    /// A read of `buf`'s spare capacity (whole sectors) from `sector` on.
    pub fn new(sector: u64, buf: B) -> Self {
        Self { sector, buf }
    }
}

// SAFETY: `data`/`len` are the owned buffer's spare capacity (`IoBufMut`:
// stable while `self` moves, `spare_len` writable bytes from `spare_ptr`),
// at most that many; nothing else is described. `orphaned` only counts.
unsafe impl<B: IoBufMut, T: Transport + 'static, D: Dma + 'static, H: Halt + 'static>
    Operation<BlkDriver<T, D, H>> for ReadSectors<B>
{
    type Output = (Result<usize, i32>, B);

    fn build(&mut self) -> Request {
        let what = match whole_sectors(self.buf.spare_len()) {
            Ok(len) => What::Read {
                sector: self.sector,
                data: self.buf.spare_ptr(),
                len,
            },
            Err(e) => What::Refused(e),
        };
        Request { what }
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        match completion.into_result() {
            Ok(n) => {
                // SAFETY: the device wrote `n` bytes (the request's length,
                // at most the spare capacity) at the spare capacity.
                unsafe { self.buf.advance_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }

    fn orphaned(self, _: Completion, driver: &BlkDriver<T, D, H>) {
        driver.note_orphaned();
    }
}

/// Writes an owned buffer's data (whole sectors: a length that is not a
/// multiple of [`SECTOR`], or zero, fails with `EINVAL`) from `sector` on;
/// resolves to `(bytes written or errno, buffer)`. A write to a read-only
/// disk fails with `EROFS`.
#[derive(Debug)]
pub struct WriteSectors<B> {
    sector: u64,
    buf: B,
}

impl<B: IoBuf> WriteSectors<B> {
    /// A write of `buf`'s initialised bytes from `sector` on.
    pub fn new(sector: u64, buf: B) -> Self {
        Self { sector, buf }
    }
}

// SAFETY: `data`/`len` are the owned buffer's initialised bytes (`IoBuf`:
// stable while `self` moves), which the device only reads.
unsafe impl<B: IoBuf, T: Transport + 'static, D: Dma + 'static, H: Halt + 'static>
    Operation<BlkDriver<T, D, H>> for WriteSectors<B>
{
    type Output = (Result<usize, i32>, B);

    fn build(&mut self) -> Request {
        let bytes = self.buf.bytes_init();
        let what = match whole_sectors(bytes) {
            Ok(len) if len as usize == bytes => What::Write {
                sector: self.sector,
                data: self.buf.stable_ptr(),
                len,
            },
            _ => What::Refused(errno::EINVAL),
        };
        Request { what }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        (completion.into_result().map(|n| n as usize), self.buf)
    }

    fn orphaned(self, _: Completion, driver: &BlkDriver<T, D, H>) {
        driver.note_orphaned();
    }
}

/// Makes every completed write durable (a no-op that succeeds on a device
/// without a write cache); resolves to `Ok(())` or the errno.
#[derive(Debug, Default)]
pub struct Flush;

// SAFETY: describes no memory.
unsafe impl<T: Transport + 'static, D: Dma + 'static, H: Halt + 'static>
    Operation<BlkDriver<T, D, H>> for Flush
{
    type Output = Result<(), i32>;

    fn build(&mut self) -> Request {
        Request { what: What::Flush }
    }

    fn complete(self, completion: Completion) -> Self::Output {
        completion.into_result().map(|_| ())
    }
}
