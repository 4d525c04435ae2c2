//! `spawn_blocking` with the pool full. Its own test binary (its own
//! process): the pool is the process's, and this test fills it.

use std::sync::{Arc, Barrier};

use kasync_host::blocking::{MAX_BLOCKING_THREADS, MAX_QUEUED_BLOCKING_JOBS};
use kasync_host::spawn_blocking;

/// With every thread busy and the queue full, one more job is a
/// `ResourceBusy` error that says so; once the jobs finish, the pool
/// takes work again.
#[test]
fn a_full_pool_refuses_with_an_error_then_recovers() {
    let rt = kasync_host::Runtime::new().unwrap();
    rt.block_on(async {
        let gate = Arc::new(Barrier::new(MAX_BLOCKING_THREADS + 1));
        let mut held = Vec::new();
        for _ in 0..MAX_BLOCKING_THREADS {
            let gate = gate.clone();
            held.push(spawn_blocking(move || gate.wait()).unwrap());
        }
        // Let the threads start and block (a job queued before they pick
        // theirs up would only wait in the queue: the count stays right).
        let mut queued = Vec::new();
        let mut refused = None;
        for _ in 0..MAX_QUEUED_BLOCKING_JOBS + MAX_BLOCKING_THREADS + 1 {
            match spawn_blocking(|| ()) {
                Ok(job) => queued.push(job),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let refused = refused.expect("the pool refuses at its limit");
        assert_eq!(refused.kind(), std::io::ErrorKind::ResourceBusy);
        assert!(
            refused.to_string().contains("blocking pool is full"),
            "{refused}"
        );
        gate.wait(); // release the threads
        for job in held {
            job.await.unwrap();
        }
        for job in queued {
            job.await.unwrap();
        }
        assert_eq!(spawn_blocking(|| 5).unwrap().await, Ok(5));
    });
}
