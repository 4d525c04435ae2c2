//! Time from SysTick: one tick per millisecond, counted by the SysTick
//! exception in two 32-bit halves (a Cortex-M4 has no 64-bit atomics).
//!
//! The count starts 100 ms short of the low half's wrap, so every run
//! crosses it: the timers are checked against a 64-bit clock whose 32-bit
//! counter wrapped under them.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use kasync::time::Clock;

/// Core clock of the mps2 boards (SysTick counts it).
const CORE_HZ: u32 = 25_000_000;
/// Ticks per second.
pub const TICK_HZ: u32 = 1_000;
/// Where the count starts: the low half wraps after this many ticks + 1.
pub const START: u32 = u32::MAX - 100;

/// A 64-bit tick count kept as two 32-bit halves.
///
/// Read it ([`Clock::now`]) from thread mode or from handlers that cannot
/// preempt SysTick (priority equal or lower): a read that preempts the
/// tick between its two stores would see the new high half with the old
/// low one — 2^32 ticks ahead — and nothing retries it. Here only the run
/// loop reads it.
pub struct SysTicks {
    high: AtomicU32,
    low: AtomicU32,
}

/// The firmware's clock.
pub static CLOCK: SysTicks = SysTicks {
    high: AtomicU32::new(0),
    low: AtomicU32::new(START),
};

impl SysTicks {
    /// One tick; called by the SysTick exception only (the one writer).
    pub fn tick(&self) {
        let low = self.low.load(Ordering::Relaxed).wrapping_add(1);
        if low == 0 {
            // A reader this tick preempted (the only kind, see above)
            // finds the high half changed under it and reads again.
            self.high.fetch_add(1, Ordering::Release);
        }
        self.low.store(low, Ordering::Release);
    }
}

impl Clock for SysTicks {
    fn now(&self) -> u64 {
        loop {
            let high = self.high.load(Ordering::Acquire);
            let low = self.low.load(Ordering::Acquire);
            // A tick that wrapped the low half between the two loads
            // changed the high half: read again.
            if self.high.load(Ordering::Acquire) == high {
                return (u64::from(high) << 32) | u64::from(low);
            }
        }
    }

    fn ticks_per_second(&self) -> u64 {
        u64::from(TICK_HZ)
    }
}

/// Starts SysTick at [`TICK_HZ`] from the core clock, with its interrupt.
pub fn start(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}
