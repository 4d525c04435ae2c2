//! Which backend a runtime runs on — io_uring, or readiness (epoll through
//! mio) where io_uring is unavailable — and the driver and platform types
//! that are one or the other.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use kasync::executor::{Idle, Platform};
use kasync::io::{Completion, Driver, OpId};
use kasync_ops::{BufRing, Call, DriverStats, FixedBufPool, FixedFd};
use kasync_poll::{PollDriver, PollPlatform};
#[cfg(target_os = "linux")]
pub(crate) use kasync_uring::Config;
#[cfg(target_os = "linux")]
use kasync_uring::{Feature, Flags, UringDriver, UringPlatform};

/// The io_uring features the host asks drivers about, named where there
/// is no io_uring.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy)]
enum Feature {
    MultishotAccept,
    BufferRings,
    MultishotRecv,
}

/// io_uring's settings, kept (and unused) where there is no io_uring.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Config {
    pub(crate) entries: u32,
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
}

/// The environment variable that picks a backend for every runtime made
/// with [`Backend::Auto`]: `uring`, `poll` or `auto`.
pub const BACKEND_VARIABLE: &str = "KASYNC_BACKEND";

/// Which backend a [`Runtime`](crate::Runtime) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring when this machine lets the program use it, else readiness
    /// (saying why on stderr, once per thread). The environment variable
    /// [`KASYNC_BACKEND`](BACKEND_VARIABLE) overrides it.
    #[default]
    Auto,
    /// io_uring only: setting up fails with the reason if it is
    /// unavailable (Linux).
    Uring,
    /// Readiness (epoll on Linux, kqueue elsewhere, through mio): every
    /// system call is made by the runtime's thread, waiting for readiness
    /// when it would block.
    Poll,
}

impl Backend {
    /// The backend [`KASYNC_BACKEND`](BACKEND_VARIABLE) names (`None` if it
    /// is not set), or a [`SetupError::BadConfig`] for anything else.
    ///
    /// ```
    /// use kasync_host::Backend;
    ///
    /// match Backend::from_env() {
    ///     Ok(Some(backend)) => println!("KASYNC_BACKEND asks for {backend}"),
    ///     Ok(None) => println!("KASYNC_BACKEND is not set"),
    ///     Err(e) => println!("{e}"), // says what it takes
    /// }
    /// assert_eq!("poll".parse::<Backend>().unwrap(), Backend::Poll);
    /// assert!("epoll2".parse::<Backend>().is_err());
    /// ```
    pub fn from_env() -> Result<Option<Backend>, SetupError> {
        match std::env::var(BACKEND_VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Ok(value) => value.parse().map(Some),
            Err(std::env::VarError::NotUnicode(value)) => Err(SetupError::BadConfig(format!(
                "{BACKEND_VARIABLE} is {value:?}; use uring, poll or auto"
            ))),
        }
    }

    /// Its name (`auto`, `uring`, `poll`).
    ///
    /// ```
    /// assert_eq!(kasync_host::Backend::Poll.name(), "poll");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Uring => "uring",
            Backend::Poll => "poll",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = SetupError;

    /// `auto`, `uring` (also `io_uring`) or `poll` (also `epoll`), in any
    /// case.
    fn from_str(s: &str) -> Result<Self, SetupError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Backend::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            "poll" | "epoll" | "mio" => Ok(Backend::Poll),
            _ => Err(SetupError::BadConfig(format!(
                "unknown backend {s:?}; use uring, poll or auto (in {BACKEND_VARIABLE} or Builder::backend)"
            ))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a [`Runtime`](crate::Runtime) could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// io_uring was asked for ([`Backend::Uring`]) and cannot be used; the
    /// error says why and what to do.
    #[cfg(target_os = "linux")]
    Uring(kasync_uring::SetupError),
    /// The readiness backend could not create its poll instance or waker.
    Poll(io::Error),
    /// A setting is out of range, or the backend's name is unknown.
    BadConfig(String),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(target_os = "linux")]
            SetupError::Uring(error) => error.fmt(f),
            SetupError::Poll(error) => write!(
                f,
                "cannot set up the readiness backend: {error}. Check the limit on open files (ulimit -n)"
            ),
            SetupError::BadConfig(what) => write!(f, "bad runtime settings: {what}"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(target_os = "linux")]
            SetupError::Uring(error) => Some(error),
            SetupError::Poll(error) => Some(error),
            SetupError::BadConfig(_) => None,
        }
    }
}

#[cfg(target_os = "linux")]
impl From<kasync_uring::SetupError> for SetupError {
    fn from(error: kasync_uring::SetupError) -> Self {
        SetupError::Uring(error)
    }
}

/// A runtime's driver: io_uring or readiness. Both run the same
/// operations ([`Call`]s) and report them the same way.
#[derive(Debug)]
pub enum HostDriver {
    /// io_uring.
    #[cfg(target_os = "linux")]
    Uring(UringDriver),
    /// Readiness.
    Poll(PollDriver),
}

/// Calls `$body` with the driver inside, whichever it is.
macro_rules! each {
    ($driver:expr, $d:ident => $body:expr) => {
        match $driver {
            #[cfg(target_os = "linux")]
            HostDriver::Uring($d) => $body,
            HostDriver::Poll($d) => $body,
        }
    };
}

impl HostDriver {
    /// The driver and the executor platform that wakes it: io_uring for
    /// [`Backend::Uring`], readiness for [`Backend::Poll`], and for
    /// [`Backend::Auto`] io_uring if it can be set up, else readiness (with
    /// the reason io_uring was not used).
    pub(crate) fn new(
        backend: Backend,
        config: &Config,
    ) -> Result<(Self, HostPlatform, Option<String>), SetupError> {
        #[cfg(not(target_os = "linux"))]
        let _ = config;
        #[cfg(target_os = "linux")]
        if backend != Backend::Poll {
            match UringDriver::new(config) {
                Ok(driver) => {
                    let platform = UringPlatform::new();
                    platform.set_eventfd(driver.eventfd());
                    return Ok((
                        HostDriver::Uring(driver),
                        HostPlatform::Uring(platform),
                        None,
                    ));
                }
                // A setting no kernel accepts is the caller's to fix.
                Err(error @ kasync_uring::SetupError::BadConfig(_)) => return Err(error.into()),
                Err(error) if backend == Backend::Uring => return Err(error.into()),
                Err(error) => {
                    let (driver, platform) = Self::poll()?;
                    return Ok((driver, platform, Some(error.to_string())));
                }
            }
        }
        let (driver, platform) = Self::poll()?;
        let why = (backend == Backend::Auto)
            .then(|| "io_uring is Linux-only".to_owned())
            .filter(|_| cfg!(not(target_os = "linux")));
        Ok((driver, platform, why))
    }

    fn poll() -> Result<(Self, HostPlatform), SetupError> {
        let mut driver = PollDriver::new().map_err(SetupError::Poll)?;
        // File work that would block the loop goes to the blocking pool.
        driver.offload_to(crate::blocking::offload);
        let platform = PollPlatform::new();
        platform.set_waker(driver.waker());
        Ok((HostDriver::Poll(driver), HostPlatform::Poll(platform)))
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(target_os = "linux")]
            HostDriver::Uring(_) => Backend::Uring,
            HostDriver::Poll(_) => Backend::Poll,
        }
    }

    /// The io_uring setup flags the kernel accepted (`None` on the
    /// readiness backend).
    #[cfg(target_os = "linux")]
    pub fn flags(&self) -> Option<Flags> {
        match self {
            HostDriver::Uring(d) => Some(d.flags()),
            HostDriver::Poll(_) => None,
        }
    }

    /// The io_uring features this driver uses (`None` on the readiness
    /// backend, which needs none).
    #[cfg(target_os = "linux")]
    pub fn features(&self) -> Option<kasync_uring::Features> {
        match self {
            HostDriver::Uring(d) => Some(d.features()),
            HostDriver::Poll(_) => None,
        }
    }

    /// `true` if this driver runs multishot accepts (the readiness backend
    /// always does; io_uring since Linux 5.19).
    pub fn multishot_accept(&self) -> bool {
        self.has(Feature::MultishotAccept)
    }

    /// `true` if this driver runs multishot receives into provided buffers
    /// (the readiness backend always does; io_uring since Linux 6.0).
    pub fn multishot_recv(&self) -> bool {
        self.has(Feature::BufferRings) && self.has(Feature::MultishotRecv)
    }

    fn has(&self, feature: Feature) -> bool {
        #[cfg(target_os = "linux")]
        return self.features().is_none_or(|f| f.contains(feature));
        #[cfg(not(target_os = "linux"))]
        {
            let _ = feature;
            true
        }
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        each!(self, d => d.stats())
    }

    /// Registered buffers, if any.
    pub fn fixed_buffers(&self) -> Option<&'static FixedBufPool> {
        each!(self, d => d.fixed_buffers())
    }

    /// Registers `count` buffers of `size` bytes (once per driver).
    pub fn register_buffers(&self, count: u16, size: usize) -> io::Result<&'static FixedBufPool> {
        each!(self, d => d.register_buffers(count, size))
    }

    /// The receive buffers of multishot receives, if any.
    pub fn buf_ring(&self) -> Option<&'static BufRing> {
        each!(self, d => d.buf_ring())
    }

    /// Registers receive buffers for multishot receives (once per driver).
    pub fn register_buf_ring(&self, count: u16, size: usize) -> io::Result<&'static BufRing> {
        each!(self, d => d.register_buf_ring(count, size))
    }

    /// Registers a descriptor (io_uring's file table; a plain descriptor on
    /// readiness).
    pub fn register_file(&self, fd: RawFd) -> io::Result<FixedFd> {
        each!(self, d => d.register_file(fd))
    }

    /// Ends a file registration.
    pub fn unregister_file(&self, fixed: FixedFd) -> io::Result<()> {
        each!(self, d => d.unregister_file(fixed))
    }
}

// SAFETY: each variant is a `Driver` whose operations are `Call`s; every
// method hands its arguments to the one driver inside and returns what it
// returns, so that driver's guarantees are this one's (`take_inline` of the
// io_uring one finishes nothing). Both report multishot completions with
// the same `MORE` flag, so `has_more` needs no driver.
unsafe impl Driver for HostDriver {
    type Op = Call;

    #[inline]
    fn push(&mut self, id: OpId, build: impl FnOnce() -> Call) -> bool {
        each!(self, d => d.push(id, build))
    }

    fn push_cancel(&mut self, id: OpId) -> bool {
        each!(self, d => d.push_cancel(id))
    }

    fn flush(&mut self) {
        each!(self, d => d.flush())
    }

    fn reap(&mut self, sink: impl FnMut(OpId, Completion)) {
        each!(self, d => d.reap(sink))
    }

    fn park(&mut self, timeout: Option<Duration>, idle: &Idle<'_>) {
        each!(self, d => d.park(timeout, idle))
    }

    fn has_more(completion: &Completion) -> bool {
        kasync_ops::flags::more(completion.flags)
    }

    const COMPLETES_INLINE: bool = true;

    #[inline]
    fn take_inline(&mut self, id: OpId) -> Option<Completion> {
        each!(self, d => d.take_inline(id))
    }
}

/// The executor side of a [`HostDriver`]'s wake-up.
#[derive(Debug)]
pub enum HostPlatform {
    /// Writes the io_uring driver's eventfd.
    #[cfg(target_os = "linux")]
    Uring(UringPlatform),
    /// Wakes mio's waker.
    Poll(PollPlatform),
}

impl Platform for HostPlatform {
    fn pend(&self) {
        match self {
            #[cfg(target_os = "linux")]
            HostPlatform::Uring(p) => p.pend(),
            HostPlatform::Poll(p) => p.pend(),
        }
    }

    fn park(&self, idle: &Idle<'_>) {
        match self {
            #[cfg(target_os = "linux")]
            HostPlatform::Uring(p) => p.park(idle),
            HostPlatform::Poll(p) => p.park(idle),
        }
    }
}
