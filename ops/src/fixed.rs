//! Registered ("fixed") buffers and files: registered once with an
//! io_uring, they spare the kernel mapping the pages (buffers) or looking
//! up the descriptor (files) on every operation — worth it for hot,
//! repeated I/O. A backend without registration (readiness) hands out the
//! same types and runs their operations as plain ones.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use kasync::io::{IoBuf, IoBufMut};

use crate::backend::DriverId;

/// Largest registered buffer (`IORING_REGISTER_BUFFERS`: 1 GiB).
const MAX_BUFFER: usize = 1 << 30;
/// Most buffers one driver registers (the kernel's
/// `IORING_MAX_REG_BUFFERS`).
const MAX_BUFFERS: u16 = 1 << 14;

/// Buffers registered with one driver. Created by its backend's
/// `register_buffers`; lives for the rest of the program (the kernel keeps
/// the registration), which is what lets [`FixedBuf`]s be `'static`.
pub struct FixedBufPool {
    memory: Box<[UnsafeCell<u8>]>,
    size: usize,
    taken: Box<[AtomicBool]>,
    /// The driver the buffers are registered with.
    owner: DriverId,
}

// SAFETY: a buffer's bytes are reachable only through the one `FixedBuf`
// that won its `taken` flag (Acquire/Release hand them over).
unsafe impl Sync for FixedBufPool {}
// SAFETY: as above.
unsafe impl Send for FixedBufPool {}

impl fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBufPool")
            .field("buffers", &self.taken.len())
            .field("size", &self.size)
            .field("available", &self.available())
            .finish()
    }
}

impl FixedBufPool {
    /// `count` zeroed buffers of `size` bytes for driver `owner` (for a
    /// backend to register). `count` must be 1 to 16384 and `size` 1 byte
    /// to 1 GiB (io_uring's limits, kept by every backend); anything else
    /// is `InvalidInput`.
    pub fn new(count: u16, size: usize, owner: DriverId) -> io::Result<Self> {
        if count == 0 || count > MAX_BUFFERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("registered buffers: the count must be 1 to {MAX_BUFFERS}, not {count}"),
            ));
        }
        if size == 0 || size > MAX_BUFFER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("registered buffers: a buffer must have 1 byte to 1 GiB, not {size} bytes"),
            ));
        }
        let bytes = usize::from(count).checked_mul(size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "registered buffers: count × size does not fit in memory",
            )
        })?;
        Ok(Self {
            memory: crate::memory::zeroed(bytes, "registered buffers")?,
            size,
            taken: (0..count).map(|_| AtomicBool::new(false)).collect(),
            owner,
        })
    }

    /// The driver the buffers are registered with.
    pub fn owner(&self) -> DriverId {
        self.owner
    }

    /// The `iovec`s to register (one per buffer).
    pub fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.taken.len())
            .map(|i| libc::iovec {
                iov_base: self.memory[i * self.size].get().cast(),
                iov_len: self.size,
            })
            .collect()
    }

    /// Takes a free buffer (empty), or `None` if all are in use.
    pub fn take(&'static self) -> Option<FixedBuf> {
        let index = self.taken.iter().position(|flag| {
            flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })?;
        Some(FixedBuf {
            pool: self,
            index: index as u16,
            len: 0,
        })
    }

    /// Buffers free now.
    pub fn available(&self) -> usize {
        self.taken
            .iter()
            .filter(|f| !f.load(Ordering::Relaxed))
            .count()
    }

    /// Bytes per buffer.
    pub fn buffer_size(&self) -> usize {
        self.size
    }
}

/// One registered buffer: `buffer_size` bytes, of which the first `len()`
/// hold data. Returns to its pool when dropped.
pub struct FixedBuf {
    pool: &'static FixedBufPool,
    index: u16,
    len: usize,
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

impl FixedBuf {
    /// The registration index (`buf_index` of the fixed operations).
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The driver the buffer is registered with.
    pub fn owner(&self) -> DriverId {
        self.pool.owner
    }

    fn base(&self) -> *mut u8 {
        self.pool.memory[self.index as usize * self.pool.size].get()
    }

    /// The data.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: this handle owns the buffer; `len` bytes are initialised
        // (all are: the pool is zeroed).
        unsafe { std::slice::from_raw_parts(self.base(), self.len) }
    }

    /// Appends as much of `data` as fits; returns how much that was.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.pool.size - self.len);
        // SAFETY: this handle owns the buffer; `len + n <= size`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base().add(self.len), n) };
        self.len += n;
        n
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.pool.taken[self.index as usize].store(false, Ordering::Release);
    }
}

// SAFETY: pool memory is leaked (`'static`) and never moves; the handle
// owns the buffer; `len <= size` bytes are initialised.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.base()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.pool.size
    }
}

// SAFETY: as above, writable through the owned buffer.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.base()
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.len = self.len.max(n.min(self.pool.size));
    }
}

/// A descriptor registered in one driver's file table (its backend's
/// `register_file`). Operations naming it on another driver are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedFd {
    index: u32,
    owner: DriverId,
    fd: RawFd,
}

impl FixedFd {
    /// Descriptor `fd`, registered at `index` of `owner`'s table (for a
    /// backend's registration).
    pub fn new(index: u32, owner: DriverId, fd: RawFd) -> Self {
        Self { index, owner, fd }
    }

    /// The table index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The driver whose table it is in.
    pub fn owner(self) -> DriverId {
        self.owner
    }

    /// The plain descriptor it stands for (what a backend without a file
    /// table uses).
    pub fn fd(self) -> RawFd {
        self.fd
    }
}

/// Which descriptor an operation uses: a plain one, or a registered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A plain descriptor.
    Fd(RawFd),
    /// A registered descriptor.
    Fixed(FixedFd),
}

impl Target {
    /// The plain descriptor (a registered one's original descriptor).
    pub fn raw(self) -> RawFd {
        match self {
            Target::Fd(fd) => fd,
            Target::Fixed(fixed) => fixed.fd,
        }
    }
}

impl From<RawFd> for Target {
    fn from(fd: RawFd) -> Self {
        Target::Fd(fd)
    }
}

impl From<FixedFd> for Target {
    fn from(fd: FixedFd) -> Self {
        Target::Fixed(fd)
    }
}

/// Error for a second buffer registration on one driver.
pub fn already_registered() -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        "this runtime already has registered buffers",
    )
}
