//! Multishot operations: one submission, a completion per connection
//! ([`AcceptMulti`]) or per received message ([`RecvMulti`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use kasync::io::{Completion, Driver, Multishot, Operation};

use super::{close_orphan, result};
use crate::bufring::{BufRing, RecvBuf};
use crate::{Call, flags};

/// Accepts connections on a listening socket continuously (multishot): one
/// completion per connection, until cancelled or an error. Submit it with
/// `submit_multishot`. Connections arriving faster than the stream takes
/// them wait in a backlog (never dropped); descriptors nobody will take
/// are closed.
#[derive(Debug)]
pub struct AcceptMulti {
    fd: RawFd,
    backlog: RefCell<VecDeque<OwnedFd>>,
}

impl AcceptMulti {
    /// Accepts on listening socket `fd`.
    pub fn new(fd: RawFd) -> Self {
        Self {
            fd,
            backlog: RefCell::new(VecDeque::new()),
        }
    }
}

// SAFETY: describes no memory (no peer address is asked for); multishot.
unsafe impl<D: Driver<Op = Call>> Operation<D> for AcceptMulti {
    type Output = io::Result<OwnedFd>;
    const MULTISHOT: bool = true;
    fn build(&mut self) -> Call {
        Call::AcceptMulti { fd: self.fd }
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    fn release(&self, c: Completion) {
        close_orphan(c);
    }
    fn overflow(&self, c: Completion) {
        if let Ok(fd) = c.into_result() {
            // SAFETY: the kernel created `fd` for us.
            self.backlog
                .borrow_mut()
                .push_back(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
    }
    fn orphaned(self, c: Completion, _driver: &D) {
        close_orphan(c); // the backlog closes with `self`
    }
}

// SAFETY: `item` and `take_overflow` touch only the completion and the
// backlog, no memory the kernel writes.
unsafe impl<D: Driver<Op = Call>> Multishot<D> for AcceptMulti {
    type Item = io::Result<OwnedFd>;
    fn item(&self, c: Completion) -> Self::Item {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    fn take_overflow(&self) -> Option<Self::Item> {
        self.backlog.borrow_mut().pop_front().map(Ok)
    }
}

/// Multishot receive: one submission, then a completion each time data
/// arrives, each in a buffer the backend takes from the driver's provided
/// buffers ([`BufRing`], made by the backend's `register_buf_ring`). Submit it with
/// [`Handle::submit_multishot`](kasync::io::Handle::submit_multishot); the
/// stream yields [`RecvBuf`]s, in order, `Ok(None)` when the peer closed,
/// and ends when the kernel ends the receive (after an error such as
/// `ENOBUFS` — every buffer held — or on its own: submit a new one then).
///
/// **A reader that falls behind** does not drain the shared buffers: one
/// completion may wait for it in the op table ([`MAX_PENDING`] is 1);
/// when the next arrives, the receive is paused (cancelled) and what the
/// kernel delivered meanwhile is copied out of the shared buffers (which
/// go back to the ring at once) and handed out, in order, before the
/// stream ends. The unread data waits in the socket (TCP flow control
/// holds the peer back) until a new receive is submitted.
///
/// [`MAX_PENDING`]: kasync::io::Operation::MAX_PENDING
#[derive(Debug)]
pub struct RecvMulti {
    fd: RawFd,
    ring: &'static BufRing,
    /// What arrived while the stream was behind, copied out of the ring.
    backlog: RefCell<VecDeque<io::Result<Option<RecvBuf>>>>,
}

impl RecvMulti {
    /// Receives on connected socket `fd` into buffers from `ring`; on a
    /// driver that did not register `ring`, the receive is refused.
    pub fn new(fd: RawFd, ring: &'static BufRing) -> Self {
        Self {
            fd,
            ring,
            backlog: RefCell::new(VecDeque::new()),
        }
    }

    /// The buffer a completion names, if any, as a `RecvBuf`.
    fn buffer(&self, c: Completion) -> Option<RecvBuf> {
        let bid = flags::buffer(c.flags)?;
        Some(RecvBuf::shared(self.ring, bid, c.result.max(0) as usize))
    }
}

// SAFETY: describes no memory: the kernel writes into the provided buffers
// of `self.ring` (bound to its ring), which `RecvBuf`s hand out only after
// their completion; `release`/`overflow`/`item` touch only those; multishot.
unsafe impl<D: Driver<Op = Call>> Operation<D> for RecvMulti {
    type Output = io::Result<Option<RecvBuf>>;
    const MULTISHOT: bool = true;
    const MAX_PENDING: usize = 1;
    fn build(&mut self) -> Call {
        Call::RecvMulti {
            fd: self.fd,
            ring: self.ring,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        received(self.buffer(c), c)
    }
    fn release(&self, c: Completion) {
        drop(self.buffer(c));
    }
    fn overflow(&self, c: Completion) {
        let item = received(self.buffer(c).map(RecvBuf::detach), c);
        self.backlog.borrow_mut().push_back(item);
    }
    fn orphaned(self, c: Completion, _driver: &D) {
        drop(self.buffer(c)); // the backlog goes with `self`
    }
}

// SAFETY: `item` and `take_overflow` hand out provided buffers whose
// completion arrived (the kernel is done with them), or owned copies.
unsafe impl<D: Driver<Op = Call>> Multishot<D> for RecvMulti {
    type Item = io::Result<Option<RecvBuf>>;
    fn item(&self, c: Completion) -> Self::Item {
        received(self.buffer(c), c)
    }
    fn take_overflow(&self) -> Option<Self::Item> {
        self.backlog.borrow_mut().pop_front()
    }
}

/// A multishot receive's completion as an item: the filled buffer,
/// `None` at end of stream, or the error.
fn received(buffer: Option<RecvBuf>, c: Completion) -> io::Result<Option<RecvBuf>> {
    match (result(c)?, buffer) {
        (0, _) => Ok(None),
        (_, Some(buffer)) => Ok(Some(buffer)),
        (_, None) => Err(io::Error::other(
            "a receive completed without naming its buffer",
        )),
    }
}
