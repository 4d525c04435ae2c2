//! The life of an in-flight operation, against the simulated backend:
//! completion before and after the first poll, drop while in flight,
//! explicit cancel that wins and that loses, resources produced despite a
//! cancel, shutdown with operations in flight, a full op table, a full
//! backend queue — and a seeded random soak over all of it.
//!
//! Buffers here are heap boxes, so a buffer released before the backend is
//! done with it is a use-after-free that miri reports when the simulator
//! writes into it at completion time.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::mem::ManuallyDrop;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::Stream;
use kasync::chunk::Growth;
use kasync::executor::{Drive, Executor, Spin};
use kasync::io::errno::ECANCELED;
use kasync::io::sim::{
    SimDriver, SimFd, SimNop, SimOp, SimOpen, SimOutcome, SimRead, SimRng, SimWrite,
};
use kasync::io::{Completion, IoBuf, IoBufMut, Multishot, Operation, Reactor};
use kasync::time::ManualClock;
use kasync_tests::wake::counting_waker;

mod support;
use support::heap::leak_heap;

/// A heap buffer that counts how often buffers of its family are dropped.
struct TestBuf {
    data: Box<[u8]>,
    init: usize,
    drops: Rc<Cell<usize>>,
}

impl TestBuf {
    fn new(len: usize, drops: &Rc<Cell<usize>>) -> Self {
        Self {
            data: vec![0; len].into_boxed_slice(),
            init: 0,
            drops: drops.clone(),
        }
    }
    fn filled(len: usize, drops: &Rc<Cell<usize>>) -> Self {
        let mut buf = Self::new(len, drops);
        buf.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        buf.init = len;
        buf
    }
}

impl Drop for TestBuf {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

// SAFETY: a boxed slice does not move when the box does; `init` never
// exceeds its length.
unsafe impl IoBuf for TestBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.data.len()
    }
}

// SAFETY: as above; the box is exclusively ours.
unsafe impl IoBufMut for TestBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.init = self.init.max(n.min(self.data.len()));
    }
}

/// A read that also returns its completion, so tests can check that the
/// data in the buffer belongs to this very operation.
struct CheckedRead(TestBuf);

// SAFETY: the read's pointer and length come from the owned `TestBuf`,
// whose boxed bytes do not move with it.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for CheckedRead {
    type Output = (Completion, TestBuf);
    fn build(&mut self) -> SimOp {
        SimOp::Read {
            ptr: self.0.stable_mut_ptr(),
            len: self.0.bytes_total(),
        }
    }
    fn complete(self, completion: Completion) -> Self::Output {
        (completion, self.0)
    }
}

/// Asserts that `buf` holds what the simulator writes for `completion`
/// (nothing to check for a failed read).
fn assert_data_matches(completion: Completion, buf: &TestBuf) {
    let Ok(n) = usize::try_from(completion.result) else {
        return;
    };
    for (i, &b) in buf.data[..n].iter().enumerate() {
        assert_eq!(
            b,
            (completion.flags as u8).wrapping_add(i as u8),
            "byte {i} of op #{}",
            completion.flags
        );
    }
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

type Sim<'c> = SimDriver<'c, 8>;

macro_rules! reactor {
    ($clock:ident, $driver:expr, $m:literal) => {
        pin!(Reactor::<_, &ManualClock, $m>::new($driver, &$clock))
    };
}

#[test]
fn completion_after_and_before_the_next_poll() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let (woken, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);

    // Completion arrives after the first poll: the waker is woken.
    let mut nop = pin!(io.submit(SimNop));
    assert!(nop.as_mut().poll(&mut cx).is_pending());
    assert_eq!(reactor.in_flight(), 1);
    reactor.turn();
    assert_eq!(woken.get(), 1);
    assert_eq!(
        nop.as_mut().poll(&mut cx),
        Poll::Ready(Completion {
            result: 0,
            flags: 1
        })
    );
    assert_eq!(reactor.occupied(), 0);

    // Completion arrives before the task gets to poll again: still there.
    let drops = Rc::new(Cell::new(0));
    let mut read = pin!(io.submit(SimRead::new(TestBuf::new(16, &drops))));
    assert!(poll_once(read.as_mut()).is_pending());
    reactor.turn();
    reactor.turn();
    let Poll::Ready((Ok(16), buf)) = poll_once(read.as_mut()) else {
        panic!("read not done")
    };
    assert_eq!(buf.init, 16);
    assert_eq!(drops.get(), 0);
}

#[test]
fn late_and_out_of_order_completions() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();
    let drops = Rc::new(Cell::new(0));
    let mut first = pin!(io.submit(CheckedRead(TestBuf::new(8, &drops))));
    let mut second = pin!(io.submit(CheckedRead(TestBuf::new(8, &drops))));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    reactor.turn(); // flushed; nothing decided yet
    let (id1, id2) = (first.id().unwrap(), second.id().unwrap());
    for _ in 0..3 {
        reactor.turn();
        assert!(
            poll_once(first.as_mut()).is_pending(),
            "held: not completed"
        );
    }
    reactor.with_driver(|sim| {
        assert!(sim.decide(id2, SimOutcome::Short(3)));
    });
    reactor.turn();
    assert!(poll_once(first.as_mut()).is_pending());
    let Poll::Ready((c2, b2)) = poll_once(second.as_mut()) else {
        panic!()
    };
    assert_eq!(c2.result, 3);
    assert_data_matches(c2, &b2);
    reactor.with_driver(|sim| assert!(sim.decide(id1, SimOutcome::Error(5))));
    reactor.turn();
    let Poll::Ready((c1, _)) = poll_once(first.as_mut()) else {
        panic!()
    };
    assert_eq!(c1.result, -5);
}

#[test]
fn dropped_while_in_flight_the_buffer_waits_for_the_completion() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();
    let drops = Rc::new(Cell::new(0));
    let id = {
        let mut read = pin!(io.submit(SimRead::new(TestBuf::new(64, &drops))));
        assert!(poll_once(read.as_mut()).is_pending());
        read.id().unwrap()
    }; // the future is dropped here, the backend still holds the buffer
    assert_eq!(drops.get(), 0, "buffer not released while in flight");
    assert_eq!(reactor.in_flight(), 1);
    reactor.turn();
    assert!(
        reactor.with_driver(|sim| sim.cancel_requested(id)),
        "a cancel was requested"
    );
    // The backend ignores the cancel and writes into the buffer late.
    reactor.with_driver(|sim| assert!(sim.decide(id, SimOutcome::Full)));
    reactor.turn();
    assert_eq!(drops.get(), 1, "released once the completion arrived");
    assert_eq!(reactor.in_flight(), 0);
    assert_eq!(reactor.occupied(), 0);
    assert_eq!(
        reactor.with_driver(|sim| sim.stats().completed_despite_cancel),
        1
    );
}

#[test]
fn explicit_cancel_that_wins_and_that_loses() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();
    let drops = Rc::new(Cell::new(0));

    // Wins: the backend cancels, the buffer comes back untouched.
    let mut read = pin!(io.submit(CheckedRead(TestBuf::new(8, &drops))));
    assert!(poll_once(read.as_mut()).is_pending());
    let id = read.id().unwrap();
    let mut cancel = pin!(read.as_mut().cancel());
    assert!(poll_once(cancel.as_mut()).is_pending());
    reactor.turn();
    reactor.with_driver(|sim| {
        assert!(sim.cancel_requested(id));
        sim.decide(id, SimOutcome::Cancelled);
    });
    reactor.turn();
    let Poll::Ready((c, buf)) = poll_once(cancel.as_mut()) else {
        panic!()
    };
    assert_eq!(c.result, -ECANCELED);
    assert_eq!(buf.data.len(), 8);
    assert_eq!(drops.get(), 0, "the buffer came back to us");
    drop(buf);

    // Loses: the data arrived anyway and is not lost.
    let mut read = pin!(io.submit(CheckedRead(TestBuf::new(8, &drops))));
    assert!(poll_once(read.as_mut()).is_pending());
    let id = read.id().unwrap();
    let mut cancel = pin!(read.as_mut().cancel());
    assert!(poll_once(cancel.as_mut()).is_pending());
    reactor.turn();
    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
    reactor.turn();
    let Poll::Ready((c, buf)) = poll_once(cancel.as_mut()) else {
        panic!()
    };
    assert_eq!(c.result, 8);
    assert_data_matches(c, &buf);

    // Never submitted: cancelled at once, buffer returned.
    let mut read = pin!(io.submit(CheckedRead(TestBuf::new(8, &drops))));
    let Poll::Ready((c, _buf)) = poll_once(pin!(read.as_mut().cancel())) else {
        panic!()
    };
    assert_eq!(c.result, -ECANCELED);
    assert_eq!(reactor.occupied(), 0);
    assert_eq!(drops.get(), 1, "only the first buffer was dropped so far");
}

#[test]
fn resource_produced_despite_cancel_is_closed() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();

    // Dropped in flight; the backend completes it anyway with a descriptor.
    let id = {
        let mut open = pin!(io.submit(SimOpen));
        assert!(poll_once(open.as_mut()).is_pending());
        open.id().unwrap()
    };
    reactor.turn();
    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
    reactor.turn();

    // Completed, but the future was dropped before it took the descriptor.
    {
        let mut open = pin!(io.submit(SimOpen));
        assert!(poll_once(open.as_mut()).is_pending());
        let id = open.id().unwrap();
        reactor.turn();
        reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
        reactor.turn();
    }
    reactor.turn();

    // A descriptor that was taken is the caller's to close.
    let mut open = pin!(io.submit(SimOpen));
    assert!(poll_once(open.as_mut()).is_pending());
    let id = open.id().unwrap();
    reactor.turn();
    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
    reactor.turn();
    let Poll::Ready(Ok(fd)) = poll_once(open.as_mut()) else {
        panic!()
    };
    reactor.with_driver(|sim| {
        let stats = sim.stats();
        assert_eq!(stats.opened, 3);
        assert_eq!(stats.closed, 2, "the two orphaned descriptors were closed");
        assert_eq!(sim.open_fds(), 1);
        sim.close(fd);
        assert_eq!(sim.open_fds(), 0);
        assert_eq!(sim.stats().bad_closes, 0, "nothing closed twice");
    });
}

/// Leaks `value` on purpose — "a future was forgotten" — but keeps the
/// allocation reachable from a static, so miri does not call it a leak.
fn leak<T>(value: T) {
    struct Kept(#[allow(dead_code)] *mut ());
    // SAFETY: the pointer is only stored, never used.
    unsafe impl Send for Kept {}
    static KEPT: std::sync::Mutex<Vec<Kept>> = std::sync::Mutex::new(Vec::new());
    KEPT.lock()
        .unwrap()
        .push(Kept(Box::into_raw(Box::new(value)).cast()));
}

#[test]
fn dropping_the_reactor_waits_for_every_completion() {
    let seeds = if cfg!(miri) { 2 } else { 20 };
    for seed in 0..seeds {
        let clock = ManualClock::new(1_000);
        let drops = Rc::new(Cell::new(0));
        let created = 6;
        {
            let reactor = reactor!(clock, Sim::new(&clock).random(seed), 8);
            let io = reactor.as_ref().handle();
            let mut dropped = Vec::new();
            for i in 0..created {
                let buf = TestBuf::new(32, &drops);
                let mut op = Box::pin(io.submit(SimRead::new(buf)));
                assert!(poll_once(op.as_mut()).is_pending());
                if i % 2 == 0 {
                    dropped.push(op); // dropped below, in flight
                } else {
                    // Forgotten: never dropped, never polled again.
                    let op = ManuallyDrop::new(op);
                    leak(ManuallyDrop::into_inner(op));
                }
            }
            drop(dropped);
            assert_eq!(drops.get(), 0, "no buffer released while in flight");
            // `reactor` is dropped here: cancel all, wait for each completion.
        }
        assert_eq!(
            drops.get(),
            created,
            "seed {seed}: every buffer released exactly once"
        );
    }
}

#[test]
fn full_op_table_makes_submissions_wait() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 2);
    let io = reactor.as_ref().handle();
    let (w3, waker3) = counting_waker();
    let mut a = pin!(io.submit(SimNop));
    let mut b = pin!(io.submit(SimNop));
    let mut c = pin!(io.submit(SimNop));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    assert!(
        c.as_mut()
            .poll(&mut Context::from_waker(&waker3))
            .is_pending()
    );
    assert_eq!(c.id(), None, "no slot for the third");
    assert_eq!(reactor.occupied(), 2);
    reactor.turn();
    assert!(poll_once(a.as_mut()).is_ready());
    assert_eq!(w3.get(), 1, "a freed slot wakes the waiter");
    assert!(poll_once(c.as_mut()).is_pending());
    assert!(c.id().is_some());
    reactor.turn();
    assert!(poll_once(b.as_mut()).is_ready());
    assert!(poll_once(c.as_mut()).is_ready());
    assert_eq!(reactor.occupied(), 0);
}

/// A growing op table adds chunks instead of making submissions wait:
/// operations in chunk slots complete into their own buffers, operations
/// dropped while in flight there are released once, a freed chunk slot is
/// reused, and the reactor's drop gives every chunk back. At the growth
/// limit submissions wait again.
#[test]
fn a_growing_op_table_holds_more_than_its_inline_slots() {
    let heap = leak_heap();
    let clock = ManualClock::new(1_000);
    let drops = Rc::new(Cell::new(0));
    let n = if cfg!(miri) { 7 } else { 24 };
    {
        let mut place = Box::<Reactor<SimDriver<'_, 32>, &ManualClock, 2>>::new_uninit();
        let reactor = Reactor::init_growing(
            &mut place,
            SimDriver::new(&clock).held(),
            &clock,
            Growth::new(heap).chunk_slots(2),
        );
        // SAFETY: the reactor stays in its box until dropped in place below.
        let reactor = unsafe { Pin::new_unchecked(&*reactor) };
        let io = reactor.handle();
        let mut reads: Vec<_> = (0..n)
            .map(|_| Box::pin(io.submit(CheckedRead(TestBuf::new(16, &drops)))))
            .collect();
        for read in &mut reads {
            assert!(poll_once(read.as_mut()).is_pending());
            assert!(read.id().is_some(), "a slot for every submission");
        }
        assert_eq!(reactor.occupied(), n);
        assert!(reactor.capacity() >= n);
        reactor.turn();
        // The last one's future goes away while the backend holds its buffer.
        let dropped = reads.pop().unwrap();
        let dropped_id = dropped.id().unwrap();
        drop(dropped);
        let ids: Vec<_> = reads.iter().map(|r| r.id().unwrap()).collect();
        for &id in ids.iter().chain([&dropped_id]) {
            reactor.with_driver(|sim| assert!(sim.decide(id, SimOutcome::Full)));
        }
        reactor.turn();
        assert_eq!(drops.get(), 1, "the orphan's buffer, once");
        for read in &mut reads {
            match poll_once(read.as_mut()) {
                Poll::Ready((completion, buf)) => assert_data_matches(completion, &buf),
                Poll::Pending => panic!("completed"),
            }
        }
        drop(reads);
        assert_eq!(drops.get(), n);
        assert_eq!(reactor.occupied(), 0);
        let grown = reactor.capacity();
        let mut again = Box::pin(io.submit(SimNop));
        assert!(poll_once(again.as_mut()).is_pending());
        assert_eq!(reactor.capacity(), grown, "a freed slot is reused");
        reactor.with_driver(|sim| sim.set_mode(kasync::io::sim::SimMode::Immediate));
        drop(again);
        // SAFETY: `init_growing` initialised it; dropping it in place is
        // what the pin promises.
        unsafe { place.assume_init_drop() };
    }
    assert_eq!(
        heap.live.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "chunks given back"
    );

    // A limit: the third submission waits for a slot.
    let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 1>>::new_uninit();
    let reactor = Reactor::init_growing(
        &mut place,
        Sim::new(&clock),
        &clock,
        Growth::new(heap).chunk_slots(1).max_slots(2),
    );
    {
        // SAFETY: the reactor stays in its box until dropped in place below.
        let reactor = unsafe { Pin::new_unchecked(&*reactor) };
        let io = reactor.handle();
        let mut a = pin!(io.submit(SimNop));
        let mut b = pin!(io.submit(SimNop));
        let mut c = pin!(io.submit(SimNop));
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        assert!(poll_once(c.as_mut()).is_pending());
        assert_eq!(c.id(), None, "no slot beyond the limit");
        reactor.turn();
        assert!(poll_once(a.as_mut()).is_ready());
        assert!(poll_once(c.as_mut()).is_pending());
        assert!(c.id().is_some(), "a freed slot goes to the waiter");
        reactor.turn();
        assert!(poll_once(b.as_mut()).is_ready());
        assert!(poll_once(c.as_mut()).is_ready());
    }
    // SAFETY: as above.
    unsafe { place.assume_init_drop() };
}

/// Operations in chunk slots that find the backend's queue full are held
/// back and handed over on later turns, in order, like inline ones.
#[test]
fn held_back_operations_in_chunk_slots_are_retried() {
    let heap = leak_heap();
    let clock = ManualClock::new(1_000);
    let mut place = Box::<Reactor<Sim<'_>, &ManualClock, 2>>::new_uninit();
    let reactor = Reactor::init_growing(
        &mut place,
        Sim::new(&clock),
        &clock,
        Growth::new(heap).chunk_slots(4),
    );
    // SAFETY: the reactor stays in its box until dropped in place below.
    let reactor = unsafe { Pin::new_unchecked(&*reactor) };
    {
        let io = reactor.handle();
        let n = 20; // the simulator's queue holds 8
        let mut nops: Vec<_> = (0..n).map(|_| Box::pin(io.submit(SimNop))).collect();
        for nop in &mut nops {
            assert!(poll_once(nop.as_mut()).is_pending());
        }
        assert_eq!(reactor.occupied(), n);
        assert!(reactor.in_flight() < n, "some were held back");
        let mut done = 0;
        for _ in 0..n {
            reactor.turn();
            for nop in &mut nops {
                if nop.id().is_some() && poll_once(nop.as_mut()).is_ready() {
                    done += 1;
                }
            }
            if done == n {
                break;
            }
        }
        assert_eq!(done, n);
        assert_eq!(reactor.occupied(), 0);
    }
    // SAFETY: the reactor stays in its box until here.
    unsafe { place.assume_init_drop() };
}

/// A submission takes the slot freed last (still in the cache), not the
/// next one in table order; slots never used are taken only when none was
/// freed.
#[test]
fn the_slot_freed_last_is_reused_first() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 8);
    let io = reactor.as_ref().handle();
    let mut ops: Vec<_> = (0..4).map(|_| Box::pin(io.submit(SimNop))).collect();
    for op in &mut ops {
        assert!(poll_once(op.as_mut()).is_pending());
    }
    let ids: Vec<_> = ops.iter().map(|op| op.id().expect("submitted")).collect();
    reactor.turn();
    // Finish the second, then the fourth: the fourth's slot is reused first.
    assert!(poll_once(ops[1].as_mut()).is_ready());
    assert!(poll_once(ops[3].as_mut()).is_ready());
    let mut next = Box::pin(io.submit(SimNop));
    assert!(poll_once(next.as_mut()).is_pending());
    let reused = next.id().expect("submitted");
    assert_eq!(reused.index(), ids[3].index());
    assert_ne!(reused, ids[3], "a reused slot has a new generation");
    let mut after = Box::pin(io.submit(SimNop));
    assert!(poll_once(after.as_mut()).is_pending());
    assert_eq!(after.id().expect("submitted").index(), ids[1].index());
    let mut fresh = Box::pin(io.submit(SimNop));
    assert!(poll_once(fresh.as_mut()).is_pending());
    assert_eq!(
        fresh.id().expect("submitted").index(),
        4,
        "then unused slots"
    );
    reactor.turn();
    ops.extend([next, after, fresh]);
    for (i, op) in ops.iter_mut().enumerate() {
        if i != 1 && i != 3 {
            assert!(poll_once(op.as_mut()).is_ready());
        }
    }
    assert_eq!(reactor.occupied(), 0);
}

/// With the op table full, freed slots go to the waiting submissions in
/// the order they came, and a newcomer queues behind them instead of
/// taking a slot promised to a woken waiter.
#[test]
fn free_slots_go_to_waiters_in_line_order() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 1);
    let io = reactor.as_ref().handle();
    let mut holder = Box::pin(io.submit(SimNop));
    assert!(poll_once(holder.as_mut()).is_pending());
    let (counts, wakers): (Vec<_>, Vec<_>) = (0..4).map(|_| counting_waker()).unzip();
    let mut line: Vec<_> = (0..3).map(|_| Box::pin(io.submit(SimNop))).collect();
    for (op, waker) in line.iter_mut().zip(&wakers) {
        assert!(
            op.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
    }
    let woken = || counts.iter().map(|c| c.get()).collect::<Vec<_>>();
    let mut newcomer = None;
    for turn in 0..3 {
        reactor.turn();
        if turn == 0 {
            assert!(poll_once(holder.as_mut()).is_ready());
            // Arrives while the freed slot is promised to the first waiter.
            let mut late = Box::pin(io.submit(SimNop));
            let mut cx = Context::from_waker(&wakers[3]);
            assert!(late.as_mut().poll(&mut cx).is_pending());
            assert_eq!(late.id(), None, "the newcomer does not take it");
            newcomer = Some(late);
        } else {
            assert!(poll_once(line[turn - 1].as_mut()).is_ready());
        }
        let mut expected = vec![0; 4];
        expected[..=turn].fill(1);
        assert_eq!(woken(), expected, "turn {turn}: the next in line is woken");
        let mut cx = Context::from_waker(&wakers[turn]);
        assert!(line[turn].as_mut().poll(&mut cx).is_pending());
        assert!(line[turn].id().is_some(), "and takes the slot");
        // Count only the wake-ups for slots: its completion wakes no one.
        assert!(poll_once(line[turn].as_mut()).is_pending());
    }
    reactor.turn();
    assert!(poll_once(line[2].as_mut()).is_ready());
    assert_eq!(woken(), [1, 1, 1, 1], "the newcomer's turn comes last");
    let mut late = newcomer.expect("made in the first turn");
    assert!(poll_once(late.as_mut()).is_pending());
    reactor.turn();
    assert!(poll_once(late.as_mut()).is_ready());
    assert_eq!(reactor.occupied(), 0);
}

/// A waiter that was offered a freed slot and then cancelled or dropped
/// instead of taking it passes the offer to the next waiter.
#[test]
fn a_waiter_that_gives_up_an_offered_slot_passes_it_on() {
    for give_up_by_cancel in [true, false] {
        let clock = ManualClock::new(1_000);
        let reactor = reactor!(clock, Sim::new(&clock), 1);
        let io = reactor.as_ref().handle();
        let (w2, waker2) = counting_waker();
        let (w3, waker3) = counting_waker();
        let mut cx2 = Context::from_waker(&waker2);
        let mut cx3 = Context::from_waker(&waker3);
        let mut first = pin!(io.submit(SimNop));
        assert!(poll_once(first.as_mut()).is_pending());
        let mut second = Box::pin(io.submit(SimNop));
        let mut third = pin!(io.submit(SimNop));
        assert!(second.as_mut().poll(&mut cx2).is_pending());
        assert!(third.as_mut().poll(&mut cx3).is_pending());
        reactor.turn();
        assert!(poll_once(first.as_mut()).is_ready());
        assert_eq!(
            (w2.get(), w3.get()),
            (1, 0),
            "the freed slot is offered to one waiter, the first in line"
        );
        if give_up_by_cancel {
            let output = poll_once(pin!(second.as_mut().cancel()));
            assert!(output.is_ready(), "never submitted: cancelled at once");
        }
        drop(second);
        assert_eq!(w3.get(), 1, "the offer went on to the other waiter");
        assert!(third.as_mut().poll(&mut cx3).is_pending());
        assert!(third.id().is_some(), "and it took the slot");
        reactor.turn();
        assert!(third.as_mut().poll(&mut cx3).is_ready());
        assert_eq!(reactor.occupied(), 0);
    }
}

/// An operation whose `build` panics: the panic reaches the poller, the
/// operation (and its buffer) is dropped, the slot is free again, and the
/// reactor goes on.
#[test]
fn a_panicking_build_frees_its_slot() {
    struct Broken {
        _buf: TestBuf,
    }
    // SAFETY: `build` never returns a description.
    unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for Broken {
        type Output = ();
        fn build(&mut self) -> SimOp {
            panic!("cannot describe this operation");
        }
        fn complete(self, _: Completion) {}
    }
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 2);
    let io = reactor.as_ref().handle();
    let drops = Rc::new(Cell::new(0));
    let mut broken = Box::pin(io.submit(Broken {
        _buf: TestBuf::new(8, &drops),
    }));
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(broken.as_mut())));
    assert!(panicked.is_err(), "the panic reaches the poller");
    assert_eq!(drops.get(), 1, "the operation and its buffer were dropped");
    assert_eq!(reactor.occupied(), 0, "the slot is free again");
    drop(broken);
    let mut nop = pin!(io.submit(SimNop));
    assert!(poll_once(nop.as_mut()).is_pending());
    reactor.turn();
    assert!(poll_once(nop.as_mut()).is_ready());
    assert_eq!(reactor.occupied(), 0);
}

#[test]
fn full_backend_queue_is_retried_after_a_flush() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, SimDriver::<1>::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let mut ops: Vec<_> = (0..3).map(|_| Box::pin(io.submit(SimNop))).collect();
    for op in &mut ops {
        assert!(poll_once(op.as_mut()).is_pending());
    }
    assert_eq!(reactor.occupied(), 3);
    assert_eq!(
        reactor.in_flight(),
        1,
        "the queue holds one; two wait in the table"
    );
    let mut done = 0;
    for _ in 0..10 {
        reactor.turn();
        ops.retain_mut(|op| {
            let ready = poll_once(op.as_mut()).is_ready();
            done += usize::from(ready);
            !ready
        });
    }
    assert_eq!(done, 3);
    assert_eq!(reactor.with_driver(|sim| sim.stats().submitted), 3);
}

/// Operations held back by a full backend queue are handed over first
/// come, first served: a later submission does not take the room a flush
/// made while an earlier one still waits.
#[test]
fn held_back_operations_are_not_overtaken() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, SimDriver::<1>::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let mut first = pin!(io.submit(SimNop));
    let mut held = pin!(io.submit(SimNop));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(held.as_mut()).is_pending());
    assert_eq!(reactor.in_flight(), 1, "the queue holds one");
    reactor.turn();
    assert!(poll_once(first.as_mut()).is_ready());
    // The turn flushed the queue; a new submission finds room in it.
    let mut later = pin!(io.submit(SimNop));
    assert!(poll_once(later.as_mut()).is_pending());
    reactor.turn();
    assert!(
        poll_once(held.as_mut()).is_ready(),
        "the held-back operation went first"
    );
    assert!(poll_once(later.as_mut()).is_pending());
    reactor.turn();
    assert!(poll_once(later.as_mut()).is_ready());
    assert_eq!(reactor.occupied(), 0);
}

/// A held-back submission that is dropped gives its place in line up: a
/// new submission that takes its slot at once queues behind every
/// operation that waited before it, not in the dropped one's place.
#[test]
fn a_submission_in_a_dropped_ones_slot_queues_last() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, SimDriver::<1>::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let mut first = pin!(io.submit(SimNop));
    let mut dropped = Box::pin(io.submit(SimNop));
    let mut waiting = pin!(io.submit(SimNop));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(dropped.as_mut()).is_pending());
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!(reactor.in_flight(), 1, "the queue holds one; two wait");
    drop(dropped);
    // Takes the slot just freed (the free stack reuses it first).
    let mut later = pin!(io.submit(SimNop));
    assert!(poll_once(later.as_mut()).is_pending());
    reactor.turn();
    assert!(poll_once(first.as_mut()).is_ready());
    reactor.turn();
    assert!(
        poll_once(waiting.as_mut()).is_ready(),
        "the operation that waited longer went first"
    );
    assert!(
        poll_once(later.as_mut()).is_pending(),
        "the later one waits its turn"
    );
    reactor.turn();
    assert!(poll_once(later.as_mut()).is_ready());
    assert_eq!(reactor.occupied(), 0);
    assert_eq!(reactor.with_driver(|sim| sim.stats().submitted), 3);
}

/// An operation whose `build` panics when it is retried after a full
/// backend queue (a full queue does not build it, so the retry is its first
/// build): the panic reaches the turn once, then the operation completes as
/// cancelled (its buffer comes back) and nothing panics again.
#[test]
fn a_build_that_panics_on_retry_fails_its_operation_once() {
    struct Flaky {
        buf: TestBuf,
    }
    // SAFETY: `build` never returns a description.
    unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for Flaky {
        type Output = (Completion, TestBuf);
        fn build(&mut self) -> SimOp {
            panic!("cannot describe this operation")
        }
        fn complete(self, completion: Completion) -> Self::Output {
            (completion, self.buf)
        }
    }
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, SimDriver::<1>::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let drops = Rc::new(Cell::new(0));
    let mut first = pin!(io.submit(SimNop));
    assert!(poll_once(first.as_mut()).is_pending());
    // The queue (one entry) is full: the flaky one waits in the table.
    let mut flaky = pin!(io.submit(Flaky {
        buf: TestBuf::new(8, &drops),
    }));
    assert!(poll_once(flaky.as_mut()).is_pending());
    assert_eq!(reactor.in_flight(), 1);
    let turns_panicking = (0..3)
        .filter(|_| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.turn())).is_err()
        })
        .count();
    assert_eq!(turns_panicking, 1, "the panic comes back once");
    let Poll::Ready((completion, buf)) = poll_once(flaky.as_mut()) else {
        panic!("the failed operation resolves");
    };
    assert_eq!(completion.result, -ECANCELED);
    assert_eq!(buf.bytes_total(), 8, "the buffer came back");
    assert!(poll_once(first.as_mut()).is_ready());
    drop(buf);
    assert_eq!(drops.get(), 1);
    assert_eq!(reactor.occupied(), 0);
}

/// A waker that is not a kasync task's may run any code when woken —
/// here it uses the reactor's driver. Such wakers are woken after the reap,
/// with the driver free again (a task's waker is woken during the reap: it
/// only marks the task ready).
#[test]
fn a_foreign_waker_is_woken_after_the_reap() {
    use std::task::Wake;
    thread_local! {
        static ON_WAKE: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
    }
    struct CallsBack;
    impl Wake for CallsBack {
        fn wake(self: Arc<Self>) {
            ON_WAKE.with_borrow(|f| f.as_ref().expect("a callback")());
        }
    }
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 4);
    // Lifetimes erased to fit the thread-local's `'static` callback.
    let reactor_ptr = (&*reactor as *const Reactor<Sim<'_>, &ManualClock, 4>).cast::<()>();
    let used = Rc::new(Cell::new(0));
    let used_in_wake = used.clone();
    let callback: Box<dyn Fn()> = Box::new(move || {
        // SAFETY: the callback runs only during `reactor.turn()` below,
        // while the pinned reactor (of this type, up to lifetimes) lives.
        let reactor = unsafe { &*reactor_ptr.cast::<Reactor<Sim<'static>, &ManualClock, 4>>() };
        reactor.with_driver(|_| used_in_wake.set(used_in_wake.get() + 1));
    });
    ON_WAKE.with_borrow_mut(|f| *f = Some(callback));
    let waker = Waker::from(Arc::new(CallsBack));
    let io = reactor.as_ref().handle();
    let mut nop = pin!(io.submit(SimNop));
    assert!(
        nop.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    reactor.turn();
    assert_eq!(used.get(), 1, "woken once, and the driver was free");
    assert!(poll_once(nop.as_mut()).is_ready());
    ON_WAKE.with_borrow_mut(|f| *f = None);
}

/// Polls every future until all are done.
async fn all<'a>(mut futures: Vec<Pin<Box<dyn Future<Output = ()> + 'a>>>) {
    poll_fn(|cx| {
        futures.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

#[test]
fn timers_run_on_virtual_time_through_the_run_loop() {
    static EXEC: Executor<Spin, 2, 256> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let sleepers: Vec<Pin<Box<dyn Future<Output = ()>>>> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            let order = order.clone();
            Box::pin(async move {
                io.sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push((ms, io.timers().now()));
            }) as Pin<Box<dyn Future<Output = ()>>>
        })
        .collect();
    runner.block_on_with(&*reactor, all(sleepers));
    assert_eq!(*order.borrow(), [(10, 10), (20, 20), (30, 30)]);
    let timed_out = runner.block_on_with(
        &*reactor,
        io.timeout(Duration::from_millis(5), io.sleep(Duration::from_secs(1))),
    );
    assert!(timed_out.is_err());
    assert_eq!(
        reactor.timers().next_deadline(),
        None,
        "the inner sleep was removed"
    );
}

/// Random tasks submit reads, writes, opens and nops; some are awaited, some
/// time out, some are cancelled, some dropped after one poll — on a backend
/// that completes late, out of order, short, with errors, and races every
/// cancel. Afterwards every buffer was released exactly once, every
/// descriptor closed exactly once, and every read's data was its own.
#[test]
fn random_schedules_release_everything_exactly_once() {
    static EXEC: Executor<Spin, 2, 256> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let (seeds, tasks, steps) = if cfg!(miri) { (3, 4, 4) } else { (60, 12, 25) };
    let mut totals = kasync::io::sim::SimStats::default();
    for seed in 0..seeds {
        let clock = ManualClock::new(1_000);
        let reactor = reactor!(clock, Sim::new(&clock).random(seed), 8);
        let io = reactor.as_ref().handle();
        let drops = Rc::new(Cell::new(0));
        let created = Rc::new(Cell::new(0));
        let kept_fds = Rc::new(std::cell::RefCell::new(Vec::<SimFd>::new()));
        let mut rng = SimRng::new(seed);
        let futures: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = (0..tasks)
            .map(|_| {
                let task_seed = rng.next_u64();
                let (drops, created, kept_fds) = (drops.clone(), created.clone(), kept_fds.clone());
                Box::pin(async move {
                    let mut rng = SimRng::new(task_seed);
                    for _ in 0..steps {
                        let len = 1 + rng.below(48) as usize;
                        match rng.below(6) {
                            0 | 1 => {
                                created.set(created.get() + 1);
                                let op = io.submit(CheckedRead(TestBuf::new(len, &drops)));
                                match rng.below(3) {
                                    0 => {
                                        let (c, buf) = op.await;
                                        assert_data_matches(c, &buf);
                                    }
                                    1 => {
                                        let t = Duration::from_millis(rng.below(3));
                                        if let Ok((c, buf)) = io.timeout(t, op).await {
                                            assert_data_matches(c, &buf);
                                        }
                                    }
                                    _ => {
                                        let mut op = pin!(op);
                                        let _ =
                                            poll_fn(|cx| Poll::Ready(op.as_mut().poll(cx))).await;
                                        if op.id().is_some() && rng.chance(50) {
                                            let (c, buf) = op.as_mut().cancel().await;
                                            assert_data_matches(c, &buf);
                                        }
                                    }
                                }
                            }
                            2 => {
                                created.set(created.get() + 1);
                                let op = io.submit(SimWrite::new(TestBuf::filled(len, &drops)));
                                if rng.chance(50) {
                                    let (result, buf) = op.await;
                                    if let Ok(n) = result {
                                        assert!(n <= buf.bytes_init());
                                    }
                                } else {
                                    let _ = io.timeout(Duration::from_millis(1), op).await;
                                }
                            }
                            3 | 4 => {
                                let op = io.submit(SimOpen);
                                let outcome = if rng.chance(50) {
                                    Some(op.await)
                                } else {
                                    io.timeout(Duration::from_millis(rng.below(2)), op)
                                        .await
                                        .ok()
                                };
                                if let Some(Ok(fd)) = outcome {
                                    kept_fds.borrow_mut().push(fd);
                                }
                            }
                            _ => {
                                if rng.chance(50) {
                                    let _ = io.submit(SimNop).await;
                                } else {
                                    io.sleep(Duration::from_millis(rng.below(4))).await;
                                }
                            }
                        }
                    }
                }) as Pin<Box<dyn Future<Output = ()>>>
            })
            .collect();
        runner.block_on_with(&*reactor, all(futures));
        // Orphans whose completion has not arrived yet are finished by the
        // reactor's shutdown.
        reactor.shutdown();
        assert_eq!(reactor.in_flight(), 0);
        assert_eq!(reactor.occupied(), 0, "seed {seed}");
        assert_eq!(
            drops.get(),
            created.get(),
            "seed {seed}: every buffer released exactly once"
        );
        reactor.with_driver(|sim| {
            for fd in kept_fds.borrow_mut().drain(..) {
                sim.close(fd);
            }
            let stats = sim.stats();
            assert_eq!(
                stats.opened, stats.closed,
                "seed {seed}: every descriptor closed ({stats:?})"
            );
            assert_eq!(stats.bad_closes, 0, "seed {seed}: none closed twice");
            assert_eq!(
                stats.completed, stats.submitted,
                "seed {seed}: every operation completed"
            );
            totals.cancelled += stats.cancelled;
            totals.completed_despite_cancel += stats.completed_despite_cancel;
            totals.short += stats.short;
            totals.errors += stats.errors;
            totals.opened += stats.opened;
        });
    }
    eprintln!("soak totals: {totals:?}");
    // The schedules really went down every path.
    assert!(totals.cancelled > 0, "{totals:?}");
    assert!(totals.completed_despite_cancel > 0, "{totals:?}");
    assert!(
        totals.short > 0 && totals.errors > 0 && totals.opened > 0,
        "{totals:?}"
    );
}

#[test]
fn re_registering_the_same_waker_does_not_clone_it() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut op = pin!(io.submit(SimNop));
    assert!(op.as_mut().poll(&mut cx).is_pending());
    let registered = Arc::strong_count(&counter);
    for _ in 0..5 {
        assert!(op.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(Arc::strong_count(&counter), registered, "no new clones");
    let id = op.id().unwrap();
    reactor.turn();
    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
    reactor.turn();
    assert_eq!(counter.get(), 1, "woken exactly once");
    assert!(op.as_mut().poll(&mut cx).is_ready());
}

/// A multishot "accept": one descriptor per completion. Descriptors it must
/// release (nobody takes them) are recorded, and closed by the test.
struct OpenMany {
    count: u32,
    released: Rc<std::cell::RefCell<Vec<u32>>>,
    /// Keep overflowing completions (and hand them out later) instead of
    /// releasing them.
    kept: Option<RefCell<std::collections::VecDeque<u32>>>,
}

// SAFETY: describes no memory; multishot, as `SimOp::OpenMany` is.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for OpenMany {
    type Output = ();
    const MULTISHOT: bool = true;
    fn build(&mut self) -> SimOp {
        SimOp::OpenMany { count: self.count }
    }
    fn complete(self, _: Completion) {}
    fn release(&self, c: Completion) {
        if let Ok(fd) = c.into_result() {
            self.released.borrow_mut().push(fd);
        }
    }
    fn overflow(&self, c: Completion) {
        match (&self.kept, c.into_result()) {
            (Some(kept), Ok(fd)) => kept.borrow_mut().push_back(fd),
            _ => <Self as Operation<SimDriver<'_, Q>>>::release(self, c),
        }
    }
    fn orphaned(self, c: Completion, driver: &SimDriver<'_, Q>) {
        if let Ok(fd) = c.into_result() {
            driver.close(SimFd(fd));
        }
    }
}

// SAFETY: `item` and `take_overflow` touch no backend memory.
unsafe impl<const Q: usize> Multishot<SimDriver<'_, Q>> for OpenMany {
    type Item = Result<u32, i32>;
    fn item(&self, c: Completion) -> Self::Item {
        c.into_result()
    }
    fn take_overflow(&self) -> Option<Self::Item> {
        self.kept.as_ref()?.borrow_mut().pop_front().map(Ok)
    }
}

/// Closes what the stream took and what was released; checks nothing leaked.
fn close_all(
    reactor: &Reactor<Sim<'_>, &ManualClock, 4>,
    taken: &[u32],
    released: &RefCell<Vec<u32>>,
) {
    reactor.with_driver(|sim| {
        for &fd in taken.iter().chain(released.borrow().iter()) {
            sim.close(SimFd(fd));
        }
        let stats = sim.stats();
        assert_eq!(sim.open_fds(), 0, "{stats:?}");
        assert_eq!(stats.bad_closes, 0, "nothing closed twice");
    });
}

#[test]
fn multishot_yields_every_completion_then_ends() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let released = Rc::new(RefCell::new(Vec::new()));
    let mut stream = pin!(io.submit_multishot(OpenMany {
        count: 5,
        released: released.clone(),
        kept: None,
    }));
    let mut taken = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..20 {
        match stream.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(fd)) => taken.push(fd.unwrap()),
            Poll::Ready(None) => break,
            Poll::Pending => reactor.turn(),
        }
    }
    assert_eq!(taken.len(), 5, "one item per completion");
    assert_eq!(reactor.occupied(), 0);
    close_all(&reactor, &taken, &released);
}

#[test]
fn multishot_dropped_midway_releases_the_rest() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();
    let released = Rc::new(RefCell::new(Vec::new()));
    let mut taken = Vec::new();
    {
        let mut stream = pin!(io.submit_multishot(OpenMany {
            count: 50,
            released: released.clone(),
            kept: None,
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(stream.as_mut().poll_next(&mut cx).is_pending());
        let id = stream.id().unwrap();
        reactor.turn();
        // Three completions; the stream takes one, two stay queued.
        for _ in 0..3 {
            reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
            reactor.turn();
        }
        if let Poll::Ready(Some(fd)) = stream.as_mut().poll_next(&mut cx) {
            taken.push(fd.unwrap());
        }
        assert_eq!(taken.len(), 1);
    } // dropped: the two queued are released, a cancel is requested
    assert_eq!(released.borrow().len(), 2);
    reactor.turn();
    let id = reactor.with_driver(|sim| sim.in_flight().next().unwrap());
    // A completion racing the cancel is released too; then the cancel wins.
    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Full));
    reactor.turn();
    reactor.with_driver(|sim| sim.decide(id, SimOutcome::Cancelled));
    reactor.turn();
    assert_eq!(released.borrow().len(), 3);
    assert_eq!(reactor.occupied(), 0);
    close_all(&reactor, &taken, &released);
}

/// A stream that is not polled while its operation keeps completing falls
/// behind: once its queue is full the operation is paused (cancelled),
/// the completions that still arrive go to `overflow` (released here),
/// and the stream yields the queued ones and ends — quietly, no
/// cancellation item. Every descriptor produced was either taken or
/// released, and the backend stopped producing.
#[test]
fn a_multishot_stream_that_falls_behind_is_paused_and_nothing_is_lost() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let released = Rc::new(RefCell::new(Vec::new()));
    let count = kasync::io::MULTISHOT_QUEUE as u32 + 10;
    let mut stream = pin!(io.submit_multishot(OpenMany {
        count,
        released: released.clone(),
        kept: None,
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    // The stream is not polled while the completions arrive.
    for _ in 0..count {
        reactor.turn();
    }
    let mut taken = Vec::new();
    let end = loop {
        match stream.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(fd)) => taken.push(fd.expect("no error item")),
            other => break other,
        }
    };
    assert_eq!(end, Poll::Ready(None), "the paused stream just ends");
    assert_eq!(taken.len(), kasync::io::MULTISHOT_QUEUE, "the queued ones");
    let stats = reactor.with_driver(|sim| sim.stats());
    assert!(stats.opened < count, "paused before the end: {stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert_eq!(
        (taken.len() + released.borrow().len()) as u32,
        stats.opened,
        "none lost"
    );
    assert!(!released.borrow().is_empty(), "the overflow was released");
    close_all(&reactor, &taken, &released);
}

/// An operation that keeps its overflow hands it out after the queued
/// completions, in the order the backend produced them.
#[test]
fn multishot_overflow_kept_by_the_operation_is_handed_out_in_order() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 4);
    let io = reactor.as_ref().handle();
    let released = Rc::new(RefCell::new(Vec::new()));
    let count = kasync::io::MULTISHOT_QUEUE as u32 + 10;
    let op = OpenMany {
        count,
        released: released.clone(),
        kept: Some(Default::default()),
    };
    let mut stream = pin!(io.submit_multishot(op));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    for _ in 0..count {
        reactor.turn();
    }
    let mut taken = Vec::new();
    while let Poll::Ready(Some(fd)) = stream.as_mut().poll_next(&mut cx) {
        taken.push(fd.unwrap());
    }
    let opened = reactor.with_driver(|sim| sim.stats().opened);
    assert_eq!(taken.len() as u32, opened, "every completion handed out");
    assert!(taken.windows(2).all(|w| w[0] < w[1]), "in order: {taken:?}");
    assert!(released.borrow().is_empty());
    close_all(&reactor, &taken, &released);
}

/// Descriptors of a multishot "accept" that lets only two completions wait
/// and keeps its overflow: the simulator hands out increasing numbers, so
/// the order the stream yields them in is checkable.
struct Sequence {
    count: u32,
    backlog: RefCell<std::collections::VecDeque<Result<u32, i32>>>,
}

// SAFETY: describes no memory; multishot, as `SimOp::OpenMany` is.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for Sequence {
    type Output = ();
    const MULTISHOT: bool = true;
    const MAX_PENDING: usize = 2;
    fn build(&mut self) -> SimOp {
        SimOp::OpenMany { count: self.count }
    }
    fn complete(self, _: Completion) {}
    fn overflow(&self, c: Completion) {
        self.backlog.borrow_mut().push_back(c.into_result());
    }
    fn release(&self, c: Completion) {
        panic!("nothing is released here: {c:?}");
    }
}

// SAFETY: `item` and `take_overflow` touch no backend memory.
unsafe impl<const Q: usize> Multishot<SimDriver<'_, Q>> for Sequence {
    type Item = Result<u32, i32>;
    fn item(&self, c: Completion) -> Result<u32, i32> {
        c.into_result()
    }
    fn take_overflow(&self) -> Option<Result<u32, i32>> {
        self.backlog.borrow_mut().pop_front()
    }
}

/// A consumer that is slow on purpose — it takes one item per turn or
/// less while completions keep arriving, so queue, overflow and pauses
/// interleave in every way — and re-submits when a stream ends (paused,
/// or after an error): it gets every descriptor, each once, in the order
/// they were produced.
#[test]
fn a_slow_multishot_consumer_gets_everything_in_order() {
    let (seeds, total) = if cfg!(miri) { (2, 40) } else { (50, 400) };
    for seed in 0..seeds {
        let clock = ManualClock::new(1_000);
        // Random: late completions, cancels that lose (completions keep
        // coming after a pause), errors that end a stream.
        let reactor = reactor!(clock, Sim::new(&clock).random(seed), 4);
        let io = reactor.as_ref().handle();
        let mut rng = SimRng::new(seed);
        let mut cx = Context::from_waker(Waker::noop());
        let mut taken: Vec<u32> = Vec::new();
        let mut streams = 0;
        while taken.len() < total {
            let left = (total - taken.len()) as u32;
            let mut stream = pin!(io.submit_multishot(Sequence {
                count: left,
                backlog: RefCell::default(),
            }));
            streams += 1;
            loop {
                for _ in 0..rng.below(3) {
                    reactor.turn();
                }
                let polls = rng.below(2);
                let mut ended = false;
                for _ in 0..=polls {
                    match stream.as_mut().poll_next(&mut cx) {
                        Poll::Ready(Some(Ok(fd))) => taken.push(fd),
                        // An error ends the stream: its `None` follows.
                        Poll::Ready(Some(Err(_))) => {}
                        Poll::Ready(None) => ended = true,
                        Poll::Pending => {}
                    }
                    if ended {
                        break;
                    }
                }
                if ended {
                    break;
                }
            }
        }
        assert!(
            taken.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: in order, each once: {taken:?}"
        );
        assert!(
            streams > 1,
            "seed {seed}: the consumer was paused at least once"
        );
        reactor.with_driver(|sim| {
            assert_eq!(sim.stats().opened as usize, taken.len(), "seed {seed}");
            for &fd in &taken {
                sim.close(SimFd(fd));
            }
        });
        reactor.shutdown();
    }
}

/// A `TestBuf` owner whose `Drop` panics once while armed.
struct PanicOnDrop {
    buf: TestBuf,
    armed: Rc<Cell<bool>>,
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if self.armed.replace(false) {
            panic!("operation drop panics on purpose");
        }
    }
}

// SAFETY: the read's pointer and length come from the owned `TestBuf`.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for PanicOnDrop {
    type Output = Completion;
    fn build(&mut self) -> SimOp {
        SimOp::Read {
            ptr: self.buf.buf_mut_ptr(),
            len: self.buf.bytes_total(),
        }
    }
    fn complete(self, completion: Completion) -> Completion {
        self.armed.set(false);
        completion
    }
}

impl TestBuf {
    fn buf_mut_ptr(&mut self) -> *mut u8 {
        self.stable_mut_ptr()
    }
}

/// An operation held back by a full backend queue whose `Drop` panics when
/// its future is dropped: it is dropped exactly once — never built, moved
/// out or dropped again by a later turn or by the reactor's `Drop`.
#[test]
fn an_operation_whose_drop_panics_while_held_back_is_dropped_once() {
    let clock = ManualClock::new(1_000);
    let drops = Rc::new(Cell::new(0));
    {
        let reactor = reactor!(clock, SimDriver::<1>::new(&clock), 4);
        let io = reactor.as_ref().handle();
        let mut first = pin!(io.submit(SimNop));
        assert!(poll_once(first.as_mut()).is_pending());
        let armed = Rc::new(Cell::new(true));
        let mut held = Box::pin(io.submit(PanicOnDrop {
            buf: TestBuf::new(8, &drops),
            armed: armed.clone(),
        }));
        assert!(
            poll_once(held.as_mut()).is_pending(),
            "held back: queue full"
        );
        assert_eq!(reactor.occupied(), 2);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(held)));
        assert!(dropped.is_err(), "the drop's panic reaches the dropper");
        assert_eq!(drops.get(), 1, "the operation's buffer was dropped once");
        assert_eq!(reactor.occupied(), 1, "its slot is free");
        for _ in 0..3 {
            reactor.turn();
        }
        assert!(poll_once(first.as_mut()).is_ready());
        assert_eq!(reactor.occupied(), 0);
    }
    assert_eq!(drops.get(), 1, "nothing dropped it again");
}

/// An operation whose `orphaned` panics: the panic comes out of the turn
/// that released it, the slot is already free, and neither a later turn
/// nor the reactor's `Drop` sees the operation again.
#[test]
fn a_panicking_orphaned_leaves_nothing_to_release_twice() {
    struct Bomb(TestBuf);
    // SAFETY: the read's pointer and length come from the owned `TestBuf`.
    unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for Bomb {
        type Output = ();
        fn build(&mut self) -> SimOp {
            SimOp::Read {
                ptr: self.0.buf_mut_ptr(),
                len: self.0.bytes_total(),
            }
        }
        fn complete(self, _: Completion) {}
        fn orphaned(self, _: Completion, _: &SimDriver<'_, Q>) {
            panic!("orphaned panics on purpose");
        }
    }
    let clock = ManualClock::new(1_000);
    let drops = Rc::new(Cell::new(0));
    {
        let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
        let io = reactor.as_ref().handle();
        let mut op = Box::pin(io.submit(Bomb(TestBuf::new(16, &drops))));
        assert!(poll_once(op.as_mut()).is_pending());
        reactor.turn();
        let id = op.id().unwrap();
        drop(op); // orphaned: the backend still holds the buffer
        assert_eq!(drops.get(), 0, "the buffer waits for the completion");
        reactor.turn();
        reactor.with_driver(|sim| assert!(sim.decide(id, SimOutcome::Full)));
        let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.turn()));
        assert!(turn.is_err(), "the panic comes out of the turn");
        assert_eq!(drops.get(), 1, "the operation was dropped by the unwind");
        assert_eq!(reactor.occupied(), 0, "its slot is free");
        assert_eq!(reactor.in_flight(), 0);
        reactor.turn();
    }
    assert_eq!(drops.get(), 1, "nothing released it again");
}

/// The driver is lent shared (`with_driver`), and the shared loan is
/// enough to steer the simulator. (Swapping it out — which made two
/// reactors accept each other's completions — does not compile; see the
/// `compile_fail` example on `Reactor::with_driver`.)
#[test]
fn the_driver_is_lent_shared_and_still_steers_the_simulator() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock).held(), 4);
    let io = reactor.as_ref().handle();
    let mut op = pin!(io.submit(SimNop));
    assert!(poll_once(op.as_mut()).is_pending());
    reactor.turn();
    let id = op.id().unwrap();
    reactor.with_driver(|sim: &Sim<'_>| assert!(sim.decide(id, SimOutcome::Full)));
    reactor.turn();
    let Poll::Ready(completion) = poll_once(op.as_mut()) else {
        panic!("the decided operation completed");
    };
    assert_eq!(completion.result, 0);
}

/// Where the panic-injection soak may panic, and how often.
struct Chaos {
    rng: RefCell<SimRng>,
    /// Chance of a panic at each injection point, in percent (0: none).
    percent: Cell<u64>,
    injected: Cell<u64>,
}

impl Chaos {
    fn new(seed: u64, percent: u64) -> Rc<Self> {
        Rc::new(Self {
            rng: RefCell::new(SimRng::new(seed ^ 0xC4A0)),
            percent: Cell::new(percent),
            injected: Cell::new(0),
        })
    }

    /// Panics with the configured chance — unless already unwinding (a
    /// second panic then aborts any Rust program, whatever the runtime).
    fn strike(&self, place: &str) {
        let percent = self.percent.get();
        if percent > 0 && !std::thread::panicking() && self.rng.borrow_mut().chance(percent) {
            self.injected.set(self.injected.get() + 1);
            std::panic::panic_any(Injected(place.to_owned()));
        }
    }
}

/// The payload of an injected panic (told apart from real failures).
#[derive(Debug)]
struct Injected(#[allow(dead_code)] String);

/// A clock whose `now` panics now and then.
struct ChaosClock<'c> {
    clock: &'c ManualClock,
    chaos: Rc<Chaos>,
}

impl kasync::time::Clock for ChaosClock<'_> {
    fn now(&self) -> u64 {
        self.chaos.strike("Clock::now");
        self.clock.now()
    }
    fn ticks_per_second(&self) -> u64 {
        self.clock.ticks_per_second()
    }
}

/// A read whose every callback — and its `Drop` — may panic.
struct ChaosRead {
    buf: TestBuf,
    chaos: Rc<Chaos>,
}

impl Drop for ChaosRead {
    fn drop(&mut self) {
        self.chaos.strike("drop of an operation");
    }
}

// SAFETY: the read's pointer and length come from the owned `TestBuf`.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for ChaosRead {
    type Output = Completion;
    fn build(&mut self) -> SimOp {
        self.chaos.strike("build");
        SimOp::Read {
            ptr: self.buf.buf_mut_ptr(),
            len: self.buf.bytes_total(),
        }
    }
    fn complete(self, completion: Completion) -> Completion {
        self.chaos.strike("complete");
        completion
    }
    fn orphaned(self, _: Completion, _: &SimDriver<'_, Q>) {
        self.chaos.strike("orphaned");
    }
}

/// An open whose callbacks may panic — each after it put the descriptor
/// where it will be closed, so a panic never leaks one by itself.
struct ChaosOpen {
    chaos: Rc<Chaos>,
    kept: Rc<RefCell<Vec<SimFd>>>,
}

impl Drop for ChaosOpen {
    fn drop(&mut self) {
        self.chaos.strike("drop of an operation");
    }
}

// SAFETY: describes no memory.
unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for ChaosOpen {
    type Output = ();
    fn build(&mut self) -> SimOp {
        self.chaos.strike("build");
        SimOp::Open
    }
    fn complete(self, completion: Completion) {
        if let Ok(fd) = completion.into_result() {
            self.kept.borrow_mut().push(SimFd(fd));
        }
        self.chaos.strike("complete");
    }
    fn orphaned(self, completion: Completion, driver: &SimDriver<'_, Q>) {
        if let Ok(fd) = completion.into_result() {
            driver.close(SimFd(fd));
        }
        self.chaos.strike("orphaned");
    }
}

/// A future whose `Drop` may panic (after which its inner future is still
/// dropped, as for any value whose destructor unwinds).
struct DropBomb<F> {
    inner: F,
    chaos: Rc<Chaos>,
}

impl<F> Drop for DropBomb<F> {
    fn drop(&mut self) {
        self.chaos.strike("drop of a future");
    }
}

impl<F: Future> Future for DropBomb<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of `inner`; `Drop` does not move it.
        unsafe { self.map_unchecked_mut(|b| &mut b.inner) }.poll(cx)
    }
}

/// A waker whose `wake` may panic (an atomic generator: wakers are `Sync`).
struct ChaosWake {
    state: std::sync::atomic::AtomicU64,
    percent: std::sync::atomic::AtomicU64,
}

impl std::task::Wake for ChaosWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::Relaxed;
        let x = self.state.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed);
        let percent = self.percent.load(Relaxed);
        if percent > 0 && !std::thread::panicking() && SimRng::new(x).below(100) < percent {
            std::panic::panic_any(Injected("Waker::wake".to_owned()));
        }
    }
}

/// Catches an unwind, re-raising anything that is not an injected panic.
fn contained<R>(f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) if payload.is::<Injected>() => None,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// The life-cycle soak with panics injected into every kind of user code
/// the reactor calls: `build`, `complete`, `orphaned`, the `Drop` of
/// operations and of futures, wakers' `wake`, and `Clock::now`. Futures
/// are polled and turns run under `catch_unwind` (a future that panicked
/// is dropped, and its drop may panic too). At the end every buffer was
/// released exactly once, every descriptor closed exactly once, every
/// operation completed, and the table is empty — and miri saw no use of a
/// buffer after its release and no double drop.
#[test]
fn panics_injected_into_every_callback_leave_nothing_released_twice() {
    use std::sync::atomic::AtomicU64;
    let (schedules, tasks, steps) = if cfg!(miri) {
        (4, 3, 4)
    } else {
        (10_000, 4, 6)
    };
    let (mut injected, mut buffers) = (0, 0);
    // The injected panics are expected: keep their messages out of the log.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<Injected>() {
            default_hook(info);
        }
    }));
    for seed in 0..schedules {
        let percent = 1 + seed % 8;
        let chaos = Chaos::new(seed, percent);
        let drops = Rc::new(Cell::new(0));
        let created = Rc::new(Cell::new(0));
        let kept = Rc::new(RefCell::new(Vec::<SimFd>::new()));
        let clock = ManualClock::new(1_000);
        {
            let reactor = pin!(Reactor::<_, _, 8>::new(
                SimDriver::<4>::new(&clock).random(seed),
                ChaosClock {
                    clock: &clock,
                    chaos: chaos.clone(),
                },
            ));
            let io = reactor.as_ref().handle();
            let wake = Arc::new(ChaosWake {
                state: AtomicU64::new(seed),
                percent: AtomicU64::new(percent),
            });
            let waker = Waker::from(wake.clone());
            let mut rng = SimRng::new(seed);
            let mut futures: Vec<Option<Pin<Box<dyn Future<Output = ()> + '_>>>> = (0..tasks)
                .map(|_| {
                    let task_seed = rng.next_u64();
                    let (drops, created, kept, chaos) =
                        (drops.clone(), created.clone(), kept.clone(), chaos.clone());
                    let bomb = chaos.clone();
                    let task = async move {
                        let mut rng = SimRng::new(task_seed);
                        for _ in 0..steps {
                            let len = 1 + rng.below(24) as usize;
                            match rng.below(4) {
                                0 | 1 => {
                                    created.set(created.get() + 1);
                                    let op = io.submit(ChaosRead {
                                        buf: TestBuf::new(len, &drops),
                                        chaos: chaos.clone(),
                                    });
                                    match rng.below(3) {
                                        0 => drop(op.await),
                                        1 => {
                                            let t = Duration::from_millis(rng.below(3));
                                            let _ = io.timeout(t, op).await;
                                        }
                                        _ => {
                                            let mut op = pin!(op);
                                            let _ = poll_fn(|cx| Poll::Ready(op.as_mut().poll(cx)))
                                                .await;
                                            if op.id().is_some() && rng.chance(50) {
                                                let _ = op.as_mut().cancel().await;
                                            }
                                        }
                                    }
                                }
                                2 => {
                                    let op = io.submit(ChaosOpen {
                                        chaos: chaos.clone(),
                                        kept: kept.clone(),
                                    });
                                    let t = Duration::from_millis(rng.below(2));
                                    let _ = io.timeout(t, op).await;
                                }
                                _ => io.sleep(Duration::from_millis(rng.below(3))).await,
                            }
                        }
                    };
                    Some(Box::pin(DropBomb {
                        inner: task,
                        chaos: bomb,
                    }) as Pin<Box<dyn Future<Output = ()>>>)
                })
                .collect();
            let mut cx = Context::from_waker(&waker);
            for _round in 0..10_000 {
                for slot in &mut futures {
                    let Some(future) = slot else { continue };
                    match contained(|| future.as_mut().poll(&mut cx)) {
                        Some(Poll::Pending) => {}
                        // Finished, or panicked (never polled again).
                        Some(Poll::Ready(())) | None => {
                            let future = slot.take();
                            contained(|| drop(future));
                        }
                    }
                }
                contained(|| reactor.turn());
                clock.advance(1);
                if futures.iter().all(Option::is_none) {
                    break;
                }
            }
            // Calm now: whatever is left finishes without injected panics.
            chaos.percent.set(0);
            wake.percent.store(0, std::sync::atomic::Ordering::Relaxed);
            assert!(
                futures.iter().all(Option::is_none),
                "seed {seed}: tasks finished"
            );
            reactor.shutdown();
            assert_eq!(reactor.in_flight(), 0, "seed {seed}");
            assert_eq!(reactor.occupied(), 0, "seed {seed}: every slot free");
            reactor.with_driver(|sim| {
                for fd in kept.borrow_mut().drain(..) {
                    sim.close(fd);
                }
                let stats = sim.stats();
                assert_eq!(stats.opened, stats.closed, "seed {seed}: {stats:?}");
                assert_eq!(stats.bad_closes, 0, "seed {seed}: none closed twice");
                assert_eq!(stats.completed, stats.submitted, "seed {seed}: {stats:?}");
            });
        }
        assert_eq!(
            drops.get(),
            created.get(),
            "seed {seed}: every buffer released exactly once"
        );
        injected += chaos.injected.get();
        buffers += created.get();
    }
    let _ = std::panic::take_hook();
    eprintln!("chaos soak: {schedules} schedules, {buffers} buffers, {injected} injected panics");
    assert!(injected > schedules / 2, "panics were injected");
}

/// A multishot operation whose memory the backend writes sits inside the
/// operation (in an `UnsafeCell`, as the `Operation` contract asks). The
/// stream hands out items while the backend still writes there: the
/// reactor only ever makes a shared reference to an operation in flight,
/// so under miri the backend's later writes stay valid.
#[test]
fn a_multishot_operation_may_keep_the_memory_the_backend_writes_inline() {
    struct InlineMany {
        buf: std::cell::UnsafeCell<[u8; 8]>,
        seen: Cell<u32>,
    }
    // SAFETY: the description points into `self.buf`, an `UnsafeCell` in
    // the operation itself; `item`, `release` and `overflow` never touch
    // it; multishot, as `SimOp::ReadMany` is.
    unsafe impl<const Q: usize> Operation<SimDriver<'_, Q>> for InlineMany {
        type Output = ();
        const MULTISHOT: bool = true;
        fn build(&mut self) -> SimOp {
            SimOp::ReadMany {
                ptr: self.buf.get().cast(),
                len: 8,
                count: 4,
            }
        }
        fn complete(self, _: Completion) {}
    }
    // SAFETY: `item` touches only `seen`.
    unsafe impl<const Q: usize> Multishot<SimDriver<'_, Q>> for InlineMany {
        type Item = i32;
        fn item(&self, c: Completion) -> i32 {
            self.seen.set(self.seen.get() + 1);
            c.result
        }
    }
    static EXEC: Executor<Spin, 2, 256> = Executor::new(Spin);
    let runner = EXEC.runner().unwrap();
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, Sim::new(&clock), 2);
    let io = reactor.as_ref().handle();
    let items = runner.block_on_with(&*reactor, async {
        let mut stream = pin!(io.submit_multishot(InlineMany {
            buf: std::cell::UnsafeCell::new([0; 8]),
            seen: Cell::new(0),
        }));
        let mut items = Vec::new();
        while let Some(item) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            items.push(item);
        }
        items
    });
    assert_eq!(items, [8, 8, 8, 8]);
}

/// Operations still waiting for room in the backend's queue at shutdown
/// are not submitted (where nothing would cancel them, and an idle
/// receive would keep the shutdown waiting forever): they complete
/// cancelled at once, like the ones the backend held.
#[test]
fn shutdown_fails_held_back_operations_instead_of_submitting_them() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, SimDriver::<1>::new(&clock).stalled(), 4);
    let io = reactor.as_ref().handle();
    let mut a = pin!(io.submit(SimNop));
    let mut b = pin!(io.submit(SimNop));
    assert!(poll_once(a.as_mut()).is_pending(), "queued");
    assert!(poll_once(b.as_mut()).is_pending(), "held back: queue full");
    reactor.shutdown();
    for op in [a, b] {
        let Poll::Ready(completion) = poll_once(op) else {
            panic!("resolved by the shutdown");
        };
        assert_eq!(completion.result, -ECANCELED);
    }
    assert_eq!(reactor.occupied(), 0);
    assert_eq!(reactor.with_driver(|sim| sim.stats().submitted), 1);
}

/// Operations held back because the queue filled during a round of task
/// polls are handed over before the loop sleeps (after submitting the
/// full queue), not left in the table while it waits — their completion
/// may be what would wake it.
#[test]
fn parking_hands_over_operations_held_back_by_a_full_queue() {
    let clock = ManualClock::new(1_000);
    let reactor = reactor!(clock, SimDriver::<2>::new(&clock).stalled(), 8);
    let io = reactor.as_ref().handle();
    // A pending timer, so the simulated park has something to wait for.
    let mut timer = pin!(io.sleep(Duration::from_millis(1)));
    assert!(poll_once(timer.as_mut()).is_pending());
    let mut ops: Vec<_> = (0..3).map(|_| Box::pin(io.submit(SimNop))).collect();
    for op in &mut ops {
        assert!(poll_once(op.as_mut()).is_pending());
    }
    assert_eq!(reactor.with_driver(|sim| sim.stats().submitted), 2);
    reactor.park(&kasync::executor::Idle::detached());
    assert_eq!(
        reactor.with_driver(|sim| sim.stats().submitted),
        3,
        "the third was handed over before the park"
    );
    reactor.shutdown();
}
