//! # kasync io_uring backend
//!
//! [`UringDriver`] implements the core's completion-driver contract
//! ([`kasync::io::Driver`]) over Linux io_uring; [`UringPlatform`] is the
//! executor side of its wake-ups. The operations (read, write, accept,
//! connect, send, recv, open, close, fsync, …) are `kasync_ops`'s: each
//! describes its system call as a [`Call`](kasync_ops::Call), which the
//! driver turns into a submission entry.
//!
//! Setting up checks what the kernel offers and turns every way io_uring
//! can be unavailable (seccomp, `kernel.io_uring_disabled`, an old kernel,
//! the memlock limit) into a [`SetupError`] that says what to do.

mod driver;
mod enter;
mod entry;
mod setup;

pub use driver::{UringDriver, UringPlatform};
pub use setup::{Config, Flags, SetupError, io_uring_disabled};

/// A ring set up the way [`UringDriver::new`] sets up its own: `config`'s
/// flags, each dropped if the kernel refuses it, and the flags that were
/// accepted — for code that drives io_uring itself next to kasync (the
/// benchmark suite's hand-written loop uses it for a like-for-like
/// ceiling).
pub fn ring(config: &Config) -> Result<(io_uring::IoUring, Flags), SetupError> {
    setup::build(config)
}

/// What this machine's io_uring offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The flags a ring gets with the probed [`Config`]: its setup flags,
    /// and whether its descriptor can be registered.
    pub flags: Flags,
    /// Each operation kasync needs, and whether the kernel has it.
    pub opcodes: Vec<(&'static str, bool)>,
}

/// Sets up a ring with `config` (then closes it) and reports what the
/// kernel offers, or why io_uring is unavailable.
pub fn probe(config: &Config) -> Result<ProbeReport, SetupError> {
    let (ring, flags) = setup::build(config)?;
    let mut ring_fd = enter::RingFd::new(&ring);
    let flags = Flags {
        registered_ring: ring_fd.is_registered(),
        ..flags
    };
    ring_fd.unregister();
    Ok(ProbeReport {
        flags,
        opcodes: setup::probe(&ring)?,
    })
}
