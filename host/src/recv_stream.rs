//! A socket's incoming bytes as a stream of provided buffers: one
//! multishot receive that stays armed, re-armed when the kernel ends it.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::backend::HostDriver;
use futures_util::Stream;
use kasync::io::{Multi, Op};
use kasync_ops::ops::{Recv, RecvMulti};
use kasync_ops::{BufRing, RecvBuf};

use crate::runtime::{
    MonotonicClock, OP_BYTES, OPS, RECV_BUFFER_BYTES, io, multishot_recv, recv_buffers,
};

type Receive = Multi<'static, RecvMulti, HostDriver, MonotonicClock, OPS, OP_BYTES>;
type OwnedRead = Op<'static, Recv<Vec<u8>>, HostDriver, MonotonicClock, OPS, OP_BYTES>;

/// The stream of [`Socket::recv_multi`](crate::net::Socket::recv_multi):
/// each item is a [`RecvBuf`] of received bytes, in the order they
/// arrived; the stream ends when the peer closes its sending half, after
/// an error item, or when it is dropped (which cancels the receive;
/// buffers received meanwhile go back to the pool).
///
/// # The shared buffers, and what a slow or hostile peer can pin
///
/// Items normally hold one of the runtime's shared receive buffers
/// ([`Runtime::register_recv_buffers`](crate::Runtime::register_recv_buffers)):
/// no copy, no buffer per connection. The pool is shared by every
/// connection of the runtime, so the stream keeps any one connection from
/// draining it:
///
/// * **Reader behind.** At most one received buffer waits for a stream
///   that is not being polled; when more data arrives, the receive is
///   paused and what arrived meanwhile is copied out of the pool. The rest
///   waits in the kernel's socket buffer (TCP holds the sender back) until
///   the stream is polled again.
/// * **Pool running low** (fewer than an eighth of the buffers left, or
///   none): the stream reads into a buffer of its own instead — one read at
///   a time, [`RecvBuf::is_shared`] is `false` — until the pool recovers.
///   Nobody waits for the pool.
/// * **No shared buffers at all**: on a kernel without provided-buffer
///   rings or multishot receive (before Linux 6.0), every item is a read
///   into a buffer of the stream's own, one at a time — the same bytes in
///   the same order, one submission each.
///
/// What is left to the user: **drop items promptly**, or
/// [`detach`](RecvBuf::detach) an item that must wait (a write to a peer
/// that does not read): each held item pins one shared buffer.
pub struct RecvStream<'s> {
    fd: RawFd,
    ring: Option<&'static BufRing>,
    /// No multishot receive on this driver: only reads of our own.
    plain: bool,
    receive: Option<Pin<Box<Receive>>>,
    /// A read into a buffer of the stream's own, while the pool is short.
    own_read: Option<Pin<Box<OwnedRead>>>,
    /// The last receive ended for want of shared buffers.
    starved: bool,
    done: bool,
    _socket: PhantomData<&'s ()>,
}

impl std::fmt::Debug for RecvStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.fd)
            .field("armed", &self.receive.is_some())
            .field("own_read", &self.own_read.is_some())
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
            plain: false,
            receive: None,
            own_read: None,
            starved: false,
            done: false,
            _socket: PhantomData,
        }
    }
}

/// `true` when the shared buffers are too few to take more from them.
fn pool_low(ring: &BufRing) -> bool {
    ring.available() < (ring.buffers() / 8).max(1)
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
                Some(ring) => Some(ring),
                None if this.plain => None,
                None if !multishot_recv() => {
                    this.plain = true;
                    None
                }
                None => match recv_buffers() {
                    Ok(ring) => Some(*this.ring.insert(ring)),
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
            };
            if let Some(read) = this.own_read.as_mut() {
                let (result, buf) = ready!(read.as_mut().poll(cx));
                this.own_read = None;
                return Poll::Ready(match result {
                    Ok(0) => {
                        this.done = true;
                        None
                    }
                    Ok(_) => Some(Ok(RecvBuf::owned(buf))),
                    Err(e) => {
                        this.done = true;
                        Some(Err(e))
                    }
                });
            }
            if this.receive.is_none() {
                let ring = match ring {
                    Some(ring) if !std::mem::take(&mut this.starved) && !pool_low(ring) => ring,
                    // Short of shared buffers, or none to be had: one read
                    // into our own.
                    _ => {
                        let size = ring.map_or(RECV_BUFFER_BYTES, BufRing::buffer_size);
                        let buf = Vec::with_capacity(size);
                        this.own_read = Some(Box::pin(io().submit(Recv { fd: this.fd, buf })));
                        continue;
                    }
                };
                this.receive = Some(Box::pin(
                    io().submit_multishot(RecvMulti::new(this.fd, ring)),
                ));
            }
            let receive = this.receive.as_mut().expect("armed just above");
            match ready!(receive.as_mut().poll_next(cx)) {
                Some(Ok(Some(buf))) => return Poll::Ready(Some(Ok(buf))),
                // The peer closed its sending half.
                Some(Ok(None)) => {
                    this.receive = None;
                    this.done = true;
                }
                // Out of shared buffers: the data waits in the socket; the
                // next read goes into a buffer of our own.
                Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    this.receive = None;
                    this.starved = true;
                }
                Some(Err(e)) => {
                    this.receive = None;
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                // Paused (we were behind) or ended by the kernel: arm a new
                // one — everything the old one received came first.
                None => this.receive = None,
            }
        }
    }
}
