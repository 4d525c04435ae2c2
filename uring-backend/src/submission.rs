//! What an operation hands the io_uring driver: its submission entry, and
//! the ring it is bound to when it uses that ring's registered resources.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use io_uring::squeue;
use kasync::io::Completion;

/// The identity of one [`UringDriver`](crate::UringDriver)'s ring, unique
/// in the process. Registered buffers, buffer rings and files carry the id
/// of the ring they were registered with: indices into a ring's tables
/// mean nothing (or something else) to any other ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingId(u64);

impl RingId {
    /// No ring's id: an operation bound to it is refused by every ring.
    pub(crate) const NOWHERE: Self = Self(0);

    /// A fresh id.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An operation's description for the io_uring driver
/// ([`Operation::build`](kasync::io::Operation::build)'s result).
///
/// Made from a plain submission entry (`entry.into()`), or
/// [`bound`](Self::bound) to the ring whose registered buffers or files
/// it names: the driver refuses a bound operation of another ring — it
/// completes with `-EXDEV` without reaching the kernel — instead of letting
/// the kernel read whatever that ring registered at the same index.
#[derive(Debug, Clone)]
pub struct UringOp {
    pub(crate) entry: squeue::Entry,
    pub(crate) ring: Option<RingId>,
}

impl UringOp {
    /// `entry`, which uses registered resources of `ring`.
    pub fn bound(entry: squeue::Entry, ring: RingId) -> Self {
        Self {
            entry,
            ring: Some(ring),
        }
    }
}

impl From<squeue::Entry> for UringOp {
    fn from(entry: squeue::Entry) -> Self {
        Self { entry, ring: None }
    }
}

/// The error for a registered resource used with a ring that does not own
/// it.
pub(crate) fn foreign_resource() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a registered buffer, buffer ring or file was used with an io_uring it is not \
         registered with: use it on the runtime (thread) that registered it",
    )
}

/// A completion's result as `io::Result`, with `-EXDEV` from a refused
/// bound operation explained.
pub(crate) fn bound_result(completion: Completion) -> io::Result<u32> {
    match completion.into_result() {
        Ok(n) => Ok(n),
        Err(libc::EXDEV) => Err(foreign_resource()),
        Err(e) => Err(io::Error::from_raw_os_error(e)),
    }
}
