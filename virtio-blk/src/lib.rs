//! # kasync virtio-blk driver
//!
//! [`BlkDriver`] implements the core's completion-driver contract
//! ([`kasync::io::Driver`]) for a virtio block device, for any kernel
//! that embeds kasync: `no_std`, no allocator. The kernel supplies
//!
//! * a [`Transport`] to the device's legacy virtio-PCI registers (port
//!   I/O on x86, found by PCI enumeration),
//! * the DMA memory: a `static` [`QueueMemory`] for the virtqueue, and a
//!   [`Dma`] translation to physical addresses (identity in a kernel that
//!   maps its low memory 1:1),
//! * the device's interrupt: its handler only acknowledges it
//!   ([`BlkDriver::acknowledge`], or a read of the ISR register) — the
//!   interrupt ends the run loop's halt ([`Halt`]), and the loop reaps
//!   the used ring.
//!
//! The operations — [`ReadSectors`], [`WriteSectors`], [`Flush`] — own
//! their buffers until the device returns the request, also when their
//! future is dropped first (virtio-blk cannot abort a request: the
//! buffer waits in the reactor's table for the device). The capacity is
//! [`BlkDriver::capacity`].
//!
//! Layout: [`transport`] (the register block), [`dma`] (memory the device
//! uses), `queue` (the split virtqueue), [`setup`](SetupError) (bringing
//! the device up), [`request`](Request) (what operations describe), and
//! `driver` (the [`Driver`](kasync::io::Driver) implementation).
//!
//! **Why legacy virtio-PCI**: its registers are one I/O-port block, and
//! its interrupt is the PCI line through the 8259 — what a small kernel
//! already has. The modern interface needs the PCI capability list and
//! memory-mapped BARs (above 3 GiB on QEMU's PC, outside a kernel that
//! maps its first GiB). The queue and requests are the same in both.
//!
//! ```no_run
//! use core::mem::MaybeUninit;
//! use core::pin::Pin;
//! use core::time::Duration;
//! use kasync::executor::{Executor, Spin};
//! use kasync::io::{BufPool, Reactor};
//! use kasync::time::ManualClock;
//! use kasync_virtio_blk::{BlkDriver, Dma, Halt, QueueMemory, ReadSectors, Transport};
//!
//! /// The device's register block at an I/O port (the kernel's `in`/`out`).
//! struct Ports(u16);
//! // SAFETY: reaches only the virtio device's BAR 0 (found by PCI enumeration).
//! unsafe impl Transport for Ports {
//!     fn read8(&self, offset: u16) -> u8 { inb(self.0 + offset) }
//! #   fn read16(&self, _: u16) -> u16 { 0 }
//! #   fn read32(&self, _: u16) -> u32 { 0 }
//! #   fn write8(&self, _: u16, _: u8) {}
//! #   fn write16(&self, _: u16, _: u16) {}
//! #   fn write32(&self, _: u16, _: u32) {}
//!     // ... read16, read32, write8, write16, write32 alike
//! }
//! # fn inb(_: u16) -> u8 { 0 }
//!
//! /// Low memory is mapped 1:1.
//! struct Identity;
//! // SAFETY: the kernel maps its first GiB 1:1, and its statics live there.
//! unsafe impl Dma for Identity {
//!     fn phys(&self, virt: *const u8, len: usize) -> Option<u64> {
//!         let end = (virt as usize).checked_add(len)?;
//!         (end <= 1 << 30).then_some(virt as u64)
//!     }
//! }
//!
//! /// `cli; if ready() { sti } else { sti; hlt }` in a kernel.
//! struct Hlt;
//! impl Halt for Hlt {
//!     fn halt_unless(&self, ready: &dyn Fn() -> bool) {
//!         let _ = ready();
//!     }
//! }
//!
//! static QUEUE: QueueMemory = QueueMemory::new();
//! static SECTORS: BufPool<16, 4096> = BufPool::new();
//! static EXECUTOR: Executor<Spin, 4, 512> = Executor::new(Spin);
//!
//! type Disk = Reactor<BlkDriver<Ports, Identity, Hlt>, &'static ManualClock, 32, 48>;
//!
//! // A kernel's clock reads its timer's tick count.
//! let clock: &'static ManualClock = Box::leak(Box::new(ManualClock::new(1_000)));
//!
//! let driver = BlkDriver::new(Ports(0xc040), Identity, &QUEUE, Hlt).expect("virtio-blk set up");
//! println!("{} sectors", driver.capacity());
//! // A reactor in place for good (a kernel keeps it in a static).
//! let place: &'static mut MaybeUninit<Disk> = Box::leak(Box::new(MaybeUninit::uninit()));
//! let disk = Pin::static_ref(&*Reactor::init(place, driver, clock));
//! let io = disk.handle();
//! let runner = EXECUTOR.runner().unwrap();
//! let (read, sector) = runner.block_on_with(&*disk, async {
//!     let read = ReadSectors::new(0, SECTORS.take().unwrap());
//!     io.timeout(Duration::from_secs(1), io.submit(read)).await.expect("the device answers")
//! });
//! assert_eq!(read, Ok(4096));
//! assert_eq!(sector.len(), 4096);
//! ```
#![no_std]

pub mod dma;
mod driver;
mod queue;
mod request;
mod setup;
pub mod transport;

pub use dma::{Dma, MAX_QUEUE, QueueMemory};
pub use driver::{BlkDriver, BlkStats, Halt};
pub use request::{Flush, ReadSectors, Request, SECTOR, WriteSectors};
pub use setup::SetupError;
pub use transport::Transport;
