//! Timers and task sets at their edges: a sleep reset outside a runtime,
//! after it completed, or awaited in another runtime than the one it was
//! filed in; task sets and handles that outlive their runtime.

#![allow(clippy::async_yields_async)] // futures made in one runtime, awaited in another

use kasync_host::{JoinSet, Runtime};
use std::time::{Duration, Instant};

#[test]
fn sleep_made_and_reset_outside_a_runtime() {
    let mut s = Box::pin(kasync_host::sleep(Duration::from_secs(3600)));
    s.as_mut().reset(Instant::now() + Duration::from_millis(20));
    assert!(!s.is_elapsed());
    let t = Instant::now();
    Runtime::new().unwrap().block_on(async {
        kasync_host::time::timeout(Duration::from_secs(5), s)
            .await
            .expect("the reset deadline, not an hour")
    });
    assert!(t.elapsed() >= Duration::from_millis(15));
}

#[test]
fn reset_after_completion_and_outside() {
    let rt = Runtime::new().unwrap();
    let mut s = rt.block_on(async {
        let mut s = Box::pin(kasync_host::sleep(Duration::from_millis(5)));
        s.as_mut().await;
        let t = Instant::now();
        s.as_mut().reset(Instant::now() + Duration::from_millis(30));
        assert!(!s.is_elapsed());
        s.as_mut().await;
        assert!(
            t.elapsed() >= Duration::from_millis(29),
            "{:?}",
            t.elapsed()
        );
        // reset to the past: at once
        s.as_mut().reset(Instant::now() - Duration::from_secs(1));
        kasync_host::time::timeout(Duration::from_secs(1), s.as_mut())
            .await
            .unwrap();
        s.as_mut().reset(Instant::now() + Duration::from_millis(20));
        s
    });
    // reset outside the runtime, then await again inside
    s.as_mut().reset(Instant::now() + Duration::from_millis(10));
    let t = Instant::now();
    rt.block_on(async {
        kasync_host::time::timeout(Duration::from_secs(2), s.as_mut())
            .await
            .unwrap()
    });
    assert!(t.elapsed() >= Duration::from_millis(9));
}

/// A sleep filed in runtime 1, awaited in runtime 2 (both alive).
#[test]
fn sleep_from_another_runtime() {
    let rt1 = Runtime::new().unwrap();
    let rt2 = Runtime::new().unwrap();
    let s = rt1.block_on(async { kasync_host::sleep(Duration::from_millis(10)) });
    let t = Instant::now();
    let r = rt2.block_on(async { kasync_host::time::timeout(Duration::from_secs(2), s).await });
    eprintln!(
        "rt1's 10ms sleep awaited in rt2: {r:?} after {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "a sleep from another runtime is never woken (only the timeout's wake polled it)"
    );
}

/// A JoinSet (and a JoinHandle) outliving its runtime, dropped in the next
/// runtime on the same thread, which reuses the core.
#[test]
fn joinset_outlives_its_runtime() {
    let rt1 = Runtime::new().unwrap();
    let (set, handle) = rt1.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(std::future::pending::<u32>()).unwrap();
        let h = kasync_host::spawn(std::future::pending::<u32>()).unwrap();
        (set, h)
    });
    drop(rt1);
    let rt2 = Runtime::new().unwrap();
    rt2.block_on(async move {
        let a = kasync_host::spawn(async {
            kasync_host::sleep(Duration::from_millis(50)).await;
            1u32
        })
        .unwrap();
        let b = kasync_host::spawn(async {
            kasync_host::sleep(Duration::from_millis(50)).await;
            2u32
        })
        .unwrap();
        drop(set); // aborts stale handles
        handle.abort();
        let ra = kasync_host::time::timeout(Duration::from_secs(2), a).await;
        let rb = kasync_host::time::timeout(Duration::from_secs(2), b).await;
        eprintln!("new runtime's tasks after stale aborts: {ra:?} {rb:?}");
        assert_eq!(ra, Ok(Ok(1)));
        assert_eq!(rb, Ok(Ok(2)));
    });
}

#[test]
fn stale_joinhandle_awaited_in_new_runtime() {
    let rt1 = Runtime::new().unwrap();
    let h = rt1.block_on(async { kasync_host::spawn(std::future::pending::<u32>()).unwrap() });
    drop(rt1);
    let rt2 = Runtime::new().unwrap();
    let r = rt2.block_on(async move {
        let new = kasync_host::spawn(async {
            kasync_host::sleep(Duration::from_millis(30)).await;
            7u32
        })
        .unwrap();
        let r = kasync_host::time::timeout(Duration::from_secs(2), h).await;
        (r, new.await)
    });
    eprintln!("stale handle awaited in a new runtime: {r:?}");
    assert!(
        r.0.is_ok(),
        "a stale handle resolves (Cancelled), it does not hang"
    );
    assert_eq!(r.1, Ok(7));
}

#[test]
fn joinset_edges() {
    Runtime::new().unwrap().block_on(async {
        let mut set = JoinSet::new();
        assert!(set.join_next().await.is_none());
        set.spawn(async { panic!("boom") }).unwrap();
        set.spawn(async { 5u32 }).unwrap();
        let mut got = Vec::new();
        while let Some(r) = set.join_next().await {
            got.push(format!("{r:?}"));
        }
        eprintln!("{got:?}");
        assert!(got.iter().any(|g| g.contains("Panicked")));
        // abort a finished task
        set.spawn(async { 1u32 }).unwrap();
        kasync_host::sleep(Duration::from_millis(1)).await;
        set.abort_all();
        let r = set.join_next().await.unwrap();
        eprintln!("abort after finish: {r:?}");
        // a task that drops the set it is in? (a task owning a set that holds itself is impossible; drop a set from a task)
        let mut inner = JoinSet::new();
        for _ in 0..100 {
            inner.spawn(std::future::pending::<u32>()).unwrap();
        }
        let t = kasync_host::spawn(async move {
            inner.shutdown().await;
            inner.len()
        })
        .unwrap();
        assert_eq!(
            kasync_host::time::timeout(Duration::from_secs(2), t).await,
            Ok(Ok(0))
        );
        // spawn_detached a panicking task: the runtime survives
        kasync_host::spawn_detached(async { panic!("detached boom") }).unwrap();
        kasync_host::sleep(Duration::from_millis(5)).await;
    });
}

/// `Duration::MAX` means "never", made outside a runtime or inside, for a
/// sleep, its deadline, its `Debug` and a timeout (made outside, it
/// panicked with an `Instant` overflow).
#[test]
fn sleeps_of_duration_max_never_end() {
    use futures_util::future::{Either, select};
    use std::pin::pin;

    let outside = kasync_host::sleep(Duration::MAX);
    assert!(outside.deadline() > Instant::now() + Duration::from_secs(365 * 86_400));
    assert!(format!("{outside:?}").contains("elapsed: false"));
    Runtime::new().unwrap().block_on(async {
        let short = kasync_host::sleep(Duration::from_millis(5));
        assert!(matches!(
            select(pin!(outside), pin!(short)).await,
            Either::Right(_)
        ));
        let inside = kasync_host::sleep(Duration::MAX);
        let short = kasync_host::sleep(Duration::from_millis(5));
        assert!(matches!(
            select(pin!(inside), pin!(short)).await,
            Either::Right(_)
        ));
        assert_eq!(
            kasync_host::time::timeout(Duration::MAX, async { 1 }).await,
            Ok(1)
        );
    });
}
