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
    let tag = ptr.addr() & TAG_MASK;
    let header = ptr.map_addr(|addr| addr & !TAG_MASK).cast::<Header>();
    // SAFETY: `ptr` was made by `task_waker` from a header pointer with
    // the provenance of a `'static` executor, so the header is valid.
    unsafe { Header::wake(header, tag) }
}

unsafe fn task_drop(_: *const ()) {}

unsafe fn root_clone(ptr: *const ()) -> RawWaker {
    RawWaker::new(ptr, &ROOT_VTABLE)
}

unsafe fn root_wake(ptr: *const ()) {
    // SAFETY: made by `root_waker` from the `Shared` of a `'static` executor.
    unsafe { Shared::wake_root(ptr.cast::<Shared>()) }
}
