//! File operations: reads and writes at an offset (also vectored),
//! open, close, fsync, statx, and the kernel's own timeout.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use kasync::io::{Completion, Driver, IoBuf, IoBufMut, Operation};

use super::{close_orphan, filled, no_spare_capacity, read_target, result};
use crate::fixed::Target;
use crate::{Call, Timespec};

/// Reads into a buffer from `fd` at `offset` (`u64::MAX`: the current
/// position, for pipes and sockets).
#[derive(Debug)]
pub struct ReadAt<B> {
    /// Descriptor to read from (plain or registered).
    pub fd: Target,
    /// Where the data goes: appended after the bytes it holds, up to its
    /// capacity (no spare capacity: `InvalidInput`).
    pub buf: B,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBufMut`: stable
// while `self` moves; its spare capacity is writable).
unsafe impl<B: IoBufMut, D: Driver<Op = Call>> Operation<D> for ReadAt<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> Call {
        let Some((buf, len)) = read_target(&mut self.buf) else {
            return Call::Nop;
        };
        Call::Read {
            fd: self.fd,
            buf,
            len,
            offset: self.offset,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        filled(c, self.buf)
    }
}

/// Writes a buffer's initialised bytes to `fd` at `offset` (`u64::MAX`:
/// the current position).
#[derive(Debug)]
pub struct WriteAt<B> {
    /// Descriptor to write to (plain or registered).
    pub fd: Target,
    /// The data.
    pub buf: B,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBuf`: stable
// while `self` moves, `bytes_init` initialised bytes).
unsafe impl<B: IoBuf, D: Driver<Op = Call>> Operation<D> for WriteAt<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> Call {
        Call::Write {
            fd: self.fd,
            buf: self.buf.stable_ptr(),
            len: u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX),
            offset: self.offset,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}

/// Opens a file: the new descriptor.
#[derive(Debug)]
pub struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    /// Opens `path` (relative to the working directory) with `open(2)`
    /// `flags` and `mode`. A path with a NUL byte is `InvalidInput`.
    pub fn new(path: &std::path::Path, flags: i32, mode: u32) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        Ok(Self {
            path,
            flags: flags | libc::O_CLOEXEC,
            mode,
        })
    }
}

// SAFETY: the path points into `self.path`'s heap bytes (a `CString`).
unsafe impl<D: Driver<Op = Call>> Operation<D> for OpenAt {
    type Output = io::Result<OwnedFd>;
    fn build(&mut self) -> Call {
        Call::OpenAt {
            path: self.path.as_ptr(),
            flags: self.flags,
            mode: self.mode,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    fn orphaned(self, c: Completion, _driver: &D) {
        close_orphan(c);
    }
}

/// Closes a descriptor (the caller gives up ownership).
#[derive(Debug)]
pub struct Close {
    fd: OwnedFd,
}

impl Close {
    /// Closes `fd` through the ring.
    pub fn new(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

// SAFETY: describes no memory.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Close {
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        use std::os::fd::AsRawFd;
        Call::Close {
            fd: self.fd.as_raw_fd(),
        }
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        // The kernel closed it: forget our copy.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(self.fd);
        result(c).map(drop)
    }
    fn orphaned(self, _c: Completion, _driver: &D) {
        // Closed by the kernel (or it failed and nothing is left to close).
        let _ = std::os::fd::IntoRawFd::into_raw_fd(self.fd);
    }
}

/// Flushes a file's data and metadata to storage.
#[derive(Debug)]
pub struct Fsync {
    /// The file.
    pub fd: RawFd,
}

// SAFETY: describes no memory.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Fsync {
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        Call::Fsync { fd: self.fd }
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

/// The buffers of a vectored read or write and the `iovec` array the
/// kernel reads them through (kept with the operation until it completes).
#[derive(Debug)]
struct Vectored {
    fd: RawFd,
    bufs: Vec<Vec<u8>>,
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl Vectored {
    /// Spare capacity of all the buffers (what a read may fill).
    fn spare(&self) -> usize {
        self.bufs.iter().map(|b| b.capacity() - b.len()).sum()
    }

    fn new(fd: RawFd, bufs: Vec<Vec<u8>>, offset: u64) -> Self {
        Self {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }

    /// Points an `iovec` at each buffer: at its spare capacity to read
    /// into (reads append), at its bytes to write. Returns the array and
    /// its length.
    fn iovecs(&mut self, read: bool) -> (*const libc::iovec, u32) {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| match read {
                true => libc::iovec {
                    iov_base: b.spare_capacity_mut().as_mut_ptr().cast(),
                    iov_len: b.capacity() - b.len(),
                },
                false => libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: b.len(),
                },
            })
            .collect();
        (self.iovecs.as_ptr(), self.iovecs.len() as u32)
    }
}

/// Reads into several buffers in one go (`readv`) at `offset`.
#[derive(Debug)]
pub struct ReadvAt(Vectored);

impl ReadvAt {
    /// Fills `bufs` in order from `fd` at `offset`, appending to each up
    /// to its capacity. No spare capacity in any of them: `InvalidInput`.
    pub fn new(fd: RawFd, bufs: Vec<Vec<u8>>, offset: u64) -> Self {
        Self(Vectored::new(fd, bufs, offset))
    }
}

// SAFETY: the `iovec` array is `self.0.iovecs` (rebuilt by each `build`, not
// touched again until completion) and points at the capacity of the owned
// `Vec`s in `self.0.bufs`, which do not grow while in flight.
unsafe impl<D: Driver<Op = Call>> Operation<D> for ReadvAt {
    /// Bytes read, and the buffers with their lengths set.
    type Output = (io::Result<usize>, Vec<Vec<u8>>);
    fn build(&mut self) -> Call {
        if self.0.spare() == 0 {
            return Call::Nop;
        }
        let (iovecs, count) = self.0.iovecs(true);
        Call::Readv {
            fd: self.0.fd,
            iovecs,
            count,
            offset: self.0.offset,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        if self.0.spare() == 0 {
            return (Err(no_spare_capacity()), self.0.bufs);
        }
        let mut bufs = self.0.bufs;
        match result(c) {
            Ok(n) => {
                let mut left = n as usize;
                for b in &mut bufs {
                    let take = left.min(b.capacity() - b.len());
                    // SAFETY: the kernel filled the buffers' spare capacity
                    // in order, `n` bytes in all.
                    unsafe { b.set_len(b.len() + take) };
                    left -= take;
                }
                (Ok(n as usize), bufs)
            }
            Err(e) => (Err(e), bufs),
        }
    }
}

/// Writes several buffers in one go (`writev`) at `offset`.
#[derive(Debug)]
pub struct WritevAt(Vectored);

impl WritevAt {
    /// Writes `bufs` in order to `fd` at `offset`.
    pub fn new(fd: RawFd, bufs: Vec<Vec<u8>>, offset: u64) -> Self {
        Self(Vectored::new(fd, bufs, offset))
    }
}

// SAFETY: as for `ReadvAt`: the `iovec`s point at the owned buffers'
// initialised bytes.
unsafe impl<D: Driver<Op = Call>> Operation<D> for WritevAt {
    /// Bytes written, and the buffers.
    type Output = (io::Result<usize>, Vec<Vec<u8>>);
    fn build(&mut self) -> Call {
        let (iovecs, count) = self.0.iovecs(false);
        Call::Writev {
            fd: self.0.fd,
            iovecs,
            count,
            offset: self.0.offset,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.0.bufs)
    }
}

/// A backend's own timeout: completes after `duration` (kasync's timers
/// use their own wheel; this is the kernel's, for completeness and tests).
#[derive(Debug)]
pub struct Timeout {
    ts: Timespec,
}

impl Timeout {
    /// A timeout of `duration`.
    pub fn new(duration: std::time::Duration) -> Self {
        Self {
            ts: Timespec::from_duration(duration),
        }
    }
}

// SAFETY: the timespec is `self.ts`, in the op table with `self`.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Timeout {
    /// `Ok(())` when the time passed (`-ETIME`), an error otherwise
    /// (`-ECANCELED` if cancelled).
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        Call::Timeout { ts: &self.ts }
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        match c.result {
            r if r == -libc::ETIME => Ok(()),
            _ => result(c).map(drop),
        }
    }
}
