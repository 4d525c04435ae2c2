//! `spawn_blocking` at its edges: panics, a full pool, detached jobs, and
//! a runtime parked while the result is computed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use kasync::JoinError;
use kasync_host::blocking::MAX_BLOCKING_THREADS;
use kasync_host::spawn_blocking;

mod support;
use support::each_backend;

/// The result of a job that takes a while wakes the runtime parked on it
/// (either backend); a panicking job is `Panicked`, not a lost result.
#[test]
fn results_wake_a_parked_runtime_and_panics_are_errors() {
    each_backend("blocking", |rt| {
        rt.block_on(async {
            let slow = spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(20));
                7
            })
            .unwrap();
            assert_eq!(slow.await, Ok(7));
            let panics = spawn_blocking(|| -> u32 { panic!("a blocking job fails") }).unwrap();
            assert_eq!(panics.await, Err(JoinError::Panicked));
        })
    });
}

/// More jobs than threads all run; a dropped future's job still runs.
#[test]
fn more_jobs_than_threads_all_run_and_detached_ones_too() {
    let rt = kasync_host::Runtime::new().unwrap();
    rt.block_on(async {
        let ran = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..MAX_BLOCKING_THREADS * 3)
            .map(|i| {
                let ran = ran.clone();
                spawn_blocking(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    i
                })
                .unwrap()
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        drop(spawn_blocking(move || tx.send(()).unwrap()).unwrap());
        let mut sum = 0;
        for job in jobs {
            sum += job.await.unwrap();
        }
        let n = MAX_BLOCKING_THREADS * 3;
        assert_eq!(sum, n * (n - 1) / 2);
        assert_eq!(ran.load(Ordering::Relaxed), n);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the detached job ran");
    });
}
