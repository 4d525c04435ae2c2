//! Operation edge cases that hold up: buffers with no spare capacity,
//! partly filled buffers, 513-byte room, sector u64::MAX for writes,
//! ragged writes, the last sector, `Op::cancel` on a request the device
//! holds, a flush on a read-only device with a cache.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::task::Poll;

use kasync::io::errno;
use kasync_virtio_blk::transport::feature;
use kasync_virtio_blk::{Flush, ReadSectors, SECTOR, WriteSectors};

mod support;
use support::rig::{Rig, Sectors, assert_original};
use support::{Behaviour, SECTORS, disk_byte};

#[test]
fn reads_fill_only_the_spare_capacity_in_whole_sectors() {
    let rig = Rig::<8>::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        // No spare capacity at all.
        let mut full = Sectors::empty(1, &drops);
        full.init = SECTOR;
        let (r, full) = io.submit(ReadSectors::new(0, full)).await;
        assert_eq!(r, Err(errno::EINVAL));
        assert_eq!(full.init, SECTOR);
        // 100 bytes kept, room for 1 sector + 13: reads 512 after them.
        let mut part = Sectors::bytes_of(100 + SECTOR + 13, &drops);
        part.data[..100].fill(0xEE);
        part.init = 100;
        let (r, part) = io.submit(ReadSectors::new(6, part)).await;
        assert_eq!(r, Ok(SECTOR));
        assert_eq!(part.init, 100 + SECTOR);
        assert!(part.data[..100].iter().all(|&b| b == 0xEE));
        assert_original(&part.data[100..100 + SECTOR], 6);
        assert_eq!(&part.data[100 + SECTOR..], &[0; 13]);
        // The last sector, and one past.
        let (r, buf) = io
            .submit(ReadSectors::new(SECTORS - 1, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(r, Ok(SECTOR));
        assert_eq!(buf.data[SECTOR - 1], disk_byte(SECTORS * SECTOR as u64 - 1));
        let (r, _) = io
            .submit(ReadSectors::new(SECTORS - 1, Sectors::empty(2, &drops)))
            .await;
        assert_eq!(r, Err(errno::EINVAL));
    });
}

#[test]
fn writes_far_past_the_end_or_ragged_are_refused_without_the_device() {
    let rig = Rig::<8>::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        for (sector, len) in [
            (u64::MAX, SECTOR),
            (u64::MAX - 1, 2 * SECTOR),
            (SECTORS, SECTOR),
            (0, 511),
            (0, 513),
            (0, 1),
        ] {
            let w = Sectors::filled(&vec![7; len], &drops);
            let (r, _) = io.submit(WriteSectors::new(sector, w)).await;
            assert_eq!(r, Err(errno::EINVAL), "sector {sector} len {len}");
        }
        let w = Sectors::filled(&[7; SECTOR], &drops);
        let (r, _) = io.submit(WriteSectors::new(SECTORS - 1, w)).await;
        assert_eq!(r, Ok(SECTOR));
    });
    assert_eq!(rig.device.log.borrow().len(), 1);
}

#[test]
fn op_cancel_of_a_request_on_the_device_completes_it_anyway() {
    let rig = Rig::<8>::new(Behaviour {
        per_halt: 1,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let mut read = Box::pin(io.submit(ReadSectors::new(12, Sectors::empty(2, &drops))));
        let _ = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        let (r, buf) = read.as_mut().cancel().await;
        assert_eq!(r, Ok(2 * SECTOR), "virtio-blk cannot abort: the data came");
        assert_original(buf.bytes(), 12);
    });
    assert_eq!(rig.stats().cancels, 1);
}

#[test]
fn a_flush_on_a_read_only_disk_with_a_cache_reaches_the_device() {
    let rig = Rig::<8>::new(Behaviour {
        features: feature::RO | feature::FLUSH,
        ..Behaviour::default()
    });
    let io = rig.io;
    rig.block_on(async {
        assert_eq!(io.submit(Flush).await, Ok(()));
    });
    assert_eq!(rig.device.log.borrow().as_slice(), &[(4, 0)]);
}
