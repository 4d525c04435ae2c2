//! `JoinHandle`: the spawner's side of a task.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::slot::Header;
use super::state::{self, ABORT, ALIVE, HANDLE, OUTPUT, PANICKED};
use crate::atomics::Ordering;

/// Why a task produced no output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was aborted with [`JoinHandle::abort`], or its runner was
    /// dropped (shut down) before the task finished.
    Cancelled,
    /// The task panicked while being polled.
    Panicked,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinError::Cancelled => "task was cancelled before it finished",
            JoinError::Panicked => "task panicked",
        })
    }
}

impl core::error::Error for JoinError {}

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)` or a [`JoinError`]. Dropping it detaches
/// the task: it keeps running and its output is dropped when it finishes.
/// [`abort`](JoinHandle::abort) cancels the task; the future is then dropped
/// by the executor's run loop, never in the caller's context.
#[must_use = "dropping a JoinHandle detaches the task; use `let _ =` to say so"]
pub struct JoinHandle<T> {
    /// The task's header; `None` once the output was taken.
    header: Option<*const Header>,
    storage: *mut u8,
    /// This handle registered a waker in the slot (only a handle does): a
    /// handle that never did has none to take back when it is dropped.
    registered: bool,
    _output: PhantomData<T>,
}

// SAFETY: the handle only touches the slot through atomics and, once the
// task finished, reads or drops the `T` it owns; moving that to another
// thread is sound exactly when `T: Send`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort` and `is_finished`, which use
// atomics alone.
unsafe impl<T: Send> Sync for JoinHandle<T> {}
impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `header` is a header pointer with whole-executor provenance whose
    /// slot holds a `HANDLE` reference for this handle, and `storage` is
    /// that slot's storage, where the task's output of type `T` will be.
    pub(crate) unsafe fn new(header: *const Header, storage: *mut u8) -> Self {
        Self {
            header: Some(header),
            storage,
            registered: false,
            _output: PhantomData,
        }
    }

    fn header(&self) -> Option<&Header> {
        // SAFETY: while `header` is `Some` this handle holds a `HANDLE`
        // reference, so the slot is not reused and the header is live.
        self.header.map(|h| unsafe { &*h })
    }

    /// Counts a slot this handle freed in its executor.
    fn count_free(&self) {
        if let Some(h) = self.header {
            // SAFETY: the pointer has the provenance `Header::shared` needs
            // (see `new`), and the executor outlives every handle.
            unsafe { (*Header::shared(h)).freed.by_handle() };
        }
    }

    /// Asks the executor to cancel the task. The future is dropped by the
    /// run loop the next time it runs, and the handle then resolves to
    /// [`JoinError::Cancelled`] (or to the output, if the task finished
    /// first). Callable from any context, including interrupt handlers.
    pub fn abort(&self) {
        let Some(raw) = self.header else { return };
        // SAFETY: see `header()`.
        let header = unsafe { &*raw };
        let s = header.state.fetch_or(ABORT, Ordering::AcqRel);
        if s & ALIVE != 0 {
            // SAFETY: `raw` has whole-executor provenance (see `new`).
            unsafe { Header::wake(raw, state::tag(s)) };
        }
    }

    /// `true` once the task has finished, one way or another.
    pub fn is_finished(&self) -> bool {
        self.header()
            .is_none_or(|h| h.state.load(Ordering::Acquire) & ALIVE == 0)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// # Panics
    /// When polled again after it returned `Ready`.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let raw = self.header.expect("JoinHandle polled after it completed");
        // SAFETY: see `header()`.
        let header = unsafe { &*raw };
        let mut s = header.state.load(Ordering::Acquire);
        if s & ALIVE != 0 {
            // Set first: a registration that unwinds (a waker's `clone` or
            // `drop` panics) may still have left a waker in the slot.
            self.registered = true;
            header.join_waker.register(cx.waker());
            s = header.state.load(Ordering::Acquire);
            if s & ALIVE != 0 {
                return Poll::Pending;
            }
        }
        let result = if s & OUTPUT != 0 {
            // SAFETY: `OUTPUT` means the finished task's output of type `T`
            // is in the storage and belongs to this handle; the Acquire load
            // made the run loop's write visible.
            Ok(unsafe { self.storage.cast::<T>().read() })
        } else if s & PANICKED != 0 {
            Err(JoinError::Panicked)
        } else {
            Err(JoinError::Cancelled)
        };
        // Settle the slot before a foreign waker's drop can run (and
        // unwind): the output is out, the references are given back.
        let waker = if self.registered {
            header.join_waker.take()
        } else {
            None
        };
        header.release(HANDLE | (s & OUTPUT), || self.count_free());
        self.header = None;
        drop(waker);
        Poll::Ready(result)
    }
}

impl<T> Drop for JoinHandle<T> {
    /// User code — the output's `Drop`, a foreign waker's drop — runs only
    /// after the slot's references are given back, so a panic there
    /// neither leaks the slot nor drops anything twice.
    fn drop(&mut self) {
        let Some(header) = self.header() else { return };
        // Only this handle registers the slot's join waker, and it takes
        // it back when it resolves; a handle that never registered one has
        // nothing to take (and skips two read-modify-writes).
        let waker = if self.registered {
            header.join_waker.take()
        } else {
            None
        };
        let mut s = header.state.load(Ordering::Acquire);
        loop {
            if s & OUTPUT != 0 {
                // SAFETY: the output belongs to this handle (see `poll`) and
                // nobody else touches the storage while `OUTPUT` is set; it
                // is moved out before the slot is given back.
                let output = unsafe { self.storage.cast::<T>().read() };
                header.release(HANDLE | OUTPUT, || self.count_free());
                drop(waker);
                drop(output);
                return;
            }
            // Not finished (or finished without output): just let go. If
            // the run loop stores an output meanwhile, the exchange fails
            // and the loop above drops it.
            let mut new = s & !HANDLE;
            if state::is_free(new) {
                new = state::freed(s);
            }
            match header
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if state::is_free(new) {
                        self.count_free();
                    }
                    drop(waker);
                    return;
                }
                Err(actual) => s = actual,
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
