//! [`ThreadBound`]: a value that is `Send` and `Sync` by being usable on
//! one thread only — for the `Send` bounds of APIs (hyper's timers and
//! pooled client, `Box<dyn Future + Send>`) that, on a thread-per-core
//! runtime, are always met on the thread that made the value.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// This thread's number: unique for the life of the process (a thread id
/// that is never reused, unlike a thread-local's address), and read
/// without an atomic operation after the first time.
pub(crate) fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static NUMBER: Cell<u64> = const { Cell::new(0) };
    }
    NUMBER.with(|n| match n.get() {
        0 => {
            let mine = NEXT.fetch_add(1, Ordering::Relaxed);
            n.set(mine);
            mine
        }
        mine => mine,
    })
}

/// A value of any type, `Send` and `Sync`, reachable only on the thread
/// that made it (its *home*): elsewhere [`get_mut`](Self::get_mut) gives
/// `None` and a poll panics with a message that says so.
///
/// Dropped on its home thread, the value is dropped. Dropped on another
/// thread, the value is **leaked** — neither dropped there (it is not
/// `Send`) nor freed (it may be pinned, and a pinned value's memory must
/// stay valid until its drop runs, e.g. a timer filed in its runtime's
/// wheel). The value lives in its own allocation for that reason.
///
/// This is what lets kasync's thread-bound futures (a [`Sleep`](crate::time::Sleep)
/// filed in the current runtime's wheel, an operation in flight) meet a
/// `Send` bound: on a thread-per-core runtime they never leave their
/// thread, and if one does, it is a clear failure, never undefined
/// behaviour.
///
/// ```
/// use std::rc::Rc;
/// use kasync_host::thread_bound::ThreadBound;
///
/// let mut shared = ThreadBound::new(Rc::new(5)); // `Rc` is not `Send`
/// assert_eq!(**shared.get_mut().unwrap(), 5);
/// let mut moved = std::thread::spawn(move || {
///     // Elsewhere the value is out of reach; dropping it here leaks it.
///     assert!(shared.get_mut().is_none());
///     shared
/// })
/// .join()
/// .unwrap();
/// assert_eq!(**moved.get_mut().unwrap(), 5); // home again
/// ```
pub struct ThreadBound<T> {
    /// From `Box::into_raw`: freed by `Drop` on the home thread only.
    value: NonNull<T>,
    home: u64,
    _owns: PhantomData<T>,
}

// SAFETY: the value is only ever reached on its home thread: every access
// (`get_mut`, `get_pin_mut`, `into_inner`, the poll, `Debug`) checks
// `home` against the calling thread first, and `Drop` off the home thread
// leaks the value instead of dropping it. So the value is never used,
// dropped or shared on two threads; only the `Box` pointer moves.
unsafe impl<T> Send for ThreadBound<T> {}
// SAFETY: `&ThreadBound<T>` reaches the value on no thread but its home
// (the only `&self` methods are `is_home` and `Debug`, which reads the
// value on the home thread only), so shared references reach it from one
// thread: `T: Sync` is not needed.
unsafe impl<T> Sync for ThreadBound<T> {}

// The value lives in its own allocation, so moving a `ThreadBound` never
// moves it: a `ThreadBound` is `Unpin` whatever `T` is (a thread-bound
// future can be polled through `&mut`), and getting the value back out
// (`into_inner`) asks `T: Unpin` instead.
impl<T> Unpin for ThreadBound<T> {}

impl<T> ThreadBound<T> {
    /// Binds `value` to the calling thread.
    pub fn new(value: T) -> Self {
        Self {
            value: NonNull::from(Box::leak(Box::new(value))),
            home: thread_number(),
            _owns: PhantomData,
        }
    }

    /// `true` on the thread that made it.
    pub fn is_home(&self) -> bool {
        self.home == thread_number()
    }

    /// The value, on its home thread; `None` elsewhere. (Only for `Unpin`
    /// values: a `ThreadBound` is `Unpin` whatever `T` is, so the value
    /// may have been pinned through [`get_pin_mut`](Self::get_pin_mut),
    /// and a `&mut` to it would let safe code move it.)
    ///
    /// ```compile_fail
    /// use kasync_host::thread_bound::ThreadBound;
    /// let mut bound = ThreadBound::new(async {}); // not `Unpin`
    /// let _moved = std::mem::replace(bound.get_mut().unwrap(), async {});
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T>
    where
        T: Unpin,
    {
        if self.is_home() {
            // SAFETY: the pointer is from `Box::into_raw` and freed only by
            // `Drop`; `&mut self` makes this borrow the only one.
            Some(unsafe { self.value.as_mut() })
        } else {
            None
        }
    }

    /// The pinned value, on its home thread; `None` elsewhere.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut T>> {
        if !self.is_home() {
            return None;
        }
        // SAFETY: the value is in its own allocation, which moving the
        // `ThreadBound` does not move; it is never moved out of unless it is
        // `Unpin` (`into_inner`), and never freed before its drop runs
        // (`Drop` drops it in place or leaks it). So once pinned here, it
        // stays pinned.
        Some(unsafe { self.map_unchecked_mut(|this| this.value.as_mut()) })
    }

    /// The value back, on its home thread; `Err(self)` elsewhere. (Only
    /// for `Unpin` values: the value may have been pinned in place.)
    pub fn into_inner(self) -> Result<T, Self>
    where
        T: Unpin,
    {
        if !self.is_home() {
            return Err(self);
        }
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the pointer is from `Box::into_raw`, and `this` is never
        // used or dropped again (the `ManuallyDrop` keeps `Drop` from
        // freeing it a second time).
        let value = unsafe { Box::from_raw(this.value.as_ptr()) };
        Ok(*value)
    }
}

impl<T> Drop for ThreadBound<T> {
    fn drop(&mut self) {
        // Off home the value is neither dropped nor freed (see the type's
        // docs): it is leaked.
        if self.is_home() {
            // SAFETY: the pointer is from `Box::into_raw`, freed here only,
            // once (`into_inner` skips this drop).
            drop(unsafe { Box::from_raw(self.value.as_ptr()) });
        }
    }
}

impl<F: Future> Future for ThreadBound<F> {
    type Output = F::Output;

    /// Polls the future.
    ///
    /// # Panics
    /// Off its home thread: the future belongs to the thread (and the
    /// kasync runtime) that made it.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.get_pin_mut() {
            Some(future) => future.poll(cx),
            None => panic!(
                "a kasync future was polled on another thread than the one that made it: \
                 it belongs to that thread's runtime (spawn it there, or make it on this thread)"
            ),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for ThreadBound<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_home() {
            // SAFETY: on the home thread; a shared borrow for `&self`'s
            // lifetime (no `&mut` can exist meanwhile).
            f.debug_tuple("ThreadBound")
                .field(unsafe { self.value.as_ref() })
                .finish()
        } else {
            f.write_str("ThreadBound(<on another thread>)")
        }
    }
}
