//! File work on other threads: the reads and writes of regular files and
//! block devices, `open`, `fsync` and `statx`, which readiness cannot make
//! non-blocking, run on a thread pool the driver is given
//! ([`PollDriver::offload_to`](crate::PollDriver::offload_to)) instead of
//! stalling the loop; their results come back through the driver's
//! cross-thread waker.
//!
//! * **Order.** The operations on one descriptor that write, move its
//!   position or sync it run one at a time, in the order they were pushed
//!   (a write at the current position must not overtake the one before
//!   it; io_uring's workers serialize buffered writes to a file too);
//!   reads at an offset run side by side with them and with each other,
//!   as on io_uring; different descriptors, and path operations, run side
//!   by side.
//! * **Descriptor numbers.** The operations on a descriptor run on one
//!   duplicate of it, made when the first of them is pushed — as io_uring
//!   holds a reference to the file — so closing the original while they
//!   are queued or running cannot send them to another file that got the
//!   same number; an operation pushed after the number was closed (and
//!   reused) starts a line of its own.
//! * **Memory.** The call's pointers point into the operation, which the
//!   reactor keeps in place until its final completion; the driver queues
//!   that only after the thread has finished with them.
//! * **Cancel.** A queued operation — waiting in its line, or handed to
//!   the pool but not started by a thread yet — is cancelled at once, and
//!   so is a running `open` (it runs on its own copy of the path; a
//!   descriptor it opens after all is closed) or `fsync`: an `open` that
//!   blocks (a FIFO nobody writes to) cannot hold its runtime's shutdown.
//!   A running read, write or `statx` uses the operation's memory and
//!   cannot be cancelled (as a file read in the kernel): it completes
//!   with its result.
//! * **A full pool** gives the job back: it then runs on the loop's thread,
//!   as without a pool.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use kasync::io::OpId;
use kasync_ops::Call;
use mio::Waker;

use crate::file_rw::FileRw;

/// A job for the pool: run it once, on any thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// Where jobs go: runs the job on another thread, or gives it back when it
/// cannot (a full pool).
pub(crate) type Runner = Box<dyn Fn(Job) -> Result<(), Job> + Send>;

/// A result a pool thread hands back: the operation, its result, whether
/// it opened a descriptor.
type Report = (OpId, i32, bool);

/// Results the pool's threads hand back to the loop.
pub(crate) struct Finished {
    state: Mutex<FinishedState>,
    waker: Arc<Waker>,
}

#[derive(Default)]
struct FinishedState {
    results: Vec<Report>,
    /// The driver is gone: late results are dropped here (descriptors
    /// opened for nobody closed).
    closed: bool,
}

/// Closes a descriptor an abandoned `open` made.
pub(crate) fn close_opened(fd: i32) {
    // SAFETY: `fd` was opened by an operation nobody awaits any more: it
    // is ours alone.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
}

impl Finished {
    pub(crate) fn new(waker: Arc<Waker>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(FinishedState::default()),
            waker,
        })
    }

    fn lock(&self) -> MutexGuard<'_, FinishedState> {
        // A poisoned lock only means a thread panicked while pushing: the
        // vector itself is whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called on a pool thread: `id` finished with `result`.
    fn report(&self, id: OpId, result: i32, opens: bool) {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            if opens && result >= 0 {
                close_opened(result);
            }
            return;
        }
        state.results.push((id, result, opens));
        drop(state);
        // A failed wake leaves the result for the next turn of the loop.
        let _ = self.waker.wake();
    }

    /// Takes the results reported so far (on the loop's thread).
    pub(crate) fn take(&self, into: &mut Vec<Report>) {
        into.append(&mut self.lock().results);
    }

    /// The driver is going: results from now on are dropped, and so are
    /// those not taken yet (only abandoned operations can have any).
    pub(crate) fn close(&self) {
        let late = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.results)
        };
        for (_, result, opens) in late {
            if opens && result >= 0 {
                close_opened(result);
            }
        }
    }
}

/// A call, the descriptor it runs on and the memory it owns, ready for a
/// thread.
pub(crate) struct Work {
    id: OpId,
    call: Call,
    /// The duplicate descriptor of the call's line, `None` for path calls.
    fd: Option<Arc<OwnedFd>>,
    /// An `open`'s own copy of its path (the operation's may go with a
    /// cancel while the call still runs).
    path: Option<CString>,
    /// Taken once: by the job when it starts the call, or by a cancel
    /// while the job still waits for a pool thread (the job then makes no
    /// call and touches nothing of the operation's).
    gate: Arc<AtomicBool>,
}

// SAFETY: `call`'s pointers point into the operation `id`, which the
// reactor keeps in place and touches no more until its final completion;
// the driver queues that completion only after the job that owns this
// `Work` reported — except for an `open` (which reads its own `path`
// copy, never the operation's) and an `fsync` (no memory), which may be
// completed earlier by a cancel, and for a job a cancel withdrew before
// it started (it took `gate` first: the job then makes no call) — so the
// memory is used by one thread at a time. The rest (`OpId`, descriptors,
// a `CString`, an `Arc`'d atomic) is `Send`.
unsafe impl Send for Work {}

impl Work {
    pub(crate) fn id(&self) -> OpId {
        self.id
    }

    /// `true` for a call that may be completed (cancelled) while it runs:
    /// it uses none of the operation's memory.
    fn cancellable(&self) -> bool {
        matches!(self.call, Call::OpenAt { .. } | Call::Fsync { .. })
    }

    /// The job that runs the call and reports its result to `finished`
    /// (`-ECANCELED`, with no call, if a cancel withdrew it first).
    pub(crate) fn into_job(self, finished: Arc<Finished>) -> Job {
        Box::new(move || {
            if self.gate.swap(true, Ordering::AcqRel) {
                finished.report(self.id, -libc::ECANCELED, false);
                return;
            }
            let result = self.run();
            let opens = matches!(self.call, Call::OpenAt { .. });
            finished.report(self.id, result, opens);
            // The line's duplicate closes with its last user, after the
            // call.
        })
    }

    /// Makes the call, blocking as long as it takes (again after `EINTR`).
    fn run(&self) -> i32 {
        let fd = self.fd.as_deref().map_or(-1, AsRawFd::as_raw_fd);
        loop {
            let result = blocking_call(&self.call, fd, self.path.as_deref());
            if result != -libc::EINTR {
                return result;
            }
        }
    }
}

/// `call`'s system call, on `fd` (the line's duplicate) for descriptor
/// calls, with `path` (its own copy) for an `open`.
fn blocking_call(call: &Call, fd: RawFd, path: Option<&CStr>) -> i32 {
    let ret: isize = if let Some(rw) = FileRw::of(call) {
        // SAFETY: the operation's buffers and `iovec`s are alive and
        // unused by anyone else until its final completion (see `Work`'s
        // `Send`).
        unsafe { rw.run(fd, false) }
    } else {
        // SAFETY: an `open` reads its own copy of the path; a `statx`
        // writes the operation's `statx` room and reads its path, alive
        // and unused by anyone else until its final completion.
        let ret = unsafe {
            match *call {
                Call::OpenAt { flags, mode, .. } => match path {
                    Some(path) => libc::openat(libc::AT_FDCWD, path.as_ptr(), flags, mode),
                    None => return -libc::EINVAL,
                },
                Call::Fsync { .. } => libc::fsync(fd),
                #[cfg(target_os = "linux")]
                Call::Statx { path, buf, mask } => libc::statx(libc::AT_FDCWD, path, 0, mask, buf),
                // Only the calls `offloaded` names come here.
                _ => return -libc::EINVAL,
            }
        };
        if ret < 0 {
            -(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as isize)
        } else {
            ret as isize
        }
    };
    i32::try_from(ret).unwrap_or(i32::MAX)
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

/// A line of operations on one descriptor, all on one duplicate of it:
/// the ordered ones run one at a time, in order; positional reads run
/// side by side with them and with each other.
struct Line {
    fd: Arc<OwnedFd>,
    /// An ordered operation is running (the others wait in `waiting`).
    ordered_running: bool,
    waiting: VecDeque<Work>,
    /// Positional reads running.
    side_by_side: usize,
}

impl Line {
    fn idle(&self) -> bool {
        !self.ordered_running && self.side_by_side == 0 && self.waiting.is_empty()
    }
}

/// `true` for a call that need not wait for the others on its descriptor:
/// a read at an offset moves no position and changes nothing (io_uring
/// does not order these either; a program that needs a write first awaits
/// it first).
pub(crate) fn side_by_side(call: &Call) -> bool {
    match *call {
        Call::Read { offset, .. } | Call::ReadFixed { offset, .. } | Call::Readv { offset, .. } => {
            offset != u64::MAX
        }
        _ => false,
    }
}

/// Which line an operation is on: its descriptor's number and how often
/// that number had been closed when the line began
/// ([`closes::count`](crate::closes)).
type LineKey = (RawFd, u32);

/// What the driver keeps of an operation handed to the pool.
#[derive(Clone, Copy)]
struct Handed {
    line: Option<LineKey>,
    /// Runs side by side with the others on its line.
    side_by_side: bool,
    opens: bool,
    /// Completed by a cancel while it ran: its result is dropped.
    abandoned: bool,
}

/// What came of an operation the pool finished.
pub(crate) struct Outcome {
    /// It opened a descriptor (the result).
    pub(crate) opens: bool,
    /// It was completed by a cancel already: drop the result (closing a
    /// descriptor it opened).
    pub(crate) abandoned: bool,
    /// The next operation on its line, to start now.
    pub(crate) next: Option<Work>,
}

/// What [`Serial::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// Not handed to the pool: the caller's to cancel.
    NotHere,
    /// Cancelled now (not started, or running but using none of the
    /// operation's memory): complete it with `-ECANCELED`.
    Now,
    /// Running on the operation's memory: it completes with its result.
    Later,
}

/// What [`Serial`] keeps of an operation handed to the pool.
struct Started {
    cancellable: bool,
    gate: Arc<AtomicBool>,
}

impl Work {
    fn started(&self) -> Started {
        Started {
            cancellable: self.cancellable(),
            gate: Arc::clone(&self.gate),
        }
    }
}

/// The operations handed to the pool, the ordered ones one at a time per
/// descriptor.
#[derive(Default)]
pub(crate) struct Serial {
    lines: HashMap<LineKey, Line>,
    handed: HashMap<OpId, Handed>,
    /// The operations handed to the pool (not waiting in a line), by id:
    /// whether they may be completed while they run, and their start
    /// gate.
    running: HashMap<OpId, Started>,
}

impl Serial {
    /// Takes `call` (operation `id`), ordered on descriptor `fd` (`None`:
    /// a path call): `Ok(Some(work))` to start now, `Ok(None)` if it waits
    /// behind another on its line, `Err(errno)` if no duplicate of `fd`
    /// can be made (out of descriptors; nothing is queued then).
    pub(crate) fn admit(
        &mut self,
        id: OpId,
        call: Call,
        fd: Option<RawFd>,
    ) -> Result<Option<Work>, i32> {
        let path = match call {
            // SAFETY: an `open`'s path is NUL-terminated and alive until
            // its completion, which has not happened: it is being pushed.
            Call::OpenAt { path, .. } => Some(unsafe { CStr::from_ptr(path) }.to_owned()),
            _ => None,
        };
        let opens = path.is_some();
        let Some(fd) = fd else {
            self.handed.insert(
                id,
                Handed {
                    line: None,
                    side_by_side: false,
                    opens,
                    abandoned: false,
                },
            );
            let work = Work {
                id,
                call,
                fd: None,
                path,
                gate: Arc::default(),
            };
            self.running.insert(id, work.started());
            return Ok(Some(work));
        };
        let key = (fd, crate::closes::count(fd));
        let line = match self.lines.entry(key) {
            Entry::Occupied(line) => line.into_mut(),
            Entry::Vacant(room) => {
                // SAFETY: a plain `fcntl` on a descriptor number; the new
                // descriptor is ours alone.
                let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
                if dup < 0 {
                    return Err(std::io::Error::last_os_error()
                        .raw_os_error()
                        .unwrap_or(libc::EMFILE));
                }
                room.insert(Line {
                    // SAFETY: `dup` was just made and is owned by nobody
                    // else.
                    fd: Arc::new(unsafe { OwnedFd::from_raw_fd(dup) }),
                    ordered_running: false,
                    waiting: VecDeque::new(),
                    side_by_side: 0,
                })
            }
        };
        let side = side_by_side(&call);
        self.handed.insert(
            id,
            Handed {
                line: Some(key),
                side_by_side: side,
                opens,
                abandoned: false,
            },
        );
        let work = Work {
            id,
            call,
            fd: Some(line.fd.clone()),
            path,
            gate: Arc::default(),
        };
        if side {
            line.side_by_side += 1;
        } else if line.ordered_running {
            line.waiting.push_back(work);
            return Ok(None);
        } else {
            line.ordered_running = true;
        }
        self.running.insert(id, work.started());
        Ok(Some(work))
    }

    /// `true` if `call` on descriptor `fd` must wait its turn behind an
    /// operation running on the pool (never a positional read: those run
    /// side by side).
    #[cfg(target_os = "linux")]
    pub(crate) fn must_wait(&self, fd: RawFd, call: &Call) -> bool {
        !side_by_side(call)
            && self
                .lines
                .get(&(fd, crate::closes::count(fd)))
                .is_some_and(|line| line.ordered_running)
    }

    /// The pool finished `id`.
    pub(crate) fn finished(&mut self, id: OpId) -> Outcome {
        self.running.remove(&id);
        let Some(handed) = self.handed.remove(&id) else {
            return Outcome {
                opens: false,
                abandoned: true,
                next: None,
            };
        };
        let mut next = None;
        if let Some(key) = handed.line
            && let Some(line) = self.lines.get_mut(&key)
        {
            if handed.side_by_side {
                line.side_by_side -= 1;
            } else {
                next = line.waiting.pop_front();
                match &next {
                    Some(work) => {
                        self.running.insert(work.id(), work.started());
                    }
                    None => line.ordered_running = false,
                }
            }
            if line.idle() {
                self.lines.remove(&key);
            }
        }
        Outcome {
            opens: handed.opens,
            abandoned: handed.abandoned,
            next,
        }
    }

    /// Cancels `id` where it can be.
    pub(crate) fn cancel(&mut self, id: OpId) -> Cancelled {
        let Some(handed) = self.handed.get_mut(&id) else {
            return Cancelled::NotHere;
        };
        if handed.abandoned {
            return Cancelled::Later; // completed already; not again
        }
        if let Some(started) = self.running.get(&id) {
            // Still waiting for a pool thread: withdrawn, never started
            // (its job reports without a call, and its line goes on then).
            let withdrawn = !started.gate.swap(true, Ordering::AcqRel);
            if !withdrawn && !started.cancellable {
                return Cancelled::Later;
            }
            handed.abandoned = true;
            return Cancelled::Now;
        }
        // Waiting in its line: out of it, never started.
        let line = handed.line.and_then(|key| self.lines.get_mut(&key));
        if let Some(line) = line
            && let Some(at) = line.waiting.iter().position(|w| w.id() == id)
        {
            line.waiting.remove(at);
        }
        self.handed.remove(&id);
        Cancelled::Now
    }
}
