//! The HTTP client at its edges: URIs it cannot serve, hosts that do not
//! answer, a server that closes mid-response, one pooled client used
//! from two runtimes.
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use kasync_host::time::timeout;

fn rt() -> kasync_host::Runtime {
    kasync_host::Runtime::new().unwrap()
}

#[test]
fn bad_uris() {
    rt().block_on(async {
        let client = kasync_hyper::client::<Empty<Bytes>>();
        for uri in [
            "/relative",
            "https://127.0.0.1:1/",
            "ftp://x/",
            "http://[::1]:1/",
            "http://127.0.0.1:0/",
            "http://256.1.1.1/",
            "http://nonexistent.invalid/",
        ] {
            let uri: hyper::Uri = uri.parse().unwrap();
            let t = Instant::now();
            let r = timeout(Duration::from_secs(20), client.get(uri.clone())).await;
            eprintln!(
                "client {uri}: {:?} in {:?}",
                r.as_ref()
                    .map(|r| r.as_ref().map(|r| r.status()).map_err(|e| format!("{e:?}"))),
                t.elapsed()
            );
            assert!(
                matches!(r, Ok(Err(_))),
                "{uri}: an error, not a hang or success"
            );
            let r = timeout(
                Duration::from_secs(20),
                kasync_hyper::connect::<Empty<Bytes>>(&uri),
            )
            .await;
            eprintln!(
                "connect {uri}: {:?}",
                r.as_ref()
                    .map(|r| r.as_ref().map(|_| ()).map_err(|e| e.to_string()))
            );
            assert!(matches!(r, Ok(Err(_))), "{uri}: connect errs");
        }
    });
}

#[test]
fn unreachable_host_times_out_or_errs() {
    rt().block_on(async {
        let client = kasync_hyper::client::<Empty<Bytes>>();
        let uri: hyper::Uri = "http://10.255.255.1:81/".parse().unwrap();
        let t = Instant::now();
        let r = timeout(Duration::from_secs(3), client.get(uri)).await;
        eprintln!(
            "unreachable: {:?} after {:?}",
            r.as_ref()
                .map(|r| r.as_ref().map(|r| r.status()).map_err(|e| format!("{e:?}"))),
            t.elapsed()
        );
    });
}

fn raw_server(reply: &'static [u8]) -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(4) {
            let mut s = s.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
            drop(s);
        }
    });
    addr
}

#[test]
fn server_closes_mid_response() {
    rt().block_on(async {
        for reply in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a few bytes"[..],
            &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
            &b""[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"[..],
            &b"garbage garbage\r\n\r\n"[..],
        ] {
            let addr = raw_server(reply);
            let client = kasync_hyper::client::<Empty<Bytes>>();
            let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
            let r = timeout(Duration::from_secs(5), async {
                let resp = client
                    .get(uri.clone())
                    .await
                    .map_err(|e| format!("request: {e:?}"))?;
                resp.into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .map_err(|e| format!("body: {e:?}"))
            })
            .await;
            eprintln!(
                "pooled client, reply {:?}: {r:?}",
                String::from_utf8_lossy(reply)
            );
            assert!(matches!(r, Ok(Err(_))), "an error, not a hang or success");
            let addr = raw_server(reply);
            let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
            let r = timeout(Duration::from_secs(5), async {
                let mut sender = kasync_hyper::connect::<Empty<Bytes>>(&uri)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let req = hyper::Request::get(uri.clone())
                    .header("host", "x")
                    .body(Empty::new())
                    .unwrap();
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|e| format!("request: {e:?}"))?;
                resp.into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .map_err(|e| format!("body: {e:?}"))
            })
            .await;
            eprintln!(
                "connect(), reply {:?}: {r:?}",
                String::from_utf8_lossy(reply)
            );
            assert!(matches!(r, Ok(Err(_))), "an error, not a hang or success");
        }
    });
}

/// The pooled client made in one runtime and used in a second one on the
/// same thread after the first is gone (pooled connection from the old one).
#[test]
fn pooled_client_across_runtimes() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
    let rt1 = rt();
    let client = rt1.block_on(async {
        let client = kasync_hyper::client::<Empty<Bytes>>();
        let r = client.get(uri.clone()).await.unwrap();
        r.into_body().collect().await.unwrap();
        client
    });
    drop(rt1);
    let rt2 = rt();
    let r = rt2.block_on(async {
        timeout(Duration::from_secs(5), async {
            let r = client
                .get(uri.clone())
                .await
                .map_err(|e| format!("{e:?}"))?;
            r.into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| format!("{e:?}"))
        })
        .await
    });
    eprintln!("pooled client after its runtime was dropped: {r:?}");
    assert!(
        matches!(r, Ok(Ok(_))),
        "the client works in the new runtime (a dead pooled connection is retried)"
    );
}
