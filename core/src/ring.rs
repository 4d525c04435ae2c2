//! The bounded lock-free ring under [`IrqQueue`](crate::IrqQueue) and
//! [`Channel`](crate::sync::Channel): any number of contexts push and pop
//! at once — interrupt handlers included — without locks, spinning on
//! each other or allocation (Dmitry Vyukov's bounded MPMC queue).

use core::mem::MaybeUninit;

use crate::atomics::{AtomicUsize, Ordering, Racy};

/// `N` places for values in flight. `N` is a power of two and at least 2,
/// checked at compile time: a place's stamp says "free for the push at
/// `pos`" or "full with the push at `pos`" by its distance from `pos`, and
/// with one place "full at `pos`" and "free for `pos + 1`" would be the same
/// stamp (a second push would overwrite the first, and a push and a pop
/// could touch one value at once).
pub(crate) struct Ring<T, const N: usize> {
    /// Position of the next value to pop.
    head: AtomicUsize,
    /// Position of the next place to push into.
    tail: AtomicUsize,
    cells: [Cell<T>; N],
}

/// One place. Its stamp `== position` means free for the push at
/// `position`; `== position + 1` means it holds that push's value. Stored
/// less the place's index, so a new ring's stamps (each its index) are all
/// zero: an array of one constant, which const evaluation builds at any
/// size (a loop setting each would hit its step limit at a million places).
struct Cell<T> {
    stored_stamp: AtomicUsize,
    value: Racy<MaybeUninit<T>>,
}

impl<T> Cell<T> {
    /// The stamp of this place, the ring's place `index`.
    fn stamp(&self, index: usize, order: Ordering) -> usize {
        self.stored_stamp.load(order).wrapping_add(index)
    }

    /// Sets the stamp of this place, the ring's place `index`.
    fn set_stamp(&self, index: usize, stamp: usize, order: Ordering) {
        self.stored_stamp.store(stamp.wrapping_sub(index), order);
    }
}

// SAFETY: a value is written by the one pusher that claimed its place and
// read by the one popper that claimed it; the stamps hand it over with
// Release/Acquire. Values cross contexts, hence `T: Send`.
unsafe impl<T: Send, const N: usize> Sync for Ring<T, N> {}
// SAFETY: as above; the ring owns its values.
unsafe impl<T: Send, const N: usize> Send for Ring<T, N> {}

impl<T, const N: usize> Ring<T, N> {
    crate::atomics::const_fn! {
        /// An empty ring.
        pub(crate) fn new() -> Self {
            const { assert!(N >= 2 && N.is_power_of_two(), "the capacity N must be a power of two and at least 2") };
            #[cfg(not(loom))]
            let cells = [const { Cell { stored_stamp: AtomicUsize::new(0), value: Racy::new(MaybeUninit::uninit()) } }; N];
            #[cfg(loom)]
            let cells = core::array::from_fn(|_| Cell { stored_stamp: AtomicUsize::new(0), value: Racy::new(MaybeUninit::uninit()) });
            Self {
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                cells,
            }
        }
    }

    /// Pushes `value`, or hands it back when every place is taken (also
    /// when the oldest is still being popped by an interrupted context).
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let index = pos & (N - 1);
            let cell = &self.cells[index];
            let stamp = cell.stamp(index, Ordering::Acquire);
            let lag = stamp.wrapping_sub(pos) as isize;
            if lag == 0 {
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the exchange gave this context the
                        // free place at `pos`; nobody reads it before the
                        // stamp below says it is full.
                        cell.value.with_mut(|v| unsafe { (*v).write(value) });
                        cell.set_stamp(index, pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(actual) => pos = actual,
                }
            } else if lag < 0 {
                // The place still holds (or is handing out) the value from
                // one lap ago: full.
                return Err(value);
            } else {
                // Another pusher claimed this place meanwhile.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the oldest value if one is there. A push still writing (its
    /// context was interrupted) is not there yet.
    pub(crate) fn pop(&self) -> Option<T> {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let index = pos & (N - 1);
            let cell = &self.cells[index];
            let stamp = cell.stamp(index, Ordering::Acquire);
            let lag = stamp.wrapping_sub(pos.wrapping_add(1)) as isize;
            if lag == 0 {
                match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp says the place holds the value
                        // pushed at `pos` (Acquire made it visible), and
                        // winning the exchange made it ours alone.
                        let value = cell.value.with_mut(|v| unsafe { (*v).assume_init_read() });
                        cell.set_stamp(index, pos.wrapping_add(N), Ordering::Release);
                        return Some(value);
                    }
                    Err(actual) => pos = actual,
                }
            } else if lag < 0 {
                // Empty, or the push at `pos` is still writing.
                return None;
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Values pushed and not yet popped: the tail read between two equal
    /// reads of the head, so both are of one moment (retried a bounded
    /// number of times while pops race; then the last pair, which can be
    /// off by what moved meanwhile but is never above `N`).
    pub(crate) fn len(&self) -> usize {
        let mut head = self.head.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Acquire);
        for _ in 0..64 {
            let again = self.head.load(Ordering::Acquire);
            if again == head {
                break;
            }
            head = again;
            tail = self.tail.load(Ordering::Acquire);
        }
        // A tail read behind the head (a pop this context saw before the
        // push it took) is an emptied ring, never a full one.
        match tail.wrapping_sub(head) {
            len if len <= N => len,
            _ => 0,
        }
    }
}

impl<T, const N: usize> Drop for Ring<T, N> {
    fn drop(&mut self) {
        // Every value, also when one's `Drop` panics.
        crate::unwind::each_even_if_one_panics(core::iter::from_fn(|| self.pop()), drop);
    }
}
