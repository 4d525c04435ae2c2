//! `serve` with axum over HTTP/1 and HTTP/2, graceful shutdown, the
//! connection limit, the pooled client, and hyper's timer and executor on
//! kasync at their edges.

use std::cell::Cell;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::rt::Timer as _;
use kasync_host::net::{TcpListener, TcpStream};

fn app() -> Router {
    #[derive(Clone)]
    struct Hits(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/count",
            post(|State(hits): State<Hits>, body: String| async move {
                let n = hits.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                axum::Json(serde_json::json!({ "n": n, "len": body.len() }))
            }),
        )
        .with_state(Hits(Default::default()))
}

/// An axum router through one `serve` call, over HTTP/1.1 (pooled client)
/// and HTTP/2 with prior knowledge (hyper's HTTP/2 client on a kasync
/// connection), with shared state and JSON.
#[test]
fn axum_over_http1_and_http2() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let errors = Rc::new(Cell::new(0));
        let seen = errors.clone();
        let server = kasync_hyper::serve(listener, app()).on_connection_error(move |_, e| {
            eprintln!("connection error: {e}");
            seen.set(seen.get() + 1)
        });
        kasync_host::spawn_detached(server.run()).unwrap();

        let client = kasync_hyper::client::<Full<Bytes>>();
        for expected in 1..=3 {
            let request = hyper::Request::post(format!("http://{addr}/count"))
                .body(Full::new(Bytes::from("abcd")))
                .unwrap();
            let response = client.request(request).await.unwrap();
            assert_eq!(response.version(), hyper::Version::HTTP_11);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["n"], expected);
            assert_eq!(json["len"], 4);
        }

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h2, connection) = hyper::client::conn::http2::handshake(
            kasync_hyper::Executor,
            kasync_hyper::Io::new(stream),
        )
        .await
        .unwrap();
        kasync_host::spawn_detached(async move { connection.await.unwrap() }).unwrap();
        let mut responses = Vec::new();
        for _ in 0..4 {
            let request = hyper::Request::get(format!("http://{addr}/"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            responses.push(h2.send_request(request)); // concurrent streams
        }
        for response in responses {
            let response = response.await.unwrap();
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            assert_eq!(
                response.into_body().collect().await.unwrap().to_bytes(),
                "hello"
            );
        }
        drop(h2);
        kasync_host::sleep(Duration::from_millis(20)).await;
        assert_eq!(errors.get(), 0);
    });
}

/// The shutdown signal stops the accept loop, an idle keep-alive
/// connection is closed, and `serve` returns; a new connection is refused.
#[test]
fn graceful_shutdown_closes_idle_connections_and_returns() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Rc::new(kasync_host_signal());
        let trigger = stop.clone();
        let server = kasync_host::spawn(
            kasync_hyper::serve(listener, app())
                .with_graceful_shutdown(async move { trigger.wait().await })
                .run(),
        )
        .unwrap();
        // A keep-alive client that got its answer and stays open.
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(std::str::from_utf8(&buf[..n]).unwrap().ends_with("hello"));
            // Closed by the server's shutdown: end of stream, not a timeout.
            let n = s.read(&mut buf).expect("closed, not timed out");
            assert_eq!(n, 0);
        });
        kasync_host::sleep(Duration::from_millis(20)).await;
        stop.set();
        server.await.unwrap().unwrap();
        while !client.is_finished() {
            kasync_host::sleep(Duration::from_millis(2)).await;
        }
        client.join().unwrap();
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "no longer listening"
        );
    });
}

/// A one-shot signal for the tests (set once, awaited by one waiter).
struct Once {
    set: Cell<bool>,
    waker: Cell<Option<std::task::Waker>>,
}
fn kasync_host_signal() -> Once {
    Once {
        set: Cell::new(false),
        waker: Cell::new(None),
    }
}
impl Once {
    fn set(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.set.get() {
                std::task::Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// With `max_connections(1)`, a second client is served only once the
/// first one closed; nothing is lost.
#[test]
fn the_connection_limit_holds_the_second_client_until_the_first_closes() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Rc::new(Cell::new(0usize));
        let most = Rc::new(Cell::new(0usize));
        let (o, m) = (open.clone(), most.clone());
        let service = kasync_hyper::ServiceFn(move |_req| {
            let (o, m) = (o.clone(), m.clone());
            async move {
                o.set(o.get() + 1);
                m.set(m.get().max(o.get()));
                kasync_host::sleep(Duration::from_millis(5)).await;
                o.set(o.get() - 1);
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
            }
        });
        kasync_host::spawn_detached(
            kasync_hyper::serve(listener, service)
                .max_connections(1)
                .run(),
        )
        .unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                        .unwrap();
                    let mut all = String::new();
                    s.read_to_string(&mut all).unwrap();
                    assert!(all.ends_with("ok"), "{all}");
                })
            })
            .collect();
        while clients.iter().any(|c| !c.is_finished()) {
            kasync_host::sleep(Duration::from_millis(2)).await;
        }
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(most.get(), 1, "one connection at a time");
    });
}

/// The pooled client reuses its connection; an `https` or host-less URI
/// is an error that says what to do, not a panic.
#[test]
fn the_pooled_client_reuses_connections_and_rejects_what_it_cannot_do() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Rc::new(std::cell::RefCell::new(std::collections::HashSet::new()));
        let seen = peers.clone();
        // Count distinct client ports with a hand-made accept loop.
        kasync_host::spawn_detached(async move {
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                seen.borrow_mut().insert(peer);
                kasync_host::spawn_detached(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("x"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(kasync_hyper::Io::new(stream), service)
                        .await;
                })
                .unwrap();
            }
        })
        .unwrap();
        let client = kasync_hyper::client::<Empty<Bytes>>();
        for _ in 0..5 {
            let response = client
                .get(format!("http://{addr}/").parse().unwrap())
                .await
                .unwrap();
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(peers.borrow().len(), 1, "one pooled connection");
        let https = client
            .get("https://127.0.0.1/".parse().unwrap())
            .await
            .unwrap_err();
        let source = std::error::Error::source(&https)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(source.contains("TLS"), "{https:?}");
        let none = kasync_hyper::connect::<Empty<Bytes>>(&"/relative".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(none.kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// hyper's timer: a sleep reset later ends later, one reset earlier ends
/// earlier, and a foreign sleep is replaced.
#[test]
fn hyper_timer_sleeps_and_resets() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let timer = kasync_hyper::Timer;
        let start = Instant::now();
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(3));
        sleep.await;
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(3) && took < Duration::from_secs(60),
            "{took:?}"
        );
    });
}

/// The executor on a full runtime drops the task instead of panicking.
#[test]
fn the_executor_on_a_full_runtime_drops_the_task() {
    use hyper::rt::Executor as _;
    let rt = kasync_host::Builder::new().max_tasks(1).build().unwrap();
    rt.block_on(async {
        let ran = Rc::new(Cell::new(0));
        let (a, b) = (ran.clone(), ran.clone());
        kasync_hyper::Executor.execute(async move {
            kasync_host::sleep(Duration::from_millis(5)).await;
            a.set(a.get() + 1)
        });
        kasync_hyper::Executor.execute(async move { b.set(b.get() + 10) }); // no slot: dropped
        kasync_host::sleep(Duration::from_millis(20)).await;
        assert_eq!(ran.get(), 1);
    });
}

/// A name is resolved off the runtime's thread ("localhost"); a name that
/// does not resolve is an error that names it.
#[test]
fn the_client_resolves_names_and_reports_unknown_ones() {
    kasync_host::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = kasync_hyper::ServiceFn(|_req| async {
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("by name"))))
        });
        kasync_host::spawn_detached(kasync_hyper::serve(listener, app).run()).unwrap();
        let client = kasync_hyper::client::<Empty<Bytes>>();
        // "localhost" may resolve to ::1 first, where nothing listens: the
        // next address is tried.
        let response = client
            .get(format!("http://localhost:{port}/").parse().unwrap())
            .await
            .unwrap();
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "by name"
        );
        let unknown =
            kasync_hyper::connect::<Empty<Bytes>>(&"http://no-such-host.invalid/".parse().unwrap())
                .await
                .unwrap_err();
        assert!(
            unknown.to_string().contains("no-such-host.invalid"),
            "{unknown}"
        );
    });
}
