//! Sockets over io_uring — TCP, UDP, Unix — with owned buffers.
//!
//! Reads and writes take the buffer and give it back with the result
//! (`(io::Result<usize>, buf)`), so the kernel can own it while the
//! operation is in flight — and a dropped or timed-out read never frees
//! memory the kernel still writes.

use std::io;
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::backend::HostDriver;
use crate::descriptor::Descriptor;
use kasync::io::{IoBuf, IoBufMut};
use kasync_ops::RawAddr;
use kasync_ops::ops::{Accept, AcceptMulti, Connect, Recv, RecvFrom, Send, SendTo, Shutdown};

use crate::buf::write_all;
pub use crate::recv_stream::RecvStream;
use crate::runtime::{MonotonicClock, OP_BYTES, OPS, io};
pub use kasync_ops::RecvBuf;

/// A TCP socket listening for connections.
#[derive(Debug)]
pub struct TcpListener {
    fd: Descriptor,
}

impl TcpListener {
    /// Binds to `addr` and listens (port 0 picks a free port), with a
    /// backlog of 1024 pending connections and `SO_REUSEADDR` (as std and
    /// tokio listeners on Unix have).
    ///
    /// A port still held by a listener of a process that was just killed
    /// is waited for, up to a quarter of a second — blocking the calling
    /// thread, so a server that binds while it serves should not retry a
    /// taken port in a loop: the kernel releases a socket an io_uring
    /// operation of the dead process still holds only once it has torn
    /// that ring down, which it does in the background. (Dropping a
    /// `TcpListener` stops it listening at once, whatever still holds it,
    /// so a server that exits normally leaves nothing behind.)
    ///
    /// `addr` is anything std's `bind` takes (`"127.0.0.1:7000"`,
    /// `"localhost:7000"`, a `SocketAddr`, …); each address it resolves to
    /// is tried in turn. Resolving a name may block briefly, as std's does.
    ///
    /// ```
    /// # kasync_host::Runtime::new()?.block_on(async {
    /// let listener = kasync_host::net::TcpListener::bind("localhost:0")?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?; // any free port
    /// println!("listening on {}", listener.local_addr()?);
    /// // A bad address is an error that says which.
    /// assert!(kasync_host::net::TcpListener::bind("no-such-host.invalid:80").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        each_addr(addr, |addr| Self::listen_on(addr, false))
    }

    /// Binds with `SO_REUSEPORT`, so several threads' listeners share one
    /// port and the kernel spreads connections among them.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// use kasync_host::net::TcpListener;
    /// let first = TcpListener::bind_reuseport("127.0.0.1:0")?;
    /// // A second listener on the same port (as each thread of `per_core` binds).
    /// let second = TcpListener::bind_reuseport(first.local_addr()?)?;
    /// assert_eq!(first.local_addr()?, second.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<Self> {
        each_addr(addr, |addr| Self::listen_on(addr, true))
    }

    fn listen_on(addr: SocketAddr, reuse_port: bool) -> io::Result<Self> {
        let fd = socket(addr, libc::SOCK_STREAM)?;
        set_option(fd.as_raw_fd(), libc::SO_REUSEADDR)?;
        if reuse_port {
            set_option(fd.as_raw_fd(), libc::SO_REUSEPORT)?;
        }
        let raw = RawAddr::from_socket_addr(addr);
        let mut waited = std::time::Duration::ZERO;
        loop {
            // SAFETY: `raw` is a valid socket address of `raw.len()` bytes
            // and `fd` a socket we own.
            if unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len()) } == 0 {
                break;
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::AddrInUse || waited >= BIND_PATIENCE {
                return Err(error);
            }
            // Perhaps a killed process's listener, about to be released.
            let pause = std::time::Duration::from_millis(10);
            std::thread::sleep(pause);
            waited += pause;
        }
        // SAFETY: listening on a bound socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), 1024) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd: fd.into() })
    }

    /// Waits for the next connection.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// use kasync_host::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (server_side, peer) = listener.accept().await?;
    /// assert_eq!(peer, client.local_addr()?);
    /// # drop(server_side);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = io().submit(Accept::new(self.fd.as_raw_fd())).await?;
        let addr =
            addr.ok_or_else(|| io::Error::other("accepted a connection without an address"))?;
        Ok((
            TcpStream {
                socket: Socket { fd: fd.into() },
            },
            addr,
        ))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        with_std_listener(self.fd.as_raw_fd(), |l| l.local_addr())
    }

    /// Every incoming connection, as a never-ending stream, from a
    /// multishot accept kept armed in the ring (no submission per
    /// connection; re-armed if the kernel ends it, e.g. after a completion
    /// queue overflow). Dropping the stream cancels it; connections
    /// accepted meanwhile are closed.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use kasync_host::net::{TcpListener, TcpStream};
    ///
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let clients = kasync_host::spawn(async move {
    ///     for _ in 0..3 {
    ///         TcpStream::connect(addr).await.unwrap().write_all("hi").await.0.unwrap();
    ///     }
    /// }).unwrap();
    /// let mut incoming = listener.incoming();
    /// for _ in 0..3 {
    ///     let stream = incoming.next().await.expect("never ends")?;
    ///     let (n, _) = stream.read(Vec::with_capacity(8)).await;
    ///     assert_eq!(n?, 2);
    /// }
    /// clients.await.unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// On a kernel without multishot accept (before Linux 5.19) the stream
    /// submits one accept at a time instead, the next as soon as the last
    /// connection is taken: the same connections, one submission each.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            fd: self.fd.as_raw_fd(),
            accept: Accepting::arm(self.fd.as_raw_fd()),
            _listener: std::marker::PhantomData,
        }
    }
}

type AcceptStream =
    kasync::io::Multi<'static, AcceptMulti, HostDriver, MonotonicClock, OPS, OP_BYTES>;
type AcceptOne = kasync::io::Op<'static, Accept, HostDriver, MonotonicClock, OPS, OP_BYTES>;

/// The accept an [`Incoming`] keeps in flight.
enum Accepting {
    /// One multishot accept.
    Multi(std::pin::Pin<Box<AcceptStream>>),
    /// One plain accept (no multishot accept on this kernel).
    One(std::pin::Pin<Box<AcceptOne>>),
}

impl Accepting {
    fn arm(fd: RawFd) -> Self {
        if crate::runtime::multishot_accept() {
            Accepting::Multi(Box::pin(io().submit_multishot(AcceptMulti::new(fd))))
        } else {
            Accepting::One(Box::pin(io().submit(Accept::new(fd))))
        }
    }
}

/// The addresses `addr` stands for; an error if it stands for none.
fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        ));
    }
    Ok(addrs)
}

/// `f` for each address `addr` stands for, until one succeeds; the last
/// error otherwise.
fn each_addr<T>(
    addr: impl ToSocketAddrs,
    f: impl Fn(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in resolve(addr)? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("`resolve` gives at least one address"))
}

/// How long [`TcpListener::bind`] waits for a port that is in use.
/// How much room [`Socket::read_to_end`] adds when its buffer is full.
const READ_TO_END_CHUNK: usize = 16 * 1024;

const BIND_PATIENCE: std::time::Duration = std::time::Duration::from_millis(250);

impl Drop for TcpListener {
    /// Stops listening at once: the socket may live on a little while an
    /// accept the ring still holds is cancelled, and a new server must be
    /// able to bind the port meanwhile.
    fn drop(&mut self) {
        // SAFETY: `shutdown` on the listening socket we own (closed right
        // after by the `OwnedFd`); it fails harmlessly if nothing listens.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

/// The stream of [`TcpListener::incoming`].
pub struct Incoming<'l> {
    fd: RawFd,
    accept: Accepting,
    _listener: std::marker::PhantomData<&'l TcpListener>,
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").finish()
    }
}

impl futures_util::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let stream = |fd: io::Result<OwnedFd>| {
            fd.map(|fd| TcpStream {
                socket: Socket { fd: fd.into() },
            })
        };
        loop {
            let fd = self.fd;
            match &mut self.accept {
                Accepting::Multi(accept) => {
                    match std::task::ready!(accept.as_mut().poll_next(cx)) {
                        Some(fd) => return std::task::Poll::Ready(Some(stream(fd))),
                        // The kernel ended the multishot accept: arm a new one.
                        None => self.accept = Accepting::arm(fd),
                    }
                }
                Accepting::One(accept) => {
                    let accepted = std::task::ready!(accept.as_mut().poll(cx));
                    self.accept = Accepting::arm(fd);
                    return std::task::Poll::Ready(Some(stream(accepted.map(|(fd, _)| fd))));
                }
            }
        }
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The reading and writing half every connected stream socket shares
/// ([`TcpStream`] and [`UnixStream`] dereference to it).
#[derive(Debug)]
pub struct Socket {
    fd: Descriptor,
}

impl Socket {
    /// Receives into `buf`, appending after the bytes it holds, up to its
    /// capacity; `Ok(0)` means the peer closed. Gives `buf` back in any
    /// case. A buffer with no spare capacity is `InvalidInput` (it would
    /// otherwise read 0 bytes, which looks like end-of-stream).
    ///
    /// The buffer is *owned*: the kernel writes into it while the read is
    /// in flight, so the read takes it and hands it back. Where tokio has
    /// `let n = stream.read(&mut buf).await?;`, write:
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let (stream, peer) = kasync_host::net::UnixStream::pair()?;
    /// # peer.write_all("hello").await.0?;
    /// let buf = Vec::with_capacity(4096); // not vec![0; 4096]: that is full
    /// let (result, buf) = stream.read(buf).await;
    /// let n = result?;
    /// assert_eq!(&buf[..n], b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// To reuse the buffer, [`clear`](Vec::clear) it first; without that
    /// the next read appends.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        io().submit(Recv {
            fd: self.fd.as_raw_fd(),
            buf,
        })
        .await
    }

    /// Receives until `buf` is full (its length reaches its capacity), as
    /// tokio's `read_exact`; the end of the stream before that is
    /// `UnexpectedEof` (the bytes read so far stay in `buf`).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let (stream, peer) = kasync_host::net::UnixStream::pair()?;
    /// # peer.write_all(&b"\x00\x05hello"[..]).await.0?;
    /// // A two-byte length, then the message.
    /// let (result, header) = stream.read_exact(Vec::with_capacity(2)).await;
    /// result?;
    /// let len = u16::from_be_bytes([header[0], header[1]]) as usize;
    /// let (result, message) = stream.read_exact(Vec::with_capacity(len)).await;
    /// result?;
    /// assert_eq!(message, b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn read_exact<B: IoBufMut>(&self, mut buf: B) -> (io::Result<()>, B) {
        while buf.spare_len() > 0 {
            let (result, back) = self.read(buf).await;
            buf = back;
            match result {
                Ok(0) => {
                    let error = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the peer closed the stream after {} of {} bytes",
                            buf.bytes_init(),
                            buf.bytes_total()
                        ),
                    );
                    return (Err(error), buf);
                }
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Receives until the peer closes, appending to `buf` (which grows as
    /// needed); returns how many bytes this call appended, as tokio's
    /// `read_to_end`. Mind who is on the other end: a peer that never
    /// stops sending grows `buf` without bound.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let (stream, peer) = kasync_host::net::UnixStream::pair()?;
    /// # peer.write_all("all of it").await.0?;
    /// # drop(peer);
    /// let (result, data) = stream.read_to_end(Vec::new()).await;
    /// assert_eq!(result?, 9);
    /// assert_eq!(data, b"all of it");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn read_to_end(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let start = buf.len();
        loop {
            if buf.len() == buf.capacity() {
                buf.reserve(READ_TO_END_CHUNK);
            }
            let (result, back) = self.read(buf).await;
            buf = back;
            match result {
                Ok(0) => return (Ok(buf.len() - start), buf),
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
    }

    /// Receives through one multishot receive that stays armed, into the
    /// runtime's shared receive buffers (registered on first use, see
    /// [`Runtime::register_recv_buffers`](crate::Runtime::register_recv_buffers)):
    /// no buffer per connection and no submission per message. Each item is
    /// a [`RecvBuf`] to read (and, say, send back) and then drop — promptly:
    /// each item held pins one shared buffer ([`RecvBuf::detach`] one that
    /// must wait). A stream that falls behind is paused rather than
    /// draining the pool, and when the pool runs low the stream reads into
    /// buffers of its own; see [`RecvStream`] for
    /// the policy.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = kasync_host::net::UnixStream::pair()?;
    /// a.write_all("one message").await.0?;
    /// drop(a);
    /// let mut received = Vec::new();
    /// let mut stream = b.recv_multi();
    /// while let Some(chunk) = stream.next().await {
    ///     received.extend_from_slice(&chunk?); // then the shared buffer goes back
    /// }
    /// assert_eq!(received, b"one message");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn recv_multi(&self) -> RecvStream<'_> {
        RecvStream::new(self.fd.as_raw_fd())
    }

    /// Sends `buf`'s bytes; may send only part of them.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let (stream, _peer) = kasync_host::net::UnixStream::pair()?;
    /// let (sent, buf) = stream.write(b"some bytes".to_vec()).await;
    /// let sent = sent?;
    /// assert!(sent <= buf.len()); // the rest, if any, is for the next write
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        io().submit(Send {
            fd: self.fd.as_raw_fd(),
            buf,
        })
        .await
    }

    /// Sends all of `buf`'s bytes; gives the buffer back in any case.
    ///
    /// Any owned buffer will do: a `Vec<u8>`, a `String`, a `&'static str`
    /// or `&'static [u8]`, a received [`RecvBuf`]. Where tokio has
    /// `stream.write_all(msg.as_bytes()).await?` on a borrowed `msg`, hand
    /// over the `String` (or a copy: `msg.clone()`, `msg.as_bytes().to_vec()`):
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let (stream, peer) = kasync_host::net::UnixStream::pair()?;
    /// stream.write_all("static text\n").await.0?;
    /// let line = format!("{} + {} = {}\n", 1, 2, 1 + 2);
    /// let (result, _line) = stream.write_all(line).await; // the String comes back
    /// result?;
    /// # let (_, got) = peer.read_exact(Vec::with_capacity(22)).await;
    /// # assert_eq!(got, b"static text\n1 + 2 = 3\n");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        let fd = self.fd.as_raw_fd();
        write_all(buf, |tail, _| io().submit(Send { fd, buf: tail })).await
    }

    /// Shuts down the writing half: the peer reads end-of-stream.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = kasync_host::net::UnixStream::pair()?;
    /// a.write_all("last words").await.0?;
    /// a.shutdown_write().await?;
    /// let (n, all) = b.read_to_end(Vec::new()).await; // ends: end-of-stream
    /// assert_eq!(&all[..n?], b"last words");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown_write(&self) -> io::Result<()> {
        io().submit(Shutdown {
            fd: self.fd.as_raw_fd(),
            how: libc::SHUT_WR,
        })
        .await
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A TCP connection. Reads and writes through [`Socket`].
#[derive(Debug)]
pub struct TcpStream {
    socket: Socket,
}

impl std::ops::Deref for TcpStream {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        &self.socket
    }
}

impl TcpStream {
    /// Connects to `addr` — anything std's `connect` takes; the addresses
    /// a name resolves to are tried in turn until one connects (resolving
    /// may block briefly, as std's does).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// use kasync_host::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let stream = TcpStream::connect(addr).await?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// // Nobody listening: the error says so.
    /// drop(listener);
    /// let refused = TcpStream::connect(addr).await.unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let addrs = resolve(addr)?;
        let mut last = None;
        for addr in addrs {
            match Self::connect_to(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("`resolve` gives at least one address"))
    }

    async fn connect_to(addr: SocketAddr) -> io::Result<Self> {
        let fd = socket(addr, libc::SOCK_STREAM)?;
        io().submit(Connect::new(fd.as_raw_fd(), addr)).await?;
        Ok(Self {
            socket: Socket { fd: fd.into() },
        })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        with_std_stream(self.socket.fd.as_raw_fd(), |s| s.peer_addr())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        with_std_stream(self.socket.fd.as_raw_fd(), |s| s.local_addr())
    }

    /// Turns Nagle's algorithm off (or on).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = kasync_host::net::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.set_nodelay(true)?; // small writes go out at once
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        with_std_stream(self.socket.fd.as_raw_fd(), |s| s.set_nodelay(nodelay))
    }
}

/// Takes over a connected std TCP stream (blocking or not: kasync's reads
/// and writes never block either way).
impl From<std::net::TcpStream> for TcpStream {
    fn from(stream: std::net::TcpStream) -> Self {
        Self {
            socket: Socket {
                fd: OwnedFd::from(stream).into(),
            },
        }
    }
}

/// A Unix-domain stream socket. Reads and writes through [`Socket`].
#[derive(Debug)]
pub struct UnixStream {
    socket: Socket,
}

impl std::ops::Deref for UnixStream {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        &self.socket
    }
}

impl UnixStream {
    /// Connects to the socket at `path` (local, so it completes at once).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// use kasync_host::net::{UnixListener, UnixStream};
    /// let path = std::env::temp_dir().join(format!("kasync-doc-{}.sock", std::process::id()));
    /// let listener = UnixListener::bind(&path)?;
    /// let client = UnixStream::connect(&path)?;
    /// let server = listener.accept().await?;
    /// client.write_all("hello").await.0?;
    /// let (n, got) = server.read(Vec::with_capacity(8)).await;
    /// assert_eq!(&got[..n?], b"hello");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn connect(path: impl AsRef<Path>) -> io::Result<Self> {
        let std = std::os::unix::net::UnixStream::connect(path)?;
        Ok(Self {
            socket: Socket { fd: std.into() },
        })
    }

    /// A connected pair.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = kasync_host::net::UnixStream::pair()?;
    /// a.write_all("across").await.0?;
    /// let (n, got) = b.read(Vec::with_capacity(8)).await;
    /// assert_eq!(&got[..n?], b"across");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(Self, Self)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((
            Self {
                socket: Socket { fd: a.into() },
            },
            Self {
                socket: Socket { fd: b.into() },
            },
        ))
    }
}

/// Takes over a connected std socket (blocking or not: kasync's reads and
/// writes never block either way).
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let (a, b) = std::os::unix::net::UnixStream::pair()?;
/// let a = kasync_host::net::UnixStream::from(a);
/// a.write_all("hi").await.0?;
/// # let mut got = [0; 2];
/// # std::io::Read::read_exact(&mut &b, &mut got)?;
/// # assert_eq!(&got, b"hi");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
impl From<std::os::unix::net::UnixStream> for UnixStream {
    fn from(stream: std::os::unix::net::UnixStream) -> Self {
        Self {
            socket: Socket { fd: stream.into() },
        }
    }
}

/// A Unix-domain socket listening for connections.
#[derive(Debug)]
pub struct UnixListener {
    fd: Descriptor,
}

impl UnixListener {
    /// Binds to `path` (which must not exist) and listens.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("kasync-doc-bind-{}.sock", std::process::id()));
    /// let _listener = kasync_host::net::UnixListener::bind(&path)?;
    /// // The path is taken now: binding again fails.
    /// assert!(kasync_host::net::UnixListener::bind(&path).is_err());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let std = std::os::unix::net::UnixListener::bind(path)?;
        Ok(Self { fd: std.into() })
    }

    /// Waits for the next connection.
    /// (See [`UnixStream::connect`] for an example.)
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let (fd, _) = io().submit(Accept::new(self.fd.as_raw_fd())).await?;
        Ok(UnixStream {
            socket: Socket { fd: fd.into() },
        })
    }
}

/// A UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    fd: Descriptor,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port) — anything std's `bind`
    /// takes.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let std = std::net::UdpSocket::bind(addr)?;
        Ok(Self { fd: std.into() })
    }

    /// Sends `buf`'s bytes as one datagram to `addr`.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// use kasync_host::net::UdpSocket;
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.send_to("datagram", b.local_addr()?).await.0?;
    /// let (got, buf) = b.recv_from(Vec::with_capacity(64)).await;
    /// let (n, from) = got?;
    /// assert_eq!((&buf[..n], from), (&b"datagram"[..], a.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> (io::Result<usize>, B) {
        io().submit(SendTo::new(self.fd.as_raw_fd(), buf, addr))
            .await
    }

    /// Receives one datagram into `buf`: its length and sender.
    /// (See [`send_to`](Self::send_to) for an example.) A datagram longer
    /// than the buffer's spare capacity is cut to it, as with `recvfrom`.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let (result, buf) = io().submit(RecvFrom::new(self.fd.as_raw_fd(), buf)).await;
        let result = result.and_then(|(n, from)| {
            from.map(|from| (n, from))
                .ok_or_else(|| io::Error::other("datagram without a sender address"))
        });
        (result, buf)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        // SAFETY: the std value borrows our descriptor for the call and is
        // never dropped, so it does not close it.
        let socket =
            ManuallyDrop::new(unsafe { std::net::UdpSocket::from_raw_fd(self.fd.as_raw_fd()) });
        socket.local_addr()
    }
}

fn socket(addr: SocketAddr, kind: i32) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let kind = kind | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(domain, kind, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Where sockets cannot be made close-on-exec (and free of SIGPIPE) at
    // once, they are right after.
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        // SAFETY: plain `fcntl` on our own descriptor.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        set_option(fd.as_raw_fd(), libc::SO_NOSIGPIPE)?;
    }
    Ok(fd)
}

fn set_option(fd: RawFd, option: i32) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: passes a live `c_int` of the right size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn with_std_stream<R>(fd: RawFd, f: impl FnOnce(&std::net::TcpStream) -> R) -> R {
    // SAFETY: the std value borrows our descriptor for the call and is
    // never dropped (`ManuallyDrop`), so it does not close it.
    let stream = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    f(&stream)
}

fn with_std_listener<R>(fd: RawFd, f: impl FnOnce(&std::net::TcpListener) -> R) -> R {
    // SAFETY: as for `with_std_stream`.
    let listener = ManuallyDrop::new(unsafe { std::net::TcpListener::from_raw_fd(fd) });
    f(&listener)
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
