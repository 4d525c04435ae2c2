//! The bits of a task slot's state word.
//!
//! One `AtomicU32` per slot holds everything that more than one context
//! decides on. The low byte is flags, the upper 24 bits a generation that
//! changes every time the slot is freed, so a waker of a finished task does
//! not touch the slot's next occupant.
//!
//! Six flags are *references*: while any of them is set the slot belongs to
//! somebody and cannot be reused. Whoever clears the last one frees the slot.

/// A spawner has claimed the slot and is writing the future into it.
pub(crate) const CLAIMED: u32 = 1 << 0;
/// The future is stored and has not finished: the task can be polled and
/// woken. Only the run loop clears it, so while it is set the storage
/// belongs to the run loop (which is what lets a poll go without a
/// `RUNNING` flag of its own).
pub(crate) const ALIVE: u32 = 1 << 1;
/// The run loop is finishing the task: it keeps the slot until the
/// `JoinHandle` has been woken.
pub(crate) const RUNNING: u32 = 1 << 2;
/// A `JoinHandle` refers to the slot.
pub(crate) const HANDLE: u32 = 1 << 3;
/// The output is stored and waits for the `JoinHandle` to take it.
pub(crate) const OUTPUT: u32 = 1 << 4;
/// `JoinHandle::abort` was called: the run loop drops the future.
pub(crate) const ABORT: u32 = 1 << 5;
/// The task panicked while being polled (its future was dropped).
pub(crate) const PANICKED: u32 = 1 << 6;

/// Flags that keep the slot occupied.
pub(crate) const REFS: u32 = CLAIMED | ALIVE | RUNNING | HANDLE | OUTPUT;

const GEN_SHIFT: u32 = 8;
const FLAGS: u32 = (1 << GEN_SHIFT) - 1;

/// How many low generation bits a waker carries next to the header pointer;
/// it equals log2 of the slot alignment (64).
pub(crate) const TAG_BITS: u32 = 6;
/// Mask of the generation tag carried by a waker.
pub(crate) const TAG_MASK: usize = (1 << TAG_BITS) - 1;

/// The generation tag of a state word (what a waker carries).
#[inline]
pub(crate) const fn tag(state: u32) -> usize {
    (state >> GEN_SHIFT) as usize & TAG_MASK
}

/// The state of a free slot after `state`: all flags clear, next generation.
#[inline]
pub(crate) const fn freed(state: u32) -> u32 {
    ((state >> GEN_SHIFT).wrapping_add(1)) << GEN_SHIFT
}

/// `true` when no reference holds the slot.
#[inline]
pub(crate) const fn is_free(state: u32) -> bool {
    state & REFS == 0
}

/// The generation part of a state word (flags cleared).
#[inline]
pub(crate) const fn generation(state: u32) -> u32 {
    state & !FLAGS
}
