//! Creating a ring: flags with fallback, and errors that say what to do.

use std::fmt;
use std::io;

use io_uring::{IoUring, Probe, opcode};

use crate::enter::RingFd;
use crate::features::{Feature, Features};
use crate::trial;

/// How to set up the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Submission queue entries (a power of two; the completion queue gets
    /// twice as many).
    pub entries: u32,
    /// Try `IORING_SETUP_SINGLE_ISSUER` (only this thread submits).
    pub single_issuer: bool,
    /// Try `IORING_SETUP_DEFER_TASKRUN` (completion work runs when we
    /// wait, not on interrupts; needs `single_issuer`).
    pub defer_taskrun: bool,
    /// Try `IORING_SETUP_COOP_TASKRUN` (fewer inter-processor interrupts).
    pub coop_taskrun: bool,
    /// Try `IORING_SETUP_NO_SQARRAY` (the kernel takes submissions in
    /// ring order, without the index array: one memory load less per
    /// entry; Linux 6.6).
    pub no_sqarray: bool,
    /// Behave as if the kernel lacked these features: the driver refuses
    /// what such a kernel refuses and runs each fallback (see the
    /// [feature table](crate::features)). For testing the fallbacks on a
    /// new kernel; [`Config::from_env`] reads it from
    /// [`KASYNC_URING_WITHOUT`](crate::WITHOUT_VARIABLE).
    pub without: Features,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            entries: 256,
            single_issuer: true,
            defer_taskrun: true,
            coop_taskrun: true,
            no_sqarray: true,
            without: Features::NONE,
        }
    }
}

impl Config {
    /// The default settings, without the features that
    /// [`KASYNC_URING_WITHOUT`](crate::WITHOUT_VARIABLE) names (a
    /// [`SetupError::BadConfig`] that lists the names if its value is not
    /// understood).
    ///
    /// ```
    /// let config = kasync_uring::Config::from_env()?;
    /// println!("pretending to lack: {}", config.without);
    /// # Ok::<(), kasync_uring::SetupError>(())
    /// ```
    pub fn from_env() -> Result<Config, SetupError> {
        Ok(Config {
            without: Features::from_env().map_err(SetupError::BadConfig)?,
            ..Config::default()
        })
    }
}

/// The setup flags the kernel accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `IORING_SETUP_SINGLE_ISSUER`.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN`.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_COOP_TASKRUN`.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_NO_SQARRAY`.
    pub no_sqarray: bool,
    /// The ring's descriptor is registered with itself
    /// (`IORING_REGISTER_RING_FDS`, Linux 5.18): enters skip the descriptor
    /// lookup. Not a setup flag: the driver registers after setup.
    pub registered_ring: bool,
    /// `IORING_FEAT_EXT_ARG`: waits take a timeout directly.
    pub ext_arg: bool,
    /// `IORING_FEAT_NODROP`: completions are never dropped on overflow.
    pub nodrop: bool,
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.single_issuer, "SINGLE_ISSUER"),
            (self.defer_taskrun, "DEFER_TASKRUN"),
            (self.coop_taskrun, "COOP_TASKRUN"),
            (self.no_sqarray, "NO_SQARRAY"),
            (self.registered_ring, "REGISTERED_RING"),
            (self.ext_arg, "EXT_ARG"),
            (self.nodrop, "NODROP"),
        ];
        let mut first = true;
        for (on, name) in names {
            if on {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

/// Why io_uring cannot be used here.
#[derive(Debug)]
pub enum SetupError {
    /// `io_uring_setup` failed; the message explains the likely cause.
    Unavailable {
        /// The system error.
        error: io::Error,
        /// What happened and what to do about it.
        advice: &'static str,
    },
    /// The kernel lacks an operation kasync needs (it is older than
    /// Linux 5.10).
    MissingOpcode(&'static str),
    /// The kernel lacks a ring feature kasync needs (it is older than
    /// Linux 5.10).
    MissingFeature(&'static str),
    /// [`Config::without`] names [`Feature::Base`]: the ring behaves as a
    /// kernel older than kasync's minimum would.
    PretendedTooOld,
    /// Creating the wake-up eventfd failed.
    EventFd(io::Error),
    /// The [`Config`] asks for something no kernel accepts.
    BadConfig(String),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Unavailable { error, advice } => {
                write!(f, "io_uring is not available: {error}. {advice}")
            }
            SetupError::MissingOpcode(name) => write!(
                f,
                "this kernel's io_uring lacks the {name} operation; kasync's io_uring backend needs Linux 5.10 or newer"
            ),
            SetupError::MissingFeature(name) => write!(
                f,
                "this kernel's io_uring lacks the {name} feature; kasync's io_uring backend needs Linux 5.10 or newer"
            ),
            SetupError::PretendedTooOld => write!(
                f,
                "io_uring is set to behave like a kernel older than Linux 5.10, which kasync's io_uring backend does not run on: the features to pretend missing (Config::without, Builder::io_uring_without or {}) include `base`. Leave `base` out, or use the readiness backend (KASYNC_BACKEND=poll)",
                crate::WITHOUT_VARIABLE
            ),
            SetupError::EventFd(error) => write!(f, "cannot create an eventfd: {error}"),
            SetupError::BadConfig(what) => write!(f, "bad io_uring settings: {what}"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Unavailable { error, .. } | SetupError::EventFd(error) => Some(error),
            SetupError::MissingOpcode(_)
            | SetupError::MissingFeature(_)
            | SetupError::PretendedTooOld
            | SetupError::BadConfig(_) => None,
        }
    }
}

/// What `/proc/sys/kernel/io_uring_disabled` says (0 when absent).
pub fn io_uring_disabled() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn advice(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::ENOSYS) => {
            "The kernel has no io_uring (too old, or built without CONFIG_IO_URING): use Linux 5.10 or newer."
        }
        Some(libc::EPERM) if io_uring_disabled() != 0 => {
            "The sysctl kernel.io_uring_disabled forbids it: set it to 0 (or 1 and join the io_uring group)."
        }
        Some(libc::EPERM) => {
            "A seccomp filter (container runtime, sandbox) blocks io_uring_setup: allow the io_uring syscalls or run outside the sandbox."
        }
        Some(libc::ENOMEM) => {
            "Not enough locked memory for the ring: raise RLIMIT_MEMLOCK (ulimit -l) or use fewer entries."
        }
        Some(libc::EINVAL) => "The kernel rejected the ring parameters: try fewer entries.",
        _ => "Check that the kernel supports io_uring and that nothing blocks it.",
    }
}

/// The operations of [`Feature::Base`]: every ring needs them.
pub(crate) const BASE: [(u8, &str); 18] = [
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::Readv::CODE, "READV"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::Timeout::CODE, "TIMEOUT"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
];

/// Creates a ring with the most helpful flags the kernel accepts.
pub(crate) fn build(config: &Config) -> Result<(IoUring, Flags), SetupError> {
    if !(1..=MAX_ENTRIES).contains(&config.entries) {
        return Err(SetupError::BadConfig(format!(
            "the ring needs 1 to {MAX_ENTRIES} submission entries, not {}",
            config.entries
        )));
    }
    // Newest flag first: an older kernel drops `NO_SQARRAY` (6.6) before
    // `DEFER_TASKRUN` (6.1), `SINGLE_ISSUER` (6.0) and `COOP_TASKRUN` (5.19).
    // A feature the config pretends is missing is never asked for.
    let allowed = |feature| !config.without.contains(feature);
    let no_sqarray = config.no_sqarray && allowed(Feature::NoSqarray);
    let single = config.single_issuer && allowed(Feature::SingleIssuer);
    let defer = single && config.defer_taskrun && allowed(Feature::DeferTaskrun);
    let coop = config.coop_taskrun && allowed(Feature::CoopTaskrun);
    let attempts = [
        (single, defer, coop, no_sqarray),
        (single, defer, coop, false),
        (single, false, coop, false),
        (false, false, coop, false),
        (false, false, false, false),
    ];
    let mut last = None;
    for (single, defer, coop, no_array) in attempts {
        let mut builder = IoUring::builder();
        if no_array {
            builder.setup_no_sqarray();
        }
        if single {
            builder.setup_single_issuer();
        }
        if defer {
            builder.setup_defer_taskrun();
        }
        if coop {
            builder.setup_coop_taskrun();
        }
        if coop || defer {
            // Lets a flush see pending task work (IORING_SQ_TASKRUN).
            builder.setup_taskrun_flag();
        }
        match builder.build(config.entries) {
            Ok(ring) => {
                let flags = Flags {
                    single_issuer: single,
                    defer_taskrun: defer,
                    coop_taskrun: coop,
                    no_sqarray: no_array,
                    registered_ring: false,
                    ext_arg: ring.params().is_feature_ext_arg() && allowed(Feature::ExtArg),
                    nodrop: ring.params().is_feature_nodrop(),
                };
                return Ok((ring, flags));
            }
            // Flags the kernel does not know: try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(error) => {
                let advice = advice(&error);
                return Err(SetupError::Unavailable { error, advice });
            }
        }
    }
    let error = last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL));
    let advice = advice(&error);
    Err(SetupError::Unavailable { error, advice })
}

/// Most submission entries a ring may have (the kernel's
/// `IORING_MAX_ENTRIES`).
const MAX_ENTRIES: u32 = 32_768;

/// A ring set up with `config`, what its kernel offers, and how enters
/// name it.
pub(crate) struct Opened {
    pub(crate) ring: IoUring,
    pub(crate) ring_fd: RingFd,
    pub(crate) flags: Flags,
    /// What the ring may use: what the kernel has, less `config.without`.
    pub(crate) features: Features,
    /// Setup flags the config did not ask for (so not known either way).
    pub(crate) unasked: Features,
    /// Each operation of [`Feature::Base`], and whether the kernel has it.
    pub(crate) opcodes: Vec<(&'static str, bool)>,
}

/// Sets up a ring, probes its operations, registers its descriptor (unless
/// pretended missing) and works out its [`Features`]. Does not refuse a
/// kernel below the minimum: [`Opened::require_base`] does.
pub(crate) fn open(config: &Config) -> Result<Opened, SetupError> {
    let (ring, flags) = build(config)?;
    let mut probe = Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        // Kernels before 5.6 cannot probe; they also lack what we need.
        return Err(SetupError::MissingOpcode("PROBE (register_probe)"));
    }
    let opcodes: Vec<_> = BASE
        .iter()
        .map(|&(code, name)| (name, probe.is_supported(code)))
        .collect();
    let ring_fd = if config.without.contains(Feature::RegisteredRing) {
        RingFd::plain(&ring)
    } else {
        RingFd::new(&ring)
    };
    let flags = Flags {
        registered_ring: ring_fd.is_registered(),
        ..flags
    };
    let base = opcodes.iter().all(|(_, ok)| *ok) && flags.nodrop;
    let has = [
        (Feature::Base, base),
        (Feature::ExtArg, flags.ext_arg),
        (
            Feature::Shutdown,
            probe.is_supported(opcode::Shutdown::CODE),
        ),
        (Feature::RegisteredRing, flags.registered_ring),
        (Feature::CoopTaskrun, flags.coop_taskrun),
        (Feature::SingleIssuer, flags.single_issuer),
        (Feature::DeferTaskrun, flags.defer_taskrun),
        (Feature::NoSqarray, flags.no_sqarray),
    ];
    let features = has
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(feature, _)| feature)
        .collect::<Features>()
        .or(trial::tried())
        .minus(config.without);
    let unasked = [
        (Feature::SingleIssuer, config.single_issuer),
        (
            Feature::DeferTaskrun,
            config.single_issuer && config.defer_taskrun,
        ),
        (Feature::CoopTaskrun, config.coop_taskrun),
        (Feature::NoSqarray, config.no_sqarray),
    ]
    .into_iter()
    .filter(|(_, asked)| !asked)
    .map(|(feature, _)| feature)
    .collect::<Features>()
    .minus(config.without);
    Ok(Opened {
        ring,
        ring_fd,
        flags,
        features,
        unasked,
        opcodes,
    })
}

impl Opened {
    /// Refuses a kernel (real or pretended) below kasync's minimum, naming
    /// what it lacks.
    pub(crate) fn require_base(&self, config: &Config) -> Result<(), SetupError> {
        if let Some((name, _)) = self.opcodes.iter().find(|(_, ok)| !ok) {
            return Err(SetupError::MissingOpcode(name));
        }
        if !self.flags.nodrop {
            // Without it a full completion queue drops completions, and an
            // operation whose completion is lost would never be released.
            return Err(SetupError::MissingFeature("NODROP"));
        }
        if config.without.contains(Feature::Base) {
            return Err(SetupError::PretendedTooOld);
        }
        Ok(())
    }
}
