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

/// One place. `stamp == position` means free for the push at `position`;
/// `stamp == position + 1` means it holds that push's value.
struct Cell<T> {
    stamp: AtomicUsize,
    value: Racy<MaybeUninit<T>>,
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
            let cells = {
                let mut cells = [const { Cell { stamp: AtomicUsize::new(0), value: Racy::new(MaybeUninit::uninit()) } }; N];
                let mut i = 0;
                while i < N {
                    cells[i].stamp = AtomicUsize::new(i);
                    i += 1;
                }
                cells
            };
            #[cfg(loom)]
            let cells = core::array::from_fn(|i| Cell { stamp: AtomicUsize::new(i), value: Racy::new(MaybeUninit::uninit()) });
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
            let cell = &self.cells[pos & (N - 1)];
            let stamp = cell.stamp.load(Ordering::Acquire);
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
                        cell.stamp.store(pos.wrapping_add(1), Ordering::Release);
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
            let cell = &self.cells[pos & (N - 1)];
            let stamp = cell.stamp.load(Ordering::Acquire);
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
                        cell.stamp.store(pos.wrapping_add(N), Ordering::Release);
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

    /// Values pushed and not yet popped (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(N)
    }
}

impl<T, const N: usize> Drop for Ring<T, N> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}
