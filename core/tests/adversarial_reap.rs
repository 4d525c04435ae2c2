//! Adversarial checks of the reap's gathered wakes: growing executors
//! (chunk slots, two summary levels), foreign wakers mixed in, wakers of
//! finished tasks and of reused slots, two executors interleaved.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

mod support;

use kasync::chunk::Growth;
use kasync::executor::{Drive, Executor, Runner, Spin};
use kasync::io::Reactor;
use kasync::io::sim::{SimDriver, SimNop};
use kasync::time::ManualClock;
use support::heap::{keep, leak_heap};

type Sim<'c> = SimDriver<'c, 256>;

/// Hands its waker out on every pending poll; finishes once `go` is set.
fn waiting_task(
    wakers: Rc<RefCell<Vec<(usize, Waker)>>>,
    polls: Rc<RefCell<Vec<u32>>>,
    me: usize,
    go: Rc<Cell<bool>>,
) -> impl Future<Output = ()> + 'static {
    let mut first = true;
    poll_fn(move |cx| {
        polls.borrow_mut()[me] += 1;
        if std::mem::take(&mut first) {
            wakers.borrow_mut().push((me, cx.waker().clone()));
            Poll::Pending
        } else if go.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

fn poll_with<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

type Exec<const N: usize> = Executor<Spin, N, 256>;

fn growing<const N: usize>(growth: Growth) -> &'static Exec<N> {
    let place = Box::leak(Box::new_uninit());
    keep(Exec::<N>::init_growing(place, Spin, growth).expect("memory for the ready queue"))
}

fn spawn_many<const N: usize>(
    runner: &Runner<Spin, N, 256>,
    n: usize,
    go: &Rc<Cell<bool>>,
) -> (Vec<Waker>, Rc<RefCell<Vec<u32>>>) {
    let wakers = Rc::new(RefCell::new(Vec::new()));
    let polls = Rc::new(RefCell::new(vec![0; n]));
    for i in 0..n {
        runner
            .spawn_local_detached(waiting_task(wakers.clone(), polls.clone(), i, go.clone()))
            .expect("a free slot");
    }
    while runner.tick(u32::MAX).ready_left {}
    let mut w = wakers.take();
    w.sort_by_key(|(i, _)| *i);
    assert_eq!(w.len(), n);
    (w.into_iter().map(|(_, w)| w).collect(), polls)
}

/// Tasks of a growing executor at word, middle-word and chunk boundaries
/// (inline slots, the first chunk slots, past 4 096 where the second
/// middle word starts), interleaved with a fixed executor's tasks and
/// foreign wakers, all completed in one reap: each selected task is polled
/// exactly once more, no other task is.
#[test]
fn one_reap_across_chunks_middle_words_and_foreign_wakers() {
    let heap = leak_heap();
    let n: usize = if cfg!(miri) { 140 } else { 4_300 };
    let exec = growing::<4>(Growth::new(heap).chunk_slots(if cfg!(miri) { 8 } else { 256 }));
    static FIXED: Exec<3> = Executor::new(Spin);
    let runner = exec.runner().unwrap();
    let fixed = FIXED.runner().unwrap();
    let go = Rc::new(Cell::new(false));
    let (wakers, polls) = spawn_many(&runner, n, &go);
    let (fwakers, fpolls) = spawn_many(&fixed, 3, &go);
    let mut picked: Vec<usize> = [
        0, 1, 3, 4, 5, 63, 64, 65, 127, 128, 139, 4095, 4096, 4097, 4159, 4160, 4299,
    ]
    .into_iter()
    .filter(|&i| i < n)
    .collect();
    picked.dedup();
    // Move the runner's cursor somewhere in the middle: wake and run one
    // task of word 1 (it stays pending).
    wakers[70 % n].wake_by_ref();
    runner.tick(u32::MAX);
    polls.borrow_mut()[70 % n] -= 1;
    picked.retain(|&i| i != 70 % n);

    let clock = ManualClock::new(1_000);
    let reactor = pin!(Reactor::<_, &ManualClock, 64>::new(
        Sim::new(&clock),
        &clock
    ));
    let io = reactor.as_ref().handle();
    let (count, foreign) = kasync_tests::wake::counting_waker();
    let mut ops = Vec::new();
    let mut foreign_ops = 0;
    for (k, &i) in picked.iter().rev().enumerate() {
        ops.push((wakers[i].clone(), Box::pin(io.submit(SimNop))));
        if k % 3 == 0 {
            ops.push((foreign.clone(), Box::pin(io.submit(SimNop))));
            foreign_ops += 1;
        }
        if k % 4 == 0 {
            ops.push((fwakers[k % 3].clone(), Box::pin(io.submit(SimNop))));
        }
    }
    for (waker, op) in ops.iter_mut() {
        assert!(poll_with(op.as_mut(), waker).is_pending());
    }
    reactor.turn();
    assert_eq!(count.get(), foreign_ops, "foreign wakers woken once each");
    while runner.tick(u32::MAX).ready_left {}
    while fixed.tick(u32::MAX).ready_left {}
    let polls = polls.borrow();
    for i in 0..n {
        let want = if picked.contains(&i) { 2 } else { 1 };
        assert_eq!(polls[i], want, "task {i}");
    }
    let fixed_woken: Vec<usize> = (0..picked.len())
        .filter(|k| k % 4 == 0)
        .map(|k| k % 3)
        .collect();
    for t in 0..3 {
        let want = if fixed_woken.contains(&t) { 2 } else { 1 };
        assert_eq!(fpolls.borrow()[t], want, "fixed task {t}");
    }
    for (waker, op) in ops.iter_mut() {
        assert!(poll_with(op.as_mut(), waker).is_ready());
    }
    go.set(true);
    drop(runner);
    drop(fixed);
    assert_eq!(exec.occupied(), 0);
}

/// A waker of a task that finished, and of a slot a new task took since,
/// completing in the same reap as live tasks of the same word: the live
/// ones are woken, the new occupant is not polled for the old one's wake.
#[test]
fn stale_task_wakers_in_a_reap() {
    static EXEC: Exec<8> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let go = Rc::new(Cell::new(false));
    let (wakers, polls) = spawn_many(&runner, 4, &go);
    // Task 1 finishes now (woken directly with `go` on for it alone).
    go.set(true);
    wakers[1].wake_by_ref();
    runner.tick(u32::MAX);
    go.set(false);
    assert_eq!(EXEC.occupied(), 3);
    // A new task takes a free slot (maybe slot 1).
    let new_polls = Rc::new(Cell::new(0));
    let np = new_polls.clone();
    runner
        .spawn_local_detached(poll_fn(move |_| {
            np.set(np.get() + 1);
            Poll::<()>::Pending
        }))
        .unwrap();
    runner.tick(u32::MAX);
    assert_eq!(new_polls.get(), 1);

    let clock = ManualClock::new(1_000);
    let reactor = pin!(Reactor::<_, &ManualClock, 16>::new(
        Sim::new(&clock),
        &clock
    ));
    let io = reactor.as_ref().handle();
    let mut ops: Vec<_> = [0usize, 1, 2, 3, 1]
        .into_iter()
        .map(|i| (wakers[i].clone(), Box::pin(io.submit(SimNop))))
        .collect();
    for (waker, op) in ops.iter_mut() {
        assert!(poll_with(op.as_mut(), waker).is_pending());
    }
    reactor.turn();
    while runner.tick(u32::MAX).ready_left {}
    assert_eq!(polls.borrow()[0], 2);
    assert_eq!(polls.borrow()[2], 2);
    assert_eq!(polls.borrow()[3], 2);
    assert_eq!(
        new_polls.get(),
        1,
        "the slot's new task is not woken by the old waker"
    );
    for (waker, op) in ops.iter_mut() {
        assert!(poll_with(op.as_mut(), waker).is_ready());
    }
}

/// The reactor turned from inside a task's poll (the task drives it), with
/// the completion waking that very task and others of its word.
#[test]
fn a_reap_from_inside_a_task_wakes_the_running_task() {
    static EXEC: Exec<4> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let go = Rc::new(Cell::new(false));
    let (wakers, polls) = spawn_many(&runner, 2, &go);
    let clock: &'static ManualClock = Box::leak(Box::new(ManualClock::new(1_000)));
    let reactor: Pin<&'static Reactor<Sim<'static>, &'static ManualClock, 16>> =
        Pin::static_ref(Box::leak(Box::new(Reactor::new(Sim::new(clock), clock))));
    let driver_polls = Rc::new(Cell::new(0));
    let dp = driver_polls.clone();
    let w0 = wakers[0].clone();
    let mut op1 = Box::pin(reactor.handle().submit(SimNop));
    let mut op0 = Box::pin(reactor.handle().submit(SimNop));
    assert!(poll_with(op0.as_mut(), &w0).is_pending());
    let mut submitted = false;
    runner
        .spawn_local_detached(poll_fn(move |cx| {
            dp.set(dp.get() + 1);
            if !submitted {
                submitted = true;
                // Our own op, woken into the batch of our own word.
                assert!(op1.as_mut().poll(cx).is_pending());
                reactor.turn();
                return Poll::Pending;
            }
            if op1.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }))
        .unwrap();
    while runner.tick(u32::MAX).ready_left {}
    assert_eq!(
        driver_polls.get(),
        2,
        "the driving task was woken by its own reap"
    );
    assert_eq!(polls.borrow()[0], 2, "task 0 woken by the same reap");
    assert!(poll_with(op0.as_mut(), &w0).is_ready());
}
