//! The atomic building blocks the core is built on.
//!
//! Everything the core shares between contexts (the run loop, interrupt
//! handlers, other threads) goes through the atomics re-exported here. Under
//! `--cfg loom` they are swapped for loom's model-checked versions so the
//! same code is explored interleaving by interleaving (see `tests/loom.rs`).

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use core::task::Waker;

/// Declares a constructor that is a `const fn` normally and a plain `fn`
/// under loom (whose atomics cannot be built in a constant context).
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $name $($rest)*
    };
}
pub(crate) use const_fn;

/// A slot for one waker that can be registered from one context and woken
/// from any other (an interrupt handler, a thread), without locks or
/// allocation.
///
/// The waker's own code — its `clone`, the `drop` of the one it replaces,
/// its `wake` — never runs while the slot is claimed, so a waker that
/// panics there leaves the slot working for the next registration (a
/// panic in a `clone` or `drop` reaches the registering caller, one in a
/// `wake` the waking one).
pub(crate) struct WakerSlot {
    /// [`IDLE`](slot::IDLE), or [`REGISTERING`](slot::REGISTERING) and/or
    /// [`WAKING`](slot::WAKING).
    state: AtomicUsize,
    waker: Racy<Option<Waker>>,
}

mod slot {
    /// Nobody uses the waker.
    pub(super) const IDLE: usize = 0;
    /// The registering context is changing the waker.
    pub(super) const REGISTERING: usize = 1;
    /// A wake came: the context that clears this wakes the waker (the
    /// registering one, if it was registering).
    pub(super) const WAKING: usize = 2;
}

// SAFETY: the waker is reached only by the context that moved `state` off
// `IDLE` (the registering one, or a waking one), which hands it on through
// `state`'s Acquire/Release; `Waker` is `Send + Sync`.
unsafe impl Sync for WakerSlot {}
// SAFETY: as above.
unsafe impl Send for WakerSlot {}

impl WakerSlot {
    const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                state: AtomicUsize::new(slot::IDLE),
                waker: Racy::new(None),
            }
        }
    }

    /// Registers `waker` to be woken by the next [`wake`](Self::wake). One
    /// registering context at a time (the slot's owner). A wake that comes
    /// while it registers is not lost: the waker registered (old or new)
    /// is woken.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut fresh: Option<Waker> = None;
        loop {
            if self
                .state
                .compare_exchange(
                    slot::IDLE,
                    slot::REGISTERING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                )
                .is_err()
            {
                // A wake in progress: it takes whatever was registered, so
                // wake this one directly (its task polls again).
                drop(fresh);
                waker.wake_by_ref();
                return;
            }
            // SAFETY: `REGISTERING` gives this context the waker; `will_wake`
            // is a comparison, no user code.
            let current = self
                .waker
                .with_mut(|w| unsafe { (*w).as_ref().is_some_and(|old| old.will_wake(waker)) });
            let replaced = if current {
                None
            } else if let Some(new) = fresh.take() {
                // SAFETY: as above.
                self.waker.with_mut(|w| unsafe { (*w).replace(new) })
            } else {
                // A clone is user code: let go first, clone, come back.
                self.release(None);
                fresh = Some(waker.clone());
                continue;
            };
            self.release(replaced);
            return;
        }
    }

    /// Lets go of a claim made by `register`, then drops `replaced` and,
    /// if a wake came meanwhile, wakes the waker (both outside the claim).
    fn release(&self, replaced: Option<Waker>) {
        let woken = match self.state.compare_exchange(
            slot::REGISTERING,
            slot::IDLE,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => None,
            Err(_) => {
                // `WAKING` came: the wake is this context's to do.
                // SAFETY: still claimed (`REGISTERING` is set).
                let waker = self.waker.with_mut(|w| unsafe { (*w).take() });
                self.state.store(slot::IDLE, Ordering::Release);
                waker
            }
        };
        drop(replaced);
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Wakes and removes the registered waker, if any.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.take() {
            waker.wake();
        }
    }

    /// Takes the registered waker out (to drop or wake it once the caller
    /// has settled whatever state the waker's code might observe). `None`
    /// also while a registration is under way: that registration then
    /// wakes the waker itself.
    pub(crate) fn take(&self) -> Option<Waker> {
        match self.state.fetch_or(slot::WAKING, Ordering::AcqRel) {
            slot::IDLE => {
                // SAFETY: this context moved the state off `IDLE`.
                let waker = self.waker.with_mut(|w| unsafe { (*w).take() });
                self.state.fetch_and(!slot::WAKING, Ordering::Release);
                waker
            }
            // Registering (it wakes when it lets go) or another wake.
            _ => None,
        }
    }
}

/// Memory shared between contexts that the caller's protocol (a lock, a
/// claimed ring place) gives to one of them at a time. Under `--cfg loom`
/// it is loom's cell, so the model checker reports two contexts touching
/// it at once.
pub(crate) struct Racy<T> {
    #[cfg(not(loom))]
    inner: core::cell::UnsafeCell<T>,
    #[cfg(loom)]
    inner: loom::cell::UnsafeCell<T>,
}

impl<T> Racy<T> {
    const_fn! {
        pub(crate) fn new(value: T) -> Self {
            Self {
                #[cfg(not(loom))]
                inner: core::cell::UnsafeCell::new(value),
                #[cfg(loom)]
                inner: loom::cell::UnsafeCell::new(value),
            }
        }
    }

    /// Calls `f` with a pointer to the value; the caller's protocol must
    /// make this context the only one using it until `f` returns.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(loom))]
        return f(self.inner.get());
        #[cfg(loom)]
        return self.inner.with_mut(f);
    }

    /// The value, through exclusive access (no other context can hold a
    /// reference to `self`).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every other access.
        self.with_mut(|value| unsafe { &mut *value })
    }
}

/// One turn of a spin-wait loop (loom: lets the other modelled threads
/// run, so a spin on them terminates).
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
