//! What a read does to the buffer it owns, for every `IoBufMut` the core
//! ships (`Vec<u8>`, `PoolBuf`): it appends after the bytes the buffer
//! holds, up to its capacity, and a buffer with no spare capacity is
//! refused (`EINVAL`) without reaching the backend — never `Ok(0)`, which a
//! caller would take for the end of a stream.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use kasync::executor::Drive;
use kasync::io::errno::EINVAL;
use kasync::io::sim::{SimDriver, SimRead};
use kasync::io::{BufPool, IoBuf, IoBufMut, Reactor};
use kasync::time::ManualClock;

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs one `SimRead` into `buf` to its end; also returns how many
/// operations reached the backend.
fn read<B: IoBufMut>(buf: B) -> (Result<usize, i32>, B, u32) {
    let clock = ManualClock::new(1_000);
    let reactor = pin!(Reactor::<_, &ManualClock, 4>::new(
        SimDriver::<8>::new(&clock),
        &clock
    ));
    let io = reactor.as_ref().handle();
    let mut op = pin!(io.submit(SimRead::new(buf)));
    for _ in 0..8 {
        if let Poll::Ready((result, buf)) = poll_once(op.as_mut()) {
            let reads = reactor.with_driver(|sim| sim.stats().submitted);
            return (result, buf, reads);
        }
        reactor.turn();
    }
    panic!("the simulated read did not complete");
}

#[test]
fn a_read_appends_to_a_vec() {
    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"hello ");
    let (result, buf, _) = read(buf);
    assert_eq!(result, Ok(10), "only the spare capacity is read into");
    assert_eq!(buf.len(), 16);
    assert_eq!(&buf[..6], b"hello ", "the bytes it held are kept");
}

#[test]
fn a_read_fills_an_empty_vec_with_capacity() {
    let (result, buf, _) = read(Vec::with_capacity(8));
    assert_eq!(result, Ok(8));
    assert_eq!(buf.len(), 8);
}

#[test]
fn a_vec_without_spare_capacity_is_refused() {
    // `Vec::new()`: no capacity at all.
    let (result, buf, reads) = read(Vec::new());
    assert_eq!(result, Err(EINVAL));
    assert!(buf.is_empty());
    assert_eq!(reads, 1, "a no-op stands in for the read");
    // `vec![0; n]`: full.
    let mut full = vec![7u8; 8];
    full.shrink_to_fit();
    let (result, buf, _) = read(full);
    assert_eq!(result, Err(EINVAL));
    assert_eq!(buf, [7; 8], "untouched");
}

#[test]
fn a_read_appends_to_a_pool_buffer() {
    static POOL: BufPool<2, 32> = BufPool::new();
    let mut buf = POOL.take().unwrap();
    buf.extend_from_slice(b"ab");
    let (result, buf, _) = read(buf);
    assert_eq!(result, Ok(30));
    assert_eq!(buf.len(), 32);
    assert_eq!(&buf[..2], b"ab");
    // Full now: refused, and left as it was.
    let before = buf.to_vec();
    let (result, mut buf, _) = read(buf);
    assert_eq!(result, Err(EINVAL));
    assert_eq!(&buf[..], &before[..]);
    // Cleared, it reads from its start again.
    buf.clear();
    let (result, buf, _) = read(buf);
    assert_eq!(result, Ok(32));
    assert_eq!(buf.len(), 32);
}

#[test]
fn spare_capacity_is_what_follows_the_initialised_bytes() {
    let mut v = Vec::with_capacity(10);
    v.extend_from_slice(b"xyz");
    assert_eq!(v.spare_len(), v.capacity() - 3);
    assert_eq!(v.spare_ptr(), v.as_mut_ptr().wrapping_add(3));
    // SAFETY: write 2 bytes into the spare capacity, then record them.
    unsafe {
        v.spare_ptr().write(b'!');
        v.spare_ptr().add(1).write(b'?');
        v.advance_init(2);
    }
    assert_eq!(v, b"xyz!?");
    // Never past the capacity, never shrinking.
    let cap = v.capacity();
    // SAFETY: the capacity is clamped; nothing beyond `len` is read here.
    unsafe { v.set_init(0) };
    assert_eq!(v.len(), 5);
    assert!(v.bytes_total() == cap);
}
