//! Set-up at its edges: every feature bit offered, the largest queue (and
//! one too large), queues too small for one request, a `Dma` that cannot
//! place the queue or refuses a buffer, a `QueueMemory` given twice (also
//! after a failed set-up), and a disk of zero sectors.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;

use kasync::executor::{Executor, Spin};
use kasync::io::{Reactor, errno};
use kasync_virtio_blk::transport::{feature, status};
use kasync_virtio_blk::{
    BlkDriver, Dma, Flush, QueueMemory, ReadSectors, SECTOR, SetupError, WriteSectors,
};

mod support;
use support::rig::{Rig, Sectors, assert_original, clock, driver};
use support::{Behaviour, Device, DeviceHalt, Ports, RecordingDma};

#[test]
fn every_feature_bit_offered_only_flush_and_ro_are_taken() {
    let rig = Rig::<8>::new(Behaviour {
        features: u32::MAX,
        ..Behaviour::default()
    });
    assert_eq!(
        rig.device.guest_features.get(),
        feature::FLUSH | feature::RO
    );
    assert_eq!(
        rig.device.status.get(),
        status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK
    );
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let (r, buf) = io
            .submit(ReadSectors::new(2, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(r, Ok(SECTOR));
        assert_original(buf.bytes(), 2);
        let (w, _) = io
            .submit(WriteSectors::new(2, Sectors::filled(&[1; SECTOR], &drops)))
            .await;
        assert_eq!(w, Err(30), "EROFS");
    });
}

#[test]
fn queue_of_1024_runs_64_requests_at_once_and_32768_is_refused() {
    let rig = Rig::<64>::new(Behaviour {
        queue_size: 1024,
        per_halt: 7,
        shuffle: Some(5),
        ..Behaviour::default()
    });
    assert_eq!(
        rig.disk
            .with_driver(|d| (d.queue_size(), d.max_in_flight())),
        (1024, 341)
    );
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let n = if cfg!(miri) { 8 } else { 60 };
    let tasks: Vec<_> = (0..n as u64)
        .map(|i| {
            let buf = Sectors::empty(1, &drops);
            rig.runner
                .spawn_local(async move { (i, io.submit(ReadSectors::new(i, buf)).await) })
                .unwrap()
        })
        .collect();
    rig.block_on(async {
        for t in tasks {
            let (i, (r, buf)) = t.await.unwrap();
            assert_eq!(r, Ok(SECTOR));
            assert_original(buf.bytes(), i);
        }
    });
    assert_eq!(rig.stats().queue_full, 0);
    let (_, big) = driver(Behaviour {
        queue_size: 32768,
        ..Behaviour::default()
    });
    assert_eq!(big.err(), Some(SetupError::QueueSize(32768)));
}

/// A Dma that translates like `RecordingDma`, then moves the address by
/// `shift` (queue placement), and refuses buffers longer than `max`.
struct OddDma {
    inner: RecordingDma,
    shift: u64,
    max: usize,
}
// SAFETY: only ever asked for addresses the tests then expect refused, or
// forwards to RecordingDma unchanged (shift 0).
unsafe impl Dma for OddDma {
    fn phys(&self, virt: *const u8, len: usize) -> Option<u64> {
        if len > self.max {
            return None;
        }
        self.inner.phys(virt, len).map(|p| p + self.shift)
    }
}

#[test]
fn a_queue_the_dma_cannot_place_is_refused_and_a_refused_buffer_is_efault() {
    for shift in [8, 1 << 44] {
        let device = Device::new(Behaviour::default());
        let got = BlkDriver::new(
            Ports(device.clone()),
            OddDma {
                inner: RecordingDma(device.mappings.clone()),
                shift,
                max: usize::MAX,
            },
            Box::leak(Box::new(QueueMemory::new())),
            DeviceHalt(device.clone()),
        )
        .err();
        assert_eq!(got, Some(SetupError::QueueAddress), "shift {shift:#x}");
        assert_eq!(device.status.get(), status::FAILED);
    }
    let device = Device::new(Behaviour::default());
    let drv = BlkDriver::new(
        Ports(device.clone()),
        OddDma {
            inner: RecordingDma(device.mappings.clone()),
            shift: 0,
            max: 48 * 1024,
        },
        Box::leak(Box::new(QueueMemory::new())),
        DeviceHalt(device.clone()),
    )
    .unwrap();
    let reactor: &'static Reactor<_, _, 8, 128> = Box::leak(Box::new(Reactor::new(drv, clock())));
    let reactor = Pin::static_ref(reactor);
    let io = reactor.handle();
    let executor: &'static Executor<Spin, 8, 64> = Box::leak(Box::new(Executor::new(Spin)));
    let runner = executor.runner().unwrap();
    let drops = Rc::new(Cell::new(0));
    runner.block_on_with(&*reactor, async {
        let (r, _) = io
            .submit(ReadSectors::new(0, Sectors::empty(100, &drops)))
            .await;
        assert_eq!(r, Err(14), "EFAULT");
        let (r, buf) = io
            .submit(ReadSectors::new(0, Sectors::empty(2, &drops)))
            .await;
        assert_eq!(r, Ok(2 * SECTOR));
        assert_original(buf.bytes(), 0);
    });
}

#[test]
fn a_queue_memory_serves_one_driver_even_after_a_failed_set_up() {
    let memory: &'static QueueMemory = Box::leak(Box::new(QueueMemory::new()));
    let make = |queue_size| {
        let device = Device::new(Behaviour {
            queue_size,
            ..Behaviour::default()
        });
        BlkDriver::new(
            Ports(device.clone()),
            RecordingDma(device.mappings.clone()),
            memory,
            DeviceHalt(device),
        )
        .err()
    };
    assert_eq!(make(6), Some(SetupError::QueueSize(6)));
    assert_eq!(make(16), Some(SetupError::MemoryTaken), "claimed for good");
}

#[test]
fn a_disk_of_zero_sectors_refuses_every_read_and_write() {
    let rig = Rig::<8>::new(Behaviour {
        sectors: 0,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let (r, _) = io
            .submit(ReadSectors::new(0, Sectors::empty(1, &drops)))
            .await;
        assert_eq!(r, Err(errno::EINVAL));
        let (w, _) = io
            .submit(WriteSectors::new(0, Sectors::filled(&[0; SECTOR], &drops)))
            .await;
        assert_eq!(w, Err(errno::EINVAL));
    });
    assert!(rig.device.log.borrow().is_empty());
}

/// A legacy queue of 1 or 2 entries holds no request (three descriptors):
/// set-up refuses it with advice instead of a driver whose every request
/// waits forever.
#[test]
fn queues_too_small_for_one_request_are_refused_at_set_up() {
    for size in [1u16, 2] {
        let (_, setup) = driver(Behaviour {
            queue_size: size,
            ..Behaviour::default()
        });
        match setup {
            Err(e @ SetupError::QueueSize(n)) => {
                assert_eq!(n, size);
                assert!(e.to_string().contains("from 4"), "{e}");
            }
            Err(e) => panic!("queue of {size}: {e:?}"),
            Ok(_) => panic!("queue of {size} was set up"),
        }
    }
}

#[test]
fn a_queue_of_four_holds_one_request_at_a_time() {
    let rig = Rig::<8>::new(Behaviour {
        queue_size: 4,
        features: 0,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    rig.block_on(async {
        let (r, buf) = io
            .submit(ReadSectors::new(3, Sectors::empty(2, &drops)))
            .await;
        assert_eq!(r, Ok(2 * SECTOR));
        assert_original(buf.bytes(), 3);
        assert_eq!(io.submit(Flush).await, Ok(()));
        let (r, _) = io
            .submit(ReadSectors::new(0, Sectors::bytes_of(100, &drops)))
            .await;
        assert_eq!(r, Err(errno::EINVAL));
    });
    assert_eq!(rig.disk.with_driver(|d| d.max_in_flight()), 1);
}
