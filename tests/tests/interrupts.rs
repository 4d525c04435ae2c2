//! A real interrupt: a SIGALRM handler (setitimer, 1 ms) pushes into a core
//! `IrqQueue` and wakes a task while the runtime is parked in io_uring.
//! (Its own test binary: the timer signal is process-wide.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kasync::IrqQueue;
use kasync_host::Runtime;
use kasync_tests::alarm::{on_alarm, set_timer, stop_timer};
use kasync_tests::watchdog::watchdog;

static TICKS: IrqQueue<u64, 64> = IrqQueue::new();
static DELIVERED: AtomicU64 = AtomicU64::new(0);

/// The "interrupt handler": count, push, done. Async-signal-safe: atomics
/// and (through the wake) one eventfd write.
extern "C" fn on_alarm_handler(_signal: libc::c_int) {
    let n = DELIVERED.fetch_add(1, Ordering::Relaxed) + 1;
    let _ = TICKS.push(n);
}

#[test]
fn sigalrm_pushes_into_an_irq_queue_and_wakes_the_parked_runtime() {
    watchdog("sigalrm", || {
        on_alarm(on_alarm_handler);
        let rt = Runtime::new().unwrap();
        let target = 1_000;
        set_timer(Duration::from_millis(1));
        let (received, last) = rt.block_on(async {
            let (mut received, mut last) = (0u64, 0u64);
            while received + (TICKS.dropped() as u64) < target {
                // The runtime has nothing else to do: it parks in io_uring
                // until the handler's wake arrives.
                let n = TICKS.recv().await;
                assert!(n > last, "values arrive in order");
                last = n;
                received += 1;
            }
            (received, last)
        });
        stop_timer();
        let mut drained = 0;
        while TICKS.try_recv().is_some() {
            drained += 1;
        }
        let delivered = DELIVERED.load(Ordering::Relaxed);
        let dropped = TICKS.dropped() as u64;
        assert!(delivered >= target, "{delivered} signals");
        assert_eq!(
            received + drained + dropped,
            delivered,
            "none lost beyond the counted overflow"
        );
        assert!(last <= delivered);
        let stats = rt.driver_stats();
        assert!(
            stats.wakeups > 0,
            "the runtime was woken through its eventfd"
        );
        eprintln!(
            "{delivered} signals, {received} received while parked, {dropped} dropped, {} eventfd wake-ups",
            stats.wakeups
        );
    });
}
