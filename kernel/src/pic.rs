//! The 8259 interrupt controllers, the PIT and the tick counter it drives.

use core::sync::atomic::{AtomicU64, Ordering};

use kasync::time::Clock;

use crate::cpu::{inb, outb};
use crate::idt::IRQ_BASE;

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 1_000;
const PIT_INPUT_HZ: u64 = 1_193_182;

fn io_wait() {
    outb(0x80, 0);
}

/// Remaps the PICs to vectors 32–47 and unmasks only the timer (IRQ 0) and
/// the keyboard (IRQ 1).
pub fn init() {
    outb(0x20, 0x11);
    io_wait();
    outb(0xA0, 0x11);
    io_wait();
    outb(0x21, IRQ_BASE as u8);
    io_wait();
    outb(0xA1, IRQ_BASE as u8 + 8);
    io_wait();
    outb(0x21, 4);
    io_wait();
    outb(0xA1, 2);
    io_wait();
    outb(0x21, 1);
    io_wait();
    outb(0xA1, 1);
    io_wait();
    outb(0x21, 0b1111_1100);
    outb(0xA1, 0xFF);
}

/// Programs PIT channel 0 to fire `TICK_HZ` times a second.
pub fn start_timer() {
    let divisor = (PIT_INPUT_HZ / TICK_HZ) as u16;
    outb(0x43, 0x36);
    outb(0x40, divisor as u8);
    outb(0x40, (divisor >> 8) as u8);
}

/// Acknowledges an interrupt from the master PIC.
pub fn end_of_interrupt() {
    outb(0x20, 0x20);
}

/// Acknowledges IRQ `line`: the slave PIC too for lines 8–15.
pub fn end_of_interrupt_from(line: u8) {
    if line >= 8 {
        outb(0xA0, 0x20);
    }
    outb(0x20, 0x20);
}

/// Unmasks IRQ `line` (and, for a slave line, the cascade on IRQ 2).
pub fn unmask(line: u8) {
    if line < 8 {
        outb(0x21, inb(0x21) & !(1 << line));
    } else {
        outb(0x21, inb(0x21) & !(1 << 2));
        outb(0xA1, inb(0xA1) & !(1 << (line - 8)));
    }
}

/// Reads which IRQs are masked (for diagnostics).
pub fn mask() -> u8 {
    inb(0x21)
}

/// Timer interrupts since boot, read by the timers as their clock.
pub struct Ticks(AtomicU64);

impl Ticks {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
}

impl Clock for Ticks {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    fn ticks_per_second(&self) -> u64 {
        TICK_HZ
    }
}

/// The tick counter.
pub static TICKS: Ticks = Ticks::new();

/// IRQ 0: count the tick. Returning from the interrupt ends the run loop's
/// `hlt`, and the loop then fires whatever timers are due.
#[unsafe(no_mangle)]
extern "C" fn timer_interrupt() {
    TICKS.0.fetch_add(1, Ordering::AcqRel);
    end_of_interrupt();
}
