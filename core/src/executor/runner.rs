//! The run loop: the one context that polls tasks.

use core::cell::Cell;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::pin::pin;
use core::task::{Context, Poll};

use super::drive::{Drive, PlatformDrive};
use super::join::JoinHandle;
use super::platform::{Idle, Platform};
use super::ready::Batch;
use super::shared::{FreedCount, Shared};
use super::slot::{Header, Slot, TaskVTable};
use super::state::{self, ABORT, ALIVE, HANDLE, OUTPUT, PANICKED, RUNNING};
use super::waker::{root_waker, task_waker};
use super::{Executor, SpawnError};
use crate::atomics::Ordering;

/// How many tasks `block_on` and `run` poll between two looks at the root
/// future and the platform.
const BUDGET: u32 = 64;

/// What one call of [`Runner::tick`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickStats {
    /// Tasks taken from the ready queue (each is polled, dropped if aborted,
    /// or skipped if it already finished).
    pub dequeued: u32,
    /// Tasks polled.
    pub polled: u32,
    /// Tasks that finished (returned `Ready`, were aborted or panicked).
    pub completed: u32,
    /// `true` if ready tasks are left over: call `tick` again before idling.
    pub ready_left: bool,
}

/// The right to run an executor: poll its tasks, drive `block_on`, spawn
/// `!Send` futures. There is at most one per executor at a time, and it
/// cannot leave the thread (or interrupt level) that claimed it, so `!Send`
/// tasks are only ever touched there.
///
/// Dropping the runner **shuts the executor down**: every unfinished task's
/// future is dropped (on this thread), their `JoinHandle`s resolve to
/// [`JoinError::Cancelled`](super::JoinError::Cancelled), and the executor
/// can be claimed again with [`Executor::runner`].
pub struct Runner<P: Platform + 'static, const N: usize, const S: usize> {
    exec: &'static Executor<P, N, S>,
    /// Remainder of the word of ready tasks taken from the queue.
    batch: Cell<Batch>,
    /// Where the ready queue's round-robin continues.
    cursor: Cell<usize>,
    /// Guards against `tick` re-entered from a task being polled.
    ticking: Cell<bool>,
    /// Guards against `block_on` nested inside `block_on`.
    blocking: Cell<bool>,
    _not_send: PhantomData<*const ()>,
}

/// Resets a re-entrancy flag when the guarded call returns or unwinds.
struct FlagGuard<'a>(&'a Cell<bool>);

impl Drop for FlagGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl<'a> FlagGuard<'a> {
    fn enter(flag: &'a Cell<bool>, what: &str) -> Self {
        assert!(!flag.replace(true), "{what}");
        FlagGuard(flag)
    }
}

/// On unwind out of a task's poll: drops the future unless it was already
/// being dropped, and finishes the task as panicked.
struct PanicGuard<'a> {
    header: &'a Header,
    freed: &'a FreedCount,
    vtable: &'static TaskVTable,
    storage: *mut u8,
    dropping: &'a Cell<bool>,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if !self.dropping.get() {
            self.dropping.set(true);
            // SAFETY: the task's future is live (the panic came from its
            // poll, not its drop) and is this run loop's (`ALIVE` is set).
            unsafe { (self.vtable.drop_future)(self.storage) };
        }
        // SAFETY: the future is gone and `ALIVE` is still set.
        unsafe {
            finish(
                self.header,
                self.freed,
                self.vtable,
                self.storage,
                Outcome::Panicked,
            )
        };
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Output,
    Cancelled,
    Panicked,
}

/// Marks a task finished and hands its output (if any) to its handle.
///
/// The state is settled first; user code — the output's `Drop` when no
/// handle wants it, the handle's waker — runs after, with `RUNNING` still
/// keeping the slot, which a guard gives back also if that code unwinds.
///
/// # Safety
/// The caller is the run loop, the task is still `ALIVE`, its future has
/// been dropped, and for `Outcome::Output` the output has been written to
/// `storage`.
unsafe fn finish(
    header: &Header,
    freed: &FreedCount,
    vtable: &TaskVTable,
    storage: *mut u8,
    outcome: Outcome,
) {
    /// Gives the run loop's `RUNNING` reference back when dropped.
    struct ReleaseRunning<'a>(&'a Header, &'a FreedCount);
    impl Drop for ReleaseRunning<'_> {
        fn drop(&mut self) {
            let freed = self.1;
            self.0.release(RUNNING, || freed.by_run_loop());
        }
    }
    let extra = if outcome == Outcome::Panicked {
        PANICKED
    } else {
        0
    };
    let mut s = header.state.load(Ordering::Acquire);
    // With no handle (a detached task, or its handle is gone — a handle
    // never reappears), nothing of the task is wanted: if no output drop
    // has to run either, the slot is freed in this one step. And a plain
    // store does it: without a handle nobody but the run loop writes the
    // state of an `ALIVE` slot (spawners claim only free slots, wakers only
    // read, `abort` needs the handle). Release: whoever claims the slot
    // next sees the future's drop done.
    if s & HANDLE == 0 && (outcome != Outcome::Output || !vtable.output_needs_drop) {
        header.state.store(state::freed(s), Ordering::Release);
        freed.by_run_loop();
        return;
    }
    let keep_output = loop {
        // A handle never reappears once gone: without one, nobody can
        // take the output, and it is dropped below.
        let keep = outcome == Outcome::Output && s & HANDLE != 0;
        // `RUNNING` keeps the slot ours until the handle has been woken.
        let new = (s & !ALIVE) | RUNNING | extra | if keep { OUTPUT } else { 0 };
        match header
            .state
            .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break keep,
            Err(actual) => s = actual,
        }
    };
    let _release = ReleaseRunning(header, freed);
    if outcome == Outcome::Output && !keep_output {
        // SAFETY: per the caller the output is in `storage`; no handle can
        // reach it, and `RUNNING` keeps the slot from being reused.
        unsafe { (vtable.drop_output)(storage) };
    }
    if s & HANDLE != 0 {
        header.join_waker.wake();
    }
}

/// Drops the live future in `slot` and finishes the task as cancelled.
///
/// # Safety
/// The caller is the run loop and the task is `ALIVE`.
unsafe fn cancel<const S: usize>(slot: &Slot<S>, freed: &FreedCount) {
    let header = &slot.header;
    // SAFETY: the task is alive (caller), so its vtable is set.
    let vtable = unsafe { header.vtable() };
    let storage = slot.storage_ptr();
    let dropping = Cell::new(true);
    let guard = PanicGuard {
        header,
        freed,
        vtable,
        storage,
        dropping: &dropping,
    };
    // SAFETY: the future is live and belongs to the run loop.
    unsafe { (vtable.drop_future)(storage) };
    core::mem::forget(guard);
    // SAFETY: the future was just dropped; the task is still `ALIVE`.
    unsafe { finish(header, freed, vtable, storage, Outcome::Cancelled) };
}

impl<P: Platform + 'static, const N: usize, const S: usize> Runner<P, N, S> {
    pub(crate) fn new(exec: &'static Executor<P, N, S>) -> Self {
        Self {
            exec,
            batch: Cell::new(Batch::default()),
            cursor: Cell::new(0),
            ticking: Cell::new(false),
            blocking: Cell::new(false),
            _not_send: PhantomData,
        }
    }

    /// The executor this runner drives.
    pub fn executor(&self) -> &'static Executor<P, N, S> {
        self.exec
    }

    /// Spawns a future that need not be `Send`; it is only ever polled and
    /// dropped on this runner's thread.
    ///
    /// The future must fit the executor's slot size `S`, checked at compile
    /// time; use [`try_spawn_local`](Self::try_spawn_local) to check at run
    /// time instead. A full executor is [`SpawnError::Full`].
    pub fn spawn_local<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        const { super::assert_fits::<F, S>() };
        // SAFETY: `!Send` futures are only polled and dropped by this
        // runner, which cannot leave this thread; shutdown (dropping the
        // runner) drops them here too.
        unsafe { self.exec.spawn_unchecked(future) }.map_err(|r| r.error)
    }

    /// [`spawn_local`](Self::spawn_local) without a [`JoinHandle`]: the
    /// task runs on its own and its output is dropped when it finishes
    /// (see [`Executor::spawn_detached`](super::Executor::spawn_detached)).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use kasync::executor::{Executor, Spin};
    ///
    /// static EXECUTOR: Executor<Spin, 2, 64> = Executor::new(Spin);
    /// let runner = EXECUTOR.runner().unwrap();
    /// let seen = Rc::new(Cell::new(0)); // `!Send`: fine on the runner
    /// let in_task = seen.clone();
    /// runner.spawn_local_detached(async move { in_task.set(7) }).unwrap();
    /// runner.tick(u32::MAX);
    /// assert_eq!(seen.get(), 7);
    /// ```
    pub fn spawn_local_detached<F>(&self, future: F) -> Result<(), SpawnError>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        const { super::assert_fits::<F, S>() };
        // SAFETY: as in `spawn_local`.
        unsafe { self.exec.spawn_detached_unchecked(future) }.map_err(|r| r.error)
    }

    /// [`try_spawn_local`](Self::try_spawn_local) that hands the future
    /// back when it cannot be spawned — no slot free ([`SpawnError::Full`]
    /// at the executor's limit, [`SpawnError::OutOfMemory`]) or too large —
    /// so the caller can wait (for example until
    /// [`Executor::freed_slots`](super::Executor::freed_slots) moves) and
    /// try again instead of losing it. Sizes are checked at run time.
    ///
    /// ```
    /// use kasync::executor::{Executor, Spin};
    ///
    /// static EXECUTOR: Executor<Spin, 1, 64> = Executor::new(Spin);
    /// let runner = EXECUTOR.runner().unwrap();
    /// let first = runner.spawn_local(async { 1 }).unwrap();
    /// let rejected = runner.spawn_local_or_return(async { 2 }).unwrap_err();
    /// assert_eq!(runner.block_on(first), Ok(1)); // its slot is free again
    /// let second = runner.spawn_local_or_return(rejected.future).unwrap();
    /// assert_eq!(runner.block_on(second), Ok(2));
    /// ```
    pub fn spawn_local_or_return<F>(
        &self,
        future: F,
    ) -> Result<JoinHandle<F::Output>, super::Rejected<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if let Err(error) = super::check_fits::<F, S>() {
            return Err(super::Rejected { error, future });
        }
        // SAFETY: as in `spawn_local`.
        unsafe { self.exec.spawn_unchecked(future) }
    }

    /// [`spawn_local_detached`](Self::spawn_local_detached) with the size
    /// check at run time, handing the future back when it cannot be
    /// spawned (as [`spawn_local_or_return`](Self::spawn_local_or_return)).
    ///
    /// ```
    /// use kasync::executor::{Executor, Spin};
    ///
    /// static EXECUTOR: Executor<Spin, 1, 64> = Executor::new(Spin);
    /// let runner = EXECUTOR.runner().unwrap();
    /// runner.spawn_local_detached_or_return(async {}).unwrap();
    /// let rejected = runner.spawn_local_detached_or_return(async {}).unwrap_err();
    /// runner.tick(u32::MAX); // the first runs and frees its slot
    /// runner.spawn_local_detached_or_return(rejected.future).unwrap();
    /// ```
    pub fn spawn_local_detached_or_return<F>(&self, future: F) -> Result<(), super::Rejected<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if let Err(error) = super::check_fits::<F, S>() {
            return Err(super::Rejected { error, future });
        }
        // SAFETY: as in `spawn_local`.
        unsafe { self.exec.spawn_detached_unchecked(future) }
    }

    /// [`spawn_local`](Self::spawn_local) with the size check at run time:
    /// a future too large for the slots is [`SpawnError::TooLarge`].
    pub fn try_spawn_local<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        super::check_fits::<F, S>()?;
        // SAFETY: as in `spawn_local`.
        unsafe { self.exec.spawn_unchecked(future) }.map_err(|r| r.error)
    }

    /// Polls up to `budget` ready tasks and returns what it did. Never
    /// blocks. Ready tasks are taken a bitmap word (up to 64 tasks) at a
    /// time, words round-robin, and polled in slot order; a task woken while
    /// its word's batch runs — a task that wakes itself, say — is polled
    /// again only after every other word was visited, so it cannot starve
    /// other tasks.
    ///
    /// # Panics
    /// If called from inside a task this runner is polling.
    pub fn tick(&self, budget: u32) -> TickStats {
        let _guard = FlagGuard::enter(&self.ticking, "Runner::tick called from inside a task");
        let ready = &self.exec.shared.ready;
        let mut stats = TickStats::default();
        let mut batch = self.batch.get();
        while stats.dequeued < budget {
            let Some(index) = batch.pop() else {
                let mut cursor = self.cursor.get();
                let taken = ready.take(&mut cursor);
                self.cursor.set(cursor);
                match taken {
                    Some(taken) => batch = taken,
                    None => break,
                }
                continue;
            };
            // Keep the rest of the batch in the runner while the task runs,
            // in case the task panics out of this call.
            self.batch.set(batch);
            stats.dequeued += 1;
            self.run_task(index, &mut stats);
        }
        self.batch.set(batch);
        stats.ready_left = !batch.is_empty() || !ready.is_empty();
        stats
    }

    /// Polls (or drops, if aborted) the task at `index`, which the caller
    /// took out of the ready queue.
    fn run_task(&self, index: usize, stats: &mut TickStats) {
        let Some(slot_ptr) = self.exec.slot_ptr(index) else {
            // Every index in the queue came from an existing slot.
            return;
        };
        // SAFETY: slots are initialised and live as long as the executor.
        let slot: &Slot<S> = unsafe { slot_ptr.as_ref() };
        let header = &slot.header;
        // Acquire: pairs with the spawner's Release of `ALIVE`, so the
        // future and vtable it wrote are visible.
        let s = header.state.load(Ordering::Acquire);
        if s & ALIVE == 0 {
            // A stale wake: the task finished after it was woken.
            return;
        }
        // `ALIVE` (which only the run loop clears) keeps the slot ours. The
        // task is out of the queue, so from here on a wake enqueues it again.
        stats.polled += 1;
        if s & ABORT != 0 {
            stats.completed += 1;
            // SAFETY: this is the run loop and the task is `ALIVE`.
            unsafe { cancel(slot, &self.exec.shared.freed) };
            return;
        }
        // SAFETY: `ALIVE` was observed with Acquire.
        let vtable = unsafe { header.vtable() };
        let storage = slot.storage_ptr();
        let dropping = Cell::new(false);
        let guard = PanicGuard {
            header,
            freed: &self.exec.shared.freed,
            vtable,
            storage,
            dropping: &dropping,
        };
        // A task waker's drop does nothing: not running it saves an
        // indirect call per poll.
        // SAFETY: the header pointer comes from the `'static` executor with
        // its full provenance.
        // (`Header` is the first field of the `repr(C)` slot.)
        let waker = unsafe { task_waker(slot_ptr.cast::<Header>().as_ptr(), state::tag(s)) };
        let waker = ManuallyDrop::new(waker);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: the future is live, pinned in its slot, and only this run
        // loop touches it while it is `ALIVE`.
        let poll = unsafe { (vtable.poll)(storage, &mut cx, &dropping) };
        core::mem::forget(guard);
        match poll {
            Poll::Pending => {}
            Poll::Ready(()) => {
                stats.completed += 1;
                // SAFETY: the future was dropped and its output written.
                unsafe {
                    finish(
                        header,
                        &self.exec.shared.freed,
                        vtable,
                        storage,
                        Outcome::Output,
                    )
                };
            }
        }
    }

    /// Parks through `drive` until a wake (or a spurious return), unless
    /// work is already queued; then turns it, with the sleeping flag
    /// cleared, so the completions it reaps wake their tasks without
    /// pending the platform. Called with no batch in hand (see
    /// [`turn_or_park`](Self::turn_or_park)).
    fn park(&self, drive: &impl Drive) {
        debug_assert!(self.batch.get().is_empty(), "parked with tasks in hand");
        let shared = &self.exec.shared;
        if shared.ready.start_sleeping() {
            /// Clears the sleeping flag when the park returns — or unwinds
            /// (a platform or driver that panics): wakes would otherwise
            /// pend a loop that is not parked.
            struct Awake<'a>(&'a Shared);
            impl Drop for Awake<'_> {
                fn drop(&mut self) {
                    self.0.ready.stop_sleeping();
                }
            }
            let _awake = Awake(shared);
            drive.park(&Idle::new(shared));
        }
        drive.turn();
    }

    /// With work still ready, turns `drive` without blocking; otherwise
    /// parks on it straight away — parking submits and waits in one step,
    /// so an idle loop makes one system call per wake-up, not two.
    fn turn_or_park(&self, drive: &impl Drive) {
        if self.has_ready() {
            drive.turn();
        } else {
            self.park(drive);
        }
    }

    /// `true` if a task or the root future is ready to run.
    fn has_ready(&self) -> bool {
        !self.batch.get().is_empty() || !self.exec.shared.ready.is_empty()
    }

    /// Runs `future` to completion on this thread, running spawned tasks
    /// meanwhile and parking through the platform when nothing is ready.
    ///
    /// # Panics
    /// If called from inside another `block_on` or a task of this runner.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.block_on_with(&PlatformDrive(&self.exec.platform), future)
    }

    /// [`block_on`](Self::block_on) with `drive` turned every loop and
    /// parked on when nothing is ready — e.g. an I/O
    /// [`Reactor`](crate::io::Reactor) with its timers.
    ///
    /// A panic of a task (or of code the drive runs) unwinds out of this
    /// call with the executor's and the reactor's state settled: a std
    /// host may catch it and call `block_on_with` again with the same
    /// pinned future (it is polled once more on entry).
    ///
    /// # Panics
    /// If called from inside another `block_on` or a task of this runner.
    pub fn block_on_with<D: Drive, F: Future>(&self, drive: &D, future: F) -> F::Output {
        let _guard = FlagGuard::enter(&self.blocking, "Runner::block_on cannot be nested");
        let exec = self.exec;
        let mut future = pin!(future);
        let shared: *const Shared = exec.shared_ptr();
        // SAFETY: `shared` comes from the `'static` executor with its full
        // provenance.
        let waker = unsafe { root_waker(shared) };
        let mut cx = Context::from_waker(&waker);
        // The first poll needs no wake.
        let mut poll_root = true;
        loop {
            if core::mem::take(&mut poll_root) || exec.shared.ready.take_root() {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            self.tick(BUDGET);
            self.turn_or_park(drive);
        }
    }

    /// Runs tasks forever, parking through the platform when none is ready
    /// — the main loop of a kernel.
    pub fn run(&self) -> ! {
        self.run_with(&PlatformDrive(&self.exec.platform))
    }

    /// [`run`](Self::run) with `drive` turned every loop and parked on.
    pub fn run_with(&self, drive: &impl Drive) -> ! {
        loop {
            self.tick(BUDGET);
            // No root future here: a stray root wake means nothing.
            self.exec.shared.ready.take_root();
            self.turn_or_park(drive);
        }
    }

    /// Drops the future of every unfinished task from slot `from` on
    /// (shutdown). A future whose drop panics is finished as panicked, and
    /// the rest are still dropped while the panic unwinds (a second panic
    /// then aborts, as any panic during an unwind does).
    fn cancel_all(&self, from: usize) {
        /// Goes on with the slots after `.1` if dropped by an unwind.
        struct Rest<'a, P: Platform + 'static, const N: usize, const S: usize>(
            &'a Runner<P, N, S>,
            usize,
        );
        impl<P: Platform + 'static, const N: usize, const S: usize> Drop for Rest<'_, P, N, S> {
            fn drop(&mut self) {
                self.0.cancel_all(self.1 + 1);
            }
        }
        for index in from..self.exec.capacity() {
            let Some(slot) = self.exec.slot(index) else {
                continue;
            };
            let header = &slot.header;
            let s = header.state.load(Ordering::Acquire);
            if s & ALIVE == 0 {
                continue;
            }
            let rest = Rest(self, index);
            // SAFETY: this is the run loop (no poll is under way: `self`
            // is being dropped) and the task is `ALIVE`.
            unsafe { cancel(slot, &self.exec.shared.freed) };
            core::mem::forget(rest);
        }
    }

    /// Hands the tasks of the runner's unfinished batch back to the ready
    /// queue, so tasks spawned while it shut down still run under the next
    /// runner. Entries of finished tasks need no cleanup: the queue holds no
    /// reference to a slot, and the next runner skips them.
    fn return_batch(&self) {
        let mut batch = self.batch.take();
        while let Some(index) = batch.pop() {
            let Some(slot) = self.exec.slot(index) else {
                continue;
            };
            let header = &slot.header;
            if header.state.load(Ordering::Acquire) & ALIVE != 0 {
                // SAFETY: `shared_ptr` has whole-executor provenance.
                unsafe { Shared::enqueue(self.exec.shared_ptr(), header) };
            }
        }
    }
}

impl<P: Platform + 'static, const N: usize, const S: usize> Drop for Runner<P, N, S> {
    /// If a task's future panics when dropped, every other task is still
    /// dropped and the executor can still be claimed again; the panic then
    /// leaves the drop.
    fn drop(&mut self) {
        /// Hands the executor back, also when a task's drop unwinds.
        struct HandBack<'a, P: Platform + 'static, const N: usize, const S: usize>(
            &'a Runner<P, N, S>,
        );
        impl<P: Platform + 'static, const N: usize, const S: usize> Drop for HandBack<'_, P, N, S> {
            fn drop(&mut self) {
                self.0.return_batch();
                self.0
                    .exec
                    .shared
                    .runner_claimed
                    .store(false, Ordering::Release);
            }
        }
        let _hand_back = HandBack(self);
        self.cancel_all(0);
    }
}
