//! The few x86 instructions the kernel needs.

use core::arch::asm;

/// Writes `value` to I/O port `port`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects; every port the kernel uses
    // belongs to a device it owns (PIC, PIT, PS/2, COM1, debug exit).
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads a byte from I/O port `port`.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes `value` to I/O port `port`, ordered with memory accesses (see
/// `outw`).
pub fn outb_ordered(port: u16, value: u8) {
    // SAFETY: port I/O to a device the kernel found and owns.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nostack, preserves_flags)) };
}

/// Reads a byte from I/O port `port`, ordered with memory accesses.
pub fn inb_ordered(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb_ordered`.
    unsafe { asm!("in al, dx", out("al") value, in("dx") port, options(nostack, preserves_flags)) };
    value
}

/// Writes `value` to the 16-bit I/O port `port`. Without `nomem`, unlike
/// `outb`: the wider accesses reach the PCI and virtio devices, which read
/// memory the kernel wrote (a queue notification must come after the
/// ring's writes), so the compiler may not move memory accesses across
/// them.
pub fn outw(port: u16, value: u16) {
    // SAFETY: port I/O to devices the kernel found and owns (PCI
    // configuration, the virtio device's register block).
    unsafe { asm!("out dx, ax", in("dx") port, in("ax") value, options(nostack, preserves_flags)) };
}

/// Reads 16 bits from I/O port `port`.
pub fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: as for `outw`.
    unsafe { asm!("in ax, dx", out("ax") value, in("dx") port, options(nostack, preserves_flags)) };
    value
}

/// Writes `value` to the 32-bit I/O port `port`.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outw`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, preserves_flags))
    };
}

/// Reads 32 bits from I/O port `port`.
pub fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as for `outw`.
    unsafe {
        asm!("in eax, dx", out("eax") value, in("dx") port, options(nostack, preserves_flags))
    };
    value
}

/// Disables interrupts.
pub fn disable_interrupts() {
    // SAFETY: masking interrupts is always sound; the `nomem`-less form
    // keeps the compiler from moving memory accesses across it.
    unsafe { asm!("cli", options(nostack)) };
}

/// Enables interrupts.
pub fn enable_interrupts() {
    // SAFETY: the IDT is loaded before the first call (see `kmain`).
    unsafe { asm!("sti", options(nostack)) };
}

/// Enables interrupts and halts until the next one, atomically: `sti`
/// takes effect after the following instruction, so an interrupt that is
/// already pending ends the `hlt` instead of slipping in before it.
pub fn enable_interrupts_and_halt() {
    // SAFETY: as for `enable_interrupts`.
    unsafe { asm!("sti", "hlt", options(nostack)) };
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    disable_interrupts();
    loop {
        // SAFETY: halting has no memory effects.
        unsafe { asm!("hlt", options(nomem, nostack)) };
    }
}
