//! Completions reaped in one reactor turn wake their kasync tasks a
//! ready-queue word at a time: every task is woken once whichever word and
//! executor it belongs to, and wakes gathered before a panic in the reap
//! are not lost.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::Stream as _;
use kasync::executor::{Drive, Executor, Runner, Spin};
use kasync::io::sim::{SimDriver, SimMode, SimNop, SimOp, SimOutcome};
use kasync::io::{Completion, Multishot, Operation, Reactor};
use kasync::time::ManualClock;

type Sim<'c> = SimDriver<'c, 256>;

/// A task that hands its waker out on its first poll, then finishes when
/// polled again; `polls` counts its polls.
fn waiting_task(
    wakers: &Rc<RefCell<Vec<Waker>>>,
    polls: &Rc<Cell<u32>>,
) -> impl Future<Output = ()> + 'static {
    let (wakers, polls) = (wakers.clone(), polls.clone());
    let mut first = true;
    poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        if std::mem::take(&mut first) {
            wakers.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
}

/// Spawns `n` waiting tasks on `runner` and polls each once; returns their
/// wakers in spawn order.
fn spawn_waiting<const N: usize>(
    runner: &Runner<Spin, N, 256>,
    n: usize,
    polls: &Rc<Cell<u32>>,
) -> Vec<Waker> {
    let wakers = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..n {
        runner
            .spawn_local_detached(waiting_task(&wakers, polls))
            .expect("a free slot");
    }
    while runner.tick(u32::MAX).ready_left {}
    assert_eq!(polls.get() as usize, n, "every task polled once");
    wakers.take()
}

fn poll_with<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// 150 tasks of one executor (three ready-queue words) and 3 of another,
/// interleaved, each waiting on a no-op: one turn completes them all, and
/// every task is woken and runs exactly once more.
#[test]
fn one_reap_wakes_every_task_across_words_and_executors() {
    static BIG: Executor<Spin, 150, 256> = Executor::new(Spin);
    static SMALL: Executor<Spin, 3, 256> = Executor::new(Spin);
    let (big, small) = (BIG.runner().unwrap(), SMALL.runner().unwrap());
    let (big_polls, small_polls) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let big_wakers = spawn_waiting(&big, 150, &big_polls);
    let small_wakers = spawn_waiting(&small, 3, &small_polls);

    let clock = ManualClock::new(1_000);
    let reactor = pin!(Reactor::<_, &ManualClock, 160>::new(
        Sim::new(&clock),
        &clock
    ));
    let io = reactor.as_ref().handle();
    // Words alternate within the reap: 0, 2, 1, the other executor, 0, …
    let order = (0..150).map(|i| (i % 3) * 50 + i / 3);
    let mut ops: Vec<_> = order
        .map(|i| (&big_wakers[i], Box::pin(io.submit(SimNop))))
        .collect();
    for (i, waker) in small_wakers.iter().enumerate() {
        ops.insert(i * 40, (waker, Box::pin(io.submit(SimNop))));
    }
    for (waker, op) in ops.iter_mut() {
        assert!(poll_with(op.as_mut(), waker).is_pending());
    }
    reactor.turn();
    while big.tick(u32::MAX).ready_left {}
    while small.tick(u32::MAX).ready_left {}
    assert_eq!(big_polls.get(), 300, "each of 150 tasks woken once");
    assert_eq!(small_polls.get(), 6, "each of 3 tasks woken once");
    assert_eq!(BIG.occupied() + SMALL.occupied(), 0);
    for (waker, op) in ops.iter_mut() {
        assert!(poll_with(op.as_mut(), waker).is_ready());
    }
}

/// A multishot operation that keeps one completion waiting and panics in
/// `overflow` when a second one comes before the first was taken.
struct PanickyMany {
    panics: Rc<Cell<u32>>,
}

// SAFETY: describes no memory; multishot, as `SimOp::OpenMany` is.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for PanickyMany {
    type Output = ();
    const MULTISHOT: bool = true;
    const MAX_PENDING: usize = 1;
    fn build(&mut self) -> SimOp {
        SimOp::OpenMany { count: 3 }
    }
    fn complete(self, _: Completion) {}
    fn overflow(&self, _: Completion) {
        self.panics.set(self.panics.get() + 1);
        panic!("overflow panics during the reap");
    }
    fn orphaned(self, c: Completion, driver: &SimDriver<'_, Q>) {
        if let Ok(fd) = c.into_result() {
            driver.close(kasync::io::sim::SimFd(fd));
        }
    }
}

// SAFETY: `item` touches no backend memory.
unsafe impl<const Q: usize> Multishot<SimDriver<'_, Q>> for PanickyMany {
    type Item = Result<u32, i32>;
    fn item(&self, c: Completion) -> Self::Item {
        c.into_result()
    }
}

/// Completions recorded before a panic in the same reap (a multishot
/// operation's `overflow`) have woken their tasks once the panic is out of
/// the turn.
#[test]
fn wakes_gathered_before_a_panic_in_the_reap_are_not_lost() {
    static EXEC: Executor<Spin, 4, 256> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let polls = Rc::new(Cell::new(0));
    let wakers = spawn_waiting(&runner, 3, &polls);

    let clock = ManualClock::new(1_000);
    let reactor = pin!(Reactor::<_, &ManualClock, 8>::new(
        Sim::new(&clock).held(),
        &clock
    ));
    let io = reactor.as_ref().handle();
    // In the simulated device in this order: the no-ops, then the stream.
    let mut nops: Vec<_> = (0..3).map(|_| Box::pin(io.submit(SimNop))).collect();
    for (op, waker) in nops.iter_mut().zip(&wakers) {
        assert!(poll_with(op.as_mut(), waker).is_pending());
    }
    let panics = Rc::new(Cell::new(0));
    let mut many = Box::pin(io.submit_multishot(PanickyMany {
        panics: panics.clone(),
    }));
    let noop = &mut Context::from_waker(Waker::noop());
    assert!(many.as_mut().poll_next(noop).is_pending());
    reactor.turn(); // into the device; nothing completes yet
    let ids: Vec<_> = reactor.with_driver(|d| d.in_flight().collect());
    assert_eq!(ids.len(), 4);
    let decide = |id| reactor.with_driver(|d| assert!(d.decide(id, SimOutcome::Full)));
    // The stream's first completion waits in its queue (nobody takes it).
    decide(ids[3]);
    reactor.turn();
    // One reap: the three no-ops, then the stream's second completion,
    // whose overflow panics.
    for &id in &ids {
        decide(id);
    }
    let turn = catch_unwind(AssertUnwindSafe(|| reactor.turn()));
    assert!(turn.is_err(), "the overflow's panic leaves the turn");
    assert_eq!(panics.get(), 1);
    while runner.tick(u32::MAX).ready_left {}
    assert_eq!(polls.get(), 6, "the three tasks were woken all the same");
    for (op, waker) in nops.iter_mut().zip(&wakers) {
        assert!(poll_with(op.as_mut(), waker).is_ready());
    }
    // The stream is let go; the reactor drains (an overflow may panic
    // once more on the way).
    drop(many);
    reactor.with_driver(|d| d.set_mode(SimMode::Immediate));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        for _ in 0..4 {
            reactor.turn();
        }
    }));
}
