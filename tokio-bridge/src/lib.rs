//! # tokio's runtime for the crates that need it, inside kasync tasks
//!
//! Some crates do not only use tokio's I/O *traits* (which
//! kasync-host's `compat::Compat` gives kasync's streams) but call tokio's
//! *runtime*: reqwest (through hyper-util's `TokioExecutor` and
//! `HttpConnector`), `tokio::time::sleep` inside a library, tower's
//! `TimeoutLayer`, `tokio::spawn`. Polled in a kasync task they panic with
//! "there is no reactor running".
//!
//! [`bridge`] wraps such a future: a tokio runtime runs on a helper thread
//! (started on first use, one per process; or your own [`Bridge`]), and
//! each poll of the wrapped future *enters* its context. So the tokio
//! sockets and timers the future makes are driven by the helper thread,
//! `tokio::spawn` runs tasks there, and the future itself stays in its
//! kasync task — woken through kasync's cross-thread wake when tokio's
//! driver has news. It is the idea of the `async-compat` crate, with the
//! runtime's thread and its shutdown in view.
//!
//! Make tokio's futures *inside* the bridged future —
//! `bridge(async { tokio::time::sleep(d).await })`, not
//! `bridge(tokio::time::sleep(d))`: tokio's constructors look for the
//! context when they are called, before `bridge` could enter it.
//!
//! **Cost**: every readiness event crosses threads (the helper's driver
//! wakes the kasync task), so a bridged request costs more than one on
//! kasync's own sockets. Measured (`kasync-bench http`, BENCHMARKS.md:
//! 2 000 sequential keep-alive GETs against a local server, 5
//! repetitions, two runs): reqwest through the bridge took 131.8–142.3 µs
//! per GET, 1.13–1.24× reqwest on tokio itself (115.0–116.8 µs) and
//! 1.28–1.52× kasync's own hyper client (92.1–98.4 µs) — 15–27 µs per
//! request for the hops. Use it for what has no kasync equivalent, and
//! `kasync-hyper` for HTTP where you can.
//!
//! ```
//! kasync_host::Runtime::new()?.block_on(async {
//!     // tokio's timer, in a kasync task: made *inside* the bridged future.
//!     kasync_tokio_bridge::bridge(async {
//!         tokio::time::sleep(std::time::Duration::from_millis(1)).await
//!     })
//!     .await;
//!     // `tokio::spawn` works inside; the task runs on the bridge's thread.
//!     let joined = kasync_tokio_bridge::bridge(async { tokio::spawn(async { 6 * 7 }).await }).await;
//!     assert_eq!(joined.unwrap(), 42);
//! });
//! # Ok::<(), kasync_host::SetupError>(())
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A tokio runtime on a thread of its own, for [`Bridged`] futures to
/// enter. The runtime stops (tasks spawned on it are cancelled, its
/// thread is joined) when the `Bridge` *and* every future it wrapped are
/// dropped: a bridged future that outlives its `Bridge` still has a
/// runtime to run on. (A [`Handle`] taken from [`handle`](Self::handle)
/// does not keep it.) Stopping does not wait for tokio `spawn_blocking`
/// jobs still running: they finish on their own threads.
pub struct Bridge {
    runtime: Arc<Running>,
}

/// The runtime's thread, stopped and joined when the last [`Bridge`] or
/// [`Bridged`] holding it goes.
struct Running {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bridge {
    /// Starts a tokio current-thread runtime with its I/O and time drivers
    /// on a new thread named `kasync-tokio-bridge`.
    ///
    /// Errors if the runtime or the thread cannot be made (out of
    /// descriptors or threads).
    pub fn new() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kasync-tokio-bridge".into())
            .spawn(move || {
                // Runs tokio's tasks and drivers until told to stop (or the
                // sender is gone).
                let _ = runtime.block_on(stopped);
                // Without waiting for `spawn_blocking` jobs still running
                // (a name lookup of reqwest's): the drop that stopped it
                // may even be running on one of their threads.
                runtime.shutdown_background();
            })?;
        Ok(Self {
            runtime: Arc::new(Running {
                handle,
                stop: Some(stop),
                thread: Some(thread),
            }),
        })
    }

    /// The runtime's handle (to spawn on it, or enter it yourself).
    pub fn handle(&self) -> &Handle {
        &self.runtime.handle
    }

    /// Wraps `future` so that each poll (and its drop) runs inside this
    /// runtime's context; the runtime runs at least as long as the
    /// wrapped future exists.
    pub fn wrap<F: Future>(&self, future: F) -> Bridged<F> {
        Bridged {
            inner: ManuallyDrop::new(future),
            runtime: self.runtime.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The last holder may be on the runtime's own thread (a
            // bridged future moved into a tokio task): it cannot join
            // itself, and the thread ends after this task anyway.
            if thread.thread().id() != std::thread::current().id() {
                // A panic on the bridge's thread is tokio's own (its
                // tasks' panics are caught by their JoinHandles).
                let _ = thread.join();
            }
        }
    }
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge").finish_non_exhaustive()
    }
}

/// The process's bridge, started on first use.
///
/// # Panics
/// If the runtime cannot be started the first time (out of descriptors or
/// threads); [`Bridge::new`] gives that as an error instead.
pub fn global() -> &'static Bridge {
    static GLOBAL: OnceLock<Bridge> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        Bridge::new().unwrap_or_else(|e| {
            panic!("kasync-tokio-bridge: cannot start the tokio runtime: {e} (Bridge::new reports this as an error)")
        })
    })
}

/// Wraps `future` to run inside the [`global`] bridge's tokio context
/// (see the crate's docs).
pub fn bridge<F: Future>(future: F) -> Bridged<F> {
    global().wrap(future)
}

/// A future that enters a tokio runtime's context around each poll and
/// its drop (made by [`bridge`] or [`Bridge::wrap`]).
#[must_use = "futures do nothing unless awaited"]
pub struct Bridged<F> {
    inner: ManuallyDrop<F>,
    runtime: Arc<Running>,
}

impl<F: Future> Future for Bridged<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of `inner`: it is never moved out of a
        // pinned `Bridged` (only dropped in place, by `Drop`).
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.runtime.handle.enter();
        // SAFETY: as above; `this` is not moved.
        unsafe { Pin::new_unchecked(&mut *this.inner) }.poll(cx)
    }
}

impl<F> Drop for Bridged<F> {
    fn drop(&mut self) {
        // tokio resources deregister from their driver when dropped, which
        // wants the context too.
        let _entered = self.runtime.handle.enter();
        // SAFETY: dropped once, here, in place; never used again.
        unsafe { ManuallyDrop::drop(&mut self.inner) }
    }
}

impl<F> fmt::Debug for Bridged<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridged").finish_non_exhaustive()
    }
}
