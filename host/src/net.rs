//! Sockets over io_uring — TCP, UDP, Unix — with owned buffers.
//!
//! Reads and writes take the buffer and give it back with the result
//! (`(io::Result<usize>, buf)`), so the kernel can own it while the
//! operation is in flight — and a dropped or timed-out read never frees
//! memory the kernel still writes.

use std::io;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use kasync::io::{IoBuf, IoBufMut};
use kasync_uring::UringDriver;
use kasync_uring::ops::{
    Accept, AcceptMulti, Connect, RawAddr, Recv, RecvFrom, Send, SendTo, Shutdown,
};

use crate::buf::write_all;
pub use crate::recv_stream::RecvStream;
use crate::runtime::{MonotonicClock, OP_BYTES, OPS, io};
pub use kasync_uring::RecvBuf;

/// A TCP socket listening for connections.
#[derive(Debug)]
pub struct TcpListener {
    fd: OwnedFd,
}

impl TcpListener {
    /// Binds to `addr` and listens (port 0 picks a free port), with a
    /// backlog of 1024 pending connections.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::listen_on(addr, false)
    }

    /// Binds with `SO_REUSEPORT`, so several threads' listeners share one
    /// port and the kernel spreads connections among them.
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<Self> {
        Self::listen_on(addr, true)
    }

    fn listen_on(addr: SocketAddr, reuse_port: bool) -> io::Result<Self> {
        let fd = socket(addr, libc::SOCK_STREAM)?;
        set_option(fd.as_raw_fd(), libc::SO_REUSEADDR)?;
        if reuse_port {
            set_option(fd.as_raw_fd(), libc::SO_REUSEPORT)?;
        }
        let raw = RawAddr::from_socket_addr(addr);
        // SAFETY: `raw` is a valid socket address of `raw.len()` bytes and
        // `fd` a socket we own.
        if unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: listening on a bound socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), 1024) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd })
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = io().submit(Accept::new(self.fd.as_raw_fd())).await?;
        let addr =
            addr.ok_or_else(|| io::Error::other("accepted a connection without an address"))?;
        Ok((
            TcpStream {
                socket: Socket { fd },
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
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            fd: self.fd.as_raw_fd(),
            accept: Box::pin(io().submit_multishot(AcceptMulti::new(self.fd.as_raw_fd()))),
            _listener: std::marker::PhantomData,
        }
    }
}

type AcceptStream =
    kasync::io::Multi<'static, AcceptMulti, UringDriver, MonotonicClock, OPS, OP_BYTES>;

/// The stream of [`TcpListener::incoming`].
pub struct Incoming<'l> {
    fd: RawFd,
    accept: std::pin::Pin<Box<AcceptStream>>,
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
        loop {
            match std::task::ready!(self.accept.as_mut().poll_next(cx)) {
                Some(fd) => {
                    let stream = fd.map(|fd| TcpStream {
                        socket: Socket { fd },
                    });
                    return std::task::Poll::Ready(Some(stream));
                }
                // The kernel ended the multishot accept: arm a new one.
                None => {
                    let fd = self.fd;
                    self.accept = Box::pin(io().submit_multishot(AcceptMulti::new(fd)));
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
    fd: OwnedFd,
}

impl Socket {
    /// Receives into `buf` (filling it from the start up to its capacity);
    /// `Ok(0)` means the peer closed. Gives `buf` back in any case.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        io().submit(Recv {
            fd: self.fd.as_raw_fd(),
            buf,
        })
        .await
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
    pub fn recv_multi(&self) -> RecvStream<'_> {
        RecvStream::new(self.fd.as_raw_fd())
    }

    /// Sends `buf`'s bytes; may send only part of them.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        io().submit(Send {
            fd: self.fd.as_raw_fd(),
            buf,
        })
        .await
    }

    /// Sends all of `buf`'s bytes (a `Vec<u8>`, a received
    /// [`RecvBuf`], …); gives the buffer back in any case.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        let fd = self.fd.as_raw_fd();
        write_all(buf, |tail, _| io().submit(Send { fd, buf: tail })).await
    }

    /// Shuts down the writing half: the peer reads end-of-stream.
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
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let fd = socket(addr, libc::SOCK_STREAM)?;
        io().submit(Connect::new(fd.as_raw_fd(), addr)).await?;
        Ok(Self {
            socket: Socket { fd },
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
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        with_std_stream(self.socket.fd.as_raw_fd(), |s| s.set_nodelay(nodelay))
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
    pub fn connect(path: impl AsRef<Path>) -> io::Result<Self> {
        let std = std::os::unix::net::UnixStream::connect(path)?;
        Ok(Self {
            socket: Socket { fd: std.into() },
        })
    }

    /// A connected pair.
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

/// A Unix-domain socket listening for connections.
#[derive(Debug)]
pub struct UnixListener {
    fd: OwnedFd,
}

impl UnixListener {
    /// Binds to `path` (which must not exist) and listens.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let std = std::os::unix::net::UnixListener::bind(path)?;
        Ok(Self { fd: std.into() })
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let (fd, _) = io().submit(Accept::new(self.fd.as_raw_fd())).await?;
        Ok(UnixStream {
            socket: Socket { fd },
        })
    }
}

/// A UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    fd: OwnedFd,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let std = std::net::UdpSocket::bind(addr)?;
        Ok(Self { fd: std.into() })
    }

    /// Sends `buf`'s bytes as one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> (io::Result<usize>, B) {
        io().submit(SendTo::new(self.fd.as_raw_fd(), buf, addr))
            .await
    }

    /// Receives one datagram into `buf`: its length and sender.
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
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
