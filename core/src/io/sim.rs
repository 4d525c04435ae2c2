//! A deterministic in-memory backend for tests: it completes operations
//! immediately, when told to, or on a seeded random schedule — late, out of
//! order, short, with errors, honouring or ignoring cancels — and it writes
//! into read buffers and reads write buffers *at completion time*, so a
//! buffer released too early is a use-after-free that miri reports.
//!
//! Completions carry the operation's submission number in `flags`, and a
//! read fills byte `i` with `flags as u8 + i` — so a test can check that a
//! buffer holds the data of its own operation, not another's.

use core::cell::Cell;
use core::time::Duration;

use super::{Completion, Driver, IoBuf, IoBufMut, OpId, Operation, errno};
use crate::executor::Idle;
use crate::time::{Clock, ManualClock};

/// xorshift64* — the simulator's (and its tests') reproducible randomness.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the simulator is asked to do.
#[derive(Debug, Clone, Copy)]
pub enum SimOp {
    /// Nothing; completes with 0.
    Nop,
    /// Fill up to `len` bytes at `ptr`.
    Read {
        /// Where to write.
        ptr: *mut u8,
        /// Capacity.
        len: usize,
    },
    /// Consume `len` bytes at `ptr`.
    Write {
        /// What to read.
        ptr: *const u8,
        /// Bytes to send.
        len: usize,
    },
    /// Produce a new descriptor (which must be closed again).
    Open,
    /// Produce `count` descriptors, one completion each (multishot): all
    /// but the last carry [`SIM_MORE`]. A cancel ends it early.
    OpenMany {
        /// Completions to produce.
        count: u32,
    },
    /// Fill `len` bytes at `ptr` `count` times, one completion each
    /// (multishot, like a receive into memory the operation owns): all but
    /// the last carry [`SIM_MORE`]. A cancel ends it early.
    ReadMany {
        /// Where to write, each time.
        ptr: *mut u8,
        /// Bytes per completion.
        len: usize,
        /// Completions to produce.
        count: u32,
    },
}

/// Completion flag of a multishot completion that more will follow (the
/// same bit as io_uring's `IORING_CQE_F_MORE`).
pub const SIM_MORE: u32 = 1 << 1;

/// How the simulator completes operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimMode {
    /// Every operation completes in full at the next reap (a requested
    /// cancel wins).
    Immediate,
    /// Only operations given an outcome with [`SimDriver::decide`] complete.
    Held,
    /// Each reap completes a random subset, in random order, with random
    /// outcomes; a requested cancel wins half of the time.
    Random,
    /// Operations complete only as given with [`SimDriver::decide`] — or
    /// cancelled, once a cancel is requested (a read on an idle socket).
    Stalled,
}

/// The outcome of one simulated operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimOutcome {
    /// Everything transferred.
    Full,
    /// Only this many bytes transferred.
    Short(usize),
    /// Failed with this (positive) errno.
    Error(i32),
    /// Cancelled (`-ECANCELED`), nothing transferred.
    Cancelled,
}

/// A simulated descriptor, produced by [`SimOpen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFd(pub u32);

/// Counters of what the simulator did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Operations accepted by `push`.
    pub submitted: u32,
    /// Completions reported.
    pub completed: u32,
    /// Cancels that won (completion `-ECANCELED`).
    pub cancelled: u32,
    /// Operations that completed normally although a cancel was requested.
    pub completed_despite_cancel: u32,
    /// Short transfers.
    pub short: u32,
    /// Error completions.
    pub errors: u32,
    /// Calls to `flush`.
    pub flushes: u32,
    /// Descriptors produced.
    pub opened: u32,
    /// Descriptors closed.
    pub closed: u32,
    /// Closes of descriptors that were not open (double closes).
    pub bad_closes: u32,
    /// Bytes read out of write buffers.
    pub bytes_written: u64,
    /// Sum of those bytes (wrapping), to check what was written.
    pub write_sum: u64,
}

#[derive(Debug, Clone, Copy)]
struct InDevice {
    id: OpId,
    op: SimOp,
    seq: u32,
    cancel: bool,
    decided: Option<SimOutcome>,
    /// Completions still to come (multishot).
    remaining: u32,
}

const MAX_FDS: usize = 1024;

/// The simulated backend; `Q` is the depth of its submission queue and of
/// its "device" (operations in flight).
#[derive(Debug)]
///
/// Tests steer it through [`Reactor::with_driver`](super::Reactor::with_driver),
/// which lends it shared: its knobs ([`decide`](Self::decide),
/// [`set_mode`](Self::set_mode), [`close`](Self::close)) take `&self`.
pub struct SimDriver<'c, const Q: usize = 32> {
    clock: &'c ManualClock,
    mode: Cell<SimMode>,
    rng: SimRng,
    queue: [Option<(OpId, SimOp)>; Q],
    cancels: [Option<OpId>; Q],
    device: Cell<[Option<InDevice>; Q]>,
    seq: u32,
    open: Cell<[u64; MAX_FDS / 64]>,
    next_fd: u32,
    stats: Cell<SimStats>,
}

impl<'c, const Q: usize> SimDriver<'c, Q> {
    /// A simulator in [`SimMode::Immediate`]. When the run loop parks with
    /// a timer pending and nothing to complete, the simulator moves `clock`
    /// forward to that timer (virtual time: sleeps take no real time).
    pub const fn new(clock: &'c ManualClock) -> Self {
        const { assert!(Q > 0, "the simulator's queue depth Q must be at least 1") };
        Self {
            clock,
            mode: Cell::new(SimMode::Immediate),
            rng: SimRng::new(0),
            queue: [const { None }; Q],
            cancels: [const { None }; Q],
            device: Cell::new([const { None }; Q]),
            seq: 0,
            open: Cell::new([0; MAX_FDS / 64]),
            next_fd: 3,
            stats: Cell::new(SimStats {
                submitted: 0,
                completed: 0,
                cancelled: 0,
                completed_despite_cancel: 0,
                short: 0,
                errors: 0,
                flushes: 0,
                opened: 0,
                closed: 0,
                bad_closes: 0,
                bytes_written: 0,
                write_sum: 0,
            }),
        }
    }

    /// Switches to [`SimMode::Stalled`].
    pub const fn stalled(self) -> Self {
        Self {
            mode: Cell::new(SimMode::Stalled),
            ..self
        }
    }

    /// Switches to [`SimMode::Held`].
    pub const fn held(self) -> Self {
        Self {
            mode: Cell::new(SimMode::Held),
            ..self
        }
    }

    /// Switches to [`SimMode::Random`] with `seed`.
    pub const fn random(self, seed: u64) -> Self {
        Self {
            mode: Cell::new(SimMode::Random),
            rng: SimRng::new(seed),
            ..self
        }
    }

    /// Changes the mode.
    pub fn set_mode(&self, mode: SimMode) {
        self.mode.set(mode);
    }

    /// What the simulator did so far.
    pub fn stats(&self) -> SimStats {
        self.stats.get()
    }

    /// Descriptors open right now.
    pub fn open_fds(&self) -> u32 {
        self.open.get().iter().map(|w| w.count_ones()).sum()
    }

    /// Ids of the operations in flight (flushed, not completed), in no
    /// particular order.
    pub fn in_flight(&self) -> impl Iterator<Item = OpId> + use<Q> {
        self.device.get().into_iter().flatten().map(|d| d.id)
    }

    /// `true` if a cancel was requested for the in-flight operation `id`.
    pub fn cancel_requested(&self, id: OpId) -> bool {
        self.device
            .get()
            .iter()
            .flatten()
            .any(|d| d.id == id && d.cancel)
    }

    /// Decides how the in-flight operation `id` completes; it does at the
    /// next reap. `false` if `id` is not in flight.
    pub fn decide(&self, id: OpId, outcome: SimOutcome) -> bool {
        let mut device = self.device.get();
        let found = match device.iter_mut().flatten().find(|d| d.id == id) {
            Some(d) => {
                d.decided = Some(outcome);
                true
            }
            None => false,
        };
        self.device.set(device);
        found
    }

    /// Closes a simulated descriptor.
    pub fn close(&self, fd: SimFd) {
        let (word, bit) = (fd.0 as usize / 64, fd.0 % 64);
        let mut open = self.open.get();
        let mut stats = self.stats.get();
        match open.get_mut(word) {
            Some(w) if *w & (1 << bit) != 0 => {
                *w &= !(1 << bit);
                stats.closed += 1;
            }
            _ => stats.bad_closes += 1,
        }
        self.open.set(open);
        self.stats.set(stats);
    }

    fn open_fd(&mut self) -> Option<u32> {
        let open = self.open.get_mut();
        for _ in 0..MAX_FDS {
            let fd = self.next_fd;
            self.next_fd = (self.next_fd + 1) % MAX_FDS as u32;
            let (word, bit) = (fd as usize / 64, fd % 64);
            if open[word] & (1 << bit) == 0 {
                open[word] |= 1 << bit;
                self.stats.get_mut().opened += 1;
                return Some(fd);
            }
        }
        None
    }

    /// Picks an outcome for `d` in random mode, or `None` to keep it.
    fn random_outcome(&mut self, d: &InDevice) -> Option<SimOutcome> {
        if !self.rng.chance(50) {
            return None;
        }
        if d.cancel && self.rng.chance(50) {
            return Some(SimOutcome::Cancelled);
        }
        let len = match d.op {
            SimOp::Read { len, .. } | SimOp::Write { len, .. } | SimOp::ReadMany { len, .. } => len,
            SimOp::Nop | SimOp::Open | SimOp::OpenMany { .. } => 0,
        };
        Some(match self.rng.below(100) {
            0..70 => SimOutcome::Full,
            70..85 if len > 1 => SimOutcome::Short(1 + self.rng.below(len as u64 - 1) as usize),
            70..85 => SimOutcome::Full,
            _ if self.rng.chance(50) => SimOutcome::Error(errno::EAGAIN),
            _ => SimOutcome::Error(errno::EIO),
        })
    }

    /// Performs `d` with `outcome` — touching its buffers now — and returns
    /// the completion (for reads and writes its `flags` is the submission
    /// number).
    fn perform(&mut self, d: &InDevice, outcome: SimOutcome) -> Completion {
        let result = match (outcome, d.op) {
            (SimOutcome::Cancelled, _) => {
                self.stats.get_mut().cancelled += 1;
                -errno::ECANCELED
            }
            (SimOutcome::Error(e), _) => {
                self.stats.get_mut().errors += 1;
                -e
            }
            (_, SimOp::Nop) => 0,
            (_, SimOp::Open | SimOp::OpenMany { .. }) => match self.open_fd() {
                Some(fd) => fd as i32,
                None => {
                    self.stats.get_mut().errors += 1;
                    -24 // EMFILE
                }
            },
            (full_or_short, SimOp::Read { ptr, len } | SimOp::ReadMany { ptr, len, .. }) => {
                let n = transferred(full_or_short, len);
                for i in 0..n {
                    // SAFETY: the operation owns `len` writable bytes at
                    // `ptr` until it completes (the `IoBufMut` contract and
                    // the reactor's ownership rules) — this is the moment a
                    // released buffer would be caught.
                    unsafe { ptr.add(i).write((d.seq as u8).wrapping_add(i as u8)) };
                }
                if n < len {
                    self.stats.get_mut().short += 1;
                }
                n as i32
            }
            (full_or_short, SimOp::Write { ptr, len }) => {
                let n = transferred(full_or_short, len);
                for i in 0..n {
                    // SAFETY: as for reads: `len` initialised bytes at `ptr`
                    // belong to the operation until it completes.
                    let byte = unsafe { ptr.add(i).read() };
                    self.stats.get_mut().write_sum =
                        self.stats.get_mut().write_sum.wrapping_add(u64::from(byte));
                }
                self.stats.get_mut().bytes_written += n as u64;
                if n < len {
                    self.stats.get_mut().short += 1;
                }
                n as i32
            }
        };
        if d.cancel && outcome != SimOutcome::Cancelled {
            self.stats.get_mut().completed_despite_cancel += 1;
        }
        self.stats.get_mut().completed += 1;
        let flags = match d.op {
            // Multishot: `SIM_MORE` on every completion but the last.
            SimOp::OpenMany { .. } | SimOp::ReadMany { .. } if d.remaining > 1 && result >= 0 => {
                SIM_MORE
            }
            SimOp::OpenMany { .. } | SimOp::ReadMany { .. } => 0,
            _ => d.seq,
        };
        Completion { result, flags }
    }

    /// `true` if a reap would complete something now.
    fn has_completable(&self) -> bool {
        self.device
            .get()
            .iter()
            .flatten()
            .any(|d| match self.mode.get() {
                SimMode::Held => d.decided.is_some(),
                SimMode::Stalled => d.decided.is_some() || d.cancel,
                SimMode::Immediate | SimMode::Random => true,
            })
    }
}

fn transferred(outcome: SimOutcome, len: usize) -> usize {
    match outcome {
        SimOutcome::Short(n) => n.min(len),
        _ => len,
    }
}

// SAFETY: every accepted operation lives in `queue` or `device` until
// `reap` reports it — once, final unless `SIM_MORE` says more follow
// (`has_more`) — and is removed from `device` before its report; buffers
// are touched only in `perform`, inside `reap`, before the report. A
// `build` that unwinds leaves its queue entry empty; `reap` removes an
// entry before handing it to the sink.
unsafe impl<const Q: usize> Driver for SimDriver<'_, Q> {
    type Op = SimOp;

    fn has_more(completion: &Completion) -> bool {
        completion.flags & SIM_MORE != 0 && completion.result >= 0
    }

    fn push(&mut self, id: OpId, build: impl FnOnce() -> SimOp) -> bool {
        match self.queue.iter_mut().find(|e| e.is_none()) {
            Some(entry) => {
                *entry = Some((id, build()));
                self.stats.get_mut().submitted += 1;
                true
            }
            None => false,
        }
    }

    fn push_cancel(&mut self, id: OpId) -> bool {
        match self.cancels.iter_mut().find(|e| e.is_none()) {
            Some(entry) => {
                *entry = Some(id);
                true
            }
            None => false,
        }
    }

    fn flush(&mut self) {
        self.stats.get_mut().flushes += 1;
        for q in 0..Q {
            let Some((id, op)) = self.queue[q] else {
                continue;
            };
            let Some(free) = self.device.get_mut().iter_mut().find(|d| d.is_none()) else {
                break; // the device is full; the rest waits in the queue
            };
            self.seq = self.seq.wrapping_add(1);
            *free = Some(InDevice {
                id,
                op,
                seq: self.seq,
                cancel: false,
                decided: None,
                remaining: match op {
                    SimOp::OpenMany { count } | SimOp::ReadMany { count, .. } => count.max(1),
                    _ => 1,
                },
            });
            self.queue[q] = None;
        }
        for c in 0..Q {
            let Some(id) = self.cancels[c] else { continue };
            if let Some(d) = self
                .device
                .get_mut()
                .iter_mut()
                .flatten()
                .find(|d| d.id == id)
            {
                d.cancel = true;
                self.cancels[c] = None;
            } else if !self.queue.iter().flatten().any(|(q, _)| *q == id) {
                self.cancels[c] = None; // already completed: nothing to cancel
            }
        }
    }

    fn reap(&mut self, mut sink: impl FnMut(OpId, Completion)) {
        let mode = self.mode.get();
        let start = if mode == SimMode::Random {
            self.rng.below(Q as u64) as usize
        } else {
            0
        };
        for k in 0..Q {
            let i = (start + k) % Q;
            let Some(d) = self.device.get_mut()[i] else {
                continue;
            };
            let outcome = match mode {
                SimMode::Immediate => Some(d.decided.unwrap_or(if d.cancel {
                    SimOutcome::Cancelled
                } else {
                    SimOutcome::Full
                })),
                SimMode::Held => d.decided,
                SimMode::Stalled => d.decided.or(d.cancel.then_some(SimOutcome::Cancelled)),
                SimMode::Random => d.decided.or_else(|| self.random_outcome(&d)),
            };
            if let Some(outcome) = outcome {
                let completion = self.perform(&d, outcome);
                let more = matches!(d.op, SimOp::OpenMany { .. } | SimOp::ReadMany { .. })
                    && completion.flags & SIM_MORE != 0;
                if more {
                    // Multishot: stays in flight for the next completion.
                    if let Some(d) = self.device.get_mut()[i].as_mut() {
                        d.remaining -= 1;
                        d.decided = None;
                    }
                } else {
                    self.device.get_mut()[i] = None;
                }
                sink(d.id, completion);
            }
        }
    }

    /// # Panics
    /// When the program would sleep forever: nothing can complete, no timer
    /// is pending (a simulated program has nobody else to wake it).
    fn park(&mut self, timeout: Option<Duration>, idle: &Idle<'_>) {
        self.flush();
        if !idle.is_idle() || self.has_completable() {
            return;
        }
        match timeout {
            Some(timeout) => {
                let ticks = crate::time::ticks_for(timeout, self.clock.ticks_per_second());
                self.clock.advance(ticks.max(1));
            }
            None => panic!(
                "simulated driver parked with nothing it may complete and no timer pending: \
                 the program would sleep forever ({} operations held)",
                self.device.get_mut().iter().flatten().count()
            ),
        }
    }
}

/// A no-op: completes with 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimNop;

// SAFETY: describes no memory.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for SimNop {
    type Output = Completion;
    fn build(&mut self) -> SimOp {
        SimOp::Nop
    }
    fn complete(self, completion: Completion) -> Completion {
        completion
    }
}

/// Reads into an owned buffer; resolves to `(bytes read or errno, buffer)`.
#[derive(Debug)]
pub struct SimRead<B> {
    buf: B,
}

impl<B: IoBufMut> SimRead<B> {
    /// A read appending to `buf`, up to its capacity. A buffer without
    /// spare capacity completes with `EINVAL` and is not handed to the
    /// backend.
    pub fn new(buf: B) -> Self {
        Self { buf }
    }
}

// SAFETY: `ptr`/`len` come from the owned `buf` (`IoBufMut`: stable
// while `self` moves, `bytes_total` writable bytes).
unsafe impl<B: IoBufMut, const Q: usize> Operation<SimDriver<'_, Q>> for SimRead<B> {
    type Output = (Result<usize, i32>, B);
    fn build(&mut self) -> SimOp {
        if self.buf.spare_len() == 0 {
            return SimOp::Nop;
        }
        SimOp::Read {
            ptr: self.buf.spare_ptr(),
            len: self.buf.spare_len(),
        }
    }
    fn complete(mut self, completion: Completion) -> Self::Output {
        if self.buf.spare_len() == 0 {
            return (Err(errno::EINVAL), self.buf);
        }
        match completion.into_result() {
            Ok(n) => {
                // SAFETY: the backend wrote `n` bytes at the buffer's spare
                // capacity.
                unsafe { self.buf.advance_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }
}

/// Writes an owned buffer's data; resolves to `(bytes written or errno,
/// buffer)`.
#[derive(Debug)]
pub struct SimWrite<B> {
    buf: B,
}

impl<B: IoBuf> SimWrite<B> {
    /// A write of `buf`'s initialised bytes.
    pub fn new(buf: B) -> Self {
        Self { buf }
    }
}

// SAFETY: `ptr`/`len` come from the owned `buf` (`IoBuf`: stable while
// `self` moves, `bytes_init` initialised bytes).
unsafe impl<B: IoBuf, const Q: usize> Operation<SimDriver<'_, Q>> for SimWrite<B> {
    type Output = (Result<usize, i32>, B);
    fn build(&mut self) -> SimOp {
        SimOp::Write {
            ptr: self.buf.stable_ptr(),
            len: self.buf.bytes_init(),
        }
    }
    fn complete(self, completion: Completion) -> Self::Output {
        (completion.into_result().map(|n| n as usize), self.buf)
    }
}

/// Produces a descriptor, like `accept` or `open`. If nobody awaits it when
/// it completes, the descriptor is closed.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimOpen;

// SAFETY: describes no memory.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for SimOpen {
    type Output = Result<SimFd, i32>;
    fn build(&mut self) -> SimOp {
        SimOp::Open
    }
    fn complete(self, completion: Completion) -> Self::Output {
        completion.into_result().map(SimFd)
    }
    fn orphaned(self, completion: Completion, driver: &SimDriver<'_, Q>) {
        if let Ok(fd) = completion.into_result() {
            driver.close(SimFd(fd));
        }
    }
}
