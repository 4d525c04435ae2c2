//! The device's half of the vector table — what a peripheral access crate
//! would generate: the two lines this firmware uses, cortex-m-rt's
//! `DefaultHandler` on the other 30 of the board's 32.

use cortex_m::interrupt::InterruptNumber;

use crate::{kick, uart};

/// The NVIC lines the firmware uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Irq {
    /// CMSDK UART0 receive (mps2-an386 line 0).
    Uart0Rx = 0,
    /// A line no device drives, raised by software: see [`kick`].
    Kick = 31,
}

// SAFETY: both numbers are interrupt lines of mps2-an386, which has 32
// (0..=31), and `number` returns exactly the discriminant.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

const LINES: usize = 32;

type Handler = unsafe extern "C" fn();

unsafe extern "C" {
    /// cortex-m-rt's handler for every line without its own (ours prints
    /// the line and fails the self-test).
    fn DefaultHandler();
}

const fn table() -> [Handler; LINES] {
    let mut table: [Handler; LINES] = [DefaultHandler; LINES];
    table[Irq::Uart0Rx as usize] = uart::receive_interrupt;
    table[Irq::Kick as usize] = kick::interrupt;
    table
}

/// Read by the NVIC only; cortex-m-rt's `link.x` places it right after the
/// 16 exception vectors.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [Handler; LINES] = table();
