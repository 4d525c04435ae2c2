//! CPU affinity: the echo benchmark pins server and client apart, and the
//! in-process benchmarks run pinned to one CPU so the scheduler moving the
//! thread does not add to the spread (every contender runs the same way).

use std::io;

/// How many CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the calling thread (or, before `exec`, the child) to `cpu`.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: `set` is zero-initialised and only passed to the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set_affinity(&set)
    }
}

/// # Safety
/// `set` is a valid CPU set.
unsafe fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: forwarded from the caller; pid 0 is the calling thread.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Keeps the calling thread on one CPU until dropped, then restores the
/// CPUs it had.
pub struct Pinned {
    previous: libc::cpu_set_t,
}

impl Pinned {
    /// Pins the calling thread to its highest-numbered allowed CPU (the
    /// echo benchmark's client CPU; CPU 0 takes most interrupts). `None`
    /// when the affinity cannot be read or set — the runs then go unpinned.
    pub fn to_last_cpu() -> Option<Self> {
        // SAFETY: `previous` is zero-initialised and filled by the kernel.
        let previous = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return None;
            }
            set
        };
        // SAFETY: reads the set the kernel filled.
        let last = (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &previous) })?;
        pin_to(last).ok()?;
        Some(Self { previous })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: the set was read from the kernel in `to_last_cpu`.
        if let Err(e) = unsafe { set_affinity(&self.previous) } {
            eprintln!("kasync-bench: could not restore the CPU affinity: {e}");
        }
    }
}

/// The resident set of process `pid` (a number, or `self`), in KiB: the
/// `VmRSS` line of its `/proc` status; 0 if it cannot be read.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
