//! [`IrqQueue`]: hand data from interrupt handlers to async tasks.

use core::cell::UnsafeCell;
use core::fmt;
use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::stream::Stream;

use crate::sync::{AtomicUsize, Ordering, WakerSlot};

/// A bounded, lock-free, allocation-free queue of `N` values (`N` a power of
/// two) that interrupt handlers push into and tasks receive from.
///
/// This is the scancode queue of a hobby kernel made generic:
///
/// * [`push`](IrqQueue::push) may run in an interrupt handler, nested inside
///   another `push` or inside the consumer: it never blocks, never spins on
///   another context, never allocates and never panics. When the queue is
///   full the value is handed back and counted in
///   [`dropped`](IrqQueue::dropped).
/// * A task receives with [`recv`](IrqQueue::recv) or as a
///   `Stream` via
///   [`stream`](IrqQueue::stream). A value whose push is still in progress
///   (its producer was interrupted) is simply not there yet: the consumer
///   returns `Pending` and is woken when that push completes — it never
///   spins.
///
/// Values are received in the order their pushes claimed a place. The queue
/// wakes one consumer task (the last to wait); several tasks may receive,
/// but only one is woken per push.
///
/// # Example: a keyboard interrupt
///
/// [`IrqQueue::new`] is a `const fn`, so the queue is a plain `static`: no
/// lazy initialisation, nothing for the handler to check.
///
/// ```
/// use kasync::IrqQueue;
///
/// static SCANCODES: IrqQueue<u8, 64> = IrqQueue::new();
///
/// // The interrupt handler: read the port, push, done.
/// fn keyboard_interrupt(scancode: u8) {
///     // A full queue drops the key and counts it; never block in a handler.
///     let _ = SCANCODES.push(scancode);
///     // (acknowledge the interrupt controller here)
/// }
///
/// // The task: decode keys as they come.
/// async fn print_keypresses() {
///     loop {
///         let scancode = SCANCODES.recv().await;
///         // decode and print `scancode`
/// #       if scancode == 0x1c { break }
///     }
/// }
/// # keyboard_interrupt(0x1e);
/// # keyboard_interrupt(0x1c);
/// # futures_util::FutureExt::now_or_never(print_keypresses()).unwrap();
/// # assert_eq!(SCANCODES.dropped(), 0);
/// ```
pub struct IrqQueue<T, const N: usize> {
    /// Position of the next value to receive.
    head: AtomicUsize,
    /// Position of the next place to push into.
    tail: AtomicUsize,
    dropped: AtomicUsize,
    cells: [Cell<T>; N],
    consumer: WakerSlot,
}

/// One place in the ring. `stamp == position` means free for the push at
/// `position`; `stamp == position + 1` means it holds that push's value.
struct Cell<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: a value is written by the one producer that claimed its place and
// read by the one consumer that claimed it; the stamps hand it over with
// Release/Acquire. Values cross contexts, hence `T: Send`.
unsafe impl<T: Send, const N: usize> Sync for IrqQueue<T, N> {}
// SAFETY: as above; the queue owns its values.
unsafe impl<T: Send, const N: usize> Send for IrqQueue<T, N> {}

impl<T, const N: usize> IrqQueue<T, N> {
    crate::sync::const_fn! {
        /// An empty queue.
        pub fn new() -> Self {
            const { assert!(N.is_power_of_two(), "IrqQueue capacity N must be a power of two") };
            #[cfg(not(loom))]
            let cells = {
                let mut cells = [const { Cell { stamp: AtomicUsize::new(0), value: UnsafeCell::new(MaybeUninit::uninit()) } }; N];
                let mut i = 0;
                while i < N {
                    cells[i].stamp = AtomicUsize::new(i);
                    i += 1;
                }
                cells
            };
            #[cfg(loom)]
            let cells = core::array::from_fn(|i| Cell { stamp: AtomicUsize::new(i), value: UnsafeCell::new(MaybeUninit::uninit()) });
            Self {
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                dropped: AtomicUsize::new(0),
                cells,
                consumer: WakerSlot::new(),
            }
        }
    }

    /// Capacity of the queue.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Pushes `value` and wakes the consumer. Safe in interrupt handlers:
    /// lock-free, no allocation, no panic. When the queue is full, returns
    /// `Err(value)` and counts it in [`dropped`](Self::dropped).
    pub fn push(&self, value: T) -> Result<(), T> {
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
                        unsafe { (*cell.value.get()).write(value) };
                        cell.stamp.store(pos.wrapping_add(1), Ordering::Release);
                        self.consumer.wake();
                        return Ok(());
                    }
                    Err(actual) => pos = actual,
                }
            } else if lag < 0 {
                // The place still holds (or is handing out) the value from
                // one lap ago: full.
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(value);
            } else {
                // Another producer claimed this place meanwhile.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the oldest value if one is ready. Never blocks.
    pub fn try_recv(&self) -> Option<T> {
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
                        let value = unsafe { (*cell.value.get()).assume_init_read() };
                        cell.stamp.store(pos.wrapping_add(N), Ordering::Release);
                        return Some(value);
                    }
                    Err(actual) => pos = actual,
                }
            } else if lag < 0 {
                // Empty, or the push at `pos` is still writing: it wakes us
                // when done.
                return None;
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Polls for a value, registering `cx`'s waker when there is none.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(value) = self.try_recv() {
            return Poll::Ready(value);
        }
        self.consumer.register(cx.waker());
        // A push between the first try and the registration woke nobody.
        match self.try_recv() {
            Some(value) => Poll::Ready(value),
            None => Poll::Pending,
        }
    }

    /// Waits for the next value.
    pub fn recv(&self) -> Recv<'_, T, N> {
        Recv { queue: self }
    }

    /// The queue as an endless [`Stream`] of values.
    pub fn stream(&self) -> IrqStream<'_, T, N> {
        IrqStream { queue: self }
    }

    /// How many values [`push`](Self::push) dropped because the queue was
    /// full.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Values pushed and not yet received (a snapshot).
    pub fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(N)
    }

    /// `true` when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T, const N: usize> Default for IrqQueue<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Drop for IrqQueue<T, N> {
    fn drop(&mut self) {
        while self.try_recv().is_some() {}
    }
}

impl<T, const N: usize> fmt::Debug for IrqQueue<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrqQueue")
            .field("capacity", &N)
            .field("len", &self.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// Future returned by [`IrqQueue::recv`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Recv<'a, T, const N: usize> {
    queue: &'a IrqQueue<T, N>,
}

impl<T, const N: usize> Future for Recv<'_, T, N> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.queue.poll_recv(cx)
    }
}

/// Stream returned by [`IrqQueue::stream`]; it never ends.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct IrqStream<'a, T, const N: usize> {
    queue: &'a IrqQueue<T, N>,
}

impl<T, const N: usize> Stream for IrqStream<'_, T, N> {
    type Item = T;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.queue.poll_recv(cx).map(Some)
    }
}
