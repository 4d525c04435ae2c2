//! An axum app on kasync in one `serve` call: HTTP/1.1 and HTTP/2 (h2c),
//! shared state, JSON, graceful shutdown on Ctrl-C.
//!
//! ```text
//! cargo run --release -p hyper-rt --example axum -- 127.0.0.1:3000
//! curl http://127.0.0.1:3000/
//! curl --http2-prior-knowledge -d '{"name":"kasync"}' -H 'content-type: application/json' http://127.0.0.1:3000/greet
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    message: String,
    number: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let greeted = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/", get(|| async { "hello from axum on kasync\n" }))
        .route(
            "/greet",
            post(
                |State(n): State<Arc<AtomicU64>>, Json(who): Json<Greet>| async move {
                    Json(Greeting {
                        message: format!("hello, {}", who.name),
                        number: n.fetch_add(1, Ordering::Relaxed) + 1,
                    })
                },
            ),
        )
        .with_state(greeted);
    kasync_host::Runtime::new()?.block_on(async {
        let listener = kasync_host::net::TcpListener::bind(&*addr)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        println!(
            "axum on kasync: http://{}/ (Ctrl-C stops)",
            listener.local_addr()?
        );
        kasync_hyper::serve(listener, app)
            .with_graceful_shutdown(async {
                if let Err(e) = kasync_host::signal::ctrl_c().await {
                    eprintln!("no Ctrl-C handling ({e}); stop with a signal");
                    std::future::pending::<()>().await;
                }
            })
            .await?;
        println!("stopped");
        Ok(())
    })
}
