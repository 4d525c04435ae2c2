//! [`Signal`]: the latest value, for a task to take.

use core::fmt;
use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::spin::SpinLock;
use super::wait_queue::{Registered, WaitQueue, Waiter};
use crate::atomics::{AtomicUsize, Ordering, Racy};

/// Slot state: empty.
const FREE: usize = 0;
/// Slot state: a signaller is writing it.
const WRITING: usize = 1;
/// Slot state: a taker is reading it.
const READING: usize = 2;
/// Slot state: holds the value published as number `state >> 2`.
const FULL: usize = 3;

/// A value that is *replaced*, not queued: [`signal`](Signal::signal)
/// sets it — from any context, **interrupt handlers** included — and the
/// latest value wins; a task [`wait`](Signal::wait)s for it and takes it.
/// Useful for "the newest reading", "the last command", or a plain event
/// (`Signal<()>`) that fires once however often it was signalled.
///
/// Signalling never waits and never fails. The value it replaces is dropped
/// where `signal` runs (so in an interrupt handler, for an interrupt's
/// signal: use types whose drop is trivial there). Taking and waiting
/// happen in tasks. Any number of tasks may wait; each value goes to one
/// of them.
///
/// ```
/// use kasync::sync::Signal;
///
/// static TEMPERATURE: Signal<i32> = Signal::new();
///
/// fn sensor_interrupt(reading: i32) {
///     TEMPERATURE.signal(reading); // replaces a reading nobody took yet
/// }
///
/// async fn thermostat() -> i32 {
///     TEMPERATURE.wait().await // the newest reading
/// }
/// # sensor_interrupt(20);
/// # sensor_interrupt(21);
/// # assert_eq!(futures_util::FutureExt::now_or_never(thermostat()), Some(21));
/// # assert!(!TEMPERATURE.signaled());
/// ```
///
/// # How it stays lock-free
///
/// Two places hold values. A signaller claims a free place (or the one
/// holding the older value) with a compare-and-swap, writes, and then
/// publishes it with a number from a counter; a taker takes the place with
/// the highest number and drops older ones. If both places are busy — one
/// being read, one being written by a signaller that this one interrupted
/// — the interrupted signal is still in progress and will publish after
/// this one, so this value is superseded at once and dropped.
pub struct Signal<T> {
    slots: [Slot<T>; 2],
    /// Numbers published values.
    published: AtomicUsize,
    /// One taker at a time; also guards `last`.
    taking: SpinLock,
    /// The number of the value taken last (older ones are stale).
    last: Racy<Option<usize>>,
    waiters: WaitQueue,
}

struct Slot<T> {
    state: AtomicUsize,
    value: Racy<MaybeUninit<T>>,
}

// SAFETY: a place's value is touched only by the context that claimed the
// place (compare-and-swap to `WRITING`/`READING`), handed over with
// Release/Acquire; `last` only under `taking`. Values cross contexts.
unsafe impl<T: Send> Sync for Signal<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Signal<T> {}

impl<T> Signal<T> {
    crate::atomics::const_fn! {
        /// A signal with no value.
        pub fn new() -> Self {
            Self {
                slots: [
                    Slot { state: AtomicUsize::new(FREE), value: Racy::new(MaybeUninit::uninit()) },
                    Slot { state: AtomicUsize::new(FREE), value: Racy::new(MaybeUninit::uninit()) },
                ],
                published: AtomicUsize::new(0),
                taking: SpinLock::new(),
                last: Racy::new(None),
                waiters: WaitQueue::new(false, 0),
            }
        }
    }

    /// Sets the value, replacing one not taken yet, and wakes a waiting
    /// task. Any context: lock-free, never waits, never fails.
    pub fn signal(&self, value: T) {
        let Some((slot, old)) = self.claim() else {
            // Both places busy: a signal this one interrupted publishes
            // after it and wins (see the type's docs).
            drop(value);
            return;
        };
        // SAFETY: the place is ours (`WRITING`).
        let replaced = slot.value.with_mut(|v| unsafe {
            let replaced = if old & 3 == FULL {
                Some((*v).assume_init_read())
            } else {
                None
            };
            (*v).write(value);
            replaced
        });
        let number = self.published.fetch_add(1, Ordering::Relaxed);
        slot.state.store((number << 2) | FULL, Ordering::Release);
        self.waiters.grant(1, false);
        // Last, so a panicking drop leaves everything consistent.
        drop(replaced);
    }

    /// Claims a place to write: a free one, else the one holding the older
    /// value. Returns it and the state it had.
    fn claim(&self) -> Option<(&Slot<T>, usize)> {
        for slot in &self.slots {
            if slot
                .state
                .compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some((slot, FREE));
            }
        }
        loop {
            let states = [
                self.slots[0].state.load(Ordering::Relaxed),
                self.slots[1].state.load(Ordering::Relaxed),
            ];
            let full = |s: usize| s & 3 == FULL;
            let pick = match (full(states[0]), full(states[1])) {
                (true, true) => usize::from(newer(states[0] >> 2, states[1] >> 2)),
                (true, false) => 0,
                (false, true) => 1,
                (false, false) => {
                    // A place may have come free meanwhile.
                    if states.contains(&FREE) {
                        return self.claim_free();
                    }
                    return None;
                }
            };
            if self.slots[pick]
                .state
                .compare_exchange(states[pick], WRITING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some((&self.slots[pick], states[pick]));
            }
        }
    }

    fn claim_free(&self) -> Option<(&Slot<T>, usize)> {
        self.slots.iter().find_map(|slot| {
            slot.state
                .compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
                .then_some((slot, FREE))
        })
    }

    /// Takes the value if there is one (the latest; older ones are
    /// dropped). Task context.
    ///
    /// Older values are taken out under the taker's lock and dropped after
    /// it is released, *before* the newest is taken: a `Drop` may use this
    /// signal again, and if one panics, the newest value is still here.
    pub fn try_take(&self) -> Option<T> {
        loop {
            let mut older: [Option<T>; 2] = [None, None];
            {
                let _taking = self.taking.lock();
                match self.pick(&mut older) {
                    Pick::Taken(value) => return Some(value),
                    Pick::Nothing => return None,
                    Pick::Older => {}
                }
            }
            // Outside the lock: user code. Then look again.
            drop(older);
        }
    }

    /// Under `taking`: takes the newest value if nothing older is left,
    /// else moves the older values into `older` (to be dropped by the
    /// caller once the lock is released) and takes nothing.
    fn pick(&self, older: &mut [Option<T>; 2]) -> Pick<T> {
        // SAFETY: `last` is touched only under `taking`, which the caller
        // holds.
        let last = self.last.with_mut(|l| unsafe { *l });
        loop {
            let states = [
                self.slots[0].state.load(Ordering::Acquire),
                self.slots[1].state.load(Ordering::Acquire),
            ];
            let full = |i: usize| states[i] & 3 == FULL;
            let number = |i: usize| states[i] >> 2;
            // Stale: published before the last one taken. Older: a
            // published value older than the one in the other place.
            let stale = |i: usize| last.is_some_and(|last| !newer(number(i), last));
            let older_than_other = |i: usize| full(1 - i) && newer(number(1 - i), number(i));
            let mut found_older = false;
            for (i, slot) in older.iter_mut().enumerate() {
                if full(i) && (stale(i) || older_than_other(i)) {
                    *slot = self.take_out(i, states[i]);
                    found_older |= slot.is_some();
                }
            }
            if found_older {
                return Pick::Older;
            }
            let Some(i) = (0..2).find(|&i| full(i) && !stale(i) && !older_than_other(i)) else {
                return Pick::Nothing;
            };
            if let Some(value) = self.take_out(i, states[i]) {
                // SAFETY: under `taking`.
                self.last.with_mut(|l| unsafe { *l = Some(number(i)) });
                return Pick::Taken(value);
            }
            // Overwritten meanwhile: look again.
        }
    }

    /// Moves the value out of place `i` if it still has state `state`.
    fn take_out(&self, i: usize, state: usize) -> Option<T> {
        let slot = &self.slots[i];
        slot.state
            .compare_exchange(state, READING, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: the place is ours (`READING`) and holds a value.
        let value = slot.value.with_mut(|v| unsafe { (*v).assume_init_read() });
        slot.state.store(FREE, Ordering::Release);
        Some(value)
    }

    /// `true` if a value is waiting to be taken (a snapshot).
    pub fn signaled(&self) -> bool {
        self.slots
            .iter()
            .any(|slot| slot.state.load(Ordering::Acquire) & 3 == FULL)
    }

    /// Drops the value, if there is one. Task context.
    pub fn reset(&self) {
        drop(self.try_take());
    }

    /// Waits for a value and takes it.
    pub fn wait(&self) -> Wait<'_, T> {
        Wait {
            signal: self,
            waiter: Waiter::new(),
            got: None,
        }
    }
}

/// What [`Signal::pick`] did.
enum Pick<T> {
    /// Took the newest value.
    Taken(T),
    /// Took older values out (for the caller to drop); look again.
    Older,
    /// No value.
    Nothing,
}

/// `true` if published number `a` came after `b` (numbers wrap).
fn newer(a: usize, b: usize) -> bool {
    // Numbers are 2 bits short of a word: compare in that range.
    ((a.wrapping_sub(b) << 2) as isize) > 0
}

impl<T> Default for Signal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Signal<T> {
    fn drop(&mut self) {
        // Every value, also when one's `Drop` panics.
        let full = self
            .slots
            .iter_mut()
            .filter(|slot| slot.state.load(Ordering::Acquire) & 3 == FULL);
        crate::unwind::each_even_if_one_panics(full, |slot| {
            // SAFETY: a `FULL` place holds a value, visited once; `&mut self`.
            slot.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
        });
    }
}

impl<T> fmt::Debug for Signal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signaled", &self.signaled())
            .finish()
    }
}

/// Future of [`Signal::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'s, T> {
    signal: &'s Signal<T>,
    waiter: Waiter,
    /// A value taken while the waiter leaves the list (which may run user
    /// code: a waker's drop or wake); kept here if that panics, and
    /// returned by the next poll.
    got: Option<T>,
}

impl<T> Wait<'_, T> {
    fn leave(signal: &Signal<T>, waiter: Pin<&Waiter>) {
        if waiter.is_active() && signal.waiters.cancel(waiter) {
            signal.waiters.grant(1, false);
        }
    }
}

impl<T> Future for Wait<'_, T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: `waiter` is never moved out of the pinned future (it is
        // only used through `Pin<&Waiter>`); `got` is not pinned.
        let Wait {
            signal,
            waiter,
            got,
        } = unsafe { self.get_unchecked_mut() };
        let signal: &Signal<T> = signal;
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&*waiter) };
        if let Some(value) = got.take() {
            return Poll::Ready(value);
        }
        loop {
            if let Some(value) = signal.try_take() {
                *got = Some(value);
                Self::leave(signal, waiter);
                return Poll::Ready(got.take().expect("kept until here"));
            }
            if waiter.take_notified() {
                continue;
            }
            if signal.waiters.register(waiter, cx.waker(), 1) == Registered::Notified {
                continue;
            }
            if let Some(value) = signal.try_take() {
                *got = Some(value);
                Self::leave(signal, waiter);
                return Poll::Ready(got.take().expect("kept until here"));
            }
            return Poll::Pending;
        }
    }
}

impl<T> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        // SAFETY: pinned since its first poll (or never linked); last use.
        Self::leave(self.signal, unsafe { Pin::new_unchecked(&self.waiter) });
    }
}

impl<T> fmt::Debug for Wait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}
