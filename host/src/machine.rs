//! What the `host` command reports about the machine it runs on.

use std::fmt;

#[cfg(target_os = "linux")]
use kasync_uring::{Config, Features, ProbeReport, SetupError, io_uring_disabled, probe};

use crate::{BACKEND_VARIABLE, Backend};

/// Facts about this machine that matter to kasync.
#[derive(Debug)]
pub struct Machine {
    /// Kernel release (`/proc/sys/kernel/osrelease`), if readable.
    pub kernel: Option<String>,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `kernel.io_uring_disabled` (0: allowed). Linux only.
    #[cfg(target_os = "linux")]
    pub io_uring_disabled: u8,
    /// What io_uring offers, or why it cannot be used. Linux only.
    #[cfg(target_os = "linux")]
    pub io_uring: Result<ProbeReport, SetupError>,
    /// What `KASYNC_BACKEND` asks for (`None`: not set), or why its value
    /// is not understood.
    pub requested: Result<Option<Backend>, crate::SetupError>,
}

impl Machine {
    /// Reads `/proc`, probes io_uring with the default settings (less the
    /// features `KASYNC_URING_WITHOUT` pretends are missing), and reads
    /// `KASYNC_BACKEND`.
    ///
    /// ```
    /// let machine = kasync_host::machine::Machine::detect();
    /// println!("{} CPUs; io_uring usable: {}", machine.cpus, machine.io_uring_usable());
    /// let (backend, why) = machine.backend();
    /// println!("a runtime would use {backend} ({why})");
    /// ```
    pub fn detect() -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            kernel,
            cpus,
            #[cfg(target_os = "linux")]
            io_uring_disabled: io_uring_disabled(),
            #[cfg(target_os = "linux")]
            io_uring: Config::from_env().and_then(|config| probe(&config)),
            requested: Backend::from_env(),
        }
    }

    /// `true` if io_uring works here with every operation kasync needs
    /// (Linux 5.10's; newer features have fallbacks).
    pub fn io_uring_usable(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.io_uring.as_ref().is_ok_and(ProbeReport::usable);
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Why io_uring is not used here by default.
    fn why_not_io_uring(&self) -> String {
        #[cfg(target_os = "linux")]
        return match &self.io_uring {
            Err(e) => format!("io_uring is unavailable: {e}"),
            Ok(r) if r.pretended.contains(kasync_uring::Feature::Base) => format!(
                "{} pretends io_uring is older than Linux 5.10",
                kasync_uring::WITHOUT_VARIABLE
            ),
            Ok(_) => "this kernel's io_uring is older than Linux 5.10, kasync's minimum".into(),
        };
        #[cfg(not(target_os = "linux"))]
        "io_uring is Linux-only".into()
    }

    /// The backend a default runtime runs on here, and why.
    pub fn backend(&self) -> (Backend, String) {
        match &self.requested {
            Ok(Some(Backend::Poll)) => (Backend::Poll, format!("{BACKEND_VARIABLE}=poll")),
            Ok(Some(Backend::Uring)) => (Backend::Uring, format!("{BACKEND_VARIABLE}=uring")),
            _ if self.io_uring_usable() => (Backend::Uring, "io_uring works here".into()),
            _ => (Backend::Poll, self.why_not_io_uring()),
        }
    }

    /// The io_uring lines of the report.
    #[cfg(target_os = "linux")]
    fn fmt_io_uring(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sysctl:       kernel.io_uring_disabled = {}",
            self.io_uring_disabled
        )?;
        match &self.io_uring {
            Ok(report) => {
                writeln!(f, "io_uring:     available")?;
                writeln!(f, "ring flags:   {}", report.flags)?;
                let missing: Vec<_> = report
                    .opcodes
                    .iter()
                    .filter(|(_, ok)| !ok)
                    .map(|(n, _)| *n)
                    .collect();
                if missing.is_empty() {
                    writeln!(
                        f,
                        "operations:   all {} kasync needs are present (Linux 5.10's)",
                        report.opcodes.len()
                    )?;
                } else {
                    writeln!(
                        f,
                        "operations:   MISSING {} (kasync needs Linux 5.10 or newer)",
                        missing.join(", ")
                    )?;
                }
                if !report.pretended.is_empty() {
                    writeln!(
                        f,
                        "pretending:   {}={} (behaving as if the kernel lacked these)",
                        kasync_uring::WITHOUT_VARIABLE,
                        report.pretended
                    )?;
                }
                let lacks: Vec<_> = report.lacks().collect();
                if lacks.is_empty() {
                    return writeln!(f, "features:     all {} kasync uses", Features::ALL.len());
                }
                writeln!(
                    f,
                    "features:     {} of {}; lacks {}:",
                    report.features.len(),
                    Features::ALL.len(),
                    lacks.len()
                )?;
                for feature in lacks {
                    let (major, minor) = feature.since();
                    writeln!(
                        f,
                        "  {:<17} (Linux {major}.{minor}) -> {}",
                        feature.name(),
                        feature.fallback()
                    )?;
                }
                Ok(())
            }
            Err(e @ SetupError::BadConfig(_)) => writeln!(f, "io_uring:     not tried — {e}"),
            Err(e) => writeln!(f, "io_uring:     UNAVAILABLE — {e}"),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kernel:       {}",
            self.kernel
                .as_deref()
                .unwrap_or("unknown (no /proc/sys/kernel/osrelease)")
        )?;
        writeln!(f, "cpus:         {}", self.cpus)?;
        #[cfg(target_os = "linux")]
        self.fmt_io_uring(f)?;
        #[cfg(target_os = "linux")]
        if let Err(e @ SetupError::BadConfig(_)) = &self.io_uring {
            return write!(f, "backend:      none — {e}");
        }
        if matches!(self.requested, Ok(Some(Backend::Uring))) && !self.io_uring_usable() {
            return write!(
                f,
                "backend:      none — {BACKEND_VARIABLE}=uring, but {}",
                self.why_not_io_uring()
            );
        }
        match &self.requested {
            Err(e) => write!(f, "backend:      none — {e}"),
            Ok(_) => {
                let (backend, why) = self.backend();
                write!(
                    f,
                    "backend:      {} ({why})",
                    crate::io_tour::backend_name(backend)
                )
            }
        }
    }
}
