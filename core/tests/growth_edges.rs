//! Edge cases of growing executors and reactors: accounting at the
//! limits, allocators that panic or fail at every step, wakers and join
//! handles across executors, stale wakers into chunk slots, threads, and
//! fairness of the three-level ready queue. Sizes shrink under miri.

use core::alloc::Layout;
use core::cell::Cell;
use core::future::poll_fn;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;

mod support;

use kasync::SpawnError;
use kasync::chunk::{ChunkAlloc, Growth};
use kasync::executor::{Executor, Spin};
use support::heap::{Flaky, keep, leak_heap};

type Exec<const N: usize> = Executor<Spin, N, 128>;

fn growing<const N: usize>(growth: Growth) -> &'static Exec<N> {
    let place = Box::leak(Box::new_uninit());
    let exec = Exec::<N>::init_growing(place, Spin, growth).expect("memory for the ready queue");
    keep(exec)
}

fn quiet<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(f))
}

// ---------------------------------------------------------------- limits

#[test]
fn limits_below_at_and_above_the_inline_count() {
    // A limit of 0 is taken as 1: a table always has room for something.
    assert_eq!(Growth::new(leak_heap()).max_slots(0).slots_per_chunk(), 256);
    let exec0 = growing::<4>(Growth::new(leak_heap()).max_slots(0));
    assert_eq!(exec0.max_capacity(), 1);
    for (max, chunk) in [
        (1usize, 1usize),
        (3, 2),
        (4, 2),
        (5, 2),
        (6, 2),
        (7, 2),
        (5, 8),
    ] {
        let heap = leak_heap();
        let exec = growing::<4>(Growth::new(heap).chunk_slots(chunk).max_slots(max));
        let runner = exec.runner().unwrap();
        assert_eq!(exec.max_capacity(), max, "max_capacity, max {max}");
        let mut held = Vec::new();
        loop {
            match exec.spawn(core::future::pending::<()>()) {
                Ok(h) => held.push(h),
                Err(e) => {
                    assert_eq!(e, SpawnError::Full, "max {max}");
                    break;
                }
            }
            assert!(held.len() <= max, "spawned beyond max {max}");
        }
        assert_eq!(held.len(), max, "spawned, max {max}");
        assert_eq!(exec.occupied(), max, "occupied, max {max}");
        assert!(
            exec.capacity() <= max,
            "capacity {} > max {max}",
            exec.capacity()
        );
        assert_eq!(exec.capacity(), max, "capacity at the limit, max {max}");
        if max <= 4 {
            assert_eq!(
                heap.live.load(Ordering::SeqCst),
                1,
                "no chunk at max {max} <= N"
            );
        }
        for h in &held {
            h.abort();
        }
        runner.tick(u32::MAX);
        drop(held);
        assert_eq!(exec.occupied(), 0);
        // All usable again.
        let again: Vec<_> = (0..max)
            .map(|_| exec.spawn(core::future::pending::<()>()).unwrap())
            .collect();
        assert_eq!(exec.spawn(async {}).unwrap_err(), SpawnError::Full);
        drop(again);
        drop(runner); // shutdown cancels them
        assert_eq!(exec.occupied(), 0, "after the runner's shutdown, max {max}");
    }
}

/// The chunk table bounds the table below `max_slots`: with one slot per
/// chunk a growing executor holds N + 4096 tasks, `max_capacity` says so,
/// and the error names the chunk table.
#[test]
fn chunk_table_bound_and_its_message() {
    let heap = leak_heap();
    let exec = growing::<1>(Growth::new(heap).chunk_slots(1).max_slots(100_000));
    let _runner = exec.runner().unwrap();
    assert_eq!(exec.max_capacity(), 1 + 4096);
    let mut held = Vec::new();
    let err = loop {
        match exec.spawn(core::future::pending::<()>()) {
            Ok(h) => held.push(h),
            Err(e) => break e,
        }
    };
    assert_eq!(held.len(), 4097);
    assert_eq!(err, SpawnError::Full);
    assert!(err.to_string().contains("chunk table"), "{err}");
}

// ------------------------------------------------------ failing allocators

/// Executor: the allocator panics or fails on each of its first calls in
/// turn (table, chunks); the executor stays consistent and usable.
#[test]
fn executor_allocator_panics_or_fails_at_every_call() {
    let n = if cfg!(miri) { 4 } else { 8 };
    for bad in 1..=n.min(5) {
        for panics in [true, false] {
            let alloc = Flaky::leak();
            let exec = growing::<1>(Growth::new(alloc).chunk_slots(1).max_slots(n));
            let runner = exec.runner().unwrap();
            // Call 0 was the ready queue's leaves.
            if panics {
                alloc.panic_at.store(bad, Ordering::SeqCst);
            } else {
                alloc.none_at.store(bad, Ordering::SeqCst);
            }
            let ran = Rc::new(Cell::new(0));
            let mut handles = Vec::new();
            let mut failures = 0;
            for i in 0..n + 2 {
                let ran = ran.clone();
                match quiet(|| {
                    runner.spawn_local(async move {
                        ran.set(ran.get() + 1);
                        i
                    })
                }) {
                    Ok(Ok(h)) => handles.push((i, h)),
                    Ok(Err(SpawnError::OutOfMemory)) => {
                        assert!(!panics);
                        failures += 1
                    }
                    Ok(Err(SpawnError::Full)) => {}
                    Ok(Err(e)) => panic!("{e}"),
                    Err(_) => {
                        assert!(panics);
                        failures += 1
                    }
                }
            }
            assert_eq!(failures, 1, "bad call {bad}, panics {panics}");
            assert_eq!(handles.len(), n, "bad call {bad}, panics {panics}");
            assert_eq!(exec.occupied(), n);
            let outputs = runner.block_on(async {
                let mut out = Vec::new();
                for (i, h) in handles {
                    out.push((i, h.await.unwrap()));
                }
                out
            });
            assert!(outputs.iter().all(|(i, o)| i == o));
            assert_eq!(ran.get(), n);
            assert_eq!(exec.occupied(), 0);
        }
    }
}

/// A task that spawns (and so grows the table) from inside its poll, with
/// an allocator that panics there: the spawning task is the one that
/// panics; the run loop goes on.
#[test]
fn growth_panics_inside_a_task() {
    let alloc = Flaky::leak();
    let exec = growing::<1>(Growth::new(alloc).chunk_slots(1).max_slots(4));
    let runner = exec.runner().unwrap();
    alloc.panic_at.store(1, Ordering::SeqCst);
    let spawner = exec
        .spawn(async {
            let inner = exec.spawn(async { 5 });
            inner.unwrap().await.unwrap()
        })
        .unwrap();
    let r = quiet(|| runner.block_on(async {}));
    assert!(r.is_ok());
    let r = quiet(|| runner.tick(u32::MAX));
    assert!(r.is_err(), "the spawner panicked");
    assert_eq!(
        runner.block_on(spawner),
        Err(kasync::executor::JoinError::Panicked)
    );
    let spawner = exec
        .spawn(async {
            let inner = exec.spawn(async { 5 });
            inner.unwrap().await.unwrap()
        })
        .unwrap();
    assert_eq!(runner.block_on(spawner), Ok(5));
    assert_eq!(exec.occupied(), 0);
}

/// Dropping a growing executor whose allocator panics while giving chunks
/// back: no double free, nothing used after free (miri). The executor must
/// have been `'static` to spawn, so this drops a never-spawned one and one
/// grown through a raw `'static` view (the test suite's own pattern).
#[test]
fn drop_with_a_panicking_deallocate() {
    let alloc = Flaky::leak();
    let mut place = Box::<Exec<1>>::new_uninit();
    let exec = Exec::<1>::init_growing(&mut place, Spin, Growth::new(alloc).chunk_slots(1))
        .ok()
        .unwrap();
    // SAFETY: (test only) the executor stays in `place` until dropped
    // below, and nothing it hands out outlives that.
    let exec: &'static Exec<1> = unsafe { &*(exec as *const Exec<1>) };
    {
        let runner = exec.runner().unwrap();
        let hs: Vec<_> = (0..3)
            .map(|i| exec.spawn(async move { i }).unwrap())
            .collect();
        runner.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
    }
    assert_eq!(
        alloc.live.load(Ordering::SeqCst),
        1 + 1 + 2,
        "leaves, table, two chunks"
    );
    alloc.panic_dealloc.store(true, Ordering::SeqCst);
    // SAFETY: initialised; nothing points into it any more.
    let r = quiet(move || drop(unsafe { place.assume_init() }));
    assert!(r.is_err());
    assert_eq!(
        alloc.live.load(Ordering::SeqCst),
        0,
        "every block given back, also after a deallocate panicked"
    );
}

// ------------------------------------------------- wakers across executors

/// Tasks in chunk slots of two executors wake each other and await each
/// other's join handles, on one thread.
#[test]
fn wakers_and_handles_cross_two_growing_executors() {
    let a = growing::<1>(Growth::new(leak_heap()).chunk_slots(2));
    let b = growing::<1>(Growth::new(leak_heap()).chunk_slots(2));
    let ra = a.runner().unwrap();
    let rb = b.runner().unwrap();
    let n = if cfg!(miri) { 5 } else { 40 };
    let slots: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; 2 * n]));
    let flags: Rc<Vec<Cell<bool>>> = Rc::new((0..2 * n).map(|_| Cell::new(false)).collect());
    let mut a_handles = Vec::new();
    for i in 0..n {
        let (slots, flags) = (slots.clone(), flags.clone());
        a_handles.push(
            ra.spawn_local(poll_fn(move |cx| {
                if flags[i].get() {
                    // Wake our partner on B.
                    flags[n + i].set(true);
                    if let Some(w) = slots.borrow_mut()[n + i].take() {
                        w.wake();
                    }
                    Poll::Ready(i)
                } else {
                    slots.borrow_mut()[i] = Some(cx.waker().clone());
                    Poll::Pending
                }
            }))
            .unwrap(),
        );
    }
    // B's tasks await A's handles (the join waker is a B waker in a chunk).
    let mut b_handles = Vec::new();
    for (i, h) in a_handles.into_iter().enumerate() {
        let (slots, flags) = (slots.clone(), flags.clone());
        b_handles.push(
            rb.spawn_local(async move {
                let got = h.await.unwrap();
                assert_eq!(got, i);
                poll_fn(|cx| {
                    if flags[n + i].get() {
                        Poll::Ready(())
                    } else {
                        slots.borrow_mut()[n + i] = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
                i
            })
            .unwrap(),
        );
    }
    for _ in 0..3 {
        ra.tick(u32::MAX);
        rb.tick(u32::MAX);
    }
    // Wake A's tasks from the B side, in reverse.
    for i in (0..n).rev() {
        flags[i].set(true);
        let w = slots.borrow_mut()[i].take().unwrap();
        w.wake();
    }
    for _ in 0..6 {
        ra.tick(u32::MAX);
        rb.tick(u32::MAX);
    }
    let results = rb.block_on(async {
        let mut v = Vec::new();
        for h in b_handles {
            v.push(h.await.unwrap());
        }
        v
    });
    assert_eq!(results, (0..n).collect::<Vec<_>>());
    assert_eq!(a.occupied(), 0);
    assert_eq!(b.occupied(), 0);
}

/// A waker of a chunk slot's task kept across many reuses of the slot
/// (more than the 64 tags) and woken at every step: at most a spurious
/// poll, never a poll of a free slot.
#[test]
fn stale_chunk_waker_across_generations() {
    let exec = growing::<1>(Growth::new(leak_heap()).chunk_slots(1).max_slots(2));
    let runner = exec.runner().unwrap();
    let _hold = exec.spawn(core::future::pending::<()>()).unwrap(); // slot 0
    let stale: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
    let s2 = stale.clone();
    let first = runner
        .spawn_local(poll_fn(move |cx| {
            *s2.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        }))
        .unwrap();
    runner.block_on(first).unwrap();
    let stale = stale.borrow_mut().take().unwrap();
    let rounds = if cfg!(miri) { 70 } else { 300 };
    for round in 0..rounds {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let h = runner
            .spawn_local(poll_fn(move |_| {
                p.set(p.get() + 1);
                if p.get() >= 3 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
            .unwrap();
        runner.tick(u32::MAX); // first poll
        stale.wake_by_ref();
        runner.tick(u32::MAX);
        assert!(polls.get() <= 2, "round {round}");
        h.abort();
        runner.tick(u32::MAX);
        stale.wake_by_ref(); // into a free slot
        runner.tick(u32::MAX);
        let _ = runner.block_on(h);
    }
    assert_eq!(exec.occupied(), 1);
}

// ------------------------------------------------------------- fairness

/// Thousands of tasks that wake themselves on every poll, spread over
/// inline slots, many leaf words and several middle words: every task is
/// polled about as often as every other.
#[test]
fn self_waking_tasks_share_the_loop_fairly() {
    let n = if cfg!(miri) { 200 } else { 9_000 };
    let exec = growing::<64>(Growth::new(leak_heap()).chunk_slots(64));
    let runner = exec.runner().unwrap();
    let polls: Rc<Vec<Cell<u32>>> = Rc::new((0..n).map(|_| Cell::new(0)).collect());
    for i in 0..n {
        let polls = polls.clone();
        let _detached = runner
            .spawn_local(poll_fn(move |cx: &mut Context<'_>| {
                polls[i].set(polls[i].get() + 1);
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            }))
            .unwrap();
    }
    let rounds = 5;
    let mut total = 0u64;
    while total < (rounds * n) as u64 {
        total += u64::from(runner.tick(64).polled);
    }
    let min = polls.iter().map(Cell::get).min().unwrap();
    let max = polls.iter().map(Cell::get).max().unwrap();
    assert!(
        min + 2 >= max && min >= rounds as u32 - 1,
        "min {min} max {max} polls after {total}"
    );
}

/// A few self-waking tasks in high chunk slots plus one task that is woken
/// by another (not by itself) in a low slot: the woken one runs within a
/// round.
#[test]
fn a_woken_task_is_not_starved_by_busy_ones() {
    let exec = growing::<2>(Growth::new(leak_heap()).chunk_slots(64));
    let runner = exec.runner().unwrap();
    let n = if cfg!(miri) { 130 } else { 5_000 };
    let busy_at: Vec<usize> = vec![n - 1, n / 2, 70, 65];
    let mut busy_handles = Vec::new();
    let probe_polls = Rc::new(Cell::new(0u32));
    let probe_waker: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
    for i in 0..n {
        let busy = busy_at.contains(&i);
        let (pp, pw) = (probe_polls.clone(), probe_waker.clone());
        let h = runner
            .spawn_local(poll_fn(move |cx: &mut Context<'_>| {
                if busy {
                    // Wakes itself, and the probe.
                    cx.waker().wake_by_ref();
                    if let Some(w) = pw.borrow().as_ref() {
                        w.wake_by_ref();
                    }
                } else if i == 1 {
                    pp.set(pp.get() + 1);
                    *pw.borrow_mut() = Some(cx.waker().clone());
                }
                Poll::<()>::Pending
            }))
            .unwrap();
        busy_handles.push(h);
    }
    runner.tick(2 * n as u32);
    let before = probe_polls.get();
    for _ in 0..50 {
        runner.tick(8);
    }
    assert!(
        probe_polls.get() > before + 10,
        "probe polled {} times in 50 ticks",
        probe_polls.get() - before
    );
    for h in &busy_handles {
        h.abort();
    }
    drop(busy_handles);
}

// --------------------------------------------------------------- threads

/// Threads spawn into a growing executor and wake its chunk tasks while
/// its run loop parks (ThreadPlatform): no lost wake, no hang.
#[test]
fn threads_spawn_and_wake_while_the_loop_parks() {
    use kasync::executor::ThreadPlatform;
    use std::sync::{Arc, Mutex, mpsc};
    type TExec = Executor<ThreadPlatform, 2, 256>;
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let place = Box::leak(Box::new_uninit());
        let exec: &'static TExec = keep(
            TExec::init_growing(
                place,
                ThreadPlatform::new(),
                Growth::new(leak_heap()).chunk_slots(4),
            )
            .unwrap(),
        );
        let runner = exec.runner().unwrap();
        let per = if cfg!(miri) { 4 } else { 300 };
        let threads = 2;
        struct Gate {
            open: AtomicBool,
            waker: Mutex<Option<Waker>>,
        }
        let gates: Arc<Vec<Gate>> = Arc::new(
            (0..per * threads)
                .map(|_| Gate {
                    open: AtomicBool::new(false),
                    waker: Mutex::new(None),
                })
                .collect(),
        );
        let (h_tx, h_rx) = mpsc::channel();
        let mut ts = Vec::new();
        for t in 0..threads {
            let gates = gates.clone();
            let h_tx = h_tx.clone();
            ts.push(std::thread::spawn(move || {
                for k in 0..per {
                    let id = t * per + k;
                    let g2 = gates.clone();
                    let h = exec
                        .spawn(poll_fn(move |cx| {
                            let g = &g2[id];
                            *g.waker.lock().unwrap() = Some(cx.waker().clone());
                            if g.open.load(Ordering::SeqCst) {
                                Poll::Ready(id)
                            } else {
                                Poll::Pending
                            }
                        }))
                        .unwrap();
                    h_tx.send(h).unwrap();
                    if k % 3 == 0 {
                        std::thread::yield_now();
                    }
                }
                // Open the gates in an odd order.
                for k in (0..per).rev().step_by(2).chain((0..per).step_by(2)) {
                    let g = &gates[t * per + k];
                    g.open.store(true, Ordering::SeqCst);
                    if let Some(w) = g.waker.lock().unwrap().take() {
                        w.wake();
                    }
                }
            }));
        }
        drop(h_tx);
        let sum = runner.block_on(async {
            let mut sum = 0;
            // Handles arrive from the threads while the loop runs.
            let mut got = 0;
            while got < per * threads {
                let h = loop {
                    match h_rx.try_recv() {
                        Ok(h) => break h,
                        Err(_) => {
                            // Let the loop park a little.
                            let mut yielded = false;
                            poll_fn(|cx| {
                                if yielded {
                                    Poll::Ready(())
                                } else {
                                    yielded = true;
                                    cx.waker().wake_by_ref();
                                    Poll::Pending
                                }
                            })
                            .await;
                        }
                    }
                };
                sum += h.await.unwrap();
                got += 1;
            }
            sum
        });
        for t in ts {
            t.join().unwrap();
        }
        let _ = done_tx.send(sum);
    });
    let n = if cfg!(miri) { 8 } else { 600 };
    let secs = if cfg!(miri) { 600 } else { 20 };
    let sum = done_rx
        .recv_timeout(std::time::Duration::from_secs(secs))
        .expect("hung: a wake was lost");
    assert_eq!(sum, (0..n).sum::<usize>());
}

/// Root future woken from another thread while tasks in chunks are idle and
/// the loop parks (ThreadPlatform), many times.
#[test]
fn cross_thread_wakes_of_chunk_tasks_while_parked() {
    use kasync::executor::ThreadPlatform;
    use std::sync::{Arc, Mutex, mpsc};
    type TExec = Executor<ThreadPlatform, 1, 256>;
    let (done_tx, done_rx) = mpsc::channel();
    let rounds = if cfg!(miri) { 10 } else { 3000 };
    std::thread::spawn(move || {
        let place = Box::leak(Box::new_uninit());
        let exec: &'static TExec = keep(
            TExec::init_growing(
                place,
                ThreadPlatform::new(),
                Growth::new(leak_heap()).chunk_slots(1),
            )
            .unwrap(),
        );
        let runner = exec.runner().unwrap();
        // Fill a few chunk slots with idle tasks first.
        let idle: Vec<_> = (0..5)
            .map(|_| exec.spawn(core::future::pending::<()>()).unwrap())
            .collect();
        let shared: Arc<Mutex<(usize, Option<Waker>)>> = Arc::new(Mutex::new((0, None)));
        let s2 = shared.clone();
        let task = exec
            .spawn(poll_fn(move |cx| {
                let mut g = s2.lock().unwrap();
                if g.0 >= rounds {
                    Poll::Ready(g.0)
                } else {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }))
            .unwrap();
        let s3 = shared.clone();
        let waker_thread = std::thread::spawn(move || {
            for _ in 0..rounds {
                loop {
                    let w = {
                        let mut g = s3.lock().unwrap();
                        let w = g.1.take();
                        if w.is_some() {
                            g.0 += 1;
                        }
                        w
                    };
                    if let Some(w) = w {
                        w.wake();
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        });
        let got = runner.block_on(task).unwrap();
        waker_thread.join().unwrap();
        for h in &idle {
            h.abort();
        }
        drop(idle);
        let _ = done_tx.send(got);
    });
    let secs = if cfg!(miri) { 600 } else { 20 };
    let got = done_rx
        .recv_timeout(std::time::Duration::from_secs(secs))
        .expect("hung: a cross-thread wake was lost");
    assert_eq!(got, rounds);
}

/// `Executor::freed_slots` counts every slot that became free, including
/// those of tasks that panicked — also when the panic unwinds out of
/// `tick` — and those freed by dropping a handle.
#[test]
fn freed_slots_counts_a_panicked_task() {
    let exec = growing::<1>(Growth::new(leak_heap()).chunk_slots(1));
    let runner = exec.runner().unwrap();
    let ok = exec.spawn(async {}).unwrap();
    let boom = runner.spawn_local(async { panic!("on purpose") }).unwrap();
    let r = quiet(|| runner.tick(u32::MAX));
    assert!(r.is_err());
    drop(ok);
    drop(boom);
    runner.tick(u32::MAX);
    assert_eq!(
        exec.freed_slots(),
        2,
        "two slots came free (one task completed, one panicked), freed_slots says {}",
        exec.freed_slots()
    );
}

// Silence unused warnings for helpers used only in some cfgs.
#[allow(dead_code)]
fn _unused(_: Pin<&mut ()>) {}

/// Two threads spawn short tasks at a small limit (retrying on `Full`)
/// while the run loop finishes them and slots are reused and chunks added:
/// every task runs exactly once and nothing hangs.
#[test]
fn threads_spawn_at_the_limit_while_tasks_finish() {
    use kasync::executor::ThreadPlatform;
    use std::sync::mpsc;
    type TExec = Executor<ThreadPlatform, 2, 128>;
    let per = if cfg!(miri) { 20 } else { 50_000 };
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let place = Box::leak(Box::new_uninit());
        let exec: &'static TExec = keep(
            TExec::init_growing(
                place,
                ThreadPlatform::new(),
                Growth::new(leak_heap()).chunk_slots(4).max_slots(23),
            )
            .unwrap(),
        );
        let runner = exec.runner().unwrap();
        let ran: &'static Vec<AtomicUsize> = keep(Box::leak(Box::new(
            (0..2 * per).map(|_| AtomicUsize::new(0)).collect(),
        )));
        let finished_spawning: &'static AtomicUsize =
            keep(Box::leak(Box::new(AtomicUsize::new(0))));
        let ts: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut fulls = 0u64;
                    for k in 0..per {
                        let id = t * per + k;
                        let mut fut = async move {
                            ran[id].fetch_add(1, Ordering::SeqCst);
                        };
                        loop {
                            match exec.spawn_or_return(fut) {
                                Ok(h) => {
                                    drop(h);
                                    break;
                                }
                                Err(r) => {
                                    assert_eq!(r.error, SpawnError::Full);
                                    fulls += 1;
                                    fut = r.future;
                                    std::thread::yield_now();
                                }
                            }
                        }
                    }
                    finished_spawning.fetch_add(1, Ordering::SeqCst);
                    fulls
                })
            })
            .collect();
        runner.block_on(poll_fn(|cx| {
            if finished_spawning.load(Ordering::SeqCst) == 2 && exec.occupied() == 0 {
                Poll::Ready(())
            } else {
                // Poll again after the tasks: the spawners do not wake us.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }));
        let fulls: u64 = ts.into_iter().map(|t| t.join().unwrap()).sum();
        let bad = ran.iter().filter(|r| r.load(Ordering::SeqCst) != 1).count();
        let _ = done_tx.send((bad, fulls, exec.capacity()));
    });
    let secs = if cfg!(miri) { 900 } else { 120 };
    let (bad, fulls, cap) = done_rx
        .recv_timeout(std::time::Duration::from_secs(secs))
        .expect("hung");
    eprintln!("Full {fulls} times; capacity {cap}");
    assert_eq!(bad, 0, "tasks that did not run exactly once");
    assert!(cap <= 23, "capacity {cap} above the limit");
}

thread_local! {
    static SPAWN_HOOK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(None) };
}

/// An allocator that spawns on the executor it is growing (once, from
/// inside `allocate`): the executor's lock-free growth copes.
struct Reentrant;
// SAFETY: global-allocator blocks.
unsafe impl ChunkAlloc for Reentrant {
    fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        if let Some(hook) = SPAWN_HOOK.with(|h| h.borrow_mut().take()) {
            hook();
        }
        // SAFETY: never zero bytes.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: from `allocate(layout)`.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}

#[test]
fn executor_reentrant_allocator() {
    for hook_at_table in [true, false] {
        let exec = growing::<1>(Growth::new(&Reentrant).chunk_slots(2).max_slots(5));
        let runner = exec.runner().unwrap();
        let a = exec.spawn(async { 1 }).unwrap(); // inline
        let mut pre = Vec::new();
        if !hook_at_table {
            // Grow once so that the table exists; the hook hits a chunk.
            pre.push(exec.spawn(async { 10 }).unwrap());
            pre.push(exec.spawn(async { 10 }).unwrap());
        }
        let inner: Rc<RefCell<Vec<kasync::executor::JoinHandle<i32>>>> = Rc::default();
        let i2 = inner.clone();
        SPAWN_HOOK.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                i2.borrow_mut().push(exec.spawn(async { 2 }).unwrap());
            }))
        });
        let b = exec.spawn(async { 3 }).unwrap();
        let mut all: Vec<_> = vec![a, b];
        all.extend(inner.borrow_mut().drain(..));
        all.extend(pre);
        let sum = runner.block_on(async {
            let mut s = 0;
            for h in all {
                s += h.await.unwrap();
            }
            s
        });
        let want = if hook_at_table { 6 } else { 26 };
        assert_eq!(sum, want);
        assert_eq!(exec.occupied(), 0);
    }
}
