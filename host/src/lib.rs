//! # kasync on Linux
//!
//! The std side of kasync: a [`Runtime`] that runs the core's executor and
//! reactor on Linux io_uring (or, where io_uring is blocked, on epoll),
//! with sockets, files, timers and signals — all with **owned buffers** —
//! and what the `host` command runs: a check of the machine and a tour.
//!
//! ```
//! use kasync_host::net::{TcpListener, TcpStream};
//! use kasync_host::{Runtime, spawn};
//!
//! let rt = Runtime::new()?;
//! rt.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     // An echo server: one task per connection.
//!     let server = spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let (n, buf) = stream.read(Vec::with_capacity(1024)).await;
//!         n?;
//!         stream.write_all(buf).await.0
//!     })?;
//!     let client = TcpStream::connect(addr).await?;
//!     client.write_all("ping").await.0?;
//!     let (n, reply) = client.read(Vec::with_capacity(16)).await;
//!     assert_eq!(&reply[..n?], b"ping");
//!     server.await??;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Map
//!
//! | you want | here |
//! |---|---|
//! | a runtime on this thread, its settings | [`Runtime`], [`Builder`], [`Backend`]; [`main`] and [`test`] for `async fn`s |
//! | tasks | [`spawn`], [`spawn_detached`] (no handle), [`JoinSet`], [`spawn_blocking`] (a thread pool), [`spawn_when_free`] (waits for a free slot), [`JoinHandle`](kasync::JoinHandle) |
//! | one runtime per core | [`per_core`] (with [`TcpListener::bind_reuseport`](net::TcpListener::bind_reuseport)) |
//! | TCP, UDP, Unix sockets | [`net`]: [`TcpListener`](net::TcpListener), [`TcpStream`](net::TcpStream), [`UdpSocket`](net::UdpSocket), [`UnixStream`](net::UnixStream), [`UnixListener`](net::UnixListener); reading and writing through [`Socket`](net::Socket) |
//! | files | [`fs`]: [`File`](fs::File), [`copy`](fs::copy) |
//! | timers | [`time`]: [`sleep`], [`timeout`](time::timeout), [`interval`](time::interval); or [`io`]`()` for the reactor's own |
//! | child processes, piped stdio | [`process`]: [`spawn`](process::spawn), [`output`](process::output), [`Child`](process::Child) |
//! | signals (Ctrl-C) | [`signal`]: [`Signals`](signal::Signals), [`ctrl_c`](signal::ctrl_c) |
//! | `futures-io` / tokio I/O traits | [`compat::Compat`] (tokio's with the `tokio-io` feature: hyper, tokio-rustls, …) |
//! | channels, mutexes, semaphores, broadcast, no allocator | [`kasync::sync`] (also in a kernel or on a microcontroller) |
//! | interrupt (signal handler) to task | [`kasync::IrqQueue`], [`kasync::sync::Channel::try_send`], [`kasync::sync::Signal`] |
//! | operations of your own, io_uring details | [`io`]`().submit(..)` with [`kasync_ops::ops`] |
//!
//! What kasync does not ship, and what fills the gap (all work as they
//! are, on kasync's tasks):
//!
//! * **`futures`** — unbounded and `mpsc`/`oneshot` channels,
//!   `select!`, `join!`, `FuturesUnordered`, stream and sink combinators.
//! * **`asynchronous-codec`** — framing (lines, length-delimited, your own
//!   codec) over [`compat::Compat`]; with the `tokio-io` feature,
//!   `tokio-util`'s codecs too.
//! * **hyper** (through `hyper_util::rt::TokioIo` and the `tokio-io`
//!   feature) — HTTP; see `examples/hyper.rs`.
//!
//! The examples in `host/examples/`: `chat` (tokio's chat example on
//! `futures` and `asynchronous-codec`), `http` (a hand-written HTTP/1.1
//! keep-alive server), `hyper` (hyper 1.x; `--features tokio-io`).
//!
//! ## Owned buffers
//!
//! The kernel reads into and writes from a buffer *while an operation is
//! in flight*, after the call that started it has returned — so an
//! operation takes its buffer and gives it back with the result, rather
//! than borrowing it. Where tokio has `stream.read(&mut buf)`, kasync has:
//!
//! ```
//! # kasync_host::Runtime::new().unwrap().block_on(async {
//! # let (stream, peer) = kasync_host::net::UnixStream::pair()?;
//! # peer.write_all("hi").await.0?;
//! let (result, buf) = stream.read(Vec::with_capacity(4096)).await;
//! let n = result?; // `buf` came back either way
//! # assert_eq!(&buf[..n], b"hi");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! A read **appends** to the buffer, up to its capacity (`clear()` it to
//! reuse it); a buffer without spare capacity is an `InvalidInput` error,
//! never a silent `Ok(0)`. A write takes any owned bytes: `Vec<u8>`,
//! `String`, `&'static str`, `&'static [u8]`. The error "borrowed value
//! does not live long enough … requires that it is borrowed for
//! `'static`" means a borrowed buffer was passed: pass an owned one (or a
//! copy: `data.to_vec()`), or use [`compat::Compat`], which copies.

pub mod apps;
mod backend;
pub mod blocking;
mod buf;
mod chunk_memory;
pub mod compat;
mod descriptor;
pub mod fs;
pub mod io_tour;
pub mod machine;
pub mod net;
mod per_core;
pub mod process;
mod recv_stream;
mod runtime;
#[cfg(target_os = "linux")]
pub mod signal;
mod task_set;
pub mod thread_bound;
pub mod time;
pub mod tour;

pub use backend::{BACKEND_VARIABLE, Backend, HostDriver, HostPlatform, SetupError};
pub use blocking::spawn_blocking;
/// io_uring's features and the set of them (the
/// [feature table](kasync_uring::features)): what
/// [`Runtime::io_uring_features`] reports and
/// [`Builder::io_uring_without`] takes.
#[cfg(target_os = "linux")]
pub use kasync_uring::{Feature, Features, WITHOUT_VARIABLE};
pub use per_core::per_core;
pub use runtime::{
    Builder, CHUNK_SLOTS, Io, MAX_OPERATIONS, MAX_TASKS, MonotonicClock, OP_BYTES, OPS,
    RECV_BUFFER_BYTES, RECV_BUFFERS, Runtime, TASK_BYTES, TASKS, io, spawn, spawn_detached,
    spawn_when_free,
};
pub use task_set::JoinSet;

/// Runs an `async fn main` on a new [`Runtime`] (with the default
/// settings; build one with [`Builder`] for others): tokio's
/// `#[tokio::main]`. The function may return anything `main` may.
///
/// ```
/// #[kasync_host::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     kasync_host::sleep(std::time::Duration::from_millis(1)).await;
///     let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok(())
/// }
/// ```
///
/// A function that is not `async`, or takes parameters, is a compile
/// error that says so:
///
/// ```compile_fail
/// #[kasync_host::main] // error: goes on an `async fn`: add `async`
/// fn main() {}
/// ```
///
/// ```compile_fail
/// #[kasync_host::main] // error: functions take no parameters
/// async fn main(port: u16) {}
/// ```
///
/// ```compile_fail
/// #[kasync_host::main] // error: functions take no parameters
/// async fn entry<F: Fn(u8) -> u8>(f: F) {}
/// ```
///
/// # Panics
/// If the runtime cannot be set up (the message says why).
pub use kasync_host_macros::main;

/// Runs an `async fn` test on a new [`Runtime`]: tokio's
/// `#[tokio::test]`. Write it instead of `#[test]`.
///
/// ```
/// #[kasync_host::test]
/// async fn sleeps() {
///     kasync_host::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// # fn main() {}
/// ```
pub use kasync_host_macros::test;

/// What `#[main]` and `#[test]` expand to: `future` run on a new
/// runtime. Not part of the API.
///
/// # Panics
/// If the runtime cannot be set up.
#[doc(hidden)]
pub fn __run<F: std::future::Future>(future: F) -> F::Output {
    match Runtime::new() {
        Ok(rt) => rt.block_on(future),
        Err(e) => panic!("kasync: cannot start the runtime: {e}"),
    }
}
pub use time::sleep;

/// The README's Rust examples (core and host), compiled and run as
/// doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
