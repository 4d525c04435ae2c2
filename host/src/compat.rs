//! Adapters to the ecosystem's I/O traits: [`Compat`] makes a kasync
//! stream socket a `futures-io` `AsyncRead` + `AsyncWrite` (for
//! `asynchronous-codec`, `futures::io::copy`, …) and, with the `tokio-io`
//! feature, a tokio `AsyncRead` + `AsyncWrite` (for hyper through
//! `hyper_util::rt::TokioIo`, `tokio-rustls`, `tokio-util`'s codecs, …).
//!
//! Those traits lend the caller's buffer for one call; kasync's operations
//! own theirs while the kernel works on them. So `Compat` keeps one owned
//! buffer per direction and copies once: received bytes out of its read
//! buffer, written bytes into its write buffer. The operations in flight
//! live inside the adapter (allocated once, with it): a call allocates
//! nothing.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomPinned;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::backend::HostDriver;
use futures_util::io::{AsyncRead, AsyncWrite};
use kasync::io::Op;
use kasync_ops::ops::{Recv, Send, Shutdown};

use crate::buf::Tail;
use crate::runtime::{MonotonicClock, OP_BYTES, OPS, io};
use crate::thread_bound::ThreadBound;

type HostOp<T> = Op<'static, T, HostDriver, MonotonicClock, OPS, OP_BYTES>;
type RecvOp = HostOp<Recv<Vec<u8>>>;
/// Sending the unsent tail of a chunk.
type SendOp = HostOp<Send<Tail<Vec<u8>>>>;

/// Bytes received or sent per operation.
const CHUNK: usize = 16 * 1024;

/// A stream socket as `AsyncRead` + `AsyncWrite` — `futures-io`'s, and
/// with the `tokio-io` feature tokio's. Wrap a
/// [`TcpStream`](crate::net::TcpStream) or
/// [`UnixStream`](crate::net::UnixStream) (or a reference to one) with
/// [`Compat::new`].
///
/// Writes are buffered, one chunk of up to 16 KiB at a time: `poll_write`
/// copies (a part of) its data, starts sending it and reports it written;
/// the next `poll_write` (or `poll_flush`) waits until that chunk is sent,
/// and reports its error if it failed. So the bytes a write reports are
/// always the bytes of *that* call, also when a caller changes its data
/// after a `Pending`. Flush or close before dropping it: a chunk still
/// being sent is then cancelled (as with any buffered writer). Reads are
/// served from a 16 KiB buffer, in order. A read that meets the end of
/// the stream while written bytes are not flushed yet reports it one poll
/// later (woken at once), so that a caller polling its read before its
/// flush — hyper does — sees its write done before the peer's close.
///
/// `Send` whenever the stream is, and bound to the thread that made it
/// (whose runtime runs its operations): used on another thread, every call
/// is an error that says so; dropped on another thread with an operation
/// in flight, its buffers and descriptor are leaked rather than freed
/// under the kernel.
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use kasync_host::compat::Compat;
/// use kasync_host::net::UnixStream;
///
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let (a, b) = UnixStream::pair()?;
/// let (mut a, mut b) = (Compat::new(a), Compat::new(b));
/// a.write_all(b"borrowed bytes are fine here").await?;
/// a.close().await?; // flushes, then shuts the writing side down
/// let mut text = String::new();
/// b.read_to_string(&mut text).await?;
/// assert_eq!(text, "borrowed bytes are fine here");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[cfg_attr(
    feature = "tokio-io",
    doc = r#"
With the `tokio-io` feature it is tokio's `AsyncRead` + `AsyncWrite` as
well, so hyper (through `hyper_util::rt::TokioIo`), `tokio-rustls` and
`tokio-util`'s codecs take it as it is:

```
use kasync_host::compat::Compat;
use kasync_host::net::UnixStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

# kasync_host::Runtime::new().unwrap().block_on(async {
let (a, b) = UnixStream::pair()?;
let (mut a, mut b) = (Compat::new(a), Compat::new(b));
a.write_all(b"through tokio's traits").await?;
a.shutdown().await?;
let mut text = String::new();
b.read_to_string(&mut text).await?;
assert_eq!(text, "through tokio's traits");
# Ok::<(), std::io::Error>(())
# }).unwrap();
```
"#
)]
pub struct Compat<S> {
    /// Dropped first (see `Drop`): operations in flight are cancelled
    /// before the stream (and its descriptor) goes. Bound to the thread
    /// that made the adapter, whose runtime runs its operations.
    state: ManuallyDrop<ThreadBound<State>>,
    stream: ManuallyDrop<S>,
    fd: RawFd,
    /// An operation was in flight when the last call returned (known
    /// without reaching the state, so also off its thread).
    busy: bool,
    /// Bytes were written since the last completed flush.
    flush_owed: bool,
    /// The end of the stream was held back once for that flush.
    eof_deferred: bool,
}

/// What is in flight, and the buffers. Pinned (the operations live in
/// it); one allocation per adapter.
struct State {
    fd: RawFd,
    /// The receive in flight, if any.
    reading: Option<RecvOp>,
    /// Received bytes not yet handed out, and where the rest begins.
    leftover: Vec<u8>,
    consumed: usize,
    /// The send in flight (the unsent tail of the chunk), if any.
    writing: Option<SendOp>,
    /// The buffer of the last chunk sent, for the next.
    spare: Vec<u8>,
    /// Why the writing side failed: every later write and flush reports
    /// it (bytes after a failed chunk are never claimed written).
    failed: Option<(io::ErrorKind, String)>,
    closing: Option<HostOp<Shutdown>>,
    _pinned: PhantomPinned,
}

/// [`State`] with its operations pinned and its buffers not.
struct Fields<'a> {
    fd: RawFd,
    reading: Pin<&'a mut Option<RecvOp>>,
    leftover: &'a mut Vec<u8>,
    consumed: &'a mut usize,
    writing: Pin<&'a mut Option<SendOp>>,
    spare: &'a mut Vec<u8>,
    failed: &'a mut Option<(io::ErrorKind, String)>,
    closing: Pin<&'a mut Option<HostOp<Shutdown>>>,
}

impl State {
    fn fields(self: Pin<&mut Self>) -> Fields<'_> {
        // SAFETY: the operations are structurally pinned — only ever
        // reached through the `Pin`s made here, replaced in place with
        // `Pin::set` (which drops the old one there) and never moved out;
        // the other fields are never pinned.
        unsafe {
            let this = self.get_unchecked_mut();
            Fields {
                fd: this.fd,
                reading: Pin::new_unchecked(&mut this.reading),
                leftover: &mut this.leftover,
                consumed: &mut this.consumed,
                writing: Pin::new_unchecked(&mut this.writing),
                spare: &mut this.spare,
                failed: &mut this.failed,
                closing: Pin::new_unchecked(&mut this.closing),
            }
        }
    }
}

impl<S: AsFd> Compat<S> {
    /// Adapts `stream`.
    pub fn new(stream: S) -> Self {
        let fd = stream.as_fd().as_raw_fd();
        Self {
            fd,
            busy: false,
            flush_owed: false,
            eof_deferred: false,
            stream: ManuallyDrop::new(stream),
            state: ManuallyDrop::new(ThreadBound::new(State {
                fd,
                reading: None,
                leftover: Vec::new(),
                consumed: 0,
                writing: None,
                spare: Vec::new(),
                failed: None,
                closing: None,
                _pinned: PhantomPinned,
            })),
        }
    }

    /// The wrapped stream (operations in flight are dropped first).
    /// Bytes received but not read yet are dropped with the adapter: use
    /// [`into_parts`](Self::into_parts) to keep them, and flush before
    /// either, as a write in flight is cancelled.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let (a, _b) = kasync_host::net::UnixStream::pair()?;
    /// let adapted = kasync_host::compat::Compat::new(a);
    /// let a = adapted.into_inner(); // back to owned-buffer calls
    /// a.write_all("direct").await.0?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Panics
    /// On another thread than the one that made the adapter while an
    /// operation is in flight: only that thread's runtime can cancel it.
    pub fn into_inner(self) -> S {
        let mut this = ManuallyDrop::new(self);
        assert!(
            this.state.is_home() || !this.busy,
            "Compat::into_inner on another thread than the one that made it, \
             with an operation in flight: call it on that thread"
        );
        // SAFETY: `this` is never used or dropped again (`ManuallyDrop`):
        // each field is dropped or taken exactly once here.
        unsafe {
            ManuallyDrop::drop(&mut this.state);
            ManuallyDrop::take(&mut this.stream)
        }
    }

    /// The wrapped stream and the bytes received from it but not read
    /// yet — what a protocol switch (after an HTTP `Upgrade`, a STARTTLS)
    /// must go on with. Flush first: a write in flight is cancelled, and
    /// so is a read in flight (one that returned `Pending`), whose bytes,
    /// if any had arrived, are lost; after a read completed there is none.
    ///
    /// ```
    /// use futures_util::AsyncReadExt;
    /// use kasync_host::compat::Compat;
    ///
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = kasync_host::net::UnixStream::pair()?;
    /// a.write_all("HELLO\nrest").await.0?;
    /// let mut b = Compat::new(b);
    /// let mut first = [0; 6];
    /// b.read_exact(&mut first).await?; // received "HELLO\nrest", read 6
    /// let (b, unread) = b.into_parts();
    /// assert_eq!(unread, b"rest");
    /// # drop(b);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Panics
    /// On another thread than the one that made the adapter: the bytes
    /// are reachable only there.
    pub fn into_parts(mut self) -> (S, Vec<u8>) {
        let unread = match Pin::new(&mut *self.state).get_pin_mut() {
            Some(state) => {
                let fields = state.fields();
                let mut unread = std::mem::take(fields.leftover);
                unread.drain(..*fields.consumed);
                *fields.consumed = 0;
                unread
            }
            None => panic!(
                "Compat::into_parts on another thread than the one that made it: \
                 call it on that thread"
            ),
        };
        (self.into_inner(), unread)
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S> Drop for Compat<S> {
    fn drop(&mut self) {
        // Off the home thread with an operation in flight, that operation
        // cannot be cancelled (its runtime is the home thread's): the
        // state is leaked (buffers stay valid for the kernel), and so is
        // the descriptor — closing it could give its number to a new
        // descriptor while an entry naming it is still queued.
        let keep_descriptor = !self.state.is_home() && self.busy;
        // SAFETY: the fields are dropped once, here, and never used again;
        // the state (its operations) before the stream.
        unsafe {
            ManuallyDrop::drop(&mut self.state);
            if !keep_descriptor {
                ManuallyDrop::drop(&mut self.stream);
            }
        }
    }
}

impl<S> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat").field("fd", &self.fd).finish()
    }
}

/// A call on another thread than the one that made the adapter.
fn moved() -> io::Error {
    io::Error::other(
        "a kasync Compat stream was used on another thread than the one that made it: \
         its operations belong to that thread's runtime (keep each connection on its runtime's thread)",
    )
}

impl<S> Compat<S> {
    /// Runs `f` on the state, on the home thread (an error elsewhere),
    /// then notes whether an operation is still in flight.
    fn with_state<R>(
        &mut self,
        f: impl FnOnce(Pin<&mut State>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let Some(mut state) = Pin::new(&mut *self.state).get_pin_mut() else {
            return Poll::Ready(Err(moved()));
        };
        let poll = f(state.as_mut());
        self.busy = state.reading.is_some() || state.writing.is_some() || state.closing.is_some();
        poll
    }

    /// Hands out received bytes through `take` — which copies what it can
    /// and says how many — receiving more first if none are left: a read
    /// into a buffer of any kind (an uninitialised one, hyper's
    /// `ReadBufCursor`, …) with one copy and no `unsafe`. `take` is given
    /// an empty slice at the end of the stream. Bytes `take` does not
    /// claim are handed out by the next read.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use kasync_host::compat::Compat;
    /// use kasync_host::net::UnixStream;
    ///
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = UnixStream::pair()?;
    /// a.write_all("hello").await.0?;
    /// let mut b = Compat::new(b);
    /// let mut got = Vec::new();
    /// let n = poll_fn(|cx| b.poll_read_with(cx, |data| {
    ///     got.extend_from_slice(&data[..2.min(data.len())]);
    ///     2.min(data.len())
    /// }))
    /// .await?;
    /// assert_eq!((n, &got[..]), (2, &b"he"[..]));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        // The end of the stream, found while bytes written are not flushed
        // yet, waits for one more poll (woken at once): the caller flushes
        // first. With tokio's write-through sockets a flush is done before
        // the peer can even see the bytes; here the send may complete in
        // the same turn as the peer's close, and hyper, which polls its read
        // before its flush, would take the close for one in the middle of
        // its response ("connection closed before message completed").
        let defer = self.flush_owed && !self.eof_deferred;
        let mut held_back = false;
        let poll = self.with_state(|state| {
            State::poll_read_with(state, cx, |data| {
                if data.is_empty() && defer {
                    held_back = true;
                    return 0;
                }
                take(data)
            })
        });
        if held_back {
            self.eof_deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.eof_deferred = false;
        }
        poll
    }

    /// The caller's flush: see [`State::poll_sent`].
    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = self.with_state(|state| State::poll_sent(state, cx));
        if poll.is_ready() {
            self.flush_owed = false;
        }
        poll
    }

    /// See [`State::poll_write_buf`].
    fn poll_write_buf(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let poll = self.with_state(|state| State::poll_write_buf(state, cx, data));
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.flush_owed = true;
        }
        poll
    }

    /// See [`State::poll_shutdown_write`].
    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = self.with_state(|state| State::poll_shutdown_write(state, cx));
        if poll.is_ready() {
            self.flush_owed = false;
        }
        poll
    }
}

impl State {
    /// Hands out received bytes through `take` (which copies what it can
    /// and says how many), receiving more first if none are left.
    fn poll_read_with(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        take: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        let mut f = self.as_mut().fields();
        if *f.consumed == f.leftover.len() {
            if f.reading.is_none() {
                let mut buf = std::mem::take(f.leftover);
                *f.consumed = 0;
                buf.clear();
                buf.reserve(CHUNK);
                f.reading.set(Some(io().submit(Recv { fd: f.fd, buf })));
            }
            let op = f
                .reading
                .as_mut()
                .as_pin_mut()
                .expect("a receive in flight");
            let (result, buf) = ready!(op.poll(cx));
            f.reading.set(None);
            *f.leftover = buf;
            *f.consumed = 0;
            result?;
        }
        let available = f.leftover.len() - *f.consumed;
        // A `take` that claims more than it was given claims it all.
        let n = take(&f.leftover[*f.consumed..]).min(available);
        *f.consumed += n;
        Poll::Ready(Ok(n))
    }

    /// Waits until the chunk being sent (if any) is sent — a short send
    /// goes on with the rest — and reports the writing side's error, if
    /// it failed.
    fn poll_sent(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut f = self.as_mut().fields();
        while let Some(op) = f.writing.as_mut().as_pin_mut() {
            let (result, mut tail) = ready!(op.poll(cx));
            f.writing.set(None);
            let error = match result {
                Ok(0) => Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    tail.start += n;
                    if tail.start < tail.buf.len() {
                        f.writing.set(Some(io().submit(Send {
                            fd: f.fd,
                            buf: tail,
                        })));
                        continue;
                    }
                    None
                }
                Err(e) => Some(e),
            };
            *f.spare = tail.buf;
            if let Some(e) = error
                && f.failed.is_none()
            {
                *f.failed = Some((e.kind(), e.to_string()));
            }
        }
        Poll::Ready(match &*f.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        })
    }

    /// Copies (up to a chunk of) `data` and starts sending it.
    fn poll_write_buf(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        // The previous chunk first: nothing of `data` is taken before.
        ready!(self.as_mut().poll_sent(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let take = data.len().min(CHUNK);
        {
            let mut f = self.as_mut().fields();
            let mut buf = std::mem::take(f.spare);
            buf.clear();
            buf.extend_from_slice(&data[..take]);
            f.writing.set(Some(io().submit(Send {
                fd: f.fd,
                buf: Tail { buf, start: 0 },
            })));
        }
        // Polled once now, so the send is submitted at once (a caller such
        // as `io::copy` may not flush before it waits for more input); an
        // error is reported by the next call.
        let _ = self.poll_sent(cx);
        Poll::Ready(Ok(take))
    }

    /// Flushes, then shuts the writing side down.
    fn poll_shutdown_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_sent(cx))?;
        let mut f = self.as_mut().fields();
        if f.closing.is_none() {
            f.closing.set(Some(io().submit(Shutdown {
                fd: f.fd,
                how: libc::SHUT_WR,
            })));
        }
        let op = f
            .closing
            .as_mut()
            .as_pin_mut()
            .expect("a shutdown in flight");
        let result = ready!(op.poll(cx));
        f.closing.set(None);
        // Not connected (any more): the peer reset it, or it was closed
        // already — either way this side is closed.
        Poll::Ready(match result {
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
            other => other,
        })
    }
}

impl<S: AsFd + Unpin> AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.get_mut().poll_read_with(cx, |data| {
            let n = out.len().min(data.len());
            out[..n].copy_from_slice(&data[..n]);
            n
        })
    }
}

impl<S: AsFd + Unpin> AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_buf(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_write(cx)
    }
}

/// tokio's I/O traits (feature `tokio-io`): the same adapter for the
/// crates that take `tokio::io::AsyncRead`/`AsyncWrite`.
#[cfg(feature = "tokio-io")]
mod tokio_io {
    use super::*;
    use tokio::io::ReadBuf;

    impl<S: AsFd + Unpin> tokio::io::AsyncRead for Compat<S> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            self.get_mut()
                .poll_read_with(cx, |data| {
                    let n = out.remaining().min(data.len());
                    out.put_slice(&data[..n]);
                    n
                })
                .map_ok(drop)
        }
    }

    impl<S: AsFd + Unpin> tokio::io::AsyncWrite for Compat<S> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_buf(cx, data)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_sent(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_write(cx)
        }
    }
}
