//! Growth limits with the cached limit and chunk shift.

mod support;

use kasync::SpawnError;
use kasync::chunk::Growth;
use kasync::executor::{Executor, Spin};
use support::heap::{keep, leak_heap};

type Exec<const N: usize> = Executor<Spin, N, 64>;

fn growing<const N: usize>(growth: Growth) -> &'static Exec<N> {
    let place = Box::leak(Box::new_uninit());
    keep(Exec::<N>::init_growing(place, Spin, growth).expect("memory for the ready queue"))
}

#[test]
fn limits_below_the_inline_count_and_zero() {
    let heap = leak_heap();
    for (max, want) in [(0usize, 1usize), (1, 1), (3, 3), (5, 5), (6, 6)] {
        let exec = growing::<5>(Growth::new(heap).chunk_slots(1).max_slots(max));
        assert_eq!(exec.max_capacity(), want, "max {max}");
        let runner = exec.runner().unwrap();
        let mut handles = Vec::new();
        loop {
            match exec.spawn(core::future::pending::<()>()) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    assert_eq!(e, SpawnError::Full);
                    break;
                }
            }
            assert!(
                handles.len() <= want,
                "max {max}: more tasks than the limit"
            );
        }
        assert_eq!(handles.len(), want, "max {max}");
        assert!(exec.capacity() <= want);
        runner.tick(u32::MAX);
        for h in &handles {
            h.abort();
        }
        while runner.tick(u32::MAX).ready_left {}
        drop(handles);
        assert_eq!(exec.occupied(), 0);
    }
}

#[test]
fn huge_chunks_and_odd_limits() {
    let heap = leak_heap();
    // 65 536 slots of 128 bytes per chunk: 8 MiB (a 32-bit target too).
    let exec = growing::<2>(Growth::new(heap).chunk_slots(usize::MAX).max_slots(7));
    assert_eq!(exec.max_capacity(), 7);
    let growth = Growth::new(heap).chunk_slots(usize::MAX);
    assert_eq!(growth.slots_per_chunk(), 65_536);
    let exec2 = growing::<1>(Growth::new(heap).chunk_slots(3).max_slots(usize::MAX));
    let max = exec2.max_capacity();
    assert!((4..=262_144).contains(&max));
    let runner = exec.runner().unwrap();
    let mut hs = Vec::new();
    while let Ok(h) = exec.spawn(async { 1u8 }) {
        hs.push(h);
    }
    assert_eq!(hs.len(), 7);
    assert_eq!(exec.capacity(), 7);
    while runner.tick(u32::MAX).ready_left {}
    for h in hs {
        assert_eq!(runner.block_on(h), Ok(1));
    }
    assert_eq!(exec.occupied(), 0);
}
