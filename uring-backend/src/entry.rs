//! A [`Call`] as an io_uring submission entry.

use io_uring::{opcode, squeue, types};
use kasync_ops::{Call, GROUP, Target};

// `Call::Timeout` points at a `kasync_ops::Timespec`, which the kernel
// reads as its `__kernel_timespec`.
const _: () = assert!(
    size_of::<kasync_ops::Timespec>() == size_of::<types::Timespec>()
        && align_of::<kasync_ops::Timespec>() == align_of::<types::Timespec>()
);

/// The entry that makes `call` (without its `user_data`). Inlined into the
/// driver's `push`, so the entry is built where it is queued.
#[inline(always)]
pub(crate) fn entry(call: &Call) -> squeue::Entry {
    match *call {
        Call::Nop => opcode::Nop::new().build(),
        // A read of nothing has nothing to wait for, but some kernels'
        // io_uring waits for data anyway (Linux 6.1, an empty pipe): it
        // completes with 0 at once, which POSIX allows a zero-length
        // read(2) to do without checking the descriptor. (Not a receive:
        // a zero-length recv(2) takes a datagram.)
        Call::Read { len: 0, .. } => opcode::Nop::new().build(),
        Call::Read {
            fd,
            buf,
            len,
            offset,
        } => on(
            fd,
            |fd| opcode::Read::new(fd, buf, len).offset(offset).build(),
            |fd| opcode::Read::new(fd, buf, len).offset(offset).build(),
        ),
        Call::Write {
            fd,
            buf,
            len,
            offset,
        } => on(
            fd,
            |fd| opcode::Write::new(fd, buf, len).offset(offset).build(),
            |fd| opcode::Write::new(fd, buf, len).offset(offset).build(),
        ),
        Call::ReadFixed {
            fd,
            buf,
            len,
            offset,
            index,
            ..
        } => on(
            fd,
            |fd| {
                opcode::ReadFixed::new(fd, buf, len, index)
                    .offset(offset)
                    .build()
            },
            |fd| {
                opcode::ReadFixed::new(fd, buf, len, index)
                    .offset(offset)
                    .build()
            },
        ),
        Call::WriteFixed {
            fd,
            buf,
            len,
            offset,
            index,
            ..
        } => on(
            fd,
            |fd| {
                opcode::WriteFixed::new(fd, buf, len, index)
                    .offset(offset)
                    .build()
            },
            |fd| {
                opcode::WriteFixed::new(fd, buf, len, index)
                    .offset(offset)
                    .build()
            },
        ),
        Call::Readv {
            fd,
            iovecs,
            count,
            offset,
        } => opcode::Readv::new(types::Fd(fd), iovecs, count)
            .offset(offset)
            .build(),
        Call::Writev {
            fd,
            iovecs,
            count,
            offset,
        } => opcode::Writev::new(types::Fd(fd), iovecs, count)
            .offset(offset)
            .build(),
        Call::OpenAt { path, flags, mode } => opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path)
            .flags(flags)
            .mode(mode)
            .build(),
        Call::Close { fd } => opcode::Close::new(types::Fd(fd)).build(),
        Call::Fsync { fd } => opcode::Fsync::new(types::Fd(fd)).build(),
        Call::Statx { path, buf, mask } => {
            opcode::Statx::new(types::Fd(libc::AT_FDCWD), path, buf.cast())
                .mask(mask)
                .build()
        }
        // The layouts are asserted equal above.
        Call::Timeout { ts } => opcode::Timeout::new(ts.cast::<types::Timespec>()).build(),
        Call::Recv {
            fd,
            buf,
            len,
            flags,
        } => opcode::Recv::new(types::Fd(fd), buf, len)
            .flags(flags)
            .build(),
        Call::Send {
            fd,
            buf,
            len,
            flags,
        } => opcode::Send::new(types::Fd(fd), buf, len)
            .flags(flags)
            .build(),
        Call::RecvMsg { fd, msg } => opcode::RecvMsg::new(types::Fd(fd), msg).build(),
        Call::SendMsg { fd, msg } => opcode::SendMsg::new(types::Fd(fd), msg).build(),
        Call::Accept { fd, addr, len } => opcode::Accept::new(types::Fd(fd), addr, len)
            .flags(libc::SOCK_CLOEXEC)
            .build(),
        Call::AcceptMulti { fd } => opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build(),
        Call::Connect { fd, addr, len } => opcode::Connect::new(types::Fd(fd), addr, len).build(),
        Call::Shutdown { fd, how } => opcode::Shutdown::new(types::Fd(fd), how).build(),
        Call::Readable { fd } => opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).build(),
        Call::RecvMulti { fd, .. } => opcode::RecvMulti::new(types::Fd(fd), GROUP).build(),
    }
}

/// The entry for a plain or registered descriptor.
#[inline(always)]
fn on(
    fd: Target,
    plain: impl FnOnce(types::Fd) -> squeue::Entry,
    fixed: impl FnOnce(types::Fixed) -> squeue::Entry,
) -> squeue::Entry {
    match fd {
        Target::Fd(fd) => plain(types::Fd(fd)),
        Target::Fixed(fd) => fixed(types::Fixed(fd.index())),
    }
}

#[cfg(test)]
mod tests {
    use io_uring::cqueue;
    use kasync_ops::flags;

    /// The operations read completion flags through `kasync_ops::flags`
    /// (which the readiness backend reports too): io_uring's layout.
    #[test]
    fn completion_flags_are_io_uring_s() {
        assert!(cqueue::more(flags::MORE));
        assert!(!cqueue::more(flags::with_buffer(7)));
        assert_eq!(cqueue::buffer_select(flags::with_buffer(7)), Some(7));
        assert_eq!(
            cqueue::buffer_select(flags::with_buffer(u16::MAX) | flags::MORE),
            Some(u16::MAX)
        );
        assert_eq!(cqueue::buffer_select(flags::MORE), None);
    }
}
