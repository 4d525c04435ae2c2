//! `io_uring_enter` through the ring's registered descriptor.
//!
//! Registering the ring's own file descriptor with itself (Linux 5.18)
//! lets each `io_uring_enter` name the ring by a small index, so the kernel
//! skips its file-table lookup and reference count (`fget`/`fput`) on
//! every call. The registration belongs to the thread that made it; on
//! another thread, or on an older kernel, the plain descriptor is used.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{EnterFlags, IoUring};

/// `IORING_REGISTER_RING_FDS` / `IORING_UNREGISTER_RING_FDS` (Linux 5.18).
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `struct io_uring_getevents_arg` (for `IORING_ENTER_EXT_ARG`).
#[repr(C)]
struct GetEventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// How `io_uring_enter` names the ring.
#[derive(Debug)]
pub(crate) struct RingFd {
    /// The ring's own descriptor.
    raw: RawFd,
    /// Its index among the registering thread's registered rings.
    registered: Option<u32>,
}

impl RingFd {
    /// Registers `ring`'s descriptor for this thread; without success (an
    /// old kernel, the per-thread limit of 16 registered rings) the plain
    /// descriptor is used.
    pub(crate) fn new(ring: &IoUring) -> Self {
        let raw = ring.as_raw_fd();
        let mut update = RsrcUpdate {
            offset: u32::MAX, // any free index
            resv: 0,
            data: raw as u64,
        };
        // SAFETY: `IORING_REGISTER_RING_FDS` reads and writes `nr_args` (1)
        // `io_uring_rsrc_update`s at the pointer, which is one live value.
        let registered = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                raw,
                REGISTER_RING_FDS,
                &raw mut update,
                1 as libc::c_uint,
            )
        };
        Self {
            raw,
            registered: (registered == 1).then_some(update.offset),
        }
    }

    /// The plain descriptor, never registered (a ring told to behave as if
    /// `IORING_REGISTER_RING_FDS` were missing).
    pub(crate) fn plain(ring: &IoUring) -> Self {
        Self {
            raw: ring.as_raw_fd(),
            registered: None,
        }
    }

    /// `true` if enters use the registered index.
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Submits `to_submit` entries and, with `getevents`, runs deferred
    /// completion work and waits until `want` completions are available or
    /// `timeout` (needs `IORING_FEAT_EXT_ARG`) passes.
    pub(crate) fn enter(
        &mut self,
        to_submit: u32,
        want: u32,
        getevents: bool,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let ts = timeout.map(|t| KernelTimespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let arg = ts.as_ref().map(|ts| GetEventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: (ts as *const KernelTimespec).addr() as u64,
        });
        let mut flags = EnterFlags::empty();
        if getevents {
            flags |= EnterFlags::GETEVENTS;
        }
        let (arg_ptr, arg_size) = match &arg {
            Some(arg) => {
                flags |= EnterFlags::EXT_ARG;
                (
                    (arg as *const GetEventsArg).cast::<libc::c_void>(),
                    size_of::<GetEventsArg>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        loop {
            let (fd, flags) = match self.registered {
                Some(index) => (index as RawFd, flags | EnterFlags::REGISTERED_RING),
                None => (self.raw, flags),
            };
            // SAFETY: plain system call; `arg_ptr` is null or points to a
            // live `io_uring_getevents_arg` of `arg_size` bytes whose `ts`
            // points to a live `__kernel_timespec` (`arg` and `ts` outlive
            // the call).
            let result = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_enter,
                    fd,
                    to_submit,
                    want,
                    flags.bits(),
                    arg_ptr,
                    arg_size,
                )
            };
            if result >= 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            // The registration belongs to another thread: use the plain
            // descriptor from now on.
            if self.registered.is_some() && error.raw_os_error() == Some(libc::EBADF) {
                self.registered = None;
                continue;
            }
            return Err(error);
        }
    }

    /// Gives the registration back (the ring's memory is released only
    /// once it is unregistered, so this runs before the ring is closed).
    /// On another thread than the registering one this fails harmlessly
    /// and the registration lasts until that thread exits.
    pub(crate) fn unregister(&mut self) {
        let Some(index) = self.registered.take() else {
            return;
        };
        let update = RsrcUpdate {
            offset: index,
            resv: 0,
            data: 0,
        };
        // SAFETY: `IORING_UNREGISTER_RING_FDS` reads one
        // `io_uring_rsrc_update` at the pointer, which is a live value.
        unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.raw,
                UNREGISTER_RING_FDS,
                &raw const update,
                1 as libc::c_uint,
            )
        };
    }
}
