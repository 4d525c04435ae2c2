//! The io_uring driver: kasync's completion-driver contract over one ring.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use io_uring::types::Timespec;
use io_uring::{IoUring, opcode, squeue, types};
use kasync::executor::{Idle, Platform};
use kasync::io::{Completion, Driver, OpId};

use kasync_ops::{
    BufRing, Call, DriverFailure, DriverId, DriverStats, FixedBufPool, FixedFd, GROUP,
    already_registered, foreign_resource,
};

use crate::enter::RingFd;
use crate::entry::entry;
use crate::features::{Feature, Features};
use crate::setup::{self, Config, Flags, SetupError};

/// `user_data` of the ring's own operations (never an `OpId`: op-table
/// indices are small).
const EVENTFD_TAG: u64 = u64::MAX;
const CANCEL_TAG: u64 = u64::MAX - 1;
const TIMEOUT_TAG: u64 = u64::MAX - 2;

/// kasync's [`Driver`] over Linux io_uring.
///
/// * Operations are queued in the submission ring and submitted together:
///   one `io_uring_enter` per loop turn (none when there is nothing to
///   submit), submit-and-wait when the loop parks.
/// * Waiting takes the timers' deadline directly (`EXT_ARG`), or through a
///   timeout entry on older kernels.
/// * Other threads wake a parked loop by writing an eventfd whose read is
///   kept armed in the ring ([`UringPlatform`]).
/// * A full submission queue, `EBUSY` (completion queue overflow) and
///   `EAGAIN` are back-pressure: the reactor reaps and retries.
/// * On a kernel without a [`Feature`] (or told to behave as one, see
///   [`Config::without`]) the driver refuses what that kernel refuses —
///   multishot accepts and receives complete with `-EINVAL`, buffer rings
///   cannot be registered — and runs the older equivalent of the rest
///   (see the [feature table](crate::features)).
pub struct UringDriver {
    ring: IoUring,
    /// How `io_uring_enter` names the ring (unregistered in `Drop`).
    ring_fd: RingFd,
    flags: Flags,
    features: Features,
    /// Some operation-level feature is missing: `push` looks at each call.
    lacking_ops: bool,
    eventfd: OwnedFd,
    /// Where the armed eventfd read lands; boxed so its address is stable.
    eventfd_buf: Box<u64>,
    eventfd_armed: bool,
    /// Timeout for kernels without `EXT_ARG`; boxed for a stable address.
    timeout: Box<Timespec>,
    stats: DriverStats,
    /// This ring's identity, which its registered resources carry.
    id: DriverId,
    /// Operations finished without the kernel (refused, or run on the
    /// ring's thread for want of a feature): reported at the next reap.
    local: VecDeque<(OpId, i32)>,
    fixed_bufs: Cell<Option<&'static FixedBufPool>>,
    buf_ring: Cell<Option<&'static BufRing>>,
    /// Registered-file table: `true` where an index is in use.
    fixed_files: RefCell<Vec<bool>>,
}

impl UringDriver {
    /// Sets up a ring (see [`Config`]), checks that the kernel has every
    /// operation of [`Feature::Base`] (Linux 5.10), finds out which newer
    /// features it has, and creates the wake-up eventfd.
    pub fn new(config: &Config) -> Result<Self, SetupError> {
        let mut opened = setup::open(config)?;
        if let Err(e) = opened.require_base(config) {
            opened.ring_fd.unregister();
            return Err(e);
        }
        let setup::Opened {
            ring,
            mut ring_fd,
            flags,
            features,
            ..
        } = opened;
        // SAFETY: plain eventfd creation; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            let error = io::Error::last_os_error();
            ring_fd.unregister();
            return Err(SetupError::EventFd(error));
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let lacking_ops = [
            Feature::Shutdown,
            Feature::MultishotAccept,
            Feature::MultishotRecv,
        ]
        .into_iter()
        .any(|f| !features.contains(f));
        Ok(Self {
            ring,
            ring_fd,
            flags,
            features,
            lacking_ops,
            eventfd,
            eventfd_buf: Box::new(0),
            eventfd_armed: false,
            timeout: Box::new(Timespec::new()),
            stats: DriverStats::default(),
            id: DriverId::next(),
            local: VecDeque::new(),
            fixed_bufs: Cell::new(None),
            buf_ring: Cell::new(None),
            fixed_files: RefCell::new(Vec::new()),
        })
    }

    /// The setup flags in use.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The features this ring uses: what the kernel has, less what the
    /// [`Config::without`] it was made with pretends is missing (and less
    /// setup flags its [`Config`] did not ask for).
    ///
    /// ```
    /// use kasync_uring::{Config, Feature, Features, UringDriver};
    ///
    /// let config = Config { without: Features::NONE.with(Feature::MultishotAccept), ..Config::default() };
    /// # let Ok(driver) = UringDriver::new(&config) else { return };
    /// assert!(!driver.features().contains(Feature::MultishotAccept));
    /// assert!(driver.features().contains(Feature::Base));
    /// ```
    pub fn features(&self) -> Features {
        self.features
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// The eventfd that wakes this driver's `park` (give it to the
    /// executor's [`UringPlatform`]).
    pub fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// This ring's identity: the registered buffers, buffer rings and files
    /// of a ring carry it, and operations that use them are refused (with
    /// `-EXDEV`) by any other ring.
    pub fn id(&self) -> DriverId {
        self.id
    }

    /// Registers `count` buffers of `size` bytes with the ring, once; they
    /// stay registered (and allocated) for the rest of the program.
    ///
    /// `count` must be 1 to 16384 and `size` 1 byte to 1 GiB (the kernel's
    /// limits); anything else is `InvalidInput`.
    pub fn register_buffers(&self, count: u16, size: usize) -> io::Result<&'static FixedBufPool> {
        if self.fixed_bufs.get().is_some() {
            return Err(already_registered());
        }
        let pool = Box::new(FixedBufPool::new(count, size, self.id)?);
        let iovecs = pool.iovecs();
        // SAFETY: the buffers are heap memory that does not move with the
        // box; on success they are leaked below, so they stay valid for as
        // long as the kernel may use the registration (on failure the
        // kernel keeps nothing).
        unsafe { self.ring.submitter().register_buffers(&iovecs)? };
        let pool: &'static FixedBufPool = Box::leak(pool);
        self.fixed_bufs.set(Some(pool));
        Ok(pool)
    }

    /// The registered buffers, if any.
    pub fn fixed_buffers(&self) -> Option<&'static FixedBufPool> {
        self.fixed_bufs.get()
    }

    /// Registers `count` receive buffers of `size` bytes as this ring's
    /// provided-buffer group, for multishot receives
    /// ([`RecvMulti`](kasync_ops::ops::RecvMulti)). Once per ring. `count` must be
    /// a power of two up to 32768. Needs [`Feature::BufferRings`]
    /// (Linux 5.19; the receives need [`Feature::MultishotRecv`], 6.0):
    /// without it the error is `Unsupported`.
    pub fn register_buf_ring(&self, count: u16, size: usize) -> io::Result<&'static BufRing> {
        if self.buf_ring.get().is_some() {
            return Err(already_registered());
        }
        // Shapes are checked (and memory found) first: a bad request is
        // the same error on every kernel.
        let ring = BufRing::new(count, size, self.id)?;
        if !self.features.contains(Feature::BufferRings) {
            return Err(no_buffer_rings());
        }
        let (addr, entries) = ring.registration();
        // SAFETY: the ring memory is page-aligned and holds `entries`
        // entries; it is leaked below, so it stays valid for as long as the
        // kernel may use the registration.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(addr, entries, GROUP, 0)
        }
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                no_buffer_rings()
            } else {
                e
            }
        })?;
        let ring: &'static BufRing = Box::leak(Box::new(ring));
        self.buf_ring.set(Some(ring));
        Ok(ring)
    }

    /// The registered receive buffers, if any.
    pub fn buf_ring(&self) -> Option<&'static BufRing> {
        self.buf_ring.get()
    }

    /// Registers `fd` in the ring's file table (created on first use, 1024
    /// entries). The caller keeps `fd` open while the registration is used
    /// and releases it with [`unregister_file`](Self::unregister_file).
    pub fn register_file(&self, fd: RawFd) -> io::Result<FixedFd> {
        const TABLE: u32 = 1024;
        let mut table = self.fixed_files.borrow_mut();
        if table.is_empty() {
            if self.features.contains(Feature::SparseFiles) {
                self.ring.submitter().register_files_sparse(TABLE)?;
            } else {
                // Before 5.19: a table of empty (-1) entries.
                self.ring
                    .submitter()
                    .register_files(&[-1; TABLE as usize])?;
            }
            *table = vec![false; TABLE as usize];
        }
        let index = table
            .iter()
            .position(|used| !used)
            .ok_or_else(|| io::Error::other("the registered-file table is full (1024 files)"))?;
        self.ring
            .submitter()
            .register_files_update(index as u32, &[fd])?;
        table[index] = true;
        Ok(FixedFd::new(index as u32, self.id, fd))
    }

    /// Removes a registration made by [`register_file`](Self::register_file).
    /// A registration of another ring is refused (`InvalidInput`).
    pub fn unregister_file(&self, fixed: FixedFd) -> io::Result<()> {
        if fixed.owner() != self.id {
            return Err(foreign_resource());
        }
        self.ring
            .submitter()
            .register_files_update(fixed.index(), &[-1])?;
        if let Some(used) = self
            .fixed_files
            .borrow_mut()
            .get_mut(fixed.index() as usize)
        {
            *used = false;
        }
        Ok(())
    }

    /// The result of `call` on a ring that lacks what it needs, finished
    /// here: what the older kernel answers (`-EINVAL` for a multishot
    /// flag it does not know), or the older equivalent run on this thread.
    /// `None`: the kernel runs it.
    #[cold]
    #[inline(never)]
    fn without_kernel(features: Features, call: Call) -> Option<i32> {
        let has = |feature| features.contains(feature);
        match call {
            Call::Shutdown { fd, how } if !has(Feature::Shutdown) => {
                // SAFETY: `shutdown(2)` on a descriptor number; it never
                // blocks, and a bad descriptor is an error result.
                let result = unsafe { libc::shutdown(fd, how) };
                Some(if result < 0 { -errno() } else { 0 })
            }
            Call::AcceptMulti { .. } if !has(Feature::MultishotAccept) => Some(-libc::EINVAL),
            Call::RecvMulti { .. } if !has(Feature::MultishotRecv) => Some(-libc::EINVAL),
            _ => None,
        }
    }

    fn push_raw(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: every entry the driver pushes refers to memory that
        // outlives its completion: the reactor's op table for operations,
        // the driver's own boxes for its eventfd read and timeout.
        unsafe { self.ring.submission().push(entry) }.is_ok()
    }

    /// One `io_uring_enter`: submit, and wait for `want` completions or
    /// `timeout`.
    fn enter(&mut self, want: u32, timeout: Option<Duration>) {
        self.stats.enters += 1;
        let (to_submit, getevents) = {
            let sq = self.ring.submission();
            // Deferred completion work runs only in an enter that gets
            // events; so do completions held back by an overflow.
            let getevents = want > 0 || sq.cq_overflow() || sq.taskrun();
            (sq.len() as u32, getevents)
        };
        let timeout = timeout.filter(|_| want > 0 && self.flags.ext_arg);
        match self
            .ring_fd
            .enter(to_submit, want, getevents, timeout)
            .map_err(|e| e.raw_os_error())
        {
            Ok(()) => {}
            // Interrupted by a signal, timed out, or back-pressure (the
            // completion queue overflowed / no resources): the caller reaps
            // and the next turn submits again.
            Err(Some(libc::EINTR | libc::ETIME | libc::EBUSY | libc::EAGAIN)) => {}
            Err(other) => {
                let error = other.map_or_else(
                    || "an unknown error".to_owned(),
                    |e| io::Error::from_raw_os_error(e).to_string(),
                );
                DriverFailure::raise(format!("io_uring_enter failed unexpectedly: {error}"))
            }
        }
    }

    fn arm_eventfd(&mut self) {
        if self.eventfd_armed {
            return;
        }
        let entry = opcode::Read::new(
            types::Fd(self.eventfd.as_raw_fd()),
            (&mut *self.eventfd_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(EVENTFD_TAG);
        if !self.push_raw(&entry) {
            self.enter(0, None);
            if !self.push_raw(&entry) {
                return; // still full: the wait below ends on completions
            }
        }
        self.eventfd_armed = true;
    }
}

// SAFETY: every accepted operation is either in the ring (the kernel
// posts exactly one final completion per entry: `NODROP` is required, so
// none is lost; `IORING_CQE_F_MORE` is `has_more`) or on `local`, whose
// entries never reach the kernel (a refusal, or a `shutdown(2)` that is
// over before `push` returns) and are reported once each, without `MORE`; the kernel is
// done with an entry's memory when it posts its final completion. `build`
// runs before anything is queued; `reap` consumes each completion before
// handing it on and keeps no state in locals across the sink.
unsafe impl Driver for UringDriver {
    type Op = Call;

    // Inline, so that building an operation's entry and queueing it end up
    // in one function: room is checked first, and the entry is built
    // straight into the ring.
    #[inline]
    fn push(&mut self, id: OpId, build: impl FnOnce() -> Call) -> bool {
        let mut sq = self.ring.submission();
        if sq.is_full() {
            return false;
        }
        let call = build();
        if call.bound().is_some_and(|owner| owner != self.id) {
            // Registered resources of another ring: the index would name
            // whatever this ring registered there. Never submitted.
            self.local.push_back((id, -libc::EXDEV));
            return true;
        }
        if self.lacking_ops
            && let Some(result) = Self::without_kernel(self.features, call)
        {
            self.local.push_back((id, result));
            return true;
        }
        let entry = entry(&call).user_data(id.to_u64());
        // SAFETY: as in `push_raw`: the entry refers to memory in the
        // reactor's op table, which outlives its completion (the
        // `Operation` contract).
        let pushed = unsafe { sq.push(&entry) };
        debug_assert!(pushed.is_ok(), "the ring had room");
        self.stats.submitted += 1;
        true
    }

    fn has_more(completion: &Completion) -> bool {
        io_uring::cqueue::more(completion.flags)
    }

    fn push_cancel(&mut self, id: OpId) -> bool {
        let entry = opcode::AsyncCancel::new(id.to_u64())
            .build()
            .user_data(CANCEL_TAG);
        self.push_raw(&entry)
    }

    fn flush(&mut self) {
        let idle = {
            let sq = self.ring.submission();
            sq.is_empty() && !sq.taskrun() && !sq.cq_overflow()
        };
        if idle {
            return; // nothing to submit, no deferred work: no system call
        }
        self.enter(0, None);
    }

    // The sink may unwind: every piece of the driver's state is updated
    // before the completion is handed over (the completion queue's head
    // moves past an entry when it is taken, and is stored when the queue
    // handle drops, also while unwinding).
    fn reap(&mut self, mut sink: impl FnMut(OpId, Completion)) {
        while let Some((id, result)) = self.local.pop_front() {
            self.stats.completions += 1;
            sink(id, Completion::new(result));
        }
        let buf_ring = self.buf_ring.get();
        for cqe in self.ring.completion() {
            match cqe.user_data() {
                EVENTFD_TAG => {
                    self.eventfd_armed = false;
                    self.stats.wakeups += 1;
                }
                CANCEL_TAG | TIMEOUT_TAG => {}
                user_data => {
                    self.stats.completions += 1;
                    if let Some(ring) = buf_ring
                        && io_uring::cqueue::buffer_select(cqe.flags()).is_some()
                    {
                        ring.taken();
                    }
                    sink(
                        OpId::from_u64(user_data),
                        Completion {
                            result: cqe.result(),
                            flags: cqe.flags(),
                        },
                    );
                }
            }
        }
    }

    fn park(&mut self, timeout: Option<Duration>, idle: &Idle<'_>) {
        self.arm_eventfd();
        if !idle.is_idle() || !self.local.is_empty() {
            self.flush();
            return;
        }
        if let Some(t) = timeout {
            if t.is_zero() {
                self.enter(0, None);
                return;
            }
            if !self.flags.ext_arg {
                *self.timeout = Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos());
                // `count(1)`: the timeout also ends with the first
                // completion, the one that ends this wait otherwise — so
                // no earlier wait's timeout stays armed in the kernel.
                let entry = opcode::Timeout::new(&*self.timeout)
                    .count(1)
                    .build()
                    .user_data(TIMEOUT_TAG);
                if !self.push_raw(&entry) {
                    // Make room by submitting what is queued.
                    self.enter(0, None);
                    if !self.push_raw(&entry) {
                        // Still full: never wait untimed with a timer due;
                        // the loop turns and parks again.
                        return;
                    }
                }
            }
        }
        self.enter(1, timeout);
    }
}

/// The errno of the last failed system call.
fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn no_buffer_rings() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this kernel's io_uring has no provided-buffer rings (they came in Linux 5.19): receive into buffers of your own",
    )
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        // Before the ring closes: a registered ring is not freed while the
        // registration holds it.
        self.ring_fd.unregister();
    }
}

impl std::fmt::Debug for UringDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDriver")
            .field("flags", &self.flags)
            .field("stats", &self.stats)
            .finish()
    }
}

/// The executor side of the driver's wake-up: `pend` writes the eventfd
/// the driver keeps a read armed on. Set the descriptor once the driver
/// exists; until then `pend` does nothing (nothing can be parked yet).
#[derive(Debug)]
pub struct UringPlatform {
    eventfd: AtomicI32,
}

impl UringPlatform {
    /// A platform with no eventfd yet.
    pub const fn new() -> Self {
        Self {
            eventfd: AtomicI32::new(-1),
        }
    }

    /// Uses `fd` (from [`UringDriver::eventfd`]) to wake the driver.
    pub fn set_eventfd(&self, fd: RawFd) {
        self.eventfd.store(fd, Ordering::Release);
    }
}

impl Default for UringPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for UringPlatform {
    fn pend(&self) {
        let fd = self.eventfd.load(Ordering::Acquire);
        if fd >= 0 {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live `u64` to the eventfd; a
            // failure (the counter is saturated) still leaves it readable,
            // which is all a wake-up needs. Async-signal-safe.
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Only reached without a driver: spin once (the run loop parks in the
    /// driver instead).
    fn park(&self, _idle: &Idle<'_>) {
        std::hint::spin_loop();
    }
}
