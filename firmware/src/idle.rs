//! Idling the core with `wfi`, race-free.
//!
//! The run loop parks when no task is ready. The check and the sleep must
//! be one step: an interrupt that wakes a task *after* the check but
//! *before* `wfi` would otherwise leave the core asleep with work ready
//! until some unrelated interrupt. On Cortex-M:
//!
//! 1. `cpsid i` (PRIMASK = 1): no interrupt handler runs from here on;
//!    interrupts that arrive stay pending in the NVIC.
//! 2. Check again whether any task is ready.
//! 3. `wfi`: the architecture ends (or skips) it when an interrupt is
//!    *pending* with enough priority to preempt were PRIMASK clear —
//!    PRIMASK itself does not stop the wake-up (ARMv7-M ARM, B1.5.19). An
//!    interrupt raised between 2 and 3 is pending, so `wfi` returns at once.
//! 4. `cpsie i`: the pending handlers run now, wake their tasks, and the
//!    run loop polls them.
//!
//! This is the Cortex-M form of x86's `cli; check; sti; hlt` (where `sti`
//! delays interrupts by one instruction so that `hlt` is reached).

use core::sync::atomic::{AtomicU32, Ordering};

use kasync::executor::{Idle, Platform};

/// The firmware's platform: one core, every wake-up comes from an interrupt
/// handler or from the run loop itself.
pub struct Wfi;

/// Times the core really slept in `wfi`.
pub static SLEEPS: AtomicU32 = AtomicU32::new(0);

impl Platform for Wfi {
    fn pend(&self) {
        // A wake from an interrupt handler: taking that interrupt already
        // ended `wfi` (or made it return at once). A wake from a task: the
        // run loop is awake. Nothing to signal on a single core.
    }

    fn park(&self, idle: &Idle<'_>) {
        cortex_m::interrupt::disable();
        if idle.is_idle() {
            SLEEPS.fetch_add(1, Ordering::Relaxed);
            cortex_m::asm::wfi();
        }
        // SAFETY: re-enables what `disable` above masked; the firmware
        // holds no critical section across `park` (it uses none).
        unsafe { cortex_m::interrupt::enable() };
    }
}
