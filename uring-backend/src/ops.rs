//! io_uring operations. Each owns what the kernel may touch — buffers,
//! paths, socket addresses — until its completion, and hands the buffers
//! back with the result. Descriptors produced after their future was dropped
//! (an accept or open that completed despite a cancel) are closed.

use std::ffi::CString;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use io_uring::{opcode, types};
use kasync::io::{Completion, IoBuf, IoBufMut, Operation};

use crate::UringDriver;
use crate::bufring::{self, BufRing, RecvBuf};
use crate::fixed::{FixedBuf, Target};
use crate::submission::{UringOp, bound_result};

/// A completion's result; none of these operations gets `EXDEV` from the
/// kernel, so it stands for a refused registered resource of another ring.
fn result(completion: Completion) -> io::Result<u32> {
    bound_result(completion)
}

/// The result of a read into `buf`: on success the buffer's first `n`
/// bytes are marked initialised.
fn filled<B: IoBufMut>(completion: Completion, mut buf: B) -> (io::Result<usize>, B) {
    match result(completion) {
        Ok(n) => {
            // SAFETY: the kernel wrote `n` bytes at the buffer's start.
            unsafe { buf.set_init(n as usize) };
            (Ok(n as usize), buf)
        }
        Err(e) => (Err(e), buf),
    }
}

/// `op` bound (also) to the ring of a registered buffer; an operation that
/// names registered resources of two different rings is refused everywhere.
fn bind_buffer(op: UringOp, buffer_ring: crate::RingId) -> UringOp {
    match op.ring {
        Some(ring) if ring != buffer_ring => UringOp::bound(op.entry, crate::RingId::NOWHERE),
        _ => UringOp::bound(op.entry, buffer_ring),
    }
}

/// Closes a descriptor a completion produced for nobody.
fn close_orphan(completion: Completion) {
    if let Ok(fd) = completion.into_result() {
        // SAFETY: the kernel created `fd` for this operation and nobody
        // else has seen it.
        drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    }
}

/// Does nothing, through the ring (for measuring the round trip).
#[derive(Debug, Clone, Copy, Default)]
pub struct Nop;

// SAFETY: describes no memory.
unsafe impl Operation<UringDriver> for Nop {
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        opcode::Nop::new().build().into()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        result(c).map(drop)
    }
}

/// Reads into a buffer from `fd` at `offset` (`u64::MAX`: the current
/// position, for pipes and sockets).
#[derive(Debug)]
pub struct ReadAt<B> {
    /// Descriptor to read from (plain or registered).
    pub fd: Target,
    /// Where the data goes (filled from its start, up to its capacity).
    pub buf: B,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBufMut`: stable
// while `self` moves, `bytes_total` writable bytes).
unsafe impl<B: IoBufMut> Operation<UringDriver> for ReadAt<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        let (ptr, offset) = (self.buf.stable_mut_ptr(), self.offset);
        self.fd.build(
            |fd| opcode::Read::new(fd, ptr, len).offset(offset).build(),
            |fd| opcode::Read::new(fd, ptr, len).offset(offset).build(),
        )
    }
    fn complete(self, c: Completion) -> Self::Output {
        filled(c, self.buf)
    }
}

/// Writes a buffer's initialised bytes to `fd` at `offset` (`u64::MAX`:
/// the current position).
#[derive(Debug)]
pub struct WriteAt<B> {
    /// Descriptor to write to (plain or registered).
    pub fd: Target,
    /// The data.
    pub buf: B,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned `buf` (`IoBuf`: stable
// while `self` moves, `bytes_init` initialised bytes).
unsafe impl<B: IoBuf> Operation<UringDriver> for WriteAt<B> {
    type Output = (io::Result<usize>, B);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        let (ptr, offset) = (self.buf.stable_ptr(), self.offset);
        self.fd.build(
            |fd| opcode::Write::new(fd, ptr, len).offset(offset).build(),
            |fd| opcode::Write::new(fd, ptr, len).offset(offset).build(),
        )
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}

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

/// Opens a file: the new descriptor.
#[derive(Debug)]
pub struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    /// Opens `path` (relative to the working directory) with `open(2)`
    /// `flags` and `mode`. A path with a NUL byte is `InvalidInput`.
    pub fn new(path: &std::path::Path, flags: i32, mode: u32) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        Ok(Self {
            path,
            flags: flags | libc::O_CLOEXEC,
            mode,
        })
    }
}

// SAFETY: the path points into `self.path`'s heap bytes (a `CString`).
unsafe impl Operation<UringDriver> for OpenAt {
    type Output = io::Result<OwnedFd>;
    fn build(&mut self) -> UringOp {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
            .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    fn orphaned(self, c: Completion, _driver: &UringDriver) {
        close_orphan(c);
    }
}

/// Closes a descriptor (the caller gives up ownership).
#[derive(Debug)]
pub struct Close {
    fd: OwnedFd,
}

impl Close {
    /// Closes `fd` through the ring.
    pub fn new(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

// SAFETY: describes no memory.
unsafe impl Operation<UringDriver> for Close {
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        use std::os::fd::AsRawFd;
        opcode::Close::new(types::Fd(self.fd.as_raw_fd()))
            .build()
            .into()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        // The kernel closed it: forget our copy.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(self.fd);
        result(c).map(drop)
    }
    fn orphaned(self, _c: Completion, _driver: &UringDriver) {
        // Closed by the kernel (or it failed and nothing is left to close).
        let _ = std::os::fd::IntoRawFd::into_raw_fd(self.fd);
    }
}

/// Flushes a file's data and metadata to storage.
#[derive(Debug)]
pub struct Fsync {
    /// The file.
    pub fd: RawFd,
}

// SAFETY: describes no memory.
unsafe impl Operation<UringDriver> for Fsync {
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        opcode::Fsync::new(types::Fd(self.fd)).build().into()
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

/// The buffers of a vectored read or write and the `iovec` array the
/// kernel reads them through (kept with the operation until it completes).
#[derive(Debug)]
struct Vectored {
    fd: RawFd,
    bufs: Vec<Vec<u8>>,
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl Vectored {
    fn new(fd: RawFd, bufs: Vec<Vec<u8>>, offset: u64) -> Self {
        Self {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }

    /// Points an `iovec` at each buffer: at its whole capacity to read
    /// into, at its bytes to write. Returns the array and its length.
    fn iovecs(&mut self, read: bool) -> (*const libc::iovec, u32) {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: if read { b.capacity() } else { b.len() },
            })
            .collect();
        (self.iovecs.as_ptr(), self.iovecs.len() as u32)
    }
}

/// Reads into several buffers in one go (`readv`) at `offset`.
#[derive(Debug)]
pub struct ReadvAt(Vectored);

impl ReadvAt {
    /// Fills `bufs` (each up to its capacity, in order) from `fd` at
    /// `offset`.
    pub fn new(fd: RawFd, bufs: Vec<Vec<u8>>, offset: u64) -> Self {
        Self(Vectored::new(fd, bufs, offset))
    }
}

// SAFETY: the `iovec` array is `self.0.iovecs` (rebuilt by each `build`, not
// touched again until completion) and points at the capacity of the owned
// `Vec`s in `self.0.bufs`, which do not grow while in flight.
unsafe impl Operation<UringDriver> for ReadvAt {
    /// Bytes read, and the buffers with their lengths set.
    type Output = (io::Result<usize>, Vec<Vec<u8>>);
    fn build(&mut self) -> UringOp {
        let (iovecs, len) = self.0.iovecs(true);
        opcode::Readv::new(types::Fd(self.0.fd), iovecs, len)
            .offset(self.0.offset)
            .build()
            .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        let mut bufs = self.0.bufs;
        match result(c) {
            Ok(n) => {
                let mut left = n as usize;
                for b in &mut bufs {
                    let take = left.min(b.capacity());
                    // SAFETY: the kernel filled the buffers in order, `n`
                    // bytes in all.
                    unsafe { b.set_len(take) };
                    left -= take;
                }
                (Ok(n as usize), bufs)
            }
            Err(e) => (Err(e), bufs),
        }
    }
}

/// Writes several buffers in one go (`writev`) at `offset`.
#[derive(Debug)]
pub struct WritevAt(Vectored);

impl WritevAt {
    /// Writes `bufs` in order to `fd` at `offset`.
    pub fn new(fd: RawFd, bufs: Vec<Vec<u8>>, offset: u64) -> Self {
        Self(Vectored::new(fd, bufs, offset))
    }
}

// SAFETY: as for `ReadvAt`: the `iovec`s point at the owned buffers'
// initialised bytes.
unsafe impl Operation<UringDriver> for WritevAt {
    /// Bytes written, and the buffers.
    type Output = (io::Result<usize>, Vec<Vec<u8>>);
    fn build(&mut self) -> UringOp {
        let (iovecs, len) = self.0.iovecs(false);
        opcode::Writev::new(types::Fd(self.0.fd), iovecs, len)
            .offset(self.0.offset)
            .build()
            .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.0.bufs)
    }
}

/// File metadata by path (`statx`).
pub struct Statx {
    path: CString,
    buf: Box<libc::statx>,
}

impl std::fmt::Debug for Statx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statx").field("path", &self.path).finish()
    }
}

impl Statx {
    /// Metadata of `path`. A path with a NUL byte is `InvalidInput`.
    pub fn new(path: &std::path::Path) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        Ok(Self {
            path,
            // SAFETY: all-zero bytes are a valid `statx`.
            buf: Box::new(unsafe { mem::zeroed() }),
        })
    }
}

// SAFETY: the path points into `self.path`, the result into the boxed
// `self.buf`.
unsafe impl Operation<UringDriver> for Statx {
    type Output = io::Result<libc::statx>;
    fn build(&mut self) -> UringOp {
        opcode::Statx::new(
            types::Fd(libc::AT_FDCWD),
            self.path.as_ptr(),
            (&mut *self.buf as *mut libc::statx).cast(),
        )
        .mask(libc::STATX_BASIC_STATS)
        .build()
        .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        result(c).map(|_| *self.buf)
    }
}

/// An io_uring timeout: completes after `duration` (kasync's timers use
/// their own wheel; this is the kernel's, for completeness and tests).
#[derive(Debug)]
pub struct Timeout {
    ts: types::Timespec,
}

impl Timeout {
    /// A timeout of `duration`.
    pub fn new(duration: std::time::Duration) -> Self {
        Self {
            ts: types::Timespec::new()
                .sec(duration.as_secs())
                .nsec(duration.subsec_nanos()),
        }
    }
}

// SAFETY: the timespec is `self.ts`, in the op table with `self`.
unsafe impl Operation<UringDriver> for Timeout {
    /// `Ok(())` when the time passed (`-ETIME`), an error otherwise
    /// (`-ECANCELED` if cancelled).
    type Output = io::Result<()>;
    fn build(&mut self) -> UringOp {
        opcode::Timeout::new(&self.ts).build().into()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        match c.result {
            r if r == -libc::ETIME => Ok(()),
            _ => result(c).map(drop),
        }
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

/// Accepts connections on a listening socket continuously (multishot): one
/// completion per connection, until cancelled or an error. Submit it with
/// `submit_multishot`. Connections arriving faster than the stream takes
/// them wait in a backlog (never dropped); descriptors nobody will take
/// are closed.
#[derive(Debug)]
pub struct AcceptMulti {
    fd: RawFd,
    backlog: std::collections::VecDeque<OwnedFd>,
}

impl AcceptMulti {
    /// Accepts on listening socket `fd`.
    pub fn new(fd: RawFd) -> Self {
        Self {
            fd,
            backlog: std::collections::VecDeque::new(),
        }
    }
}

// SAFETY: describes no memory (no peer address is asked for); multishot.
unsafe impl Operation<UringDriver> for AcceptMulti {
    type Output = io::Result<OwnedFd>;
    const MULTISHOT: bool = true;
    fn build(&mut self) -> UringOp {
        opcode::AcceptMulti::new(types::Fd(self.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .into()
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    fn release(&mut self, c: Completion) {
        close_orphan(c);
    }
    fn overflow(&mut self, c: Completion) {
        if let Ok(fd) = c.into_result() {
            // SAFETY: the kernel created `fd` for us.
            self.backlog
                .push_back(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
    }
    fn orphaned(self, c: Completion, _driver: &UringDriver) {
        close_orphan(c); // the backlog closes with `self`
    }
}

// SAFETY: `item` and `take_overflow` touch only the completion and the
// backlog, no memory the kernel writes.
unsafe impl kasync::io::Multishot<UringDriver> for AcceptMulti {
    type Item = io::Result<OwnedFd>;
    fn item(&mut self, c: Completion) -> Self::Item {
        let fd = result(c)?;
        // SAFETY: the kernel created `fd` for us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    fn take_overflow(&mut self) -> Option<Self::Item> {
        self.backlog.pop_front().map(Ok)
    }
}

/// Multishot receive: one submission, then a completion each time data
/// arrives, each in a buffer the kernel takes from the ring's provided
/// buffers ([`UringDriver::register_buf_ring`]). Submit it with
/// [`Handle::submit_multishot`](kasync::io::Handle::submit_multishot); the
/// stream yields [`RecvBuf`]s, `Ok(None)` when the peer closed, and ends
/// when the kernel ends the receive (after an error such as `ENOBUFS` —
/// every buffer held — or on its own: submit a new one then).
#[derive(Debug)]
pub struct RecvMulti {
    fd: RawFd,
    ring: &'static BufRing,
    /// Completions the stream fell behind on; their buffers stay out of
    /// the ring until taken or dropped.
    backlog: std::collections::VecDeque<Completion>,
}

impl RecvMulti {
    /// Receives on connected socket `fd` into buffers from `ring`, which
    /// must be the ring of the driver it is submitted to.
    pub fn new(fd: RawFd, ring: &'static BufRing) -> Self {
        Self {
            fd,
            ring,
            backlog: std::collections::VecDeque::new(),
        }
    }

    /// The buffer a completion names, if any, as a `RecvBuf`.
    fn buffer(&self, c: Completion) -> Option<RecvBuf> {
        let bid = io_uring::cqueue::buffer_select(c.flags)?;
        Some(RecvBuf::new(self.ring, bid, c.result.max(0) as usize))
    }
}

impl Drop for RecvMulti {
    fn drop(&mut self) {
        // Completions nobody will take: their buffers go back to the ring.
        while let Some(c) = self.backlog.pop_front() {
            drop(self.buffer(c));
        }
    }
}

// SAFETY: describes no memory: the kernel writes into the provided buffers
// of `self.ring` (bound to its ring), which `RecvBuf`s hand out only after
// their completion; `release`/`overflow`/`item` touch only those; multishot.
unsafe impl Operation<UringDriver> for RecvMulti {
    type Output = io::Result<Option<RecvBuf>>;
    const MULTISHOT: bool = true;
    fn build(&mut self) -> UringOp {
        UringOp::bound(
            opcode::RecvMulti::new(types::Fd(self.fd), bufring::GROUP).build(),
            self.ring.ring(),
        )
    }
    fn complete(self, c: Completion) -> Self::Output {
        received(self.buffer(c), c)
    }
    fn release(&mut self, c: Completion) {
        drop(self.buffer(c));
    }
    fn overflow(&mut self, c: Completion) {
        self.backlog.push_back(c);
    }
    fn orphaned(self, c: Completion, _driver: &UringDriver) {
        drop(self.buffer(c)); // the backlog goes back with `self`
    }
}

// SAFETY: `item` and `take_overflow` hand out provided buffers whose
// completion arrived (the kernel is done with them).
unsafe impl kasync::io::Multishot<UringDriver> for RecvMulti {
    type Item = io::Result<Option<RecvBuf>>;
    fn item(&mut self, c: Completion) -> Self::Item {
        received(self.buffer(c), c)
    }
    fn take_overflow(&mut self) -> Option<Self::Item> {
        let c = self.backlog.pop_front()?;
        Some(received(self.buffer(c), c))
    }
}

/// A multishot receive's completion as an item: the filled buffer,
/// `None` at end of stream, or the error.
fn received(buffer: Option<RecvBuf>, c: Completion) -> io::Result<Option<RecvBuf>> {
    match (result(c)?, buffer) {
        (0, _) => Ok(None),
        (_, Some(buffer)) => Ok(Some(buffer)),
        (_, None) => Err(io::Error::other(
            "a receive completed without naming its buffer",
        )),
    }
}

/// Reads into a registered buffer at `offset` (`READ_FIXED`: no page
/// mapping per operation).
#[derive(Debug)]
pub struct ReadFixedAt {
    /// Descriptor to read from (plain or registered).
    pub fd: Target,
    /// The registered buffer (filled from its start).
    pub buf: FixedBuf,
    /// File offset.
    pub offset: u64,
}

// SAFETY: pointer and length come from the owned registered `buf`
// (leaked pool memory), and the operation is bound to the buffer's ring.
unsafe impl Operation<UringDriver> for ReadFixedAt {
    type Output = (io::Result<usize>, FixedBuf);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        let (ptr, index, offset) = (self.buf.stable_mut_ptr(), self.buf.index(), self.offset);
        let op = self.fd.build(
            |fd| {
                opcode::ReadFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
            |fd| {
                opcode::ReadFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
        );
        bind_buffer(op, self.buf.ring())
    }
    fn complete(self, c: Completion) -> Self::Output {
        filled(c, self.buf)
    }
}

/// Writes a registered buffer's data at `offset` (`WRITE_FIXED`).
#[derive(Debug)]
pub struct WriteFixedAt {
    /// Descriptor to write to (plain or registered).
    pub fd: Target,
    /// The registered buffer.
    pub buf: FixedBuf,
    /// File offset.
    pub offset: u64,
}

// SAFETY: as for `ReadFixedAt`.
unsafe impl Operation<UringDriver> for WriteFixedAt {
    type Output = (io::Result<usize>, FixedBuf);
    fn build(&mut self) -> UringOp {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        let (ptr, index, offset) = (self.buf.stable_ptr(), self.buf.index(), self.offset);
        let op = self.fd.build(
            |fd| {
                opcode::WriteFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
            |fd| {
                opcode::WriteFixed::new(fd, ptr, len, index)
                    .offset(offset)
                    .build()
            },
        );
        bind_buffer(op, self.buf.ring())
    }
    fn complete(self, c: Completion) -> Self::Output {
        (result(c).map(|n| n as usize), self.buf)
    }
}
