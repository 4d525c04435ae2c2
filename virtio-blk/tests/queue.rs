//! The driver's virtqueue against a simulated device: descriptor chains
//! and data in both directions, completions in any order, the rings
//! wrapping, a full queue that makes requests wait in order, requests
//! dropped while the device holds them, errors as values, a device that
//! returns what it was never given, and set-ups it must refuse.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::task::Poll;

use kasync::io::errno;
use kasync_virtio_blk::transport::{feature, status};
use kasync_virtio_blk::{
    BlkDriver, Flush, QueueMemory, ReadSectors, SECTOR, SetupError, WriteSectors,
};

mod support;
use support::rig::{Drv, Sectors, assert_original};
use support::{Behaviour, Device, DeviceHalt, Ports, RecordingDma, SECTORS};

type Rig = support::rig::Rig<64>;

/// Concurrent reads (each a task of the 64 the executor holds).
const READS: usize = if cfg!(miri) { 12 } else { 60 };

#[test]
fn reads_come_back_whole_from_a_device_that_completes_in_any_order() {
    let rig = Rig::new(Behaviour {
        shuffle: Some(7),
        per_halt: 3,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let tasks: Vec<_> = (0..READS)
        .map(|i| {
            let sectors = 1 + i % 4;
            let sector = (i as u64 * 37) % (SECTORS - 4);
            let buf = Sectors::empty(sectors, &drops);
            rig.runner
                .spawn_local(async move {
                    let (result, buf) = io.submit(ReadSectors::new(sector, buf)).await;
                    (sector, result, buf)
                })
                .unwrap()
        })
        .collect();
    rig.block_on(async {
        for task in tasks {
            let (sector, result, buf) = task.await.unwrap();
            assert_eq!(result, Ok(buf.data.len()), "the read from {sector}");
            assert_original(buf.bytes(), sector);
        }
    });
    let stats = rig.stats();
    assert_eq!(stats.submitted, READS as u64);
    assert_eq!(stats.completed, READS as u64);
    assert!(rig.device.interrupts.get() > 0);
    assert_eq!(rig.device.held(), 0);
    // Five requests (three descriptors each) fit in a queue of 16: the
    // rest waited for room.
    assert!(stats.queue_full > 0, "{stats:?}");
}

#[test]
fn writes_reach_the_disk_and_read_back() {
    let rig = Rig::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let pattern: Vec<u8> = (0..3 * SECTOR).map(|i| (i * 7 + 3) as u8).collect();
    rig.block_on(async {
        let (wrote, _) = io
            .submit(WriteSectors::new(100, Sectors::filled(&pattern, &drops)))
            .await;
        assert_eq!(wrote, Ok(3 * SECTOR));
        assert_eq!(io.submit(Flush).await, Ok(()));
        let (read, buf) = io
            .submit(ReadSectors::new(100, Sectors::empty(3, &drops)))
            .await;
        assert_eq!(read, Ok(3 * SECTOR));
        assert_eq!(buf.bytes(), &pattern[..]);
        // Its neighbours are untouched.
        let (_, before) = io
            .submit(ReadSectors::new(99, Sectors::empty(1, &drops)))
            .await;
        assert_original(before.bytes(), 99);
        let (_, after) = io
            .submit(ReadSectors::new(103, Sectors::empty(1, &drops)))
            .await;
        assert_original(after.bytes(), 103);
    });
    let disk = rig.device.disk.borrow();
    assert_eq!(&disk[100 * SECTOR..103 * SECTOR], &pattern[..]);
    let kinds: Vec<u32> = rig.device.log.borrow().iter().map(|&(k, _)| k).collect();
    assert_eq!(kinds, [1, 4, 0, 0, 0], "write, flush, then the reads");
    assert_eq!(
        drops.get(),
        4,
        "every buffer came back to the caller and was dropped"
    );
}

#[test]
fn the_rings_wrap_around() {
    // A queue of 4 holds one request at a time: every request goes round
    // the rings; natively past the 16-bit ring indices too.
    let rounds: u32 = if cfg!(miri) { 40 } else { 66_000 };
    let rig = Rig::new(Behaviour {
        queue_size: 4,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let mut buf = Sectors::empty(1, &drops);
        for round in 0..rounds {
            let sector = u64::from(round) % SECTORS;
            buf.init = 0;
            let (read, back) = io.submit(ReadSectors::new(sector, buf)).await;
            assert_eq!(read, Ok(SECTOR), "round {round}");
            assert_original(back.bytes(), sector);
            buf = back;
        }
    });
    assert_eq!(rig.stats().completed, u64::from(rounds));
}

#[test]
fn a_full_queue_makes_requests_wait_in_the_order_they_came() {
    // Two requests fit in a queue of 8; ten tasks ask at once.
    let rig = Rig::new(Behaviour {
        queue_size: 8,
        per_halt: 1,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let buf = Sectors::empty(1, &drops);
            rig.runner
                .spawn_local(async move { io.submit(ReadSectors::new(10 + i, buf)).await })
                .unwrap()
        })
        .collect();
    rig.block_on(async {
        for (i, task) in tasks.into_iter().enumerate() {
            let (read, buf) = task.await.unwrap();
            assert_eq!(read, Ok(SECTOR));
            assert_original(buf.bytes(), 10 + i as u64);
        }
    });
    let order: Vec<u64> = rig.device.log.borrow().iter().map(|&(_, s)| s).collect();
    assert_eq!(
        order,
        (10..20).collect::<Vec<_>>(),
        "served in the order they came"
    );
    let stats = rig.stats();
    assert!(stats.queue_full > 0, "{stats:?}");
    assert_eq!(rig.disk.in_flight(), 0);
}

#[test]
fn dropped_reads_keep_their_buffers_until_the_device_returns_them() {
    let rig = Rig::new(Behaviour {
        per_halt: 1,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        // Five reads reach the device; then their futures are dropped.
        let mut reads: Vec<_> = (0..5)
            .map(|i| Box::pin(io.submit(ReadSectors::new(i, Sectors::empty(2, &drops)))))
            .collect();
        for read in &mut reads {
            let _ = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        }
        assert_eq!(io.reactor().with_driver(|d| d.stats()).submitted, 5);
        drop(reads);
        assert_eq!(
            drops.get(),
            0,
            "no buffer is freed while the device holds it: {:?}",
            io.reactor().with_driver(|d| d.stats())
        );
        // The next request waits behind them; the device completes one per
        // halt, writing into the dropped reads' buffers as it goes.
        let (read, buf) = io
            .submit(ReadSectors::new(50, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(read, Ok(SECTOR));
        assert_original(buf.bytes(), 50);
    });
    assert_eq!(
        drops.get(),
        6,
        "the five dropped reads' buffers went back after the device was done"
    );
    let stats = rig.stats();
    assert_eq!((stats.cancels, stats.orphaned), (5, 5), "{stats:?}");
    assert_eq!(rig.disk.in_flight(), 0);
}

#[test]
fn a_request_that_cannot_be_valid_or_that_the_device_fails_is_an_error_value() {
    let rig = Rig::new(Behaviour {
        bad_sectors: vec![7],
        refuse_flush: true,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let read =
            |sector, sectors| io.submit(ReadSectors::new(sector, Sectors::empty(sectors, &drops)));
        assert_eq!(read(SECTORS, 1).await.0, Err(errno::EINVAL), "at the end");
        assert_eq!(
            read(SECTORS - 1, 2).await.0,
            Err(errno::EINVAL),
            "across the end"
        );
        assert_eq!(read(u64::MAX, 1).await.0, Err(errno::EINVAL), "far past it");
        assert_eq!(
            read(6, 2).await.0,
            Err(errno::EIO),
            "the device fails sector 7"
        );
        let tiny = Sectors::bytes_of(100, &drops);
        assert_eq!(
            io.submit(ReadSectors::new(0, tiny)).await.0,
            Err(errno::EINVAL)
        );
        let ragged = Sectors::filled(&[1; 700], &drops);
        assert_eq!(
            io.submit(WriteSectors::new(0, ragged)).await.0,
            Err(errno::EINVAL)
        );
        let empty = Sectors::filled(&[], &drops);
        assert_eq!(
            io.submit(WriteSectors::new(0, empty)).await.0,
            Err(errno::EINVAL)
        );
        assert_eq!(
            io.submit(Flush).await,
            Err(95),
            "EOPNOTSUPP from the device"
        );
        // And the driver goes on.
        let (ok, buf) = read(8, 1).await;
        assert_eq!(ok, Ok(SECTOR));
        assert_original(buf.bytes(), 8);
    });
    let stats = rig.stats();
    assert_eq!(stats.refused, 6, "{stats:?}");
    assert_eq!(stats.failed, 2, "{stats:?}");
    assert_eq!(
        rig.device.log.borrow().len(),
        3,
        "only the requests that could be valid reached the device"
    );
}

#[test]
fn a_read_only_disk_refuses_writes_and_a_cacheless_one_flushes_at_once() {
    let rig = Rig::new(Behaviour {
        features: feature::RO,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let write = Sectors::filled(&[9; SECTOR], &drops);
        assert_eq!(
            io.submit(WriteSectors::new(3, write)).await.0,
            Err(30),
            "EROFS"
        );
        assert_eq!(io.submit(Flush).await, Ok(()));
    });
    assert!(
        rig.device.log.borrow().is_empty(),
        "neither reached the device"
    );
    assert_original(&rig.device.disk.borrow()[3 * SECTOR..4 * SECTOR], 3);
}

#[test]
fn a_device_that_returns_what_it_was_never_given_is_ignored() {
    let rig = Rig::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        // Out of the table, a free descriptor, and one in the middle of a
        // chain in flight: none is a request's head.
        rig.device.bogus.borrow_mut().extend([5000, 9, 1]);
        let (read, buf) = io
            .submit(ReadSectors::new(4, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(read, Ok(SECTOR));
        assert_original(buf.bytes(), 4);
        let (read, _) = io
            .submit(ReadSectors::new(5, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(read, Ok(SECTOR));
    });
    let stats = rig.stats();
    assert_eq!(stats.bogus, 3, "{stats:?}");
    assert_eq!(stats.completed, 2, "each real request completed once");
}

#[test]
fn set_up_refuses_what_it_cannot_drive() {
    for (size, want) in [
        (0, SetupError::NoQueue),
        (6, SetupError::QueueSize(6)),
        (2048, SetupError::QueueSize(2048)),
    ] {
        let device = Device::new(Behaviour {
            queue_size: size,
            ..Behaviour::default()
        });
        let got = BlkDriver::new(
            Ports(device.clone()),
            RecordingDma(device.mappings.clone()),
            Box::leak(Box::new(QueueMemory::new())),
            DeviceHalt(device.clone()),
        )
        .err();
        assert_eq!(got, Some(want), "queue size {size}");
        assert_eq!(
            device.status.get(),
            status::FAILED,
            "the device is told the driver gave up"
        );
        assert!(!want.to_string().is_empty());
    }
    let memory: &'static QueueMemory = Box::leak(Box::new(QueueMemory::new()));
    let make = || {
        let device = Device::new(Behaviour::default());
        BlkDriver::new(
            Ports(device.clone()),
            RecordingDma(device.mappings.clone()),
            memory,
            DeviceHalt(device),
        )
    };
    let first = make().expect("the first driver gets the memory");
    assert_eq!(make().err(), Some(SetupError::MemoryTaken));
    assert_eq!(
        (first.capacity(), first.queue_size(), first.max_in_flight()),
        (SECTORS, 16, 5)
    );
}

#[test]
fn the_driver_is_small_enough_to_move_on_a_kernel_stack() {
    // Its per-descriptor tables live in the static `QueueMemory`: a
    // driver moved by value (out of `new`, into a reactor) must not
    // overflow a small boot stack.
    let size = std::mem::size_of::<Drv>();
    assert!(size <= 512, "BlkDriver is {size} bytes");
}
