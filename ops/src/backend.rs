//! What every backend shares: its identity (which registered resources
//! carry), the completion flags, its counters and how it fails.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use kasync::io::Completion;

/// The identity of one driver (one io_uring, one epoll instance), unique
/// in the process. Registered buffers, buffer rings and files carry the id
/// of the driver they were registered with: indices into one driver's
/// tables mean nothing (or something else) to any other, so an operation
/// naming another driver's resource is refused: it completes with
/// `-EXDEV` without reaching the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DriverId(u64);

impl DriverId {
    /// No driver's id: an operation bound to it is refused by every one.
    pub const NOWHERE: Self = Self(0);

    /// A fresh id (for a new driver).
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The bits of [`Completion::flags`] every backend reports the same way
/// (io_uring's `cqe.flags` layout, which the readiness backend copies).
pub mod flags {
    /// The completion names a provided buffer (in the upper 16 bits).
    pub const BUFFER: u32 = 1;
    /// More completions of the same (multishot) operation follow.
    pub const MORE: u32 = 2;
    /// Where the provided buffer's id starts.
    pub const BUFFER_SHIFT: u32 = 16;

    /// `true` if more completions of the same operation follow.
    pub const fn more(flags: u32) -> bool {
        flags & MORE != 0
    }

    /// The provided buffer a completion names, if any.
    pub const fn buffer(flags: u32) -> Option<u16> {
        if flags & BUFFER != 0 {
            Some((flags >> BUFFER_SHIFT) as u16)
        } else {
            None
        }
    }

    /// The flags of a completion that names buffer `bid`.
    pub const fn with_buffer(bid: u16) -> u32 {
        BUFFER | (bid as u32) << BUFFER_SHIFT
    }
}

/// Counters of what a driver did. Each backend fills the fields that
/// apply to it (the others stay 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// System calls to submit or wait: `io_uring_enter` (io_uring),
    /// `epoll_wait` (readiness).
    pub enters: u64,
    /// System calls that did an operation's work directly (readiness: each
    /// `recv`, `send`, `accept`, … attempt, including those that would
    /// have blocked; io_uring: 0, the kernel does them).
    pub calls: u64,
    /// Attempts that would have blocked (`EAGAIN`) and waited for
    /// readiness (readiness backend).
    pub would_block: u64,
    /// Operations handed to the backend (excluding the driver's own).
    pub submitted: u64,
    /// Completions delivered to the reactor.
    pub completions: u64,
    /// Wake-ups from other threads.
    pub wakeups: u64,
    /// File operations run on a thread pool instead of the loop's thread
    /// (readiness backend with a pool set; io_uring: 0).
    pub offloaded: u64,
}

/// The panic payload of a driver that cannot go on (its ring or poll
/// instance failed in a way no retry mends). A host that contains the
/// panics of user code lets this one through: it is the runtime's, not a
/// task's.
#[derive(Debug)]
pub struct DriverFailure(pub String);

impl DriverFailure {
    /// Reports `message` on stderr (the panic hook cannot print a payload
    /// that is not a string) and panics with it.
    pub fn raise(message: String) -> ! {
        eprintln!("kasync: {message}");
        std::panic::panic_any(DriverFailure(message))
    }
}

impl std::fmt::Display for DriverFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The error for a registered resource used with a driver that does not
/// own it.
pub fn foreign_resource() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a registered buffer, buffer ring or file was used with a runtime it is not \
         registered with: use it on the runtime (thread) that registered it",
    )
}

/// A completion's result as `io::Result`, with `-EXDEV` from a refused
/// bound operation explained (none of kasync's operations gets `EXDEV`
/// from the kernel).
pub fn result(completion: Completion) -> io::Result<u32> {
    match completion.into_result() {
        Ok(n) => Ok(n),
        Err(libc::EXDEV) => Err(foreign_resource()),
        Err(e) => Err(io::Error::from_raw_os_error(e)),
    }
}
