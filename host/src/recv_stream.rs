//! A socket's incoming bytes as a stream of provided buffers: one
//! multishot receive that stays armed, re-armed when the kernel ends it.

use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::Stream;
use kasync::io::Multi;
use kasync_uring::ops::RecvMulti;
use kasync_uring::{BufRing, RecvBuf, UringDriver};

use crate::runtime::{MonotonicClock, OP_BYTES, OPS, io, recv_buffers};

type Receive = Multi<'static, RecvMulti, UringDriver, MonotonicClock, OPS, OP_BYTES>;

/// The stream of [`Socket::recv_multi`](crate::net::Socket::recv_multi):
/// each item is a [`RecvBuf`] of received bytes (in order); the stream ends
/// when the peer closes its sending half, after an error item, or when it
/// is dropped (which cancels the receive; buffers received meanwhile go
/// back to the pool).
///
/// When every receive buffer of the runtime is held, the stream waits
/// (the data stays in the socket) until one comes back. Drop
/// [`RecvBuf`]s promptly: a task that holds every buffer and waits for
/// more data waits forever.
pub struct RecvStream<'s> {
    fd: RawFd,
    ring: Option<&'static BufRing>,
    receive: Option<Pin<Box<Receive>>>,
    /// The last receive ended for want of buffers.
    starved: bool,
    done: bool,
    _socket: PhantomData<&'s ()>,
}

impl std::fmt::Debug for RecvStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.fd)
            .field("armed", &self.receive.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl RecvStream<'_> {
    /// A stream over connected socket `fd`, which outlives it.
    pub(crate) fn new(fd: RawFd) -> Self {
        Self {
            fd,
            ring: None,
            receive: None,
            starved: false,
            done: false,
            _socket: PhantomData,
        }
    }
}

impl Stream for RecvStream<'_> {
    type Item = io::Result<RecvBuf>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let ring = match this.ring {
                Some(ring) => ring,
                None => match recv_buffers() {
                    Ok(ring) => *this.ring.insert(ring),
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
            };
            if this.starved {
                ready!(ring.poll_available(cx));
                this.starved = false;
            }
            let receive = this.receive.get_or_insert_with(|| {
                Box::pin(io().submit_multishot(RecvMulti::new(this.fd, ring)))
            });
            match ready!(receive.as_mut().poll_next(cx)) {
                Some(Ok(Some(buf))) => return Poll::Ready(Some(Ok(buf))),
                // The peer closed its sending half.
                Some(Ok(None)) => {
                    this.receive = None;
                    this.done = true;
                }
                // Out of buffers: the data waits in the socket; receive
                // again once a buffer is back.
                Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    this.receive = None;
                    this.starved = true;
                }
                Some(Err(e)) => {
                    this.receive = None;
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                // The kernel ended the receive on its own: arm a new one.
                None => this.receive = None,
            }
        }
    }
}
