//! Model checks of the task state machine, the ready queue and the waker
//! hand-off, exploring every interleaving (bounded by preemptions) with
//! loom. Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p core --test loom --release
//! ```
#![cfg(loom)]

use core::future::{Future, poll_fn};
use core::task::Poll;

use core::alloc::Layout;
use core::ptr::NonNull;

use kasync::IrqQueue;
use kasync::chunk::{ChunkAlloc, Growth};
use kasync::executor::{Executor, Idle, JoinError, Platform};
use loom::future::AtomicWaker;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread::{self, Thread};

/// Parks the loom thread that created it; `pend` unparks it (an unpark
/// before the park is remembered, as with std threads).
struct LoomPlatform {
    runner: Thread,
}

impl Platform for LoomPlatform {
    fn pend(&self) {
        self.runner.unpark();
    }
    fn park(&self, idle: &Idle<'_>) {
        if idle.is_idle() {
            thread::park();
        }
    }
}

// SAFETY-free: loom's `Thread` is only unparked, which is thread-safe.
unsafe impl Sync for LoomPlatform {}

type Exec = Executor<LoomPlatform, 2, 128>;

fn executor() -> &'static Exec {
    Box::leak(Box::new(Executor::new(LoomPlatform {
        runner: thread::current(),
    })))
}

/// The global allocator, as chunk memory.
struct Heap;

// SAFETY: the global allocator's blocks are fresh and valid until freed.
unsafe impl ChunkAlloc for Heap {
    fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: tables never ask for zero bytes.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: per the caller, `ptr` came from `allocate(layout)`.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}

/// A growing executor with one inline slot and one slot per chunk: the
/// second task lives in a chunk, and the ready queue has three levels
/// (under loom two leaf words share a middle word).
fn growing_executor() -> &'static Executor<LoomPlatform, 1, 128> {
    let place = Box::leak(Box::new_uninit());
    let platform = LoomPlatform {
        runner: thread::current(),
    };
    Executor::init_growing(place, platform, Growth::new(&Heap).chunk_slots(1)).unwrap()
}

/// Spawns a loom thread that may wake the runner, and returns a join that
/// first waits (spinning) until the thread's work is done. Loom treats an
/// unpark that reaches a thread blocked in `JoinHandle::join` as a broken
/// join, while std's join does not use the park token at all; waiting for
/// the work before joining keeps the platform's unparks out of the join.
fn spawn_waker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl FnOnce() -> T {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let handle = thread::spawn(move || {
        let out = f();
        d.store(true, Ordering::Release);
        out
    });
    move || {
        while !done.load(Ordering::Acquire) {
            thread::yield_now();
        }
        handle.join().unwrap()
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// As [`model`], for the sync primitives: a task that finds a waiter list
/// held spins (yielding to loom) until its holder lets go, and each turn of
/// that spin is a branch of its own.
fn model_spinning(f: impl Fn() + Sync + Send + 'static) {
    model_spinning_bounded(3, f);
}

/// [`model_spinning`] with fewer preemptions, for models of three threads.
fn model_spinning_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.max_branches =
        std::env::var("LOOM_SYNC_BRANCHES").map_or(20_000, |v| v.parse().unwrap());
    builder.check(f);
}

/// A flag set from another thread plus the waker of the task waiting on it.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register_by_ref(cx.waker());
            if self.set.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    fn fire(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// The wake arrives at every point of the task's poll and of the runner's
/// way into `park`; the task must always finish (loom reports a deadlock
/// if a wake is lost).
#[test]
fn wake_while_polling_and_while_parking() {
    model(|| wake_while_polling_and_while_parking_on(executor()));
}

/// The same on a growing executor (three-level ready queue).
#[test]
fn wake_while_polling_and_while_parking_growing() {
    model(|| wake_while_polling_and_while_parking_on(growing_executor()));
}

fn wake_while_polling_and_while_parking_on<const N: usize>(
    exec: &'static Executor<LoomPlatform, N, 128>,
) {
    {
        let runner = exec.runner().unwrap();
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let task = exec
            .spawn(async move {
                s.wait().await;
                7
            })
            .unwrap();
        let s = signal.clone();
        let join = spawn_waker(move || s.fire());
        assert_eq!(runner.block_on(task), Ok(7));
        join();
        // A wake that landed while the task finished leaves a queue entry
        // the next tick discards.
        runner.tick(4);
        assert_eq!(exec.occupied(), 0);
    }
}

/// Two tasks, each woken by the other thread: the ready queue is pushed
/// from a foreign thread while the runner takes batches from it.
#[test]
fn concurrent_pushes_into_the_ready_queue() {
    model(|| concurrent_pushes_into_the_ready_queue_on(executor()));
}

/// The same on a growing executor: the second task sits in a chunk, and
/// both tasks' leaf words share one middle word.
#[test]
fn concurrent_pushes_into_the_ready_queue_growing() {
    model(|| concurrent_pushes_into_the_ready_queue_on(growing_executor()));
}

/// Two threads spawn at once into a growing executor whose only inline
/// slot is taken: both add a chunk (one's is given back or both are
/// kept), and every task runs.
#[test]
fn concurrent_growth() {
    model(|| {
        let exec = growing_executor();
        let runner = exec.runner().unwrap();
        let first = exec.spawn(async { 0 }).unwrap();
        let join = spawn_waker(move || exec.spawn(async { 1 }).unwrap());
        let second = exec.spawn(async { 2 }).unwrap();
        let third = join();
        let sum = runner.block_on(async move {
            first.await.unwrap() + second.await.unwrap() + third.await.unwrap()
        });
        assert_eq!(sum, 3);
        assert_eq!(exec.occupied(), 0);
    });
}

fn concurrent_pushes_into_the_ready_queue_on<const N: usize>(
    exec: &'static Executor<LoomPlatform, N, 128>,
) {
    {
        let runner = exec.runner().unwrap();
        let a = Arc::new(Signal::default());
        let b = Arc::new(Signal::default());
        let (a1, b1) = (a.clone(), b.clone());
        let ta = exec.spawn(async move { a1.wait().await }).unwrap();
        let tb = exec.spawn(async move { b1.wait().await }).unwrap();
        let join = spawn_waker(move || {
            a.fire();
            b.fire();
        });
        runner.block_on(async {
            ta.await.unwrap();
            tb.await.unwrap();
        });
        join();
        runner.tick(4);
        // A wake that landed while the task finished leaves a queue entry
        // the next tick discards.
        runner.tick(4);
        assert_eq!(exec.occupied(), 0);
    }
}

/// `abort` from another thread races the task finishing on its own: the
/// handle sees exactly one outcome and the slot is freed.
#[test]
fn abort_races_completion() {
    model(|| {
        let exec = executor();
        let runner = exec.runner().unwrap();
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let task = exec.spawn(async move { s.wait().await }).unwrap();
        runner.tick(1);
        let task = Arc::new(task);
        let t = task.clone();
        let join = spawn_waker(move || t.abort());
        signal.fire();
        join();
        let task = Arc::try_unwrap(task).unwrap();
        let result = runner.block_on(task);
        assert!(
            matches!(result, Ok(()) | Err(JoinError::Cancelled)),
            "{result:?}"
        );
        assert_eq!(exec.occupied(), 0);
    });
}

/// The handle is dropped on another thread while the task finishes: the
/// output is dropped exactly once, by whichever side comes last.
#[test]
fn handle_drop_races_completion() {
    model(|| {
        let exec = executor();
        let runner = exec.runner().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        struct Output(Arc<AtomicUsize>);
        impl Drop for Output {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let signal = Arc::new(Signal::default());
        let (s, d) = (signal.clone(), drops.clone());
        let task = exec
            .spawn(async move {
                s.wait().await;
                Output(d)
            })
            .unwrap();
        runner.tick(1);
        let other = thread::spawn(move || drop(task));
        signal.fire();
        runner.tick(4);
        other.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(exec.occupied(), 0);
    });
}

/// The handle of a task whose output needs no drop is let go on another
/// thread while the task finishes — the run loop's one-step free races the
/// handle's release: the slot is freed exactly once, by whichever comes
/// last.
#[test]
fn handle_drop_races_a_one_step_finish() {
    model(|| {
        let exec = executor();
        let runner = exec.runner().unwrap();
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let freed_before = exec.freed_slots();
        let task = exec
            .spawn(async move {
                s.wait().await;
                7u32
            })
            .unwrap();
        runner.tick(1);
        let other = thread::spawn(move || drop(task));
        signal.fire();
        runner.tick(4);
        other.join().unwrap();
        assert_eq!(exec.occupied(), 0);
        assert_eq!(exec.freed_slots().wrapping_sub(freed_before), 1);
    });
}

/// Two producers (an interrupt and a thread) race into a 2-place queue
/// while the consumer receives: every value is received or counted as
/// dropped, none twice.
#[test]
fn irq_queue_two_producers_one_consumer() {
    model(|| {
        let queue: Arc<IrqQueue<u32, 2>> = Arc::new(IrqQueue::new());
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = queue.clone();
                thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..2 {
                        if q.push(p * 10 + i).is_ok() {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut received = Vec::new();
        if let Some(v) = queue.try_recv() {
            received.push(v);
        }
        let pushed: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
        while let Some(v) = queue.try_recv() {
            received.push(v);
        }
        assert_eq!(received.len(), pushed);
        assert_eq!(pushed + queue.dropped(), 4);
        received.sort();
        received.dedup();
        assert_eq!(received.len(), pushed, "no value received twice");
    });
}

// ----- kasync::sync ----------------------------------------------------

use kasync::sync::{Channel, Mutex, PubSub, Semaphore, Signal as LatestValue, WaitResult};

/// A send from "an interrupt" (another thread, `try_send`) wakes a task
/// waiting in `recv`, at every point of its registration.
#[test]
fn channel_try_send_wakes_a_waiting_receiver() {
    model_spinning(|| {
        let ch = Arc::new(Channel::<u32, 2>::new());
        let sender = {
            let ch = ch.clone();
            thread::spawn(move || ch.try_send(7).unwrap())
        };
        assert_eq!(loom::future::block_on(ch.recv()), 7);
        sender.join().unwrap();
    });
}

/// Two receivers wait — one on another thread, one polled here — and two
/// sends wake both (a send may find the list held by the other thread's
/// registration and leave its request to it).
#[test]
fn channel_two_sends_wake_two_receivers() {
    model_spinning(|| {
        let ch = Arc::new(Channel::<u32, 2>::new());
        let other = {
            let ch = ch.clone();
            thread::spawn(move || loom::future::block_on(ch.recv()))
        };
        let mut mine = Box::pin(ch.recv());
        let first = mine.as_mut().poll(&mut core::task::Context::from_waker(
            core::task::Waker::noop(),
        ));
        ch.try_send(1).unwrap();
        ch.try_send(2).unwrap();
        let mine = match first {
            Poll::Ready(v) => v,
            Poll::Pending => loom::future::block_on(mine),
        };
        let mut got = [mine, other.join().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

/// A receiver that registered and is dropped while a send notifies it
/// hands the notification on: the other waiting receiver gets the value.
#[test]
fn channel_dropped_receiver_hands_its_wake_on() {
    model_spinning_bounded(2, || {
        let ch = Arc::new(Channel::<u32, 2>::new());
        let waiting = {
            let ch = ch.clone();
            thread::spawn(move || loom::future::block_on(ch.recv()))
        };
        let mut first = Box::pin(ch.recv());
        let _ = first.as_mut().poll(&mut core::task::Context::from_waker(
            core::task::Waker::noop(),
        ));
        let sender = {
            let ch = ch.clone();
            thread::spawn(move || ch.try_send(5).unwrap())
        };
        let taken_by_first = match first.as_mut().poll(&mut core::task::Context::from_waker(
            core::task::Waker::noop(),
        )) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        };
        drop(first);
        sender.join().unwrap();
        if taken_by_first.is_some() {
            // The other receiver still waits: give it a value of its own.
            ch.try_send(6).unwrap();
        }
        let other = waiting.join().unwrap();
        assert!(other == 5 || (other == 6 && taken_by_first == Some(5)));
    });
}

/// Two receives at once on a full channel — one finds the other waking
/// senders and leaves its wake owed — while a sender waits for room twice:
/// both sends finish (no owed wake is lost).
#[test]
fn channel_concurrent_receives_owe_no_lost_sender_wake() {
    // One preemption suffices for the case that matters — a receive
    // preempted while it wakes, the other owing its wake — and keeps this
    // three-thread model short.
    model_spinning_bounded(1, || {
        let ch = Arc::new(Channel::<u32, 2>::new());
        ch.try_send(1).unwrap();
        ch.try_send(2).unwrap();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let ch = ch.clone();
                thread::spawn(move || ch.try_recv())
            })
            .collect();
        loom::future::block_on(ch.send(3));
        loom::future::block_on(ch.send(4));
        let mut got: Vec<u32> = receivers
            .into_iter()
            .filter_map(|r| r.join().unwrap())
            .collect();
        while let Some(v) = ch.try_recv() {
            got.push(v);
        }
        got.sort();
        assert_eq!(got, [1, 2, 3, 4]);
    });
}

/// Two threads increment under the async mutex: no increment is lost and
/// the hand-over to a waiter is never missed.
#[test]
fn mutex_hand_over_between_threads() {
    model_spinning(|| {
        let mutex = Arc::new(Mutex::new(0u32));
        let other = {
            let mutex = mutex.clone();
            thread::spawn(move || {
                let mut n = loom::future::block_on(mutex.lock());
                *n += 1;
            })
        };
        {
            let mut n = loom::future::block_on(mutex.lock());
            *n += 1;
        }
        other.join().unwrap();
        assert_eq!(*mutex.try_lock().unwrap(), 2);
    });
}

/// A permit released from "an interrupt" reaches a task waiting for it.
#[test]
fn semaphore_release_from_another_context() {
    model_spinning(|| {
        let sem = Arc::new(Semaphore::new(0));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.release(1))
        };
        loom::future::block_on(sem.acquire(1)).forget();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}

/// A value signalled from "an interrupt" reaches a task waiting for it.
#[test]
fn signal_from_another_context() {
    model_spinning(|| {
        let signal = Arc::new(LatestValue::new());
        let signaller = {
            let signal = signal.clone();
            thread::spawn(move || signal.signal(3u32))
        };
        assert_eq!(loom::future::block_on(signal.wait()), 3);
        signaller.join().unwrap();
    });
}

/// Two signals race (an interrupt preempting another's signal): the
/// newer wins, the older is dropped, nothing is lost or taken twice.
#[test]
fn signal_two_signallers_one_taker() {
    model_spinning(|| {
        let signal = Arc::new(LatestValue::new());
        let other = {
            let signal = signal.clone();
            thread::spawn(move || signal.signal(1u32))
        };
        signal.signal(2);
        let first = signal.try_take();
        other.join().unwrap();
        let second = signal.try_take();
        assert!(first.is_some() || second.is_some(), "a value was there");
        if let (Some(a), Some(b)) = (first, second) {
            assert_ne!(a, b, "one value taken twice");
        }
        assert!(signal.try_take().is_none());
    });
}

/// A message published from another thread wakes a waiting subscriber.
#[test]
fn pubsub_publish_wakes_a_subscriber() {
    model_spinning(|| {
        let news = Arc::new(PubSub::<u32, 2, 2>::new());
        let mut sub = news.subscriber().unwrap();
        let publisher = {
            let news = news.clone();
            thread::spawn(move || news.publish_immediate(9))
        };
        assert_eq!(
            loom::future::block_on(sub.next_message()),
            WaitResult::Message(9)
        );
        publisher.join().unwrap();
    });
}

/// Two receivers wait on two threads while a third sends twice.
#[test]
fn channel_two_sends_wake_two_receiving_threads() {
    // Three threads: at two preemptions the spinning turns exceed what
    // loom explores in reasonable time; the two-thread models above take
    // three.
    model_spinning_bounded(1, || {
        let ch = Arc::new(Channel::<u32, 2>::new());
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let ch = ch.clone();
                thread::spawn(move || loom::future::block_on(ch.recv()))
            })
            .collect();
        ch.try_send(1).unwrap();
        ch.try_send(2).unwrap();
        let mut got: Vec<u32> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

/// Two receivers wait; two sends race. A receiver may be woken while the
/// other send is still writing its place (the ring then says "empty"
/// although a later place is full): whoever is woken and finds nothing
/// waits again, and every value still reaches a receiver.
#[test]
fn channel_receiver_woken_during_an_unfinished_push() {
    use std::sync::Arc as StdArc;
    use std::sync::atomic::{AtomicBool as StdBool, Ordering as StdOrdering};
    use std::task::{Context, Wake, Waker};

    struct Flag(StdArc<StdBool>);
    impl Wake for Flag {
        fn wake(self: StdArc<Self>) {
            self.0.store(true, StdOrdering::SeqCst);
        }
    }
    model_spinning_bounded(3, || {
        let ch = Arc::new(Channel::<u32, 4>::new());
        let flags = [
            StdArc::new(StdBool::new(false)),
            StdArc::new(StdBool::new(false)),
        ];
        let wakers: Vec<Waker> = flags
            .iter()
            .map(|f| Waker::from(StdArc::new(Flag(f.clone()))))
            .collect();
        let mut receivers = [Box::pin(ch.recv()), Box::pin(ch.recv())];
        for (r, w) in receivers.iter_mut().zip(&wakers) {
            assert!(r.as_mut().poll(&mut Context::from_waker(w)).is_pending());
        }
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let ch = ch.clone();
                thread::spawn(move || ch.try_send(v).unwrap())
            })
            .collect();
        let mut got: [Option<u32>; 2] = [None, None];
        // Poll whoever was woken, concurrently with the sends and after.
        let mut step = |got: &mut [Option<u32>; 2]| {
            for i in 0..2 {
                if got[i].is_none() && flags[i].swap(false, StdOrdering::SeqCst) {
                    if let Poll::Ready(v) = receivers[i]
                        .as_mut()
                        .poll(&mut Context::from_waker(&wakers[i]))
                    {
                        got[i] = Some(v);
                    }
                }
            }
        };
        step(&mut got);
        step(&mut got);
        for s in senders {
            s.join().unwrap();
        }
        for _ in 0..4 {
            step(&mut got);
        }
        assert!(
            got.iter().all(Option::is_some),
            "lost wake-up: got {got:?}, {} value(s) left in the channel",
            ch.len()
        );
    });
}
