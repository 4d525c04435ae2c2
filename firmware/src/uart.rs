//! The board's first UART (ARM CMSDK APB UART0 at `0x4000_4000`): output
//! by polling, input by its receive interrupt into an [`IrqQueue`].
//!
//! QEMU connects UART0 to `-serial`: what the firmware writes goes to the
//! script's stdout, what the script writes to QEMU's stdin arrives here one
//! byte at a time, each as a real receive interrupt (QEMU offers the next
//! byte only once the data register was read — the hardware has no FIFO).

use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use kasync::IrqQueue;
use kasync::sync::Signal;

use crate::kick;

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
/// Reads as the interrupt status, writing 1s clears them.
const INT_STATUS_CLEAR: usize = BASE + 0x0C;
const BAUD_DIVIDER: usize = BASE + 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
/// A byte arrived while the last was unread (write 1 to clear).
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;
const CTRL_RX_INTERRUPT: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// The peripheral clock of the mps2 boards.
const PCLK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

/// Room in [`RECEIVED`].
pub const QUEUE: usize = 16;

/// Received bytes, from the receive interrupt to the task that reads them.
/// Small on purpose: the self-test lets it overflow.
pub static RECEIVED: IrqQueue<u8, QUEUE> = IrqQueue::new();

/// Set by the receive interrupt when [`RECEIVED`] was full and a byte had
/// to be dropped; holds the dropped count at that moment.
pub static OVERFLOWED: Signal<usize> = Signal::new();

/// Bytes the receive interrupt took from the UART (received or dropped).
pub static TAKEN: AtomicU32 = AtomicU32::new(0);

/// Times the UART reported a byte lost before the handler read the last
/// one (no FIFO on this UART: a handler held off too long loses bytes on
/// real hardware; QEMU holds them back instead).
pub static OVERRUNS: AtomicU32 = AtomicU32::new(0);

/// Every how many bytes the receive interrupt raises the [`kick`]
/// interrupt, which preempts it.
pub const KICK_EVERY: u32 = 8;

fn read(register: usize) -> u32 {
    // SAFETY: `register` is one of UART0's registers above: a valid,
    // aligned MMIO address on this board, read as a 32-bit word.
    unsafe { ptr::read_volatile(register as *const u32) }
}

fn write(register: usize, value: u32) {
    // SAFETY: as in `read`; writing these registers has no effect on memory.
    unsafe { ptr::write_volatile(register as *mut u32, value) }
}

/// 115200 baud (QEMU ignores the rate but wants a valid divider), 8N1,
/// transmitter on, receiver and its interrupt on. The NVIC line is
/// unmasked by the caller.
pub fn init() {
    write(BAUD_DIVIDER, PCLK_HZ / BAUD);
    write(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE | CTRL_RX_INTERRUPT);
}

fn write_byte(byte: u8) {
    while read(STATE) & STATE_TX_FULL != 0 {}
    write(DATA, u32::from(byte));
}

/// UART0's receive interrupt (NVIC line 0, the lowest priority here).
///
/// Acknowledges first and reads second: a byte that arrives after the read
/// raises the line again instead of being acknowledged unseen. Each byte is
/// pushed into [`RECEIVED`] or counted as dropped there, a byte the UART
/// itself lost is counted in [`OVERRUNS`]; every [`KICK_EVERY`]th byte it
/// raises the higher-priority [`kick`] interrupt, which runs at once,
/// nested inside this one.
pub extern "C" fn receive_interrupt() {
    write(INT_STATUS_CLEAR, INT_RX);
    if read(STATE) & STATE_RX_OVERRUN != 0 {
        write(STATE, STATE_RX_OVERRUN);
        OVERRUNS.fetch_add(1, Ordering::Relaxed);
    }
    while read(STATE) & STATE_RX_FULL != 0 {
        let byte = read(DATA) as u8;
        let taken = TAKEN.fetch_add(1, Ordering::Relaxed) + 1;
        if taken.is_multiple_of(KICK_EVERY) {
            kick::raise();
        }
        if RECEIVED.push(byte).is_err() {
            OVERFLOWED.signal(RECEIVED.dropped());
        }
    }
}

/// A writer onto UART0. It keeps no state, so tasks and the fault handlers
/// can each make their own; interrupt handlers never print.
pub struct Uart;

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(write_byte);
        Ok(())
    }
}

/// Prints a line on UART0.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::uart::Uart, $($arg)*);
    }};
}
