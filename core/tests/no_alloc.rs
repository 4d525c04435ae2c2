//! The core never allocates: a counting global allocator watches this
//! thread through spawn, wake, complete, abort, errors and the IrqQueue.

use std::future::poll_fn;
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
