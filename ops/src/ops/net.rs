//! Socket operations: receive, send, accept, connect, shutdown, and
//! datagrams with addresses (`sendmsg`/`recvmsg`).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use kasync::io::{Completion, Driver, IoBuf, IoBufMut, Operation};

use super::{close_orphan, filled, read_target, result};
use crate::{Call, RawAddr};

/// `MSG_NOSIGNAL` where it exists: a send to a closed peer is `EPIPE`,
/// not a `SIGPIPE` (elsewhere sockets get `SO_NOSIGPIPE` when made).
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOSIGNAL: i32 = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const NOSIGNAL: i32 = 0;

/// Receives from a socket into a buffer.
#[derive(Debug)]
pub struct Recv<B> {
    /// The socket.
    pub fd: RawFd,
    /// Where the data goes: appended after the bytes it holds, up to its
    /// capacity (no spare capacity: `InvalidInput`).
    pub buf: B,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBufMut`: its
// spare capacity).
unsafe impl<B: IoBufMut, D: Driver<Op = Call>> Operation<D> for Recv<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> Call {
        let Some((buf, len)) = read_target(&mut self.buf) else {
            return Call::Nop;
        };
        Call::Recv {
            fd: self.fd,
            buf,
            len,
            flags: 0,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        filled(c, self.buf)
    }
}

/// Sends a buffer's initialised bytes on a socket.
#[derive(Debug)]
pub struct Send<B> {
    /// The socket.
    pub fd: RawFd,
    /// The data.
    pub buf: B,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBuf`).
unsafe impl<B: IoBuf, D: Driver<Op = Call>> Operation<D> for Send<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> Call {
        Call::Send {
            fd: self.fd,
            buf: self.buf.stable_ptr(),
            len: u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX),
            flags: NOSIGNAL,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}

/// Accepts a connection on a listening socket: the new socket and the
/// peer's address (`None` for Unix sockets).
#[derive(Debug)]
pub struct Accept {
    fd: RawFd,
    addr: RawAddr,
}

impl Accept {
    /// Accepts on listening socket `fd`.
    pub fn new(fd: RawFd) -> Self {
        Self {
            fd,
            addr: RawAddr::empty(),
        }
    }
}

// SAFETY: the address and its length point into `self.addr`, which stays in
// the op table with `self`.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Accept {
    type Output = io::Result<(OwnedFd, Option<SocketAddr>)>;
    fn build(&mut self) -> Call {
        self.addr.len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        Call::Accept {
            fd: self.fd,
            addr: (&mut self.addr.storage as *mut libc::sockaddr_storage).cast(),
            len: &mut self.addr.len,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        Ok((fd, self.addr.to_socket_addr()))
    }
    fn orphaned(self, c: Completion, _driver: &D) {
        close_orphan(c);
    }
}

/// Connects a socket to an address.
#[derive(Debug)]
pub struct Connect {
    fd: RawFd,
    addr: RawAddr,
}

impl Connect {
    /// Connects socket `fd` to `addr`.
    pub fn new(fd: RawFd, addr: SocketAddr) -> Self {
        Self {
            fd,
            addr: RawAddr::from_socket_addr(addr),
        }
    }
}

// SAFETY: the address points into `self.addr`, in the op table with `self`.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Connect {
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        Call::Connect {
            fd: self.fd,
            addr: (&self.addr.storage as *const libc::sockaddr_storage).cast(),
            len: self.addr.len,
        }
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

/// Shuts down one or both directions of a socket.
#[derive(Debug)]
pub struct Shutdown {
    /// The socket.
    pub fd: RawFd,
    /// `libc::SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub how: i32,
}

// SAFETY: describes no memory.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Shutdown {
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        Call::Shutdown {
            fd: self.fd,
            how: self.how,
        }
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

/// Waits until a descriptor is readable, and reads nothing: the caller
/// then reads it on its own thread (without blocking, the descriptor in
/// non-blocking mode), for descriptors whose reads depend on the reading
/// thread, like a `signalfd`.
#[derive(Debug)]
pub struct Readable {
    /// The descriptor.
    pub fd: RawFd,
}

// SAFETY: describes no memory.
unsafe impl<D: Driver<Op = Call>> Operation<D> for Readable {
    type Output = io::Result<()>;
    fn build(&mut self) -> Call {
        Call::Readable { fd: self.fd }
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

/// Sends a datagram to an address (`sendmsg`).
pub struct SendTo<B> {
    fd: RawFd,
    buf: B,
    addr: RawAddr,
    iov: libc::iovec,
    msg: libc::msghdr,
}

impl<B> std::fmt::Debug for SendTo<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTo").field("fd", &self.fd).finish()
    }
}

impl<B: IoBuf> SendTo<B> {
    /// Sends `buf`'s bytes on socket `fd` to `addr`.
    pub fn new(fd: RawFd, buf: B, addr: SocketAddr) -> Self {
        Self {
            fd,
            buf,
            addr: RawAddr::from_socket_addr(addr),
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            // SAFETY: all-zero bytes are a valid `msghdr`.
            msg: unsafe { mem::zeroed() },
        }
    }
}

// SAFETY: `msg`, `iov` and `addr` are fields of `self` (in the op table
// with it); `iov` points at the owned `buf`'s initialised bytes.
unsafe impl<B: IoBuf, D: Driver<Op = Call>> Operation<D> for SendTo<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> Call {
        self.iov = libc::iovec {
            iov_base: self.buf.stable_ptr() as *mut libc::c_void,
            iov_len: self.buf.bytes_init(),
        };
        self.msg.msg_name = (&mut self.addr.storage as *mut libc::sockaddr_storage).cast();
        self.msg.msg_namelen = self.addr.len;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        Call::SendMsg {
            fd: self.fd,
            msg: &self.msg,
        }
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}

/// Receives a datagram and its sender's address (`recvmsg`).
pub struct RecvFrom<B> {
    fd: RawFd,
    buf: B,
    addr: RawAddr,
    iov: libc::iovec,
    msg: libc::msghdr,
}

impl<B> std::fmt::Debug for RecvFrom<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFrom").field("fd", &self.fd).finish()
    }
}

impl<B: IoBufMut> RecvFrom<B> {
    /// Receives into `buf` on socket `fd`.
    pub fn new(fd: RawFd, buf: B) -> Self {
        Self {
            fd,
            buf,
            addr: RawAddr::empty(),
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            // SAFETY: all-zero bytes are a valid `msghdr`.
            msg: unsafe { mem::zeroed() },
        }
    }
}

// SAFETY: `msg`, `iov` and `addr` are fields of `self`; `iov` points at
// the owned `buf`'s capacity.
unsafe impl<B: IoBufMut, D: Driver<Op = Call>> Operation<D> for RecvFrom<B> {
    /// Bytes received and the sender, with the buffer.
    type Output = (io::Result<(usize, Option<SocketAddr>)>, B);
    fn build(&mut self) -> Call {
        let Some((base, len)) = read_target(&mut self.buf) else {
            return Call::Nop;
        };
        self.iov = libc::iovec {
            iov_base: base.cast(),
            iov_len: len as usize,
        };
        self.msg.msg_name = (&mut self.addr.storage as *mut libc::sockaddr_storage).cast();
        self.msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        Call::RecvMsg {
            fd: self.fd,
            msg: &mut self.msg,
        }
    }
    fn complete(mut self, c: Completion) -> Self::Output {
        self.addr.len = self.msg.msg_namelen;
        let from = self.addr.to_socket_addr();
        let (n, buf) = filled(c, self.buf);
        (n.map(|n| (n, from)), buf)
    }
}
