//! A broken or hostile device's used ring: heads in flight but not
//! finished (returned before their status byte is written, a later
//! request's head, a stale duplicate of a head since reused, a used.idx
//! that jumps past the queue size onto old entries), heads that name no
//! request, and a used `len` that is too large or says no data was
//! written. No request is reported — and no buffer handed back — while the
//! device still holds it (miri sees any late device write into a freed
//! buffer), and no byte the device did not write is called read.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use kasync_virtio_blk::{ReadSectors, SECTOR};

mod support;
use support::Behaviour;
use support::rig::{Rig, Sectors, assert_original};

/// What each read reported: its sector, its result, and whether the device
/// still held its buffer when the driver handed it back.
type Reported = Rc<RefCell<Vec<(u64, Result<usize, i32>, bool)>>>;

fn rig(queue_size: u16) -> Rig<16> {
    Rig::<16>::new(Behaviour {
        queue_size,
        per_halt: 1,
        ..Behaviour::default()
    })
}

/// Spawns reads of `sectors`; each task records (sector, result, whether the
/// device still held its buffer when the driver handed it back).
fn spawn_reads(
    rig: &Rig<16>,
    sectors: &[u64],
    drops: &Rc<Cell<usize>>,
    log: &Reported,
) -> Vec<kasync::JoinHandle<()>> {
    sectors
        .iter()
        .map(|&sector| {
            let (io, device, log, buf) = (
                rig.io,
                rig.device.clone(),
                log.clone(),
                Sectors::empty(1, drops),
            );
            rig.runner
                .spawn_local(async move {
                    let (r, buf) = io.submit(ReadSectors::new(sector, buf)).await;
                    let still_held = device.holds_ptr(buf.data.as_ptr());
                    log.borrow_mut().push((sector, r, still_held));
                    // `buf` is dropped here: the device may write it later.
                })
                .unwrap()
        })
        .collect()
}

fn early(log: &[(u64, Result<usize, i32>, bool)]) -> Vec<String> {
    log.iter()
        .filter(|e| e.2)
        .map(|(s, r, _)| {
            format!("read of sector {s} reported {r:?} while the device still held its buffer")
        })
        .collect()
}

/// Fails if any read was reported while the device still held its buffer.
fn assert_none_early(rig: &Rig<16>, log: &Reported) {
    let log = log.borrow();
    let bad = early(&log);
    assert!(
        bad.is_empty(),
        "{bad:?}\nlog {log:?}\nstats {:?}",
        rig.stats()
    );
}

#[test]
fn a_later_requests_head_returned_early_is_not_reported_before_the_device_is_done() {
    let rig = rig(16);
    let drops = Rc::new(Cell::new(0));
    let log = Rc::default();
    // A at head 0, B at head 3; the device returns 3 before finishing A.
    rig.device.bogus.borrow_mut().push(3);
    let tasks = spawn_reads(&rig, &[10, 11], &drops, &log);
    rig.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_none_early(&rig, &log);
}

#[test]
fn a_stale_duplicate_of_a_reused_head_does_not_complete_the_new_request() {
    let rig = rig(8);
    let drops = Rc::new(Cell::new(0));
    let log = Rc::default();
    let first = spawn_reads(&rig, &[20, 21], &drops, &log); // heads 0 and 3
    let device = rig.device.clone();
    let (io, log2, drops2) = (rig.io, log.clone(), drops.clone());
    rig.block_on(async move {
        let mut first = first.into_iter();
        first.next().unwrap().await.unwrap(); // A (head 0) is back
        // C takes head 0 again; the device then repeats A's head 0 before
        // it returns B.
        let c = io.submit(ReadSectors::new(22, Sectors::empty(1, &drops2)));
        device.bogus.borrow_mut().push(0);
        let (r, buf) = c.await;
        let still_held = device.holds_ptr(buf.data.as_ptr());
        log2.borrow_mut().push((22, r, still_held));
        drop(buf);
        first.next().unwrap().await.unwrap();
        // Let the device finish what it holds (and write C's old buffer).
        let _ = io
            .submit(ReadSectors::new(23, Sectors::empty(1, &drops2)))
            .await;
    });
    assert_none_early(&rig, &log);
}

#[test]
fn a_used_idx_that_jumps_past_the_queue_size_reports_nothing_early() {
    let rig = rig(16);
    let drops = Rc::new(Cell::new(0));
    let log = Rc::default();
    // Round one: heads 0, 3, 6, 9 fill used entries 0..4 with them.
    let round = spawn_reads(&rig, &[0, 1, 2, 3], &drops, &log);
    rig.block_on(async {
        for t in round {
            t.await.unwrap();
        }
    });
    // Round two takes heads 9 and 6; after the first completion the
    // device moves used.idx 16 on: the driver reads a whole stale ring.
    rig.device.idx_jump.set(16);
    let round = spawn_reads(&rig, &[30, 31], &drops, &log);
    rig.block_on(async {
        for t in round {
            t.await.unwrap();
        }
    });
    assert_none_early(&rig, &log);
}

/// A request the device returns before it writes the status byte stays
/// in flight (its buffer the device's) until the device returns it again,
/// status written.
#[test]
fn an_entry_returned_before_its_status_is_written_waits_for_the_real_one() {
    let rig = rig(16);
    let drops = Rc::new(Cell::new(0));
    let log = Rc::default();
    rig.device.early_entries.set(true);
    let tasks = spawn_reads(&rig, &[12, 13], &drops, &log);
    // Each time it works, the device returns the one it returned early
    // before (status written now) and another one early.
    rig.block_on(async move {
        for t in tasks {
            t.await.unwrap();
        }
    });
    let log = log.borrow();
    assert!(early(&log).is_empty(), "{log:?}");
    assert!(log.iter().all(|e| e.1 == Ok(SECTOR)), "{log:?}");
    assert!(rig.stats().bogus >= 2, "{:?}", rig.stats());
    assert_eq!(drops.get(), 2);
}

/// A used `len` far larger than the buffer reports no more than was asked
/// for; heads mid-chain, free, beyond the table or `u32::MAX` are ignored.
#[test]
fn a_len_too_large_and_heads_that_name_no_request_are_ignored() {
    let rig = rig(16);
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let device = rig.device.clone();
    rig.block_on(async {
        device.used_len.set(Some(u32::MAX));
        let (r, buf) = io
            .submit(ReadSectors::new(5, Sectors::empty(2, &drops)))
            .await;
        assert_eq!(r, Ok(2 * SECTOR), "never more than the request's data");
        assert_eq!(buf.init, 2 * SECTOR);
        assert_original(buf.bytes(), 5);
        device.used_len.set(None);
        // Mid-chain (1, 2), free (15), out of table, u32::MAX heads.
        device
            .bogus
            .borrow_mut()
            .extend([1, 2, 15, 16, 5000, u32::MAX]);
        let (r, _) = io
            .submit(ReadSectors::new(6, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(r, Ok(SECTOR));
    });
    assert_eq!(rig.stats().bogus, 6, "{:?}", rig.stats());
    assert_eq!(drops.get(), 2);
}

#[test]
fn holds_up_a_head_returned_twice_before_it_is_reused() {
    let rig = rig(16);
    let drops = Rc::new(Cell::new(0));
    let log = Rc::default();
    let tasks = spawn_reads(&rig, &[40, 41, 42], &drops, &log); // heads 0, 3, 6
    rig.block_on(async {
        let mut tasks = tasks.into_iter();
        tasks.next().unwrap().await.unwrap(); // head 0 back, not reused
        // Head 0 again (and again) before B's entry.
        rig.device.bogus.borrow_mut().extend([0, 0]);
        for t in tasks {
            t.await.unwrap();
        }
    });
    let log = log.borrow();
    assert!(early(&log).is_empty(), "{log:?}");
    assert!(log.iter().all(|e| e.1 == Ok(SECTOR)), "{log:?}");
    assert_eq!(rig.stats().bogus, 2);
}

/// A read the device says succeeded but whose used entry says it wrote
/// only the status byte reads nothing: a `Vec` with spare capacity claims
/// no byte the device did not write.
#[test]
fn a_read_the_device_says_wrote_nothing_does_not_claim_initialised_bytes() {
    let rig = Rig::<8>::new(Behaviour::default());
    rig.device.skip_data.set(true);
    rig.device.used_len.set(Some(1));
    let io = rig.io;
    let buf: Vec<u8> = Vec::with_capacity(SECTOR);
    let (r, buf) = rig.block_on(io.submit(ReadSectors::new(0, buf)));
    // Safe code reads what the Vec says is initialised (UB under miri if
    // it claims a byte nobody wrote).
    let sum: u64 = buf.iter().map(|&b| u64::from(b)).sum();
    assert_eq!(sum, 0);
    assert_eq!(r, Ok(0), "the device's used len said it wrote no data");
    assert_eq!(buf.len(), 0);
}
