//! Bringing a legacy virtio-blk device up (virtio 1.x §3.1.2, the legacy
//! sequence): reset, acknowledge, agree on features, hand the device its
//! queue, read the capacity, go live. Every way it can fail is a
//! [`SetupError`] that says what to do.

use core::fmt;

use crate::dma::{Dma, MAX_QUEUE, QueueMemory};
use crate::driver::InFlight;
use crate::queue::{Layout, SplitQueue};
use crate::transport::{Transport, feature, reg, status};

/// Why a device could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    /// The [`QueueMemory`] was given to a driver before.
    MemoryTaken,
    /// The device offers no request queue (queue size 0).
    NoQueue,
    /// The device's queue size is not one this driver can lay out (not a
    /// power of two, below 4 — too small for one request's three
    /// descriptors — or above [`MAX_QUEUE`](crate::MAX_QUEUE)).
    QueueSize(u16),
    /// The kernel's [`Dma`] cannot give the queue memory a physical
    /// address the device can use (none, not page-aligned, or beyond the
    /// 44 bits a legacy device can address).
    QueueAddress,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::MemoryTaken => f.write_str(
                "the queue memory already belongs to a driver; give each driver a QueueMemory of its own",
            ),
            SetupError::NoQueue => {
                f.write_str("the device offers no request queue; is it a virtio block device?")
            }
            SetupError::QueueSize(size) => write!(
                f,
                "the device's queue has {size} entries; this driver lays out powers of two from 4 to {} (set the device's queue-size)",
                crate::dma::MAX_QUEUE
            ),
            SetupError::QueueAddress => f.write_str(
                "the queue memory has no page-aligned physical address below 16 TiB; map it so the device can reach it",
            ),
        }
    }
}

/// What set-up learnt about the device.
pub(crate) struct Device {
    pub(crate) queue: SplitQueue,
    pub(crate) in_flight: &'static mut [Option<InFlight>; MAX_QUEUE],
    pub(crate) features: u32,
    pub(crate) capacity: u64,
}

/// Runs the legacy set-up sequence on the device behind `transport`.
pub(crate) fn bring_up(
    transport: &impl Transport,
    dma: &impl Dma,
    memory: &'static QueueMemory,
) -> Result<Device, SetupError> {
    let (base, book) = memory.claim().ok_or(SetupError::MemoryTaken)?;
    transport.write8(reg::STATUS, 0);
    transport.write8(reg::STATUS, status::ACKNOWLEDGE);
    transport.write8(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let fail = |e| {
        transport.write8(reg::STATUS, status::FAILED);
        Err(e)
    };
    let offered = transport.read32(reg::DEVICE_FEATURES);
    // Flush if there is a write cache, and whether writes are refused:
    // nothing that changes the queue's layout or the request format.
    let features = offered & (feature::FLUSH | feature::RO);
    transport.write32(reg::GUEST_FEATURES, features);
    transport.write16(reg::QUEUE_SELECT, 0);
    let size = transport.read16(reg::QUEUE_SIZE);
    if size == 0 {
        return fail(SetupError::NoQueue);
    }
    let Some(layout) = Layout::of(size) else {
        return fail(SetupError::QueueSize(size));
    };
    let phys = match dma.phys(base, layout.end) {
        Some(p) if p % 4096 == 0 && (p >> 12) <= u64::from(u32::MAX) => p,
        _ => return fail(SetupError::QueueAddress),
    };
    // SAFETY: `claim` gave these bytes to this driver alone, 4096-aligned
    // (`QueueMemory`'s alignment) and `layout.end` <= its size; `dma`
    // vouches for `phys`.
    let queue = unsafe { SplitQueue::new(base, phys, layout, &mut book.next) };
    book.in_flight.fill(None);
    transport.write32(reg::QUEUE_PFN, (phys >> 12) as u32);
    let low = transport.read32(reg::CONFIG);
    let high = transport.read32(reg::CONFIG + 4);
    let capacity = u64::from(low) | (u64::from(high) << 32);
    transport.write8(
        reg::STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
    );
    Ok(Device {
        queue,
        in_flight: &mut book.in_flight,
        features,
        capacity,
    })
}
