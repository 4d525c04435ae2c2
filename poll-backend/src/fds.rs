//! What the driver knows about each descriptor: whether it is registered
//! for readiness, what kind of file it is, and the operations waiting for
//! it — one queue per direction, first come first served.

use std::collections::VecDeque;
use std::os::fd::RawFd;

use kasync::io::OpId;
use kasync_ops::Call;

/// Which readiness an operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read = 0,
    Write = 1,
}

/// How the driver treats a descriptor's plain reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A TCP socket: as [`Socket`](Kind::Socket), and a transfer shorter
    /// than asked for means the socket is drained in that direction.
    StreamSocket,
    /// A socket: `recv`/`send` with `MSG_DONTWAIT`, readiness on `EAGAIN`.
    Socket,
    /// A regular file, block device or directory: always "ready", done
    /// inline.
    File,
    /// A pipe, FIFO, terminal, character device or anonymous file
    /// (signalfd, eventfd): checked with `poll(2)`
    /// before reading or writing, readiness otherwise (its mode is left
    /// alone: a terminal may be shared with other processes).
    Stream,
}

/// An operation that waits for readiness.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) id: OpId,
    pub(crate) call: Call,
    /// A connect that got `EINPROGRESS`: its result is `SO_ERROR` once the
    /// socket is writable.
    pub(crate) connecting: bool,
}

/// One descriptor's state.
#[derive(Debug, Default)]
pub(crate) struct FdState {
    /// The number's close count when this state was made: a different
    /// count means the number was closed since (the state is stale).
    epoch: u32,
    /// Registered with the poll instance (for both directions).
    pub(crate) registered: bool,
    /// Switched to `O_NONBLOCK` by the driver (listeners, connecting
    /// sockets).
    pub(crate) nonblocking: bool,
    pub(crate) kind: Option<Kind>,
    /// Known to be drained (would block) in each direction since the last
    /// readiness event: a new operation waits for the next event instead
    /// of trying its call (as tokio does after `EAGAIN` or a short read).
    drained: [bool; 2],
    /// The peer closed (or the socket failed) in each direction: calls end
    /// at once from now on (end of stream, `EPIPE`), and no further event
    /// may come, so the descriptor never counts as drained again.
    closed: [bool; 2],
    /// A file whose file system refused to try a read or write without
    /// waiting (`RWF_NOWAIT`, `EOPNOTSUPP`: buffered writes on most): its
    /// calls in that direction go straight to the pool from now on.
    #[cfg(target_os = "linux")]
    pub(crate) nowait_refused: [bool; 2],
    readers: VecDeque<Waiter>,
    writers: VecDeque<Waiter>,
}

impl FdState {
    /// The queue of `dir`.
    pub(crate) fn queue(&mut self, dir: Dir) -> &mut VecDeque<Waiter> {
        match dir {
            Dir::Read => &mut self.readers,
            Dir::Write => &mut self.writers,
        }
    }

    /// `true` if the descriptor is known to be drained in direction `dir`.
    pub(crate) fn drained(&self, dir: Dir) -> bool {
        self.drained[dir as usize] && !self.closed[dir as usize]
    }

    /// Notes that direction `dir` was closed (an event said so).
    pub(crate) fn set_closed(&mut self, dir: Dir) {
        self.closed[dir as usize] = true;
    }

    /// Notes whether the descriptor is drained in direction `dir`.
    pub(crate) fn set_drained(&mut self, dir: Dir, drained: bool) {
        self.drained[dir as usize] = drained;
    }

    /// `true` if an operation waits in direction `dir`.
    pub(crate) fn waiting(&self, dir: Dir) -> bool {
        match dir {
            Dir::Read => !self.readers.is_empty(),
            Dir::Write => !self.writers.is_empty(),
        }
    }

    /// Everything waiting, for failing it (the state is reset).
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = Waiter> {
        let readers = std::mem::take(&mut self.readers);
        let writers = std::mem::take(&mut self.writers);
        readers.into_iter().chain(writers)
    }
}

/// Descriptor states, indexed by descriptor number: the small and dense
/// numbers in a table, any others (a number far beyond the open
/// descriptors, such as a bad one a caller passed) in a map.
#[derive(Debug, Default)]
pub(crate) struct Fds {
    states: Vec<FdState>,
    sparse: std::collections::HashMap<usize, FdState>,
    /// Operations that waited on a descriptor that was closed since: the
    /// driver fails them (`-EBADF`).
    pub(crate) stale: Vec<Waiter>,
}

/// Numbers below this live in the table (grown on demand).
const DENSE: usize = 1 << 16;

impl Fds {
    /// The state of `fd` (made on first use; made afresh if the number
    /// was closed since). `None` for a negative `fd`.
    pub(crate) fn get(&mut self, fd: RawFd) -> Option<&mut FdState> {
        let index = usize::try_from(fd).ok()?;
        let epoch = crate::closes::count(fd);
        let state = if index < DENSE {
            if index >= self.states.len() {
                self.states.resize_with(index + 1, FdState::default);
            }
            &mut self.states[index]
        } else {
            self.sparse.entry(index).or_default()
        };
        if state.epoch != epoch {
            let mut old = std::mem::take(state);
            state.epoch = epoch;
            self.stale.extend(old.take_all());
        }
        Some(state)
    }

    /// Forgets `fd` (a number a call of the driver just made, or one it
    /// closes): its state goes back to unknown, what waited on it joins
    /// [`stale`](Self::stale).
    pub(crate) fn reset(&mut self, fd: RawFd) {
        if let Some(state) = self.get(fd) {
            let mut old = std::mem::take(state);
            state.epoch = old.epoch;
            self.stale.extend(old.take_all());
        }
    }
}

/// The descriptor and direction an operation waits on when its call would
/// block; `None` for calls that never wait on a descriptor.
pub(crate) fn direction(call: &Call) -> Option<(RawFd, Dir)> {
    match *call {
        Call::Read { fd, .. } | Call::ReadFixed { fd, .. } => Some((fd.raw(), Dir::Read)),
        Call::Write { fd, .. } | Call::WriteFixed { fd, .. } => Some((fd.raw(), Dir::Write)),
        Call::Readv { fd, .. }
        | Call::Recv { fd, .. }
        | Call::RecvMsg { fd, .. }
        | Call::Accept { fd, .. }
        | Call::AcceptMulti { fd }
        | Call::Readable { fd }
        | Call::RecvMulti { fd, .. } => Some((fd, Dir::Read)),
        Call::Writev { fd, .. }
        | Call::Send { fd, .. }
        | Call::SendMsg { fd, .. }
        | Call::Connect { fd, .. } => Some((fd, Dir::Write)),
        _ => None,
    }
}
