//! Adversarial checks of the detached-task, join-handle, ready-queue,
//! thread-platform and reap-wake changes.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

mod support;

use kasync::chunk::Growth;
use kasync::executor::{Executor, JoinHandle, Spin, ThreadPlatform};
use kasync_tests::watchdog::watchdog;
use support::heap::{keep, leak_heap};

/// Counts drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Yields `n` times (waking itself), then finishes.
fn yield_n(n: u32) -> impl Future<Output = ()> + Send {
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

/// Threads spawn detached tasks (outputs with and without drop glue),
/// tasks with handles that they abort, drop unpolled, poll once with a
/// foreign waker and then drop, or wait for — all while the runner on this
/// thread runs them. Every future and every output is dropped exactly once,
/// and every slot comes back.
#[test]
fn detached_and_handled_tasks_from_other_threads() {
    static EXEC: Executor<Spin, 8, 128> = Executor::new(Spin);
    let per_thread: usize = if cfg!(miri) { 40 } else { 4_000 };
    let threads = 2;
    watchdog("detached_and_handled_tasks_from_other_threads", || {
        let runner = EXEC.runner().unwrap();
        let futures_dropped = Arc::new(AtomicUsize::new(0));
        let outputs_dropped = Arc::new(AtomicUsize::new(0));
        let outputs_made = Arc::new(AtomicUsize::new(0));
        let finished_threads = Arc::new(AtomicUsize::new(0));
        let attempts = Arc::new(AtomicUsize::new(0));
        let freed_before = EXEC.freed_slots();
        let mut joins = Vec::new();
        for t in 0..threads {
            let at = attempts.clone();
            let (fd, od, om, fin) = (
                futures_dropped.clone(),
                outputs_dropped.clone(),
                outputs_made.clone(),
                finished_threads.clone(),
            );
            joins.push(std::thread::spawn(move || {
                let (count, foreign) = kasync_tests::wake::counting_waker();
                let mut cx = Context::from_waker(&foreign);
                let mut kept: Vec<JoinHandle<Option<Counted>>> = Vec::new();
                for i in 0..per_thread {
                    let kind = (i + t) % 6;
                    let yields = (i % 3) as u32;
                    loop {
                        at.fetch_add(1, Ordering::SeqCst);
                        let guard = Counted(fd.clone());
                        let (od, om) = (od.clone(), om.clone());
                        let result = match kind {
                            0 => EXEC
                                .spawn_detached(async move {
                                    let _g = guard;
                                    yield_n(yields).await;
                                    7u64
                                })
                                .map(|()| None),
                            1 => EXEC
                                .spawn_detached(async move {
                                    let _g = guard;
                                    yield_n(yields).await;
                                    om.fetch_add(1, Ordering::SeqCst);
                                    Counted(od)
                                })
                                .map(|()| None),
                            _ => EXEC
                                .spawn(async move {
                                    let _g = guard;
                                    yield_n(yields).await;
                                    om.fetch_add(1, Ordering::SeqCst);
                                    Some(Counted(od))
                                })
                                .map(Some),
                        };
                        match result {
                            Ok(None) => break,
                            Ok(Some(mut handle)) => {
                                match kind {
                                    2 => {
                                        handle.abort();
                                        drop(handle);
                                    }
                                    3 => drop(handle),
                                    4 => {
                                        if Pin::new(&mut handle).poll(&mut cx).is_pending()
                                            && i % 2 == 0
                                        {
                                            handle.abort();
                                        }
                                        drop(handle);
                                    }
                                    _ => {
                                        if Pin::new(&mut handle).poll(&mut cx).is_pending() {
                                            kept.push(handle);
                                        }
                                    }
                                }
                                break;
                            }
                            Err(_) => std::thread::yield_now(),
                        }
                    }
                    // Resolve kept handles from time to time.
                    if kept.len() > 3 {
                        for mut h in kept.drain(..) {
                            loop {
                                match Pin::new(&mut h).poll(&mut cx) {
                                    Poll::Ready(_) => break,
                                    Poll::Pending => std::thread::yield_now(),
                                }
                            }
                        }
                    }
                }
                for mut h in kept.drain(..) {
                    loop {
                        match Pin::new(&mut h).poll(&mut cx) {
                            Poll::Ready(_) => break,
                            Poll::Pending => std::thread::yield_now(),
                        }
                    }
                }
                let _ = count.get();
                fin.fetch_add(1, Ordering::SeqCst);
            }));
        }
        while finished_threads.load(Ordering::SeqCst) < threads || EXEC.occupied() != 0 {
            if !runner.tick(64).ready_left {
                std::thread::yield_now();
            }
        }
        for j in joins {
            j.join().unwrap();
        }
        let total = threads * per_thread;
        assert_eq!(EXEC.occupied(), 0, "every slot came back");
        assert_eq!(
            futures_dropped.load(Ordering::SeqCst),
            attempts.load(Ordering::SeqCst),
            "every future dropped exactly once"
        );
        assert_eq!(
            outputs_dropped.load(Ordering::SeqCst),
            outputs_made.load(Ordering::SeqCst),
            "every output dropped exactly once"
        );
        assert_eq!(
            EXEC.freed_slots().wrapping_sub(freed_before),
            total,
            "one free per task"
        );
    });
}

/// A task that holds its own handle, aborts itself and stays pending: the
/// run loop drops the future, which lets go of the handle inside the drop,
/// then finishes the task with no handle left (the one-step free).
#[test]
fn a_task_that_aborts_itself_through_its_own_handle() {
    static EXEC: Executor<Spin, 2, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    for round in 0..4 {
        let own: Arc<Mutex<Option<JoinHandle<u32>>>> = Arc::default();
        let o = own.clone();
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = Counted(dropped.clone());
        let handle = EXEC
            .spawn(async move {
                let _g = guard;
                let me = o.lock().unwrap().take().expect("handed in");
                me.abort();
                if round % 2 == 0 {
                    // Keep the handle in the future: dropped with it.
                    let _keep = me;
                    core::future::pending::<u32>().await
                } else {
                    drop(me);
                    core::future::pending::<u32>().await
                }
            })
            .unwrap();
        *own.lock().unwrap() = Some(handle);
        let freed = EXEC.freed_slots();
        while runner.tick(8).ready_left {}
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "round {round}");
        assert_eq!(EXEC.occupied(), 0, "round {round}");
        assert_eq!(EXEC.freed_slots().wrapping_sub(freed), 1, "round {round}");
    }
}

/// A task that returns `Ready` while holding its own handle: the handle is
/// dropped with the future, inside the poll, before `finish` reads the
/// state. Then the slot is reused by a task whose handle is awaited.
#[test]
fn a_task_finishing_with_its_own_handle_inside() {
    static EXEC: Executor<Spin, 1, 128> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let own: Arc<Mutex<Option<JoinHandle<u32>>>> = Arc::default();
    let o = own.clone();
    let handle = EXEC
        .spawn(async move {
            let me = o.lock().unwrap().take().expect("handed in");
            // Register a waker of this very task in its own slot's join
            // waker, then finish with the handle still in the future.
            let mut me = me;
            poll_fn(|cx| {
                let _ = Pin::new(&mut me).poll(cx);
                Poll::Ready(())
            })
            .await;
            let _keep = me;
            5
        })
        .unwrap();
    *own.lock().unwrap() = Some(handle);
    while runner.tick(8).ready_left {}
    assert_eq!(EXEC.occupied(), 0);
    let next = EXEC.spawn(async { 9u32 }).unwrap();
    assert_eq!(runner.block_on(next), Ok(9));
    assert_eq!(EXEC.occupied(), 0);
}

/// A handle polled with a waker whose clone panics: the registration
/// unwinds, the task finishes, and neither the handle nor the next task of
/// the slot is confused.
#[test]
fn a_handle_whose_waker_clone_panics() {
    use std::task::{RawWaker, RawWakerVTable};
    static EXEC: Executor<Spin, 1, 128> = Executor::new(Spin);
    static CLONES: AtomicUsize = AtomicUsize::new(0);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static PANIC_CLONE: AtomicBool = AtomicBool::new(true);
    unsafe fn clone(p: *const ()) -> RawWaker {
        if PANIC_CLONE.load(Ordering::SeqCst) {
            panic!("clone panics");
        }
        CLONES.fetch_add(1, Ordering::SeqCst);
        RawWaker::new(p, &VTABLE)
    }
    unsafe fn wake(_: *const ()) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
    unsafe fn wake_by_ref(_: *const ()) {}
    unsafe fn drop_w(_: *const ()) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_w);
    // SAFETY: the vtable's functions ignore the data.
    let waker = std::mem::ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE))
    });
    let runner = EXEC.runner().unwrap();
    let flag = Rc::new(Cell::new(false));
    let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    let (f, s) = (flag.clone(), slot.clone());
    let mut handle = runner
        .spawn_local(poll_fn(move |cx| {
            if f.get() {
                Poll::Ready(3u32)
            } else {
                *s.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }))
        .unwrap();
    runner.tick(4);
    let mut cx = Context::from_waker(&waker);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut handle).poll(&mut cx);
    }));
    assert!(r.is_err());
    PANIC_CLONE.store(false, Ordering::SeqCst);
    assert!(Pin::new(&mut handle).poll(&mut cx).is_pending());
    flag.set(true);
    slot.borrow_mut().take().unwrap().wake();
    runner.tick(4);
    assert_eq!(CLONES.load(Ordering::SeqCst), DROPS.load(Ordering::SeqCst));
    assert_eq!(runner.block_on(handle), Ok(3));
    assert_eq!(EXEC.occupied(), 0);
    // The slot's next task, with a handle never polled.
    let h = runner.spawn_local(async { 4u32 }).unwrap();
    runner.tick(4);
    drop(h);
    assert_eq!(EXEC.occupied(), 0);
    assert_eq!(CLONES.load(Ordering::SeqCst), DROPS.load(Ordering::SeqCst));
}

fn growing<const N: usize>(growth: Growth) -> &'static Executor<ThreadPlatform, N, 128> {
    let place = Box::leak(Box::new_uninit());
    let exec = Executor::<ThreadPlatform, N, 128>::init_growing(
        place,
        ThreadPlatform::with_spin(Duration::ZERO),
        growth,
    )
    .expect("memory for the ready queue");
    keep(exec)
}

/// Many tasks of a growing executor (more than one middle word of the
/// ready queue: > 4 096) wait on flags another thread sets in a scattered
/// order, while the runner sleeps in `ThreadPlatform::park` (no spin).
/// Every task finishes (watchdog: a lost wake hangs).
#[test]
fn scattered_wakes_from_another_thread_into_a_growing_executor() {
    let heap = leak_heap();
    let exec = growing::<4>(Growth::new(heap).chunk_slots(512));
    let tasks: usize = if cfg!(miri) { 70 } else { 5_000 };
    let rounds = if cfg!(miri) { 2 } else { 3 };
    watchdog(
        "scattered_wakes_from_another_thread_into_a_growing_executor",
        || {
            let runner = exec.runner().unwrap();
            struct Gate {
                round: AtomicUsize,
                waker: Mutex<Option<Waker>>,
            }
            let gates: Arc<Vec<Gate>> = Arc::new(
                (0..tasks)
                    .map(|_| Gate {
                        round: AtomicUsize::new(0),
                        waker: Mutex::new(None),
                    })
                    .collect(),
            );
            let done = Arc::new(AtomicUsize::new(0));
            let mut handles = Vec::new();
            for i in 0..tasks {
                let (g, d) = (gates.clone(), done.clone());
                handles.push(
                    exec.spawn(async move {
                        for r in 1..=rounds {
                            poll_fn(|cx| {
                                if g[i].round.load(Ordering::Acquire) >= r {
                                    return Poll::Ready(());
                                }
                                *g[i].waker.lock().unwrap() = Some(cx.waker().clone());
                                if g[i].round.load(Ordering::Acquire) >= r {
                                    Poll::Ready(())
                                } else {
                                    Poll::Pending
                                }
                            })
                            .await;
                        }
                        d.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap(),
                );
            }
            assert!(exec.capacity() >= tasks);
            let g = gates.clone();
            let waker_thread = std::thread::spawn(move || {
                for r in 1..=rounds {
                    // A scattered order over the index space (a stride
                    // coprime with the count), with pauses so the runner sleeps.
                    let stride = (4_099 % tasks.max(2)) | 1;
                    let mut i = 0;
                    for k in 0..tasks {
                        i = (i + stride) % tasks;
                        g[i].round.store(r, Ordering::Release);
                        if let Some(w) = g[i].waker.lock().unwrap().take() {
                            w.wake();
                        }
                        if k % 97 == 0 {
                            std::thread::sleep(Duration::from_micros(50));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
            let results = runner.block_on(async {
                let mut out = Vec::new();
                for h in handles {
                    out.push(h.await);
                }
                out
            });
            waker_thread.join().unwrap();
            assert!(results.iter().all(|r| r.is_ok()));
            assert_eq!(done.load(Ordering::SeqCst), tasks);
            assert_eq!(exec.occupied(), 0);
        },
    );
}

/// The same on a fixed executor of 4 096 tasks (64 words), runner using
/// the default spin: wakes land during the spin, during the park, and
/// between.
#[test]
fn scattered_wakes_into_a_full_fixed_executor_with_spin() {
    const T: usize = if cfg!(miri) { 130 } else { 4096 };
    static EXEC: Executor<ThreadPlatform, T, 128> = Executor::new(ThreadPlatform::new());
    watchdog(
        "scattered_wakes_into_a_full_fixed_executor_with_spin",
        || {
            let runner = EXEC.runner().unwrap();
            let flags: Arc<Vec<(AtomicBool, Mutex<Option<Waker>>)>> = Arc::new(
                (0..T)
                    .map(|_| (AtomicBool::new(false), Mutex::new(None)))
                    .collect(),
            );
            let mut handles = Vec::new();
            for i in 0..T {
                let f = flags.clone();
                handles.push(
                    EXEC.spawn(async move {
                        poll_fn(|cx| {
                            if f[i].0.load(Ordering::Acquire) {
                                return Poll::Ready(());
                            }
                            *f[i].1.lock().unwrap() = Some(cx.waker().clone());
                            if f[i].0.load(Ordering::Acquire) {
                                Poll::Ready(())
                            } else {
                                Poll::Pending
                            }
                        })
                        .await
                    })
                    .unwrap(),
                );
            }
            let f = flags.clone();
            let t = std::thread::spawn(move || {
                let mut i = 0;
                for k in 0..T {
                    i = (i + 2_053) % T;
                    f[i].0.store(true, Ordering::Release);
                    if let Some(w) = f[i].1.lock().unwrap().take() {
                        w.wake();
                    }
                    // Gaps around the 5 µs spin.
                    let gap = [0u64, 1, 3, 6, 20][k % 5];
                    if gap > 0 {
                        let until = std::time::Instant::now() + Duration::from_micros(gap);
                        while std::time::Instant::now() < until {
                            std::hint::spin_loop();
                        }
                    }
                }
            });
            runner.block_on(async {
                for h in handles {
                    h.await.unwrap();
                }
            });
            t.join().unwrap();
            assert_eq!(EXEC.occupied(), 0);
        },
    );
}

/// `block_on`'s root future woken from another thread with the platform
/// spinning for ever (a spin far longer than the test): only the spin's
/// watch can see the wake.
#[test]
fn root_wakes_from_another_thread_with_an_endless_spin() {
    static EXEC: Executor<ThreadPlatform, 2, 128> =
        Executor::new(ThreadPlatform::with_spin(Duration::MAX));
    watchdog(
        "root_wakes_from_another_thread_with_an_endless_spin",
        || {
            let runner = EXEC.runner().unwrap();
            let rounds = if cfg!(miri) { 5 } else { 2_000 };
            let turn = Arc::new(AtomicUsize::new(0));
            let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
            let (t, w) = (turn.clone(), waker.clone());
            let other = std::thread::spawn(move || {
                for r in 0..rounds {
                    while t.load(Ordering::Acquire) != 2 * r + 1 {
                        std::hint::spin_loop();
                    }
                    t.store(2 * r + 2, Ordering::Release);
                    if let Some(w) = w.lock().unwrap().take() {
                        w.wake();
                    }
                }
            });
            runner.block_on(async {
                for r in 0..rounds {
                    turn.store(2 * r + 1, Ordering::Release);
                    poll_fn(|cx| {
                        if turn.load(Ordering::Acquire) == 2 * r + 2 {
                            return Poll::Ready(());
                        }
                        *waker.lock().unwrap() = Some(cx.waker().clone());
                        if turn.load(Ordering::Acquire) == 2 * r + 2 {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                }
            });
            other.join().unwrap();
        },
    );
}
