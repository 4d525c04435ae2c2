//! A task executor with static, fixed-capacity task storage.
//!
//! An [`Executor<P, N, S>`] holds `N` task slots of `S` bytes each, inline:
//! put it in a `static` and no task ever touches a heap. Spawning writes the
//! future into a free slot; the slot is reused once the task has finished
//! and its [`JoinHandle`] is gone.
//!
//! * Wakers are one word (the slot's address plus a generation tag); clone
//!   and drop do nothing, and waking sets the task's bit in a lock-free
//!   ready bitmap (one atomic `fetch_or`, rarely two) — safe from interrupt
//!   handlers and other threads, and the ready queue cannot overflow. A
//!   waker that outlives its task does nothing (at worst, if it races the
//!   slot's reuse, the slot's next task is polled once without cause).
//! * Exactly one [`Runner`] at a time polls the tasks; it is `!Send`, so
//!   `!Send` futures can be spawned on it with [`Runner::spawn_local`].
//!   `Send` futures can be spawned from anywhere with [`Executor::spawn`].
//! * Idling goes through a [`Platform`]; see its idle contract.
//!
//! ```
//! use kasync::executor::{Executor, Spin};
//!
//! static EXECUTOR: Executor<Spin, 8, 128> = Executor::new(Spin);
//!
//! let runner = EXECUTOR.runner().expect("nobody else runs it");
//! let task = EXECUTOR.spawn(async { 6 * 7 }).expect("a slot is free");
//! assert_eq!(runner.block_on(task), Ok(42));
//! ```
//!
//! A future larger than the slot size is rejected when the program is
//! compiled (here 64 bytes do not fit 32-byte slots):
//!
//! ```compile_fail
//! use kasync::executor::{Executor, Spin};
//! static EXECUTOR: Executor<Spin, 2, 32> = Executor::new(Spin);
//! let big = [0u8; 64];
//! let _ = EXECUTOR.spawn(async move { big.len() });
//! ```

mod drive;
mod join;
mod platform;
mod ready;
mod runner;
mod shared;
mod slot;
mod state;
#[cfg(all(feature = "std", not(loom)))]
mod thread_platform;
mod waker;

use core::fmt;
use core::future::Future;
use core::mem::{MaybeUninit, align_of, size_of};

pub use drive::Drive;
pub use join::{JoinError, JoinHandle};
pub use platform::{Idle, Platform, Spin};
pub use runner::{Runner, TickStats};
#[cfg(all(feature = "std", not(loom)))]
pub use thread_platform::ThreadPlatform;
pub(crate) use waker::{WakerCell, wake};

use crate::storage::{self, STORAGE_ALIGN};
use crate::sync::{AtomicU32, Ordering};
use shared::Shared;
use slot::{Header, SLOT_ALIGN, Slot, VTableOf};
use state::{ALIVE, CLAIMED, HANDLE};

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// Every task slot is occupied. Wait for a task to finish (or drop a
    /// finished task's `JoinHandle`), or build the executor with a larger `N`.
    Full,
    /// The future (or its output) needs more bytes than a task slot has.
    /// Build the executor with a slot size `S` of at least `size`.
    TooLarge {
        /// Bytes the future or its output needs.
        size: usize,
        /// Bytes a slot has (`S`).
        max: usize,
    },
    /// The future (or its output) needs a stricter alignment than task
    /// slots provide.
    Misaligned {
        /// Alignment the future or its output needs.
        align: usize,
        /// Alignment slots provide (16).
        max: usize,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpawnError::Full => f.write_str(
                "every task slot is occupied: wait for a task to finish or give the executor more slots",
            ),
            SpawnError::TooLarge { size, max } => write!(
                f,
                "the future needs {size} bytes but a task slot has {max}: build the executor with a slot size of at least {size}"
            ),
            SpawnError::Misaligned { align, max } => write!(
                f,
                "the future needs {align}-byte alignment but task slots are {max}-byte aligned"
            ),
        }
    }
}

impl core::error::Error for SpawnError {}

/// The claim on an executor failed because a [`Runner`] for it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerBusy;

impl fmt::Display for RunnerBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this executor already has a runner; drop it before claiming another")
    }
}

impl core::error::Error for RunnerBusy {}

/// Compile-time check that `F` and its output fit a slot of `S` bytes.
pub(crate) const fn assert_fits<F: Future, const S: usize>() {
    assert!(
        storage::fits::<F, S>() && storage::fits::<F::Output, S>(),
        "future (or its output) is larger than the executor's task slot size S, or needs more than 16-byte alignment"
    );
}

/// Run-time version of [`assert_fits`].
pub(crate) fn check_fits<F: Future, const S: usize>() -> Result<(), SpawnError> {
    let size = size_of::<F>().max(size_of::<F::Output>());
    if size > S {
        return Err(SpawnError::TooLarge { size, max: S });
    }
    let align = align_of::<F>().max(align_of::<F::Output>());
    if align > STORAGE_ALIGN {
        return Err(SpawnError::Misaligned {
            align,
            max: STORAGE_ALIGN,
        });
    }
    Ok(())
}

/// A fixed-capacity task executor: `N` task slots of `S` bytes each,
/// idling through platform `P`. `N` is at most 3968 (960 on targets with a
/// 32-bit `usize`), checked at compile time.
///
/// Build it in a `static` with [`Executor::new`] (a `const fn`); spawning
/// and running need `&'static self`, because wakers point into the slots
/// and may outlive any scope. See the [module docs](self).
#[repr(C)]
pub struct Executor<P: Platform + 'static, const N: usize, const S: usize = 256> {
    /// Must stay the first field: headers find it at a fixed offset.
    shared: Shared,
    slots: [Slot<S>; N],
    /// Where the next spawn starts looking for a free slot.
    next_free: AtomicU32,
    platform: P,
}

// SAFETY: every field shared between contexts is an atomic; slot storage
// and vtables are touched only by the spawner holding the slot's `CLAIMED`
// reference or by the run loop while the task is `ALIVE` (see `state`),
// and `!Send` futures only by the `!Send` `Runner`. `P: Platform` is `Sync`.
unsafe impl<P: Platform, const N: usize, const S: usize> Sync for Executor<P, N, S> {}

impl<P: Platform + 'static, const N: usize, const S: usize> Executor<P, N, S> {
    /// Number of task slots.
    pub const CAPACITY: usize = N;
    /// Bytes of storage per task.
    pub const SLOT_SIZE: usize = S;

    crate::sync::const_fn! {
        /// An executor with every slot free, idling through `platform`.
        pub fn new(platform: P) -> Self {
            const {
                assert!(
                    N > 0 && N <= ready::MAX_TASKS,
                    "N must be between 1 and 3968 (960 where usize has 32 bits)"
                );
                assert!(core::mem::align_of::<Slot<S>>() == SLOT_ALIGN);
            };
            let slots_at = core::mem::offset_of!(Self, slots);
            #[cfg(not(loom))]
            let slots = {
                let mut slots = [const { Slot::new(0, 0) }; N];
                let mut i = 0;
                while i < N {
                    slots[i].header.index = i as u32;
                    slots[i].header.shared_offset = slots_at + i * size_of::<Slot<S>>();
                    i += 1;
                }
                slots
            };
            #[cfg(loom)]
            let slots = core::array::from_fn(|i| Slot::new(i as u32, slots_at + i * size_of::<Slot<S>>()));
            Self {
                shared: Shared::new(Self::pend),
                slots,
                next_free: AtomicU32::new(0),
                platform,
            }
        }
    }

    /// Builds an executor in place — for executors too large for the stack
    /// (a `Box::new_uninit`, a leaked allocation). Each slot is written
    /// directly; no executor-sized temporary is made.
    ///
    /// ```
    /// use kasync::executor::{Executor, Spin};
    ///
    /// type Big = Executor<Spin, 256, 1024>; // 272 KiB of task slots
    /// let mut place = Box::<Big>::new_uninit();
    /// Big::init(&mut place, Spin);
    /// // SAFETY: `init` initialised it.
    /// let executor: Box<Big> = unsafe { place.assume_init() };
    /// assert_eq!(executor.occupied(), 0);
    /// // To spawn, it must be `'static`: `Box::leak` it (see `spawn`).
    /// ```
    pub fn init(place: &mut MaybeUninit<Self>, platform: P) -> &mut Self {
        const {
            assert!(
                N > 0 && N <= ready::MAX_TASKS,
                "N must be between 1 and 3968 (960 where usize has 32 bits)"
            )
        };
        let this = place.as_mut_ptr();
        let slots_at = core::mem::offset_of!(Self, slots);
        // SAFETY: every field is written exactly once through raw pointers
        // into `place`, which is valid for writes; no reference to the
        // uninitialised value is made.
        unsafe {
            (&raw mut (*this).shared).write(Shared::new(Self::pend));
            (&raw mut (*this).next_free).write(AtomicU32::new(0));
            (&raw mut (*this).platform).write(platform);
            let slots = (&raw mut (*this).slots).cast::<Slot<S>>();
            for i in 0..N {
                slots
                    .add(i)
                    .write(Slot::new(i as u32, slots_at + i * size_of::<Slot<S>>()));
            }
            &mut *this
        }
    }

    /// # Safety
    /// `shared` is `&self.shared` of a live `Self` with whole-`Self`
    /// provenance (it is at offset 0, so the cast is exact).
    unsafe fn pend(shared: *const Shared) {
        // SAFETY: guaranteed by the caller.
        let this = unsafe { &*shared.cast::<Self>() };
        this.platform.pend();
    }

    /// The platform this executor idles through.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Claims the right to run this executor on the current thread.
    pub fn runner(&'static self) -> Result<Runner<P, N, S>, RunnerBusy> {
        self.shared
            .runner_claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| RunnerBusy)?;
        Ok(Runner::new(self))
    }

    /// Spawns a `Send` future from any context — another thread, or an
    /// interrupt handler (spawning is lock-free and never allocates).
    ///
    /// The future and its output must fit the slot size `S`; this is
    /// checked at compile time (use [`try_spawn`](Self::try_spawn) to check
    /// at run time instead). A full executor is [`SpawnError::Full`].
    pub fn spawn<F>(&'static self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        const { assert_fits::<F, S>() };
        // SAFETY: `F` is `Send`, so whichever thread runs it is fine.
        unsafe { self.spawn_unchecked(future) }
    }

    /// [`spawn`](Self::spawn) with the size check at run time: a future too
    /// large for the slots is [`SpawnError::TooLarge`].
    pub fn try_spawn<F>(&'static self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        check_fits::<F, S>()?;
        // SAFETY: `F` is `Send`, so whichever thread runs it is fine.
        unsafe { self.spawn_unchecked(future) }
    }

    /// Number of occupied slots: unfinished tasks and finished ones whose
    /// output still waits for its handle.
    pub fn occupied(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| !state::is_free(slot.header.state.load(Ordering::Acquire)))
            .count()
    }

    /// # Safety
    /// If `F` or its output is not `Send`, the caller guarantees that only
    /// the current (unique, `!Send`) runner will poll and drop it.
    /// `F` and its output fit a slot (checked by the caller).
    unsafe fn spawn_unchecked<F>(
        &'static self,
        future: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + 'static,
    {
        let (index, claimed) = self.claim().ok_or(SpawnError::Full)?;
        let slot = &self.slots[index];
        let storage = slot.storage_ptr();
        // SAFETY: `CLAIMED` gives this context the slot exclusively (wakers
        // ignore it until `ALIVE`); the caller checked that `F` fits.
        unsafe {
            *slot.header.vtable.get() = Some(&VTableOf::<F>::VTABLE);
            storage.cast::<F>().write(future);
        }
        // Publish: the Release store makes the writes above visible to
        // whoever sees `ALIVE`. Nobody else writes the state while only
        // `CLAIMED` is set.
        slot.header.state.store(
            state::generation(claimed) | ALIVE | HANDLE,
            Ordering::Release,
        );
        // SAFETY: `shared_ptr` has whole-executor provenance.
        unsafe { Shared::enqueue(self.shared_ptr(), &slot.header) };
        // SAFETY: the header pointer has whole-executor provenance, and the
        // slot holds a `HANDLE` reference for the new handle.
        Ok(unsafe { JoinHandle::new(self.header_ptr(index), storage) })
    }

    /// Finds a free slot and marks it `CLAIMED`; returns its index and the
    /// state it had.
    fn claim(&self) -> Option<(usize, u32)> {
        let start = self.next_free.load(Ordering::Relaxed) as usize;
        for k in 0..N {
            let index = (start + k) % N;
            let header = &self.slots[index].header;
            let s = header.state.load(Ordering::Relaxed);
            if state::is_free(s)
                && header
                    .state
                    .compare_exchange(s, s | CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                self.next_free
                    .store(((index + 1) % N) as u32, Ordering::Relaxed);
                return Some((index, s));
            }
        }
        None
    }

    /// Pointer to `Shared` carrying the whole executor's provenance.
    fn shared_ptr(&'static self) -> *const Shared {
        let this: *const Self = self;
        this.cast()
    }

    /// Pointer to a slot's header carrying the whole executor's provenance.
    fn header_ptr(&'static self, index: usize) -> *const Header {
        let this: *const Self = self;
        // SAFETY: `this` is valid; the projection creates no reference.
        unsafe { &raw const (*this).slots[index].header }
    }
}
