//! The virtio block device, as the kernel gives it to kasync's
//! `virtio-blk` driver: found on the PCI bus, its legacy register block
//! reached through I/O ports, its DMA memory identity-mapped (the boot
//! code maps the first GiB 1:1), its interrupt line routed through the
//! 8259 — whose handler only acknowledges the device — and the run loop's
//! halt.

use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use kasync_virtio_blk::transport::reg;
use kasync_virtio_blk::{BlkDriver, Dma, Halt, QueueMemory, SetupError, Transport};

use crate::cpu::{self, inb_ordered, inl, inw, outb_ordered, outl, outw};
use crate::{idt, pci, pic};

/// Red Hat's PCI vendor id, and the transitional (legacy-capable)
/// virtio block device.
const VIRTIO_VENDOR: u16 = 0x1AF4;
const VIRTIO_BLK_LEGACY: u16 = 0x1001;

/// The device's register block: I/O ports from BAR 0 on.
#[derive(Debug, Clone, Copy)]
pub struct Ports(u16);

// SAFETY: `base` is BAR 0 of the virtio block device `find` found (an
// I/O BAR the firmware assigned), and offsets stay in its register block;
// the kernel drives the device through one driver only.
unsafe impl Transport for Ports {
    fn read8(&self, offset: u16) -> u8 {
        inb_ordered(self.0 + offset)
    }
    fn read16(&self, offset: u16) -> u16 {
        inw(self.0 + offset)
    }
    fn read32(&self, offset: u16) -> u32 {
        inl(self.0 + offset)
    }
    fn write8(&self, offset: u16, value: u8) {
        outb_ordered(self.0 + offset, value)
    }
    fn write16(&self, offset: u16, value: u16) {
        outw(self.0 + offset, value)
    }
    fn write32(&self, offset: u16, value: u32) {
        outl(self.0 + offset, value)
    }
}

/// The first GiB, mapped 1:1 by the boot code: a kernel address there is
/// its physical address.
pub struct Identity;

// SAFETY: `boot.rs` maps the first GiB virtual = physical with 2 MiB pages
// for the kernel's whole life, and the kernel's statics (queue memory,
// buffers) live in it; anything outside is refused.
unsafe impl Dma for Identity {
    fn phys(&self, virt: *const u8, len: usize) -> Option<u64> {
        let start = virt.addr();
        let end = start.checked_add(len)?;
        (end <= 1 << 30).then_some(start as u64)
    }
}

/// Halts taken by the run loop while the disk (or anything) was idle.
pub static HALTS: AtomicU64 = AtomicU64::new(0);
/// The device's interrupts taken (its ISR said so).
pub static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// The run loop's idle: `cli`, check, `sti; hlt` as one step — so a
/// completion whose interrupt comes after the check still ends the halt.
pub struct Hlt;

impl Halt for Hlt {
    fn halt_unless(&self, ready: &dyn Fn() -> bool) {
        cpu::disable_interrupts();
        if ready() {
            cpu::enable_interrupts();
        } else {
            HALTS.fetch_add(1, Ordering::Relaxed);
            cpu::enable_interrupts_and_halt();
        }
    }
}

/// The driver the kernel runs.
pub type Driver = BlkDriver<Ports, Identity, Hlt>;

/// The virtio queue's memory.
static QUEUE: QueueMemory = QueueMemory::new();

/// The device's ISR register port, for the interrupt handler (0: none).
static ISR_PORT: AtomicU16 = AtomicU16::new(0);

/// Where the device was found.
pub struct Found {
    pub at: pci::Function,
    pub ports: u16,
    pub irq: u8,
}

/// Why there is no disk.
pub enum NoDisk {
    /// No virtio block device on any PCI bus.
    Absent,
    /// One, but without an I/O BAR or an interrupt line.
    Unusable(&'static str),
    /// One that the driver could not set up.
    Setup(SetupError),
}

/// Finds the device, routes its interrupt and sets it up. Call with
/// interrupts disabled, after `idt::init` and `pic::init`.
pub fn init() -> Result<(Driver, Found), NoDisk> {
    let at = pci::find(VIRTIO_VENDOR, VIRTIO_BLK_LEGACY).ok_or(NoDisk::Absent)?;
    let ports = at
        .io_bar0()
        .ok_or(NoDisk::Unusable("BAR 0 is not an I/O BAR"))?;
    let irq = at.interrupt_line();
    if irq >= 16 {
        return Err(NoDisk::Unusable("no interrupt line was routed"));
    }
    at.enable_io_and_dma();
    ISR_PORT.store(ports + reg::ISR, Ordering::Relaxed);
    ISR_LINE.store(u16::from(irq), Ordering::Relaxed);
    idt::set_irq(irq, idt::disk_entry());
    pic::unmask(irq);
    let driver = BlkDriver::new(Ports(ports), Identity, &QUEUE, Hlt).map_err(NoDisk::Setup)?;
    Ok((driver, Found { at, ports, irq }))
}

/// The device's interrupt: acknowledge it (reading the ISR register lowers
/// the line); the run loop, woken from its halt, reaps the used ring.
#[unsafe(no_mangle)]
extern "C" fn disk_interrupt() {
    let port = ISR_PORT.load(Ordering::Relaxed);
    if port != 0 && inb_ordered(port) & 1 != 0 {
        INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    }
    pic::end_of_interrupt_from(ISR_LINE.load(Ordering::Relaxed) as u8);
}

/// The device's IRQ line, for the end of interrupt.
static ISR_LINE: AtomicU16 = AtomicU16::new(0);
