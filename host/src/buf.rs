//! The unsent tail of a buffer, so a partial write can continue in place,
//! and the loop that writes a whole buffer with it.

use std::future::Future;
use std::io;

use kasync::io::IoBuf;

/// The initialised bytes of `buf` from `start` on, as an owned buffer (the
/// whole buffer comes back with it).
pub(crate) struct Tail<B> {
    pub(crate) buf: B,
    pub(crate) start: usize,
}

// SAFETY: `B`'s pointer is stable across moves (its `IoBuf` contract);
// `start` never exceeds its initialised length, so the pointer and length
// stay inside its initialised bytes.
unsafe impl<B: IoBuf> IoBuf for Tail<B> {
    fn stable_ptr(&self) -> *const u8 {
        debug_assert!(self.start <= self.buf.bytes_init());
        // SAFETY: `start` is within the buffer's initialised bytes.
        unsafe { self.buf.stable_ptr().add(self.start) }
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init() - self.start
    }
    fn bytes_total(&self) -> usize {
        self.buf.bytes_init() - self.start
    }
}

/// Writes all of `buf`'s initialised bytes by calling
/// `write(tail, written_so_far)` until nothing is left; gives the buffer
/// back in any case.
pub(crate) async fn write_all<B, F, Fut>(buf: B, mut write: F) -> (io::Result<()>, B)
where
    B: IoBuf,
    F: FnMut(Tail<B>, u64) -> Fut,
    Fut: Future<Output = (io::Result<usize>, Tail<B>)>,
{
    let mut tail = Tail { buf, start: 0 };
    while tail.start < tail.buf.bytes_init() {
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
