//! Operations a backend finishes while they are pushed (a readiness
//! backend makes the call at once): the future completes in its first
//! poll, the completion is delivered once (never again by `reap`), the
//! slot is free for the next operation, and a backend that finishes some
//! inline and some later mixes both correctly.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use kasync::executor::{Drive, Idle};
use kasync::io::{Completion, Driver, OpId, Operation, Reactor};
use kasync::time::ManualClock;
use kasync_tests::wake::counting_waker;

/// A backend that finishes every operation whose value is even during its
/// push (result: the value), and the odd ones at the next reap.
#[derive(Default)]
struct HalfInline {
    /// Finished during the last push, not yet taken.
    inline: Option<(OpId, Completion)>,
    /// Finished, reported by the next reap.
    later: VecDeque<(OpId, Completion)>,
    /// Completions `reap` handed over, by id.
    reaped: Rc<Cell<usize>>,
}

// SAFETY: describes no memory; every accepted id is finished exactly once:
// inline (taken by `take_inline` or, if not taken, moved to `later` at the
// next call) or on `later`, which `reap` drains.
unsafe impl Driver for HalfInline {
    type Op = i32;

    fn push(&mut self, id: OpId, build: impl FnOnce() -> i32) -> bool {
        if let Some(untaken) = self.inline.take() {
            self.later.push_back(untaken);
        }
        let value = build();
        let completion = Completion::new(value);
        if value % 2 == 0 {
            self.inline = Some((id, completion));
        } else {
            self.later.push_back((id, completion));
        }
        true
    }

    fn push_cancel(&mut self, _id: OpId) -> bool {
        true
    }

    fn flush(&mut self) {}

    fn reap(&mut self, mut sink: impl FnMut(OpId, Completion)) {
        if let Some(untaken) = self.inline.take() {
            self.later.push_back(untaken);
        }
        while let Some((id, completion)) = self.later.pop_front() {
            self.reaped.set(self.reaped.get() + 1);
            sink(id, completion);
        }
    }

    fn park(&mut self, _timeout: Option<Duration>, _idle: &Idle<'_>) {}

    const COMPLETES_INLINE: bool = true;

    fn take_inline(&mut self, id: OpId) -> Option<Completion> {
        match self.inline {
            Some((finished, completion)) if finished == id => {
                self.inline = None;
                Some(completion)
            }
            _ => None,
        }
    }
}

/// An operation that asks for `value`; counts its drops.
struct Ask {
    value: i32,
    drops: Rc<Cell<usize>>,
}

impl Drop for Ask {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

// SAFETY: describes no memory.
unsafe impl Operation<HalfInline> for Ask {
    type Output = i32;
    fn build(&mut self) -> i32 {
        self.value
    }
    fn complete(self, completion: Completion) -> i32 {
        completion.result
    }
}

#[test]
fn an_operation_finished_during_its_push_completes_in_its_first_poll() {
    let clock = ManualClock::new(1_000);
    let reaped = Rc::new(Cell::new(0));
    let driver = HalfInline {
        reaped: reaped.clone(),
        ..HalfInline::default()
    };
    // Two slots: each operation must give its slot back for the next.
    let reactor = pin!(Reactor::<_, _, 2>::new(driver, &clock));
    let io = reactor.as_ref().handle();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let drops = Rc::new(Cell::new(0));
    let rounds = if cfg!(miri) { 20 } else { 1_000 };
    for value in 0..rounds {
        let mut op = pin!(io.submit(Ask {
            value,
            drops: drops.clone(),
        }));
        match op.as_mut().poll(&mut cx) {
            Poll::Ready(result) => {
                assert_eq!(value % 2, 0, "only even ones finish inline");
                assert_eq!(result, value);
            }
            Poll::Pending => {
                assert_eq!(value % 2, 1, "an even one was not finished at once");
                reactor.turn();
                assert_eq!(op.as_mut().poll(&mut cx), Poll::Ready(value));
            }
        }
    }
    assert_eq!(drops.get(), rounds as usize, "every operation dropped once");
    assert_eq!(
        reaped.get(),
        rounds as usize / 2,
        "the inline ones were never reported again"
    );
    assert_eq!(
        wakes.get(),
        rounds as usize / 2,
        "only the operations finished later were woken"
    );
}

#[test]
fn an_inline_completion_nobody_takes_is_reaped_like_any_other() {
    // The reactor asks only for the operation it just pushed: an odd one
    // (finished later) and an even one (finished inline) back to back.
    let clock = ManualClock::new(1_000);
    let reaped = Rc::new(Cell::new(0));
    let driver = HalfInline {
        reaped: reaped.clone(),
        ..HalfInline::default()
    };
    let reactor = pin!(Reactor::<_, _, 4>::new(driver, &clock));
    let io = reactor.as_ref().handle();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let drops = Rc::new(Cell::new(0));
    let mut odd = pin!(io.submit(Ask {
        value: 1,
        drops: drops.clone(),
    }));
    let mut even = pin!(io.submit(Ask {
        value: 2,
        drops: drops.clone(),
    }));
    assert!(odd.as_mut().poll(&mut cx).is_pending());
    assert_eq!(even.as_mut().poll(&mut cx), Poll::Ready(2));
    reactor.turn();
    assert_eq!(odd.as_mut().poll(&mut cx), Poll::Ready(1));
    assert_eq!(reaped.get(), 1);
    assert_eq!(drops.get(), 2);
}

/// Panics in `build` when `value` is negative.
struct Boom(i32);
// SAFETY: describes no memory.
unsafe impl Operation<HalfInline> for Boom {
    type Output = i32;
    fn build(&mut self) -> i32 {
        assert!(self.0 >= 0, "boom");
        self.0
    }
    fn complete(self, completion: Completion) -> i32 {
        completion.result
    }
}

fn setup() -> (Rc<Cell<usize>>, HalfInline) {
    let reaped = Rc::new(Cell::new(0));
    let driver = HalfInline {
        reaped: reaped.clone(),
        ..HalfInline::default()
    };
    (reaped, driver)
}

/// An operation that waited for a free slot and was offered one
/// completes inline when it gets it; the table ends empty.
#[test]
fn a_waiter_offered_a_slot_completes_inline() {
    let clock = ManualClock::new(1_000);
    let (reaped, driver) = setup();
    let reactor = pin!(Reactor::<_, _, 1>::new(driver, &clock));
    let io = reactor.as_ref().handle();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let drops = Rc::new(Cell::new(0));
    let mut a = pin!(io.submit(Ask {
        value: 1,
        drops: drops.clone()
    }));
    let mut b = pin!(io.submit(Ask {
        value: 2,
        drops: drops.clone()
    }));
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert!(b.as_mut().poll(&mut cx).is_pending(), "table full");
    reactor.turn();
    assert_eq!(a.as_mut().poll(&mut cx), Poll::Ready(1));
    assert_eq!(b.as_mut().poll(&mut cx), Poll::Ready(2));
    assert_eq!((reactor.occupied(), reactor.in_flight()), (0, 0));
    reactor.turn();
    assert_eq!(reaped.get(), 1);
    assert_eq!(drops.get(), 2);
}

/// A push that waits behind a held-back cancel (of a dropped operation)
/// completes exactly once, and later pushes complete inline again.
#[test]
fn an_inline_capable_push_behind_a_held_back_cancel() {
    let clock = ManualClock::new(1_000);
    let (reaped, driver) = setup();
    let reactor = pin!(Reactor::<_, _, 4>::new(driver, &clock));
    let io = reactor.as_ref().handle();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let drops = Rc::new(Cell::new(0));
    {
        let mut a = Box::pin(io.submit(Ask {
            value: 1,
            drops: drops.clone(),
        }));
        assert!(a.as_mut().poll(&mut cx).is_pending());
        drop(a); // orphaned, cancel wanted: the retry list is not empty
    }
    let mut b = pin!(io.submit(Ask {
        value: 2,
        drops: drops.clone()
    }));
    let first = b.as_mut().poll(&mut cx);
    // Held back behind the cancel (or inline): either way exactly once.
    let got = match first {
        Poll::Ready(v) => v,
        Poll::Pending => {
            reactor.turn();
            assert_eq!(wakes.get(), 1);
            match b.as_mut().poll(&mut cx) {
                Poll::Ready(v) => v,
                Poll::Pending => panic!("not completed after a turn"),
            }
        }
    };
    assert_eq!(got, 2);
    reactor.turn();
    reactor.turn();
    assert_eq!((reactor.occupied(), reactor.in_flight()), (0, 0));
    assert_eq!(drops.get(), 2);
    assert_eq!(reaped.get(), 2, "A's and B's (B was pushed on a retry)");
    // And a fresh even one is inline again.
    let mut c = pin!(io.submit(Ask {
        value: 4,
        drops: drops.clone()
    }));
    assert_eq!(c.as_mut().poll(&mut cx), Poll::Ready(4));
}

/// A `build` that panics frees its slot; inline completions go on.
#[test]
fn a_build_panic_then_inline_completions() {
    let clock = ManualClock::new(1_000);
    let (reaped, driver) = setup();
    let reactor = pin!(Reactor::<_, _, 2>::new(driver, &clock));
    let io = reactor.as_ref().handle();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut p = pin!(io.submit(Boom(-1)));
        let _ = p.as_mut().poll(&mut cx);
    }));
    assert!(r.is_err());
    assert_eq!((reactor.occupied(), reactor.in_flight()), (0, 0));
    for v in [0, 2, 4] {
        let mut p = pin!(io.submit(Boom(v)));
        assert_eq!(p.as_mut().poll(&mut cx), Poll::Ready(v));
    }
    reactor.turn();
    assert_eq!(reaped.get(), 0);
    assert_eq!((reactor.occupied(), reactor.in_flight()), (0, 0));
}

/// An operation dropped or cancelled before its first poll is never
/// pushed: nothing is left in the table.
#[test]
fn an_operation_cancelled_before_its_first_poll_is_never_pushed() {
    let clock = ManualClock::new(1_000);
    let (_, driver) = setup();
    let reactor = pin!(Reactor::<_, _, 2>::new(driver, &clock));
    let io = reactor.as_ref().handle();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let drops = Rc::new(Cell::new(0));
    // Submitted but the future is dropped without a poll: never pushed.
    drop(io.submit(Ask {
        value: 6,
        drops: drops.clone(),
    }));
    assert_eq!(drops.get(), 1);
    let mut op = pin!(io.submit(Ask {
        value: 8,
        drops: drops.clone()
    }));
    let mut cancel = pin!(op.as_mut().cancel());
    // Cancel before the first poll: the op was never pushed.
    assert_eq!(cancel.as_mut().poll(&mut cx), Poll::Ready(-125));
    assert_eq!((reactor.occupied(), reactor.in_flight()), (0, 0));
}
