//! `kasync::sync` fed by a real interrupt: a SIGALRM handler (every
//! 200 µs) sends into a `Channel`, sets a `Signal` and releases a
//! `Semaphore` permit, while tasks wait on all three and other tasks keep
//! joining and leaving the same waiter lists — so the handler often
//! arrives while the thread it interrupted holds a list, and must leave
//! its request to it rather than wait (a wait there would hang: the holder
//! cannot run until the handler returns). Its own test binary: the timer
//! signal is process-wide.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use kasync::sync::{Channel, Semaphore, Signal};
use kasync_host::{Runtime, spawn};
use kasync_tests::alarm::{on_alarm, set_timer, stop_timer};
use kasync_tests::watchdog::watchdog;

static EVENTS: Channel<u64, 16> = Channel::new();
static LATEST: Signal<u64> = Signal::new();
static TOKENS: Semaphore = Semaphore::new(0);
static DELIVERED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The "interrupt handler": only the `try_`/non-waiting operations.
extern "C" fn on_alarm_handler(_signal: libc::c_int) {
    let n = DELIVERED.fetch_add(1, Ordering::Relaxed) + 1;
    if EVENTS.try_send(n).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    LATEST.signal(n);
    TOKENS.release(1);
}

#[test]
fn an_interrupt_feeds_channel_signal_and_semaphore_while_tasks_churn_their_lists() {
    watchdog("sync from SIGALRM", || {
        on_alarm(on_alarm_handler);
        let rt = Runtime::new().unwrap();
        const TARGET: u64 = 3_000;
        set_timer(Duration::from_micros(200));
        let (received, signalled, acquired) = rt.block_on(async {
            // Churn: join and leave the semaphore's and the signal's lists
            // as fast as possible (a granted permit is handed back by the
            // drop; a signal value taken here is counted).
            let churn = spawn(async {
                let mut taken_by_churn = 0u64;
                while DELIVERED.load(Ordering::Relaxed) < TARGET {
                    let cx = &mut Context::from_waker(Waker::noop());
                    drop(pin!(TOKENS.acquire(1)).poll(cx));
                    if pin!(LATEST.wait()).poll(cx).is_ready() {
                        taken_by_churn += 1;
                    }
                    kasync_host::time::sleep(Duration::ZERO).await;
                }
                taken_by_churn
            })
            .unwrap();
            let channel = spawn(async {
                let (mut n, mut last) = (0u64, 0u64);
                while DELIVERED.load(Ordering::Relaxed) < TARGET {
                    let v = EVENTS.recv().await;
                    assert!(v > last, "in order: {v} after {last}");
                    last = v;
                    n += 1;
                }
                n
            })
            .unwrap();
            let signal = spawn(async {
                let (mut n, mut last) = (0u64, 0u64);
                while DELIVERED.load(Ordering::Relaxed) < TARGET {
                    let v = LATEST.wait().await;
                    assert!(v > last, "never older: {v} after {last}");
                    last = v;
                    n += 1;
                }
                n
            })
            .unwrap();
            let semaphore = spawn(async {
                let mut n = 0u64;
                while DELIVERED.load(Ordering::Relaxed) < TARGET {
                    TOKENS.acquire(1).await.forget();
                    n += 1;
                }
                n
            })
            .unwrap();
            let received = channel.await.unwrap();
            let signalled = signal.await.unwrap() + churn.await.unwrap();
            let acquired = semaphore.await.unwrap();
            (received, signalled, acquired)
        });
        stop_timer();
        let delivered = DELIVERED.load(Ordering::Relaxed);
        let mut rest = 0;
        while EVENTS.try_recv().is_some() {
            rest += 1;
        }
        assert_eq!(
            received + rest + DROPPED.load(Ordering::Relaxed),
            delivered,
            "every event received or counted as dropped"
        );
        assert_eq!(
            acquired + TOKENS.available_permits() as u64,
            delivered,
            "every permit acquired or still there"
        );
        assert!(signalled > 0 && signalled <= delivered);
        // The last value signalled is taken (or still waiting to be).
        let last = LATEST.try_take();
        assert!(last.is_none() || last == Some(delivered));
    });
}
