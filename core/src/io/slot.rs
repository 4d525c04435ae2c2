//! One entry of the reactor's op table: the operation itself (at a fixed
//! address while the backend may use it) and its life-cycle state.

use core::cell::{Cell, UnsafeCell};
use core::ptr::NonNull;
use core::task::Waker;

use super::{Completion, Driver, MULTISHOT_QUEUE, OpId, Operation};
use crate::executor::WakerCell;
use crate::storage::Storage;

/// Where an operation is in its life.
///
/// ```text
///   Free ──submit──▶ Unsubmitted ──push ok──▶ InFlight ──completion──▶ Completed ──taken──▶ Free
///                        │                      │                                      
///                 future dropped          future dropped                              
///                        ▼                      ▼                                      
///                      Free                 Orphaned ──completion──▶ OrphanDone ──released──▶ Free
/// ```
///
/// A `Completed` op whose future is dropped becomes `OrphanDone` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// No operation.
    Free,
    /// Stored, but the backend's queue was full: not yet handed over.
    Unsubmitted,
    /// Handed to the backend; its future waits.
    InFlight,
    /// The completion arrived; the future has not taken it yet.
    Completed,
    /// Handed to the backend, but nobody waits any more.
    Orphaned,
    /// Completed with nobody waiting: its resources are released next turn.
    OrphanDone,
}

impl State {
    /// `true` while the backend may still use the operation's memory.
    pub(crate) fn backend_owned(self) -> bool {
        matches!(self, State::InFlight | State::Orphaned)
    }
}

/// Cancellation progress of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelState {
    /// Not asked for.
    No,
    /// Asked for, not yet queued to the backend (its queue was full).
    Wanted,
    /// Queued to the backend.
    Requested,
}

/// What the reactor needs to do with an operation of an erased type. One
/// table per operation type, in static memory (a slot keeps a pointer).
pub(crate) struct OpVTable<D: Driver> {
    /// Builds the operation's description and hands it to the driver
    /// under the given id, in one monomorphic function (so the description
    /// can be written straight to where the driver keeps it). `false` when
    /// the driver's queue is full.
    pub(crate) push: unsafe fn(*mut u8, &mut D, OpId) -> bool,
    pub(crate) orphaned: unsafe fn(*mut u8, Completion, &D),
    pub(crate) drop: unsafe fn(*mut u8),
    /// [`Operation::MULTISHOT`]: only then may a completion have more.
    pub(crate) multishot: bool,
    /// [`Operation::MAX_PENDING`], capped at the queue's size.
    pub(crate) max_pending: u8,
    pub(crate) release: unsafe fn(*const u8, Completion),
    pub(crate) overflow: unsafe fn(*const u8, Completion),
}

impl<D: Driver> OpVTable<D> {
    /// The functions for operation type `T`: a constant, promoted to static
    /// memory, so storing it in a slot is one pointer store. (The lifetime
    /// is free rather than `'static` because `D` may borrow.)
    pub(crate) fn of<'a, T: Operation<D>>() -> &'a Self {
        &const {
            Self {
                push: push::<D, T>,
                orphaned: orphaned::<D, T>,
                drop: drop_op::<T>,
                multishot: T::MULTISHOT,
                max_pending: if T::MAX_PENDING < MULTISHOT_QUEUE {
                    T::MAX_PENDING as u8
                } else {
                    MULTISHOT_QUEUE as u8
                },
                release: release::<D, T>,
                overflow: overflow::<D, T>,
            }
        }
    }
}

/// # Safety
/// `ptr` holds a live `T` that nobody else uses meanwhile.
pub(crate) unsafe fn push<D: Driver, T: Operation<D>>(
    ptr: *mut u8,
    driver: &mut D,
    id: OpId,
) -> bool {
    // SAFETY: guaranteed by the caller.
    driver.push(id, || unsafe { (*ptr.cast::<T>()).build() })
}

/// # Safety
/// `ptr` holds a live `T`, which this moves out (the memory holds no value
/// after).
unsafe fn orphaned<D: Driver, T: Operation<D>>(ptr: *mut u8, completion: Completion, driver: &D) {
    // SAFETY: guaranteed by the caller.
    let op = unsafe { ptr.cast::<T>().read() };
    op.orphaned(completion, driver);
}

/// # Safety
/// `ptr` holds a live `T` (possibly in flight: only `&T` is made).
unsafe fn release<D: Driver, T: Operation<D>>(ptr: *const u8, completion: Completion) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ptr.cast::<T>()).release(completion) }
}

/// # Safety
/// `ptr` holds a live `T` (possibly in flight: only `&T` is made).
unsafe fn overflow<D: Driver, T: Operation<D>>(ptr: *const u8, completion: Completion) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ptr.cast::<T>()).overflow(completion) }
}

/// # Safety
/// `ptr` holds a live `T`, which this drops.
unsafe fn drop_op<T>(ptr: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr.cast::<T>().drop_in_place() }
}

/// An operation moved out of its slot — with the completions its stream
/// never took — so that the slot can be settled (freed) *before* any of
/// the operation's own code runs: a panic in that code then drops this
/// value once, here, and cannot make a later turn see the operation again.
///
/// Only operations the backend is done with (or never got) are evicted.
/// Dropped without [`orphan`](Evicted::orphan), the operation is dropped
/// and its queued completions are not released.
pub(crate) struct Evicted<D: Driver, const K: usize> {
    /// The operation's bytes (moving a value is a copy of its bytes).
    storage: Storage<K>,
    vtable: NonNull<OpVTable<D>>,
    queue: [Completion; MULTISHOT_QUEUE],
    queue_head: usize,
    queue_len: usize,
    /// `storage` holds the operation.
    live: bool,
}

impl<D: Driver, const K: usize> Evicted<D, K> {
    fn vtable(&self) -> &OpVTable<D> {
        // SAFETY: copied from an occupied slot, whose table is a promoted
        // constant (valid for the whole program).
        unsafe { self.vtable.as_ref() }
    }

    /// Releases the queued completions nobody will take, then hands the
    /// operation's final `completion` to [`Operation::orphaned`] (which
    /// consumes it).
    pub(crate) fn orphan(mut self, completion: Completion, driver: &D) {
        let ptr = self.storage.as_mut_ptr();
        while self.queue_len > 0 {
            let c = self.queue[self.queue_head];
            self.queue_head = (self.queue_head + 1) % MULTISHOT_QUEUE;
            self.queue_len -= 1;
            // SAFETY: `storage` holds the live operation, which only this
            // value can reach; the backend is done with it.
            unsafe { (self.vtable().release)(ptr, c) };
        }
        // `orphaned` moves the operation out: from here on `storage` is
        // empty, also if it unwinds.
        self.live = false;
        // SAFETY: as above; `live` was cleared, so it is moved out once.
        unsafe { (self.vtable().orphaned)(ptr, completion, driver) };
    }
}

impl<D: Driver, const K: usize> Drop for Evicted<D, K> {
    fn drop(&mut self) {
        if core::mem::replace(&mut self.live, false) {
            // SAFETY: `storage` holds the live operation, dropped once
            // (`live` is cleared first).
            unsafe { (self.vtable().drop)(self.storage.as_mut_ptr()) };
        }
    }
}

/// One op-table entry.
pub(crate) struct OpSlot<D: Driver, const K: usize> {
    pub(crate) state: Cell<State>,
    pub(crate) cancel: Cell<CancelState>,
    /// Bumped every time the slot is freed; part of the `OpId`.
    pub(crate) generation: Cell<u32>,
    pub(crate) completion: Cell<Completion>,
    /// The awaiting future's waker (`InFlight`/`Unsubmitted` only).
    pub(crate) waker: WakerCell,
    /// Completions of a multishot operation not yet taken (a ring buffer).
    pub(crate) queue: [Cell<Completion>; MULTISHOT_QUEUE],
    pub(crate) queue_head: Cell<u8>,
    pub(crate) queue_len: Cell<u8>,
    /// A multishot operation's completions go to its `overflow` (not the
    /// queue) until its stream has taken everything: newer completions
    /// never overtake older ones.
    pub(crate) overflowing: Cell<bool>,
    /// The reactor cancelled this multishot operation because its stream
    /// fell behind (see [`Operation::MAX_PENDING`]).
    pub(crate) paused: Cell<bool>,
    /// On the reactor's done list (completed during a reap, not yet handled).
    pub(crate) on_done_list: Cell<bool>,
    /// Next slot on the done list: index + 1, or 0.
    pub(crate) next_done: Cell<u32>,
    /// Next slot on the reactor's stack of free slots: index + 1, or 0.
    pub(crate) next_free: Cell<u32>,
    /// On the reactor's retry list (waiting for room in the backend queue).
    pub(crate) on_retry_list: Cell<bool>,
    /// Next slot on the retry list: index + 1, or 0.
    pub(crate) next_retry: Cell<u32>,
    /// The slot before it on the retry list: index + 1, or 0 (first), so a
    /// slot freed while on the list leaves it at once.
    pub(crate) prev_retry: Cell<u32>,
    /// The stored operation's functions: a table in static memory
    /// ([`OpVTable::of`]), while the slot is occupied.
    pub(crate) vtable: Cell<Option<NonNull<OpVTable<D>>>>,
    /// The operation, while `state != Free`.
    pub(crate) storage: UnsafeCell<Storage<K>>,
}

impl<D: Driver, const K: usize> OpSlot<D, K> {
    pub(crate) const fn new() -> Self {
        Self {
            state: Cell::new(State::Free),
            cancel: Cell::new(CancelState::No),
            generation: Cell::new(0),
            completion: Cell::new(Completion::new(0)),
            waker: WakerCell::new(),
            queue: [const { Cell::new(Completion::new(0)) }; MULTISHOT_QUEUE],
            queue_head: Cell::new(0),
            queue_len: Cell::new(0),
            overflowing: Cell::new(false),
            paused: Cell::new(false),
            on_done_list: Cell::new(false),
            next_done: Cell::new(0),
            next_free: Cell::new(0),
            on_retry_list: Cell::new(false),
            next_retry: Cell::new(0),
            prev_retry: Cell::new(0),
            vtable: Cell::new(None),
            storage: UnsafeCell::new(Storage::uninit()),
        }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.storage.get().cast()
    }

    /// The stored operation's vtable.
    pub(crate) fn vtable(&self) -> &OpVTable<D> {
        let table = self
            .vtable
            .get()
            .expect("an occupied op slot always has a vtable");
        // SAFETY: the pointer was made from `OpVTable::of`, a reference to
        // a promoted constant, which is valid for the whole program.
        unsafe { table.as_ref() }
    }

    /// Queues a completion of a multishot operation; `false` when full.
    pub(crate) fn enqueue(&self, completion: Completion) -> bool {
        let len = self.queue_len.get() as usize;
        if len == MULTISHOT_QUEUE {
            return false;
        }
        let at = (self.queue_head.get() as usize + len) % MULTISHOT_QUEUE;
        self.queue[at].set(completion);
        self.queue_len.set(len as u8 + 1);
        true
    }

    /// Takes the oldest queued completion.
    pub(crate) fn dequeue(&self) -> Option<Completion> {
        let len = self.queue_len.get();
        if len == 0 {
            return None;
        }
        let head = self.queue_head.get();
        self.queue_head
            .set(((head as usize + 1) % MULTISHOT_QUEUE) as u8);
        self.queue_len.set(len - 1);
        Some(self.queue[head as usize].get())
    }

    /// Moves the operation and its queued completions out of the slot
    /// (which then holds no value; the caller settles its state).
    ///
    /// # Safety
    /// The slot holds an operation the backend is done with (or never
    /// got), which nobody else uses; it is not used through the slot again.
    pub(crate) unsafe fn evict(&self) -> Evicted<D, K> {
        let mut evicted = Evicted {
            storage: Storage::uninit(),
            vtable: self
                .vtable
                .get()
                .expect("an occupied op slot always has a vtable"),
            queue: [Completion::new(0); MULTISHOT_QUEUE],
            queue_head: 0,
            queue_len: 0,
            live: true,
        };
        // SAFETY: both blocks are `K` bytes and distinct; per the caller
        // the value may move (the backend no longer points into it).
        unsafe {
            core::ptr::copy_nonoverlapping(self.ptr().cast_const(), evicted.storage.as_mut_ptr(), K)
        };
        while let Some(c) = self.dequeue() {
            evicted.queue[evicted.queue_len] = c;
            evicted.queue_len += 1;
        }
        evicted
    }

    /// Releases every queued completion (nobody will take them), each
    /// taken out of the queue before its `release` runs.
    pub(crate) fn release_queued(&self) {
        while let Some(completion) = self.dequeue() {
            // SAFETY: an occupied slot holds its operation; nothing else
            // uses it during this call.
            unsafe { (self.vtable().release)(self.ptr(), completion) };
        }
    }

    /// Sets the waker of the awaiting future, keeping the current one if it
    /// would wake the same task (no clone).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        self.waker.register(waker);
    }
}
