//! What the `host` command reports about the machine it runs on.

use std::fmt;

use kasync_uring::{Config, ProbeReport, SetupError, io_uring_disabled, probe};

/// Facts about this machine that matter to kasync.
#[derive(Debug)]
pub struct Machine {
    /// Kernel release (`uname -r`), if readable.
    pub kernel: Option<String>,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `kernel.io_uring_disabled` (0: allowed).
    pub io_uring_disabled: u8,
    /// What io_uring offers, or why it cannot be used.
    pub io_uring: Result<ProbeReport, SetupError>,
}

impl Machine {
    /// Reads `/proc`, and probes io_uring with the default settings.
    pub fn detect() -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            kernel,
            cpus,
            io_uring_disabled: io_uring_disabled(),
            io_uring: probe(&Config::default()),
        }
    }

    /// `true` if kasync's runtime can run here.
    pub fn usable(&self) -> bool {
        self.io_uring
            .as_ref()
            .is_ok_and(|r| r.opcodes.iter().all(|(_, ok)| *ok))
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
                    write!(
                        f,
                        "operations:   all {} kasync uses are present",
                        report.opcodes.len()
                    )
                } else {
                    write!(f, "operations:   MISSING {}", missing.join(", "))
                }
            }
            Err(e) => write!(f, "io_uring:     UNAVAILABLE — {e}"),
        }
    }
}
