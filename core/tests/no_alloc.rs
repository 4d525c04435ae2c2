//! The core never allocates: a counting global allocator watches this
//! thread through spawn, wake, complete, abort, errors and the IrqQueue.

use std::future::{Future, poll_fn};
use std::task::Poll;

use kasync::IrqQueue;
use kasync::executor::{Executor, JoinError, SpawnError, ThreadPlatform};
use kasync_tests::alloc_counter::{CountingAllocator, allocations_in};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CYCLES: u32 = if cfg!(miri) { 100 } else { 100_000 };

#[test]
fn spawn_wake_complete_abort_never_allocate() {
    static EXEC: Executor<ThreadPlatform, 8, 256> = Executor::new(ThreadPlatform::new());
    static EVENTS: IrqQueue<u32, 4> = IrqQueue::new();

    // The test itself must be able to see an allocation.
    assert!(
        allocations_in(|| drop(Box::new(1u8))).1 > 0,
        "counter works"
    );

    let runner = EXEC.runner().unwrap();
    // Warm-up: binds the thread platform to this thread (std may allocate
    // the thread handle on first use) — start-up, not steady state.
    runner.block_on(async {});

    let ((), allocations) = allocations_in(|| {
        let mut sum = 0u64;
        for i in 0..CYCLES {
            // spawn → poll (parks on the queue) → push wakes → complete.
            let handle = EXEC.spawn(async { EVENTS.recv().await }).unwrap();
            runner.tick(4);
            EVENTS.push(i).unwrap();
            sum += u64::from(runner.block_on(handle).unwrap());

            // A self-waking local task, awaited by another task.
            let mut left = 3;
            let spinner = runner
                .spawn_local(poll_fn(move |cx| {
                    if left == 0 {
                        return Poll::Ready(i);
                    }
                    left -= 1;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }))
                .unwrap();
            let outer = EXEC.spawn(async move { spinner.await.unwrap() }).unwrap();
            assert_eq!(runner.block_on(outer), Ok(i));

            // Abort, detached tasks and a full pool.
            if i % 16 == 0 {
                let stuck = EXEC.spawn(core::future::pending::<()>()).unwrap();
                runner.tick(4);
                stuck.abort();
                assert_eq!(runner.block_on(stuck), Err(JoinError::Cancelled));
                let _detached = EXEC.spawn(async {});
                let fill: [_; 7] = core::array::from_fn(|_| EXEC.spawn(async {}).unwrap());
                assert_eq!(EXEC.spawn(async {}).unwrap_err(), SpawnError::Full);
                for h in fill {
                    runner.block_on(h).unwrap();
                }
                let _ = EVENTS.push(0);
                let _ = EVENTS.try_recv();
            }
        }
        assert_eq!(sum, u64::from(CYCLES) * u64::from(CYCLES - 1) / 2);
    });
    assert_eq!(allocations, 0, "the core allocated {allocations} times");
}

/// Submit, complete, cancel, drop in flight, time out, sleep: the reactor,
/// its op table, the timers and the simulated backend never allocate.
#[test]
fn io_and_timers_never_allocate() {
    use core::pin::pin;
    use core::time::Duration;
    use kasync::executor::Spin;
    use kasync::io::sim::{SimDriver, SimNop, SimOpen, SimRead, SimWrite};
    use kasync::io::{BufPool, Reactor};
    use kasync::time::ManualClock;

    static EXEC: Executor<Spin, 2, 256> = Executor::new(Spin);
    static POOL: BufPool<8, 256> = BufPool::new();
    const ROUNDS: u32 = if cfg!(miri) { 20 } else { 10_000 };

    let runner = EXEC.runner().unwrap();
    let clock = ManualClock::new(1_000);
    let reactor = pin!(Reactor::<SimDriver<'_, 8>, &ManualClock, 8>::new(
        SimDriver::new(&clock).random(7),
        &clock
    ));
    let io = reactor.as_ref().handle();

    let ((), allocations) = allocations_in(|| {
        runner.block_on_with(&*reactor, async {
            for round in 0..ROUNDS {
                let (_, buf) = io.submit(SimRead::new(POOL.take().unwrap())).await;
                let _ = io.submit(SimWrite::new(buf)).await;
                if let Ok(fd) = io.submit(SimOpen).await {
                    reactor.with_driver(|sim| sim.close(fd));
                }
                // Dropped in flight (or cancelled explicitly): the buffer goes
                // back to the pool only after its completion.
                {
                    let mut read = pin!(io.submit(SimRead::new(POOL.take().unwrap())));
                    let _ = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
                    if round % 2 == 0 {
                        let _ = read.as_mut().cancel().await;
                    }
                }
                let _ = io
                    .timeout(Duration::from_millis(1), io.submit(SimNop))
                    .await;
                io.sleep(Duration::from_millis(u64::from(round % 3))).await;
            }
        });
        reactor.shutdown();
    });
    assert_eq!(allocations, 0, "the reactor allocated {allocations} times");
    assert_eq!(POOL.available(), 8, "every buffer is back in the pool");
    reactor.with_driver(|sim| assert_eq!(sim.open_fds(), 0));
}
