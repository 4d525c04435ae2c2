//! `serve` against hostile peers and careless services: peers that never
//! send, stop halfway through the version check, never read a response;
//! services that panic; shutdowns those would hold forever.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Empty, Full};
use kasync_host::net::TcpListener;

/// What the server reported through `on_connection_error`.
type Errors = Arc<Mutex<Vec<String>>>;

/// How the server under test is set up.
#[derive(Clone, Copy)]
struct Setup {
    max_connections: Option<usize>,
    handshake_timeout: Option<Duration>,
    shutdown_timeout: Option<Duration>,
}

const DEFAULTS: Setup = Setup {
    max_connections: None,
    handshake_timeout: None,
    shutdown_timeout: None,
};

/// A server on its own thread and runtime.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    done: mpsc::Receiver<()>,
    errors: Errors,
}

impl Server {
    fn start(setup: Setup) -> Self {
        let (done_tx, done) = mpsc::channel();
        let (addr_tx, addr_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Errors::default();
        let (stopping, seen) = (stop.clone(), errors.clone());
        std::thread::spawn(move || {
            kasync_host::Runtime::new().unwrap().block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let service = kasync_hyper::ServiceFn(|req: hyper::Request<_>| async move {
                    match req.uri().path() {
                        "/panic" => panic!("the service panicked on purpose"),
                        "/hang" => std::future::pending::<()>().await,
                        "/big" => {
                            let big = Bytes::from(vec![b'x'; 16 << 20]);
                            return Ok::<_, Infallible>(hyper::Response::new(Full::new(big)));
                        }
                        _ => {}
                    }
                    Ok(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let mut server = kasync_hyper::serve(listener, service)
                    .on_connection_error(move |peer, e| {
                        let kind = if e.is::<kasync_hyper::ServicePanic>() {
                            "panic"
                        } else {
                            "error"
                        };
                        seen.lock().unwrap().push(format!("{kind} {peer}: {e}"));
                    })
                    .with_graceful_shutdown(async move {
                        while !stopping.load(Ordering::SeqCst) {
                            kasync_host::sleep(Duration::from_millis(5)).await;
                        }
                    });
                if let Some(max) = setup.max_connections {
                    server = server.max_connections(max);
                }
                if let Some(timeout) = setup.handshake_timeout {
                    server = server.handshake_timeout(timeout);
                }
                if let Some(timeout) = setup.shutdown_timeout {
                    server = server.shutdown_timeout(timeout);
                }
                server.await.unwrap();
            });
            let _ = done_tx.send(());
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            addr,
            stop,
            done,
            errors,
        }
    }

    /// Signals the shutdown; `true` if `serve` returned within `within`.
    fn shut_down(&self, within: Duration) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.done.recv_timeout(within).is_ok()
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// A GET with `Connection: close`; the whole reply.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = StdTcp::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn assert_serves(addr: SocketAddr) {
    let reply = get(addr, "/").expect("the server still serves");
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.ends_with("ok"),
        "{reply}"
    );
}

/// Peers that connect and never send a byte hold every place of the
/// connection limit: the handshake timeout closes them, and a real client
/// is served after it, not never.
#[test]
fn silent_peers_cannot_hold_the_connection_limit() {
    let server = Server::start(Setup {
        max_connections: Some(4),
        handshake_timeout: Some(Duration::from_millis(300)),
        ..DEFAULTS
    });
    let silent: Vec<StdTcp> = (0..4)
        .map(|_| StdTcp::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_serves(server.addr);
    // Each silent peer was closed by the server (EOF, not our timeout).
    for mut peer in silent {
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(peer.read(&mut [0; 16]).unwrap(), 0);
    }
    let errors = server.errors();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("Serve::handshake_timeout")),
        "{errors:?}"
    );
    assert!(server.shut_down(Duration::from_secs(10)));
}

/// A peer that stops inside what could still be HTTP/2's preface ("PRI")
/// is in hyper-util's version check, where no hyper timeout runs.
#[test]
fn a_peer_stuck_in_the_version_check_is_closed() {
    let server = Server::start(Setup {
        handshake_timeout: Some(Duration::from_millis(200)),
        ..DEFAULTS
    });
    let mut peer = StdTcp::connect(server.addr).unwrap();
    peer.write_all(b"PRI * HT").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(peer.read(&mut [0; 16]).unwrap(), 0, "closed by the server");
    assert_eq!(server.errors().len(), 1, "{:?}", server.errors());
    // A request sent in pieces slower than nothing at all is still served:
    // the timeout bounds only the first bytes.
    let mut slow = StdTcp::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for part in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],
        b"Connection: close\r\n\r\n",
    ] {
        slow.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut reply = String::new();
    slow.read_to_string(&mut reply).unwrap();
    assert!(reply.ends_with("ok"), "{reply}");
    assert!(server.shut_down(Duration::from_secs(10)));
}

/// HTTP/2's preface sent in two pieces is put back together for hyper.
#[test]
fn an_http2_preface_in_pieces_is_served() {
    let server = Server::start(DEFAULTS);
    let addr = server.addr;
    let status = std::thread::spawn(move || {
        kasync_host::Runtime::new().unwrap().block_on(async move {
            let stream = kasync_host::net::TcpStream::connect(addr).await.unwrap();
            // Nine bytes first, the rest (and hyper's handshake) later.
            stream.write_all(&b"PRI * HTT"[..]).await.0.unwrap();
            kasync_host::sleep(Duration::from_millis(100)).await;
            stream
                .write_all(&b"P/2.0\r\n\r\nSM\r\n\r\n"[..])
                .await
                .0
                .unwrap();
            // The preface is sent: hyper's client must not send it again,
            // so speak through a stream whose first 24 bytes are gone.
            let io = kasync_hyper::Io::new(stream);
            let (mut h2, connection) =
                hyper::client::conn::http2::Builder::new(kasync_hyper::Executor)
                    .handshake::<_, Empty<Bytes>>(SkipFirst(io, 24))
                    .await
                    .unwrap();
            kasync_host::spawn_detached(async move { drop(connection.await) }).unwrap();
            let request = hyper::Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap();
            h2.send_request(request).await.unwrap().status()
        })
    })
    .join()
    .unwrap();
    assert_eq!(status, 200);
    assert!(server.errors().is_empty(), "{:?}", server.errors());
    assert!(server.shut_down(Duration::from_secs(10)));
}

/// A stream whose first `n` bytes written are dropped (they were sent by
/// hand already).
struct SkipFirst<S>(S, usize);

impl<S: hyper::rt::Read + Unpin> hyper::rt::Read for SkipFirst<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: hyper::rt::Write + Unpin> hyper::rt::Write for SkipFirst<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let skip = self.1.min(data.len());
        if skip > 0 {
            self.1 -= skip;
            return std::task::Poll::Ready(Ok(skip));
        }
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A panicking handler gets its request a 500, is reported once as a
/// `ServicePanic`, and the same keep-alive connection serves the next
/// request.
#[test]
fn a_panicking_service_answers_500_and_the_connection_goes_on() {
    let server = Server::start(DEFAULTS);
    let mut s = StdTcp::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 500 Internal Server Error"),
        "{reply}"
    );
    assert!(
        reply.contains("HTTP/1.1 200 OK") && reply.ends_with("ok"),
        "{reply}"
    );
    let errors = server.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("panic") && errors[0].contains("on purpose"),
        "{errors:?}"
    );
    assert!(server.shut_down(Duration::from_secs(10)));
}

/// The same over HTTP/2: the panicked stream gets a 500, and another
/// stream on the connection is served.
#[test]
fn a_panicking_service_over_http2() {
    let server = Server::start(DEFAULTS);
    let addr = server.addr;
    let statuses = std::thread::spawn(move || {
        kasync_host::Runtime::new().unwrap().block_on(async move {
            let stream = kasync_host::net::TcpStream::connect(addr).await.unwrap();
            let (mut h2, connection) = hyper::client::conn::http2::handshake(
                kasync_hyper::Executor,
                kasync_hyper::Io::new(stream),
            )
            .await
            .unwrap();
            kasync_host::spawn_detached(async move { drop(connection.await) }).unwrap();
            let mut statuses = Vec::new();
            for path in ["/panic", "/"] {
                let request = hyper::Request::get(format!("http://{addr}{path}"))
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                statuses.push(h2.send_request(request).await.unwrap().status().as_u16());
            }
            statuses
        })
    })
    .join()
    .unwrap();
    assert_eq!(statuses, [500, 200]);
    assert_eq!(server.errors().len(), 1, "{:?}", server.errors());
    assert!(server.shut_down(Duration::from_secs(10)));
}

/// Peers that never read a 16 MiB response, a request whose handler
/// never finishes and one whose headers never end cannot hold a graceful shutdown past its timeout.
#[test]
fn the_shutdown_timeout_closes_what_would_hold_it_forever() {
    let server = Server::start(Setup {
        shutdown_timeout: Some(Duration::from_millis(300)),
        ..DEFAULTS
    });
    let mut stuck = Vec::new();
    for request in [
        "GET /big HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /big HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n", // headers never finished
    ] {
        let mut s = StdTcp::connect(server.addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        stuck.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_serves(server.addr);
    assert!(server.shut_down(Duration::from_secs(10)), "serve returned");
    // The server closed them: each reads to its end (or is reset).
    for mut s in stuck {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = Vec::new();
        match s.read_to_end(&mut sink) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
    // Closed by the timeout: not failures of their own.
    assert!(server.errors().is_empty(), "{:?}", server.errors());
}

/// Silent peers do not make a graceful shutdown wait (they have no
/// request to finish), and are not reported as failures. (A request sent
/// halfway is one in progress: hyper waits for it, up to its header-read
/// timeout or the shutdown timeout.)
#[test]
fn a_shutdown_closes_peers_without_a_request_at_once() {
    let server = Server::start(DEFAULTS); // 30 s handshake and shutdown timeouts
    let peers: Vec<StdTcp> = (0..50)
        .map(|_| StdTcp::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_serves(server.addr);
    let started = Instant::now();
    assert!(server.shut_down(Duration::from_secs(20)), "serve returned");
    // Far below the 30 s timeouts: not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let errors = server.errors();
    assert!(
        errors.is_empty(),
        "{} reported, e.g. {:?}",
        errors.len(),
        errors.first()
    );
    drop(peers);
}

/// Bytes that are not HTTP at all, a 4 MiB header and 10 000 headers are
/// refused without taking the server down.
#[test]
fn garbage_and_huge_headers_are_refused() {
    let server = Server::start(DEFAULTS);
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..10_000 {
        many.push_str(&format!("h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 4 << 20));
    for request in [&b"\x00\xff\xfeNOT HTTP\r\n\r\n"[..], many.as_bytes(), &huge] {
        let mut s = StdTcp::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(request); // the server may close mid-way
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(!reply.contains("200 OK"), "{reply}");
    }
    assert_serves(server.addr);
    assert_eq!(
        server.errors().len(),
        3,
        "one report each: {:?}",
        server.errors()
    );
    assert!(server.shut_down(Duration::from_secs(10)));
}
