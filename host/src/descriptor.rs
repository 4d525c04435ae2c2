//! The descriptors the runtime's sockets and files own.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// An owned descriptor that, when closed, first tells the readiness
/// backend (in any runtime, on any thread) that its number is about to be
/// free — so a new descriptor that gets the number is not taken for this
/// one (see [`kasync_poll::closing`]). io_uring keeps nothing by number.
#[derive(Debug)]
pub(crate) struct Descriptor(Option<OwnedFd>);

impl Descriptor {
    /// The descriptor, for code that closes it (a `Close` operation) or
    /// keeps it: the readiness backend forgets the number now.
    pub(crate) fn into_owned(mut self) -> OwnedFd {
        let fd = self.0.take().expect("a descriptor is owned until dropped");
        kasync_poll::closing(fd.as_raw_fd());
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
            kasync_poll::closing(fd.as_raw_fd());
            drop(fd);
        }
    }
}
