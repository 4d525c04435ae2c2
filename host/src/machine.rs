//! What the `host` command reports about the machine it runs on.

use std::fmt;

/// Facts about this machine that matter to an async runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Kernel release (`uname -r`), if readable.
    pub kernel: Option<String>,
    /// CPUs this process may run on.
    pub cpus: usize,
}

impl Machine {
    /// Reads the facts from `/proc` and the standard library.
    pub fn detect() -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { kernel, cpus }
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
        write!(f, "cpus:         {}", self.cpus)
    }
}
