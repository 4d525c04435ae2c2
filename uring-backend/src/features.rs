//! What kasync uses of io_uring beyond its minimum kernel, how each piece
//! is detected, and what runs without it.
//!
//! kasync needs **Linux 5.10** (the oldest long-term kernel that
//! distributions still ship: Debian 11, Amazon Linux 2): the operations of
//! [`Feature::Base`]. Everything newer is a [`Feature`] with a fallback, so
//! a ring on 5.10 runs the same programs with the same results, only with
//! more system calls or copies. Below 5.10, or where io_uring is disabled,
//! the host runtime runs on its readiness backend instead and says why.
//!
//! | feature | Linux | detected by | without it |
//! |---|---|---|---|
//! | `base`: NOP, READ(V), WRITE(V), READ/WRITE_FIXED, FSYNC, SENDMSG, RECVMSG, TIMEOUT, ACCEPT, ASYNC_CANCEL, POLL_ADD, CONNECT, OPENAT, CLOSE, STATX, SEND, RECV; `IORING_FEAT_NODROP` | 5.10 | opcode probe (`IORING_REGISTER_PROBE`), the setup's feature bits | the readiness backend (epoll) |
//! | `ext-arg`: waits with a timeout (`IORING_FEAT_EXT_ARG`) | 5.11 | the setup's feature bits | a TIMEOUT entry submitted beside the wait |
//! | `shutdown`: IORING_OP_SHUTDOWN | 5.11 | opcode probe | `shutdown(2)` on the ring's thread (it never blocks), reported as the operation's completion |
//! | `registered-ring`: `IORING_REGISTER_RING_FDS` | 5.18 | trial: registering the ring with itself | enters name the plain descriptor |
//! | `coop-taskrun`: `IORING_SETUP_COOP_TASKRUN` | 5.19 | trial: set-up refused with `EINVAL`, tried again without | completion work interrupts the thread |
//! | `sparse-files`: `IORING_RSRC_REGISTER_SPARSE` | 5.19 | trial at start-up | the file table is registered filled with `-1` |
//! | `multishot-accept`: `IORING_ACCEPT_MULTISHOT` | 5.19 | trial at start-up: a multishot accept on a listening Unix socket | one ACCEPT at a time, the next submitted after each connection |
//! | `buffer-rings`: `IORING_REGISTER_PBUF_RING` | 5.19 | trial at start-up | receives into buffers of their own (see `multishot-recv`) |
//! | `single-issuer`: `IORING_SETUP_SINGLE_ISSUER` | 6.0 | trial set-up | the kernel's shared-submitter locking |
//! | `multishot-recv`: `IORING_RECV_MULTISHOT` | 6.0 | trial at start-up: a multishot receive on a socket pair | one RECV at a time into a buffer the stream owns |
//! | `defer-taskrun`: `IORING_SETUP_DEFER_TASKRUN` | 6.1 | trial set-up | completion work runs when the kernel chooses |
//! | `no-sqarray`: `IORING_SETUP_NO_SQARRAY` | 6.6 | trial set-up | the submission index array |
//!
//! Not used, so not detected: `SEND_ZC`, `IORING_RECVSEND_POLL_FIRST`,
//! `SQPOLL`, `IOPOLL`, registered eventfds.
//!
//! No feature is inferred from another one's probe: multishot accept and
//! receive reuse the ACCEPT and RECV opcodes, which the probe reports
//! since 5.5/5.6, so they are tried for real once per process (a small
//! ring of its own, a Unix socket and a socket pair, well under a
//! millisecond) and the kernel's answers are kept; a trial that could not
//! be made (no descriptor to spare) is made again for the next ring.
//! [`try_now`] asks again, uncached.
//!
//! # Pretending to be an older kernel
//!
//! [`Config::without`](crate::Config::without) (or the environment
//! variable [`KASYNC_URING_WITHOUT`](WITHOUT_VARIABLE)) makes a ring
//! behave as if named features were missing — the driver refuses what the
//! kernel would refuse, with the kernel's error, and every fallback above
//! runs — so the fallbacks are tested on any machine:
//!
//! ```
//! use kasync_uring::{Feature, Features};
//!
//! let like_5_15: Features = "linux-5.15".parse().unwrap();
//! assert!(like_5_15.contains(Feature::MultishotAccept));
//! assert!(!like_5_15.contains(Feature::Shutdown)); // 5.11: present in 5.15
//! let two: Features = "multishot-accept, buffer-rings".parse().unwrap();
//! assert_eq!(two.len(), 2);
//! assert!("multishot-everything".parse::<Features>().is_err());
//! ```

use std::fmt;

/// The environment variable naming features a ring must behave as if the
/// kernel lacked: a comma-separated list of [`Feature`] names, `linux-X.Y`
/// for everything newer than Linux X.Y, or both (`linux-6.0,no-sqarray`).
/// Read by [`Config::from_env`](crate::Config::from_env).
pub const WITHOUT_VARIABLE: &str = "KASYNC_URING_WITHOUT";

/// One io_uring capability kasync uses, newer than the oldest kernel
/// io_uring had. See the [module table](self) for what each is and what
/// runs without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// The operations every kasync ring needs (Linux 5.10); without them
    /// the host runtime uses its readiness backend.
    Base,
    /// `IORING_FEAT_EXT_ARG` (5.11).
    ExtArg,
    /// `IORING_OP_SHUTDOWN` (5.11).
    Shutdown,
    /// `IORING_REGISTER_RING_FDS` (5.18).
    RegisteredRing,
    /// `IORING_SETUP_COOP_TASKRUN` (5.19).
    CoopTaskrun,
    /// `IORING_RSRC_REGISTER_SPARSE` (5.19).
    SparseFiles,
    /// `IORING_ACCEPT_MULTISHOT` (5.19).
    MultishotAccept,
    /// `IORING_REGISTER_PBUF_RING` (5.19).
    BufferRings,
    /// `IORING_SETUP_SINGLE_ISSUER` (6.0).
    SingleIssuer,
    /// `IORING_RECV_MULTISHOT` (6.0).
    MultishotRecv,
    /// `IORING_SETUP_DEFER_TASKRUN` (6.1).
    DeferTaskrun,
    /// `IORING_SETUP_NO_SQARRAY` (6.6).
    NoSqarray,
}

impl Feature {
    /// Every feature, oldest first.
    pub const ALL: [Feature; 12] = [
        Feature::Base,
        Feature::ExtArg,
        Feature::Shutdown,
        Feature::RegisteredRing,
        Feature::CoopTaskrun,
        Feature::SparseFiles,
        Feature::MultishotAccept,
        Feature::BufferRings,
        Feature::SingleIssuer,
        Feature::MultishotRecv,
        Feature::DeferTaskrun,
        Feature::NoSqarray,
    ];

    /// Its name in [`WITHOUT_VARIABLE`] and in reports.
    ///
    /// ```
    /// assert_eq!(kasync_uring::Feature::MultishotRecv.name(), "multishot-recv");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Base => "base",
            Feature::ExtArg => "ext-arg",
            Feature::Shutdown => "shutdown",
            Feature::RegisteredRing => "registered-ring",
            Feature::CoopTaskrun => "coop-taskrun",
            Feature::SparseFiles => "sparse-files",
            Feature::MultishotAccept => "multishot-accept",
            Feature::BufferRings => "buffer-rings",
            Feature::SingleIssuer => "single-issuer",
            Feature::MultishotRecv => "multishot-recv",
            Feature::DeferTaskrun => "defer-taskrun",
            Feature::NoSqarray => "no-sqarray",
        }
    }

    /// The Linux release that brought it, as (major, minor).
    pub const fn since(self) -> (u8, u8) {
        match self {
            Feature::Base => (5, 10),
            Feature::ExtArg | Feature::Shutdown => (5, 11),
            Feature::RegisteredRing => (5, 18),
            Feature::CoopTaskrun
            | Feature::SparseFiles
            | Feature::MultishotAccept
            | Feature::BufferRings => (5, 19),
            Feature::SingleIssuer | Feature::MultishotRecv => (6, 0),
            Feature::DeferTaskrun => (6, 1),
            Feature::NoSqarray => (6, 6),
        }
    }

    /// What kasync does on a kernel without it.
    pub const fn fallback(self) -> &'static str {
        match self {
            Feature::Base => "the readiness backend (epoll)",
            Feature::ExtArg => "a timeout entry beside each timed wait",
            Feature::Shutdown => "shutdown(2) on the ring's thread",
            Feature::RegisteredRing => "the plain ring descriptor",
            Feature::CoopTaskrun => "completion work may interrupt the thread",
            Feature::SparseFiles => "a file table registered filled with -1",
            Feature::MultishotAccept => "one accept at a time",
            Feature::BufferRings | Feature::MultishotRecv => {
                "receives one at a time into buffers of their own"
            }
            Feature::SingleIssuer => "the kernel's shared-submitter locking",
            Feature::DeferTaskrun => "completion work runs when the kernel chooses",
            Feature::NoSqarray => "the submission index array",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Feature`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Features(u16);

impl Features {
    /// No feature.
    pub const NONE: Features = Features(0);

    /// Every feature.
    pub const ALL: Features = {
        let mut bits = 0;
        let mut i = 0;
        while i < Feature::ALL.len() {
            bits |= Feature::ALL[i].bit();
            i += 1;
        }
        Features(bits)
    };

    /// The features Linux `major.minor` lacks (those that came after it).
    ///
    /// ```
    /// use kasync_uring::{Feature, Features};
    /// assert!(Features::newer_than(6, 1).contains(Feature::NoSqarray));
    /// assert!(!Features::newer_than(6, 1).contains(Feature::DeferTaskrun));
    /// assert!(Features::newer_than(5, 4).contains(Feature::Base));
    /// assert!(Features::newer_than(6, 6).is_empty());
    /// ```
    pub fn newer_than(major: u8, minor: u8) -> Features {
        Feature::ALL
            .into_iter()
            .filter(|f| f.since() > (major, minor))
            .collect()
    }

    /// The set as bits (one per [`Feature`], in [`Feature::ALL`]'s order).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// The set of `bits` (as [`bits`](Self::bits) gives them); bits that
    /// name no feature are dropped.
    pub const fn from_bits(bits: u16) -> Features {
        Features(bits & Features::ALL.0)
    }

    /// `true` if `feature` is in the set.
    pub const fn contains(self, feature: Feature) -> bool {
        self.0 & feature.bit() != 0
    }

    /// The set with `feature` added.
    #[must_use]
    pub const fn with(self, feature: Feature) -> Features {
        Features(self.0 | feature.bit())
    }

    /// The set with `feature` taken out.
    #[must_use]
    pub const fn without(self, feature: Feature) -> Features {
        Features(self.0 & !feature.bit())
    }

    /// The features in both sets.
    #[must_use]
    pub const fn and(self, other: Features) -> Features {
        Features(self.0 & other.0)
    }

    /// The features in either set.
    #[must_use]
    pub const fn or(self, other: Features) -> Features {
        Features(self.0 | other.0)
    }

    /// The features of `self` that are not in `other`.
    #[must_use]
    pub const fn minus(self, other: Features) -> Features {
        Features(self.0 & !other.0)
    }

    /// `true` for the empty set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many features the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The features in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The set [`WITHOUT_VARIABLE`] names (empty when it is not set), or
    /// what is wrong with its value.
    pub fn from_env() -> Result<Features, String> {
        match std::env::var(WITHOUT_VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(Features::NONE),
            Ok(value) => value
                .parse()
                .map_err(|e| format!("{WITHOUT_VARIABLE}={value:?}: {e}")),
            Err(std::env::VarError::NotUnicode(value)) => Err(format!(
                "{WITHOUT_VARIABLE} is {value:?}, which is not UTF-8; {}",
                ParseFeaturesError::HELP
            )),
        }
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(iter: I) -> Self {
        iter.into_iter().fold(Features::NONE, Features::with)
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Features {
    /// The names, comma-separated (`(none)` for the empty set).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        for (i, feature) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(feature.name())?;
        }
        Ok(())
    }
}

/// Why a list of features could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFeaturesError(String);

impl ParseFeaturesError {
    const HELP: &'static str = "use comma-separated feature names (base, ext-arg, shutdown, registered-ring, coop-taskrun, sparse-files, multishot-accept, buffer-rings, single-issuer, multishot-recv, defer-taskrun, no-sqarray) or linux-X.Y for everything newer than Linux X.Y";
}

impl fmt::Display for ParseFeaturesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.0, Self::HELP)
    }
}

impl std::error::Error for ParseFeaturesError {}

impl std::str::FromStr for Features {
    type Err = ParseFeaturesError;

    /// Comma-separated names (in any case, spaces allowed), `linux-X.Y`
    /// (also `X.Y`), `none` or the empty string.
    fn from_str(s: &str) -> Result<Features, ParseFeaturesError> {
        let mut set = Features::NONE;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let word = word.to_ascii_lowercase();
            if word == "none" {
                continue;
            }
            let version = word.strip_prefix("linux-").unwrap_or(&word);
            if version.starts_with(|c: char| c.is_ascii_digit()) {
                // `X.Y`, or a whole release as `uname -r` gives it
                // (`5.15.0-91-generic`): patch releases bring no io_uring
                // feature. Past 255 is as new as can be.
                let parsed = parse_version(version);
                let Some((major, minor)) = parsed else {
                    return Err(ParseFeaturesError(format!(
                        "{word:?} is not a Linux version like linux-5.15"
                    )));
                };
                set = set.or(Features::newer_than(major, minor));
                continue;
            }
            match Feature::ALL.into_iter().find(|f| f.name() == word) {
                Some(feature) => set = set.with(feature),
                None => {
                    return Err(ParseFeaturesError(format!(
                        "{word:?} is not an io_uring feature kasync knows"
                    )));
                }
            }
        }
        Ok(set)
    }
}

/// Tries now, on a small ring of their own, the features that only a trial
/// can detect (multishot accept and receive, buffer rings, sparse file
/// tables) and gives those the kernel has. Rings do this once per process
/// and keep the answers; this asks again, uncached — for a report, or to
/// check what a ring was given. A trial that cannot be made (no descriptor
/// or memory to spare) counts as absent.
///
/// ```
/// let found = kasync_uring::features::try_now();
/// println!("by trial: {found}");
/// ```
pub fn try_now() -> Features {
    crate::trial::try_all(crate::trial::TRIED).1
}

/// `MAJOR.MINOR`, then anything that does not continue the minor number
/// (`.3`, `-91-generic`); numbers past 255 count as 255.
fn parse_version(version: &str) -> Option<(u8, u8)> {
    let (major, rest) = version.split_once('.')?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (minor, _after) = rest.split_at(digits);
    let number = |part: &str| -> Option<u8> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(
            part.parse::<u64>()
                .map_or(u8::MAX, |n| u8::try_from(n).unwrap_or(u8::MAX)),
        )
    };
    Some((number(major)?, number(minor)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_like_the_table() {
        let since: Vec<_> = Feature::ALL.iter().map(|f| f.since()).collect();
        assert!(since.windows(2).all(|w| w[0] <= w[1]), "{since:?}");
        assert_eq!(Features::ALL.len(), Feature::ALL.len());
    }

    #[test]
    fn a_list_reads_back_as_written() {
        let set: Features = "multishot-accept,no-sqarray".parse().unwrap();
        assert_eq!(set.to_string(), "multishot-accept,no-sqarray");
        assert_eq!(set.to_string().parse::<Features>().unwrap(), set);
        assert_eq!("".parse::<Features>().unwrap(), Features::NONE);
        assert_eq!(" none ".parse::<Features>().unwrap(), Features::NONE);
    }

    #[test]
    fn linux_5_15_lacks_what_came_in_5_18_and_later() {
        let set: Features = "linux-5.15".parse().unwrap();
        let names: Vec<_> = set.iter().map(Feature::name).collect();
        assert_eq!(
            names,
            [
                "registered-ring",
                "coop-taskrun",
                "sparse-files",
                "multishot-accept",
                "buffer-rings",
                "single-issuer",
                "multishot-recv",
                "defer-taskrun",
                "no-sqarray"
            ]
        );
        assert_eq!("5.15".parse::<Features>().unwrap(), set);
        assert_eq!(
            "LINUX-5.10, Shutdown".parse::<Features>().unwrap(),
            Features::newer_than(5, 10)
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_names_that_work() {
        for bad in ["linux-5", "linux-x.y", "5.", "multishot", "base;ext-arg"] {
            let e = bad.parse::<Features>().unwrap_err().to_string();
            assert!(e.contains("multishot-accept"), "{bad}: {e}");
        }
    }
}
