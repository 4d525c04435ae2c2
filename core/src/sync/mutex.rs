//! [`Mutex`]: exclusive access for one task at a time, first come first
//! served.

use core::cell::UnsafeCell;
use core::fmt;
use core::future::Future;
use core::ops::{Deref, DerefMut};
use core::pin::Pin;
use core::task::{Context, Poll};

use super::semaphore::{Acquire, Permit, Semaphore};

/// An async mutex: [`lock`](Mutex::lock) waits (without blocking the
/// thread) until the value is free. Waiters get it strictly in the order
/// they asked — the holder hands it to the next waiter as it unlocks, so
/// a task that keeps locking cannot starve the others. Tasks only: an
/// interrupt handler must not wait, and use a [`Channel`](super::Channel)
/// or [`Signal`](super::Signal) instead.
///
/// ```
/// use kasync::sync::Mutex;
///
/// static LOG: Mutex<[u8; 16]> = Mutex::new([0; 16]);
///
/// async fn record(at: usize, byte: u8) {
///     let mut log = LOG.lock().await;
///     log[at] = byte;
/// } // unlocked here
/// # futures_util::FutureExt::now_or_never(record(3, 7)).unwrap();
/// # assert_eq!(LOG.try_lock().unwrap()[3], 7);
/// ```
pub struct Mutex<T: ?Sized> {
    free: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through the one guard that holds the
// semaphore's single permit (Acquire/Release through its queue).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: the mutex owns the value.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    crate::atomics::const_fn! {
        /// An unlocked mutex holding `value`.
        pub fn new(value: T) -> Self {
            Self { free: Semaphore::new(1), value: UnsafeCell::new(value) }
        }
    }

    /// The value, out of the mutex.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits until the value is free, then locks it.
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            acquire: self.free.acquire(1),
        }
    }

    /// Locks the value if it is free and nobody waits for it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let permit = self.free.try_acquire(1)?;
        Some(MutexGuard {
            mutex: self,
            _permit: permit,
        })
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

/// Future of [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'m, T: ?Sized> {
    mutex: &'m Mutex<T>,
    acquire: Acquire<'m>,
}

impl<'m, T: ?Sized> Future for Lock<'m, T> {
    type Output = MutexGuard<'m, T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'m, T>> {
        let mutex = self.mutex;
        // SAFETY: `acquire` is structurally pinned: never moved out.
        let acquire = unsafe { self.map_unchecked_mut(|this| &mut this.acquire) };
        acquire.poll(cx).map(|permit| MutexGuard {
            mutex,
            _permit: permit,
        })
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

/// The locked value of a [`Mutex`]; dropping it unlocks (handing the
/// value to the next waiter).
#[must_use = "dropping the guard unlocks at once"]
pub struct MutexGuard<'m, T: ?Sized> {
    mutex: &'m Mutex<T>,
    _permit: Permit<'m>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the only permit.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit, exclusively.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
