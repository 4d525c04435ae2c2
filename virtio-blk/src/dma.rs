//! Memory the device reads and writes: the kernel's translation of
//! addresses to physical ones ([`Dma`]), and the static region the queue
//! lives in ([`QueueMemory`]).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// How the kernel turns the addresses of memory the device may use into
/// physical (bus) addresses.
///
/// # Safety
///
/// A `Some(address)` from [`phys`](Dma::phys) is where the device finds
/// the `len` bytes at `virt`: physically contiguous, mapped the same for
/// the whole life of the driver, and reachable by the device's DMA. `None`
/// refuses the memory (the operation fails with `EFAULT`).
pub unsafe trait Dma {
    /// The physical address of the `len` bytes at `virt`, or `None` if the
    /// device cannot reach them.
    fn phys(&self, virt: *const u8, len: usize) -> Option<u64>;
}

/// The largest queue this driver sets up (the device decides the size; a
/// legacy device cannot be told a smaller one). QEMU's virtio-blk offers
/// 256 by default, at most 1024.
pub const MAX_QUEUE: usize = 1024;

/// Bytes of [`QueueMemory`]: the rings of a [`MAX_QUEUE`]-entry queue in
/// the legacy layout, and each request's header and status byte.
pub const QUEUE_MEMORY_BYTES: usize = 48 * 1024;

/// The region a driver's virtqueue lives in: descriptor table, available
/// and used rings, request headers and status bytes. Give the driver a
/// `static` one; it is the device's to write for as long as the driver
/// runs, so a region serves one driver, ever
/// ([`BlkDriver::new`](crate::BlkDriver::new) refuses one taken before).
///
/// ```
/// use kasync_virtio_blk::QueueMemory;
///
/// static QUEUE: QueueMemory = QueueMemory::new();
/// ```
#[repr(C, align(4096))]
pub struct QueueMemory {
    bytes: UnsafeCell<[u8; QUEUE_MEMORY_BYTES]>,
    taken: AtomicBool,
}

// SAFETY: the bytes are reached only through the one driver that won
// `taken` (and the device it drives); `taken` is an atomic.
unsafe impl Sync for QueueMemory {}

impl QueueMemory {
    /// A zeroed region, not yet given to a driver.
    pub const fn new() -> Self {
        Self {
            bytes: UnsafeCell::new([0; QUEUE_MEMORY_BYTES]),
            taken: AtomicBool::new(false),
        }
    }

    /// The region's bytes for the one driver that claims it first.
    pub(crate) fn claim(&'static self) -> Option<*mut u8> {
        self.taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .map(|_| self.bytes.get().cast::<u8>())
    }
}

impl Default for QueueMemory {
    fn default() -> Self {
        Self::new()
    }
}
