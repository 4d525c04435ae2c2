//! `futures-io` adapters, so the ecosystem's codecs and `copy` work on
//! kasync sockets. They keep one owned buffer per direction in flight.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::io::{AsyncRead, AsyncWrite};
use kasync::io::Op;
use kasync_uring::UringDriver;
use kasync_uring::ops::{Recv, Send, Shutdown};

use crate::runtime::{MonotonicClock, OP_BYTES, OPS, io};

type RecvOp = Op<'static, Recv<Vec<u8>>, UringDriver, MonotonicClock, OPS, OP_BYTES>;
type SendOp = Op<'static, Send<Vec<u8>>, UringDriver, MonotonicClock, OPS, OP_BYTES>;
type ShutdownOp = Op<'static, Shutdown, UringDriver, MonotonicClock, OPS, OP_BYTES>;

const CHUNK: usize = 16 * 1024;

/// A stream socket as [`AsyncRead`] + [`AsyncWrite`]. Wrap a
/// [`TcpStream`](crate::net::TcpStream) or
/// [`UnixStream`](crate::net::UnixStream) with [`Compat::new`].
///
/// A write is reported done when the kernel sent it; reads are served from
/// a 16 KiB buffer. Must be used inside the runtime that made the stream.
pub struct Compat<S> {
    stream: S,
    fd: RawFd,
    reading: Option<Pin<Box<RecvOp>>>,
    /// Received bytes not yet handed out, and where the rest begins.
    leftover: Vec<u8>,
    consumed: usize,
    writing: Option<Pin<Box<SendOp>>>,
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

impl<S: AsFd + Unpin> AsyncWrite for Compat<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let fd = this.fd;
        let op = this.writing.get_or_insert_with(|| {
            let take = data.len().min(CHUNK);
            Box::pin(io().submit(Send {
                fd,
                buf: data[..take].to_vec(),
            }))
        });
        let (result, _) = std::task::ready!(op.as_mut().poll(cx));
        this.writing = None;
        Poll::Ready(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes complete before `poll_write` returns, except one that was
        // abandoned half-way: finish it.
        if let Some(op) = self.writing.as_mut() {
            let (result, _) = std::task::ready!(op.as_mut().poll(cx));
            self.writing = None;
            result?;
        }
        Poll::Ready(Ok(()))
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
        Poll::Ready(result)
    }
}
