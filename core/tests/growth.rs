//! Growing executors: task slots added in chunks that never move, a
//! three-level ready queue, limits and allocation failure.

use core::cell::Cell;
use core::future::poll_fn;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Poll, Waker};
use std::cell::RefCell;
use std::rc::Rc;

mod support;

use kasync::SpawnError;
use kasync::chunk::Growth;
use kasync::executor::{Executor, Spin};
use support::heap::{keep, leak_heap};

type Exec<const N: usize> = Executor<Spin, N, 128>;

/// A `'static` growing executor.
fn growing<const N: usize>(growth: Growth) -> &'static Exec<N> {
    let place = Box::leak(Box::new_uninit());
    let exec = Exec::<N>::init_growing(place, Spin, growth).expect("memory for the ready queue");
    keep(exec)
}

/// Waits until `flag` is set, counting its polls; stores its waker in
/// `waker`.
async fn wait(flag: Rc<Cell<bool>>, waker: Rc<RefCell<Option<Waker>>>, polls: Rc<Cell<u32>>) {
    poll_fn(|cx| {
        polls.set(polls.get() + 1);
        if flag.get() {
            Poll::Ready(())
        } else {
            *waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}

#[test]
fn chunks_are_added_when_full_and_their_slots_reused() {
    let heap = leak_heap();
    let exec = growing::<2>(Growth::new(heap).chunk_slots(2));
    let runner = exec.runner().unwrap();
    assert_eq!(exec.capacity(), 2);
    let n = if cfg!(miri) { 9 } else { 100 };
    let flag = Rc::new(Cell::new(false));
    let mut tasks = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..n {
        let waker = Rc::new(RefCell::new(None));
        wakers.push(waker.clone());
        let task = runner
            .spawn_local(wait(flag.clone(), waker, Rc::new(Cell::new(0))))
            .unwrap();
        tasks.push(task);
    }
    runner.tick(u32::MAX);
    assert_eq!(exec.occupied(), n);
    let grown = exec.capacity();
    assert!(grown >= n, "{grown} slots for {n} tasks");
    flag.set(true);
    for waker in &wakers {
        waker.borrow_mut().take().unwrap().wake();
    }
    runner.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(exec.occupied(), 0);
    // Every slot is free again: the next round reuses them.
    let tasks: Vec<_> = (0..n)
        .map(|i| exec.spawn(async move { i }).unwrap())
        .collect();
    assert_eq!(exec.capacity(), grown, "reused, not grown");
    let sum: usize = runner.block_on(async {
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, n * (n - 1) / 2);
}

#[test]
fn a_stale_waker_of_a_chunk_slot_does_not_poll_its_next_task() {
    let heap = leak_heap();
    let exec = growing::<1>(Growth::new(heap).chunk_slots(1));
    let runner = exec.runner().unwrap();
    let _inline = runner.spawn_local(core::future::pending::<()>()).unwrap();
    // The next task lives in a chunk.
    let flag = Rc::new(Cell::new(false));
    let waker = Rc::new(RefCell::new(None));
    let first = runner
        .spawn_local(wait(flag.clone(), waker.clone(), Rc::new(Cell::new(0))))
        .unwrap();
    runner.tick(u32::MAX);
    let stale = waker.borrow_mut().take().unwrap();
    flag.set(true);
    stale.wake_by_ref();
    runner.block_on(first).unwrap();
    // Its slot's next task: woken only by its own waker.
    let polls = Rc::new(Cell::new(0));
    let again = Rc::new(Cell::new(false));
    let second = runner
        .spawn_local(wait(again.clone(), waker.clone(), polls.clone()))
        .unwrap();
    runner.tick(u32::MAX);
    assert_eq!(polls.get(), 1);
    assert_eq!(exec.capacity(), 2, "the freed chunk slot was reused");
    stale.wake();
    runner.tick(u32::MAX);
    assert_eq!(polls.get(), 1, "a stale waker polled the slot's next task");
    again.set(true);
    waker.borrow_mut().take().unwrap().wake();
    runner.block_on(second).unwrap();
    assert_eq!(polls.get(), 2);
}

#[test]
fn the_limit_is_full_and_no_memory_is_out_of_memory() {
    let heap = leak_heap();
    let exec = growing::<2>(Growth::new(heap).chunk_slots(2).max_slots(5));
    let runner = exec.runner().unwrap();
    assert_eq!(exec.max_capacity(), 5);
    let tasks: Vec<_> = (0..5)
        .map(|_| exec.spawn(core::future::pending::<()>()).unwrap())
        .collect();
    assert_eq!(
        exec.spawn(core::future::pending::<()>()).unwrap_err(),
        SpawnError::Full
    );
    for task in &tasks {
        task.abort();
    }
    runner.tick(u32::MAX);
    drop(tasks);
    assert!(
        exec.spawn(async {}).is_ok(),
        "slots freed by aborts are reused"
    );

    let heap = leak_heap();
    let exec = growing::<1>(Growth::new(heap).chunk_slots(1));
    let runner = exec.runner().unwrap();
    // Ready-queue leaves, the chunk table and one chunk: then nothing.
    heap.budget
        .store(heap.live.load(Ordering::SeqCst) + 2, Ordering::SeqCst);
    let a = exec.spawn(core::future::pending::<()>()).unwrap();
    let b = exec.spawn(core::future::pending::<()>()).unwrap();
    let err = exec.spawn(core::future::pending::<()>()).unwrap_err();
    assert_eq!(err, SpawnError::OutOfMemory);
    assert!(err.to_string().contains("no memory"), "{err}");
    b.abort();
    runner.tick(u32::MAX);
    drop(b);
    let c = exec.spawn(async { 3 }).unwrap();
    assert_eq!(runner.block_on(c), Ok(3));
    drop(a);
}

#[test]
fn no_memory_for_the_ready_queue_is_an_error() {
    let heap = leak_heap();
    heap.budget.store(0, Ordering::SeqCst);
    let mut place = Box::<Exec<4>>::new_uninit();
    let err = Exec::<4>::init_growing(&mut place, Spin, Growth::new(heap)).unwrap_err();
    assert_eq!(err, SpawnError::OutOfMemory);
}

#[test]
fn a_dropped_growing_executor_gives_its_memory_back() {
    let heap = leak_heap();
    let mut place = Box::<Exec<4>>::new_uninit();
    let exec = Exec::<4>::init_growing(&mut place, Spin, Growth::new(heap))
        .ok()
        .unwrap();
    assert_eq!(exec.capacity(), 4);
    assert_eq!(
        heap.live.load(Ordering::SeqCst),
        1,
        "the ready queue's leaves"
    );
    // SAFETY: `init_growing` initialised it.
    drop(unsafe { place.assume_init() });
    assert_eq!(heap.live.load(Ordering::SeqCst), 0);
}

/// Deterministic pseudo-random numbers (xorshift).
fn shuffle(v: &mut [usize], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// The scale: 262 144 tasks on one executor (a few hundred under
/// miri), each waiting for its own wake; woken in random order, each is
/// polled exactly twice — every wake delivered once — and the executor is
/// full at exactly its maximum.
#[test]
fn a_quarter_million_tasks_woken_in_random_order() {
    let heap = leak_heap();
    let (n, chunk) = if cfg!(miri) {
        (300, 16)
    } else {
        (262_144, 256)
    };
    let exec = growing::<64>(Growth::new(heap).chunk_slots(chunk).max_slots(n));
    let runner = exec.runner().unwrap();
    let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; n]));
    let polls: Rc<Vec<Cell<u8>>> = Rc::new((0..n).map(|_| Cell::new(0)).collect());
    let done = Rc::new(Cell::new(0usize));
    for i in 0..n {
        let (wakers, polls, done) = (wakers.clone(), polls.clone(), done.clone());
        let mut woken = false;
        let _detached = runner
            .spawn_local(poll_fn(move |cx| {
                polls[i].set(polls[i].get() + 1);
                if woken {
                    done.set(done.get() + 1);
                    return Poll::Ready(());
                }
                woken = true;
                wakers.borrow_mut()[i] = Some(cx.waker().clone());
                Poll::Pending
            }))
            .unwrap();
    }
    assert_eq!(exec.capacity(), n);
    assert_eq!(
        runner.spawn_local(async {}).unwrap_err(),
        SpawnError::Full,
        "full at the limit"
    );
    while runner.tick(u32::MAX).ready_left {}
    assert!(polls.iter().all(|p| p.get() == 1));
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, 0x9e37_79b9_7f4a_7c15);
    for &i in &order {
        let waker = wakers.borrow_mut()[i].take().unwrap();
        waker.wake_by_ref();
        // A second wake before the poll is the same wake.
        waker.wake();
    }
    while runner.tick(u32::MAX).ready_left {}
    assert_eq!(done.get(), n);
    assert!(
        polls.iter().all(|p| p.get() == 2),
        "a task was polled other than twice"
    );
    assert_eq!(exec.occupied(), 0);
}

/// Threads spawn into one growing executor at once while it runs: every
/// task runs once, whichever thread added its chunk.
#[test]
fn threads_grow_one_executor_at_once() {
    let heap = leak_heap();
    let exec = growing::<1>(Growth::new(heap).chunk_slots(2));
    let runner = exec.runner().unwrap();
    let per_thread = if cfg!(miri) { 6 } else { 500 };
    let ran = keep(Box::leak(Box::new(AtomicUsize::new(0))));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|_| {
                        exec.spawn(async move {
                            ran.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let handles: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    runner.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 2 * per_thread);
    assert_eq!(exec.occupied(), 0);
}

/// A chunk whose size does not fit the address space (64 KiB slots, 65 536
/// per chunk, where `usize` has 32 bits — miri runs this on i686) is out of
/// memory, not a wrapped-around size and a small block written past its end.
#[cfg(target_pointer_width = "32")]
#[test]
fn a_chunk_larger_than_the_address_space_is_out_of_memory() {
    let heap = leak_heap();
    let place = Box::leak(Box::<Executor<Spin, 1, 65_536>>::new_uninit());
    let exec = Executor::<Spin, 1, 65_536>::init_growing(
        place,
        Spin,
        Growth::new(heap).chunk_slots(65_536),
    )
    .expect("memory for the ready queue");
    let exec = keep(exec);
    let _first = exec.spawn(core::future::pending::<()>()).unwrap();
    assert_eq!(
        exec.spawn(core::future::pending::<()>()).unwrap_err(),
        SpawnError::OutOfMemory
    );
}
