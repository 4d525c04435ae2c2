//! `JoinSet` at its edges: a panicking task, a dropped set, many tasks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use kasync::JoinError;
use kasync_host::JoinSet;

/// A task that panics is one `Panicked` entry; the others still give
/// their outputs.
#[test]
fn a_panicking_task_is_one_error_among_outputs() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { 1 }).unwrap();
        set.spawn(async { panic!("one task fails") }).unwrap();
        set.spawn(async { 3 }).unwrap();
        let mut outputs = Vec::new();
        let mut panicked = 0;
        while let Some(done) = set.join_next().await {
            match done {
                Ok(v) => outputs.push(v),
                Err(JoinError::Panicked) => panicked += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        outputs.sort();
        assert_eq!((outputs, panicked), (vec![1, 3], 1));
        assert!(set.is_empty());
    });
}

/// Dropping the set cancels what is still running: their futures are
/// dropped, their work never happens.
#[test]
fn dropping_the_set_cancels_its_tasks() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let finished = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        for _ in 0..4 {
            let finished = finished.clone();
            set.spawn(async move {
                kasync_host::sleep(Duration::from_millis(20)).await;
                finished.set(finished.get() + 1);
            })
            .unwrap();
        }
        assert_eq!(set.len(), 4);
        drop(set);
        kasync_host::sleep(Duration::from_millis(40)).await;
        assert_eq!(finished.get(), 0);
    });
}

/// Many tasks, joined as they finish, none lost; `shutdown` on an empty
/// set returns at once.
#[test]
fn many_tasks_none_lost() {
    let n = if cfg!(miri) { 8 } else { 2000 };
    kasync_host::Runtime::new().unwrap().block_on(async {
        let mut set = JoinSet::new();
        for i in 0..n {
            set.spawn(async move {
                kasync_host::sleep(Duration::from_micros((i % 7) as u64 * 100)).await;
                i
            })
            .unwrap();
        }
        let mut sum = 0usize;
        while let Some(done) = set.join_next().await {
            sum += done.unwrap();
        }
        assert_eq!(sum, n * (n - 1) / 2);
        set.shutdown().await;
    });
}
