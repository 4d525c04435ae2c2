//! Socket operations: receive, send, accept, connect, shutdown, and
//! datagrams with addresses (`sendmsg`/`recvmsg`).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use io_uring::{opcode, types};
use kasync::io::{Completion, IoBuf, IoBufMut, Operation};

use super::{close_orphan, filled, result};
use crate::UringDriver;
use crate::submission::UringOp;

/// Receives from a socket into a buffer.
#[derive(Debug)]
pub struct Recv<B> {
    /// The socket.
    pub fd: RawFd,
    /// Where the data goes.
    pub buf: B,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBufMut`).
unsafe impl<B: IoBufMut> Operation<UringDriver> for Recv<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        opcode::Recv::new(types::Fd(self.fd), self.buf.stable_mut_ptr(), len)
            .build()
            .into()
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
unsafe impl<B: IoBuf> Operation<UringDriver> for Send<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        opcode::Send::new(types::Fd(self.fd), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}

/// A socket address in the kernel's layout (`sockaddr_storage` plus its
/// length), as `bind`, `connect` and `accept` take it.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAddr").field("len", &self.len).finish()
    }
}

impl RawAddr {
    /// Pointer for system calls.
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    /// Length in bytes for system calls.
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// `true` for an empty address (nothing written yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn empty() -> Self {
        Self {
            // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// `addr` in the kernel's layout.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        let mut raw = Self::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `sockaddr_storage` is larger than and aligned
                // for every socket address type.
                unsafe {
                    (&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in>()
                        .write(sin)
                };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above.
                unsafe {
                    (&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in6>()
                        .write(sin6)
                };
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// The address, if it is an IPv4 or IPv6 one.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        let storage = &self.storage as *const libc::sockaddr_storage;
        match i32::from(self.storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a `sockaddr_in`.
                let sin = unsafe { &*storage.cast::<libc::sockaddr_in>() };
                let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a `sockaddr_in6`.
                let sin6 = unsafe { &*storage.cast::<libc::sockaddr_in6>() };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
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
unsafe impl Operation<UringDriver> for Accept {
    type Output = io::Result<(OwnedFd, Option<SocketAddr>)>;
    fn build(&mut self) -> UringOp {
        self.addr.len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        opcode::Accept::new(
            types::Fd(self.fd),
            (&mut self.addr.storage as *mut libc::sockaddr_storage).cast(),
            &mut self.addr.len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        Ok((fd, self.addr.to_socket_addr()))
    }
    fn orphaned(self, c: Completion, _driver: &UringDriver) {
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
unsafe impl Operation<UringDriver> for Connect {
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        opcode::Connect::new(
            types::Fd(self.fd),
            (&self.addr.storage as *const libc::sockaddr_storage).cast(),
            self.addr.len,
        )
        .build()
        .into()
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
unsafe impl Operation<UringDriver> for Shutdown {
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        opcode::Shutdown::new(types::Fd(self.fd), self.how)
            .build()
            .into()
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
unsafe impl<B: IoBuf> Operation<UringDriver> for SendTo<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> UringOp {
        self.iov = libc::iovec {
            iov_base: self.buf.stable_ptr() as *mut libc::c_void,
            iov_len: self.buf.bytes_init(),
        };
        self.msg.msg_name = (&mut self.addr.storage as *mut libc::sockaddr_storage).cast();
        self.msg.msg_namelen = self.addr.len;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        opcode::SendMsg::new(types::Fd(self.fd), &self.msg)
            .build()
            .into()
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
unsafe impl<B: IoBufMut> Operation<UringDriver> for RecvFrom<B> {
    /// Bytes received and the sender, with the buffer.
    type Output = (io::Result<(usize, Option<SocketAddr>)>, B);
    fn build(&mut self) -> UringOp {
        self.iov = libc::iovec {
            iov_base: self.buf.stable_mut_ptr().cast(),
            iov_len: self.buf.bytes_total(),
        };
        self.msg.msg_name = (&mut self.addr.storage as *mut libc::sockaddr_storage).cast();
        self.msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        opcode::RecvMsg::new(types::Fd(self.fd), &mut self.msg)
            .build()
            .into()
    }
    fn complete(mut self, c: Completion) -> Self::Output {
        self.addr.len = self.msg.msg_namelen;
        let from = self.addr.to_socket_addr();
        let (n, buf) = filled(c, self.buf);
        (n.map(|n| (n, from)), buf)
    }
}
