//! File metadata by path (`statx`, Linux only).

use std::ffi::CString;
use std::io;
use std::mem;

use kasync::io::{Completion, Driver, Operation};

use super::result;
use crate::Call;

/// File metadata by path (`statx`).
pub struct Statx {
    path: CString,
    buf: Box<libc::statx>,
}

impl std::fmt::Debug for Statx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statx").field("path", &self.path).finish()
    }
}

impl Statx {
    /// Metadata of `path`. A path with a NUL byte is `InvalidInput`.
    pub fn new(path: &std::path::Path) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        Ok(Self {
            path,
            // SAFETY: all-zero bytes are a valid `statx`.
            buf: Box::new(unsafe { mem::zeroed() }),
        })
    }
}

// SAFETY: the path points into `self.path`, the result into the boxed
// `self.buf`.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Statx {
    type Output = io::Result<libc::statx>;
    fn build(&mut self) -> Call {
        Call::Statx {
            path: self.path.as_ptr(),
            buf: &mut *self.buf,
            mask: libc::STATX_BASIC_STATS,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        result(c).map(|_| *self.buf)
    }
}
