//! [`Call`]: one system call, described for whichever backend runs it.

use std::os::fd::RawFd;

use crate::backend::DriverId;
use crate::bufring::BufRing;
use crate::fixed::Target;

/// A duration in the kernel's layout (`struct __kernel_timespec`), for
/// [`Call::Timeout`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds (below one second).
    pub nsec: i64,
}

impl Timespec {
    /// `duration` in the kernel's layout (saturating at `i64::MAX` s).
    pub fn from_duration(duration: std::time::Duration) -> Self {
        Self {
            sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            nsec: i64::from(duration.subsec_nanos()),
        }
    }

    /// Back to a `Duration` (negative parts count as 0).
    pub fn to_duration(self) -> std::time::Duration {
        std::time::Duration::new(
            u64::try_from(self.sec).unwrap_or(0),
            u32::try_from(self.nsec.clamp(0, 999_999_999)).unwrap_or(0),
        )
    }
}

/// One system call as an operation describes it to its backend
/// ([`Operation::build`](kasync::io::Operation::build)'s result for every
/// driver whose `Op` is `Call`).
///
/// Pointers point into the operation that built it (its buffers, address,
/// path, `msghdr`), which the reactor keeps in place until the backend
/// reports the final completion; a backend touches them only until then.
/// Results are reported as io_uring would: the call's return value, or
/// `-errno`, with [`flags`](crate::flags) for provided buffers and
/// multishot operations.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    /// Nothing (completes with 0).
    Nop,
    /// `pread` (`read` when `offset` is `u64::MAX`).
    Read {
        /// The descriptor.
        fd: Target,
        /// Where the bytes go.
        buf: *mut u8,
        /// Room at `buf`.
        len: u32,
        /// File offset, or `u64::MAX` for the current position.
        offset: u64,
    },
    /// `pwrite` (`write` when `offset` is `u64::MAX`).
    Write {
        /// The descriptor.
        fd: Target,
        /// The bytes.
        buf: *const u8,
        /// How many.
        len: u32,
        /// File offset, or `u64::MAX` for the current position.
        offset: u64,
    },
    /// A read into registered buffer `index` of driver `owner`.
    ReadFixed {
        /// The descriptor.
        fd: Target,
        /// Where the bytes go (inside the registered buffer).
        buf: *mut u8,
        /// Room at `buf`.
        len: u32,
        /// File offset, or `u64::MAX`.
        offset: u64,
        /// The registered buffer's index.
        index: u16,
        /// The driver that registered it.
        owner: DriverId,
    },
    /// A write from registered buffer `index` of driver `owner`.
    WriteFixed {
        /// The descriptor.
        fd: Target,
        /// The bytes (inside the registered buffer).
        buf: *const u8,
        /// How many.
        len: u32,
        /// File offset, or `u64::MAX`.
        offset: u64,
        /// The registered buffer's index.
        index: u16,
        /// The driver that registered it.
        owner: DriverId,
    },
    /// `preadv`.
    Readv {
        /// The descriptor.
        fd: RawFd,
        /// The `iovec` array.
        iovecs: *const libc::iovec,
        /// Its length.
        count: u32,
        /// File offset, or `u64::MAX`.
        offset: u64,
    },
    /// `pwritev`.
    Writev {
        /// The descriptor.
        fd: RawFd,
        /// The `iovec` array.
        iovecs: *const libc::iovec,
        /// Its length.
        count: u32,
        /// File offset, or `u64::MAX`.
        offset: u64,
    },
    /// `openat(AT_FDCWD, path, flags, mode)`: the new descriptor.
    OpenAt {
        /// NUL-terminated path.
        path: *const libc::c_char,
        /// `open(2)` flags.
        flags: i32,
        /// Mode for a created file.
        mode: u32,
    },
    /// `close`.
    Close {
        /// The descriptor (the operation gave up owning it).
        fd: RawFd,
    },
    /// `fsync`.
    Fsync {
        /// The file.
        fd: RawFd,
    },
    /// `statx(AT_FDCWD, path, 0, mask, buf)`.
    #[cfg(target_os = "linux")]
    Statx {
        /// NUL-terminated path.
        path: *const libc::c_char,
        /// Where the result goes.
        buf: *mut libc::statx,
        /// What to ask for.
        mask: u32,
    },
    /// Completes with `-ETIME` after the duration at `ts`.
    Timeout {
        /// The duration.
        ts: *const Timespec,
    },
    /// `recv`.
    Recv {
        /// The socket.
        fd: RawFd,
        /// Where the bytes go.
        buf: *mut u8,
        /// Room at `buf`.
        len: u32,
        /// `recv` flags.
        flags: i32,
    },
    /// `send`.
    Send {
        /// The socket.
        fd: RawFd,
        /// The bytes.
        buf: *const u8,
        /// How many.
        len: u32,
        /// `send` flags.
        flags: i32,
    },
    /// `recvmsg`.
    RecvMsg {
        /// The socket.
        fd: RawFd,
        /// The message header (buffers and address room).
        msg: *mut libc::msghdr,
    },
    /// `sendmsg`.
    SendMsg {
        /// The socket.
        fd: RawFd,
        /// The message header.
        msg: *const libc::msghdr,
    },
    /// `accept4(…, SOCK_CLOEXEC)`: the new socket.
    Accept {
        /// The listening socket.
        fd: RawFd,
        /// Room for the peer's address.
        addr: *mut libc::sockaddr,
        /// The room's size in, the address's length out.
        len: *mut libc::socklen_t,
    },
    /// Accepts continuously (multishot): a completion per connection.
    AcceptMulti {
        /// The listening socket.
        fd: RawFd,
    },
    /// `connect`.
    Connect {
        /// The socket.
        fd: RawFd,
        /// The address.
        addr: *const libc::sockaddr,
        /// Its length.
        len: libc::socklen_t,
    },
    /// Waits until `fd` is readable (`poll` for `POLLIN`): the ready
    /// events. For descriptors whose reads must be made by the waiting
    /// thread itself (a `signalfd` reads the reading thread's signals).
    Readable {
        /// The descriptor.
        fd: RawFd,
    },
    /// `shutdown`.
    Shutdown {
        /// The socket.
        fd: RawFd,
        /// `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
        how: i32,
    },
    /// Receives continuously (multishot) into buffers the backend takes
    /// from `ring`: a completion per arrival, naming its buffer.
    RecvMulti {
        /// The socket.
        fd: RawFd,
        /// The provided buffers.
        ring: &'static BufRing,
    },
}

impl Call {
    /// The driver whose registered resources the call names, if any;
    /// [`DriverId::NOWHERE`] when it names resources of two different
    /// drivers. A driver refuses a call bound to another.
    pub fn bound(&self) -> Option<DriverId> {
        fn both(fd: Target, owner: DriverId) -> DriverId {
            match fd {
                Target::Fixed(fixed) if fixed.owner() != owner => DriverId::NOWHERE,
                _ => owner,
            }
        }
        match *self {
            Call::Read { fd, .. } | Call::Write { fd, .. } => match fd {
                Target::Fixed(fixed) => Some(fixed.owner()),
                Target::Fd(_) => None,
            },
            Call::ReadFixed { fd, owner, .. } | Call::WriteFixed { fd, owner, .. } => {
                Some(both(fd, owner))
            }
            Call::RecvMulti { ring, .. } => Some(ring.owner()),
            _ => None,
        }
    }
}
