//! One try of a [`Call`]: its system call, made so that it never blocks
//! the loop, and what came of it.

use std::os::fd::RawFd;

use kasync::io::Completion;
use kasync_ops::{Call, DriverStats, flags};

use crate::fds::{Dir, Fds, Kind, Waiter};

/// What one try of a call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Finished: the final completion.
    Done(Completion),
    /// One completion of a multishot call, which goes on (the driver adds
    /// the `MORE` flag).
    More(Completion),
    /// The call would block: wait until the descriptor is ready.
    Wait(Dir),
}

/// `MSG_DONTWAIT`: the socket calls never block, whatever the socket's
/// mode (sockets made elsewhere stay in blocking mode).
const DONTWAIT: i32 = libc::MSG_DONTWAIT;

/// `MSG_NOSIGNAL` where it exists (a write to a closed socket is `EPIPE`,
/// as through io_uring's `send`).
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOSIGNAL: i32 = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const NOSIGNAL: i32 = 0;

/// The largest transfer one call reports (the result is an `i32`).
const MAX_LEN: u32 = i32::MAX as u32;

/// The errno of the last failed call.
fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Makes calls for the driver, counting them.
pub(crate) struct Attempt<'a> {
    pub(crate) fds: &'a mut Fds,
    pub(crate) stats: &'a mut DriverStats,
}

impl Attempt<'_> {
    /// Tries `waiter`'s call once (again after `EINTR`).
    pub(crate) fn run(&mut self, waiter: &mut Waiter) -> Outcome {
        loop {
            let outcome = self.once(waiter);
            match outcome {
                Outcome::Done(c) | Outcome::More(c) if c.result == -libc::EINTR => continue,
                _ => return outcome,
            }
        }
    }

    /// A system call's return value as a result: the value, or `-errno`.
    fn sys(&mut self, ret: isize) -> i32 {
        self.stats.calls += 1;
        if ret < 0 {
            -errno()
        } else {
            i32::try_from(ret).unwrap_or(i32::MAX)
        }
    }

    /// The outcome of a call that waits for readiness in `dir` when it
    /// would block.
    fn ready_or_wait(&mut self, result: i32, dir: Dir) -> Outcome {
        if result == -libc::EAGAIN || result == -libc::EWOULDBLOCK {
            Outcome::Wait(dir)
        } else {
            Outcome::Done(Completion::new(result))
        }
    }

    fn once(&mut self, waiter: &mut Waiter) -> Outcome {
        let done = |result: i32| Outcome::Done(Completion::new(result));
        match waiter.call {
            Call::Nop => done(0),
            Call::Read {
                fd,
                buf,
                len,
                offset,
            }
            | Call::ReadFixed {
                fd,
                buf,
                len,
                offset,
                ..
            } => self.read(fd.raw(), buf, len, offset),
            Call::Write {
                fd,
                buf,
                len,
                offset,
            }
            | Call::WriteFixed {
                fd,
                buf,
                len,
                offset,
                ..
            } => self.write(fd.raw(), buf, len, offset),
            Call::Readv {
                fd,
                iovecs,
                count,
                offset,
            } => self.vectored(fd, iovecs, count, offset, Dir::Read),
            Call::Writev {
                fd,
                iovecs,
                count,
                offset,
            } => self.vectored(fd, iovecs, count, offset, Dir::Write),
            Call::OpenAt { path, flags, mode } => {
                // SAFETY: `path` is the operation's NUL-terminated path,
                // alive until its completion.
                let ret = unsafe { libc::openat(libc::AT_FDCWD, path, flags, mode) };
                done(self.sys(ret as isize))
            }
            Call::Close { fd } => {
                // SAFETY: the operation owns `fd` and gave it up.
                let ret = unsafe { libc::close(fd) };
                done(self.sys(ret as isize))
            }
            Call::Fsync { fd } => {
                // SAFETY: plain system call on a descriptor.
                let ret = unsafe { libc::fsync(fd) };
                done(self.sys(ret as isize))
            }
            #[cfg(target_os = "linux")]
            Call::Statx { path, buf, mask } => {
                // SAFETY: `path` is NUL-terminated and `buf` a `statx` the
                // operation owns, both alive until its completion.
                let ret = unsafe { libc::statx(libc::AT_FDCWD, path, 0, mask, buf) };
                done(self.sys(ret as isize))
            }
            // Timeouts never reach here (the driver keeps them).
            Call::Timeout { .. } => done(-libc::EINVAL),
            Call::Recv {
                fd,
                buf,
                len,
                flags,
            } => {
                let len = len.min(MAX_LEN);
                // SAFETY: `buf` has room for `len` bytes (the operation's
                // buffer, alive until its completion).
                let ret = unsafe { libc::recv(fd, buf.cast(), len as usize, flags | DONTWAIT) };
                let result = self.sys(ret);
                // A peek leaves the bytes in the socket: not drained.
                if flags & libc::MSG_PEEK == 0 {
                    self.transferred(fd, Dir::Read, result, len);
                }
                self.ready_or_wait(result, Dir::Read)
            }
            Call::Send {
                fd,
                buf,
                len,
                flags,
            } => {
                let len = len.min(MAX_LEN);
                // SAFETY: `buf` holds `len` bytes (the operation's buffer).
                let ret = unsafe { libc::send(fd, buf.cast(), len as usize, flags | DONTWAIT) };
                let result = self.sys(ret);
                self.transferred(fd, Dir::Write, result, len);
                self.ready_or_wait(result, Dir::Write)
            }
            Call::RecvMsg { fd, msg } => {
                // SAFETY: `msg` is the operation's header, whose buffers and
                // address room it owns.
                let ret = unsafe { libc::recvmsg(fd, msg, DONTWAIT) };
                let result = self.sys(ret);
                self.ready_or_wait(result, Dir::Read)
            }
            Call::SendMsg { fd, msg } => {
                // SAFETY: as above, read only.
                let ret = unsafe { libc::sendmsg(fd, msg, DONTWAIT | NOSIGNAL) };
                let result = self.sys(ret);
                self.ready_or_wait(result, Dir::Write)
            }
            Call::Accept { fd, addr, len } => {
                self.nonblocking(fd);
                let result = self.accept(fd, addr, len);
                self.ready_or_wait(result, Dir::Read)
            }
            Call::AcceptMulti { fd } => {
                self.nonblocking(fd);
                match self.accept(fd, std::ptr::null_mut(), std::ptr::null_mut()) {
                    r if r >= 0 => Outcome::More(Completion::new(r)),
                    r => self.ready_or_wait(r, Dir::Read),
                }
            }
            Call::Connect { fd, addr, len } => self.connect(waiter, fd, addr, len),
            Call::Readable { fd } => {
                let mut probe = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one live `pollfd`; a zero timeout never blocks.
                let ret = unsafe { libc::poll(&mut probe, 1, 0) };
                match self.sys(ret as isize) {
                    0 => Outcome::Wait(Dir::Read),
                    error if error < 0 => done(error),
                    _ if probe.revents & libc::POLLNVAL != 0 => done(-libc::EBADF),
                    _ => done(i32::from(probe.revents)),
                }
            }
            Call::Shutdown { fd, how } => {
                // SAFETY: plain system call on a descriptor.
                let ret = unsafe { libc::shutdown(fd, how) };
                done(self.sys(ret as isize))
            }
            Call::RecvMulti { fd, ring } => {
                let Some(buffer) = ring.peek_provided() else {
                    // Every buffer is held: the kernel ends the receive so.
                    return done(-libc::ENOBUFS);
                };
                // SAFETY: the buffer is in the ring (nobody holds it) and
                // has `len` bytes of room.
                let ret = unsafe {
                    libc::recv(
                        fd,
                        buffer.ptr.cast(),
                        buffer.len.min(MAX_LEN) as usize,
                        DONTWAIT,
                    )
                };
                match self.sys(ret) {
                    // The peer closed: the receive ends, no buffer taken.
                    0 => done(0),
                    n if n > 0 => {
                        self.transferred(fd, Dir::Read, n, buffer.len.min(MAX_LEN));
                        ring.consume_provided();
                        ring.taken();
                        Outcome::More(Completion {
                            result: n,
                            flags: flags::with_buffer(buffer.bid),
                        })
                    }
                    r => self.ready_or_wait(r, Dir::Read),
                }
            }
        }
    }

    /// Notes a transfer of `result` bytes of `len` asked for: on a TCP
    /// socket, less than asked for means the socket is drained in that
    /// direction (its buffer was emptied / filled), so the next operation
    /// waits for readiness instead of trying (a new arrival or room raises
    /// a new event). Other sockets never count as drained this way: a
    /// datagram is one message, and a Unix stream read stops short at a
    /// change of sender credentials or passed descriptors with more queued.
    fn transferred(&mut self, fd: RawFd, dir: Dir, result: i32, len: u32) {
        if result > 0 && (result as u32) < len && self.kind(fd) == Kind::StreamSocket {
            if let Some(state) = self.fds.get(fd) {
                state.set_drained(dir, true);
            }
        }
    }

    /// `true` for a TCP socket (a stream socket of an internet family).
    fn is_tcp(&mut self, fd: RawFd) -> bool {
        if self.socket_type(fd) != libc::SOCK_STREAM {
            return false;
        }
        // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.stats.calls += 1;
        // SAFETY: `addr` has room for `len` bytes, both live locals.
        let ret = unsafe {
            libc::getsockname(
                fd,
                (&mut addr as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        ret == 0 && matches!(i32::from(addr.ss_family), libc::AF_INET | libc::AF_INET6)
    }

    /// `SO_TYPE` of socket `fd` (0 if it cannot be asked).
    fn socket_type(&mut self, fd: RawFd) -> libc::c_int {
        let mut kind: libc::c_int = 0;
        let mut size = size_of::<libc::c_int>() as libc::socklen_t;
        self.stats.calls += 1;
        // SAFETY: `kind` and `size` are live locals of the sizes given.
        unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut kind as *mut libc::c_int).cast(),
                &mut size,
            )
        };
        kind
    }

    /// `accept4` with `SOCK_CLOEXEC` (`accept` plus `fcntl` where there is
    /// no `accept4`).
    fn accept(&mut self, fd: RawFd, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) -> i32 {
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        {
            // SAFETY: `addr`/`len` are null or the operation's address room
            // and its size.
            let ret = unsafe { libc::accept4(fd, addr, len, libc::SOCK_CLOEXEC) };
            self.sys(ret as isize)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        {
            // SAFETY: as above.
            let ret = unsafe { libc::accept(fd, addr, len) };
            let result = self.sys(ret as isize);
            if result >= 0 {
                // SAFETY: a descriptor we just got.
                unsafe { libc::fcntl(result, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
            result
        }
    }

    /// A connect: started (non-blocking), then its result once writable.
    fn connect(
        &mut self,
        waiter: &mut Waiter,
        fd: RawFd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    ) -> Outcome {
        if waiter.connecting {
            let mut error: libc::c_int = 0;
            let mut size = size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `error` and `size` are live locals of the sizes given.
            let ret = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut error as *mut libc::c_int).cast(),
                    &mut size,
                )
            };
            let result = self.sys(ret as isize);
            return Outcome::Done(Completion::new(if result < 0 { result } else { -error }));
        }
        self.nonblocking(fd);
        // SAFETY: `addr` is the operation's address of `len` bytes.
        let ret = unsafe { libc::connect(fd, addr, len) };
        match self.sys(ret as isize) {
            r if r == -libc::EINPROGRESS => {
                waiter.connecting = true;
                Outcome::Wait(Dir::Write)
            }
            // A Unix socket whose listener's queue is full: try again.
            r => self.ready_or_wait(r, Dir::Write),
        }
    }

    /// Switches `fd` to `O_NONBLOCK` once (listeners and connecting
    /// sockets, whose calls have no per-call flag).
    fn nonblocking(&mut self, fd: RawFd) {
        let Some(state) = self.fds.get(fd) else {
            return;
        };
        if state.nonblocking {
            return;
        }
        state.nonblocking = true;
        self.stats.calls += 2;
        // SAFETY: plain `fcntl` calls on a descriptor; failures leave it
        // as it was (the calls then fail or block as they would).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 && flags & libc::O_NONBLOCK == 0 {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
    }

    /// What kind of file `fd` is (asked once, then remembered).
    pub(crate) fn kind(&mut self, fd: RawFd) -> Kind {
        if let Some(kind) = self.fds.get(fd).and_then(|s| s.kind) {
            return kind;
        }
        // SAFETY: all-zero bytes are a valid `stat`.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        self.stats.calls += 1;
        // SAFETY: `st` is a live `stat` to fill.
        let kind = if unsafe { libc::fstat(fd, &mut st) } < 0 {
            // A bad descriptor: let the call itself report it.
            return Kind::File;
        } else {
            match st.st_mode & libc::S_IFMT {
                libc::S_IFSOCK if self.is_tcp(fd) => Kind::StreamSocket,
                libc::S_IFSOCK => Kind::Socket,
                libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR => Kind::File,
                // Pipes, terminals, character devices, and the anonymous
                // files (signalfd, eventfd, timerfd) that have no type.
                _ => Kind::Stream,
            }
        };
        if let Some(state) = self.fds.get(fd) {
            state.kind = Some(kind);
        }
        kind
    }

    /// `true` if `poll(2)` says `fd` is ready for `events` now (or cannot
    /// be polled: then the call is made and reports what it finds).
    fn ready_now(&mut self, fd: RawFd, events: libc::c_short) -> bool {
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        self.stats.calls += 1;
        // SAFETY: one live `pollfd`, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n != 0
    }

    fn read(&mut self, fd: RawFd, buf: *mut u8, len: u32, offset: u64) -> Outcome {
        let len = len.min(MAX_LEN) as usize;
        match self.kind(fd) {
            Kind::Socket | Kind::StreamSocket => {
                // SAFETY: `buf` has room for `len` bytes (the operation's).
                let ret = unsafe { libc::recv(fd, buf.cast(), len, DONTWAIT) };
                let result = self.sys(ret);
                self.transferred(fd, Dir::Read, result, len as u32);
                self.ready_or_wait(result, Dir::Read)
            }
            // Nothing to read into: the call returns at once (as through
            // io_uring), whatever is (not) there.
            Kind::Stream if len > 0 && !self.ready_now(fd, libc::POLLIN) => {
                Outcome::Wait(Dir::Read)
            }
            // A pipe or terminal has no offset: read where it is (io_uring
            // ignores the offset there too).
            Kind::Stream => {
                // SAFETY: as above.
                let ret = unsafe { libc::read(fd, buf.cast(), len) };
                let result = self.sys(ret);
                self.ready_or_wait(result, Dir::Read)
            }
            Kind::File => {
                // SAFETY: as above.
                let ret = unsafe {
                    if offset == u64::MAX {
                        libc::read(fd, buf.cast(), len)
                    } else {
                        libc::pread(fd, buf.cast(), len, offset as libc::off_t)
                    }
                };
                let result = self.sys(ret);
                self.ready_or_wait(result, Dir::Read)
            }
        }
    }

    fn write(&mut self, fd: RawFd, buf: *const u8, len: u32, offset: u64) -> Outcome {
        let len = len.min(MAX_LEN) as usize;
        match self.kind(fd) {
            Kind::Socket | Kind::StreamSocket => {
                // SAFETY: `buf` holds `len` bytes (the operation's).
                let ret = unsafe { libc::send(fd, buf.cast(), len, DONTWAIT | NOSIGNAL) };
                let result = self.sys(ret);
                self.transferred(fd, Dir::Write, result, len as u32);
                self.ready_or_wait(result, Dir::Write)
            }
            Kind::Stream if len > 0 && !self.ready_now(fd, libc::POLLOUT) => {
                Outcome::Wait(Dir::Write)
            }
            // Writable means room for `PIPE_BUF` bytes: a write of at most
            // that never blocks (a larger one to a blocking pipe would wait
            // for the reader, with the loop). The rest is the caller's to
            // send again, as after any short write.
            Kind::Stream => {
                // SAFETY: as above, fewer bytes.
                let ret = unsafe { libc::write(fd, buf.cast(), len.min(libc::PIPE_BUF)) };
                let result = self.sys(ret);
                self.ready_or_wait(result, Dir::Write)
            }
            Kind::File => {
                // SAFETY: as above.
                let ret = unsafe {
                    if offset == u64::MAX {
                        libc::write(fd, buf.cast(), len)
                    } else {
                        libc::pwrite(fd, buf.cast(), len, offset as libc::off_t)
                    }
                };
                let result = self.sys(ret);
                self.ready_or_wait(result, Dir::Write)
            }
        }
    }

    fn vectored(
        &mut self,
        fd: RawFd,
        iovecs: *const libc::iovec,
        count: u32,
        offset: u64,
        dir: Dir,
    ) -> Outcome {
        let count = count.min(libc::c_int::MAX as u32) as libc::c_int;
        let kind = self.kind(fd);
        if kind == Kind::Stream {
            // A pipe or terminal: the first buffer with room, through the
            // plain read or write (which keep the loop from blocking); a
            // short transfer is a vectored call's right too.
            // SAFETY: the operation's `count` `iovec`s, alive until its
            // completion.
            let iovecs = unsafe { std::slice::from_raw_parts(iovecs, count as usize) };
            let first = iovecs.iter().find(|v| v.iov_len > 0);
            let (base, len) = first.map_or((std::ptr::null_mut(), 0), |v| (v.iov_base, v.iov_len));
            let len = u32::try_from(len).unwrap_or(MAX_LEN);
            return if dir == Dir::Read {
                self.read(fd, base.cast(), len, u64::MAX)
            } else {
                self.write(fd, base.cast_const().cast(), len, u64::MAX)
            };
        }
        let ret = if matches!(kind, Kind::Socket | Kind::StreamSocket) {
            // SAFETY: all-zero bytes are a valid `msghdr`.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iovecs.cast_mut();
            msg.msg_iovlen = count as _;
            // SAFETY: the `iovec`s are the operation's, pointing at its
            // buffers; the header lives across the call.
            unsafe {
                if dir == Dir::Read {
                    libc::recvmsg(fd, &mut msg, DONTWAIT)
                } else {
                    libc::sendmsg(fd, &msg, DONTWAIT | NOSIGNAL)
                }
            }
        } else {
            // SAFETY: as above.
            unsafe {
                match (dir, offset) {
                    (Dir::Read, u64::MAX) => libc::readv(fd, iovecs, count),
                    (Dir::Write, u64::MAX) => libc::writev(fd, iovecs, count),
                    (Dir::Read, at) => libc::preadv(fd, iovecs, count, at as libc::off_t),
                    (Dir::Write, at) => libc::pwritev(fd, iovecs, count, at as libc::off_t),
                }
            }
        };
        let result = self.sys(ret);
        self.ready_or_wait(result, dir)
    }
}
