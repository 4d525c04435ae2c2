//! `serve` with careless user code: a response body that panics or fails
//! mid-stream, a service whose `Clone` panics, an `on_connection_error`
//! that panics. Each costs at most its own request or connection.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use kasync_host::net::TcpListener;

/// Serves `service` on a thread of its own for `lifetime`; the reports
/// it made, and whether it ended cleanly, come back on the channels.
fn start<S: kasync_hyper::HttpService + Send>(
    service: S,
    report_panics: bool,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>, mpsc::Receiver<bool>) {
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
                        seen.lock().unwrap().push(e.to_string());
                        if report_panics {
                            panic!("the report panics (on purpose): {e}");
                        }
                    })
                    .with_graceful_shutdown(kasync_host::sleep(Duration::from_millis(1500)))
                    .await
            })
        }));
        let _ = done_tx.send(matches!(served, Ok(Ok(()))));
    });
    (
        addr_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        errors,
        done,
    )
}

/// A GET with `Connection: close`; the whole reply (or what came of it).
fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = StdTcp::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// A body: one frame, then a panic or an error.
struct BadBody {
    frames: u32,
    panics: bool,
}

impl http_body::Body for BadBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.frames += 1;
        if self.frames == 1 {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'a'; 1000])))));
        }
        if self.panics {
            panic!("the body panics mid-stream (on purpose)");
        }
        Poll::Ready(Some(Err(std::io::Error::other(
            "the body fails mid-stream",
        ))))
    }
}

/// A body that panics (or fails) mid-stream ends its response, is
/// reported once (the panic as a `ServicePanic`), and the server goes on
/// to the next connection and ends cleanly. (A panicking body was
/// reported by nobody.)
#[test]
fn a_body_that_panics_or_fails_mid_stream_is_reported_once() {
    for panics in [true, false] {
        let service = kasync_hyper::ServiceFn(move |_: Request<Incoming>| async move {
            Ok::<_, Infallible>(Response::new(BadBody { frames: 0, panics }))
        });
        let (addr, errors, done) = start(service, false);
        // hyper closes the connection on a body's error, before its buffer
        // (the head and the first frame) went out: never a whole response.
        let reply = get(addr).unwrap();
        assert!(!reply.ends_with("0\r\n\r\n"), "{reply}");
        let reply = get(addr).unwrap();
        assert!(
            !reply.ends_with("0\r\n\r\n"),
            "the next connection: {reply}"
        );
        assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(true));
        let errors = errors.lock().unwrap();
        assert_eq!(errors.len(), 2, "once per failed response: {errors:?}");
        if panics {
            assert!(errors.iter().all(|e| e.contains("panicked")), "{errors:?}");
        }
    }
}

static CLONES: AtomicUsize = AtomicUsize::new(0);

/// A service whose third clone panics.
struct CloneOnce;

impl Clone for CloneOnce {
    fn clone(&self) -> Self {
        if CLONES.fetch_add(1, Ordering::SeqCst) == 2 {
            panic!("the clone panics (on purpose)");
        }
        CloneOnce
    }
}

impl tower_service::Service<Request<Incoming>> for CloneOnce {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Incoming>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

/// The clone for one connection panics: that connection is closed and
/// reported, the others are served. (The server itself stopped.)
#[test]
fn a_service_whose_clone_panics_loses_one_connection() {
    let (addr, errors, done) = start(CloneOnce, false);
    let replies: Vec<String> = (0..4).map(|_| get(addr).unwrap()).collect();
    let served = replies.iter().filter(|r| r.ends_with("ok")).count();
    assert!(served >= 3, "{replies:?}");
    assert_eq!(
        done.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "the server ended cleanly"
    );
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("clone panics"))
    );
}

/// An `on_connection_error` that panics, reporting a panicking handler:
/// the 500 still goes out, and the server goes on.
#[test]
fn a_report_that_panics_stops_nothing() {
    let service = kasync_hyper::ServiceFn(|_: Request<Incoming>| async {
        if true {
            panic!("the handler panics (on purpose)");
        }
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let (addr, errors, done) = start(service, true);
    for _ in 0..2 {
        let reply = get(addr).unwrap();
        assert!(reply.starts_with("HTTP/1.1 500"), "{reply}");
    }
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(true));
    assert_eq!(errors.lock().unwrap().len(), 2);
}
