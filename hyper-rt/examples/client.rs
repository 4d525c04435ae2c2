//! hyper-util's pooled client on kasync: starts a local server, fetches
//! from it a few times over one pooled connection, prints what came back.
//!
//! ```text
//! cargo run --release -p hyper-rt --example client
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    kasync_host::Runtime::new()?.block_on(async {
        let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let app =
            kasync_hyper::ServiceFn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let text = format!("you asked for {}\n", req.uri().path());
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
            });
        kasync_host::spawn_detached(kasync_hyper::serve(listener, app).run())?;

        let client = kasync_hyper::client::<Empty<Bytes>>();
        for path in ["/a", "/b", "/c"] {
            let response = client.get(format!("http://{addr}{path}").parse()?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            print!("{status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    })
}
