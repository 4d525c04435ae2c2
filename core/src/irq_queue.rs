//! [`IrqQueue`]: hand data from interrupt handlers to async tasks.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::stream::Stream;

use crate::atomics::{AtomicUsize, Ordering, WakerSlot};
use crate::ring::Ring;

/// A bounded, lock-free, allocation-free queue of `N` values that interrupt
/// handlers push into and tasks receive from. `N` is a power of two and at
/// least 2; any other capacity is refused at compile time:
///
/// ```compile_fail
/// # use kasync::IrqQueue;
/// static ONE: IrqQueue<u8, 1> = IrqQueue::new(); // error: at least 2
/// ```
///
/// ```compile_fail
/// # use kasync::IrqQueue;
/// static THREE: IrqQueue<u8, 3> = IrqQueue::new(); // error: a power of two
/// ```
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
    ring: Ring<T, N>,
    dropped: AtomicUsize,
    consumer: WakerSlot,
}

impl<T, const N: usize> IrqQueue<T, N> {
    crate::atomics::const_fn! {
        /// An empty queue.
        pub fn new() -> Self {
            Self {
                ring: Ring::new(),
                dropped: AtomicUsize::new(0),
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
        match self.ring.push(value) {
            Ok(()) => {
                self.consumer.wake();
                Ok(())
            }
            Err(value) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Err(value)
            }
        }
    }

    /// Takes the oldest value if one is ready. Never blocks. (A value whose
    /// push is still in progress is not ready: that push wakes the
    /// consumer when done.)
    pub fn try_recv(&self) -> Option<T> {
        self.ring.pop()
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
        self.ring.len()
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
