//! Timers: `sleep`, `timeout` and `interval` on an allocation-free
//! hierarchical timer wheel, driven by a [`Clock`].
//!
//! [`Timers`] belongs to the run loop's context (it is `!Sync`): the run loop
//! moves it forward with [`Timers::advance`] and asks it how long it may
//! sleep with [`Timers::next_deadline`] (tickless idle). Interrupt handlers
//! never touch it — a kernel's timer interrupt only bumps the tick count the
//! [`Clock`] reads, and its `hlt` ends.
//!
//! Each [`Sleep`] carries its own wheel entry, linked in place while it
//! waits: no capacity limit, no allocation, O(1) to file and O(1) to remove
//! when the sleep is dropped.
//!
//! ```
//! use core::time::Duration;
//! use kasync::time::{ManualClock, Timers};
//!
//! let timers = Timers::new(ManualClock::new(1_000)); // 1 ms ticks
//! let mut sleep = core::pin::pin!(timers.sleep(Duration::from_millis(5)));
//! let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
//! assert!(sleep.as_mut().poll(&mut cx).is_pending());
//! assert_eq!(timers.next_deadline(), Some(5));
//!
//! timers.clock().advance(5);
//! assert_eq!(timers.advance(), 1); // the sleep fired
//! assert!(sleep.as_mut().poll(&mut cx).is_ready());
//! # use core::future::Future;
//! ```

mod wheel;

use core::cell::Cell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::list::Node;
use wheel::{Entry, TimerNode, Wheel};

/// A monotonic source of time in ticks of a fixed length.
///
/// A kernel counts timer interrupts (`now` reads the counter); a host reads
/// its monotonic clock. `now` is called from the run loop only.
pub trait Clock {
    /// The current time, in ticks since an arbitrary start. Never decreases.
    fn now(&self) -> u64;
    /// How many ticks make a second (the clock's resolution).
    fn ticks_per_second(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> u64 {
        (**self).now()
    }
    fn ticks_per_second(&self) -> u64 {
        (**self).ticks_per_second()
    }
}

/// A clock that moves only when told to — for tests, simulations, and as a
/// model of an interrupt-driven tick counter.
#[derive(Debug)]
pub struct ManualClock {
    now: Cell<u64>,
    hz: u64,
}

impl ManualClock {
    /// A clock at tick 0 with `ticks_per_second` resolution.
    pub const fn new(ticks_per_second: u64) -> Self {
        Self {
            now: Cell::new(0),
            hz: ticks_per_second,
        }
    }

    /// Moves the clock forward by `ticks`.
    pub fn advance(&self, ticks: u64) {
        self.now.set(self.now.get().saturating_add(ticks));
    }

    /// Sets the clock to `tick` (never backwards).
    pub fn set(&self, tick: u64) {
        self.now.set(self.now.get().max(tick));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now.get()
    }
    fn ticks_per_second(&self) -> u64 {
        self.hz
    }
}

/// `duration` in ticks of a `hz` clock, rounded up, saturating at
/// `u64::MAX` (a duration of ~584 years at 1 GHz, or any clock faster
/// than `u128` arithmetic can take).
pub(crate) fn ticks_for(duration: Duration, hz: u64) -> u64 {
    let ticks = duration
        .as_nanos()
        .checked_mul(u128::from(hz))
        .map_or(u128::MAX, |n| n.div_ceil(1_000_000_000));
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// The timer wheel plus its clock.
pub struct Timers<C: Clock> {
    clock: C,
    wheel: Wheel,
}

impl<C: Clock> Timers<C> {
    /// Timers reading `clock`.
    pub const fn new(clock: C) -> Self {
        Self {
            clock,
            wheel: Wheel::new(),
        }
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The clock's current tick.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// `duration` in ticks, rounded up (a sleep never ends early).
    /// Saturates at `u64::MAX` (for any clock rate and duration).
    pub fn ticks(&self, duration: Duration) -> u64 {
        ticks_for(duration, self.clock.ticks_per_second())
    }

    /// `ticks` as a duration.
    pub fn duration(&self, ticks: u64) -> Duration {
        let hz = u128::from(self.clock.ticks_per_second().max(1));
        let nanos = u128::from(ticks) * 1_000_000_000 / hz;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Fires every timer due by the clock's current tick; returns how many.
    /// The run loop calls this once per turn.
    pub fn advance(&self) -> usize {
        if self.wheel.is_empty() {
            return 0; // nothing to fire: spare the clock read
        }
        self.wheel.advance(self.clock.now())
    }

    /// The tick at which the next timer fires (or must be re-filed), if any
    /// timer is pending. A run loop may sleep until then.
    pub fn next_deadline(&self) -> Option<u64> {
        self.wheel.next_deadline()
    }

    /// How long the run loop may sleep before the next timer is due:
    /// `None` without pending timers, zero if one is due already.
    pub fn time_to_next(&self) -> Option<Duration> {
        let deadline = self.next_deadline()?;
        Some(self.duration(deadline.saturating_sub(self.now())))
    }

    /// Completes after `duration` (at least; rounded up to whole ticks).
    pub fn sleep(&self, duration: Duration) -> Sleep<'_, C> {
        self.sleep_until(self.now().saturating_add(self.ticks(duration)))
    }

    /// Completes once the clock reaches tick `deadline`.
    pub fn sleep_until(&self, deadline: u64) -> Sleep<'_, C> {
        Sleep {
            timers: self,
            deadline,
            node: Node::new(Entry::new()),
        }
    }

    /// Runs `future` for at most `duration`: `Ok(output)`, or
    /// `Err(Elapsed)` if the time ran out first.
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<'_, C, F> {
        Timeout {
            future,
            sleep: self.sleep(duration),
        }
    }

    /// Ticks every `period`, starting now. See [`Interval`].
    ///
    /// # Panics
    /// If `period` is shorter than one tick.
    pub fn interval(&self, period: Duration) -> Interval<'_, C> {
        let period = self.ticks(period);
        assert!(period > 0, "an interval period must be at least one tick");
        Interval {
            timers: self,
            next: self.now(),
            period,
        }
    }
}

impl<C: Clock> fmt::Debug for Timers<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("now", &self.now())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

/// Future of [`Timers::sleep`] and [`Timers::sleep_until`].
///
/// While pending it is filed in the wheel (it must stay pinned); dropping it
/// takes it out again.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep<'t, C: Clock> {
    timers: &'t Timers<C>,
    deadline: u64,
    node: TimerNode,
}

impl<'t, C: Clock> Sleep<'t, C> {
    /// The tick this sleep ends at.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// The timers it is filed with.
    pub fn timers(&self) -> &'t Timers<C> {
        self.timers
    }

    /// `true` once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.node.value.fired() || self.timers.now() >= self.deadline
    }

    /// Moves the deadline to tick `deadline` — later or earlier, also after
    /// the sleep completed (it then completes again at the new deadline).
    /// A sleep that a task is waiting on stays filed with that task's
    /// waker: the task is woken at the new deadline without polling it in
    /// between (or at once, if the new deadline has passed).
    ///
    /// ```
    /// use core::pin::pin;
    /// use core::time::Duration;
    /// use kasync::time::{ManualClock, Timers};
    ///
    /// let timers = Timers::new(ManualClock::new(1000)); // milliseconds
    /// let mut sleep = pin!(timers.sleep(Duration::from_millis(10)));
    /// sleep.as_mut().reset(timers.now() + 50);
    /// timers.clock().advance(20);
    /// assert!(!sleep.is_elapsed(), "20 ms passed, the deadline is at 50");
    /// timers.clock().advance(30);
    /// assert!(sleep.is_elapsed());
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: u64) {
        // SAFETY: only `deadline` is written through this reference; the
        // node stays where it is (it is unlinked and re-filed in place).
        let this = unsafe { self.get_unchecked_mut() };
        let waiting = this.node.is_linked();
        this.timers.wheel.remove(&this.node);
        this.node.value.rearm();
        this.deadline = deadline;
        if !waiting {
            return; // filed by the next poll
        }
        // SAFETY: `this.node` is pinned (we are), was just unlinked, and
        // `Drop` removes it before the memory can go.
        let filed = this.timers.now() < deadline
            && unsafe { this.timers.wheel.insert(&this.node, deadline) };
        if !filed {
            this.node.value.wake(); // due already: the next poll completes
        }
    }
}

impl<C: Clock> Future for Sleep<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Only shared access is needed: the entry is all `Cell`s. The node
        // stays where it is, which pinning guarantees.
        let this = self.into_ref().get_ref();
        if this.is_elapsed() {
            this.timers.wheel.remove(&this.node);
            return Poll::Ready(());
        }
        this.node.value.set_waker(cx.waker());
        if !this.node.is_linked() {
            // SAFETY: `this.node` is pinned (we are), not linked, and `Drop`
            // removes it before the memory can go.
            let filed = unsafe { this.timers.wheel.insert(&this.node, this.deadline) };
            if !filed {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

impl<C: Clock> Drop for Sleep<'_, C> {
    fn drop(&mut self) {
        self.timers.wheel.remove(&self.node);
    }
}

impl<C: Clock> fmt::Debug for Sleep<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// The error of a [`Timeout`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed before the operation completed")
    }
}

impl core::error::Error for Elapsed {}

/// Future of [`Timers::timeout`].
///
/// The inner future is polled first: if it completes in the same turn as the
/// deadline passes, its output wins.
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<'t, C: Clock, F> {
    future: F,
    sleep: Sleep<'t, C>,
}

impl<C: Clock, F> Timeout<'_, C, F> {
    /// The inner future, giving up on the deadline.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<C: Clock, F: Future> Future for Timeout<'_, C, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of both fields: neither is moved out
        // of a pinned `Timeout` (`into_inner` takes `self` by value, which
        // requires `Unpin` or an unpinned value), and `Timeout` has no
        // `Drop` impl of its own.
        let (future, sleep) = unsafe {
            let this = self.get_unchecked_mut();
            (
                Pin::new_unchecked(&mut this.future),
                Pin::new_unchecked(&mut this.sleep),
            )
        };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        sleep.poll(cx).map(|()| Err(Elapsed))
    }
}

/// Ticks at a fixed period: `interval.tick().await` completes at the start
/// tick, then every `period` after it. A tick that is late by a whole period
/// or more skips the missed ticks rather than firing them in a burst.
#[derive(Debug)]
pub struct Interval<'t, C: Clock> {
    timers: &'t Timers<C>,
    next: u64,
    period: u64,
}

impl<'t, C: Clock> Interval<'t, C> {
    /// Waits for the next tick.
    pub fn tick(&mut self) -> Sleep<'t, C> {
        let deadline = self.next;
        let now = self.timers.now();
        let mut next = deadline.saturating_add(self.period);
        if next <= now {
            let missed = (now - next) / self.period + 1;
            next = next.saturating_add(missed.saturating_mul(self.period));
        }
        self.next = next;
        self.timers.sleep_until(deadline)
    }

    /// The period, in ticks.
    pub fn period(&self) -> u64 {
        self.period
    }
}
