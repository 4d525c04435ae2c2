//! Clients that send a request, read the whole response and close
//! cleanly leave no connection error behind — the spurious
//! "connection closed before message completed" (`IncompleteMessage`)
//! hyper used to log on kasync.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use kasync_host::net::TcpListener;

const BODY: &[u8] = b"hello from kasync";

/// Reads one response with a `content-length` body from `stream`.
fn read_response(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("the response");
        assert!(n > 0, "the server closed before the whole response");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&got[..end])
                .unwrap()
                .to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("a content-length");
            if got.len() >= end + 4 + len {
                return got[end + 4..end + 4 + len].to_vec();
            }
        }
    }
}

/// `clients` threads, each doing `requests` keep-alive requests and then
/// closing (with `shutdown_first`, shutting its writing side down before
/// the close, as curl and most clients do not).
fn run_clients(addr: SocketAddr, clients: usize, requests: usize, shutdown_first: bool) {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                for _ in 0..requests {
                    stream
                        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
                        .unwrap();
                    assert_eq!(read_response(&mut stream), BODY);
                }
                if shutdown_first {
                    stream.shutdown(Shutdown::Write).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Serves on kasync until the clients are done, then gives the connection
/// errors logged.
fn errors_after(
    serve: impl FnOnce(TcpListener, Rc<RefCell<Vec<String>>>),
    clients: usize,
    requests: usize,
    shutdown_first: bool,
) -> Vec<String> {
    let rt = kasync_host::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let errors = Rc::new(RefCell::new(Vec::new()));
        serve(listener, errors.clone());
        let clients =
            std::thread::spawn(move || run_clients(addr, clients, requests, shutdown_first));
        while !clients.is_finished() {
            kasync_host::sleep(Duration::from_millis(2)).await;
        }
        clients.join().unwrap();
        // Let the server see every close.
        kasync_host::sleep(Duration::from_millis(50)).await;
        errors.take()
    })
}

fn hello() -> impl tower_service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<hyper::Response<Full<Bytes>>, Infallible>> + 'static,
> + Clone
+ 'static {
    kasync_hyper::ServiceFn(|_req| async {
        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(BODY))))
    })
}

fn through_serve(listener: TcpListener, errors: Rc<RefCell<Vec<String>>>) {
    let server = kasync_hyper::serve(listener, hello())
        .on_connection_error(move |peer, e| errors.borrow_mut().push(format!("{peer}: {e:?}")));
    kasync_host::spawn_detached(server.run()).unwrap();
}

/// hyper's own HTTP/1 connection over [`kasync_hyper::Io`], no `serve`.
fn through_http1(listener: TcpListener, errors: Rc<RefCell<Vec<String>>>) {
    kasync_host::spawn_detached(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let errors = errors.clone();
            kasync_host::spawn_detached(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(BODY))))
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(kasync_hyper::Io::new(stream), service)
                    .await
                {
                    errors.borrow_mut().push(format!("{peer}: {e:?}"));
                }
            })
            .unwrap();
        }
    })
    .unwrap();
}

#[test]
fn serve_logs_nothing_when_clients_close_cleanly() {
    let errors = errors_after(through_serve, 16, 4, false);
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}

#[test]
fn serve_logs_nothing_when_clients_shut_down_then_close() {
    let errors = errors_after(through_serve, 16, 4, true);
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}

#[test]
fn plain_http1_logs_nothing_when_clients_close_cleanly() {
    let errors = errors_after(through_http1, 16, 4, false);
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}

#[test]
fn one_request_per_connection_logs_nothing() {
    let errors = errors_after(through_serve, 32, 1, false);
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}
