//! [`spawn_blocking`]: blocking work (a slow system call, a library that
//! blocks, heavy computation) on a pool of threads, its result awaited in
//! a task.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use kasync::JoinError;

/// Threads the pool runs at most (per process).
pub const MAX_BLOCKING_THREADS: usize = 64;
/// Jobs that may wait for a thread (per process); one more is refused.
pub const MAX_QUEUED_BLOCKING_JOBS: usize = 4096;
/// How long an idle pool thread waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// The process's blocking pool: threads started on demand up to
/// [`MAX_BLOCKING_THREADS`], each exiting after 10 s without work.
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState::default()),
        work: Condvar::new(),
    })
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // Jobs run outside the lock and their panics are caught: a
        // poisoned lock can only come from a failed allocation in here,
        // after which the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` for a pool thread (starting one if none is idle and
    /// there is room); gives it back, with why, if it cannot.
    fn submit(&'static self, job: Job) -> Result<(), (Job, io::Error)> {
        let mut state = self.lock();
        if state.queue.len() >= MAX_QUEUED_BLOCKING_JOBS {
            let why = io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "the blocking pool is full: {} jobs wait for its {} threads; \
                     wait for some to finish (or do less blocking work at once)",
                    state.queue.len(),
                    state.threads
                ),
            );
            return Err((job, why));
        }
        state.queue.push_back(job);
        // An idle thread takes one job: with more queued than threads
        // idle, another thread starts (up to the limit), so jobs that
        // wait on each other, or a burst, never queue behind one thread.
        if state.idle >= state.queue.len() || state.threads >= MAX_BLOCKING_THREADS {
            drop(state);
            self.work.notify_one();
            return Ok(());
        }
        state.threads += 1;
        drop(state);
        let started = std::thread::Builder::new()
            .name("kasync-blocking".into())
            .spawn(move || self.work_loop());
        if let Err(e) = started {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody will run it: take it back and say why.
                if let Some(job) = state.queue.pop_back() {
                    let why = io::Error::new(e.kind(), format!("no thread for blocking work: {e}"));
                    return Err((job, why));
                }
            }
        }
        Ok(())
    }

    fn work_loop(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // What a job does after the user's closure (storing the
                // result, waking the task, dropping a result nobody
                // awaits) runs user code too: a panic there must not take
                // the thread — counted in `threads` — with it.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
                    drop_payload(payload);
                }
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (next, waited) = self
                .work
                .wait_timeout(state, IDLE_EXIT)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            if waited.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Drops a panic's payload, whose own `Drop` may panic: that second
/// payload is leaked rather than let unwind further.
fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Where a job's result meets the task awaiting it.
struct Slot<T> {
    result: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
}

/// Runs `f` on the blocking pool and returns a future of its result —
/// `Err(JoinError::Panicked)` if it panicked. The awaiting task is woken
/// through the runtime's cross-thread wake; the runtime's thread never
/// blocks. Dropping the future detaches the job (it still runs; its result
/// is dropped). Blocking jobs cannot be aborted.
///
/// The pool is the process's: up to [`MAX_BLOCKING_THREADS`] threads,
/// started on demand, and at most [`MAX_QUEUED_BLOCKING_JOBS`] jobs
/// waiting for one; a job beyond that is a `ResourceBusy` error, as is a
/// thread that cannot be started when none runs.
///
/// ```
/// kasync_host::Runtime::new()?.block_on(async {
///     let sum = kasync_host::spawn_blocking(|| (1..=1000u64).sum::<u64>())?.await;
///     assert_eq!(sum, Ok(500500));
///     let hostname = kasync_host::spawn_blocking(|| std::fs::read_to_string("/proc/sys/kernel/hostname"))?;
///     assert!(hostname.await.unwrap().is_ok());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn_blocking<F, T>(f: F) -> io::Result<Blocking<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let job_slot = slot.clone();
    pool()
        .submit(Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
                drop_payload(payload);
                JoinError::Panicked
            });
            let waker = {
                let mut slot = job_slot.lock().unwrap_or_else(PoisonError::into_inner);
                slot.result = Some(result);
                slot.waker.take()
            };
            // Woken outside the lock: a waker's code never runs under it.
            if let Some(waker) = waker {
                waker.wake();
            }
        }))
        .map_err(|(_, why)| why)?;
    Ok(Blocking { slot })
}

/// Runs the readiness backend's file work on the pool
/// ([`PollDriver::offload_to`](kasync_poll::PollDriver::offload_to)); a
/// job the pool cannot take comes back, to run on the loop's thread.
pub(crate) fn offload(job: kasync_poll::Job) -> Result<(), kasync_poll::Job> {
    pool().submit(job).map_err(|(job, _)| job)
}

/// The future of [`spawn_blocking`]: the job's result.
#[must_use = "futures do nothing unless awaited (dropping it detaches the job)"]
pub struct Blocking<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Blocking<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The caller's waker is cloned, and a replaced one dropped, outside
        // the lock: no user code runs under it.
        let mut fresh: Option<Waker> = None;
        loop {
            let replaced = {
                let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(result) = slot.result.take() {
                    return Poll::Ready(result);
                }
                match (&slot.waker, fresh.take()) {
                    (Some(w), _) if w.will_wake(cx.waker()) => None,
                    (_, Some(waker)) => slot.waker.replace(waker),
                    (_, None) => {
                        drop(slot);
                        fresh = Some(cx.waker().clone());
                        continue;
                    }
                }
            };
            drop(replaced);
            return Poll::Pending;
        }
    }
}

impl<T> fmt::Debug for Blocking<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocking").finish_non_exhaustive()
    }
}
