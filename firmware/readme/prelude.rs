// What the README's firmware example leaves out; `run.sh` puts the README's
// block after this and builds the two for the board. Not part of the
// firmware itself.
#![no_std]
#![no_main]
#![allow(dead_code, unused_variables)]

#[path = "@FIRMWARE@/src/clock.rs"]
mod clock;

use clock::{CLOCK, SysTicks};

/// The reactor, which only the run loop touches.
struct RunLoopOnly(Reactor<NoIo<'static, Wfi>, &'static SysTicks, 1, 8>);

// SAFETY: one core, and only the run loop uses the reactor (as in the
// firmware's `main.rs`).
unsafe impl Sync for RunLoopOnly {}

fn read_data_register() -> u8 {
    0
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

