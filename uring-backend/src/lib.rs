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
//!
//! The backend runs on **Linux 5.10** and later; each io_uring feature
//! newer than that is detected the way the kernel really answers and has
//! a fallback — the [feature table](features) lists them all.

mod driver;
mod enter;
mod entry;
pub mod features;
mod setup;
mod trial;

pub use driver::{UringDriver, UringPlatform};
pub use features::{Feature, Features, WITHOUT_VARIABLE};
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
    /// Each operation every ring needs ([`Feature::Base`]), and whether
    /// the kernel has it.
    pub opcodes: Vec<(&'static str, bool)>,
    /// The features a ring with this config uses: what the kernel has,
    /// less [`Config::without`] and less setup flags the config did not
    /// ask for.
    pub features: Features,
    /// What the config pretends is missing ([`Config::without`]).
    pub pretended: Features,
    /// Setup flags the config did not ask for (the ring does not use
    /// them, whether or not the kernel has them).
    pub unasked: Features,
}

impl ProbeReport {
    /// The features this kernel (or the pretence) lacks, oldest first;
    /// [`Feature::fallback`] says what runs instead. Setup flags the config
    /// did not ask for are not counted.
    pub fn lacks(&self) -> impl Iterator<Item = Feature> {
        Features::ALL
            .minus(self.features)
            .minus(self.unasked)
            .iter()
    }

    /// `true` if a ring runs here: every [`Feature::Base`] operation is
    /// present and not pretended missing.
    pub fn usable(&self) -> bool {
        self.features.contains(Feature::Base)
    }
}

/// Sets up a ring with `config` (then closes it) and reports what the
/// kernel offers, or why io_uring is unavailable.
///
/// ```
/// match kasync_uring::probe(&kasync_uring::Config::default()) {
///     Ok(report) => {
///         for feature in report.lacks() {
///             println!("lacks {feature} (Linux {:?}): {}", feature.since(), feature.fallback());
///         }
///     }
///     Err(e) => println!("no io_uring: {e}"),
/// }
/// ```
pub fn probe(config: &Config) -> Result<ProbeReport, SetupError> {
    let mut opened = setup::open(config)?;
    opened.ring_fd.unregister();
    Ok(ProbeReport {
        flags: opened.flags,
        opcodes: opened.opcodes,
        features: opened.features,
        pretended: config.without,
        unasked: opened.unasked,
    })
}
