//! # hyper and axum on kasync
//!
//! What a tokio user brings along to serve and fetch HTTP on kasync's
//! runtime — no tokio runtime involved:
//!
//! | you want | here |
//! |---|---|
//! | serve an axum `Router` or any tower/hyper service, HTTP/1 and HTTP/2 | [`serve`] (`axum::serve`'s counterpart), with graceful shutdown and a connection limit |
//! | hyper's `rt::Executor` / `rt::Timer` for your own hyper code | [`Executor`], [`Timer`] |
//! | a kasync stream as hyper's `Read` + `Write` | [`Io`] |
//! | hyper-util's pooled `Client` | [`client`], over [`Connector`] |
//! | one client connection | [`connect`] |
//!
//! Everything here runs on the current thread's
//! [`Runtime`](kasync_host::Runtime) (one per core for more): tasks are
//! local and futures need not be `Send`. Where hyper asks for `Send`
//! (its timers, the pooled client's connections), kasync's thread-bound
//! values meet it through
//! [`ThreadBound`](kasync_host::thread_bound::ThreadBound).
//!
//! For crates that need tokio's *runtime* (reqwest, `tokio::time` inside
//! a library, tower's timeout layer), see the `kasync-tokio-bridge` crate.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty, Full};
//!
//! kasync_host::Runtime::new()?.block_on(async {
//!     let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let hello = kasync_hyper::ServiceFn(|_req| async {
//!         Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!     });
//!     kasync_host::spawn_detached(kasync_hyper::serve(listener, hello).run())?;
//!
//!     let client = kasync_hyper::client::<Empty<Bytes>>();
//!     let response = client.get(format!("http://{addr}/").parse()?).await?;
//!     assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod guard;
mod io;
mod rt;
mod serve;

pub use client::{Connecting, Connector, HttpConnection, client, connect};
pub use guard::ServicePanic;
pub use io::Io;
pub use rt::{Executor, Timer};
pub use serve::{ConnectionError, HttpService, ResponseBody, Serve, ServiceFn, serve};
