//! The client side: [`Connector`] (hyper-util's pooled `Client` over
//! kasync connections, see [`client`]) and [`connect`] (one HTTP/1
//! connection).

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::Body;
use hyper::Uri;
use hyper::client::conn::http1;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use kasync_host::net::TcpStream;
use kasync_host::thread_bound::ThreadBound;

use crate::{Executor, Io, Timer};

/// hyper-util's pooled client on kasync: connections from [`Connector`],
/// tasks on the current runtime ([`Executor`]), kasync's [`Timer`] for the
/// pool's idle timeout. `http://` only (TLS is not built in: wrap the
/// connector's streams with `tokio-rustls` through
/// [`Compat`](kasync_host::compat::Compat), or use reqwest through the
/// tokio bridge).
///
/// Make it, and use it, inside
/// [`Runtime::block_on`](kasync_host::Runtime::block_on); a pooled
/// connection belongs to the runtime it was opened on.
///
/// ```
/// use http_body_util::{BodyExt, Empty};
/// use bytes::Bytes;
///
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// # let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?;
/// # let app = kasync_hyper::ServiceFn(|_req| async {
/// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hello")))
/// # });
/// # kasync_host::spawn_detached(kasync_hyper::serve(listener, app).run()).unwrap();
/// let client = kasync_hyper::client::<Empty<Bytes>>();
/// let uri = format!("http://{addr}/").parse()?;
/// let response = client.get(uri).await?;
/// assert!(response.status().is_success());
/// let body = response.into_body().collect().await?.to_bytes();
/// assert_eq!(body, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn client<B>() -> Client<Connector, B>
where
    B: Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    Client::builder(Executor)
        .timer(Timer)
        .pool_timer(Timer)
        .build(Connector::new())
}

/// Opens TCP connections for hyper-util's `Client` (a
/// `tower::Service<Uri>`): the URI's host and port (80 if none), the
/// addresses a name resolves to tried in turn, `TCP_NODELAY` set.
///
/// Only `http` URIs: an `https` one is an error that says TLS is not
/// built in. Names are resolved on the blocking pool
/// ([`kasync_host::spawn_blocking`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Connector {
    _private: (),
}

impl Connector {
    /// A connector.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A connection from [`Connector`]: hyper's `Read` + `Write` over a kasync
/// TCP stream, and hyper-util's `Connection`.
#[derive(Debug)]
pub struct HttpConnection {
    io: Io<TcpStream>,
}

impl Connection for HttpConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for HttpConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for HttpConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The future of [`Connector`]'s `call`: `Send` as hyper-util asks, bound
/// to the thread (and runtime) that made it.
pub type Connecting = ThreadBound<Pin<Box<dyn Future<Output = io::Result<HttpConnection>>>>>;

impl tower_service::Service<Uri> for Connector {
    type Response = HttpConnection;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        ThreadBound::new(Box::pin(async move {
            let (host, port) = host_and_port(&uri)?;
            let stream = connect_tcp(host, port).await?;
            Ok(HttpConnection {
                io: Io::new(stream),
            })
        }))
    }
}

/// Connects to `host` (an address, or a name resolved on the blocking
/// pool so the runtime's thread never waits for DNS), trying each address
/// in turn, with `TCP_NODELAY` set.
async fn connect_tcp(host: String, port: u16) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let name = host.clone();
            kasync_host::spawn_blocking(move || {
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect::<Vec<_>>)
            })?
            .await
            .map_err(|e| io::Error::other(format!("resolving {host}: {e}")))?
            .map_err(|e| io::Error::new(e.kind(), format!("resolving {host}: {e}")))?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        ));
    }
    let stream = TcpStream::connect(&addrs[..]).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Where an `http` URI points, with IPv6 literals unbracketed.
fn host_and_port(uri: &Uri) -> io::Result<(String, u16)> {
    match uri.scheme_str() {
        Some("http") | None => {}
        Some("https") => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{uri}: https needs TLS, which kasync-hyper's connector does not do \
                     (use tokio-rustls over kasync_host::compat::Compat, or reqwest \
                     through kasync-tokio-bridge)"
                ),
            ));
        }
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{uri}: the scheme {other:?} is not HTTP"),
            ));
        }
    }
    let host = uri.host().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{uri}: no host to connect to (an absolute URI is needed, http://host/...)"),
        )
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_owned(), uri.port_u16().unwrap_or(80)))
}

/// Opens one HTTP/1.1 connection to `uri`'s host and port and drives it in
/// a task of its own; returns hyper's handle to send requests on it (one
/// at a time; the connection closes when the handle is dropped). For many
/// requests to many hosts, [`client`] pools connections instead.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Empty};
///
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// # let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?;
/// # let app = kasync_hyper::ServiceFn(|_req| async {
/// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hello")))
/// # });
/// # kasync_host::spawn_detached(kasync_hyper::serve(listener, app).run()).unwrap();
/// let uri: hyper::Uri = format!("http://{addr}/").parse()?;
/// let mut sender = kasync_hyper::connect::<Empty<Bytes>>(&uri).await?;
/// let request = hyper::Request::get(uri).header("host", addr.to_string()).body(Empty::new())?;
/// let response = sender.send_request(request).await?;
/// let body = response.into_body().collect().await?.to_bytes();
/// assert_eq!(body, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn connect<B>(uri: &Uri) -> io::Result<http1::SendRequest<B>>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (host, port) = host_and_port(uri)?;
    let stream = connect_tcp(host, port).await?;
    let (sender, connection) = http1::handshake(Io::new(stream))
        .await
        .map_err(io::Error::other)?;
    kasync_host::spawn_detached(async move {
        // The request that was in flight reports the connection's error.
        let _ = connection.await;
    })
    .map_err(|e| io::Error::other(format!("no task for the connection: {e}")))?;
    Ok(sender)
}
