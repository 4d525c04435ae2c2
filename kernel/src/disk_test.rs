//! The disk's self-test, over the image `run.sh` makes: every sector of the
//! first 6 MiB carries its number, a pattern and a checksum; the 2 MiB
//! after it are scratch, written here and checked by `run.sh` on the host.
//!
//! Sector `s` of the patterned region, 512 bytes: `s` (8 bytes, little
//! endian); byte `i` for `i` in 8..504 is `(s * 131 + i) mod 256`; then the
//! FNV-1a 64 of bytes 0..504 (8 bytes, little endian). A scratch sector
//! written here: `s`, then `kasync-write` (12 bytes), then
//! `(s * 7 + i) mod 256` for `i` in 20..504, then the checksum.

use core::future::Future;
use core::future::poll_fn;
use core::pin::{Pin, pin};
use core::task::Poll;

use kasync::io::{BufPool, IoBuf, IoBufMut, PoolBuf, errno};
use kasync::sync::{Permit, Semaphore};
use kasync_virtio_blk::{Flush, ReadSectors, SECTOR, WriteSectors};

use crate::{Io, Runner, TICKS, println};
use kasync::time::Clock;

/// Sectors of the patterned region.
pub const PATTERNED: u64 = 12 * 1024;
/// First sector of the scratch region, and its length in sectors.
pub const SCRATCH: u64 = PATTERNED;
pub const SCRATCH_SECTORS: u64 = 4 * 1024;
/// Bytes of one request.
const REQUEST: usize = 4096;
const PER_REQUEST: u64 = (REQUEST / SECTOR) as u64;
/// Requests of one pass over 4 MiB.
const PASS: u64 = 1024;
/// Tasks reading at once in the deep pass.
pub const DEPTH: u64 = 16;
/// Sectors the self-test writes (128 KiB).
const WRITTEN: u64 = 256;

/// Buffers for requests, and permits that make a task wait for one.
static POOL: BufPool<32, REQUEST> = BufPool::new();
static LEASES: Semaphore = Semaphore::new(32);

/// A buffer from the pool, held with its permit: dropped, the buffer goes
/// back first, then the permit (so whoever the permit wakes finds it).
struct Lease {
    buf: PoolBuf<REQUEST>,
    _permit: Permit<'static>,
}

// SAFETY: delegates to the pool buffer, which keeps its address.
unsafe impl IoBuf for Lease {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.buf.bytes_total()
    }
}

// SAFETY: as above.
unsafe impl IoBufMut for Lease {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.buf.set_init(n) }
    }
}

/// A buffer, waiting for one if all are in use (`true`: it waited).
async fn lease() -> (Lease, bool) {
    let (permit, waited) = match LEASES.try_acquire(1) {
        Some(p) => (p, false),
        None => (LEASES.acquire(1).await, true),
    };
    let buf = POOL.take().expect("a permit stands for a free buffer");
    (
        Lease {
            buf,
            _permit: permit,
        },
        waited,
    )
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks one patterned sector.
fn check_patterned(s: u64, sector: &[u8]) -> Result<(), &'static str> {
    if sector[..8] != s.to_le_bytes() {
        return Err("a sector read carries another sector's number");
    }
    if (8..504).any(|i| sector[i] != (s.wrapping_mul(131) + i as u64) as u8) {
        return Err("a sector read differs from the image's pattern");
    }
    if sector[504..] != fnv(&sector[..504]).to_le_bytes() {
        return Err("a sector read fails its checksum");
    }
    Ok(())
}

/// The scratch sector `s` as the self-test writes it.
fn scratch_sector(s: u64, out: &mut [u8]) {
    out[..8].copy_from_slice(&s.to_le_bytes());
    out[8..20].copy_from_slice(b"kasync-write");
    for (i, b) in out.iter_mut().enumerate().take(504).skip(20) {
        *b = (s.wrapping_mul(7) + i as u64) as u8;
    }
    let sum = fnv(&out[..504]);
    out[504..512].copy_from_slice(&sum.to_le_bytes());
}

/// Reads request `r` of the patterned region and verifies its sectors.
async fn read_and_verify(io: Io, r: u64) -> Result<bool, &'static str> {
    let first = (r * PER_REQUEST) % PATTERNED;
    let (buf, waited) = lease().await;
    let (read, buf) = io.submit(ReadSectors::new(first, buf)).await;
    if read != Ok(REQUEST) {
        return Err("a read of the patterned region failed");
    }
    for (k, sector) in buf.buf.chunks(SECTOR).enumerate() {
        check_patterned(first + k as u64, sector)?;
    }
    Ok(waited)
}

/// Requests per second over `ticks` (milliseconds).
fn rate(requests: u64, ticks: u64) -> u64 {
    requests * 1000 / ticks.max(1)
}

/// The whole disk test.
pub async fn run(runner: &Runner, io: Io) -> Result<(), &'static str> {
    let capacity = io.reactor().with_driver(|d| d.capacity());
    if capacity < SCRATCH + SCRATCH_SECTORS {
        return Err("the disk is smaller than the self-test's image");
    }

    // Depth 1: one request at a time.
    let start = TICKS.now();
    for r in 0..PASS {
        read_and_verify(io, r).await?;
    }
    let shallow = TICKS.now() - start;
    println!(
        "disk: depth 1: {PASS} reads of 4 KiB verified in {shallow} ms, {} requests/s",
        rate(PASS, shallow)
    );

    // Depth 16: tasks reading at once, each every 16th request.
    let start = TICKS.now();
    let mut readers = [const { None }; DEPTH as usize];
    for (t, slot) in readers.iter_mut().enumerate() {
        let task = runner
            .spawn_local(async move {
                let mut r = t as u64;
                while r < PASS {
                    read_and_verify(io, r).await?;
                    r += DEPTH;
                }
                Ok::<(), &'static str>(())
            })
            .map_err(|_| "cannot spawn a reader task")?;
        *slot = Some(task);
    }
    for task in readers.into_iter().flatten() {
        task.await.map_err(|_| "a reader task failed")??;
    }
    let deep = TICKS.now() - start;
    println!(
        "disk: depth {DEPTH}: {PASS} reads of 4 KiB verified in {deep} ms, {} requests/s",
        rate(PASS, deep)
    );

    // Writes into the scratch region, a flush, and the read back.
    let mut s = SCRATCH;
    while s < SCRATCH + WRITTEN {
        let (mut buf, _) = lease().await;
        let mut sector = [0u8; SECTOR];
        for k in 0..PER_REQUEST {
            scratch_sector(s + k, &mut sector);
            buf.buf.extend_from_slice(&sector);
        }
        let (wrote, _) = io.submit(WriteSectors::new(s, buf)).await;
        if wrote != Ok(REQUEST) {
            return Err("a write to the scratch region failed");
        }
        s += PER_REQUEST;
    }
    io.submit(Flush).await.map_err(|_| "the flush failed")?;
    let mut s = SCRATCH;
    while s < SCRATCH + WRITTEN {
        let (buf, _) = lease().await;
        let (read, buf) = io.submit(ReadSectors::new(s, buf)).await;
        if read != Ok(REQUEST) {
            return Err("a read of the scratch region failed");
        }
        let mut want = [0u8; SECTOR];
        for (k, got) in buf.buf.chunks(SECTOR).enumerate() {
            scratch_sector(s + k as u64, &mut want);
            if got != want {
                return Err("a scratch sector read back differs from what was written");
            }
        }
        s += PER_REQUEST;
    }
    println!("disk: wrote {WRITTEN} sectors from {SCRATCH} on, flushed, read them back verified");

    cancel_in_flight(runner, io).await?;

    // A request past the end: an error for that request, nothing more.
    let (buf, _) = lease().await;
    let (past, _) = io.submit(ReadSectors::new(capacity, buf)).await;
    if past != Err(errno::EINVAL) {
        return Err("a read past the end did not fail with EINVAL");
    }
    println!(
        "disk: a read at sector {capacity} (past the end) failed with EINVAL; the driver goes on"
    );
    read_and_verify(io, 0).await?;
    Ok(())
}

/// Reads dropped while the device holds them: their buffers stay with
/// their requests until the device returns them; new reads into the same
/// pool wait for those buffers, and verify.
async fn cancel_in_flight(runner: &Runner, io: Io) -> Result<(), &'static str> {
    const CANCELLED: usize = 16;
    let orphaned_before = io.reactor().with_driver(|d| d.stats().orphaned);
    {
        let mut reads = [const { None }; CANCELLED];
        for (k, slot) in reads.iter_mut().enumerate() {
            let (buf, _) = lease().await;
            *slot = Some(io.submit(ReadSectors::new(k as u64 * PER_REQUEST, buf)));
        }
        let mut reads = pin!(reads);
        // Each read's first poll hands it to the driver; the device gets
        // them on this turn's notification.
        for k in 0..CANCELLED {
            // SAFETY: the array is pinned and its futures are never moved
            // out of it (they are dropped in place with it), so pinning
            // carries over to each.
            let read = unsafe { reads.as_mut().get_unchecked_mut()[k].as_mut() };
            if let Some(read) = read {
                // SAFETY: as above.
                let mut read = unsafe { Pin::new_unchecked(read) };
                let _ = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
            }
        }
        io.reactor().submit_queued();
        // Dropped here, before the loop reaps a single completion.
    }
    let held = 32 - LEASES.available_permits();
    let in_flight = io.reactor().in_flight();
    println!(
        "cancel: {CANCELLED} reads dropped in flight; {held} buffers stay with the device ({in_flight} requests in flight)"
    );
    if held != CANCELLED {
        return Err("a cancelled read's buffer went back before the device returned it");
    }
    // 32 new reads into the same pool, at once.
    let mut readers = [const { None }; 32];
    for (r, slot) in readers.iter_mut().enumerate() {
        *slot = Some(
            runner
                .spawn_local(read_and_verify(io, 100 + r as u64))
                .map_err(|_| "cannot spawn a reader task")?,
        );
    }
    let mut waited = 0;
    for task in readers.into_iter().flatten() {
        waited += usize::from(task.await.map_err(|_| "a reader task failed")??);
    }
    let orphaned = io.reactor().with_driver(|d| d.stats().orphaned) - orphaned_before;
    println!(
        "cancel: {orphaned} cancelled requests completed later and gave their buffers back; 32 new reads verified, {waited} of them waited for a buffer"
    );
    if orphaned != CANCELLED as u64 {
        return Err("not every cancelled request completed");
    }
    Ok(())
}
