//! Memory for the chunks by which a runtime's task and operation tables
//! grow: the global allocator.

use std::alloc::Layout;
use std::ptr::NonNull;

use kasync::chunk::ChunkAlloc;

/// The global allocator as a [`ChunkAlloc`].
pub(crate) struct GlobalChunks;

// SAFETY: blocks from the global allocator are fresh, of the requested
// size and alignment, and valid until `dealloc`.
unsafe impl ChunkAlloc for GlobalChunks {
    fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: tables never ask for zero bytes (their layouts hold at
        // least one slot or pointer).
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: per the caller, `ptr` came from `allocate(layout)`.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}
