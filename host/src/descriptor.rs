//! The descriptors the runtime's sockets and files own.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// An owned descriptor that, when closed, first makes sure nothing still
/// queued names its number: it tells the readiness backend (in any
/// runtime, on any thread) that the number is about to be free (see
/// [`kasync_poll::closing`]), and has the current runtime hand its queued
/// submissions to io_uring — which resolves the number when it takes an
/// entry, so an entry still queued at the close (a send whose future was
/// just dropped, its cancel) would otherwise act on whatever descriptor
/// gets the number next.
#[derive(Debug)]
pub(crate) struct Descriptor(Option<OwnedFd>);

impl Descriptor {
    /// The descriptor, for code that closes it (a `Close` operation) or
    /// keeps it: the readiness backend forgets the number now.
    pub(crate) fn into_owned(mut self) -> OwnedFd {
        let fd = self.0.take().expect("a descriptor is owned until dropped");
        before_close(&fd);
        fd
    }
}

impl<T: Into<OwnedFd>> From<T> for Descriptor {
    fn from(fd: T) -> Self {
        Self(Some(fd.into()))
    }
}

impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl AsFd for Descriptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0
            .as_ref()
            .expect("a descriptor is owned until dropped")
            .as_fd()
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            before_close(&fd);
            drop(fd);
        }
    }
}

/// What must happen before `fd`'s number is given up (see [`Descriptor`]).
fn before_close(fd: &OwnedFd) {
    if let Some(io) = crate::runtime::try_io() {
        io.reactor().submit_queued();
    }
    kasync_poll::closing(fd.as_raw_fd());
}
