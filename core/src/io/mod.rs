//! Completion-based I/O: the contract between kasync and a backend that
//! finishes operations later (io_uring, a DMA engine, a simulator), and the
//! machinery that owns every in-flight operation from submission to its
//! last completion.
//!
//! * A backend implements [`Driver`]: it queues operations tagged with an
//!   [`OpId`], submits them in one batch per loop turn, reports
//!   [`Completion`]s, accepts cancellation requests, and parks.
//! * An [`Operation`] is a typed request that **owns its buffers** (the
//!   "rent" model): submitting moves it into the [`Reactor`]'s fixed op
//!   table, where it stays — at a fixed address — until the completion
//!   arrives, and completing gives it back as `(result, buffer)`.
//! * If the awaiting future is dropped while the backend still uses the
//!   buffer, nothing is freed: the operation stays in its slot, a cancel is
//!   requested, and the buffer is released only when the completion comes.
//!   Whatever that late completion produced (an accepted or opened
//!   descriptor) is released through [`Operation::orphaned`], never leaked.
//! * Dropping the reactor cancels everything in flight and waits for every
//!   completion before any memory goes away.
//!
//! An operation against the simulated backend, start to finish:
//!
//! ```
//! use core::pin::pin;
//! use kasync::executor::{Executor, Spin};
//! use kasync::io::{BufPool, Reactor, sim::{SimDriver, SimRead}};
//! use kasync::time::ManualClock;
//!
//! static EXECUTOR: Executor<Spin, 4, 256> = Executor::new(Spin);
//! static BUFFERS: BufPool<2, 64> = BufPool::new();
//!
//! let clock = ManualClock::new(1_000);
//! // 8 op-table slots; the reactor must stay pinned while in use.
//! let reactor = pin!(Reactor::<_, _, 8>::new(SimDriver::<8>::new(&clock), &clock));
//! let io = reactor.as_ref().handle();
//! let runner = EXECUTOR.runner().unwrap();
//!
//! let buf = BUFFERS.take().unwrap();
//! // The read owns `buf` while in flight and hands it back with the result.
//! let (result, buf) = runner.block_on_with(&*reactor, io.submit(SimRead::new(buf)));
//! assert_eq!(result, Ok(64));
//! assert_eq!(buf.len(), 64, "the simulator filled the buffer");
//! ```

mod buf;
mod no_io;
mod op;
mod reactor;
pub mod sim;
mod slot;

use core::time::Duration;

pub use buf::{BufPool, IoBuf, IoBufMut, PoolBuf};
pub use no_io::NoIo;
pub use op::{Cancel, Multi, Op};
pub use reactor::{Handle, Reactor};

use crate::executor::Idle;

/// Error numbers used in [`Completion::result`]: negative Linux `errno`
/// values, the convention of io_uring that kasync keeps for every backend.
pub mod errno {
    /// Resource temporarily unavailable (try again).
    pub const EAGAIN: i32 = 11;
    /// Input/output error.
    pub const EIO: i32 = 5;
    /// Bad file descriptor.
    pub const EBADF: i32 = 9;
    /// Operation cancelled.
    pub const ECANCELED: i32 = 125;
    /// No such operation (e.g. a cancel that found nothing to cancel).
    pub const ENOENT: i32 = 2;
}

/// Names one submission: the op-table slot plus that slot's generation, so
/// a late completion can never be mistaken for the slot's next operation.
/// Packs into the 64 bits of io_uring's `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpId {
    index: u32,
    generation: u32,
}

impl OpId {
    pub(crate) const fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    /// The slot index.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The id as 64 bits (for a backend's user-data field).
    pub const fn to_u64(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }

    /// The id from [`to_u64`](Self::to_u64)'s bits.
    pub const fn from_u64(bits: u64) -> Self {
        Self {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

/// How an operation finished: a result (`>= 0` success, negative `errno`
/// failure, see [`errno`]) and backend flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Completion {
    /// Bytes transferred, a new descriptor, 0, or `-errno`.
    pub result: i32,
    /// Backend-specific flags (io_uring's `cqe.flags`).
    pub flags: u32,
}

impl Completion {
    /// A completion with `result` and no flags.
    pub const fn new(result: i32) -> Self {
        Self { result, flags: 0 }
    }

    /// `Ok(result)` for success, `Err(errno)` (positive) for failure.
    pub const fn into_result(self) -> Result<u32, i32> {
        if self.result >= 0 {
            Ok(self.result as u32)
        } else {
            Err(-self.result)
        }
    }
}

/// A completion-based backend.
///
/// Every operation accepted by [`push`](Driver::push) must eventually be
/// reported exactly once through [`reap`](Driver::reap) — also when it was
/// cancelled (typically with `-ECANCELED`) and also when the backend fails
/// (with an error result). The reactor relies on that to know when the
/// backend no longer touches an operation's memory.
///
/// Nothing in this contract allocates.
pub trait Driver {
    /// The backend's description of one operation (an io_uring SQE, a DMA
    /// descriptor, …), built by [`Operation::build`].
    type Op;

    /// Queues the operation that `build` describes, for submission under
    /// `id`. `false` when the submission queue is full (then `build` need
    /// not be called): the reactor retries after the next flush. Checking
    /// for room before calling `build` lets the description be built
    /// straight where the backend queues it.
    fn push(&mut self, id: OpId, build: impl FnOnce() -> Self::Op) -> bool;

    /// Queues a request to cancel `id`. `false` when the queue is full (the
    /// reactor retries). Cancellation is best effort: the operation still
    /// completes, either cancelled or normally.
    fn push_cancel(&mut self, id: OpId) -> bool;

    /// Submits everything queued, without waiting.
    fn flush(&mut self);

    /// Reports every completion that is available now.
    fn reap(&mut self, sink: impl FnMut(OpId, Completion));

    /// Submits everything queued and waits until a completion is available,
    /// the executor's platform `pend`s, or `timeout` passes (`None`: no
    /// limit). Returns at once if `idle.is_idle()` is `false`.
    fn park(&mut self, timeout: Option<Duration>, idle: &Idle<'_>);
}

/// A typed request for driver `D` that owns everything the backend may
/// touch (buffers, paths, addresses) until it completes.
pub trait Operation<D: Driver>: 'static {
    /// What awaiting the operation returns — typically the result together
    /// with the buffers, so nothing is lost whatever happened.
    type Output;

    /// `true` for an operation that completes more than once, which must
    /// also implement [`Multishot`]. It is submitted with
    /// [`Handle::submit_multishot`]; [`Handle::submit`] refuses it at
    /// compile time (a single-shot future would free the operation at its
    /// first completion while the backend still holds it).
    const MULTISHOT: bool = false;

    /// Describes the operation to the backend. Called with `self` at its
    /// final address in the op table (it does not move until completion),
    /// possibly more than once if the submission queue was full.
    fn build(&mut self) -> D::Op;

    /// Turns the completion into the output, giving the buffers back.
    fn complete(self, completion: Completion) -> Self::Output;

    /// Called instead of [`complete`](Self::complete) when nobody awaits
    /// the operation any more (its future was dropped). Release what the
    /// completion produced — close an accepted or opened descriptor — using
    /// the driver if needed. The operation (and its buffers) is dropped
    /// afterwards. The default does nothing more.
    fn orphaned(self, completion: Completion, driver: &mut D)
    where
        Self: Sized,
    {
        let _ = (completion, driver);
    }

    /// `true` if the backend will report more completions for this
    /// operation after `completion` (io_uring's `IORING_CQE_F_MORE`). Only
    /// asked of [`MULTISHOT`](Self::MULTISHOT) operations.
    fn has_more(&self, completion: &Completion) -> bool {
        let _ = completion;
        false
    }

    /// A completion of a multishot operation that nobody will take (its
    /// stream was dropped): release what it produced (close the
    /// descriptor). Called while the backend reaps, so without it; must not
    /// touch memory the backend may still write.
    fn release(&mut self, completion: Completion) {
        let _ = completion;
    }

    /// A completion of a multishot operation whose stream fell behind by
    /// more than [`MULTISHOT_QUEUE`] completions. An operation that may
    /// allocate keeps it and hands it out through
    /// [`Multishot::take_overflow`]; the default releases it. Same rules as
    /// [`release`](Self::release).
    fn overflow(&mut self, completion: Completion) {
        self.release(completion);
    }
}

/// How many completions of a multishot operation wait for its stream
/// before further ones are released (see [`Operation::release`]).
pub const MULTISHOT_QUEUE: usize = 16;

/// An operation that completes many times (io_uring multishot): submitted
/// with [`Handle::submit_multishot`], consumed as a stream of items. Its
/// [`Operation::MULTISHOT`] must be `true` (checked at compile time).
pub trait Multishot<D: Driver>: Operation<D> {
    /// One completion's worth of output.
    type Item;

    /// Turns one completion into an item. Called with the operation still
    /// in flight: must not touch memory the backend may write.
    fn item(&mut self, completion: Completion) -> Self::Item;

    /// An item kept by [`Operation::overflow`], if any; the stream takes
    /// these once the queue is empty.
    fn take_overflow(&mut self) -> Option<Self::Item> {
        None
    }
}
