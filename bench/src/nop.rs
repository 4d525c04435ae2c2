//! A no-op round trip through the ring: kasync (the runtime, the op table,
//! the waker) against a hand-written `io-uring` loop with the same number
//! of operations in flight and the same batching — the ceiling.

use io_uring::{IoUring, opcode};
use kasync_host::{Runtime, io, spawn};
use kasync_ops::ops::Nop;
use kasync_uring::{Config, Flags};

use crate::harness::{Contender, Results, Run, compare};

/// `ops` no-ops with `depth` in flight at a time.
fn kasync_nops(rt: &Runtime, ops: usize, depth: usize) -> u64 {
    let before = rt.driver_stats().enters;
    rt.block_on(async {
        let per_task = ops / depth;
        let tasks: Vec<_> = (0..depth)
            .map(|_| {
                spawn(async move {
                    for _ in 0..per_task {
                        io().submit(Nop).await.expect("nop");
                    }
                })
                .expect("a task slot")
            })
            .collect();
        for t in tasks {
            t.await.expect("nop task");
        }
    });
    rt.driver_stats().enters - before
}

/// `ops` no-ops with `depth` in flight, all from one task: `depth` lanes
/// of sequential no-ops joined (`join_all`), so the per-task cost of
/// [`kasync_nops`]'s `depth` tasks is visible beside it.
fn kasync_nops_one_task(rt: &Runtime, ops: usize, depth: usize) -> u64 {
    let before = rt.driver_stats().enters;
    rt.block_on(async {
        let per_lane = ops / depth;
        let lanes = (0..depth).map(|_| async move {
            for _ in 0..per_lane {
                io().submit(Nop).await.expect("nop");
            }
        });
        futures_util::future::join_all(lanes).await;
    });
    rt.driver_stats().enters - before
}

/// The same with a raw ring: keep `depth` in flight, one
/// `submit_and_wait(1)` per turn; with `register`, enters name the ring by
/// its registered descriptor. Returns the `io_uring_enter` count.
fn raw_nops(ring: &mut IoUring, ops: usize, depth: usize, register: bool) -> u64 {
    let (mut submitter, mut sq, mut cq) = ring.split();
    if register {
        submitter
            .register_ring_fd()
            .expect("the runtime registered its ring, so can this loop");
    }
    let mut submitted = 0;
    let mut completed = 0;
    let mut enters = 0;
    while submitted < depth.min(ops) {
        // SAFETY: a nop references no memory.
        unsafe { sq.push(&opcode::Nop::new().build()) }.expect("ring has room");
        submitted += 1;
    }
    while completed < ops {
        sq.sync();
        submitter.submit_and_wait(1).expect("io_uring_enter");
        enters += 1;
        cq.sync();
        let done = cq.by_ref().count();
        completed += done;
        for _ in 0..done {
            if submitted < ops {
                // SAFETY: as above.
                unsafe { sq.push(&opcode::Nop::new().build()) }.expect("ring has room");
                submitted += 1;
            }
        }
    }
    if register {
        submitter.unregister_ring_fd().expect("registered above");
    }
    enters
}

/// Nop round trips at 1 and 32 in flight: kasync (at 32 also from one task
/// whose 32 lanes are joined), a raw loop on a ring
/// with `IoUring::new`'s defaults (what a hand-written loop starts from),
/// and a raw loop on a ring set up exactly like kasync's.
pub fn run(reps: usize, ops: usize) -> Vec<Results> {
    let rt = kasync_host::Builder::new()
        .backend(kasync_host::Backend::Uring)
        .build()
        .expect("io_uring is needed for this benchmark");
    let rt_flags = rt.flags().expect("an io_uring runtime has flags");
    let mut plain = IoUring::new(256).expect("io_uring");
    let (mut tuned, flags) =
        kasync_uring::ring(&Config::default()).expect("the runtime's ring setup works here");
    let registered_ring = rt_flags.registered_ring;
    assert_eq!(
        Flags {
            registered_ring,
            ..flags
        },
        rt_flags,
        "the raw loop's ring is set up like the runtime's"
    );
    // The same program on the readiness backend: a no-op completes while
    // it is pushed, with no system call at all.
    let poll = kasync_host::Builder::new()
        .backend(kasync_host::Backend::Poll)
        .build()
        .expect("the readiness backend");
    [1usize, 32]
        .into_iter()
        .map(|depth| {
            let (plain, tuned) = (&mut plain, &mut tuned);
            let (rt, poll) = (&rt, &poll);
            let mut contenders = vec![Contender {
                name: "kasync",
                run: Box::new(move || Run::counted(kasync_nops(rt, ops, depth))),
            }];
            if depth > 1 {
                contenders.push(Contender {
                    name: "kasync, one task (lanes joined)",
                    run: Box::new(move || Run::counted(kasync_nops_one_task(rt, ops, depth))),
                });
            }
            contenders.extend([
                Contender {
                    name: "kasync (epoll)",
                    run: Box::new(move || Run::counted(kasync_nops(poll, ops, depth))),
                },
                Contender {
                    name: "raw io-uring loop",
                    run: Box::new(move || Run::counted(raw_nops(plain, ops, depth, false))),
                },
                Contender {
                    name: "raw loop, kasync's ring setup",
                    run: Box::new(move || {
                        Run::counted(raw_nops(tuned, ops, depth, registered_ring))
                    }),
                },
            ]);
            compare(
                &format!("nop round trip, {depth} in flight"),
                ops,
                reps,
                Some("io_uring_enter (epoll_wait)"),
                contenders,
            )
        })
        .collect()
}
