//! Edge cases of growing reactors: allocators that panic, fail or
//! re-enter, drops with operations in flight in chunk slots, limits below
//! the inline count, and the promise of a freed slot to the first waiter
//! when the table cannot grow.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use kasync::chunk::Growth;
use kasync::executor::Drive;
use kasync::io::sim::{SimDriver, SimNop, SimOp, SimOutcome};
use kasync::io::{Completion, Operation, Reactor};
use kasync::time::ManualClock;

mod support;
use support::heap::{Flaky, HOOK, keep, keep_address, keep_leaked};

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

type Sim<'c> = SimDriver<'c, 8>;

/// A read into a heap buffer whose drop can be made to panic.
struct Read {
    buf: Box<[u8; 8]>,
    panic_on_drop: Rc<Cell<bool>>,
    drops: Rc<Cell<usize>>,
}

impl Drop for Read {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panic_on_drop.get() {
            self.panic_on_drop.set(false);
            panic!("an operation's drop panics");
        }
    }
}

// SAFETY: the boxed bytes do not move with the operation.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for Read {
    type Output = (Completion, Box<[u8; 8]>);
    fn build(&mut self) -> SimOp {
        SimOp::Read {
            ptr: self.buf.as_mut_ptr(),
            len: 8,
        }
    }
    fn complete(mut self, completion: Completion) -> Self::Output {
        let buf = std::mem::replace(&mut self.buf, Box::new([0; 8]));
        (completion, buf)
    }
}

fn read(panic_on_drop: &Rc<Cell<bool>>, drops: &Rc<Cell<usize>>) -> Read {
    let buf = Box::new([0; 8]);
    // Tests leak some reads on purpose (a panic while the reactor drops).
    keep_address(&*buf);
    Read {
        buf,
        panic_on_drop: panic_on_drop.clone(),
        drops: drops.clone(),
    }
}

fn quiet<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(f))
}

/// The allocator panics on the table and then on a chunk allocation, from
/// inside a submission's poll; the reactor stays usable and gives every
/// block back when dropped.
#[test]
fn reactor_allocator_panics_during_submission() {
    for bad in 0..3 {
        let alloc = Flaky::leak();
        alloc.panic_at.store(bad, Ordering::SeqCst);
        let clock = ManualClock::new(1_000);
        let flag = Rc::new(Cell::new(false));
        let drops = Rc::new(Cell::new(0));
        let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 1>>::new_uninit();
        let reactor = Reactor::init_growing(
            &mut place,
            Sim::new(&clock).held(),
            &clock,
            Growth::new(alloc).chunk_slots(1).max_slots(4),
        );
        // SAFETY: stays in its box until dropped in place below.
        let reactor = unsafe { Pin::new_unchecked(&*reactor) };
        {
            let io = reactor.handle();
            let mut ops: Vec<_> = (0..6)
                .map(|_| Box::pin(io.submit(read(&flag, &drops))))
                .collect();
            let mut panicked = 0;
            for op in &mut ops {
                if quiet(|| poll_once(op.as_mut())).is_err() {
                    panicked += 1;
                }
            }
            assert_eq!(panicked, 1, "bad {bad}");
            // Second round: those without a slot try again.
            for op in &mut ops {
                if op.id().is_none() {
                    let _ = poll_once(op.as_mut());
                }
            }
            let with_slot = ops.iter().filter(|o| o.id().is_some()).count();
            assert_eq!(with_slot, 4, "bad {bad}: every slot up to the limit used");
            assert_eq!(reactor.occupied(), 4);
            reactor.turn();
            let mut done = 0;
            let mut finished = vec![false; ops.len()];
            for _ in 0..6 {
                for (k, op) in ops.iter_mut().enumerate() {
                    if finished[k] {
                        continue;
                    }
                    if let Poll::Ready((c, buf)) = poll_once(op.as_mut()) {
                        assert!(c.result >= 0);
                        drop(buf);
                        finished[k] = true;
                        done += 1;
                    }
                }
                reactor.turn();
                let ids: Vec<_> = ops
                    .iter()
                    .zip(&finished)
                    .filter(|(_, f)| !**f)
                    .filter_map(|(o, _)| o.id())
                    .collect();
                for id in ids {
                    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
                }
                reactor.turn();
            }
            assert_eq!(done, 6, "bad {bad}: every operation ran");
        }
        // SAFETY: initialised; nothing points into it any more.
        unsafe { place.assume_init_drop() };
        assert_eq!(
            alloc.live.load(Ordering::SeqCst),
            0,
            "bad {bad}: blocks given back"
        );
    }
}

/// Dropping a growing reactor whose chunk slots hold operations in flight
/// (their futures leaked), one of which panics when dropped: the drop
/// waits for the backend, frees the chunks once, and miri sees no
/// use-after-free of the buffers the simulator writes.
#[test]
fn drop_with_chunk_ops_in_flight_and_a_panicking_op() {
    let alloc = Flaky::leak();
    let clock = ManualClock::new(1_000);
    let flag = Rc::new(Cell::new(false));
    let drops = Rc::new(Cell::new(0));
    // The reads left in the table when the drop panics are leaked with
    // it, and hold these.
    keep_leaked(flag.clone());
    keep_leaked(drops.clone());
    let n = 6;
    let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 1>>::new_uninit();
    let reactor = Reactor::init_growing(
        &mut place,
        Sim::new(&clock).held(),
        &clock,
        Growth::new(alloc).chunk_slots(2),
    );
    // SAFETY: stays in its box until dropped in place below.
    let reactor = unsafe { Pin::new_unchecked(&*reactor) };
    {
        let io = reactor.handle();
        for i in 0..n {
            let mut op = Box::pin(io.submit(read(&flag, &drops)));
            assert!(poll_once(op.as_mut()).is_pending());
            if i % 2 == 0 {
                // Leaked: the slot stays in flight with nobody awaiting it.
                keep_leaked(op);
            } else {
                // Orphaned: dropped while in flight.
                drop(op);
            }
        }
        reactor.turn();
    }
    eprintln!("in flight before the drop: {}", reactor.in_flight());
    // Cancels complete (and reads write their buffers) from here on.
    reactor.with_driver(|sim| sim.set_mode(kasync::io::sim::SimMode::Immediate));
    flag.set(true);
    // SAFETY: `init_growing` initialised it; it is dropped in place once.
    let r = quiet(move || unsafe { place.assume_init_drop() });
    eprintln!(
        "drop result: {}, ops dropped: {}, blocks live: {}",
        if r.is_ok() { "ok" } else { "panicked" },
        drops.get(),
        alloc.live.load(Ordering::SeqCst)
    );
    assert_eq!(alloc.live.load(Ordering::SeqCst), 0, "chunks given back");
}

/// `max_slots` below the inline count `M`: the extra inline slots are
/// unused; a third submission waits and gets a freed slot.
#[test]
fn reactor_limit_below_inline() {
    let alloc = Flaky::leak();
    let clock = ManualClock::new(1_000);
    let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 4>>::new_uninit();
    let reactor = Reactor::init_growing(
        &mut place,
        Sim::new(&clock),
        &clock,
        Growth::new(alloc).chunk_slots(1).max_slots(2),
    );
    // SAFETY: stays in its box until dropped in place below.
    let reactor = unsafe { Pin::new_unchecked(&*reactor) };
    {
        assert_eq!(reactor.capacity(), 2);
        let io = reactor.handle();
        let mut a = pin!(io.submit(SimNop));
        let mut b = pin!(io.submit(SimNop));
        let mut c = pin!(io.submit(SimNop));
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        assert!(poll_once(c.as_mut()).is_pending());
        assert_eq!(c.id(), None);
        assert_eq!(reactor.occupied(), 2);
        reactor.turn();
        assert!(poll_once(a.as_mut()).is_ready());
        assert!(poll_once(c.as_mut()).is_pending());
        assert!(c.id().is_some());
        reactor.turn();
        assert!(poll_once(b.as_mut()).is_ready());
        assert!(poll_once(c.as_mut()).is_ready());
    }
    // SAFETY: as above.
    unsafe { place.assume_init_drop() };
    assert_eq!(
        alloc.live.load(Ordering::SeqCst),
        0,
        "no chunk was ever needed"
    );
}

/// Out of memory, with a free slot promised to the first waiter: a newcomer
/// must queue behind it (the reactor's documented back-pressure), not take
/// the promised slot. `claim_unoffered` counts unpromised room against the
/// growth *limit*, not against slots that exist, so the newcomer takes the
/// promised slot and the waiter finds none.
#[test]
fn promised_slot_is_not_taken_by_a_newcomer_when_out_of_memory() {
    let alloc = Flaky::leak();
    let clock = ManualClock::new(1_000);
    let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 1>>::new_uninit();
    let reactor = Reactor::init_growing(
        &mut place,
        Sim::new(&clock).held(),
        &clock,
        Growth::new(alloc).chunk_slots(1),
    );
    alloc.fail_from.store(0, Ordering::SeqCst); // no memory at all
    // SAFETY: stays in its box until dropped in place below.
    let reactor = unsafe { Pin::new_unchecked(&*reactor) };
    let outcome;
    {
        let io = reactor.handle();
        let mut a = pin!(io.submit(SimNop));
        let mut b = pin!(io.submit(SimNop));
        let mut d = pin!(io.submit(SimNop));
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        assert_eq!(b.id(), None, "b waits in line");
        reactor.turn();
        let a_id = a.id().unwrap();
        reactor.with_driver(|sim| assert!(sim.decide(a_id, SimOutcome::Full)));
        reactor.turn();
        // a's slot is freed and promised to b.
        assert!(poll_once(a.as_mut()).is_ready());
        // A newcomer arrives before b is polled.
        let d_poll = poll_once(d.as_mut());
        let d_took = d.id().is_some();
        let b_poll = poll_once(b.as_mut());
        assert!(b_poll.is_pending());
        let b_got = b.id().is_some();
        outcome = (d_took, b_got, d_poll.is_pending());
        // Settle whatever is in flight.
        reactor.with_driver(|sim| sim.set_mode(kasync::io::sim::SimMode::Immediate));
        let (mut b_done, mut d_done) = (false, d_poll.is_ready());
        for _ in 0..4 {
            reactor.turn();
            if !b_done {
                b_done = poll_once(b.as_mut()).is_ready();
            }
            if !d_done {
                d_done = poll_once(d.as_mut()).is_ready();
            }
        }
    }
    // SAFETY: as above.
    unsafe { place.assume_init_drop() };
    let (d_took, b_got, _) = outcome;
    assert!(
        b_got && !d_took,
        "the promised slot went to the newcomer (newcomer got a slot: {d_took}, first waiter got one: {b_got})"
    );
}

/// An allocator that, while the reactor grows, submits an operation of its
/// own on the same (`'static`, safely pinned) reactor. Nothing in the
/// `ChunkAlloc` contract forbids it. The executor's growth is lock-free and
/// copes with such re-entry; the reactor's `claim_growing` read `fresh`
/// before calling `grow` and hands out the same slot twice.
#[test]
fn reentrant_allocator_gets_a_slot_handed_out_twice() {
    type R = Reactor<SimDriver<'static, 8>, &'static ManualClock, 1>;
    let alloc = Flaky::leak();
    let clock: &'static ManualClock = keep(Box::leak(Box::new(ManualClock::new(1_000))));
    let place: &'static mut std::mem::MaybeUninit<R> = Box::leak(Box::new_uninit());
    let reactor: &'static R = R::init_growing(
        place,
        SimDriver::new(clock).held(),
        clock,
        Growth::new(alloc).chunk_slots(4),
    );
    keep(reactor);
    let reactor = Pin::static_ref(reactor);
    let io = reactor.handle();
    let mut first = Box::pin(io.submit(SimNop));
    assert!(poll_once(first.as_mut()).is_pending()); // inline slot 0
    // The next growth runs this inside the allocator.
    let inner_id: Rc<Cell<Option<kasync::io::OpId>>> = Rc::new(Cell::new(None));
    let inner_id2 = inner_id.clone();
    HOOK.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            let mut inner = Box::pin(io.submit(SimNop));
            let _ = poll_once(inner.as_mut());
            inner_id2.set(inner.id());
            keep_leaked(inner);
        }))
    });
    let mut outer = Box::pin(io.submit(SimNop));
    let r = quiet(|| poll_once(outer.as_mut()));
    let outer_id = outer.id();
    keep_leaked(outer);
    keep_leaked(first);
    eprintln!(
        "inner {:?}, outer {:?}, outer poll ok: {}",
        inner_id.get(),
        outer_id,
        r.is_ok()
    );
    assert!(
        r.is_ok(),
        "the outer submission panicked (an internal assertion)"
    );
    assert_ne!(
        inner_id.get().map(|i| i.index()),
        outer_id.map(|i| i.index()),
        "two operations in one slot"
    );
}

/// A growing reactor asked for zero slots gets one (a limit of 0 is taken
/// as 1): its submissions complete instead of waiting forever.
#[test]
fn reactor_with_max_slots_zero() {
    let alloc = Flaky::leak();
    let clock = ManualClock::new(1_000);
    let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 2>>::new_uninit();
    let reactor = Reactor::init_growing(
        &mut place,
        Sim::new(&clock),
        &clock,
        Growth::new(alloc).max_slots(0),
    );
    // SAFETY: stays in its box until dropped in place below.
    let reactor = unsafe { Pin::new_unchecked(&*reactor) };
    let waits;
    {
        assert!(reactor.capacity() <= 1);
        let io = reactor.handle();
        let mut a = pin!(io.submit(SimNop));
        let _ = poll_once(a.as_mut());
        reactor.turn();
        waits = poll_once(a.as_mut()).is_pending();
    }
    // SAFETY: as above.
    unsafe { place.assume_init_drop() };
    assert!(!waits, "max_slots(0): a submission waits forever");
}

/// The re-entrant allocator case carried through: an allocator that
/// submits a read while the reactor grows for another read. Each read has
/// its own slot and id and gets its own buffer back; nothing is written
/// into a freed buffer (miri would report it).
#[test]
fn reentrant_allocator_use_after_free() {
    type R = Reactor<SimDriver<'static, 8>, &'static ManualClock, 1>;
    type InnerFut = Pin<
        Box<kasync::io::Op<'static, Read, SimDriver<'static, 8>, &'static ManualClock, 1, 128>>,
    >;
    let alloc = Flaky::leak();
    let clock: &'static ManualClock = keep(Box::leak(Box::new(ManualClock::new(1_000))));
    let place: &'static mut std::mem::MaybeUninit<R> = Box::leak(Box::new_uninit());
    let reactor: &'static R = R::init_growing(
        place,
        SimDriver::new(clock).held(),
        clock,
        Growth::new(alloc).chunk_slots(4),
    );
    keep(reactor);
    let reactor = Pin::static_ref(reactor);
    let io = reactor.handle();
    let never = Rc::new(Cell::new(false));
    let drops = Rc::new(Cell::new(0));
    let mut first = Box::pin(io.submit(SimNop));
    assert!(poll_once(first.as_mut()).is_pending()); // inline slot 0
    let inner: Rc<RefCell<Option<InnerFut>>> = Rc::new(RefCell::new(None));
    let (inner2, never2, drops2) = (inner.clone(), never.clone(), drops.clone());
    HOOK.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            let mut op: InnerFut = Box::pin(io.submit(read(&never2, &drops2)));
            let _ = poll_once(op.as_mut());
            *inner2.borrow_mut() = Some(op);
        }))
    });
    let mut outer = Box::pin(io.submit(read(&never, &drops)));
    // Grows the table; the allocator submits `inner` meanwhile.
    assert!(poll_once(outer.as_mut()).is_pending());
    let mut inner = inner.borrow_mut().take().expect("the allocator submitted");
    reactor.turn();
    let _ = poll_once(outer.as_mut());
    if let (Some(a), Some(b)) = (outer.id(), inner.id()) {
        assert_ne!(a.index(), b.index(), "two operations in one slot");
    }
    // Everything completes, each read with its own buffer, in its own slot.
    reactor.with_driver(|sim| sim.set_mode(kasync::io::sim::SimMode::Immediate));
    let (mut outer_done, mut inner_done) = (None, None);
    for _ in 0..10 {
        reactor.turn();
        if outer_done.is_none() {
            if let Poll::Ready(out) = poll_once(outer.as_mut()) {
                outer_done = Some(out);
            }
        }
        if inner_done.is_none() {
            if let Poll::Ready(out) = poll_once(inner.as_mut()) {
                inner_done = Some(out);
            }
        }
    }
    let (outer_c, outer_buf) = outer_done.expect("the outer read completes");
    let (inner_c, inner_buf) = inner_done.expect("the inner read completes");
    assert_eq!((outer_c.result, inner_c.result), (8, 8));
    assert!(!std::ptr::eq(&*outer_buf, &*inner_buf));
    drop((outer_buf, inner_buf));
    assert!(poll_once(first.as_mut()).is_ready());
    assert_eq!(drops.get(), 2, "each read's operation dropped once");
}
