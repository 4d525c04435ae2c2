//! File work on other threads: the reads and writes of regular files and
//! block devices, `open`, `fsync` and `statx`, which readiness cannot make
//! non-blocking, run on a thread pool the driver is given
//! ([`PollDriver::offload_to`](crate::PollDriver::offload_to)) instead of
//! stalling the loop; their results come back through the driver's
//! cross-thread waker.
//!
//! * **Order.** The operations on one descriptor run one at a time, in the
//!   order they were pushed (a write at the current position must not
//!   overtake the one before it); different descriptors, and path
//!   operations, run side by side.
//! * **Descriptor numbers.** Each operation runs on a duplicate of its
//!   descriptor, made when it is pushed — as io_uring holds a reference to
//!   the file — so closing the original while the operation is queued or
//!   running cannot send it to another file that got the same number.
//! * **Memory.** The call's pointers point into the operation, which the
//!   reactor keeps in place until its final completion; the driver queues
//!   that only after the thread has finished with them.
//! * **Cancel.** A queued operation is cancelled at once; a running one
//!   cannot be (as a file read in the kernel), and completes with its
//!   result.
//! * **A full pool** gives the job back: it then runs on the loop's thread,
//!   as without a pool.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use kasync::io::OpId;
use kasync_ops::Call;
use mio::Waker;

/// A job for the pool: run it once, on any thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// Where jobs go: runs the job on another thread, or gives it back when it
/// cannot (a full pool).
pub(crate) type Runner = Box<dyn Fn(Job) -> Result<(), Job> + Send>;

/// Results the pool's threads hand back to the loop.
pub(crate) struct Finished {
    results: Mutex<Vec<(OpId, i32)>>,
    waker: Arc<Waker>,
}

impl Finished {
    pub(crate) fn new(waker: Arc<Waker>) -> Arc<Self> {
        Arc::new(Self {
            results: Mutex::new(Vec::new()),
            waker,
        })
    }

    /// Called on a pool thread: `id` finished with `result`.
    fn report(&self, id: OpId, result: i32) {
        // A poisoned lock only means another job panicked while pushing:
        // the vector itself is whole.
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, result));
        // A failed wake leaves the result for the next turn of the loop.
        let _ = self.waker.wake();
    }

    /// Takes the results reported so far (on the loop's thread).
    pub(crate) fn take(&self, into: &mut Vec<(OpId, i32)>) {
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        into.append(&mut results);
    }
}

/// A call and the duplicate descriptor it runs on, ready for a thread.
pub(crate) struct Work {
    id: OpId,
    call: Call,
    /// The call's own descriptor (a duplicate), `None` for path calls.
    fd: Option<OwnedFd>,
}

// SAFETY: `call`'s pointers point into the operation `id`, which the
// reactor keeps in place and touches no more until its final completion;
// the driver queues that completion only after the job that owns this
// `Work` reported (see the module's docs), so the memory is used by one
// thread at a time. The rest (`OpId`, an owned descriptor) is `Send`.
unsafe impl Send for Work {}

impl Work {
    /// `call` (operation `id`) with a duplicate of `fd`, if it has one;
    /// `Err(errno)` if the duplicate cannot be made (out of descriptors).
    pub(crate) fn new(id: OpId, call: Call, fd: Option<RawFd>) -> Result<Self, i32> {
        let fd = match fd {
            None => None,
            Some(fd) => {
                // SAFETY: a plain `fcntl` on a descriptor number; the new
                // descriptor is ours alone.
                let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
                if dup < 0 {
                    return Err(std::io::Error::last_os_error()
                        .raw_os_error()
                        .unwrap_or(libc::EMFILE));
                }
                // SAFETY: `dup` was just made and is owned by nobody else.
                Some(unsafe { OwnedFd::from_raw_fd(dup) })
            }
        };
        Ok(Self { id, call, fd })
    }

    pub(crate) fn id(&self) -> OpId {
        self.id
    }

    /// The job that runs the call and reports its result to `finished`.
    pub(crate) fn into_job(self, finished: Arc<Finished>) -> Job {
        Box::new(move || {
            let result = self.run();
            finished.report(self.id, result);
            // The duplicate closes here, after the call.
        })
    }

    /// Makes the call, blocking as long as it takes (again after `EINTR`).
    fn run(&self) -> i32 {
        use std::os::fd::AsRawFd;
        let fd = self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        loop {
            let result = blocking_call(&self.call, fd);
            if result != -libc::EINTR {
                return result;
            }
        }
    }
}

/// `call`'s system call, on `fd` (the duplicate) for descriptor calls.
fn blocking_call(call: &Call, fd: RawFd) -> i32 {
    // SAFETY: for every call below, the pointers are the operation's buffers,
    // `iovec`s, paths and `statx` room, alive and unused by anyone else
    // until its final completion (see `Work`'s `Send`); lengths are the
    // operation's own.
    let ret: isize = unsafe {
        match *call {
            Call::Read {
                buf, len, offset, ..
            }
            | Call::ReadFixed {
                buf, len, offset, ..
            } => match offset {
                u64::MAX => libc::read(fd, buf.cast(), len as usize),
                at => libc::pread(fd, buf.cast(), len as usize, at as libc::off_t),
            },
            Call::Write {
                buf, len, offset, ..
            }
            | Call::WriteFixed {
                buf, len, offset, ..
            } => match offset {
                u64::MAX => libc::write(fd, buf.cast(), len as usize),
                at => libc::pwrite(fd, buf.cast(), len as usize, at as libc::off_t),
            },
            Call::Readv {
                iovecs,
                count,
                offset,
                ..
            } => {
                let count = count.min(libc::c_int::MAX as u32) as libc::c_int;
                match offset {
                    u64::MAX => libc::readv(fd, iovecs, count),
                    at => libc::preadv(fd, iovecs, count, at as libc::off_t),
                }
            }
            Call::Writev {
                iovecs,
                count,
                offset,
                ..
            } => {
                let count = count.min(libc::c_int::MAX as u32) as libc::c_int;
                match offset {
                    u64::MAX => libc::writev(fd, iovecs, count),
                    at => libc::pwritev(fd, iovecs, count, at as libc::off_t),
                }
            }
            Call::OpenAt { path, flags, mode } => {
                libc::openat(libc::AT_FDCWD, path, flags, mode) as isize
            }
            Call::Fsync { .. } => libc::fsync(fd) as isize,
            #[cfg(target_os = "linux")]
            Call::Statx { path, buf, mask } => {
                libc::statx(libc::AT_FDCWD, path, 0, mask, buf) as isize
            }
            // Only the calls `offloaded` names come here.
            _ => return -libc::EINVAL,
        }
    };
    if ret < 0 {
        -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        i32::try_from(ret).unwrap_or(i32::MAX)
    }
}

/// Which calls go to the pool, and the descriptor each is ordered on:
/// `Some(None)` for a path call, `Some(Some(fd))` for a call on `fd` —
/// `is_file(fd)` says whether `fd` is a regular file or block device,
/// whose reads and writes readiness cannot make wait — and `None` for
/// calls that stay on the loop.
pub(crate) fn offloaded(call: &Call, is_file: impl FnOnce(RawFd) -> bool) -> Option<Option<RawFd>> {
    match *call {
        Call::OpenAt { .. } => Some(None),
        #[cfg(target_os = "linux")]
        Call::Statx { .. } => Some(None),
        Call::Fsync { fd } => Some(Some(fd)),
        Call::Read { fd, .. }
        | Call::ReadFixed { fd, .. }
        | Call::Write { fd, .. }
        | Call::WriteFixed { fd, .. } => is_file(fd.raw()).then_some(Some(fd.raw())),
        Call::Readv { fd, .. } | Call::Writev { fd, .. } => is_file(fd).then_some(Some(fd)),
        _ => None,
    }
}

/// The operations handed to the pool, one at a time per descriptor.
#[derive(Default)]
pub(crate) struct Serial {
    /// Per descriptor with one running: those waiting behind it.
    lines: HashMap<RawFd, VecDeque<Work>>,
    /// Which descriptor each running or waiting operation is ordered on
    /// (`None`: a path call), and whether it opens a descriptor, by
    /// operation.
    of: HashMap<OpId, (Option<RawFd>, bool)>,
}

impl Serial {
    /// Takes `work` (ordered on `fd`): `Some` to start now, `None` if it
    /// waits behind another on the same descriptor.
    pub(crate) fn admit(&mut self, work: Work, fd: Option<RawFd>) -> Option<Work> {
        let opens = matches!(work.call, Call::OpenAt { .. });
        self.of.insert(work.id(), (fd, opens));
        let Some(fd) = fd else {
            return Some(work);
        };
        match self.lines.get_mut(&fd) {
            Some(line) => {
                line.push_back(work);
                None
            }
            None => {
                self.lines.insert(fd, VecDeque::new());
                Some(work)
            }
        }
    }

    /// `id` finished: whether it opened a descriptor, and the next
    /// operation on its descriptor, to start now.
    pub(crate) fn finished(&mut self, id: OpId) -> (bool, Option<Work>) {
        let Some((fd, opens)) = self.of.remove(&id) else {
            return (false, None);
        };
        let Some(line) = fd.and_then(|fd| self.lines.get_mut(&fd)) else {
            return (opens, None);
        };
        match line.pop_front() {
            Some(next) => (opens, Some(next)),
            None => {
                self.lines.remove(&fd.unwrap_or(-1));
                (opens, None)
            }
        }
    }

    /// `true` if `id` was handed to the pool (running or waiting).
    pub(crate) fn holds(&self, id: OpId) -> bool {
        self.of.contains_key(&id)
    }

    /// Removes `id` if it waits behind another (not started): `true` if
    /// it did, and it is now cancelled.
    pub(crate) fn cancel_waiting(&mut self, id: OpId) -> bool {
        let Some(&(Some(fd), _)) = self.of.get(&id) else {
            return false;
        };
        let Some(line) = self.lines.get_mut(&fd) else {
            return false;
        };
        let Some(at) = line.iter().position(|w| w.id() == id) else {
            return false; // running
        };
        line.remove(at); // its duplicate descriptor closes here
        self.of.remove(&id);
        true
    }
}
