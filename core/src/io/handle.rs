//! The handle tasks submit operations and start timers with.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

use super::op::{Multi, Op};
use super::reactor::Reactor;
use super::{Driver, Multishot, Operation};
use crate::storage;
use crate::time::{Clock, Interval, Sleep, Timeout, Timers};

/// What tasks use to submit operations and start timers on a pinned
/// [`Reactor`]. Cheap to copy.
pub struct Handle<'r, D: Driver, C: Clock, const M: usize, const K: usize> {
    reactor: Pin<&'r Reactor<D, C, M, K>>,
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> Clone for Handle<'_, D, C, M, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> Copy for Handle<'_, D, C, M, K> {}

impl<'r, D: Driver, C: Clock, const M: usize, const K: usize> Handle<'r, D, C, M, K> {
    pub(crate) fn new(reactor: Pin<&'r Reactor<D, C, M, K>>) -> Self {
        Self { reactor }
    }

    /// Submits `op`; the future resolves to its [`Operation::Output`]
    /// (typically the result together with the buffers).
    ///
    /// Nothing happens until the future is polled. Dropping the future
    /// after that never frees memory the backend may still use (see
    /// [`Op`]).
    ///
    /// A [`MULTISHOT`](Operation::MULTISHOT) operation does not compile
    /// here; it goes through [`submit_multishot`](Self::submit_multishot):
    ///
    /// ```compile_fail,E0080
    /// use core::pin::pin;
    /// use kasync::io::{Completion, Operation, Reactor, sim::{SimDriver, SimOp}};
    /// use kasync::time::ManualClock;
    ///
    /// struct Many;
    /// // SAFETY: describes no memory.
    /// unsafe impl Operation<SimDriver<'_, 8>> for Many {
    ///     type Output = ();
    ///     const MULTISHOT: bool = true;
    ///     fn build(&mut self) -> SimOp {
    ///         SimOp::OpenMany { count: 3 }
    ///     }
    ///     fn complete(self, _: Completion) {}
    /// }
    ///
    /// let clock = ManualClock::new(1_000);
    /// let reactor = pin!(Reactor::<_, _, 8>::new(SimDriver::<8>::new(&clock), &clock));
    /// let op = reactor.as_ref().handle().submit(Many);
    /// ```
    pub fn submit<T: Operation<D>>(self, op: T) -> Op<'r, T, D, C, M, K> {
        const {
            assert!(
                !T::MULTISHOT,
                "a multishot operation is submitted with `submit_multishot`"
            )
        };
        self.op(op)
    }

    fn op<T: Operation<D>>(self, op: T) -> Op<'r, T, D, C, M, K> {
        const {
            assert!(
                storage::fits::<T, K>(),
                "operation larger than the reactor's slot size K (or over-aligned)"
            )
        };
        Op::new(self.reactor.get_ref(), op)
    }

    /// Submits a multishot operation; the stream yields an item per
    /// completion and ends after the last. Dropping the stream cancels the
    /// operation; completions nobody takes are released.
    pub fn submit_multishot<T: Multishot<D>>(self, op: T) -> Multi<'r, T, D, C, M, K> {
        const {
            assert!(
                T::MULTISHOT,
                "a `Multishot` operation sets `Operation::MULTISHOT` to `true`"
            );
            assert!(
                T::MAX_PENDING >= 1,
                "`Operation::MAX_PENDING` must let at least one completion wait"
            )
        };
        Multi::new(self.op(op))
    }

    /// The reactor.
    pub fn reactor(self) -> Pin<&'r Reactor<D, C, M, K>> {
        self.reactor
    }

    /// The timers.
    pub fn timers(self) -> &'r Timers<C> {
        self.reactor.get_ref().timers()
    }

    /// See [`Timers::sleep`].
    pub fn sleep(self, duration: Duration) -> Sleep<'r, C> {
        self.timers().sleep(duration)
    }

    /// See [`Timers::timeout`].
    pub fn timeout<F: Future>(self, duration: Duration, future: F) -> Timeout<'r, C, F> {
        self.timers().timeout(duration, future)
    }

    /// See [`Timers::interval`].
    pub fn interval(self, period: Duration) -> Interval<'r, C> {
        self.timers().interval(period)
    }
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> fmt::Debug for Handle<'_, D, C, M, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Handle").field(&*self.reactor).finish()
    }
}
