//! The interrupt descriptor table: entry stubs that save the caller-saved
//! registers and call plain `extern "C"` Rust handlers (no unstable
//! interrupt ABI needed), and a handler for every CPU exception that
//! reports it and fails the run.

use core::cell::UnsafeCell;
use core::mem::size_of;

/// One 16-byte gate descriptor.
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const MISSING: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        attributes: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A present ring-0 interrupt gate (interrupts stay off inside) to the
    /// handler at `addr` in the boot code segment.
    fn interrupt(addr: u64) -> Gate {
        Gate {
            offset_low: addr as u16,
            selector: 0x08,
            ist: 0,
            attributes: 0x8E,
            offset_mid: (addr >> 16) as u16,
            offset_high: (addr >> 32) as u32,
            reserved: 0,
        }
    }
}

struct Table(UnsafeCell<[Gate; 256]>);

// SAFETY: written only by `init`, before interrupts are enabled, on the
// only CPU; read by the CPU afterwards.
unsafe impl Sync for Table {}

static IDT: Table = Table(UnsafeCell::new([Gate::MISSING; 256]));

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// First vector of the remapped 8259 PIC (IRQ 0 = timer).
pub const IRQ_BASE: usize = 32;

unsafe extern "C" {
    fn irq_timer_entry();
    fn irq_keyboard_entry();
    fn irq_disk_entry();
    fn fault_entries();
}

/// Bytes between two generated fault entry stubs (see the assembly).
const FAULT_STUB_SIZE: usize = 16;

/// Fills and loads the IDT. Call once, with interrupts disabled.
pub fn init() {
    let table = IDT.0.get();
    let faults = fault_entries as *const () as u64;
    for vector in 0..32 {
        // The assembly below lays the fault stubs out at fixed strides.
        let stub = faults + (vector * FAULT_STUB_SIZE) as u64;
        // SAFETY: single CPU, interrupts off: nobody else touches the table.
        unsafe { (*table)[vector] = Gate::interrupt(stub) };
    }
    // SAFETY: as above.
    unsafe {
        (*table)[IRQ_BASE] = Gate::interrupt(irq_timer_entry as *const () as u64);
        (*table)[IRQ_BASE + 1] = Gate::interrupt(irq_keyboard_entry as *const () as u64);
    }
    let pointer = Pointer {
        limit: (size_of::<[Gate; 256]>() - 1) as u16,
        base: table as u64,
    };
    // SAFETY: the table is a static that lives forever and is fully
    // initialised with valid (or not-present) gates.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags))
    };
}

/// The entry stub of the disk's interrupt (its line is known only once the
/// device is found: see [`set_irq`]).
pub fn disk_entry() -> u64 {
    irq_disk_entry as *const () as u64
}

/// Routes IRQ `line` (0–15) of the 8259s to the entry stub at `entry`.
/// Call with interrupts disabled.
pub fn set_irq(line: u8, entry: u64) {
    let table = IDT.0.get();
    // SAFETY: single CPU, interrupts off: nobody else touches the table,
    // and the CPU reads a gate only when that vector fires.
    unsafe { (*table)[IRQ_BASE + usize::from(line & 15)] = Gate::interrupt(entry) };
}

core::arch::global_asm!(
    r#"
.section .text
.macro IRQ_ENTRY name, handler
.global \name
\name:
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    cld
    call \handler
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    iretq
.endm

IRQ_ENTRY irq_timer_entry, timer_interrupt
IRQ_ENTRY irq_keyboard_entry, keyboard_interrupt
IRQ_ENTRY irq_disk_entry, disk_interrupt
"#
);

// One 16-byte stub per exception vector: pass the vector, align the stack,
// report (never returns).
core::arch::global_asm!(
    r#"
.section .text
.global fault_entries
.balign 16
fault_entries:
.set fault_vector, 0
.rept 32
    .balign 16
    movl $fault_vector, %edi
    andq $-16, %rsp
    call cpu_fault
    .set fault_vector, fault_vector + 1
.endr
"#,
    options(att_syntax)
);

/// Every CPU exception ends the run: report it and fail.
#[unsafe(no_mangle)]
extern "C" fn cpu_fault(vector: u64) -> ! {
    crate::println!("FAIL: CPU exception {vector}");
    crate::exit::exit(crate::exit::Status::Failure)
}
