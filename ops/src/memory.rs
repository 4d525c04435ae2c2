//! Zeroed memory for buffers the kernel reads and writes, allocated so that
//! a size the machine cannot give is an error, not an abort.

use std::alloc::{Layout, alloc_zeroed};
use std::cell::UnsafeCell;
use std::io;

/// `len` zeroed bytes, each in an `UnsafeCell` (the kernel writes them
/// behind the compiler's back), or `OutOfMemory` naming `what`.
pub(crate) fn zeroed(len: usize, what: &str) -> io::Result<Box<[UnsafeCell<u8>]>> {
    let out_of_memory = || {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("{what}: cannot allocate {len} bytes"),
        )
    };
    if len == 0 {
        return Ok(Box::new([]));
    }
    let layout = Layout::array::<u8>(len).map_err(|_| out_of_memory())?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(out_of_memory());
    }
    let cells = std::ptr::slice_from_raw_parts_mut(ptr.cast::<UnsafeCell<u8>>(), len);
    // SAFETY: a fresh allocation of `len` bytes with the global allocator
    // and the layout of `[UnsafeCell<u8>; len]` (`UnsafeCell<u8>` is laid
    // out as `u8`), fully initialised (zero is a valid byte); the box owns
    // it and frees it with the same layout.
    Ok(unsafe { Box::from_raw(cells) })
}
