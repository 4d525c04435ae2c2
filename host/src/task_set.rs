//! [`JoinSet`]: tasks spawned together, awaited as they finish.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;

use futures_util::stream::{FuturesUnordered, Stream};
use kasync::{JoinError, JoinHandle, SpawnError};

/// A set of tasks on the current runtime, joined in the order they finish
/// (tokio's `JoinSet`). Dropping the set aborts every task still in it.
///
/// A finished task wakes only its own entry: `join_next` costs the same
/// with ten tasks in the set as with ten thousand.
///
/// ```
/// use std::time::Duration;
/// use kasync_host::JoinSet;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let mut set = JoinSet::new();
///     for ms in [3u64, 1, 2] {
///         set.spawn(async move {
///             kasync_host::sleep(Duration::from_millis(ms)).await;
///             ms
///         })
///         .expect("a free task slot");
///     }
///     let mut order = Vec::new();
///     while let Some(done) = set.join_next().await {
///         order.push(done.expect("no task panicked"));
///     }
///     assert_eq!(order, [1, 2, 3]);
///
///     set.spawn(std::future::pending::<u64>()).unwrap();
///     set.abort_all();
///     let aborted = set.join_next().await.unwrap();
///     assert_eq!(aborted, Err(kasync::JoinError::Cancelled));
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub struct JoinSet<T> {
    tasks: FuturesUnordered<JoinHandle<T>>,
}

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            tasks: FuturesUnordered::new(),
        }
    }

    /// Spawns `future` on the current runtime into the set; a full runtime
    /// is an error, as with [`spawn`](crate::spawn).
    ///
    /// # Panics
    /// Outside [`Runtime::block_on`](crate::Runtime::block_on).
    pub fn spawn<F>(&mut self, future: F) -> Result<(), SpawnError>
    where
        F: Future<Output = T> + 'static,
    {
        self.tasks.push(crate::spawn(future)?);
        Ok(())
    }

    /// Waits for the next task to finish and gives its output (or why it
    /// has none); `None` once the set is empty.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| Pin::new(&mut self.tasks).poll_next(cx)).await
    }

    /// Asks every task in the set to stop; they stay in the set, and
    /// [`join_next`](Self::join_next) gives each one's
    /// [`JoinError::Cancelled`] (or its output, if it finished first).
    pub fn abort_all(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }

    /// Aborts every task and waits until each has finished.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// How many tasks are in the set (finished ones not yet joined
    /// included).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// `true` if no task is in the set.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.tasks.len())
            .finish()
    }
}
