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
