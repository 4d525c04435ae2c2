//! Leaving QEMU with a status, through Arm semihosting (`bkpt 0xab`; QEMU
//! runs with `-semihosting-config enable=on`): the exit status is 0 for
//! "application exit", 1 for any other reason.

use core::arch::asm;

const SYS_EXIT: u32 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;
const ADP_STOPPED_RUN_TIME_ERROR: u32 = 0x2_0023;

/// Ends the QEMU run: status 0 on `success`, 1 otherwise. Without a
/// debugger or semihosting host the `bkpt` faults; then it loops.
pub fn exit(success: bool) -> ! {
    let reason = if success {
        ADP_STOPPED_APPLICATION_EXIT
    } else {
        ADP_STOPPED_RUN_TIME_ERROR
    };
    loop {
        // SAFETY: the semihosting call reads r0 (operation) and r1 (on
        // 32-bit Arm, SYS_EXIT's reason itself, not a pointer), may write
        // r0, and touches no memory of ours.
        unsafe {
            asm!("bkpt 0xab", inout("r0") SYS_EXIT => _, in("r1") reason, options(nostack));
        }
    }
}
