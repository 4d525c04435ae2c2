//! [`serve`]: an HTTP server for any hyper or tower service (axum's
//! `Router` included) in one call.

use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture, Pending, pending, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use http_body::Body;
use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use kasync::sync::Semaphore;
use kasync_host::net::TcpListener;

use crate::guard::{Guarded, Report, catch, is_service_panic, report_safely};
use crate::io::Preface;
use crate::{Executor, Io, Timer};

/// What a failed connection reports to [`Serve::on_connection_error`].
pub type ConnectionError = dyn StdError + Send + Sync + 'static;

/// An error of a service or a body, as hyper takes it.
type BoxError = Box<dyn StdError + Send + Sync>;

/// The services [`serve`] takes: a `Clone` `tower::Service` of hyper
/// requests whose responses have a [`ResponseBody`]. Implemented for
/// every such service (axum's `Router`, a `tower::ServiceBuilder` stack,
/// [`ServiceFn`]); never implemented by hand.
pub trait HttpService:
    tower_service::Service<
        Request<Incoming>,
        Response = Response<<Self as HttpService>::Body>,
        Error: Into<BoxError>,
        Future: 'static,
    > + Clone
    + 'static
{
    /// The responses' body.
    type Body: ResponseBody;
}

impl<S, B> HttpService for S
where
    S: tower_service::Service<
            Request<Incoming>,
            Response = Response<B>,
            Error: Into<BoxError>,
            Future: 'static,
        > + Clone
        + 'static,
    B: ResponseBody,
{
    type Body = B;
}

/// The response bodies [`serve`] takes: any `http_body::Body` whose
/// errors hyper can report. Implemented for every such body.
pub trait ResponseBody: Body<Error: Into<BoxError>> + 'static {}

impl<B> ResponseBody for B where B: Body<Error: Into<BoxError>> + 'static {}

/// How long a new connection may take by default to send the bytes that
/// tell HTTP/1 from HTTP/2 — hyper's default header-read timeout, which
/// takes over from there for HTTP/1.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a graceful shutdown waits by default for open connections.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the accept loop pauses after an accept error that waiting can
/// fix (out of descriptors or memory) before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `service` on every connection `listener` accepts — HTTP/1.1 and
/// HTTP/2 (prior knowledge, "h2c"), told apart by the connection's first
/// bytes, with upgrades (WebSockets) — until the shutdown signal, if one is
/// set ([`with_graceful_shutdown`](Serve::with_graceful_shutdown)); kasync's
/// `axum::serve`.
///
/// `service` is any `tower::Service<Request<Incoming>>` that is `Clone`
/// (axum's `Router`, a `tower::ServiceBuilder` stack, `service_fn`
/// wrapped by `tower::service_fn`); each connection is a kasync task with
/// its own clone. A connection that fails is reported
/// ([`on_connection_error`](Serve::on_connection_error); stderr by
/// default) and never stops the server; a service that panics answers
/// `500` and is reported too; accept errors are reported and, when
/// waiting can fix them (out of descriptors or memory), retried after a
/// pause.
///
/// Hostile peers are bounded: one that sends nothing is closed after the
/// [handshake timeout](Serve::handshake_timeout), an idle HTTP/1
/// connection after hyper's header-read timeout (both 30 s by default),
/// and a shutdown waits at most its
/// [timeout](Serve::shutdown_timeout) for peers that never read.
///
/// Await the returned [`Serve`] (it is `IntoFuture`) inside
/// [`Runtime::block_on`](kasync_host::Runtime::block_on).
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use kasync_host::net::TcpListener;
///
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let hello = kasync_hyper::ServiceFn(|_req| async {
///     Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
/// });
/// kasync_hyper::serve(listener, hello)
///     .with_graceful_shutdown(async {}) // stops at once, for the example
///     .await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// With axum (`examples/axum.rs` has shared state and JSON too):
///
/// ```no_run
/// use axum::{Router, routing::get};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let app = Router::new().route("/", get(|| async { "hello" }));
///     let listener = kasync_host::net::TcpListener::bind("127.0.0.1:3000")?;
///     kasync_hyper::serve(listener, app).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve<S: HttpService>(listener: TcpListener, service: S) -> Serve<S, Pending<()>> {
    let mut builder = auto::Builder::new(Executor);
    builder.http1().timer(Timer);
    builder.http2().timer(Timer);
    Serve {
        listener,
        service,
        shutdown: std::future::pending(),
        max_connections: usize::MAX,
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        on_error: Rc::new(|peer, e| eprintln!("kasync-hyper: connection from {peer}: {e}")),
        builder,
    }
}

/// The server [`serve`] builds: set it up, then `.await` it.
#[must_use = "a server does nothing unless awaited"]
pub struct Serve<S, G> {
    listener: TcpListener,
    service: S,
    shutdown: G,
    max_connections: usize,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
    on_error: Report,
    builder: auto::Builder<Executor>,
}

impl<S, G> Serve<S, G> {
    /// Stops accepting once `signal` completes (e.g.
    /// [`kasync_host::signal::ctrl_c`]), lets every open connection finish
    /// the requests it is serving (idle HTTP/1 keep-alive connections
    /// close at once, HTTP/2 ones get a GOAWAY, connections that have not
    /// sent a request yet close), and completes when the last one has
    /// closed — or when the [shutdown timeout](Serve::shutdown_timeout)
    /// (30 s by default) is over, closing those still open: a peer that
    /// never reads its response cannot hold the shutdown forever.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stop = kasync_host::time::sleep(std::time::Duration::from_millis(5));
    /// let app = kasync_hyper::ServiceFn(|_req| async {
    ///     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hi")))
    /// });
    /// kasync_hyper::serve(listener, app).with_graceful_shutdown(stop).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_graceful_shutdown<G2: Future<Output = ()>>(self, signal: G2) -> Serve<S, G2> {
        Serve {
            listener: self.listener,
            service: self.service,
            shutdown: signal,
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
            on_error: self.on_error,
            builder: self.builder,
        }
    }

    /// Serves at most `max` connections at once (at least 1): at the limit
    /// the server stops accepting — new connections wait in the kernel's
    /// backlog — until one closes. Unlimited by default, where the
    /// descriptor limit and [`Builder::max_tasks`](kasync_host::Builder::max_tasks)
    /// bound it. A connection upgraded (to a WebSocket, say) leaves hyper
    /// and is counted no more: it is the upgrade handler's own task, and a
    /// shutdown does not wait for it.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a graceful shutdown waits for open connections to finish
    /// (30 s by default); those still open then are closed, and the
    /// server returns. `Duration::MAX` waits as long as they take.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a new connection may take to send its first bytes — enough
    /// of them to tell HTTP/1 from HTTP/2 (30 s by default, as hyper's
    /// header-read timeout); a peer that sends nothing in that time is
    /// closed (and reported as `TimedOut`), so silent peers cannot hold
    /// the [connection limit](Serve::max_connections). From there on,
    /// hyper's own settings bound the connection: for HTTP/1 its
    /// header-read timeout (30 s by default) also ends idle keep-alive
    /// connections; an HTTP/2 connection stays open while its peer keeps
    /// it (set `http2().keep_alive_interval` through
    /// [`configure`](Serve::configure) to find dead ones). A zero timeout
    /// closes every connection whose first bytes are not there at once:
    /// use it only to refuse everybody.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Where a failed connection (an I/O error, a malformed request, a
    /// service error, a peer silent past the
    /// [handshake timeout](Serve::handshake_timeout)) is reported, with the
    /// peer's address: once per connection. A service that panics is
    /// reported here too, as a [`ServicePanic`](crate::ServicePanic) (its
    /// request gets a `500`, and the connection goes on). By default, a
    /// line on stderr. Connections closed by a shutdown are not failures
    /// and are not reported.
    pub fn on_connection_error(
        mut self,
        report: impl Fn(SocketAddr, &ConnectionError) + 'static,
    ) -> Self {
        self.on_error = Rc::new(report);
        self
    }

    /// hyper's connection settings (HTTP/1 through `.http1()`, HTTP/2
    /// through `.http2()`; `http1_only`/`http2_only` are not available
    /// here, as they take the builder by value). kasync's [`Timer`] is set
    /// for both already, so header-read timeouts and HTTP/2 keep-alive
    /// work. A shorter `header_read_timeout` wants a
    /// [`handshake_timeout`](Serve::handshake_timeout) as short: it bounds
    /// the bytes before hyper's timeout starts.
    ///
    /// ```
    /// # let listener = || kasync_host::net::TcpListener::bind("127.0.0.1:0");
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let app = kasync_hyper::ServiceFn(|_req| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new()))
    /// # });
    /// let server = kasync_hyper::serve(listener()?, app).configure(|b| {
    ///     b.http1().header_read_timeout(std::time::Duration::from_secs(5));
    ///     b.http2().max_concurrent_streams(64);
    /// });
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn configure(mut self, f: impl FnOnce(&mut auto::Builder<Executor>)) -> Self {
        f(&mut self.builder);
        self
    }
}

impl<S, G> fmt::Debug for Serve<S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener.local_addr().ok())
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// The connections open, and the accept loop waiting for one to close.
#[derive(Default)]
struct Open {
    count: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

/// One open connection, counted in [`Open`] until dropped (also by an
/// unwind).
struct Counted(Rc<Open>);

impl Counted {
    fn new(open: &Rc<Open>) -> Self {
        open.count.set(open.count.get() + 1);
        Self(open.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.count.set(self.0.count.get() - 1);
        if let Some(waker) = self.0.waiter.take() {
            waker.wake();
        }
    }
}

impl Open {
    /// Waits until no connection is open.
    async fn closed(&self) {
        poll_fn(|cx| {
            if self.count.get() == 0 {
                return Poll::Ready(());
            }
            self.waiter.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
    }
}

/// The two stages of a shutdown, each a latch the connections wait on.
struct Stop {
    /// The signal came: connections that have not started a request close.
    draining: Semaphore,
    /// The shutdown timeout is over: every connection closes.
    forced: Semaphore,
}

impl Stop {
    fn new() -> Self {
        Self {
            draining: Semaphore::new(0),
            forced: Semaphore::new(0),
        }
    }

    /// Opens `latch` for every waiter, now and later.
    fn open(latch: &Semaphore) {
        latch.release(Semaphore::MAX_PERMITS);
    }
}

/// Sleeps for `duration`, or forever if the deadline is past what the
/// clock can count (`Duration::MAX`).
async fn sleep_at_most(duration: Duration) {
    if Instant::now().checked_add(duration).is_some() {
        kasync_host::sleep(duration).await;
    } else {
        pending::<()>().await;
    }
}

/// The error a peer silent past the handshake timeout is reported with.
fn handshake_timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "closed: the peer sent too little to tell HTTP/1 from HTTP/2 within \
             {timeout:?} (Serve::handshake_timeout)"
        ),
    )
}

/// `true` for accept errors that only mean one connection went away
/// before it was accepted.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

impl<S: HttpService, G: Future<Output = ()>> Serve<S, G> {
    /// Runs the server (what `.await` on a [`Serve`] does).
    ///
    /// Returns when the shutdown signal completed and the last connection
    /// closed (or the shutdown timeout closed it); `Err` only if the
    /// listener itself failed beyond retrying.
    pub async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            service,
            shutdown,
            max_connections,
            handshake_timeout,
            shutdown_timeout,
            on_error,
            builder,
        } = self;
        let builder = Rc::new(builder);
        let graceful = GracefulShutdown::new();
        let open = Rc::new(Open::default());
        let stop = Rc::new(Stop::new());
        let mut shutdown = pin!(shutdown);
        loop {
            // Room for one more, unless the signal comes first.
            let room = poll_fn(|cx| {
                if shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                if open.count.get() < max_connections {
                    return Poll::Ready(true);
                }
                open.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            });
            if !room.await {
                break;
            }
            let accept = pin!(listener.accept());
            let (stream, peer) = match select(accept, shutdown.as_mut()).await {
                Either::Right(((), _)) => break,
                Either::Left((Ok(accepted), _)) => accepted,
                Either::Left((Err(e), _)) if is_transient(&e) => continue,
                Either::Left((Err(e), _)) => {
                    eprintln!(
                        "kasync-hyper: accepting a connection failed: {e}; \
                         trying again in {ACCEPT_BACKOFF:?}"
                    );
                    kasync_host::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            // Small responses go out at once (as with tokio's servers);
            // a failure here changes only latency.
            let _ = stream.set_nodelay(true);
            let counted = Counted::new(&open);
            let watcher = graceful.watcher();
            let builder = builder.clone();
            // User code: a `Clone` that panics loses this connection only.
            let service = match catch(|| service.clone()) {
                Ok(service) => service,
                Err(panic) => {
                    report_safely(&on_error, peer, &panic);
                    continue;
                }
            };
            let on_error = on_error.clone();
            let stop = stop.clone();
            let connection = async move {
                let _counted = counted;
                let mut io = Io::new(stream);
                // The first bytes, within the handshake timeout; the
                // shutdown signal closes a connection still waiting here.
                let first = {
                    let preface = kasync_host::time::timeout(handshake_timeout, io.read_preface());
                    match select(pin!(preface), pin!(stop.draining.acquire(1))).await {
                        Either::Left((first, _)) => Some(first),
                        Either::Right(_) => None,
                    }
                };
                match first {
                    Some(Ok(Ok(Preface::Known))) => {}
                    Some(Ok(Ok(Preface::Closed))) | None => return,
                    Some(Ok(Err(e))) => return report_safely(&on_error, peer, &e),
                    Some(Err(_elapsed)) => {
                        let e = handshake_timed_out(handshake_timeout);
                        return report_safely(&on_error, peer, &e);
                    }
                }
                let service =
                    Guarded::new(TowerToHyperService::new(service), peer, on_error.clone());
                let conn = watcher.watch(builder.serve_connection_with_upgrades(io, service));
                // Closed by the end of the shutdown timeout, not reported.
                if let Either::Left((Err(e), _)) =
                    select(pin!(conn), pin!(stop.forced.acquire(1))).await
                {
                    // A panic was reported where it was caught.
                    if !is_service_panic(&*e) {
                        report_safely(&on_error, peer, &*e);
                    }
                }
            };
            if let Err(e) = kasync_host::spawn_when_free(connection).await {
                // Only a task too large for a slot fails here, and the
                // connection is boxed: not expected, but not fatal either.
                eprintln!("kasync-hyper: a connection from {peer} was dropped: {e}");
            }
        }
        drop(listener);
        Stop::open(&stop.draining);
        let drained = pin!(graceful.shutdown());
        if let Either::Right(_) = select(drained, pin!(sleep_at_most(shutdown_timeout))).await {
            Stop::open(&stop.forced);
            open.closed().await;
        }
        Ok(())
    }
}

impl<S: HttpService, G: Future<Output = ()> + 'static> IntoFuture for Serve<S, G> {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A closure as a `tower::Service` (what `tower::service_fn` gives, for
/// those who do not otherwise need tower): `ServiceFn(|req| async { … })`.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFn<F>(pub F);

impl<F, R, Fut, T, E> tower_service::Service<R> for ServiceFn<F>
where
    F: FnMut(R) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Response = T;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Fut {
        (self.0)(request)
    }
}
