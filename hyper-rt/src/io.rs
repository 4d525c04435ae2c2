//! [`Io`]: a kasync stream as hyper's `Read` + `Write`.

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
}

impl<S: AsFd> Io<S> {
    /// Adapts `stream`.
    pub fn new(stream: S) -> Self {
        Self {
            inner: Compat::new(stream),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
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
        self.get_mut()
            .inner
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
