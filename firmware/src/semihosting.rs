//! Leaving QEMU with a status, through Arm semihosting (`bkpt 0xab`; QEMU
//! runs with `-semihosting-config enable=on`): `SYS_EXIT_EXTENDED` with
//! "application exit" and a code, which QEMU makes its exit status.

use core::arch::asm;

const SYS_EXIT_EXTENDED: u32 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;

/// The exit status of a failed self-test: QEMU's own errors exit with 1,
/// so `run.sh` can tell the two apart.
pub const FAILED: u32 = 3;

/// Ends the QEMU run with exit status `code`.
///
/// Without a semihosting host (a real board with no debugger attached) the
/// `bkpt` is a fault: the hard-fault handler calls this again and the core
/// locks up — the end of the run either way.
pub fn exit(code: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, code];
    loop {
        // SAFETY: the semihosting call reads r0 (the operation) and r1 (a
        // pointer to the two-word parameter block, alive on our stack for
        // the call), may write r0, and writes no memory of ours.
        unsafe {
            asm!("bkpt 0xab", inout("r0") SYS_EXIT_EXTENDED => _, in("r1") block.as_ptr(), options(nostack, readonly));
        }
    }
}
