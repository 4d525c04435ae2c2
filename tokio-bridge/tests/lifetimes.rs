//! Bridged futures that outlive their `Bridge`, bridges nested and dropped
//! out of order, panics inside bridged futures and tokio tasks.

use std::time::Duration;

use kasync_tokio_bridge::{Bridge, bridge};

fn rt() -> kasync_host::Runtime {
    kasync_host::Runtime::new().unwrap()
}

/// A bridged future waiting on a tokio timer when its `Bridge` is dropped
/// still has its runtime: the timer fires.
#[test]
fn a_bridged_sleep_outlives_its_bridge() {
    rt().block_on(async {
        let b = Bridge::new().unwrap();
        let future = b.wrap(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "slept"
        });
        let task = kasync_host::spawn(future).unwrap();
        kasync_host::sleep(Duration::from_millis(20)).await;
        drop(b);
        let r = kasync_host::time::timeout(Duration::from_secs(5), task).await;
        assert_eq!(r, Ok(Ok("slept")));
    });
}

/// tokio's timer and `tokio::spawn` made after the `Bridge` was dropped
/// (the wrapped future had not been polled yet).
#[test]
fn tokio_made_after_the_bridge_was_dropped() {
    rt().block_on(async {
        let b = Bridge::new().unwrap();
        let sleeps = b.wrap(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            1
        });
        let spawns = b.wrap(async { tokio::spawn(async { 42 }).await.unwrap() });
        drop(b);
        let sleeps = kasync_host::spawn(sleeps).unwrap();
        let spawns = kasync_host::spawn(spawns).unwrap();
        assert_eq!(
            kasync_host::time::timeout(Duration::from_secs(5), sleeps).await,
            Ok(Ok(1))
        );
        assert_eq!(
            kasync_host::time::timeout(Duration::from_secs(5), spawns).await,
            Ok(Ok(42))
        );
    });
}

/// A panic inside a bridged future is the kasync task's; one in a tokio
/// task is its `JoinHandle`'s error; the bridge goes on working.
#[test]
fn panics_inside_leave_the_bridge_working() {
    rt().block_on(async {
        let task = kasync_host::spawn(bridge(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            panic!("inside the bridge, on purpose")
        }))
        .unwrap();
        let r: Result<(), _> = task.await;
        assert!(r.is_err());
        let after = bridge(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            3
        });
        assert_eq!(after.await, 3);
        let joined =
            bridge(async { tokio::spawn(async { panic!("a tokio task, on purpose") }).await });
        assert!(joined.await.is_err());
        let joined = bridge(async { tokio::spawn(async { 4 }).await });
        assert_eq!(joined.await.unwrap(), 4);
    });
}

/// Two bridges, one's future inside the other's, dropped out of order; a
/// bridged future dropped unpolled inside another bridge's poll; a bridge
/// dropped inside another's bridged poll.
#[test]
fn nested_bridges_dropped_out_of_order() {
    rt().block_on(async {
        let b1 = Bridge::new().unwrap();
        let b2 = Bridge::new().unwrap();
        let inner = b2.wrap(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            2
        });
        let outer = b1.wrap(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            inner.await + 1
        });
        assert_eq!(outer.await, 3);
        let unpolled = b2.wrap(async { tokio::time::sleep(Duration::from_millis(5)).await });
        b1.wrap(async move { drop(unpolled) }).await;
        let dropped_inside = b1.wrap(async move { drop(b2) });
        kasync_host::time::timeout(Duration::from_secs(5), dropped_inside)
            .await
            .unwrap();
        drop(b1);
    });
}

/// Dropping a `Bridge` while a tokio `spawn_blocking` job it started still
/// runs (reqwest's name lookups are such jobs) does not wait for the job:
/// the job is released only after the drop returned.
#[test]
fn dropping_a_bridge_does_not_wait_for_its_blocking_jobs() {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (report, outcome) = std::sync::mpsc::channel::<bool>();
    rt().block_on(async {
        let b = Bridge::new().unwrap();
        b.wrap(async move {
            tokio::task::spawn_blocking(move || {
                // `true` if released by the send below, after the drop.
                let _ = report.send(released.recv_timeout(Duration::from_secs(20)).is_ok());
            });
        })
        .await;
        drop(b);
        release.send(()).unwrap();
    });
    assert_eq!(
        outcome.recv_timeout(Duration::from_secs(30)),
        Ok(true),
        "the drop waited for the blocking job"
    );
}

/// The last holder of a bridge's runtime dropped on one of that runtime's
/// own blocking threads: no deadlock (the runtime's thread would wait for
/// that blocking thread, which waits for it to end).
#[test]
fn the_last_holder_dropped_on_a_tokio_blocking_thread() {
    let b = Bridge::new().unwrap();
    let future = b.wrap(async { 1 });
    let handle = b.handle().clone();
    drop(b);
    let (done, finished) = std::sync::mpsc::channel();
    handle.spawn_blocking(move || {
        drop(future); // the last holder: stops the runtime
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(10)).is_ok(),
        "deadlock"
    );
}
