//! [`Io`]: a kasync stream as hyper's `Read` + `Write`.

use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::io::AsyncWrite;
use kasync_host::compat::Compat;

/// A kasync stream ([`TcpStream`](kasync_host::net::TcpStream),
/// [`UnixStream`](kasync_host::net::UnixStream)) as hyper's
/// `hyper::rt::Read` + `Write`, through [`Compat`]'s buffers (one copy per
/// direction). `Send` whenever the stream is, bound to the thread that
/// made it (see [`Compat`]).
///
/// ```
/// use kasync_host::net::UnixStream;
///
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let (a, _b) = UnixStream::pair()?;
/// let io = kasync_hyper::Io::new(a); // ready for hyper's `serve_connection`, `handshake`
/// fn is_send<T: Send>(_: &T) {}
/// is_send(&io);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Io<S> {
    inner: Compat<S>,
    ahead: Ahead,
}

/// HTTP/2's connection preface: what a client speaking HTTP/2 with prior
/// knowledge sends first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Bytes [`Io::read_preface`] read ahead, handed out before any others.
#[derive(Debug, Default)]
struct Ahead {
    buf: [u8; H2_PREFACE.len()],
    start: usize,
    end: usize,
}

/// What [`Io::read_preface`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preface {
    /// Enough bytes to tell HTTP/1 from HTTP/2.
    Known,
    /// The peer closed before sending a byte.
    Closed,
}

impl<S: AsFd> Io<S> {
    /// Adapts `stream`.
    pub fn new(stream: S) -> Self {
        Self {
            inner: Compat::new(stream),
            ahead: Ahead::default(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }
}

impl<S: AsFd + Unpin> Io<S> {
    /// Reads until the bytes received tell HTTP/1 from HTTP/2: all of
    /// HTTP/2's 24-byte preface, or a byte that differs from it (or the
    /// end of the stream after some bytes). The bytes stay to be read
    /// again — hyper-util's version check reads them — so a server can
    /// bound this first step with a timeout of its own, which hyper-util's
    /// check lacks.
    pub(crate) async fn read_preface(&mut self) -> io::Result<Preface> {
        let Self { inner, ahead } = self;
        loop {
            let known = &ahead.buf[..ahead.end];
            if ahead.end == H2_PREFACE.len() || known != &H2_PREFACE[..ahead.end] {
                return Ok(Preface::Known);
            }
            let n = poll_fn(|cx| {
                inner.poll_read_with(cx, |data| {
                    let n = data.len().min(H2_PREFACE.len() - ahead.end);
                    ahead.buf[ahead.end..ahead.end + n].copy_from_slice(&data[..n]);
                    n
                })
            })
            .await?;
            if n == 0 {
                return Ok(if ahead.end == 0 {
                    Preface::Closed
                } else {
                    Preface::Known
                });
            }
            ahead.end += n;
        }
    }
}

impl<S: AsFd + Unpin> hyper::rt::Read for Io<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = self.get_mut();
        let ahead = &mut this.ahead;
        if ahead.start < ahead.end {
            let n = buf.remaining().min(ahead.end - ahead.start);
            buf.put_slice(&ahead.buf[ahead.start..ahead.start + n]);
            ahead.start += n;
            return Poll::Ready(Ok(()));
        }
        this.inner
            .poll_read_with(cx, |data| {
                let n = buf.remaining().min(data.len());
                buf.put_slice(&data[..n]);
                n
            })
            .map_ok(drop)
    }
}

impl<S: AsFd + Unpin> hyper::rt::Write for Io<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
