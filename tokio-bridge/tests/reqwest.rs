//! reqwest inside a kasync task, through the bridge, against a kasync
//! server; tokio timers and spawns from a kasync task; a bridge of one's
//! own stops cleanly.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

#[test]
fn reqwest_get_inside_a_kasync_task() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            kasync_hyper::ServiceFn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let text = format!("kasync served {}", req.uri().path());
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
            });
        kasync_host::spawn_detached(kasync_hyper::serve(listener, app).run()).unwrap();
        let task = kasync_host::spawn(kasync_tokio_bridge::bridge(async move {
            let client = reqwest::Client::new();
            let mut bodies = Vec::new();
            for path in ["/one", "/two"] {
                let response = client.get(format!("http://{addr}{path}")).send().await?;
                assert!(response.status().is_success());
                bodies.push(response.text().await?);
            }
            Ok::<_, reqwest::Error>(bodies)
        }))
        .unwrap();
        let bodies = task.await.unwrap().unwrap();
        assert_eq!(bodies, ["kasync served /one", "kasync served /two"]);
    });
}

#[test]
fn without_the_bridge_tokio_time_panics_and_with_it_works() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let bare = kasync_host::spawn(async { tokio::time::sleep(Duration::from_millis(1)).await })
            .unwrap();
        assert!(
            bare.await.is_err(),
            "tokio's timer needs its runtime: the task panics"
        );
        let start = Instant::now();
        kasync_tokio_bridge::bridge(async { tokio::time::sleep(Duration::from_millis(3)).await })
            .await;
        assert!(start.elapsed() >= Duration::from_millis(3));
        let timed_out = kasync_tokio_bridge::bridge(async {
            tokio::time::timeout(Duration::from_millis(2), std::future::pending::<()>()).await
        })
        .await;
        assert!(timed_out.is_err());
    });
}

#[test]
fn an_own_bridge_stops_its_thread_when_dropped() {
    let bridge = kasync_tokio_bridge::Bridge::new().unwrap();
    let handle = bridge.handle().clone();
    let spawned = kasync_host::Runtime::new()
        .unwrap()
        .block_on(bridge.wrap(async { tokio::spawn(async { 5 }).await }));
    assert_eq!(spawned.unwrap(), 5);
    drop(bridge);
    // The runtime is gone: a task spawned now never runs, and says so.
    let after = handle.spawn(async { 1 });
    let joined = futures_lite_block_on(after);
    assert!(joined.is_err(), "cancelled with its runtime");
}

/// Polls a future to completion on this thread (no runtime needed: the
/// join handle of a shut-down runtime completes at once).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    kasync_host::Runtime::new().unwrap().block_on(f)
}
