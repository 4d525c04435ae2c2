//! Raw, aligned, fixed-size storage for one value of a type decided at run
//! time — the home of a task's future or an operation in flight.

use core::mem::{MaybeUninit, align_of, size_of};

/// Alignment every storage block provides.
pub(crate) const STORAGE_ALIGN: usize = 16;

/// `S` bytes aligned to [`STORAGE_ALIGN`].
#[repr(C, align(16))]
pub(crate) struct Storage<const S: usize>([MaybeUninit<u8>; S]);

impl<const S: usize> Storage<S> {
    pub(crate) const fn uninit() -> Self {
        Self([MaybeUninit::uninit(); S])
    }

    /// Where the value goes.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr().cast()
    }
}

/// `true` if a `T` fits [`Storage<S>`].
pub(crate) const fn fits<T, const S: usize>() -> bool {
    size_of::<T>() <= S && align_of::<T>() <= STORAGE_ALIGN
}
