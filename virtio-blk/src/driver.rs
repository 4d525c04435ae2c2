//! [`BlkDriver`]: kasync's completion-driver contract over one virtio-blk
//! request queue. Pushing a request writes its descriptor chain; a flush
//! notifies the device; the device completes requests in any order and
//! raises its interrupt; reaping reads the used ring.

use core::cell::Cell;
use core::time::Duration;

use kasync::executor::Idle;
use kasync::io::{Completion, Driver, OpId, errno};

use crate::dma::{Dma, MAX_QUEUE, QueueMemory};
use crate::queue::{HEADER_BYTES, Part, SplitQueue};
use crate::request::{Request, SECTOR, What, kind};
use crate::setup::{SetupError, bring_up};
use crate::transport::{Transport, feature, reg};

/// The run loop's idle, with one more reason to stay awake.
///
/// The kernel implements it with its interrupts masked around the check:
/// `cli; if ready() { sti } else { sti; hlt }` on x86 — so a completion
/// whose interrupt comes after the check still ends the halt.
pub trait Halt {
    /// Halts until the next interrupt unless `ready()` (asked with
    /// interrupts masked) is `true`; returns at once then.
    fn halt_unless(&self, ready: &dyn Fn() -> bool);
}

/// Status bytes of a finished request (virtio 1.x §5.2.6).
mod done {
    pub(super) const OK: u8 = 0;
    pub(super) const IOERR: u8 = 1;
    pub(super) const UNSUPP: u8 = 2;
    /// Written before submission; a device never writes it.
    pub(super) const UNWRITTEN: u8 = 0xFF;
}

/// `-EFAULT`: memory the device cannot reach.
const EFAULT: i32 = 14;
/// `-EROFS`: a write to a read-only disk.
const EROFS: i32 = 30;
/// `-EOPNOTSUPP`: a request the device does not support.
const EOPNOTSUPP: i32 = 95;

/// Descriptors the largest request takes (header, data, status).
const CHAIN: u16 = 3;

/// Requests that finished without reaching the device (refused, or a
/// flush with no cache to flush), waiting for the next reap.
const EARLY: usize = 8;

/// What a request in flight is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    id: OpId,
    /// Descriptors of its chain.
    descs: u16,
    /// The data's length.
    bytes: u32,
    /// A read: the device writes the data (and says how much it wrote).
    device_writes: bool,
}

/// Counters of what the driver did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkStats {
    /// Requests handed to the device.
    pub submitted: u64,
    /// Requests the device returned.
    pub completed: u64,
    /// Requests that finished without reaching the device (bad length,
    /// past the end, unreachable memory, read-only disk).
    pub refused: u64,
    /// Requests the device failed (`EIO`, `EOPNOTSUPP`).
    pub failed: u64,
    /// Notifications written to the device.
    pub notifies: u64,
    /// Pushes turned away because the queue was full (the reactor keeps
    /// them in order and retries after completions made room).
    pub queue_full: u64,
    /// Cancels asked for: virtio-blk cannot abort a request, so each runs
    /// to completion with its buffer kept.
    pub cancels: u64,
    /// Completions of requests whose futures were gone (their buffers
    /// went back only now, after the device was done).
    pub orphaned: u64,
    /// Used-ring entries that named no request in flight (ignored).
    pub bogus: u64,
}

/// kasync's [`Driver`] for a legacy virtio-PCI block device: one request
/// queue in the kernel's [`QueueMemory`], interrupts delivered by the
/// kernel (whose handler only acknowledges them: reading the device's
/// ISR register), completions reaped by the run loop.
///
/// * **Ownership.** A request's buffer belongs to its operation, which
///   the reactor keeps in place until the device returns the request; a
///   dropped future leaves it there (virtio-blk has no abort), so the
///   buffer goes back only after the device is done with it
///   ([`BlkStats::orphaned`] counts those).
/// * **Back-pressure.** A push finding fewer than three free descriptors
///   is turned away; the reactor holds it, in order, until completions
///   make room — the future stays pending, nothing fails or spins.
/// * **Errors.** A request that cannot be valid (not whole sectors, past
///   the end, unreachable memory, a write to a read-only disk) completes
///   with an error without reaching the device; one the device fails
///   completes with `EIO` (or `EOPNOTSUPP`).
///
/// See the crate documentation for an example.
pub struct BlkDriver<T: Transport, D: Dma, H: Halt> {
    transport: T,
    dma: D,
    halt: H,
    queue: SplitQueue,
    features: u32,
    capacity: u64,
    /// By head descriptor (in the `QueueMemory`'s book).
    in_flight: &'static mut [Option<InFlight>; MAX_QUEUE],
    early: [(OpId, i32); EARLY],
    early_len: usize,
    stats: Cell<BlkStats>,
}

impl<T: Transport, D: Dma, H: Halt> BlkDriver<T, D, H> {
    /// Sets up the device behind `transport` with its request queue in
    /// `memory` (claimed for good, also if the set-up fails), addresses
    /// translated by `dma`, idling through `halt`.
    pub fn new(
        transport: T,
        dma: D,
        memory: &'static QueueMemory,
        halt: H,
    ) -> Result<Self, SetupError> {
        let device = bring_up(&transport, &dma, memory)?;
        Ok(Self {
            transport,
            dma,
            halt,
            queue: device.queue,
            features: device.features,
            capacity: device.capacity,
            in_flight: device.in_flight,
            early: [(OpId::from_u64(0), 0); EARLY],
            early_len: 0,
            stats: Cell::new(BlkStats::default()),
        })
    }

    /// The disk's size in sectors of [`SECTOR`] bytes (read from the
    /// device's configuration at set-up; no request needed).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// `true` if the device refuses writes.
    pub fn read_only(&self) -> bool {
        self.features & feature::RO != 0
    }

    /// `true` if the device has a write cache (flushes reach it).
    pub fn has_flush(&self) -> bool {
        self.features & feature::FLUSH != 0
    }

    /// Entries of the device's queue (from the device).
    pub fn queue_size(&self) -> u16 {
        self.queue.size()
    }

    /// Requests that fit in flight at once (three descriptors each).
    pub fn max_in_flight(&self) -> u16 {
        self.queue.size() / CHAIN
    }

    /// What the driver did so far.
    pub fn stats(&self) -> BlkStats {
        self.stats.get()
    }

    /// The physical address the device was given for the queue memory.
    pub fn queue_phys(&self) -> u64 {
        self.queue.phys()
    }

    /// Acknowledges the device's interrupt: reads its ISR status, which
    /// lowers the interrupt line. Returns the status (0: not this
    /// device's). For a kernel whose handler reaches the driver; one that
    /// cannot reads the [`ISR`](reg::ISR) register itself.
    pub fn acknowledge(&self) -> u8 {
        self.transport.read8(reg::ISR)
    }

    /// Counts the completion of a request nobody awaited any more.
    pub(crate) fn note_orphaned(&self) {
        self.update(|s| s.orphaned += 1);
    }

    fn update(&self, f: impl FnOnce(&mut BlkStats)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }

    /// Queues `id`'s completion with `result` for the next reap, without
    /// the device (room was checked by `push`).
    fn finish_early(&mut self, id: OpId, result: i32) {
        self.early[self.early_len] = (id, result);
        self.early_len += 1;
        if result < 0 {
            self.update(|s| s.refused += 1);
        }
    }

    /// Writes `what`'s chain. `Err(errno)` if it cannot be valid.
    fn chain(&mut self, id: OpId, what: What) -> Result<(), i32> {
        let (kind, sector, data) = match what {
            What::Refused(e) => return Err(e),
            What::Flush => (kind::FLUSH, 0, None),
            What::Write { .. } if self.read_only() => return Err(EROFS),
            What::Read { sector, data, len } => {
                (kind::IN, sector, Some((data.cast_const(), len, true)))
            }
            What::Write { sector, data, len } => (kind::OUT, sector, Some((data, len, false))),
        };
        let mut parts = [Part {
            phys: 0,
            len: HEADER_BYTES as u32,
            device_writes: false,
        }; CHAIN as usize];
        let mut count = 1;
        let mut bytes = 0;
        if let Some((data, len, device_writes)) = data {
            let sectors = u64::from(len) / SECTOR as u64;
            if sector
                .checked_add(sectors)
                .is_none_or(|end| end > self.capacity)
            {
                return Err(errno::EINVAL);
            }
            let phys = self.dma.phys(data, len as usize).ok_or(EFAULT)?;
            parts[1] = Part {
                phys,
                len,
                device_writes,
            };
            count = 2;
            bytes = len;
        }
        // The header and status of the chain's head, whichever it is.
        let head_will_be = self.queue.free_head_hint();
        parts[0].phys = self.queue.header_phys(head_will_be);
        parts[count] = Part {
            phys: self.queue.status_phys(head_will_be),
            len: 1,
            device_writes: true,
        };
        count += 1;
        self.queue.set_header(head_will_be, kind, sector);
        self.queue.set_status(head_will_be, done::UNWRITTEN);
        let head = self
            .queue
            .add(&parts[..count])
            .expect("room was checked before the push");
        debug_assert_eq!(head, head_will_be);
        self.in_flight[head as usize] = Some(InFlight {
            id,
            descs: count as u16,
            bytes,
            device_writes: kind == kind::IN,
        });
        self.update(|s| s.submitted += 1);
        Ok(())
    }
}

// SAFETY: every accepted id is reported once: a refused one from
// `refused` (taken off before its sink runs), one handed to the device
// from the used ring, when the device returns its head (the `in_flight`
// entry is taken before the sink runs, so a repeated or unknown head is
// ignored, never reported twice). The device may use a request's memory
// until it returns the head; the driver reports it only after. `build`
// runs before anything is recorded. Nothing is multishot or inline.
unsafe impl<T: Transport, D: Dma, H: Halt> Driver for BlkDriver<T, D, H> {
    type Op = Request;

    fn push(&mut self, id: OpId, build: impl FnOnce() -> Request) -> bool {
        if self.early_len == EARLY || self.queue.free() < CHAIN {
            self.update(|s| s.queue_full += 1);
            return false;
        }
        let request = build();
        match request.what {
            // Nothing to flush without a write cache: done, successfully.
            What::Flush if !self.has_flush() => self.finish_early(id, 0),
            what => {
                if let Err(e) = self.chain(id, what) {
                    self.finish_early(id, -e);
                }
            }
        }
        true
    }

    fn push_cancel(&mut self, _id: OpId) -> bool {
        // No abort in virtio-blk: the request completes, and the reactor
        // keeps its buffer until then.
        self.update(|s| s.cancels += 1);
        true
    }

    fn flush(&mut self) {
        if self.queue.publish() {
            self.transport.write16(reg::QUEUE_NOTIFY, 0);
            self.update(|s| s.notifies += 1);
        }
    }

    fn reap(&mut self, mut sink: impl FnMut(OpId, Completion)) {
        while self.early_len > 0 {
            let (id, result) = self.early[0];
            self.early.copy_within(1..self.early_len, 0);
            self.early_len -= 1;
            sink(id, Completion::new(result));
        }
        while let Some((head, written)) = self.queue.pop_used() {
            // A head that names no request in flight — or one whose status
            // the device has not written yet (a stale or early entry of a
            // broken device: the request is still the device's, and so is
            // its buffer) — is ignored; the request stays in flight.
            let entry = usize::try_from(head)
                .ok()
                .filter(|&h| h < self.queue.size() as usize)
                .filter(|&h| self.queue.status(h as u16) != done::UNWRITTEN)
                .and_then(|h| self.in_flight[h].take());
            let Some(entry) = entry else {
                self.update(|s| s.bogus += 1);
                continue;
            };
            let head = head as u16;
            let status = self.queue.status(head);
            self.queue.release(head, entry.descs);
            let result = match status {
                // A read reports what the device says it wrote (the data,
                // then the status byte), never more than it asked for: no
                // byte it did not write is called read.
                done::OK if entry.device_writes => {
                    written.saturating_sub(1).min(entry.bytes) as i32
                }
                done::OK => entry.bytes as i32,
                done::UNSUPP => -EOPNOTSUPP,
                done::IOERR => -errno::EIO,
                // A status no device should write.
                _ => -errno::EIO,
            };
            self.update(|s| {
                s.completed += 1;
                if result < 0 {
                    s.failed += 1;
                }
            });
            sink(entry.id, Completion::new(result));
        }
    }

    fn park(&mut self, _timeout: Option<Duration>, idle: &Idle<'_>) {
        // The kernel's timer interrupt ends the halt for the timers; a
        // tickless kernel would program its one-shot timer here.
        self.flush();
        let this = &*self;
        this.halt
            .halt_unless(&|| !idle.is_idle() || this.early_len > 0 || this.queue.has_used());
    }
}

impl<T: Transport, D: Dma, H: Halt> core::fmt::Debug for BlkDriver<T, D, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlkDriver")
            .field("capacity", &self.capacity)
            .field("queue_size", &self.queue.size())
            .field("stats", &self.stats.get())
            .finish()
    }
}
