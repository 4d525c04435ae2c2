//! `futures-io` adapters, so the ecosystem's codecs and `copy` work on
//! kasync sockets. They keep one owned buffer per direction in flight.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::backend::HostDriver;
use futures_util::io::{AsyncRead, AsyncWrite};
use kasync::io::Op;
use kasync_ops::ops::{Recv, Send, Shutdown};

use crate::buf::write_all;

use crate::runtime::{MonotonicClock, OP_BYTES, OPS, io};

type RecvOp = Op<'static, Recv<Vec<u8>>, HostDriver, MonotonicClock, OPS, OP_BYTES>;
/// Sending one accepted chunk, all of it (a short send continues).
type Sending = Pin<Box<dyn Future<Output = (io::Result<()>, Vec<u8>)>>>;
type ShutdownOp = Op<'static, Shutdown, HostDriver, MonotonicClock, OPS, OP_BYTES>;

const CHUNK: usize = 16 * 1024;

/// A stream socket as [`AsyncRead`] + [`AsyncWrite`]. Wrap a
/// [`TcpStream`](crate::net::TcpStream) or
/// [`UnixStream`](crate::net::UnixStream) with [`Compat::new`].
///
/// Writes are buffered, one chunk of up to 16 KiB at a time: `poll_write`
/// copies (a part of) its data, starts sending it and reports it written;
/// the next `poll_write` (or `poll_flush`) waits until that chunk is sent,
/// and reports its error if it failed. So the bytes a write reports are
/// always the bytes of *that* call, also when a caller changes its data
/// after a `Pending`. Flush or close before dropping it: a chunk still
/// being sent is then cancelled (as with any buffered writer). Reads are
/// served from a 16 KiB buffer, in order. Must be used inside the runtime
/// that made the stream.
pub struct Compat<S> {
    stream: S,
    fd: RawFd,
    reading: Option<Pin<Box<RecvOp>>>,
    /// Received bytes not yet handed out, and where the rest begins.
    leftover: Vec<u8>,
    consumed: usize,
    writing: Option<Sending>,
    /// The buffer of the last chunk sent, for the next.
    spare: Vec<u8>,
    /// Why the writing side failed: every later write and flush reports
    /// it (bytes after a failed chunk are never claimed written).
    failed: Option<(io::ErrorKind, String)>,
    closing: Option<Pin<Box<ShutdownOp>>>,
}

impl<S: AsFd> Compat<S> {
    /// Adapts `stream`.
    pub fn new(stream: S) -> Self {
        let fd = stream.as_fd().as_raw_fd();
        Self {
            stream,
            fd,
            reading: None,
            leftover: Vec::new(),
            consumed: 0,
            writing: None,
            spare: Vec::new(),
            failed: None,
            closing: None,
        }
    }

    /// The wrapped stream (operations in flight are dropped first).
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat").field("fd", &self.fd).finish()
    }
}

impl<S: AsFd + Unpin> AsyncRead for Compat<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.consumed < this.leftover.len() {
            let n = out.len().min(this.leftover.len() - this.consumed);
            out[..n].copy_from_slice(&this.leftover[this.consumed..this.consumed + n]);
            this.consumed += n;
            return Poll::Ready(Ok(n));
        }
        let fd = this.fd;
        let op = this.reading.get_or_insert_with(|| {
            let mut buf = std::mem::take(&mut this.leftover);
            buf.clear();
            buf.reserve(CHUNK);
            Box::pin(io().submit(Recv { fd, buf }))
        });
        let (result, buf) = std::task::ready!(op.as_mut().poll(cx));
        this.reading = None;
        this.leftover = buf;
        this.consumed = 0;
        let received = result?;
        let n = out.len().min(received);
        out[..n].copy_from_slice(&this.leftover[..n]);
        this.consumed = n;
        Poll::Ready(Ok(n))
    }
}

impl<S> Compat<S> {
    /// Waits until the chunk being sent (if any) is sent; its error, if
    /// it failed.
    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(sending) = self.writing.as_mut() {
            let (result, buf) = std::task::ready!(sending.as_mut().poll(cx));
            self.writing = None;
            self.spare = buf;
            self.note(result);
        }
        Poll::Ready(match &self.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        })
    }

    /// Remembers the first failure of the writing side.
    fn note(&mut self, result: io::Result<()>) {
        if let Err(e) = result
            && self.failed.is_none()
        {
            self.failed = Some((e.kind(), e.to_string()));
        }
    }
}

impl<S: AsFd + Unpin> AsyncWrite for Compat<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // The previous chunk first: nothing of `data` is taken before.
        std::task::ready!(this.poll_sent(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let take = data.len().min(CHUNK);
        let mut buf = std::mem::take(&mut this.spare);
        buf.clear();
        buf.extend_from_slice(&data[..take]);
        let fd = this.fd;
        let mut sending: Sending = Box::pin(write_all(buf, move |tail, _| {
            io().submit(Send { fd, buf: tail })
        }));
        // Polled once now, so the send is submitted at once (a caller such
        // as `io::copy` may not flush before it waits for more input).
        match sending.as_mut().poll(cx) {
            Poll::Pending => this.writing = Some(sending),
            // Sent already; an error is reported by the next call.
            Poll::Ready((result, buf)) => {
                this.spare = buf;
                this.note(result);
            }
        }
        Poll::Ready(Ok(take))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_sent(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.as_mut().poll_flush(cx))?;
        let fd = self.fd;
        let op = self.closing.get_or_insert_with(|| {
            Box::pin(io().submit(Shutdown {
                fd,
                how: libc::SHUT_WR,
            }))
        });
        let result = std::task::ready!(op.as_mut().poll(cx));
        self.closing = None;
        // Not connected (any more): the peer reset it, or it was closed
        // already — either way this side is closed.
        Poll::Ready(match result {
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
            other => other,
        })
    }
}
