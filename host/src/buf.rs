//! The unsent tail of a buffer, so a partial write can continue in place,
//! and the loop that writes a whole buffer with it.

use std::future::Future;
use std::io;

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

/// Writes all of `buf` by calling `write(tail, written_so_far)` until
/// nothing is left; gives the buffer back in any case.
pub(crate) async fn write_all<F, Fut>(buf: Vec<u8>, mut write: F) -> (io::Result<()>, Vec<u8>)
where
    F: FnMut(Tail, u64) -> Fut,
    Fut: Future<Output = (io::Result<usize>, Tail)>,
{
    let mut tail = Tail { buf, start: 0 };
    while tail.start < tail.buf.len() {
        let done = tail.start as u64;
        let (result, back) = write(tail, done).await;
        tail = back;
        match result {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), tail.buf),
            Ok(n) => tail.start += n,
            Err(e) => return (Err(e), tail.buf),
        }
    }
    (Ok(()), tail.buf)
}
