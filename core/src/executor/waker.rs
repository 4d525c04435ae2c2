//! Wakers: one word — the task header's address with the task's generation
//! tag in the low bits. Cloning and dropping do nothing (no reference count),
//! so a waker can be copied into and dropped from an interrupt handler.
//!
//! A waker outlives its task harmlessly: waking checks the tag against the
//! slot's current generation and does nothing on a mismatch. The tag has
//! [`TAG_BITS`](super::state::TAG_BITS) bits, so a waker kept across exactly
//! a multiple of 64 reuses of its slot can cause one spurious poll of the
//! slot's current task; so can a wake that races its task's end and the
//! slot's reuse (the check and the enqueue are two steps). Every future must
//! tolerate spurious polls anyway.

use core::cell::Cell;
use core::mem;
use core::ptr;
use core::task::{RawWaker, RawWakerVTable, Waker};

use super::shared::Shared;
use super::slot::Header;
use super::state::TAG_MASK;

static TASK_VTABLE: RawWakerVTable =
    RawWakerVTable::new(task_clone, task_wake, task_wake, task_drop);

static ROOT_VTABLE: RawWakerVTable =
    RawWakerVTable::new(root_clone, root_wake, root_wake, task_drop);

/// The waker of the task whose header is at `header`, generation tag `tag`.
///
/// # Safety
/// `header` points into a `'static` executor with the whole executor's
/// provenance (see [`Header::shared`]).
pub(crate) unsafe fn task_waker(header: *const Header, tag: usize) -> Waker {
    let ptr = header.cast::<()>().map_addr(|addr| addr | tag);
    // SAFETY: the vtable functions only decode `ptr` back into the header,
    // which lives as long as the `'static` executor, and touch it through
    // atomics; clone and drop do nothing. Headers are 64-byte aligned, so
    // the tag fits in the free low bits.
    unsafe { Waker::from_raw(RawWaker::new(ptr, &TASK_VTABLE)) }
}

/// The waker of the root future of `block_on`.
///
/// # Safety
/// `shared` is the `Shared` of a `'static` executor, with the whole
/// executor's provenance.
pub(crate) unsafe fn root_waker(shared: *const Shared) -> Waker {
    // SAFETY: as for `task_waker`; the root waker only sets a flag in the
    // executor's `Shared` and calls its pender.
    unsafe { Waker::from_raw(RawWaker::new(shared.cast(), &ROOT_VTABLE)) }
}

unsafe fn task_clone(ptr: *const ()) -> RawWaker {
    RawWaker::new(ptr, &TASK_VTABLE)
}

unsafe fn task_wake(ptr: *const ()) {
    let (header, tag) = decode(ptr);
    // SAFETY: `ptr` was made by `task_waker` from a header pointer with
    // the provenance of a `'static` executor, so the header is valid.
    unsafe { Header::wake(header, tag) }
}

/// The header pointer and generation tag a task waker's data holds.
#[inline(always)]
fn decode(ptr: *const ()) -> (*const Header, usize) {
    let tag = ptr.addr() & TAG_MASK;
    (ptr.map_addr(|addr| addr & !TAG_MASK).cast::<Header>(), tag)
}

unsafe fn task_drop(_: *const ()) {}

unsafe fn root_clone(ptr: *const ()) -> RawWaker {
    RawWaker::new(ptr, &ROOT_VTABLE)
}

unsafe fn root_wake(ptr: *const ()) {
    // SAFETY: made by `root_waker` from the `Shared` of a `'static` executor.
    unsafe { Shared::wake_root(ptr.cast::<Shared>()) }
}

/// `true` for the waker of a task of a kasync executor.
fn is_task_waker(waker: &Waker) -> bool {
    ptr::eq(waker.vtable(), &TASK_VTABLE)
}

/// A copy of `waker`: a task waker is copied in place (cloning it does
/// nothing anyway), any other waker is cloned through its vtable.
fn copy(waker: &Waker) -> Waker {
    if is_task_waker(waker) {
        // SAFETY: the same data with the same vtable is exactly what
        // `task_clone` returns.
        unsafe { Waker::new(waker.data(), &TASK_VTABLE) }
    } else {
        waker.clone()
    }
}

/// Drops `waker`; a task waker without the (empty) call through its vtable.
fn release(waker: Waker) {
    if is_task_waker(&waker) {
        // Its drop does nothing.
        mem::forget(waker);
    } else {
        drop(waker);
    }
}

/// Wakes `waker`; a task waker directly, without the indirect call.
pub(crate) fn wake(waker: Waker) {
    if is_task_waker(&waker) {
        let data = waker.data();
        // Its drop does nothing.
        mem::forget(waker);
        // SAFETY: a waker with `TASK_VTABLE` was made by `task_waker` (or
        // copied from one), so `data` is what `task_wake` expects.
        unsafe { task_wake(data) };
    } else {
        waker.wake();
    }
}

/// Task wakes gathered while a reactor reaps completions, made ready one
/// ready-queue word at a time: the tasks of one word (64 slots) cost one
/// read-modify-write together instead of one each. Every wake still
/// reaches the queue through an atomic `fetch_or` — an interrupt handler
/// or another thread waking the same word meanwhile is not lost — only
/// later: when the next wake is for another word (or executor), at
/// [`flush`](Self::flush), or when the batch is dropped (also by an
/// unwind). A reactor turn flushes before it returns, so no wake waits
/// past the turn that reaped its completion.
pub(crate) struct WakeBatch {
    /// The executor of the gathered wakes (null while none).
    shared: *const Shared,
    /// Their ready-queue leaf word.
    leaf: usize,
    /// Their bits in it.
    bits: usize,
}

impl WakeBatch {
    /// An empty batch.
    pub(crate) const fn new() -> Self {
        Self {
            shared: ptr::null(),
            leaf: 0,
            bits: 0,
        }
    }

    /// Adds the wake of the task waker with data `data`.
    ///
    /// # Safety
    /// `data` is the data of a waker with `TASK_VTABLE`.
    #[inline]
    unsafe fn add(&mut self, data: *const ()) {
        let (header, tag) = decode(data);
        // SAFETY: made by `task_waker` from a header of a `'static`
        // executor, with its provenance (the caller's waker is one).
        let live = unsafe { &*header };
        if !live.wanted(tag) {
            return;
        }
        // SAFETY: as above.
        let shared = unsafe { Header::shared(header) };
        let (leaf, bit) = super::ready::locate(live.index as usize);
        if self.bits != 0 && (leaf != self.leaf || !ptr::eq(shared, self.shared)) {
            self.flush();
        }
        self.shared = shared;
        self.leaf = leaf;
        self.bits |= bit;
    }

    /// Makes the gathered tasks ready.
    pub(crate) fn flush(&mut self) {
        let bits = mem::take(&mut self.bits);
        if bits != 0 {
            // SAFETY: `shared` came from `Header::shared` of a live header
            // of a `'static` executor, and the bits are of its tasks.
            unsafe { Shared::enqueue_bits(self.shared, self.leaf, bits) };
        }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Where the reactor and the timers keep the waker of whoever waits on an
/// operation or a timer.
///
/// Wakers of kasync tasks — the common case — are stored, woken and
/// dropped without calls through their vtable (an indirect call each, on
/// every operation); other wakers go through their vtable as usual.
pub(crate) struct WakerCell(Cell<Option<Waker>>);

impl WakerCell {
    /// An empty cell.
    pub(crate) const fn new() -> Self {
        Self(Cell::new(None))
    }

    /// Registers `waker`, keeping the current one if it would wake the
    /// same task.
    pub(crate) fn register(&self, waker: &Waker) {
        match self.0.take() {
            Some(current) if current.will_wake(waker) => self.0.set(Some(current)),
            old => {
                self.0.set(Some(copy(waker)));
                // Dropped last: a foreign waker's drop may run any code.
                if let Some(old) = old {
                    release(old);
                }
            }
        }
    }

    /// Takes the waker out (to wake it with [`wake`] once the caller is
    /// done with whatever holds the cell).
    pub(crate) fn take(&self) -> Option<Waker> {
        self.0.take()
    }

    /// Takes the waker out and wakes it.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.0.take() {
            wake(waker);
        }
    }

    /// Wakes the waker into `batch` if it is a kasync task's (which only
    /// marks the task ready, without running any other code): it is taken
    /// and its wake gathered (made ready when the batch flushes), and the
    /// result is `true`; `false` leaves any other waker in place.
    #[inline]
    pub(crate) fn wake_task_into(&self, batch: &mut WakeBatch) -> bool {
        match self.0.take() {
            Some(waker) if is_task_waker(&waker) => {
                let data = waker.data();
                // Its drop does nothing.
                mem::forget(waker);
                // SAFETY: a waker with `TASK_VTABLE`.
                unsafe { batch.add(data) };
                true
            }
            other => {
                self.0.set(other);
                false
            }
        }
    }

    /// Drops the waker, if any.
    pub(crate) fn clear(&self) {
        if let Some(waker) = self.0.take() {
            release(waker);
        }
    }
}
