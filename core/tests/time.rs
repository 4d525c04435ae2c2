//! Timers: ordering, cancellation, deadlines across wheel levels and beyond
//! the wheel's span, timeout races, intervals.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use kasync::io::sim::SimRng as Rng;
use kasync::time::{Clock, Elapsed, ManualClock, Sleep, Timers};
use kasync_tests::wake::counting_waker;

fn poll<F: std::future::Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// Sleeps with random deadlines (spanning every level) fire exactly when
/// the clock passes them — never early, never late — whatever steps the
/// clock takes.
#[test]
fn sleeps_fire_exactly_when_due() {
    let seeds = if cfg!(miri) { 2 } else { 40 };
    let count = if cfg!(miri) { 12 } else { 200 };
    for seed in 0..seeds {
        let mut rng = Rng::new(seed);
        let timers = Timers::new(ManualClock::new(1_000));
        let deadlines: Vec<u64> = (0..count)
            .map(|_| match rng.below(4) {
                0 => rng.below(64),
                1 => rng.below(4_096),
                2 => rng.below(1 << 20),
                _ => rng.below(1 << 31),
            } + 1)
            .collect();
        let mut sleeps: Vec<Pin<Box<Sleep<'_, ManualClock>>>> = deadlines
            .iter()
            .map(|&d| Box::pin(timers.sleep_until(d)))
            .collect();
        let wakers: Vec<_> = deadlines.iter().map(|_| counting_waker()).collect();
        for (s, (_, w)) in sleeps.iter_mut().zip(&wakers) {
            assert!(poll(s.as_mut(), w).is_pending());
        }
        let max = *deadlines.iter().max().unwrap();
        let mut fired = vec![false; count];
        while timers.clock().now() < max {
            // Jump to the next deadline exactly, or by a random stride.
            let now = timers.clock().now();
            let next_due = deadlines
                .iter()
                .copied()
                .filter(|&d| d > now)
                .min()
                .unwrap();
            let step = if rng.chance(50) {
                next_due - now
            } else {
                1 + rng.below(next_due - now + 1000)
            };
            timers.clock().advance(step);
            timers.advance();
            let now = timers.clock().now();
            for i in 0..count {
                let due = deadlines[i] <= now;
                let woken = wakers[i].0.get() > 0;
                assert_eq!(
                    woken, due,
                    "seed {seed}: deadline {} at {now}",
                    deadlines[i]
                );
                if due && !fired[i] {
                    fired[i] = true;
                    assert!(poll(sleeps[i].as_mut(), &wakers[i].1).is_ready());
                }
            }
            // The wheel's next deadline never lies after a pending sleep.
            if let (Some(next), Some(earliest)) = (
                timers.next_deadline(),
                deadlines.iter().copied().filter(|&d| d > now).min(),
            ) {
                assert!(
                    next <= earliest,
                    "seed {seed}: next {next} > earliest {earliest}"
                );
            }
        }
        assert!(fired.iter().all(|&f| f));
        assert_eq!(timers.next_deadline(), None, "nothing left in the wheel");
    }
}

#[test]
fn dropping_a_sleep_removes_it() {
    let timers = Timers::new(ManualClock::new(1_000));
    let (counter, waker) = counting_waker();
    let mut keep = Box::pin(timers.sleep_until(100));
    {
        let mut early = Box::pin(timers.sleep_until(10));
        assert!(poll(early.as_mut(), &waker).is_pending());
        assert!(poll(keep.as_mut(), &waker).is_pending());
        assert_eq!(timers.next_deadline(), Some(10));
    }
    assert!(
        timers.next_deadline().unwrap() > 10,
        "the dropped sleep is gone"
    );
    timers.clock().set(50);
    assert_eq!(timers.advance(), 0);
    assert_eq!(counter.get(), 0);
    timers.clock().set(100);
    assert_eq!(timers.advance(), 1);
    assert!(poll(keep.as_mut(), &waker).is_ready());
}

#[test]
fn deadlines_beyond_the_wheel_span() {
    let timers = Timers::new(ManualClock::new(1));
    let (counter, waker) = counting_waker();
    let far = (1u64 << 36) * 3 + 12_345;
    let mut sleep = Box::pin(timers.sleep_until(far));
    assert!(poll(sleep.as_mut(), &waker).is_pending());
    // Walk through the windows with big jumps: never early.
    for stop in [1u64 << 20, 1 << 36, (1 << 36) * 2 + 5, far - 1] {
        timers.clock().set(stop);
        timers.advance();
        assert_eq!(counter.get(), 0, "fired early at {stop}");
        assert!(timers.next_deadline().unwrap() <= far);
    }
    timers.clock().set(far);
    assert_eq!(timers.advance(), 1);
    assert!(poll(sleep.as_mut(), &waker).is_ready());
}

#[test]
fn sleep_already_due_is_ready_at_once() {
    let timers = Timers::new(ManualClock::new(1_000));
    timers.clock().set(500);
    let (_, waker) = counting_waker();
    let mut sleep = Box::pin(timers.sleep_until(500));
    assert!(poll(sleep.as_mut(), &waker).is_ready());
    let mut zero = Box::pin(timers.sleep(Duration::ZERO));
    assert!(poll(zero.as_mut(), &waker).is_ready());
    assert_eq!(timers.next_deadline(), None);
}

#[test]
fn durations_round_up_to_whole_ticks() {
    let timers = Timers::new(ManualClock::new(1_000));
    assert_eq!(timers.ticks(Duration::from_micros(1)), 1);
    assert_eq!(timers.ticks(Duration::from_millis(7)), 7);
    assert_eq!(timers.ticks(Duration::from_micros(7_001)), 8);
    assert_eq!(timers.duration(1_500), Duration::from_millis(1_500));
}

#[test]
fn timeout_inner_wins_a_tie_and_deadline_wins_otherwise() {
    let timers = Timers::new(ManualClock::new(1_000));
    let (_, waker) = counting_waker();
    // The inner future becomes ready on the very tick the deadline passes.
    let inner_deadline = timers.sleep_until(10);
    let mut tie = Box::pin(timers.timeout(Duration::from_millis(10), inner_deadline));
    assert!(poll(tie.as_mut(), &waker).is_pending());
    timers.clock().set(10);
    timers.advance();
    assert_eq!(poll(tie.as_mut(), &waker), Poll::Ready(Ok(())));

    let never = core::future::pending::<()>();
    let mut late = Box::pin(timers.timeout(Duration::from_millis(5), never));
    assert!(poll(late.as_mut(), &waker).is_pending());
    timers.clock().set(15);
    timers.advance();
    assert_eq!(poll(late.as_mut(), &waker), Poll::Ready(Err(Elapsed)));
}

#[test]
fn interval_ticks_and_skips_missed_ticks() {
    let timers = Timers::new(ManualClock::new(1_000));
    let (_, waker) = counting_waker();
    let mut interval = timers.interval(Duration::from_millis(10));
    let mut fired_at = Vec::new();
    for _ in 0..4 {
        let mut tick = Box::pin(interval.tick());
        while poll(tick.as_mut(), &waker).is_pending() {
            timers.clock().advance(1);
            timers.advance();
        }
        fired_at.push(timers.clock().now());
    }
    assert_eq!(fired_at, [0, 10, 20, 30]);
    // Fall 35 ms behind: the missed ticks are skipped, not bunched up.
    timers.clock().advance(35);
    let mut tick = Box::pin(interval.tick());
    assert!(
        poll(tick.as_mut(), &waker).is_ready(),
        "the late tick fires at once"
    );
    let mut next = Box::pin(interval.tick());
    assert!(poll(next.as_mut(), &waker).is_pending());
    assert_eq!(
        next.deadline(),
        70,
        "next tick on the period grid after now (65)"
    );
}

/// The kernel set-up: no I/O, a periodic "timer interrupt" (a thread here)
/// bumps the tick count and ends the idle; the run loop fires due sleeps.
#[test]
fn tick_interrupt_drives_timers_through_a_no_io_reactor() {
    use std::sync::atomic::{AtomicBool, AtomicU64};

    use kasync::executor::{Executor, Platform, ThreadPlatform};
    use kasync::io::{NoIo, Reactor};

    struct TickCounter(AtomicU64);
    impl Clock for TickCounter {
        fn now(&self) -> u64 {
            self.0.load(Ordering::Acquire)
        }
        fn ticks_per_second(&self) -> u64 {
            1_000
        }
    }
    static EXEC: Executor<ThreadPlatform, 2, 256> = Executor::new(ThreadPlatform::new());
    static TICKS: TickCounter = TickCounter(AtomicU64::new(0));
    static STOP: AtomicBool = AtomicBool::new(false);

    kasync_tests::watchdog::watchdog("tick-driven timers", || {
        let runner = EXEC.runner().unwrap();
        let pit = std::thread::spawn(|| {
            while !STOP.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_micros(200));
                TICKS.0.fetch_add(1, Ordering::AcqRel);
                EXEC.platform().pend(); // what ending `hlt` does in a kernel
            }
        });
        let reactor = std::pin::pin!(Reactor::<_, _, 1, 8>::new(
            NoIo::new(EXEC.platform()),
            &TICKS
        ));
        let timers = reactor.timers();
        // The "interrupt" runs freely, so several sleeps may come due
        // between two looks of the run loop: check that each ends at or
        // after its deadline (never early) and that all end.
        let ended = std::cell::RefCell::new(Vec::new());
        runner.block_on_with(&*reactor, async {
            let base = timers.now();
            let sleeper = |ticks: u64| {
                let ended = &ended;
                async move {
                    timers.sleep_until(base + ticks).await;
                    ended.borrow_mut().push((ticks, timers.now() - base));
                }
            };
            futures_util::future::join3(sleeper(3), sleeper(1), sleeper(2)).await;
        });
        STOP.store(true, Ordering::Release);
        pit.join().unwrap();
        let ended = ended.into_inner();
        assert_eq!(ended.len(), 3);
        for (deadline, at) in ended {
            assert!(
                at >= deadline,
                "a sleep of {deadline} ticks ended after {at}"
            );
        }
    });
}

/// Tick conversion saturates for any clock rate and duration: a clock of
/// `u64::MAX` ticks per second and `Duration::MAX` give `u64::MAX` ticks,
/// not an overflow panic (debug) or a wrapped, too-short sleep (release).
#[test]
fn tick_conversion_saturates_for_any_clock() {
    struct Fast;
    impl Clock for Fast {
        fn now(&self) -> u64 {
            0
        }
        fn ticks_per_second(&self) -> u64 {
            u64::MAX
        }
    }
    let timers = Timers::new(Fast);
    assert_eq!(timers.ticks(Duration::MAX), u64::MAX);
    assert_eq!(timers.ticks(Duration::from_secs(2)), u64::MAX);
    assert_eq!(timers.ticks(Duration::from_nanos(1)), 18_446_744_074);
    let slow = Timers::new(ManualClock::new(1_000));
    assert_eq!(slow.ticks(Duration::MAX), u64::MAX);
    let sleep = slow.sleep(Duration::MAX);
    assert_eq!(sleep.deadline(), u64::MAX, "saturated, not wrapped");
    slow.clock().advance(u64::MAX);
    assert_eq!(slow.now(), u64::MAX, "the manual clock saturates too");
}

/// A waker that panics while the wheel fires timers stops that advance,
/// but the timers due with it are not stranded: the next advance fires
/// them.
#[test]
fn a_panicking_waker_does_not_strand_the_timers_due_with_it() {
    use kasync_tests::wake::panicking_waker;
    let timers = Timers::new(ManualClock::new(1_000));
    let (bomb, bomb_waker) = panicking_waker();
    let mut sleeps: Vec<Pin<Box<Sleep<'_, ManualClock>>>> =
        (0..4).map(|_| Box::pin(timers.sleep_until(10))).collect();
    let (count, waker) = counting_waker();
    for (i, s) in sleeps.iter_mut().enumerate() {
        let w = if i == 1 { &bomb_waker } else { &waker };
        assert!(poll(s.as_mut(), w).is_pending());
    }
    timers.clock().advance(10);
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| timers.advance()));
    assert!(first.is_err(), "the waker's panic comes out of the advance");
    bomb.armed.store(false, Ordering::SeqCst);
    timers.advance();
    assert_eq!(count.get(), 3, "every other timer due fired");
    for s in &mut sleeps {
        assert!(poll(s.as_mut(), &waker).is_ready());
    }
    assert_eq!(timers.next_deadline(), None);
}

/// A waiting sleep moved later fires at the new deadline only, without
/// being polled in between; moved earlier, at the earlier one.
#[test]
fn reset_moves_a_waiting_sleep_and_keeps_its_waker() {
    let timers = Timers::new(ManualClock::new(1_000));
    let (counter, waker) = counting_waker();
    let mut sleep = Box::pin(timers.sleep_until(10));
    assert!(poll(sleep.as_mut(), &waker).is_pending());
    sleep.as_mut().reset(300);
    assert!(timers.next_deadline().unwrap() > 10, "filed again, later");
    timers.clock().set(10);
    assert_eq!(timers.advance(), 0, "the old deadline is gone");
    assert_eq!(counter.get(), 0);
    sleep.as_mut().reset(40);
    timers.clock().set(40);
    assert_eq!(timers.advance(), 1);
    assert_eq!(counter.get(), 1, "woken with the waker of its last poll");
    assert!(poll(sleep.as_mut(), &waker).is_ready());
    assert_eq!(timers.next_deadline(), None);
}

/// A completed sleep reset to a later deadline waits again; reset to a
/// deadline already past while waiting, it wakes at once.
#[test]
fn reset_after_completion_and_into_the_past() {
    let timers = Timers::new(ManualClock::new(1_000));
    let (counter, waker) = counting_waker();
    let mut sleep = Box::pin(timers.sleep_until(5));
    timers.clock().set(5);
    assert!(poll(sleep.as_mut(), &waker).is_ready());
    sleep.as_mut().reset(20);
    assert!(!sleep.is_elapsed());
    assert!(poll(sleep.as_mut(), &waker).is_pending(), "waits again");
    sleep.as_mut().reset(2);
    assert_eq!(counter.get(), 1, "a deadline in the past wakes at once");
    assert!(poll(sleep.as_mut(), &waker).is_ready());
    assert_eq!(timers.next_deadline(), None, "nothing left filed");
    drop(sleep);
}
