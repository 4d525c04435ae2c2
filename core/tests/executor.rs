//! Behaviour of the executor: spawning, joining, aborting, slot reuse,
//! errors, wakers and fairness.

use core::cell::{Cell, RefCell};
use core::future::{Future, poll_fn};
use core::task::{Poll, Waker};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kasync::executor::{Executor, JoinError, SpawnError, Spin, ThreadPlatform};

/// Returns `Pending` `n` times (waking itself each time), then `Ready`.
fn yield_times(n: usize) -> impl Future<Output = ()> {
    let mut left = n;
    poll_fn(move |cx| {
        if left == 0 {
            Poll::Ready(())
        } else {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// Never finishes: counts its polls in `polls` and wakes itself each time.
fn spin_forever(polls: Rc<Cell<u32>>) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// A future that stores its waker in `slot` and stays pending until
/// `done` is set.
fn wait_for(done: Rc<Cell<bool>>, slot: Rc<RefCell<Option<Waker>>>) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        if done.get() {
            Poll::Ready(())
        } else {
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
}

#[test]
fn spawn_join_and_reuse_slots() {
    static EXEC: Executor<ThreadPlatform, 4, 128> = Executor::new(ThreadPlatform::new());
    let runner = EXEC.runner().unwrap();
    // Many more tasks than slots: slots must be reused.
    for round in 0..20u32 {
        let handles: Vec<_> = (0..4u32)
            .map(|i| EXEC.spawn(async move { round * 10 + i }).unwrap())
            .collect();
        assert_eq!(EXEC.occupied(), 4);
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(runner.block_on(handle), Ok(round * 10 + i as u32));
        }
        assert_eq!(EXEC.occupied(), 0, "every slot is free again");
    }
}

#[test]
fn detached_task_runs_and_frees_its_slot() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    drop(EXEC.spawn(async move {
        yield_times(3).await;
        r.fetch_add(1, Ordering::SeqCst);
        String::from("dropped by the runner")
    }));
    while runner.tick(16).ready_left {}
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(EXEC.occupied(), 0);
}

/// `spawn_detached`: no handle; the run loop drops the output (once) and
/// frees the slot, which the next spawn reuses; `freed_slots` counts it.
#[test]
fn spawn_detached_runs_drops_the_output_and_frees_the_slot() {
    static EXEC: Executor<Spin, 1, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for round in 1..=3 {
        let freed = EXEC.freed_slots();
        let d = drops.clone();
        EXEC.spawn_detached(async move {
            yield_times(2).await;
            Counted(d)
        })
        .unwrap();
        assert_eq!(
            EXEC.spawn_detached(async {}),
            Err(SpawnError::Full),
            "one slot"
        );
        while runner.tick(16).ready_left {}
        assert_eq!(
            drops.load(Ordering::SeqCst),
            round,
            "the output dropped once"
        );
        assert_eq!(EXEC.occupied(), 0);
        assert_eq!(EXEC.freed_slots().wrapping_sub(freed), 1);
    }
    // An output without drop glue takes the one-step free.
    let ran = Rc::new(Cell::new(0u32));
    for _ in 0..5 {
        let r = ran.clone();
        runner
            .spawn_local_detached(async move {
                r.set(r.get() + 1);
                42u64
            })
            .unwrap();
        runner.tick(1);
        assert_eq!(EXEC.occupied(), 0);
    }
    assert_eq!(ran.get(), 5);
}

/// A handle that registered its waker (polled once, `Pending`) and is then
/// dropped gives the waker back — it is not left in the slot; one that
/// never registered skips that step and loses nothing either.
#[test]
fn a_dropped_handle_gives_back_the_waker_it_registered() {
    use std::task::{Context, Wake};
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let runner = EXEC.runner().unwrap();
    let done = Rc::new(Cell::new(false));
    let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    let counted = Arc::new(Noop);
    let waker = Waker::from(counted.clone());
    for round in 0..3 {
        done.set(false);
        let mut handle = runner
            .spawn_local(wait_for(done.clone(), slot.clone()))
            .unwrap();
        if round > 0 {
            let mut cx = Context::from_waker(&waker);
            assert!(core::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
            assert_eq!(Arc::strong_count(&counted), 3, "the slot holds a clone");
        }
        drop(handle);
        assert_eq!(
            Arc::strong_count(&counted),
            2,
            "round {round}: the clone is back"
        );
        runner.tick(4);
        done.set(true);
        if let Some(w) = slot.borrow_mut().take() {
            w.wake();
        }
        while runner.tick(4).ready_left {}
        assert_eq!(EXEC.occupied(), 0);
    }
}

/// Detached tasks that panic, whose output's drop panics, or that are
/// still running at shutdown all give their slot back.
#[test]
fn detached_tasks_give_their_slot_back_on_panic_and_shutdown() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    {
        let runner = EXEC.runner().unwrap();
        runner
            .spawn_local_detached(async { panic!("a detached task panics") })
            .unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.tick(4)));
        assert!(result.is_err(), "the task's panic comes out of the tick");
        assert_eq!(EXEC.occupied(), 0);

        let drops = Rc::new(Cell::new(0));
        let d = drops.clone();
        runner
            .spawn_local_detached(async move { Grenade(d) })
            .unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.tick(4)));
        assert!(result.is_err(), "the output's panic comes out of the tick");
        assert_eq!(drops.get(), 1);
        assert_eq!(EXEC.occupied(), 0);

        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let flag = Flag(dropped.clone());
        runner
            .spawn_local_detached(async move {
                let _flag = flag;
                core::future::pending::<()>().await
            })
            .unwrap();
        runner.tick(4);
        assert_eq!(EXEC.occupied(), 1);
        drop(runner);
        assert!(dropped.get(), "shutdown dropped the detached future");
    }
    assert_eq!(EXEC.occupied(), 0);
}

#[test]
fn output_outlives_the_task_until_the_handle_takes_it() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let handle = EXEC.spawn(async { vec![1u8, 2, 3] }).unwrap();
    runner.tick(8);
    assert!(handle.is_finished());
    assert_eq!(EXEC.occupied(), 1, "the output keeps the slot");
    assert_eq!(runner.block_on(handle), Ok(vec![1, 2, 3]));
    assert_eq!(EXEC.occupied(), 0);
    // A finished task whose handle is dropped: the handle drops the output.
    let marker = Arc::new(());
    let m = marker.clone();
    let handle = EXEC.spawn(async move { m }).unwrap();
    runner.tick(8);
    assert_eq!(Arc::strong_count(&marker), 2);
    drop(handle);
    assert_eq!(
        Arc::strong_count(&marker),
        1,
        "output dropped with the handle"
    );
    assert_eq!(EXEC.occupied(), 0);
}

#[test]
fn full_pool_is_an_error() {
    static EXEC: Executor<Spin, 3, 64> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let handles: Vec<_> = (0..3)
        .map(|i| EXEC.spawn(async move { i }).unwrap())
        .collect();
    assert_eq!(EXEC.spawn(async { 9 }).unwrap_err(), SpawnError::Full);
    assert_eq!(
        runner.spawn_local(async { 9 }).unwrap_err(),
        SpawnError::Full
    );
    for h in handles {
        runner.block_on(h).unwrap();
    }
    assert!(EXEC.spawn(async { 9 }).is_ok(), "a slot is free again");
}

#[test]
fn too_large_is_an_error_at_run_time() {
    static EXEC: Executor<Spin, 2, 64> = Executor::new(Spin);
    let big = [7u8; 100];
    let err = EXEC
        .try_spawn(async move { big.iter().map(|&b| b as u32).sum::<u32>() })
        .unwrap_err();
    match err {
        SpawnError::TooLarge { size, max } => {
            assert!(size >= 100, "size {size}");
            assert_eq!(max, 64);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("slot size of at least"));
    // The same future boxed elsewhere fits; a small one passes the check.
    let runner = EXEC.runner().unwrap();
    let small = EXEC.try_spawn(async { 1u8 }).unwrap();
    assert_eq!(runner.block_on(small), Ok(1));
    // A large output is rejected too.
    assert!(matches!(
        runner.try_spawn_local(async { [0u8; 65] }),
        Err(SpawnError::TooLarge { size: 65, max: 64 })
    ));
}

#[test]
fn abort_drops_the_future_on_the_runner() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    struct OnDrop(Arc<AtomicUsize>, std::thread::ThreadId);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            assert_eq!(std::thread::current().id(), self.1, "dropped on the runner");
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = OnDrop(drops.clone(), std::thread::current().id());
    let handle = EXEC
        .spawn(async move {
            let _guard = guard;
            core::future::pending::<()>().await;
        })
        .unwrap();
    runner.tick(8);
    assert!(!handle.is_finished());
    // Abort from another thread: the drop must still happen on the runner.
    std::thread::scope(|s| {
        s.spawn(|| handle.abort());
    });
    assert_eq!(drops.load(Ordering::SeqCst), 0, "not dropped by the caller");
    assert_eq!(runner.block_on(handle), Err(JoinError::Cancelled));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(EXEC.occupied(), 0);
}

#[test]
fn abort_after_completion_keeps_the_output() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let handle = EXEC.spawn(async { 5 }).unwrap();
    runner.tick(8);
    handle.abort();
    assert_eq!(runner.block_on(handle), Ok(5));
}

#[test]
fn task_can_abort_itself_and_others() {
    static EXEC: Executor<Spin, 4, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let victim = EXEC.spawn(core::future::pending::<()>()).unwrap();
    let killer = EXEC
        .spawn(async move {
            victim.abort();
            victim.await
        })
        .unwrap();
    assert_eq!(runner.block_on(killer), Ok(Err(JoinError::Cancelled)));
}

#[test]
fn dropping_the_runner_cancels_every_task() {
    static EXEC: Executor<ThreadPlatform, 4, 128> = Executor::new(ThreadPlatform::new());
    let drops = Rc::new(Cell::new(0));
    struct CountDrop(Rc<Cell<u32>>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let runner = EXEC.runner().unwrap();
    assert!(EXEC.runner().is_err(), "one runner at a time");
    let mut handles = Vec::new();
    for _ in 0..3 {
        let guard = CountDrop(drops.clone());
        // `!Send` futures (an `Rc`) go through the runner.
        handles.push(
            runner
                .spawn_local(async move {
                    let _g = guard;
                    core::future::pending::<()>().await
                })
                .unwrap(),
        );
    }
    runner.tick(8);
    drop(runner);
    assert_eq!(drops.get(), 3);
    let runner = EXEC.runner().expect("claimable again after shutdown");
    for h in handles {
        assert_eq!(runner.block_on(h), Err(JoinError::Cancelled));
    }
    assert_eq!(EXEC.occupied(), 0);
}

#[test]
fn panicking_task_reports_panicked_and_frees_its_slot() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let handle = EXEC
        .spawn(async {
            yield_times(1).await;
            panic!("task failure (expected by the test)");
        })
        .unwrap();
    assert_eq!(runner.tick(1).polled, 1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.tick(1)));
    assert!(result.is_err(), "the panic propagates out of tick");
    assert_eq!(runner.block_on(handle), Err::<(), _>(JoinError::Panicked));
    assert_eq!(EXEC.occupied(), 0);
    // The runner still works.
    assert_eq!(runner.block_on(EXEC.spawn(async { 1 }).unwrap()), Ok(1));
}

#[test]
fn stale_waker_after_slot_reuse_is_ignored() {
    static EXEC: Executor<Spin, 1, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let stolen: Rc<RefCell<Option<Waker>>> = Rc::default();
    let s = stolen.clone();
    let first = runner
        .spawn_local(poll_fn(move |cx| {
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        }))
        .unwrap();
    runner.block_on(first).unwrap();
    let stale = stolen.borrow_mut().take().unwrap();

    // The single slot now holds a new task that counts its polls.
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let second = runner
        .spawn_local(poll_fn(move |_| {
            p.set(p.get() + 1);
            if d.get() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }))
        .unwrap();
    runner.tick(8);
    assert_eq!(polls.get(), 1);
    stale.wake_by_ref();
    #[allow(clippy::waker_clone_wake)] // exercises clone + wake-by-value on purpose
    stale.clone().wake();
    let stats = runner.tick(8);
    assert_eq!(stats.polled, 0, "a stale waker does not poll the new task");
    assert_eq!(polls.get(), 1);
    done.set(true);
    second.abort();
    runner.block_on(second).unwrap_err();
}

#[test]
fn waker_clone_drop_and_will_wake() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let handle = runner
        .spawn_local(poll_fn(|cx| {
            let a = cx.waker().clone();
            let b = a.clone();
            assert!(a.will_wake(cx.waker()) && b.will_wake(&a));
            drop(a);
            drop(b);
            Poll::Ready(())
        }))
        .unwrap();
    assert_eq!(runner.block_on(handle), Ok(()));
}

#[test]
fn many_wakes_enqueue_once() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let done = Rc::new(Cell::new(false));
    let polls = Rc::new(Cell::new(0));
    let (w, d, p) = (waker.clone(), done.clone(), polls.clone());
    let handle = runner
        .spawn_local(async move {
            p.set(p.get() + 1);
            wait_for(d, w).await;
        })
        .unwrap();
    runner.tick(8);
    let w = waker.borrow().clone().unwrap();
    for _ in 0..1000 {
        w.wake_by_ref();
    }
    let stats = runner.tick(1000);
    assert_eq!(stats.dequeued, 1, "1000 wakes, one queue entry");
    done.set(true);
    w.wake_by_ref();
    runner.block_on(handle).unwrap();
    assert_eq!(polls.get(), 1);
}

#[test]
fn self_waking_task_does_not_starve_others() {
    static EXEC: Executor<Spin, 4, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let spins = Rc::new(Cell::new(0u32));
    let hog = runner.spawn_local(spin_forever(spins.clone())).unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut others = Vec::new();
    for i in 0..3 {
        let o = order.clone();
        others.push(
            runner
                .spawn_local(async move {
                    for step in 0..3 {
                        o.borrow_mut().push((i, step));
                        yield_times(1).await;
                    }
                })
                .unwrap(),
        );
    }
    // Each tick polls every ready task once; the hog cannot crowd out the
    // others no matter how large the budget.
    for _ in 0..4 {
        let stats = runner.tick(4);
        assert_eq!(stats.polled, 4);
        assert!(stats.ready_left);
    }
    assert_eq!(spins.get(), 4, "the hog ran once per round");
    assert_eq!(order.borrow().len(), 9, "the others all finished");
    assert_eq!(
        order.borrow()[..3],
        [(0, 0), (1, 0), (2, 0)],
        "tasks run in wake order"
    );
    hog.abort();
    for h in others {
        runner.block_on(h).unwrap();
    }
    assert_eq!(runner.block_on(hog), Err(JoinError::Cancelled));
}

/// Ready tasks sit in a bitmap of 64-task words, visited round-robin: a
/// self-waking task in the first word and a task in the third word are
/// both polled every round, and idle tasks in between cost nothing.
#[test]
fn round_robin_across_bitmap_words() {
    const N: usize = 130;
    static EXEC: Executor<Spin, N, 64> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let hog_polls = Rc::new(Cell::new(0u32));
    let far_polls = Rc::new(Cell::new(0u32));
    // Slots are handed out in order: the hog gets slot 0 (word 0) ...
    let hog = runner.spawn_local(spin_forever(hog_polls.clone())).unwrap();
    // ... idle tasks fill slots 1..=128 ...
    let idle: Vec<_> = (1..N - 1)
        .map(|_| {
            runner
                .spawn_local(poll_fn(|_| Poll::<()>::Pending))
                .unwrap()
        })
        .collect();
    // ... and this one gets slot 129, in word 2.
    let far = runner.spawn_local(spin_forever(far_polls.clone())).unwrap();
    // The first round polls every task once, word by word.
    assert_eq!(runner.tick(N as u32).polled, N as u32);
    assert_eq!((hog_polls.get(), far_polls.get()), (1, 1));
    for round in 2..=6 {
        let stats = runner.tick(2);
        assert_eq!(stats.polled, 2, "only the two self-waking tasks are ready");
        assert_eq!((hog_polls.get(), far_polls.get()), (round, round));
    }
    for handle in [hog, far].into_iter().chain(idle) {
        handle.abort();
        assert_eq!(runner.block_on(handle), Err(JoinError::Cancelled));
    }
    assert_eq!(EXEC.occupied(), 0);
}

#[test]
fn nested_wakes_from_inside_a_poll() {
    // A task wakes another task and itself from inside its own poll, the
    // way an interrupt handler firing during the poll would.
    static EXEC: Executor<Spin, 4, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let other_waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let other_done = Rc::new(Cell::new(false));
    let other = runner
        .spawn_local(wait_for(other_done.clone(), other_waker.clone()))
        .unwrap();
    runner.tick(8);
    let mut rounds = 0;
    let waker = other_waker.clone();
    let done = other_done.clone();
    let driver = runner
        .spawn_local(poll_fn(move |cx| {
            rounds += 1;
            cx.waker().wake_by_ref(); // wake self while running
            if rounds == 2 {
                done.set(true);
                waker.borrow().as_ref().unwrap().wake_by_ref();
                return Poll::Ready(rounds);
            }
            Poll::Pending
        }))
        .unwrap();
    assert_eq!(runner.block_on(driver), Ok(2));
    assert_eq!(runner.block_on(other), Ok(()));
}

#[test]
fn tick_inside_a_task_panics_instead_of_double_polling() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner: &'static _ = Box::leak(Box::new(EXEC.runner().unwrap()));
    let handle = runner
        .spawn_local(async move {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.tick(1)));
            r.is_err()
        })
        .unwrap();
    assert_eq!(runner.block_on(handle), Ok(true));
}

#[test]
fn join_handle_is_a_future_that_other_tasks_await() {
    static EXEC: Executor<ThreadPlatform, 8, 256> = Executor::new(ThreadPlatform::new());
    let runner = EXEC.runner().unwrap();
    let leaves: Vec<_> = (0..4u64)
        .map(|i| {
            EXEC.spawn(async move {
                yield_times(i as usize).await;
                i * i
            })
            .unwrap()
        })
        .collect();
    let sum = EXEC
        .spawn(async move {
            let mut sum = 0;
            for leaf in leaves {
                sum += leaf.await.unwrap();
            }
            sum
        })
        .unwrap();
    assert_eq!(runner.block_on(sum), Ok(1 + 4 + 9));
}

/// A value whose `Drop` panics (once) and counts its drops.
struct Grenade(Rc<Cell<u32>>);

impl Drop for Grenade {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        if self.0.get() == 1 {
            panic!("output drop panics on purpose");
        }
    }
}

/// An output nobody can take (its handle is gone) is dropped by the run
/// loop; if that drop panics, the task is still finished and its slot
/// freed — never left "alive" with its future gone.
#[test]
fn an_unwanted_output_whose_drop_panics_still_frees_the_slot() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    drop(runner.spawn_local(async move { Grenade(d) }).unwrap());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.tick(4)));
    assert!(result.is_err(), "the output's panic comes out of the tick");
    assert_eq!(drops.get(), 1);
    assert_eq!(EXEC.occupied(), 0, "the slot is free");
    assert_eq!(runner.block_on(EXEC.spawn(async { 2 }).unwrap()), Ok(2));
    assert_eq!(drops.get(), 1, "dropped once");
}

/// A handle dropped while its output waits drops the output; a panic in
/// that drop leaves the slot given back.
#[test]
fn a_handle_whose_output_drop_panics_gives_the_slot_back() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let handle = runner.spawn_local(async move { Grenade(d) }).unwrap();
    runner.tick(4);
    assert!(handle.is_finished());
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(handle)));
    assert!(dropped.is_err());
    assert_eq!(drops.get(), 1);
    assert_eq!(EXEC.occupied(), 0, "the slot is free");
}

/// The handle's waker panics when the run loop wakes it: the task is
/// finished all the same, the handle gets the output, the slot comes back.
#[test]
fn a_panicking_join_waker_does_not_keep_the_slot() {
    use kasync_tests::wake::panicking_waker;
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let mut handle = std::pin::pin!(EXEC.spawn(async { 7 }).unwrap());
    let (bomb, waker) = panicking_waker();
    let polled = handle
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker));
    assert!(polled.is_pending());
    let ticked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.tick(4)));
    assert!(ticked.is_err(), "the waker's panic comes out of the tick");
    bomb.armed.store(false, Ordering::SeqCst);
    let polled = handle
        .as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()));
    assert_eq!(polled, Poll::Ready(Ok(7)));
    assert_eq!(EXEC.occupied(), 0, "the slot is free");
}

/// Dropping the runner drops every task's future; one that panics when
/// dropped does not keep the others alive or the executor claimed.
#[test]
fn a_task_whose_drop_panics_does_not_wedge_the_shutdown() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("task future's drop panics on purpose");
        }
    }
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    static EXEC: Executor<Spin, 4, 256> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let first = runner
        .spawn_local(async {
            let _p = PanicOnDrop;
            core::future::pending::<()>().await;
        })
        .unwrap();
    let flag = dropped.clone();
    let second = runner
        .spawn_local(async move {
            let _f = Flag(flag);
            core::future::pending::<()>().await;
        })
        .unwrap();
    runner.tick(64);
    let shut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(runner)));
    assert!(shut.is_err(), "the drop's panic leaves the runner's drop");
    assert!(dropped.get(), "the other task's future was dropped too");
    let runner = EXEC.runner().expect("the executor can be claimed again");
    assert_eq!(runner.block_on(first), Err(JoinError::Panicked));
    assert_eq!(runner.block_on(second), Err(JoinError::Cancelled));
    assert_eq!(EXEC.occupied(), 0);
}
