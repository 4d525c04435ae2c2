//! Queue-full back pressure mixed with cancellations and with futures
//! dropped at every poll point: everything completes, in order, and no
//! buffer is released while the device holds it (checked natively by the
//! buffers' drop, and by miri through the device's late writes).

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::task::Poll;

use kasync::io::errno;
use kasync_virtio_blk::{Flush, ReadSectors, SECTOR, WriteSectors};

mod support;
use support::rig::{Rig, Sectors, assert_original};
use support::{Behaviour, SECTORS};

/// Yields once to the run loop.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Polls `fut` at most `polls` times (yielding in between); drops it if it
/// is still pending then.
async fn cancel_after<F: Future>(polls: usize, fut: F) -> Option<F::Output> {
    let mut fut = Box::pin(fut);
    for _ in 0..polls {
        if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(v);
        }
        yield_now().await;
    }
    None
}

const TASKS: usize = if cfg!(miri) { 6 } else { 48 };

#[test]
fn more_requests_than_the_queue_holds_mixed_with_cancels() {
    let mut out_of_order = Vec::new();
    let seeds: &[Option<u64>] = if cfg!(miri) {
        &[None, Some(3)]
    } else {
        &[None, Some(3), Some(11)]
    };
    for &seed in seeds {
        let rig = Rig::<16>::new(Behaviour {
            queue_size: 8, // two requests at a time
            per_halt: 1,
            shuffle: seed,
            ..Behaviour::default()
        });
        let drops = Rc::new(Cell::new(0));
        let violations = Rc::new(Cell::new(0));
        let done = Rc::new(RefCell::new(Vec::new()));
        let io = rig.io;
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let sector = (i as u64 * 7) % (SECTORS - 2);
                let buf = Sectors::empty(1 + i % 2, &drops).watched(&rig.device, &violations);
                let done = done.clone();
                rig.runner
                    .spawn_local(async move {
                        let read = io.submit(ReadSectors::new(sector, buf));
                        // Every third one gives up after i % 5 polls (the
                        // others just wait: a task that keeps yielding
                        // would keep the loop from halting, and the
                        // simulated device works only while it halts).
                        let got = if i % 3 == 0 {
                            cancel_after(i % 5, read).await
                        } else {
                            Some(read.await)
                        };
                        if let Some((r, buf)) = got {
                            assert_eq!(r, Ok(buf.data.len()), "read {i}");
                            assert_original(buf.bytes(), sector);
                            done.borrow_mut().push(i);
                        }
                    })
                    .unwrap()
            })
            .collect();
        rig.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
            // One more, behind whatever the dropped ones left on the device.
            let (r, _) = io
                .submit(Flush)
                .await
                .map(|()| (Ok::<_, i32>(0), ()))
                .unwrap_or((Err(0), ()));
            assert_eq!(r, Ok(0));
        });
        assert_eq!(rig.device.held(), 0);
        assert_eq!(rig.disk.in_flight(), 0);
        assert_eq!(drops.get(), TASKS, "every buffer went back once");
        assert_eq!(
            violations.get(),
            0,
            "buffers freed while the device held them"
        );
        let stats = rig.stats();
        assert_eq!(stats.submitted, stats.completed, "{stats:?}");
        if seed.is_none() {
            // In-order device: the device saw requests in submission order.
            let log: Vec<u64> = rig
                .device
                .log
                .borrow()
                .iter()
                .filter(|e| e.0 == 0)
                .map(|e| e.1)
                .collect();
            let mut want: Vec<u64> = (0..TASKS).map(|i| (i as u64 * 7) % (SECTORS - 2)).collect();
            want.retain(|s| log.contains(s));
            if log != want {
                out_of_order.push(format!("device got {log:?}\nin order:   {want:?}"));
            }
            // Completions of the tasks that kept waiting came in order.
            let d = done.borrow();
            if !d.windows(2).all(|w| w[0] < w[1]) {
                out_of_order.push(format!("tasks finished {d:?}"));
            }
        }
    }
    assert!(
        out_of_order.is_empty(),
        "requests reached the device out of line:\n{}",
        out_of_order.join("\n")
    );
}

#[test]
fn a_future_dropped_at_every_poll_point_leaks_or_frees_nothing_early() {
    let points = if cfg!(miri) { 4 } else { 24 };
    for k in 0..points {
        // Op table of 2 slots, queue of 8 (two requests): a submission
        // waits for a slot, then for queue room, then for the device.
        let rig = Rig::<2>::new(Behaviour {
            queue_size: 8,
            per_halt: 1,
            ..Behaviour::default()
        });
        let drops = Rc::new(Cell::new(0));
        let violations = Rc::new(Cell::new(0));
        let io = rig.io;
        let device = rig.device.clone();
        let bg: Vec<_> = (0..3u64)
            .map(|i| {
                let (drops, violations, device) =
                    (drops.clone(), violations.clone(), device.clone());
                rig.runner
                    .spawn_local(async move {
                        for j in 0..2 {
                            let buf = Sectors::empty(1, &drops).watched(&device, &violations);
                            let (r, _) = io.submit(ReadSectors::new(i * 2 + j, buf)).await;
                            assert_eq!(r, Ok(SECTOR));
                        }
                    })
                    .unwrap()
            })
            .collect();
        let (d2, v2, dev2) = (drops.clone(), violations.clone(), device.clone());
        rig.block_on(async move {
            let write = Sectors::filled(&[0xAB; SECTOR], &d2).watched(&dev2, &v2);
            let victim = io.submit(WriteSectors::new(100, write));
            let _ = cancel_after(k, victim).await;
            let read = Sectors::empty(1, &d2).watched(&dev2, &v2);
            let _ = cancel_after(k / 2, io.submit(ReadSectors::new(101, read))).await;
            for t in bg {
                t.await.unwrap();
            }
            // A request behind whatever is left.
            let (r, _) = io.submit(ReadSectors::new(1, Sectors::empty(1, &d2))).await;
            assert_eq!(r, Ok(SECTOR));
        });
        // Orphans still on the device finish on the next turns.
        rig.block_on(async {
            let _ = io
                .submit(ReadSectors::new(2, Sectors::empty(1, &drops)))
                .await;
        });
        assert_eq!(rig.device.held(), 0, "k {k}");
        assert_eq!(rig.disk.in_flight(), 0, "k {k}");
        assert_eq!(rig.disk.occupied(), 0, "k {k}");
        assert_eq!(drops.get(), 6 + 2 + 2, "k {k}: every buffer back once");
        assert_eq!(violations.get(), 0, "k {k}");
        let stats = rig.stats();
        assert_eq!(stats.submitted, stats.completed, "k {k}: {stats:?}");
    }
}

#[test]
fn refused_requests_beyond_the_early_queue_and_a_full_queue_all_complete() {
    let rig = Rig::<64>::new(Behaviour {
        queue_size: 8,
        per_halt: 1,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let n = if cfg!(miri) { 20 } else { 60 };
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let buf = if i % 3 == 0 {
                Sectors::empty(1, &drops)
            } else {
                Sectors::bytes_of(100, &drops) // refused: EINVAL
            };
            rig.runner
                .spawn_local(async move { (i, io.submit(ReadSectors::new(i as u64, buf)).await.0) })
                .unwrap()
        })
        .collect();
    rig.block_on(async {
        for t in tasks {
            let (i, r) = t.await.unwrap();
            let want = if i % 3 == 0 {
                Ok(SECTOR)
            } else {
                Err(errno::EINVAL)
            };
            assert_eq!(r, want, "request {i}");
        }
    });
    assert_eq!(drops.get(), n);
}

/// Polls `f` once.
async fn poll_once<F: Future + Unpin>(f: &mut F) {
    let _ = poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))).await;
}

/// A submission held back by the full queue and then dropped gives its
/// place up: a new one that takes its op-table slot at once reaches the
/// device after every request that waited longer.
#[test]
fn a_new_submission_does_not_jump_the_line_through_a_dropped_ones_slot() {
    let rig = Rig::<16>::new(Behaviour {
        queue_size: 8, // two requests fit
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let read = |sector| Box::pin(io.submit(ReadSectors::new(sector, Sectors::empty(1, &drops))));
    rig.block_on(async {
        let mut a = read(1);
        let mut b = read(2);
        let mut c = read(3);
        let mut d = read(4);
        poll_once(&mut a).await; // on the device's queue
        poll_once(&mut b).await; // on the device's queue: now full
        poll_once(&mut c).await; // held back, first in line
        poll_once(&mut d).await; // held back, second in line
        drop(c); // gives its place up; its slot is free
        let mut e = read(5);
        poll_once(&mut e).await; // takes c's slot: must queue behind d
        for f in [a, b, d, e] {
            let (r, _) = f.await;
            assert_eq!(r, Ok(SECTOR));
        }
    });
    let order: Vec<u64> = rig.device.log.borrow().iter().map(|&(_, s)| s).collect();
    assert_eq!(
        order,
        [1, 2, 4, 5],
        "the device got the requests out of line"
    );
}
