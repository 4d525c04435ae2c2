//! The high-priority interrupt: an NVIC line no device drives (31), raised
//! by software from inside the UART's receive interrupt. With a higher
//! priority than the UART's it preempts that handler at once — a nested
//! interrupt, really taken by the NVIC — and hands an event to a task
//! through a [`kasync::sync::Channel`].

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::asm;
use cortex_m::peripheral::NVIC;
use kasync::sync::Channel;

use crate::vectors::Irq;

/// Events from this interrupt to the kick task: its sequence number.
pub static EVENTS: Channel<u32, 4> = Channel::new();
/// Times this interrupt ran.
pub static RAN: AtomicU32 = AtomicU32::new(0);
/// Times it ran while the UART's receive interrupt was active beneath it.
pub static NESTED: AtomicU32 = AtomicU32::new(0);
/// Events [`EVENTS`] had no room for.
pub static DROPPED: AtomicU32 = AtomicU32::new(0);
/// Times [`raise`] found that the handler had already run when it returned.
pub static AT_ONCE: AtomicU32 = AtomicU32::new(0);

/// Pends the interrupt and lets it be taken before returning (the barriers
/// make the pending write and the exception happen before the next
/// instruction), so a caller of lower priority is preempted right here.
/// Counts in [`AT_ONCE`] whether the handler did run before this returned.
pub fn raise() {
    let before = RAN.load(Ordering::Relaxed);
    NVIC::pend(Irq::Kick);
    asm::dsb();
    asm::isb();
    if RAN.load(Ordering::Relaxed) != before {
        AT_ONCE.fetch_add(1, Ordering::Relaxed);
    }
}

/// The handler (NVIC line 31, the highest priority here).
pub extern "C" fn interrupt() {
    let seq = RAN.fetch_add(1, Ordering::Relaxed) + 1;
    if NVIC::is_active(Irq::Uart0Rx) {
        NESTED.fetch_add(1, Ordering::Relaxed);
    }
    if EVENTS.try_send(seq).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}
