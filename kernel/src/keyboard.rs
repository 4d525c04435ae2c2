//! The PS/2 keyboard: its interrupt handler feeds an `IrqQueue`, a task
//! decodes scancode set 1. For the self-test the kernel types on its own
//! keyboard through the controller's "write keyboard output buffer"
//! command (0xD2): the byte arrives exactly like a key press, as a real
//! IRQ 1 that the handler below reads from port 0x60.

use kasync::IrqQueue;
use kasync::sync::Signal;

use crate::cpu::{inb, outb};
use crate::pic::end_of_interrupt;

const DATA: u16 = 0x60;
const STATUS_COMMAND: u16 = 0x64;

/// Scancodes from the keyboard interrupt to the decoding task.
pub static SCANCODES: IrqQueue<u8, 64> = IrqQueue::new();

/// The latest scancode, set by the interrupt (a newer one replaces it).
pub static LATEST: Signal<u8> = Signal::new();

/// IRQ 1: read the scancode, queue it (a full queue drops and counts it),
/// signal it as the latest, acknowledge. Lock-free, allocation-free,
/// cannot block.
#[unsafe(no_mangle)]
extern "C" fn keyboard_interrupt() {
    let scancode = inb(DATA);
    let _ = SCANCODES.push(scancode);
    LATEST.signal(scancode);
    end_of_interrupt();
}

fn wait_writable() {
    while inb(STATUS_COMMAND) & 0x02 != 0 {}
}

fn drain_output() {
    while inb(STATUS_COMMAND) & 0x01 != 0 {
        let _ = inb(DATA);
    }
}

/// Makes sure the controller raises IRQ 1 for keyboard data. Call with
/// interrupts disabled.
pub fn init() {
    drain_output();
    wait_writable();
    outb(STATUS_COMMAND, 0x20); // read the configuration byte
    while inb(STATUS_COMMAND) & 0x01 == 0 {}
    let config = inb(DATA);
    wait_writable();
    outb(STATUS_COMMAND, 0x60); // write it back with IRQ 1 on
    wait_writable();
    outb(DATA, config | 0x01);
    drain_output();
}

/// Delivers `scancode` as if the keyboard sent it, once the interrupt
/// handler has read the one before (a byte still in the output buffer
/// would be overwritten — timer interrupts that arrive in bursts, as under
/// nested KVM, make the typing's sleeps no guarantee). Task context, with
/// interrupts enabled.
pub fn type_scancode(scancode: u8) {
    while inb(STATUS_COMMAND) & 0x01 != 0 {
        core::hint::spin_loop();
    }
    wait_writable();
    outb(STATUS_COMMAND, 0xD2);
    wait_writable();
    outb(DATA, scancode);
}

/// Scancode set 1: the make codes of the keys the self-test types.
pub const KEYS: [(char, u8); 13] = [
    ('a', 0x1E),
    ('c', 0x2E),
    ('k', 0x25),
    ('n', 0x31),
    ('s', 0x1F),
    ('y', 0x15),
    ('e', 0x12),
    ('l', 0x26),
    ('r', 0x13),
    ('t', 0x14),
    ('u', 0x16),
    (' ', 0x39),
    ('\n', 0x1C),
];

/// The make code of `key`.
pub fn make_code(key: char) -> Option<u8> {
    KEYS.iter().find(|(k, _)| *k == key).map(|&(_, code)| code)
}

/// The key a make code stands for; `None` for break codes (key releases)
/// and keys outside the table.
pub fn decode(scancode: u8) -> Option<char> {
    KEYS.iter()
        .find(|(_, code)| *code == scancode)
        .map(|&(k, _)| k)
}
