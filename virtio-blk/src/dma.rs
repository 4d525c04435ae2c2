//! Memory the device reads and writes: the kernel's translation of
//! addresses to physical ones ([`Dma`]), and the static region the queue
//! lives in ([`QueueMemory`]).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::driver::InFlight;

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

/// Bytes of [`QueueMemory`] the device sees: the rings of a
/// [`MAX_QUEUE`]-entry queue in the legacy layout, and each request's
/// header and status byte.
pub const QUEUE_MEMORY_BYTES: usize = 48 * 1024;

/// What the driver keeps per descriptor, beside the memory the device
/// sees (never given to the device): the links of the free list and of
/// each chain, and the request each chain in flight is. Kept in the
/// `static` region rather than in the driver, so the driver stays small
/// enough to move on a kernel's stack.
pub(crate) struct Book {
    pub(crate) next: [u16; MAX_QUEUE],
    pub(crate) in_flight: [Option<InFlight>; MAX_QUEUE],
}

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
    book: UnsafeCell<Book>,
    taken: AtomicBool,
}

// SAFETY: the bytes and the book are reached only through the one driver
// that won `taken` (and the device it drives); `taken` is an atomic.
unsafe impl Sync for QueueMemory {}

impl QueueMemory {
    /// A zeroed region, not yet given to a driver.
    pub const fn new() -> Self {
        Self {
            bytes: UnsafeCell::new([0; QUEUE_MEMORY_BYTES]),
            book: UnsafeCell::new(Book {
                next: [0; MAX_QUEUE],
                in_flight: [None; MAX_QUEUE],
            }),
            taken: AtomicBool::new(false),
        }
    }

    /// The region's bytes and the driver's book, for the one driver that
    /// claims them first.
    #[expect(
        clippy::mut_from_ref,
        reason = "the one claim `taken` lets through gets the book, for good"
    )]
    pub(crate) fn claim(&'static self) -> Option<(*mut u8, &'static mut Book)> {
        self.taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        // SAFETY: winning `taken` (never reset) makes this the only
        // reference to the book, for good.
        let book = unsafe { &mut *self.book.get() };
        Some((self.bytes.get().cast::<u8>(), book))
    }
}

impl Default for QueueMemory {
    fn default() -> Self {
        Self::new()
    }
}
