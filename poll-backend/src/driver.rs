//! The readiness driver: kasync's completion-driver contract over mio.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kasync::executor::Idle;
use kasync::io::{Completion, Driver, OpId};
use kasync_ops::{
    BufRing, Call, DriverFailure, DriverId, DriverStats, FixedBufPool, FixedFd, already_registered,
    flags, foreign_resource,
};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::attempt::{Attempt, Outcome};
use crate::fds::{Dir, Fds, Kind, Waiter, direction};
use crate::offload::{Cancelled, Finished, Job, Runner, Serial, Work, close_opened, offloaded};
use crate::timers::Timers;

/// The token of the cross-thread waker (descriptors use their number).
const WAKER: Token = Token(usize::MAX);

/// Completions a multishot operation makes per wake-up before the loop
/// moves on (it is tried again next turn): a peer that never stops
/// sending, or a flood of connections, cannot hold the loop.
const MULTISHOT_BURST: u32 = 8;

/// What one event said about a descriptor.
#[derive(Debug, Clone, Copy)]
struct Ready {
    fd: RawFd,
    /// Ready (or closed, or failed) in each direction.
    ready: [bool; 2],
    /// Closed or failed in each direction.
    closed: [bool; 2],
}

/// Where a waiting operation is, so that a cancel finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Fd(RawFd, Dir),
    Timer,
}

/// kasync's [`Driver`] over readiness (epoll on Linux, kqueue elsewhere,
/// through mio); see the [crate docs](crate) for how it emulates
/// completions.
///
/// A descriptor is registered with the poll instance the first time an
/// operation waits on it, and what the driver learns about it (its kind,
/// its registration, whether it is drained) is kept until its number is
/// closed. **Call [`closing`](crate::closing) before closing a
/// descriptor** other than through [`Close`](kasync_ops::ops::Close)
/// (dropping an `OwnedFd`), from any thread: otherwise a new descriptor
/// that gets the same number is taken for the old one and its operations
/// may wait forever — unless the driver made it (accepted and opened
/// descriptors are recognised as new). Operations still waiting on a
/// number that was closed fail with `-EBADF` when the driver next looks at
/// the number.
pub struct PollDriver {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    fds: Fds,
    /// Where each waiting operation is, by op-table index.
    places: Vec<Option<(OpId, Place)>>,
    /// Operations waiting (on descriptors or timers).
    waiting: usize,
    /// Final and multishot completions not yet reaped, in order.
    done: VecDeque<(OpId, Completion)>,
    /// Descriptor queues that may go on without a new readiness event
    /// (a multishot operation stopped after its burst).
    again: Vec<(RawFd, Dir)>,
    timers: Timers,
    stats: DriverStats,
    id: DriverId,
    fixed_bufs: Cell<Option<&'static FixedBufPool>>,
    buf_ring: Cell<Option<&'static BufRing>>,
    next_file: Cell<u32>,
    /// Scratch for one wait's events.
    ready: RefCell<Vec<Ready>>,
    /// The operation the last push finished at once, and where its final
    /// completion is in `done` (for [`Driver::take_inline`]).
    inline: Option<(OpId, usize)>,
    /// Where file work goes, and where its results come back, if set
    /// ([`offload_to`](Self::offload_to)).
    offload: Option<(Runner, Arc<Finished>)>,
    /// The file operations handed to the pool.
    serial: Serial,
    /// Scratch for the results taken from the pool.
    harvest: Vec<(OpId, i32, bool)>,
}

impl PollDriver {
    /// A poll instance and its cross-thread waker.
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            waker,
            fds: Fds::default(),
            places: Vec::new(),
            waiting: 0,
            done: VecDeque::new(),
            again: Vec::new(),
            timers: Timers::default(),
            stats: DriverStats::default(),
            id: DriverId::next(),
            fixed_bufs: Cell::new(None),
            buf_ring: Cell::new(None),
            next_file: Cell::new(0),
            ready: RefCell::new(Vec::new()),
            inline: None,
            offload: None,
            serial: Serial::default(),
            harvest: Vec::new(),
        })
    }

    /// Runs file work — reads and writes of regular files and block
    /// devices, `open`, `fsync`, `statx` — through `run`, which starts
    /// each job on another thread (a thread pool), instead of on the
    /// loop's thread, where a slow disk (or opening a FIFO nobody writes
    /// to) stalls every other operation. `run` gives a job back when it
    /// cannot take it (a full pool): it then runs on the loop's thread.
    /// A read or write the page cache can answer at once
    /// (`RWF_NOWAIT`, Linux) still completes on the loop. The writes, the
    /// reads at the current position and the `fsync`s of one descriptor
    /// run one at a time, in order; see the [crate docs](crate).
    ///
    /// ```
    /// let mut driver = kasync_poll::PollDriver::new()?;
    /// // One thread per job: a real program gives a bounded pool.
    /// driver.offload_to(|job| {
    ///     std::thread::spawn(job);
    ///     Ok(())
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn offload_to(&mut self, run: impl Fn(Job) -> Result<(), Job> + Send + 'static) {
        let finished = Finished::new(Arc::clone(&self.waker));
        self.offload = Some((Box::new(run), finished));
    }

    /// Hands `call` (operation `id`) to the pool if it is file work and a
    /// pool is set: `true` if it did (its completion comes later).
    fn try_offload(&mut self, id: OpId, call: Call) -> bool {
        if self.offload.is_none() {
            return false;
        }
        let mut attempt = Attempt {
            fds: &mut self.fds,
            stats: &mut self.stats,
        };
        let Some(order) = offloaded(&call, |fd| attempt.kind(fd) == Kind::File) else {
            return false;
        };
        // What the page cache answers completes here, unless the
        // descriptor has work queued that must go first.
        #[cfg(target_os = "linux")]
        if let Some(rw) = crate::file_rw::FileRw::of(&call)
            && let (fd, dir) = (rw.fd, rw.dir)
            && !self.serial.must_wait(fd, &call)
            && let Some(state) = self.fds.get(fd)
            && !state.nowait_refused[dir as usize]
        {
            use crate::nowait::Tried;
            match crate::nowait::attempt(&rw, &mut self.stats.calls) {
                Tried::Done(result) => {
                    self.done.push_back((id, Completion::new(result)));
                    self.mark_inline(id);
                    return true;
                }
                Tried::Refused => state.nowait_refused[dir as usize] = true,
                Tried::Pool => {}
            }
        }
        match self.serial.admit(id, call, order) {
            Ok(Some(work)) => self.launch(work),
            Ok(None) => {}
            // Out of descriptors for the duplicate (nothing queued on this
            // descriptor's line): on the loop, as without a pool.
            Err(_) => return false,
        }
        self.stats.offloaded += 1;
        true
    }

    /// Starts `work` on the pool, or here if the pool is full.
    fn launch(&mut self, work: Work) {
        let Some((run, finished)) = &self.offload else {
            return;
        };
        if let Err(job) = run(work.into_job(Arc::clone(finished))) {
            job();
        }
    }

    /// Queues the completions of the file work that finished on the pool,
    /// and starts the operations that waited behind them.
    fn harvest(&mut self) {
        let Some((_, finished)) = &self.offload else {
            return;
        };
        let mut results = std::mem::take(&mut self.harvest);
        finished.take(&mut results);
        for &(id, result, _) in &results {
            let outcome = self.serial.finished(id);
            if outcome.abandoned {
                // Completed by its cancel already.
                if outcome.opens && result >= 0 {
                    close_opened(result);
                }
            } else {
                if outcome.opens && result >= 0 {
                    self.fds.reset(result);
                }
                self.done.push_back((id, Completion::new(result)));
            }
            if let Some(next) = outcome.next {
                self.launch(next);
            }
        }
        results.clear();
        self.harvest = results;
    }

    /// The waker that ends this driver's wait from another thread (give
    /// it to the executor's [`PollPlatform`](crate::PollPlatform)).
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// This driver's identity, which its registered resources carry.
    pub fn id(&self) -> DriverId {
        self.id
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// `count` buffers of `size` bytes, once per driver, for the
    /// fixed-buffer operations (which run as plain reads and writes here).
    /// Same limits as the io_uring backend: `count` 1 to 16384, `size` 1
    /// byte to 1 GiB, else `InvalidInput`.
    pub fn register_buffers(&self, count: u16, size: usize) -> io::Result<&'static FixedBufPool> {
        if self.fixed_bufs.get().is_some() {
            return Err(already_registered());
        }
        let pool: &'static FixedBufPool =
            Box::leak(Box::new(FixedBufPool::new(count, size, self.id)?));
        self.fixed_bufs.set(Some(pool));
        Ok(pool)
    }

    /// The registered buffers, if any.
    pub fn fixed_buffers(&self) -> Option<&'static FixedBufPool> {
        self.fixed_bufs.get()
    }

    /// `count` receive buffers of `size` bytes for multishot receives,
    /// which this driver takes from the ring itself. Once per driver;
    /// `count` a power of two up to 32768.
    pub fn register_buf_ring(&self, count: u16, size: usize) -> io::Result<&'static BufRing> {
        if self.buf_ring.get().is_some() {
            return Err(already_registered());
        }
        let ring: &'static BufRing = Box::leak(Box::new(BufRing::new(count, size, self.id)?));
        self.buf_ring.set(Some(ring));
        Ok(ring)
    }

    /// The receive buffers, if any.
    pub fn buf_ring(&self) -> Option<&'static BufRing> {
        self.buf_ring.get()
    }

    /// A registration of `fd` (used as the plain descriptor here). The
    /// caller keeps `fd` open while it is used.
    pub fn register_file(&self, fd: RawFd) -> io::Result<FixedFd> {
        let index = self.next_file.get();
        self.next_file.set(index.wrapping_add(1));
        Ok(FixedFd::new(index, self.id, fd))
    }

    /// Ends a registration made by [`register_file`](Self::register_file).
    /// One of another driver is refused (`InvalidInput`).
    pub fn unregister_file(&self, fixed: FixedFd) -> io::Result<()> {
        if fixed.owner() != self.id {
            return Err(foreign_resource());
        }
        Ok(())
    }

    /// Notes `id` as finished by its push if its final completion is the
    /// last one queued.
    fn mark_inline(&mut self, id: OpId) {
        self.inline = match self.done.back() {
            Some(&(last, c)) if last == id && !flags::more(c.flags) => {
                Some((id, self.done.len() - 1))
            }
            _ => None,
        };
    }

    /// Fails the operations that waited on descriptors closed since.
    fn fail_stale(&mut self) {
        while let Some(waiter) = self.fds.stale.pop() {
            self.unplace(waiter.id);
            self.done
                .push_back((waiter.id, Completion::new(-libc::EBADF)));
        }
    }

    fn place(&mut self, id: OpId, place: Place) {
        let index = id.index() as usize;
        if index >= self.places.len() {
            self.places.resize(index + 1, None);
        }
        self.places[index] = Some((id, place));
        self.waiting += 1;
    }

    fn unplace(&mut self, id: OpId) {
        if let Some(entry) = self.places.get_mut(id.index() as usize)
            && entry.is_some_and(|(placed, _)| placed == id)
        {
            *entry = None;
            self.waiting -= 1;
        }
    }

    /// Tries `waiter` once; records what came of it. Returns it back if it
    /// must wait (in the direction given) or stopped after its burst.
    fn attempt(&mut self, mut waiter: Waiter, burst: &mut u32) -> Option<(Waiter, Dir)> {
        loop {
            let outcome = Attempt {
                fds: &mut self.fds,
                stats: &mut self.stats,
            }
            .run(&mut waiter);
            match outcome {
                Outcome::Done(completion) => {
                    self.made(&waiter.call, completion.result);
                    self.done.push_back((waiter.id, completion));
                    return None;
                }
                Outcome::More(completion) => {
                    self.made(&waiter.call, completion.result);
                    self.done.push_back((
                        waiter.id,
                        Completion {
                            result: completion.result,
                            flags: completion.flags | flags::MORE,
                        },
                    ));
                    *burst -= 1;
                    if *burst == 0 {
                        return Some((waiter, Dir::Read));
                    }
                    // Drained (a short read): the next arrival raises an
                    // event; trying now would only say `EAGAIN`.
                    if let Some((fd, dir)) = direction(&waiter.call)
                        && self.fds.get(fd).is_some_and(|s| s.drained(dir))
                    {
                        return Some((waiter, dir));
                    }
                }
                Outcome::Wait(dir) => {
                    self.stats.would_block += 1;
                    if let Some((fd, _)) = direction(&waiter.call)
                        && let Some(state) = self.fds.get(fd)
                    {
                        state.set_drained(dir, true);
                    }
                    return Some((waiter, dir));
                }
            }
        }
    }

    /// Notes a descriptor that `call` produced.
    fn made(&mut self, call: &Call, result: i32) {
        if result >= 0
            && matches!(
                call,
                Call::Accept { .. } | Call::AcceptMulti { .. } | Call::OpenAt { .. }
            )
        {
            self.fds.reset(result);
        }
    }

    /// Queues `waiter` on `fd` in direction `dir`, registering `fd` first
    /// if needed. A descriptor that cannot be polled fails the operation
    /// with the registration's error.
    fn wait(&mut self, fd: RawFd, dir: Dir, waiter: Waiter, front: bool) {
        let registry = self.poll.registry();
        let Some(state) = self.fds.get(fd) else {
            self.done
                .push_back((waiter.id, Completion::new(-libc::EBADF)));
            return;
        };
        if !state.registered {
            let token = Token(fd as usize);
            match registry.register(
                &mut SourceFd(&fd),
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                Ok(()) => state.registered = true,
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => state.registered = true,
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EIO);
                    self.done.push_back((waiter.id, Completion::new(-errno)));
                    return;
                }
            }
        }
        let id = waiter.id;
        if front {
            state.queue(dir).push_front(waiter);
        } else {
            state.queue(dir).push_back(waiter);
        }
        self.place(id, Place::Fd(fd, dir));
    }

    /// Tries the operations waiting on `fd` in direction `dir`, in order,
    /// until one would block.
    fn progress(&mut self, fd: RawFd, dir: Dir) {
        let mut burst = MULTISHOT_BURST;
        loop {
            let Some(waiter) = self.fds.get(fd).and_then(|s| s.queue(dir).pop_front()) else {
                return;
            };
            self.unplace(waiter.id);
            if let Some((waiter, wants)) = self.attempt(waiter, &mut burst) {
                let stopped = burst == 0;
                self.wait(fd, wants, waiter, true);
                if stopped {
                    self.again.push((fd, dir));
                }
                return;
            }
            // Drained by that one (a short read or write): the others wait
            // for the next event without a call that would say `EAGAIN`.
            if self.fds.get(fd).is_some_and(|s| s.drained(dir)) {
                return;
            }
        }
    }

    /// One wait for readiness (`timeout` zero: a look), then the queues of
    /// every descriptor that became ready.
    fn poll_once(&mut self, timeout: Option<Duration>) {
        self.stats.enters += 1;
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => DriverFailure::raise(format!("waiting for readiness failed: {e}")),
        }
        let mut ready = self.ready.take();
        ready.clear();
        for event in self.events.iter() {
            if event.token() == WAKER {
                self.stats.wakeups += 1;
                continue;
            }
            let failed = event.is_error();
            let closed = [
                event.is_read_closed() || failed,
                event.is_write_closed() || failed,
            ];
            ready.push(Ready {
                fd: event.token().0 as RawFd,
                ready: [
                    event.is_readable() || closed[0],
                    event.is_writable() || closed[1],
                ],
                closed,
            });
        }
        for event in &ready {
            for dir in [Dir::Read, Dir::Write] {
                if !event.ready[dir as usize] {
                    continue;
                }
                if let Some(state) = self.fds.get(event.fd) {
                    state.set_drained(dir, false);
                    if event.closed[dir as usize] {
                        state.set_closed(dir);
                    }
                }
                self.progress(event.fd, dir);
            }
        }
        self.ready.replace(ready);
    }

    /// Completes the timeouts that are due.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(id) = self.timers.pop_due(now) {
            if self.places.get(id.index() as usize).copied().flatten() == Some((id, Place::Timer)) {
                self.unplace(id);
                self.done.push_back((id, Completion::new(-libc::ETIME)));
            }
        }
    }
}

// SAFETY: every accepted operation either completes inside `push` (its
// final completion queued on `done`), waits in exactly one descriptor
// queue or the timer heap (recorded in `places`) until an attempt
// finishes it, a cancel removes it (then `-ECANCELED` is queued), or its
// descriptor's number is closed (then `-EBADF`, `fail_stale`); it leaves
// the queues only together with queueing its final completion. `done`
// hands each out once — through `reap`, taken off the queue before the
// sink runs, or through `take_inline`, which removes it from the queue.
// A multishot operation's non-final completions carry `MORE` and only its
// final one lacks it (`take_inline` gives only final ones). The driver
// touches an operation's memory only in an attempt, and never after
// queueing its final completion. File work handed to the pool
// (`offload`) is recorded in `serial` instead; its memory is touched only
// by the one job that runs it, and its final completion is queued only
// once that job has reported (`harvest`), or, for one still waiting
// behind another, by its cancel, which drops it unstarted. `build` runs
// before anything is recorded.
unsafe impl Driver for PollDriver {
    type Op = Call;

    fn push(&mut self, id: OpId, build: impl FnOnce() -> Call) -> bool {
        self.inline = None;
        let call = build();
        self.stats.submitted += 1;
        if call.bound().is_some_and(|owner| owner != self.id) {
            // Registered resources of another driver: never run.
            self.done.push_back((id, Completion::new(-libc::EXDEV)));
            self.mark_inline(id);
            return true;
        }
        if let Call::Timeout { ts } = call {
            // SAFETY: `ts` points into the operation, alive until its
            // final completion.
            let after = unsafe { *ts }.to_duration();
            self.timers.add(id, after);
            self.place(id, Place::Timer);
            return true;
        }
        if let Call::Close { fd } = call {
            crate::closing(fd);
        }
        if self.try_offload(id, call) {
            return true;
        }
        let waiter = Waiter {
            id,
            call,
            connecting: false,
        };
        // Behind operations already waiting in the same direction (their
        // data comes first), or waiting at once on a descriptor known to
        // be drained (no call that would only say `EAGAIN`).
        if let Some((fd, dir)) = direction(&call)
            && self
                .fds
                .get(fd)
                .is_some_and(|s| s.waiting(dir) || s.drained(dir))
        {
            self.wait(fd, dir, waiter, false);
            self.fail_stale();
            return true;
        }
        let mut burst = MULTISHOT_BURST;
        if let Some((waiter, dir)) = self.attempt(waiter, &mut burst) {
            let fd = direction(&call).map_or(-1, |(fd, _)| fd);
            self.wait(fd, dir, waiter, false);
            if burst == 0 {
                self.again.push((fd, dir));
            }
        } else {
            self.mark_inline(id);
        }
        self.fail_stale();
        true
    }

    const COMPLETES_INLINE: bool = true;

    fn take_inline(&mut self, id: OpId) -> Option<Completion> {
        let (finished, at) = self.inline.take()?;
        if finished != id || self.done.get(at).is_none_or(|&(queued, _)| queued != id) {
            return None;
        }
        let (_, completion) = self.done.remove(at)?;
        self.stats.completions += 1;
        Some(completion)
    }

    fn has_more(completion: &Completion) -> bool {
        flags::more(completion.flags)
    }

    fn push_cancel(&mut self, id: OpId) -> bool {
        match self.serial.cancel(id) {
            Cancelled::NotHere => {}
            Cancelled::Now => {
                self.done.push_back((id, Completion::new(-libc::ECANCELED)));
                return true;
            }
            // Running on the operation's memory: it completes with its
            // result.
            Cancelled::Later => return true,
        }
        let Some(&Some((placed, place))) = self.places.get(id.index() as usize) else {
            return true; // not waiting: it completes (or completed) anyway
        };
        if placed != id {
            return true;
        }
        if let Place::Fd(fd, dir) = place {
            let found = self.fds.get(fd).and_then(|state| {
                let queue = state.queue(dir);
                let at = queue.iter().position(|w| w.id == id)?;
                queue.remove(at)
            });
            // Its descriptor was closed meanwhile: it is among the stale
            // ones, and completes as cancelled instead.
            if found.is_none()
                && let Some(at) = self.fds.stale.iter().position(|w| w.id == id)
            {
                self.fds.stale.swap_remove(at);
            }
        }
        self.unplace(id);
        if place == Place::Timer {
            // It stays in the heap until due or swept; `expire` skips it.
            let places = &self.places;
            self.timers.cancelled(|id| {
                places.get(id.index() as usize).copied().flatten() == Some((id, Place::Timer))
            });
        }
        self.done.push_back((id, Completion::new(-libc::ECANCELED)));
        self.fail_stale();
        true
    }

    fn flush(&mut self) {
        // Calls are made when pushed: nothing is held back.
    }

    fn reap(&mut self, mut sink: impl FnMut(OpId, Completion)) {
        self.harvest();
        while let Some((id, completion)) = self.done.pop_front() {
            self.stats.completions += 1;
            sink(id, completion);
        }
    }

    fn park(&mut self, timeout: Option<Duration>, idle: &Idle<'_>) {
        for (fd, dir) in std::mem::take(&mut self.again) {
            self.progress(fd, dir);
        }
        self.fail_stale();
        self.harvest();
        let busy = !idle.is_idle() || !self.done.is_empty() || !self.again.is_empty();
        if busy {
            // A look at what became ready meanwhile, if anything can.
            if self.waiting > 0 {
                self.poll_once(Some(Duration::ZERO));
                self.expire();
                self.fail_stale();
            }
            return;
        }
        let timeout = match (timeout, self.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // File work on the pool ends this wait through the waker.
        self.poll_once(timeout);
        self.expire();
        self.fail_stale();
        self.harvest();
    }
}

impl Drop for PollDriver {
    fn drop(&mut self) {
        // Operations abandoned on the pool (an `open` that still blocks)
        // report to nobody from now on.
        if let Some((_, finished)) = &self.offload {
            finished.close();
        }
    }
}

impl std::fmt::Debug for PollDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollDriver")
            .field("waiting", &self.waiting)
            .field("stats", &self.stats)
            .finish()
    }
}
