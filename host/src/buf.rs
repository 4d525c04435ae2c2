//! The unsent tail of a buffer, so a partial write can continue in place.

use kasync::io::IoBuf;

/// `buf[start..]` as an owned buffer (the whole buffer comes back with it).
pub(crate) struct Tail {
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
}

// SAFETY: the `Vec`'s heap block is stable across moves; `start` never
// exceeds its length, so the pointer and length stay inside its
// initialised bytes.
unsafe impl IoBuf for Tail {
    fn stable_ptr(&self) -> *const u8 {
        self.buf[self.start..].as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.buf.len() - self.start
    }
    fn bytes_total(&self) -> usize {
        self.buf.len() - self.start
    }
}
