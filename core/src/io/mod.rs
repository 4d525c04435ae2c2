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
mod handle;
mod no_io;
mod op;
mod reactor;
pub mod sim;
mod slot;

use core::time::Duration;

pub use buf::{BufPool, IoBuf, IoBufMut, PoolBuf};
pub use handle::Handle;
pub use no_io::NoIo;
pub use op::{Cancel, Multi, Op};
pub use reactor::Reactor;

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
    /// Invalid argument (e.g. a read into a buffer without spare capacity).
    pub const EINVAL: i32 = 22;
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
/// Nothing in this contract allocates.
///
/// # Safety
///
/// The reactor hands a driver operations whose memory it keeps alive and
/// in place *exactly* until the driver says it is done with them. An
/// implementation promises:
///
/// * **Exactly once.** Every id that [`push`](Driver::push) accepted
///   (returned `true` for) is reported through [`reap`](Driver::reap) with
///   a final completion ([`has_more`](Driver::has_more) `false`) exactly
///   once — also when it was cancelled (typically `-ECANCELED`) and when
///   the backend fails (an error result). Before that, only an operation
///   the backend treats as multishot may be reported with `has_more`
///   `true`, any number of times. An id `push` refused is never reported.
/// * **Hands off after the final report.** Once an id has been reported
///   final, the backend never reads or writes that operation's memory (the
///   addresses in the description [`Operation::build`] made) again. Until
///   then it may, from any context it documents (a kernel, a DMA engine).
/// * **Unwinding.** `build` (called inside `push`) and the `reap` sink run
///   code the driver did not write and may unwind. The driver stays
///   consistent when they do: a `push` whose `build` unwound queued
///   nothing; a completion handed to the sink counts as delivered, the
///   ones not yet handed over are still delivered by a later `reap`.
/// * **`has_more` is the truth** for the completions it is asked about,
///   and `park` follows the idle contract of [`Idle`].
/// * **Inline completions are final.** A completion that
///   [`take_inline`](Driver::take_inline) returns is the operation's final
///   one: it counts as its report (`reap` never reports that id again) and
///   the backend is hands off from then on.
///
/// Code outside the reactor never gets `&mut` access to a driver in use
/// (see [`Reactor::with_driver`]), so nothing can swap a driver out from
/// under its operations without `unsafe`.
pub unsafe trait Driver {
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

    /// `true` if the backend will report more completions for the same
    /// operation after `completion` (io_uring's `IORING_CQE_F_MORE`): the
    /// operation is multishot and still running. Asked only about
    /// completions of operations whose [`Operation::MULTISHOT`] is `true`.
    /// The default, for backends without multishot operations, is `false`.
    fn has_more(completion: &Completion) -> bool {
        let _ = completion;
        false
    }

    /// `true` for a backend that may finish an operation while it is
    /// pushed (a readiness backend makes the call at once): the reactor
    /// then asks [`take_inline`](Driver::take_inline) after each push, so
    /// the operation's future completes in the same poll instead of a loop
    /// turn later. The default, `false`, skips the question.
    const COMPLETES_INLINE: bool = false;

    /// The final completion of `id` — an operation just pushed, which is
    /// not multishot — if the backend finished it during the push; it is
    /// then taken out of what [`reap`](Driver::reap) reports (see the
    /// contract above). Asked only when
    /// [`COMPLETES_INLINE`](Driver::COMPLETES_INLINE) is `true`. The
    /// default finishes nothing inline.
    fn take_inline(&mut self, id: OpId) -> Option<Completion> {
        let _ = id;
        None
    }
}

/// A typed request for driver `D` that owns everything the backend may
/// touch (buffers, paths, addresses) until it completes.
///
/// kasync's own operations (the simulator's here, `kasync_ops::ops`) are
/// ready to use from safe code; implementing a new one is `unsafe`,
/// because the description [`build`](Operation::build) returns is trusted
/// with memory. A safe implementation is refused:
///
/// ```compile_fail,E0200
/// use kasync::io::{Completion, Operation, sim::{SimDriver, SimOp}};
///
/// struct Stray(*mut u8);
/// impl Operation<SimDriver<'_, 8>> for Stray {
///     type Output = ();
///     fn build(&mut self) -> SimOp {
///         SimOp::Read { ptr: self.0, len: 16 } // memory it does not own
///     }
///     fn complete(self, _: Completion) {}
/// }
/// ```
///
/// # Safety
///
/// * **Only owned, pinned-in-place memory.** Every address in the
///   description `build` returns points into `self` — including memory
///   `self` owns through a pointer that stays valid when `self` moves (a
///   `Box`, a `Vec`'s buffer, an [`IoBuf`]) — or into memory valid for
///   `'static`, and stays within the bounds of that memory (a buffer's
///   `bytes_total`, a write's `bytes_init`). The reactor keeps `self` at
///   its address in the op table from `build` until the final completion,
///   so pointers into `self` stay valid; `self` must keep what they point
///   at alive and unmoved that long (no `Vec` that grows in between).
/// * **Hands off while in flight.** [`Multishot::item`],
///   [`take_overflow`](Multishot::take_overflow), [`release`](Self::release)
///   and [`overflow`](Self::overflow) run while the backend may still
///   write the operation's memory: they never touch (read, write, free,
///   move) memory the description points at. They get `&self`, never
///   `&mut self`, so that memory inside `self` the backend writes is not
///   claimed as exclusive while it does — such memory must sit in an
///   [`UnsafeCell`](core::cell::UnsafeCell) (state these methods change
///   goes in `Cell`s or `RefCell`s).
/// * **`MULTISHOT` is honest**: `false` for an operation the backend
///   completes once.
///
/// What a panic in each method does is safe for the reactor (it settles
/// the slot before calling in; see the crate's Soundness section): the
/// implementation only has to keep its own invariants.
pub unsafe trait Operation<D: Driver>: 'static {
    /// What awaiting the operation returns — typically the result together
    /// with the buffers, so nothing is lost whatever happened.
    type Output;

    /// `true` for an operation that completes more than once, which must
    /// also implement [`Multishot`]. It is submitted with
    /// [`Handle::submit_multishot`]; [`Handle::submit`] refuses it at
    /// compile time (a single-shot future would free the operation at its
    /// first completion while the backend still holds it).
    const MULTISHOT: bool = false;

    /// For a multishot operation: how many completions may wait for its
    /// stream (1 to [`MULTISHOT_QUEUE`]; more count as the queue's size).
    /// When one more arrives, the stream is behind: the reactor *pauses*
    /// the operation — it requests a cancel, and this completion and the
    /// ones that still come go to [`overflow`](Self::overflow), in order,
    /// after the queued ones. The stream yields them all and then ends
    /// (quietly: the cancel is not an item); its owner submits a new
    /// operation when it wants more. So a consumer that stops taking items
    /// pins at most this many completions (and what arrives before the
    /// cancel lands) instead of everything the backend can deliver.
    const MAX_PENDING: usize = MULTISHOT_QUEUE;

    /// Describes the operation to the backend. Called with `self` at its
    /// final address in the op table (it does not move until completion),
    /// possibly more than once if the submission queue was full.
    ///
    /// A panic here fails the operation: on its first submission the
    /// panic reaches the task that polled it (the operation is dropped);
    /// on a retry the operation completes with `-ECANCELED`.
    fn build(&mut self) -> D::Op;

    /// Turns the completion into the output, giving the buffers back.
    /// Called with the operation already out of the op table.
    fn complete(self, completion: Completion) -> Self::Output;

    /// Called instead of [`complete`](Self::complete) when nobody awaits
    /// the operation any more (its future was dropped). Release what the
    /// completion produced — close an accepted or opened descriptor — using
    /// the driver if needed. Called with the operation already out of the
    /// op table; it is dropped afterwards. The default does nothing more.
    fn orphaned(self, completion: Completion, driver: &D)
    where
        Self: Sized,
    {
        let _ = (completion, driver);
    }

    /// A completion of a multishot operation that nobody will take (its
    /// stream was dropped): release what it produced (close the
    /// descriptor). Called while the backend reaps, so without it; must not
    /// touch memory the backend may still write.
    fn release(&self, completion: Completion) {
        let _ = completion;
    }

    /// A completion of a multishot operation whose stream fell behind
    /// ([`MAX_PENDING`](Self::MAX_PENDING) completions were waiting) — and
    /// every later one until the stream has taken them all. An operation
    /// that may allocate keeps it and hands it out, in order, through
    /// [`Multishot::take_overflow`]; the default releases it (the stream
    /// never sees it). Same rules as [`release`](Self::release).
    fn overflow(&self, completion: Completion) {
        self.release(completion);
    }
}

/// How many completions of a multishot operation can wait for its stream
/// in the op table (see [`Operation::MAX_PENDING`]).
pub const MULTISHOT_QUEUE: usize = 16;

/// An operation that completes many times (io_uring multishot): submitted
/// with [`Handle::submit_multishot`], consumed as a stream of items. Its
/// [`Operation::MULTISHOT`] must be `true` (checked at compile time).
///
/// # Safety
///
/// [`item`](Self::item) and [`take_overflow`](Self::take_overflow) run while
/// the backend may still write the operation's memory: they never touch
/// memory the description [`Operation::build`] made points at (the
/// [`Operation`] contract, restated for these methods).
pub unsafe trait Multishot<D: Driver>: Operation<D> {
    /// One completion's worth of output.
    type Item;

    /// Turns one completion into an item. Called with the operation still
    /// in flight: must not touch memory the backend may write.
    fn item(&self, completion: Completion) -> Self::Item;

    /// An item kept by [`Operation::overflow`], if any; the stream takes
    /// these once the queue is empty.
    fn take_overflow(&self) -> Option<Self::Item> {
        None
    }
}
