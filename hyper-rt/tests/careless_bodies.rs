//! `serve`'s panic guard: services and bodies that
//! panic in unusual places (a body's `size_hint`, `is_end_stream` or
//! `Drop`, a response future's `Drop`), panics whose payload's own `Drop`
//! panics, a body that never ends. Expected each time: the server keeps
//! serving, ends cleanly at its shutdown, and reports a panic once.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp};
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use kasync_host::net::TcpListener;

/// How the server ended: `Ok` cleanly, `Err` with what went wrong.
type Ended = Result<(), String>;

/// Serves `service` on a thread of its own until `stop_after`, then a
/// graceful shutdown of at most `shutdown_timeout`; the reports it made
/// and how it ended come back.
fn start<S: kasync_hyper::HttpService + Send>(
    service: S,
    stop_after: Duration,
    shutdown_timeout: Duration,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>, mpsc::Receiver<Ended>) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    std::thread::spawn(move || {
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kasync_host::Runtime::new().unwrap().block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                kasync_hyper::serve(listener, service)
                    .on_connection_error(move |_, e| {
                        let panic = e.downcast_ref::<kasync_hyper::ServicePanic>().is_some();
                        seen.lock()
                            .unwrap()
                            .push(format!("{}{e}", if panic { "panic: " } else { "" }));
                    })
                    .shutdown_timeout(shutdown_timeout)
                    .with_graceful_shutdown(kasync_host::sleep(stop_after))
                    .await
            })
        }));
        let ended = match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("serve failed: {e}")),
            Err(_) => Err(String::from("the server's block_on panicked")),
        };
        let _ = done_tx.send(ended);
    });
    (
        addr_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        errors,
        done,
    )
}

/// Sends `requests` (raw HTTP/1.1) on one connection; the whole reply.
fn exchange(addr: SocketAddr, requests: &str) -> String {
    let Ok(mut s) = StdTcp::connect(addr) else {
        return String::from("(connect failed)");
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(requests.as_bytes());
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

const BAD_THEN_OK: &str =
    "GET /bad HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const OK: &str = "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A panic payload whose own `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the panic payload's drop panics (on purpose)");
    }
}

/// Where a body (or the service) misbehaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Where {
    SizeHint,
    IsEndStream,
    BodyDrop,
    FutureDrop,
    PendingFutureDrop,
    CallBombPayload,
    FutureBombPayload,
    FrameBombPayload,
    NonStringPayload,
    ErrorDisplay,
}

struct Body {
    bad: Option<Where>,
    sent: bool,
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.bad == Some(Where::FrameBombPayload) {
            std::panic::panic_any(Bomb);
        }
        if self.sent {
            return Poll::Ready(None);
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"body")))))
    }

    fn is_end_stream(&self) -> bool {
        if self.bad == Some(Where::IsEndStream) {
            panic!("is_end_stream panics (on purpose)");
        }
        false
    }

    fn size_hint(&self) -> SizeHint {
        if self.bad == Some(Where::SizeHint) {
            panic!("size_hint panics (on purpose)");
        }
        SizeHint::default()
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if self.bad == Some(Where::BodyDrop) && !std::thread::panicking() {
            panic!("the body's drop panics (on purpose)");
        }
    }
}

/// A response future that is ready at once; its `Drop` may panic.
struct Respond {
    bad: Option<Where>,
}

impl Future for Respond {
    type Output = Result<Response<Body>, BadError>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        match self.bad {
            Some(Where::FutureBombPayload) => std::panic::panic_any(Bomb),
            Some(Where::NonStringPayload) => std::panic::panic_any(42u64),
            Some(Where::ErrorDisplay) => Poll::Ready(Err(BadError)),
            Some(Where::PendingFutureDrop) => Poll::Pending,
            bad => Poll::Ready(Ok(Response::new(Body { bad, sent: false }))),
        }
    }
}

impl Drop for Respond {
    fn drop(&mut self) {
        if matches!(self.bad, Some(Where::FutureDrop | Where::PendingFutureDrop))
            && !std::thread::panicking()
        {
            panic!("the response future's drop panics (on purpose)");
        }
    }
}

/// A service error whose `Display` panics.
#[derive(Debug)]
struct BadError;

impl std::fmt::Display for BadError {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("the error's Display panics (on purpose)");
    }
}

impl std::error::Error for BadError {}

#[derive(Clone)]
struct Svc(Where);

impl tower_service::Service<Request<Incoming>> for Svc {
    type Response = Response<Body>;
    type Error = BadError;
    type Future = Respond;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BadError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Respond {
        let bad = (request.uri().path() == "/bad").then_some(self.0);
        if bad == Some(Where::CallBombPayload) {
            std::panic::panic_any(Bomb);
        }
        Respond { bad }
    }
}

/// Runs one misbehaviour: a bad request then a good one on one
/// connection, then a good one on a fresh connection; returns what was
/// seen, for the assertions.
fn run(bad: Where) -> (String, String, Vec<String>, Ended) {
    let (addr, errors, done) = start(
        Svc(bad),
        Duration::from_millis(1500),
        Duration::from_secs(5),
    );
    let first = exchange(addr, BAD_THEN_OK);
    let second = exchange(addr, OK);
    let ended = done
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| Err(String::from("the server did not end")));
    let errors = errors.lock().unwrap().clone();
    (first, second, errors, ended)
}

fn check(bad: Where, expect_500: bool) {
    let (first, second, errors, ended) = run(bad);
    let summary = format!(
        "{bad:?}:\n first connection: {first:?}\n next connection: {second:?}\n reports: {errors:?}\n ended: {ended:?}"
    );
    eprintln!("{summary}");
    assert_eq!(ended, Ok(()), "{summary}");
    assert!(
        second.starts_with("HTTP/1.1 200") && second.contains("body\r\n0\r\n\r\n"),
        "the server goes on: {summary}"
    );
    assert_eq!(
        errors.iter().filter(|e| e.starts_with("panic")).count(),
        1,
        "reported once: {summary}"
    );
    if expect_500 {
        assert!(first.starts_with("HTTP/1.1 500"), "a 500: {summary}");
    }
}

#[test]
fn a_body_whose_size_hint_panics() {
    check(Where::SizeHint, true);
}

#[test]
fn a_body_whose_is_end_stream_panics() {
    check(Where::IsEndStream, true);
}

#[test]
fn a_body_whose_drop_panics() {
    check(Where::BodyDrop, false);
}

#[test]
fn a_response_future_whose_drop_panics() {
    check(Where::FutureDrop, false);
}

#[test]
fn a_call_panicking_with_a_payload_whose_drop_panics() {
    check(Where::CallBombPayload, true);
}

#[test]
fn a_response_future_panicking_with_a_payload_whose_drop_panics() {
    check(Where::FutureBombPayload, true);
}

#[test]
fn a_body_panicking_with_a_payload_whose_drop_panics() {
    check(Where::FrameBombPayload, false);
}

#[test]
fn a_non_string_payload() {
    check(Where::NonStringPayload, true);
    let (_, _, errors, _) = run(Where::NonStringPayload);
    assert!(errors[0].contains("not a string"), "{errors:?}");
}

/// A service error whose `Display` panics: the default report (stderr)
/// formats it; the server must go on regardless. (No panic is reported:
/// it is an error, not a panic of the service.)
#[test]
fn a_service_error_whose_display_panics() {
    let (addr, _errors, done) = {
        // The default report: on stderr, which formats the error.
        let (addr_tx, addr_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                kasync_host::Runtime::new().unwrap().block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                    addr_tx.send(listener.local_addr().unwrap()).unwrap();
                    kasync_hyper::serve(listener, Svc(Where::ErrorDisplay))
                        .with_graceful_shutdown(kasync_host::sleep(Duration::from_millis(1500)))
                        .await
                })
            }));
            let _ = done_tx.send(matches!(served, Ok(Ok(()))));
        });
        (
            addr_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            (),
            done,
        )
    };
    let first = exchange(addr, BAD_THEN_OK);
    let second = exchange(addr, OK);
    let ended = done.recv_timeout(Duration::from_secs(15));
    assert_eq!(ended, Ok(true), "first {first:?} second {second:?}");
    assert!(second.contains("body\r\n0\r\n\r\n"), "{second:?}");
}

static CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A service whose second clone for a connection (the accept loop clones
/// the one `serve` was given; hyper's adapter clones the connection's
/// clone per request) panics with a payload whose `Drop` panics.
struct CloneBomb {
    original: bool,
}

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        if self.original && CLONES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            std::panic::panic_any(Bomb);
        }
        CloneBomb { original: false }
    }
}

impl tower_service::Service<Request<Incoming>> for CloneBomb {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Incoming>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"body")))))
    }
}

/// The clone for one connection panics with a payload whose drop panics:
/// that connection is lost, the server goes on.
#[test]
fn a_clone_panicking_with_a_payload_whose_drop_panics() {
    let (addr, errors, done) = start(
        CloneBomb { original: true },
        Duration::from_millis(1500),
        Duration::from_secs(5),
    );
    let replies: Vec<String> = (0..4).map(|_| exchange(addr, OK)).collect();
    let ended = done
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| Err(String::from("the server did not end")));
    let errors = errors.lock().unwrap().clone();
    let served = replies.iter().filter(|r| r.contains("body")).count();
    let summary = format!("replies {replies:?}\nreports {errors:?}\nended {ended:?}");
    assert_eq!(ended, Ok(()), "{summary}");
    assert!(served >= 3, "{summary}");
}

/// A body that never ends (always pending, after a first frame): the
/// shutdown closes its connection when its timeout is over, and `serve`
/// returns.
#[test]
fn a_body_that_never_ends_does_not_hold_the_shutdown() {
    struct Endless(bool);
    impl http_body::Body for Endless {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if !self.0 {
                self.0 = true;
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"start")))));
            }
            Poll::Pending
        }
    }
    let service = kasync_hyper::ServiceFn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Endless(false)))
    });
    let t = Instant::now();
    let (addr, _errors, done) = start(
        service,
        Duration::from_millis(300),
        Duration::from_millis(500),
    );
    let client = std::thread::spawn(move || exchange(addr, OK));
    let ended = done.recv_timeout(Duration::from_secs(10));
    let took = t.elapsed();
    let reply = client.join().unwrap();
    assert_eq!(ended, Ok(Ok(())), "reply {reply:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// An `on_connection_error` that panics with a payload whose `Drop`
/// panics, reporting a panicking handler: the 500 still goes out and the
/// server goes on (as with a report that panics plainly).
#[test]
fn a_report_panicking_with_a_payload_whose_drop_panics() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kasync_host::Runtime::new().unwrap().block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let service = kasync_hyper::ServiceFn(|_: Request<Incoming>| async {
                    if true {
                        panic!("the handler panics (on purpose)");
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                });
                kasync_hyper::serve(listener, service)
                    .on_connection_error(|_, _| std::panic::panic_any(Bomb))
                    .with_graceful_shutdown(kasync_host::sleep(Duration::from_millis(1500)))
                    .await
            })
        }));
        let _ = done_tx.send(matches!(served, Ok(Ok(()))));
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let replies: Vec<String> = (0..2).map(|_| exchange(addr, OK)).collect();
    assert_eq!(
        done.recv_timeout(Duration::from_secs(15)),
        Ok(true),
        "{replies:?}"
    );
    for r in &replies {
        assert!(r.starts_with("HTTP/1.1 500"), "{replies:?}");
    }
}

/// A response future still pending when its client goes away: hyper drops
/// it outside any poll, and its `Drop` panics. The panic is reported once
/// and the server goes on (before, it escaped into the connection's task).
#[test]
fn a_pending_response_future_whose_drop_panics() {
    let (addr, errors, done) = start(
        Svc(Where::PendingFutureDrop),
        Duration::from_millis(1500),
        Duration::from_secs(5),
    );
    {
        let mut s = StdTcp::connect(addr).unwrap();
        s.write_all(b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    } // closed while the response is pending
    std::thread::sleep(Duration::from_millis(200));
    let next = exchange(addr, OK);
    let ended = done
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| Err(String::from("the server did not end")));
    let errors = errors.lock().unwrap().clone();
    assert_eq!(ended, Ok(()));
    assert!(next.starts_with("HTTP/1.1 200"), "{next:?}");
    assert_eq!(
        errors.iter().filter(|e| e.starts_with("panic")).count(),
        1,
        "{errors:?}"
    );
}
