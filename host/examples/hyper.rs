//! hyper 1.x on kasync: "hello" over HTTP/1.1 keep-alive.
//!
//! ```text
//! cargo run --release -p host --features tokio-io --example hyper -- 127.0.0.1:3000
//! curl http://127.0.0.1:3000/
//! ```
//!
//! The connection is a kasync `TcpStream`; `Compat` gives it tokio's
//! `AsyncRead`/`AsyncWrite` (feature `tokio-io`), `hyper_util`'s `TokioIo`
//! turns those into hyper's, and each connection is a kasync task. No
//! tokio runtime is involved.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kasync_host::compat::Compat;
use kasync_host::net::TcpListener;
use kasync_host::{Runtime, spawn_when_free};

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args_os()
        .nth(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("the address {a:?} is not valid UTF-8"))
        })
        .transpose()?
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let rt = Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind(&*addr)?;
        println!("hyper on kasync: http://{}/", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    kasync_host::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            stream.set_nodelay(true)?;
            let io = TokioIo::new(Compat::new(stream));
            let _detached = spawn_when_free(async move {
                if let Err(e) = http1::Builder::new()
                    .serve_connection(io, service_fn(hello))
                    .await
                {
                    eprintln!("connection: {e}");
                }
            })
            .await?;
        }
    })
}
