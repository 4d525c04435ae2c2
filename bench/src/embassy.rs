//! embassy-executor on a std thread, as a firmware author sets it up
//! without an architecture feature: a `raw::Executor` whose pender is a
//! [`Parker`], tasks in `raw::TaskPool`s.

use std::future::Future;

use embassy_executor::raw::{Executor, TaskPool};
use embassy_executor::{SpawnToken, Spawner};

use crate::parker::Parker;

/// One embassy executor and the signal its pender raises.
#[derive(Clone, Copy)]
pub struct Embassy {
    /// The executor (leaked: embassy needs `&'static`).
    pub executor: &'static Executor,
    /// What its pender signals; the runner parks on it.
    pub parker: &'static Parker,
}

impl Embassy {
    /// A new executor for the calling thread (the runner).
    pub fn new() -> Self {
        let parker: &'static Parker = Box::leak(Box::new(Parker::for_current_thread()));
        let context = std::ptr::from_ref(parker).cast_mut().cast::<()>();
        // The pender (`parker::embassy_pender`) reads `context` as the
        // leaked parker.
        let executor: &'static Executor = Box::leak(Box::new(Executor::new(context)));
        Self { executor, parker }
    }

    /// Spawns a task from `pool`.
    ///
    /// # Panics
    /// When every storage of the pool is busy (the benchmarks size their
    /// pools for their batches).
    pub fn spawn<F: Future + 'static, const N: usize>(
        &self,
        pool: &'static TaskPool<F, N>,
        make: impl FnOnce() -> F,
    ) {
        let token: SpawnToken<_> = pool.spawn(make).expect("the pool has room for the batch");
        self.spawner().spawn(token);
    }

    fn spawner(&self) -> Spawner {
        self.executor.spawner()
    }

    /// Polls every queued task once (embassy's `poll`).
    pub fn poll(&self) {
        // SAFETY: only the runner thread calls `poll`, never from the
        // pender and never re-entrantly.
        unsafe { self.executor.poll() }
    }
}

/// A leaked pool of `N` task storages for futures of the type of `sample`
/// (embassy pools are typed by their future; this names the type of an
/// `async fn`'s future without nightly features).
pub fn pool_like<F: Future + 'static, const N: usize>(_sample: &F) -> &'static TaskPool<F, N> {
    Box::leak(Box::new(TaskPool::new()))
}
