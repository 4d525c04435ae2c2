//! A file's read or write — plain or vectored, at an offset or at the
//! file's position — as the one vectored system call both the loop's
//! attempt without waiting ([`nowait`](crate::nowait)) and the pool's
//! blocking call ([`offload`](crate::offload)) make.

use std::os::fd::RawFd;

use kasync_ops::Call;

use crate::fds::Dir;

/// The transfer a read or write call describes.
pub(crate) struct FileRw {
    /// The operation's descriptor.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // nowait's
    pub(crate) fd: RawFd,
    pub(crate) dir: Dir,
    /// The one buffer of a plain read or write.
    one: libc::iovec,
    /// The operation's `iovec` array (vectored calls).
    iovecs: Option<*const libc::iovec>,
    count: libc::c_int,
    /// `-1`: at the file's position, which the call moves.
    at: libc::off_t,
}

impl FileRw {
    /// The transfer of `call`, `None` if it is no read or write.
    pub(crate) fn of(call: &Call) -> Option<Self> {
        let (fd, dir, one, iovecs, count, offset) = match *call {
            Call::Read {
                fd,
                buf,
                len,
                offset,
            }
            | Call::ReadFixed {
                fd,
                buf,
                len,
                offset,
                ..
            } => (fd.raw(), Dir::Read, iovec(buf, len), None, 1, offset),
            Call::Write {
                fd,
                buf,
                len,
                offset,
            }
            | Call::WriteFixed {
                fd,
                buf,
                len,
                offset,
                ..
            } => (
                fd.raw(),
                Dir::Write,
                iovec(buf.cast_mut(), len),
                None,
                1,
                offset,
            ),
            Call::Readv {
                fd,
                iovecs,
                count,
                offset,
            } => (
                fd,
                Dir::Read,
                iovec(std::ptr::null_mut(), 0),
                Some(iovecs),
                count,
                offset,
            ),
            Call::Writev {
                fd,
                iovecs,
                count,
                offset,
            } => (
                fd,
                Dir::Write,
                iovec(std::ptr::null_mut(), 0),
                Some(iovecs),
                count,
                offset,
            ),
            _ => return None,
        };
        Some(Self {
            fd,
            dir,
            one,
            iovecs,
            count: count.min(libc::c_int::MAX as u32) as libc::c_int,
            at: if offset == u64::MAX {
                -1
            } else {
                offset as libc::off_t
            },
        })
    }

    /// `true` for a transfer at the file's position (which it moves).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // nowait's
    pub(crate) fn at_position(&self) -> bool {
        self.at == -1
    }

    fn iov(&self) -> *const libc::iovec {
        self.iovecs.unwrap_or(&self.one)
    }

    /// The bytes asked for, at most what a result can report.
    ///
    /// # Safety
    /// The operation's memory (its `iovec`s) is alive and not written by
    /// anyone else.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // nowait's
    pub(crate) unsafe fn asked(&self) -> usize {
        // SAFETY: `iov` is `one` or the operation's `count` `iovec`s, alive
        // (the caller's promise).
        let iovecs = unsafe { std::slice::from_raw_parts(self.iov(), self.count as usize) };
        let asked: usize = iovecs.iter().map(|v| v.iov_len).sum();
        asked.min(i32::MAX as usize)
    }

    /// Makes the call on `fd` (the operation's descriptor or a duplicate
    /// of it), without waiting if `nowait` (Linux: `RWF_NOWAIT`; never
    /// asked for elsewhere): the count transferred or `-errno`.
    ///
    /// # Safety
    /// The operation's memory (its buffers and `iovec`s) is alive and used
    /// by nobody else until the call returns.
    pub(crate) unsafe fn run(&self, fd: RawFd, nowait: bool) -> isize {
        let (iov, count, at) = (self.iov(), self.count, self.at);
        // SAFETY: `iov` is `one`, built from the operation's buffer and
        // length, or the operation's `count` `iovec`s; the buffers they
        // describe are the operation's (the caller's promise).
        let ret = unsafe {
            #[cfg(target_os = "linux")]
            {
                let flags = if nowait { libc::RWF_NOWAIT } else { 0 };
                match self.dir {
                    Dir::Read => libc::preadv2(fd, iov, count, at, flags),
                    Dir::Write => libc::pwritev2(fd, iov, count, at, flags),
                }
            }
            #[cfg(not(target_os = "linux"))]
            {
                debug_assert!(!nowait, "RWF_NOWAIT is Linux's");
                match (self.dir, at) {
                    (Dir::Read, -1) => libc::readv(fd, iov, count),
                    (Dir::Write, -1) => libc::writev(fd, iov, count),
                    (Dir::Read, at) => libc::preadv(fd, iov, count, at),
                    (Dir::Write, at) => libc::pwritev(fd, iov, count, at),
                }
            }
        };
        if ret < 0 {
            -(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as isize)
        } else {
            ret
        }
    }
}

/// One `iovec` for a plain read or write, its length at most what the
/// result can report (a longer one would be claimed shorter than it was:
/// bytes written twice or skipped).
fn iovec(buf: *mut u8, len: u32) -> libc::iovec {
    libc::iovec {
        iov_base: buf.cast(),
        iov_len: len.min(i32::MAX as u32) as usize,
    }
}
