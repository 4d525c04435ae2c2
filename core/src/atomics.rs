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
/// from any other, without locks or allocation.
pub(crate) struct WakerSlot {
    #[cfg(not(loom))]
    inner: futures_util::task::AtomicWaker,
    #[cfg(loom)]
    inner: loom::future::AtomicWaker,
}

impl WakerSlot {
    const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                #[cfg(not(loom))]
                inner: futures_util::task::AtomicWaker::new(),
                #[cfg(loom)]
                inner: loom::future::AtomicWaker::new(),
            }
        }
    }

    /// Registers `waker` to be woken by the next [`wake`](Self::wake).
    pub(crate) fn register(&self, waker: &Waker) {
        #[cfg(not(loom))]
        self.inner.register(waker);
        #[cfg(loom)]
        self.inner.register_by_ref(waker);
    }

    /// Wakes and removes the registered waker, if any.
    pub(crate) fn wake(&self) {
        self.inner.wake();
    }

    /// Takes the registered waker out (to drop or wake it once the caller
    /// has settled whatever state the waker's code might observe).
    pub(crate) fn take(&self) -> Option<Waker> {
        #[cfg(not(loom))]
        return self.inner.take();
        #[cfg(loom)]
        return self.inner.take_waker();
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
