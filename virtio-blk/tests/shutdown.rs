//! The reactor dropped, or `shutdown()` called, with requests in flight:
//! the driver's `park` (through `Halt::halt_unless`) lets the device finish
//! them before any buffer goes. And a stuck device: shutdown then never
//! returns (by design: it "blocks until each has completed"; the driver's
//! `park` ignores the timeout and a detached `Idle` is always idle) — on
//! real hardware an endless `hlt`.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use kasync::executor::{Executor, Spin};
use kasync::io::{Reactor, errno};
use kasync_virtio_blk::{Flush, ReadSectors, SECTOR, WriteSectors};

mod support;
use support::Behaviour;
use support::rig::{Rig, Sectors, assert_original, clock, driver};

async fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) {
    let mut f = Some(f);
    poll_fn(|cx| {
        let _ = f.take().unwrap().poll(cx);
        Poll::Ready(())
    })
    .await
}

#[test]
fn dropping_the_reactor_waits_for_the_device_and_then_frees_every_buffer() {
    let (device, drv) = driver(Behaviour {
        queue_size: 8, // two requests
        per_halt: 1,
        ..Behaviour::default()
    });
    let drv = drv.unwrap();
    let drops = Rc::new(Cell::new(0));
    let violations = Rc::new(Cell::new(0));
    let executor: &'static Executor<Spin, 8, 64> = Box::leak(Box::new(Executor::new(Spin)));
    let runner = executor.runner().unwrap();
    {
        let reactor = pin!(Reactor::<_, _, 4, 128>::new(drv, clock()));
        let io = reactor.as_ref().handle();
        let watched = |n| Sectors::empty(n, &drops).watched(&device, &violations);
        let mut forgotten = Box::pin(io.submit(ReadSectors::new(1, watched(2))));
        let mut dropped = Box::pin(io.submit(WriteSectors::new(
            50,
            Sectors::filled(&[0x5A; SECTOR], &drops).watched(&device, &violations),
        )));
        let mut held_back = Box::pin(io.submit(ReadSectors::new(3, watched(1))));
        let mut no_slot = Box::pin(io.submit(ReadSectors::new(4, watched(1))));
        let mut no_slot2 = Box::pin(io.submit(ReadSectors::new(5, watched(1))));
        runner.block_on_with(&*reactor, async {
            poll_once(forgotten.as_mut()).await; // on the device
            poll_once(dropped.as_mut()).await; // on the device
            poll_once(held_back.as_mut()).await; // queue full
            poll_once(no_slot.as_mut()).await; // 4th slot, queue full
            poll_once(no_slot2.as_mut()).await; // waits for a slot
        });
        assert_eq!(reactor.in_flight(), 2);
        drop(dropped);
        std::mem::forget(forgotten);
        std::mem::forget(held_back);
        drop(no_slot);
        std::mem::forget(no_slot2);
        assert_eq!(drops.get(), 1, "only the never-submitted one is gone");
        // The reactor goes here, with two requests on the device.
    }
    assert_eq!(
        device.held(),
        0,
        "the device finished before the reactor went"
    );
    assert_eq!(
        violations.get(),
        0,
        "no buffer freed while the device held it"
    );
    // forgotten (completed, orphaned), dropped, held_back (cancelled),
    // no_slot (dropped unsubmitted); no_slot2 leaked with its future.
    assert_eq!(drops.get(), 4);
    assert_eq!(
        &device.disk.borrow()[50 * SECTOR..51 * SECTOR],
        &[0x5A; SECTOR][..]
    );
}

#[test]
fn shutdown_from_a_task_resolves_the_waiting_reads_and_the_reactor_goes_on() {
    let rig = Rig::<16>::new(Behaviour {
        queue_size: 8,
        per_halt: 1,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let tasks: Vec<_> = (0..6u64)
        .map(|i| {
            let buf = Sectors::empty(1, &drops);
            rig.runner
                .spawn_local(async move { io.submit(ReadSectors::new(i, buf)).await })
                .unwrap()
        })
        .collect();
    let disk = rig.disk;
    let drops2 = drops.clone();
    rig.block_on(async move {
        // Let every task submit (two reach the device, four wait).
        let mut once = false;
        poll_fn(|cx| {
            if once {
                Poll::Ready(())
            } else {
                once = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
        disk.shutdown();
        let mut ok = 0;
        let mut cancelled = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            let (r, buf) = t.await.unwrap();
            match r {
                Ok(n) => {
                    assert_eq!(n, SECTOR);
                    assert_original(buf.bytes(), i as u64);
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(e, errno::ECANCELED);
                    cancelled += 1;
                }
            }
        }
        assert_eq!((ok, cancelled), (2, 4));
        // Still works.
        assert_eq!(io.submit(Flush).await, Ok(()));
        let (r, _) = io
            .submit(ReadSectors::new(7, Sectors::empty(1, &drops2)))
            .await;
        assert_eq!(r, Ok(SECTOR));
    });
    assert_eq!(rig.device.held(), 0);
    assert_eq!(drops.get(), 7);
}

/// A device that never answers keeps its buffers: shutdown halts on (a
/// real CPU would `hlt` for good, which is the documented price) rather
/// than free memory the device may still write. The simulated halt gives
/// up after 10 000 halts (300 under miri).
#[test]
#[should_panic(expected = "it would hang")]
fn shutdown_with_a_stuck_device_halts_on_rather_than_free_its_buffer() {
    let rig = Rig::<4>::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let mut read = Box::pin(io.submit(ReadSectors::new(0, Sectors::empty(1, &drops))));
    rig.block_on(poll_once(read.as_mut()));
    rig.device.stall.set(true);
    let halts = if cfg!(miri) { 300 } else { 10_000 };
    rig.device.max_halts.set(rig.device.halts.get() + halts);
    drop(read);
    rig.disk.shutdown(); // parks forever: the device never answers
}
