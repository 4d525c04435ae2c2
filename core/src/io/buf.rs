//! Owned buffers with stable addresses, and a fixed pool of them.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::atomics::{AtomicBool, Ordering};

/// A buffer an operation can own while a backend reads from it.
///
/// # Safety
/// [`stable_ptr`](IoBuf::stable_ptr) must point to
/// [`bytes_total`](IoBuf::bytes_total) bytes that stay valid, at the same
/// address, for as long as the value lives — also after the value is moved
/// — and the first [`bytes_init`](IoBuf::bytes_init) of them must be
/// initialised.
pub unsafe trait IoBuf: 'static {
    /// Start of the memory.
    fn stable_ptr(&self) -> *const u8;
    /// Initialised bytes (what a write sends).
    fn bytes_init(&self) -> usize;
    /// Capacity in bytes (what a read may fill).
    fn bytes_total(&self) -> usize;
}

/// A buffer an operation can own while a backend writes into it.
///
/// **A read appends.** It writes into the spare capacity — the bytes from
/// [`bytes_init`](IoBuf::bytes_init) to [`bytes_total`](IoBuf::bytes_total)
/// ([`spare_ptr`](IoBufMut::spare_ptr), [`spare_len`](IoBufMut::spare_len))
/// — and then extends the initialised length by what it read
/// ([`advance_init`](IoBufMut::advance_init)). The bytes already there are
/// kept. A buffer without spare capacity cannot be read into: the reads of
/// kasync's drivers refuse it with an error rather than report 0 bytes
/// (which would look like the end of a stream). So a `Vec` to read into is
/// made with `Vec::with_capacity` (not `vec![0; n]`, which is full) and
/// `clear`ed to reuse.
///
/// Implemented by `Vec<u8>` (feature `std`), [`PoolBuf`] and the drivers'
/// registered buffers. Fixed-size slices (`&'static mut [u8]`,
/// `Box<[u8]>`) are [`IoBuf`] only: they have no length to append after.
///
/// # Safety
/// As for [`IoBuf`], and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) may
/// be written through for all `bytes_total` bytes. An implementation that
/// overrides [`spare_ptr`](IoBufMut::spare_ptr) or
/// [`spare_len`](IoBufMut::spare_len) keeps them inside that memory: the
/// kernel writes `spare_len` bytes at `spare_ptr`.
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the memory, for writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `n` bytes are now initialised (after a read
    /// filled them). Never shrinks the initialised part.
    ///
    /// # Safety
    /// The first `n` bytes have been initialised.
    unsafe fn set_init(&mut self, n: usize);

    /// Where a read puts its bytes: just past the initialised ones.
    fn spare_ptr(&mut self) -> *mut u8 {
        let init = self.bytes_init();
        self.stable_mut_ptr().wrapping_add(init)
    }

    /// How many bytes a read may put at [`spare_ptr`](Self::spare_ptr).
    fn spare_len(&self) -> usize {
        self.bytes_total().saturating_sub(self.bytes_init())
    }

    /// Records that a read put `n` bytes at [`spare_ptr`](Self::spare_ptr):
    /// the initialised part grows by `n` (at most to the capacity).
    ///
    /// # Safety
    /// `n` bytes at `spare_ptr` have been initialised.
    unsafe fn advance_init(&mut self, n: usize) {
        let to = self.bytes_init().saturating_add(n.min(self.spare_len()));
        // SAFETY: the first `bytes_init` bytes were initialised, and the
        // caller initialised the `n` after them.
        unsafe { self.set_init(to) };
    }
}

/// `IoBuf` for `'static` byte views whose every byte is data.
macro_rules! static_bytes {
    ($($t:ty),*) => {$(
        // SAFETY: a `'static` value lives for the whole program at a fixed
        // address, and all of its `len()` bytes are initialised.
        unsafe impl IoBuf for $t {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.len()
            }
            fn bytes_total(&self) -> usize {
                self.len()
            }
        }
    )*};
}
static_bytes!(&'static [u8], &'static mut [u8], &'static str);

/// `N` buffers of `SIZE` bytes in static storage, handed out as [`PoolBuf`]s
/// and returned when those are dropped. Taking and returning are lock-free.
/// `N` and `SIZE` are at least 1 (checked at compile time): a read into an
/// empty buffer could not tell "no room" from "end of file".
///
/// ```compile_fail
/// # use kasync::io::BufPool;
/// static EMPTY: BufPool<4, 0> = BufPool::new(); // error: SIZE is 0
/// ```
///
/// ```
/// use kasync::io::BufPool;
///
/// static POOL: BufPool<4, 512> = BufPool::new();
///
/// let mut buf = POOL.take().expect("a buffer is free");
/// buf.extend_from_slice(b"hello");
/// assert_eq!(&buf[..], b"hello");
/// assert_eq!(POOL.available(), 3);
/// drop(buf);
/// assert_eq!(POOL.available(), 4);
/// ```
pub struct BufPool<const N: usize, const SIZE: usize> {
    taken: [AtomicBool; N],
    bufs: [UnsafeCell<[u8; SIZE]>; N],
}

// SAFETY: a buffer is reachable only through the one `PoolBuf` that won its
// `taken` flag; the flag's Acquire/Release hand the bytes over.
unsafe impl<const N: usize, const SIZE: usize> Sync for BufPool<N, SIZE> {}

impl<const N: usize, const SIZE: usize> BufPool<N, SIZE> {
    crate::atomics::const_fn! {
        /// A pool with every buffer free (and zeroed).
        pub fn new() -> Self {
            const {
                assert!(
                    N > 0 && SIZE > 0,
                    "a BufPool needs at least one buffer (N) of at least one byte (SIZE): an empty buffer makes every read look like end of file"
                )
            };
            Self {
                #[cfg(not(loom))]
                taken: [const { AtomicBool::new(false) }; N],
                #[cfg(loom)]
                taken: core::array::from_fn(|_| AtomicBool::new(false)),
                #[cfg(not(loom))]
                bufs: [const { UnsafeCell::new([0; SIZE]) }; N],
                #[cfg(loom)]
                bufs: core::array::from_fn(|_| UnsafeCell::new([0; SIZE])),
            }
        }
    }

    /// Takes a free buffer (empty, capacity `SIZE`), or `None` if all are
    /// in use.
    pub fn take(&'static self) -> Option<PoolBuf<SIZE>> {
        for (index, flag) in self.taken.iter().enumerate() {
            if !flag.load(Ordering::Relaxed)
                && flag
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Some(PoolBuf {
                    bytes: self.bufs[index].get(),
                    flag,
                    len: 0,
                });
            }
        }
        None
    }

    /// Buffers currently free.
    pub fn available(&self) -> usize {
        self.taken
            .iter()
            .filter(|flag| !flag.load(Ordering::Relaxed))
            .count()
    }
}

impl<const N: usize, const SIZE: usize> Default for BufPool<N, SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

/// A buffer from a [`BufPool`]: `SIZE` bytes of capacity, of which the
/// first `len()` hold data. Dereferences to those bytes; dropping it gives
/// the buffer back to the pool.
pub struct PoolBuf<const SIZE: usize> {
    bytes: *mut [u8; SIZE],
    flag: &'static AtomicBool,
    len: usize,
}

// SAFETY: the handle owns its buffer exclusively (see `BufPool`).
unsafe impl<const SIZE: usize> Send for PoolBuf<SIZE> {}
// SAFETY: `&PoolBuf` only reads.
unsafe impl<const SIZE: usize> Sync for PoolBuf<SIZE> {}

impl<const SIZE: usize> PoolBuf<SIZE> {
    /// Bytes this buffer can hold.
    pub const fn capacity(&self) -> usize {
        SIZE
    }

    /// Appends as much of `data` as fits; returns how many bytes that was.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(SIZE - self.len);
        // SAFETY: we own the buffer; `len + n <= SIZE`.
        unsafe { (&mut (*self.bytes))[self.len..self.len + n].copy_from_slice(&data[..n]) };
        self.len += n;
        n
    }

    /// Sets the data length to 0.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const SIZE: usize> Deref for PoolBuf<SIZE> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: we own the buffer; pool buffers are always initialised.
        unsafe { &(&(*self.bytes))[..self.len] }
    }
}

impl<const SIZE: usize> DerefMut for PoolBuf<SIZE> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, exclusively.
        unsafe { &mut (&mut (*self.bytes))[..self.len] }
    }
}

impl<const SIZE: usize> Drop for PoolBuf<SIZE> {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
    }
}

impl<const SIZE: usize> fmt::Debug for PoolBuf<SIZE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuf")
            .field("len", &self.len)
            .field("capacity", &SIZE)
            .finish()
    }
}

// SAFETY: pool storage is `'static` and never moves; the handle is the
// buffer's only owner; the first `len` bytes are initialised (all are).
unsafe impl<const SIZE: usize> IoBuf for PoolBuf<SIZE> {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.cast()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        SIZE
    }
}

// SAFETY: as above, writable through the owned pointer.
unsafe impl<const SIZE: usize> IoBufMut for PoolBuf<SIZE> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.cast()
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.len = self.len.max(n.min(SIZE));
    }
}

/// The host's heap buffers (feature `std`): the caller allocated them, the
/// core only describes them. A `Vec`'s heap block does not move when the
/// `Vec` does; reads fill its spare capacity and extend its length. A
/// `String` is written as its bytes.
#[cfg(feature = "std")]
mod heap {
    use std::boxed::Box;
    use std::string::String;
    use std::vec::Vec;

    use super::{IoBuf, IoBufMut};

    // SAFETY: the heap block is stable across moves of the `Vec`; `len`
    // bytes are initialised, `capacity` allocated.
    unsafe impl IoBuf for Vec<u8> {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.capacity()
        }
    }

    // SAFETY: as above; the `Vec` is exclusively ours.
    unsafe impl IoBufMut for Vec<u8> {
        fn stable_mut_ptr(&mut self) -> *mut u8 {
            self.as_mut_ptr()
        }
        unsafe fn set_init(&mut self, n: usize) {
            if n > self.len() {
                // SAFETY: the caller guarantees the first `n` bytes are
                // initialised; `n <= capacity` by the `IoBufMut` contract.
                unsafe { self.set_len(n.min(self.capacity())) };
            }
        }
    }

    // SAFETY: a `String`'s heap block is a `Vec<u8>`'s: stable across
    // moves, `len` bytes initialised.
    unsafe impl IoBuf for String {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.capacity()
        }
    }

    // SAFETY: a boxed slice's heap block is stable across moves; all of it
    // is initialised.
    unsafe impl IoBuf for Box<[u8]> {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.len()
        }
    }
}
