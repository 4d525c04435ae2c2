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
pub(crate) enum Cancel {
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
    pub(crate) orphaned: unsafe fn(*mut u8, Completion, &mut D),
    pub(crate) drop: unsafe fn(*mut u8),
    /// `None` for single-shot operations (they never have more).
    pub(crate) has_more: Option<unsafe fn(*const u8, &Completion) -> bool>,
    pub(crate) release: unsafe fn(*mut u8, Completion),
    pub(crate) overflow: unsafe fn(*mut u8, Completion),
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
                has_more: if T::MULTISHOT {
                    Some(has_more::<D, T>)
                } else {
                    None
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
/// `ptr` holds a live `T`, which this moves out (the slot is empty after).
unsafe fn orphaned<D: Driver, T: Operation<D>>(
    ptr: *mut u8,
    completion: Completion,
    driver: &mut D,
) {
    // SAFETY: guaranteed by the caller.
    let op = unsafe { ptr.cast::<T>().read() };
    op.orphaned(completion, driver);
}

/// # Safety
/// `ptr` holds a live `T`.
unsafe fn has_more<D: Driver, T: Operation<D>>(ptr: *const u8, completion: &Completion) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ptr.cast::<T>()).has_more(completion) }
}

/// # Safety
/// `ptr` holds a live `T` that nobody else uses meanwhile.
unsafe fn release<D: Driver, T: Operation<D>>(ptr: *mut u8, completion: Completion) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ptr.cast::<T>()).release(completion) }
}

/// # Safety
/// `ptr` holds a live `T` that nobody else uses meanwhile.
unsafe fn overflow<D: Driver, T: Operation<D>>(ptr: *mut u8, completion: Completion) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ptr.cast::<T>()).overflow(completion) }
}

/// # Safety
/// `ptr` holds a live `T`, which this drops.
unsafe fn drop_op<T>(ptr: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr.cast::<T>().drop_in_place() }
}

/// One op-table entry.
pub(crate) struct OpSlot<D: Driver, const K: usize> {
    pub(crate) state: Cell<State>,
    pub(crate) cancel: Cell<Cancel>,
    /// Bumped every time the slot is freed; part of the `OpId`.
    pub(crate) generation: Cell<u32>,
    pub(crate) completion: Cell<Completion>,
    /// The awaiting future's waker (`InFlight`/`Unsubmitted` only).
    pub(crate) waker: WakerCell,
    /// Completions of a multishot operation not yet taken (a ring buffer).
    pub(crate) queue: [Cell<Completion>; MULTISHOT_QUEUE],
    pub(crate) queue_head: Cell<u8>,
    pub(crate) queue_len: Cell<u8>,
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
            cancel: Cell::new(Cancel::No),
            generation: Cell::new(0),
            completion: Cell::new(Completion::new(0)),
            waker: WakerCell::new(),
            queue: [const { Cell::new(Completion::new(0)) }; MULTISHOT_QUEUE],
            queue_head: Cell::new(0),
            queue_len: Cell::new(0),
            on_done_list: Cell::new(false),
            next_done: Cell::new(0),
            next_free: Cell::new(0),
            on_retry_list: Cell::new(false),
            next_retry: Cell::new(0),
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

    /// Releases every queued completion (nobody will take them).
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
