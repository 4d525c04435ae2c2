//! The reactor: a backend, the op table that owns every operation in
//! flight, and the timers — everything the run loop turns besides tasks.

use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::marker::PhantomPinned;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::Waker;
use core::time::Duration;

use super::handle::Handle;
use super::slot::{self, CancelState, OpSlot, OpVTable, State};
use super::{Completion, Driver, OpId, Operation};
use crate::chunk::{Chunks, Growth};
use crate::executor::{Drive, Idle, WakeBatch};
use crate::list::{List, Node};
use crate::storage;
use crate::time::{Clock, Timers};

/// A node an [`Op`] links into the reactor while it waits for a free slot.
pub(crate) type FreeWaiter = Node<Cell<Option<Waker>>>;

/// A completion-driven I/O backend `D`, its op table of `M` slots of `K`
/// bytes, and timers on clock `C`.
///
/// The reactor belongs to one run loop (it is `!Sync`) and must be pinned
/// before use: operations live *inside* it while the backend works on
/// them, and pinning guarantees that its memory is not reused before
/// [`Drop`] has cancelled every operation and waited for its completion.
/// Get a [`Handle`] with [`handle`](Reactor::handle) to submit operations
/// and start timers, and pass the reactor to
/// [`Runner::block_on_with`](crate::executor::Runner::block_on_with) (or
/// [`run_with`](crate::executor::Runner::run_with)) to drive it.
///
/// # Back-pressure
///
/// * Op table full: a submission waits (its future stays pending) until a
///   slot is free. Waiters are served in the order they came: a freed
///   slot is promised to the first in line, and newcomers queue behind
///   the line instead of taking promised slots.
/// * Backend queue full: the operation stays in its slot and is handed to
///   the backend on a later turn, after the queue was flushed. Held-back
///   operations (and cancels) go first come, first served: later
///   submissions queue behind them.
///
/// A claim takes the slot freed last (still in the cache), and no turn
/// scans the table: held-back work and completions each wait on a list.
///
/// # Shutdown and `'static` storage
///
/// Dropping the reactor — or calling [`shutdown`](Reactor::shutdown) —
/// cancels every operation the backend still holds and blocks until each
/// has completed; only then are their buffers released. A reactor in a
/// `static` is never dropped: call `shutdown` to quiesce it.
pub struct Reactor<D: Driver, C: Clock, const M: usize, const K: usize = 128> {
    driver: UnsafeCell<D>,
    driver_busy: Cell<bool>,
    timers: Timers<C>,
    slots: [OpSlot<D, K>; M],
    /// Slots beyond the inline ones (none unless built growing).
    chunks: Chunks,
    /// The most recently freed slot (index + 1; 0: none). Free slots form
    /// a stack through [`OpSlot::next_free`], so a claim reuses the slot
    /// that was freed last — the one still in the cache.
    free_head: Cell<u32>,
    /// Slots from here on were never used (and are on no stack).
    fresh: Cell<u32>,
    /// Slots not `Free`.
    occupied: Cell<usize>,
    /// Slots the backend may still touch (`InFlight` or `Orphaned`).
    backend_owned: Cell<usize>,
    /// Slots that wait for room in the backend's queue — `Unsubmitted`, or
    /// with a cancel `Wanted` — first to last (index + 1, 0 ends), so a
    /// turn retries them in order without scanning the table. A slot
    /// leaves the list when it is freed (a reused slot queues last, never
    /// in the place of the operation it held before); an entry can still
    /// be stale (its cancel outlived by a completion), so the retry
    /// re-checks each.
    retry_head: Cell<u32>,
    retry_tail: Cell<u32>,
    /// Slots completed during a reap and not yet handled (index + 1, 0 ends).
    done_head: Cell<u32>,
    /// Submissions waiting for a free slot, in line order.
    free_waiters: List<Cell<Option<Waker>>>,
    /// Free slots promised to waiters that were woken for them and have
    /// not taken them yet; newcomers leave that many free slots alone.
    offers: Cell<usize>,
    _pinned: PhantomPinned,
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> Reactor<D, C, M, K> {
    crate::atomics::const_fn! {
        /// A reactor over `driver`, with timers reading `clock`.
        pub fn new(driver: D, clock: C) -> Self {
            const { assert!(M > 0 && M < u32::MAX as usize, "M must be at least 1") };
            Self {
                driver: UnsafeCell::new(driver),
                driver_busy: Cell::new(false),
                timers: Timers::new(clock),
                slots: [const { OpSlot::new() }; M],
                chunks: Self::chunks(None),
                free_head: Cell::new(0),
                fresh: Cell::new(0),
                occupied: Cell::new(0),
                backend_owned: Cell::new(0),
                retry_head: Cell::new(0),
                retry_tail: Cell::new(0),
                done_head: Cell::new(0),
                free_waiters: List::new(),
                offers: Cell::new(0),
                _pinned: PhantomPinned,
            }
        }
    }

    /// Builds a reactor in place — for op tables too large for the stack
    /// (a `Box::new_uninit`, a leaked allocation); no reactor-sized
    /// temporary is made.
    pub fn init(place: &mut MaybeUninit<Self>, driver: D, clock: C) -> &mut Self {
        Self::init_with(place, driver, clock, None)
    }

    /// Builds a *growing* reactor in place: `M` op slots inline, and when
    /// every slot is taken a submission adds a chunk of
    /// [`Growth::slots_per_chunk`] slots from the growth's allocator, up to
    /// [`Growth::max_slots`]. At the limit (or with no memory) submissions
    /// wait for a free slot, as in a fixed table. The chunks are freed
    /// when the reactor is dropped, after its shutdown.
    pub fn init_growing(
        place: &mut MaybeUninit<Self>,
        driver: D,
        clock: C,
        growth: Growth,
    ) -> &mut Self {
        Self::init_with(place, driver, clock, Some(growth))
    }

    crate::atomics::const_fn! {
        /// The chunk table for `growth`.
        fn chunks(growth: Option<Growth>) -> Chunks {
            Chunks::new(
                growth,
                M,
                size_of::<OpSlot<D, K>>(),
                align_of::<OpSlot<D, K>>(),
                0,
            )
        }
    }

    fn init_with(
        place: &mut MaybeUninit<Self>,
        driver: D,
        clock: C,
        growth: Option<Growth>,
    ) -> &mut Self {
        const { assert!(M > 0 && M < u32::MAX as usize, "M must be at least 1") };
        let this = place.as_mut_ptr();
        // SAFETY: every field is written exactly once through raw pointers
        // into `place`, which is valid for writes; no reference to the
        // uninitialised value is made.
        unsafe {
            (&raw mut (*this).driver).write(UnsafeCell::new(driver));
            (&raw mut (*this).driver_busy).write(Cell::new(false));
            (&raw mut (*this).timers).write(Timers::new(clock));
            let slots = (&raw mut (*this).slots).cast::<OpSlot<D, K>>();
            for i in 0..M {
                slots.add(i).write(OpSlot::new());
            }
            (&raw mut (*this).chunks).write(Self::chunks(growth));
            (&raw mut (*this).free_head).write(Cell::new(0));
            (&raw mut (*this).fresh).write(Cell::new(0));
            (&raw mut (*this).occupied).write(Cell::new(0));
            (&raw mut (*this).backend_owned).write(Cell::new(0));
            (&raw mut (*this).retry_head).write(Cell::new(0));
            (&raw mut (*this).retry_tail).write(Cell::new(0));
            (&raw mut (*this).done_head).write(Cell::new(0));
            (&raw mut (*this).free_waiters).write(List::new());
            (&raw mut (*this).offers).write(Cell::new(0));
            (&raw mut (*this)._pinned).write(PhantomPinned);
            &mut *this
        }
    }

    /// The handle to submit operations and start timers with.
    pub fn handle(self: Pin<&Self>) -> Handle<'_, D, C, M, K> {
        Handle::new(self)
    }

    /// The timers.
    pub fn timers(&self) -> &Timers<C> {
        &self.timers
    }

    /// Operations the backend may still be working on (their memory is
    /// not released before they complete).
    pub fn in_flight(&self) -> usize {
        self.backend_owned.get()
    }

    /// Op-table slots in use.
    pub fn occupied(&self) -> usize {
        self.occupied.get()
    }

    /// Op-table slots now: `M`, plus those of the chunks a growing reactor
    /// has added.
    pub fn capacity(&self) -> usize {
        self.chunks.capacity()
    }

    /// Runs `f` with shared access to the backend — for what users need
    /// of it (statistics, registrations through its own `&self` methods).
    ///
    /// There is no safe `&mut` access: replacing or swapping a driver that
    /// has operations in flight would hand their completions to the wrong
    /// op table (see [`with_driver_mut`](Self::with_driver_mut)). This does
    /// not compile:
    ///
    /// ```compile_fail,E0308
    /// use core::pin::pin;
    /// use kasync::io::{Reactor, sim::SimDriver};
    /// use kasync::time::ManualClock;
    ///
    /// let clock = ManualClock::new(1_000);
    /// let a = pin!(Reactor::<_, _, 8>::new(SimDriver::<8>::new(&clock), &clock));
    /// let mut other = SimDriver::<8>::new(&clock);
    /// a.with_driver(|d| core::mem::swap(d, &mut other));
    /// ```
    ///
    /// # Panics
    /// If the backend is already in use further up the stack (for example
    /// a foreign waker that re-enters the reactor while it reaps).
    pub fn with_driver<R>(&self, f: impl FnOnce(&D) -> R) -> R {
        self.driver_mut(|d| f(d))
    }

    /// Runs `f` with exclusive access to the backend.
    ///
    /// # Safety
    /// `f` keeps the [`Driver`] contract towards the operations in flight:
    /// it does not replace, swap or reset the driver (its queues, its
    /// record of what is in flight), so each of them is still reported
    /// exactly once by *this* driver, and only then released.
    ///
    /// # Panics
    /// As [`with_driver`](Self::with_driver).
    pub unsafe fn with_driver_mut<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        self.driver_mut(f)
    }

    /// The one place that borrows the driver mutably.
    fn driver_mut<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        struct Release<'a>(&'a Cell<bool>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        assert!(
            !self.driver_busy.replace(true),
            "the reactor's driver is already in use (re-entered from inside a reap?)"
        );
        let _release = Release(&self.driver_busy);
        // SAFETY: the busy flag makes this the only reference to the driver
        // until `_release` resets it; the reactor is `!Sync`.
        f(unsafe { &mut *self.driver.get() })
    }

    /// Hands the operations queued so far to the backend now
    /// ([`Driver::flush`]) instead of at the run loop's next turn. Call it
    /// before closing a descriptor that queued operations (or their
    /// cancellations) name by number: a backend that batches submissions
    /// would otherwise issue them after the close — against whatever new
    /// descriptor gets the number. Does nothing when called from inside
    /// the driver (a completion handler).
    pub fn submit_queued(&self) {
        if !self.driver_busy.get() {
            self.driver_mut(|d| d.flush());
        }
    }

    /// Cancels every operation the backend holds and waits, turning the
    /// backend, until each has completed. Their awaiting futures (if any)
    /// then resolve with the cancelled (or completed) result. Operations
    /// still waiting for room in the backend's queue never reach it: they
    /// complete with `-ECANCELED` at once.
    pub fn shutdown(&self) {
        loop {
            // Every turn: code run by a turn (a foreign waker) may have
            // submitted more.
            self.cancel_everything();
            self.turn_io();
            if self.backend_owned.get() == 0 {
                break;
            }
            self.driver_mut(|d| {
                self.push_retries(d);
                d.park(None, &Idle::detached());
            });
        }
        self.process_done();
    }

    /// Requests a cancel of every operation the backend holds, and fails
    /// every operation it does not hold yet.
    fn cancel_everything(&self) {
        for index in 0..self.capacity() as u32 {
            let slot = self.slot(index);
            if slot.state.get() == State::Unsubmitted {
                slot.completion
                    .set(Completion::new(-super::errno::ECANCELED));
                self.set_state(slot, State::Completed);
                self.push_done(index);
            } else {
                self.request_cancel(index);
            }
        }
    }

    /// The slot at `index`, which exists.
    #[inline]
    pub(crate) fn slot(&self, index: u32) -> &OpSlot<D, K> {
        self.get_slot(index as usize)
            .expect("an op slot index the reactor handed out")
    }

    /// The slot at `index`, if it exists.
    #[inline]
    fn get_slot(&self, index: usize) -> Option<&OpSlot<D, K>> {
        if index < M {
            return Some(&self.slots[index]);
        }
        self.chunk_slot(index)
    }

    /// The slot at `index` (`>= M`), if its chunk was added (out of line).
    #[inline(never)]
    fn chunk_slot(&self, index: usize) -> Option<&OpSlot<D, K>> {
        let (chunk, within) = self.chunks.locate(index)?;
        // SAFETY: the elements of a chunk are `OpSlot`s, initialised before
        // it was added, and live until the reactor's drop.
        Some(unsafe {
            self.chunks
                .element(chunk, within)
                .cast::<OpSlot<D, K>>()
                .as_ref()
        })
    }

    fn id(&self, index: usize) -> OpId {
        OpId::new(index as u32, self.slot(index as u32).generation.get())
    }

    fn set_state(&self, slot: &OpSlot<D, K>, new: State) {
        let old = slot.state.replace(new);
        let owned = self.backend_owned.get() + usize::from(new.backend_owned())
            - usize::from(old.backend_owned());
        self.backend_owned.set(owned);
    }

    /// Takes a free slot for a submission that was not offered one: only
    /// if nobody waits in line and a free slot is left beyond those
    /// promised to woken waiters.
    pub(crate) fn claim_unoffered(&self) -> Option<u32> {
        if !self.free_waiters.is_empty() {
            return None;
        }
        let free = self.capacity() - self.occupied.get();
        if free > self.offers.get() {
            return self.claim();
        }
        // Every free slot is promised: a newcomer may only take a slot of
        // a chunk it adds (if the table may grow and memory allows).
        if self.capacity() < self.chunks.limit() {
            self.claim_growing()
        } else {
            None
        }
    }

    /// Takes the free slot promised to a woken waiter.
    pub(crate) fn claim_offered(&self) -> Option<u32> {
        self.offers.set(self.offers.get() - 1);
        self.claim()
    }

    /// A woken waiter gives its promised slot up: the next in line gets it.
    pub(crate) fn decline_offer(&self) {
        self.offers.set(self.offers.get() - 1);
        self.notify_free_waiter();
    }

    /// Takes a free slot: the one freed last, else one never used yet.
    fn claim(&self) -> Option<u32> {
        let head = self.free_head.get();
        if head != 0 {
            let index = head - 1;
            self.free_head.set(self.slot(index).next_free.get());
            return Some(index);
        }
        let fresh = self.fresh.get();
        if (fresh as usize) < self.capacity() {
            self.fresh.set(fresh + 1);
            return Some(fresh);
        }
        self.claim_growing()
    }

    /// [`claim`](Self::claim) once every slot was used: adds a chunk
    /// (fresh slots from `fresh` on).
    #[cold]
    #[inline(never)]
    fn claim_growing(&self) -> Option<u32> {
        self.chunks
            .grow(|chunk, _| {
                for within in 0..self.chunks.per_chunk() {
                    // SAFETY: the new chunk is ours and has room for
                    // `per_chunk` slots.
                    unsafe {
                        self.chunks
                            .element(chunk, within)
                            .cast::<OpSlot<D, K>>()
                            .write(OpSlot::new())
                    };
                }
            })
            .ok()?;
        // Read `fresh` only now: the allocator may have re-entered the
        // reactor and taken slots meanwhile.
        let fresh = self.fresh.get();
        if (fresh as usize) < self.capacity() {
            self.fresh.set(fresh + 1);
            Some(fresh)
        } else {
            None
        }
    }

    /// Moves `op` into the free slot `index` and hands it to the backend
    /// (or leaves it for the next turn if the backend's queue is full).
    pub(crate) fn start<T: Operation<D>>(&self, index: u32, op: T) -> OpId {
        const {
            assert!(
                storage::fits::<T, K>(),
                "operation larger than the reactor's slot size K (or over-aligned)"
            )
        };
        let slot = self.slot(index);
        debug_assert_eq!(slot.state.get(), State::Free);
        // SAFETY: the slot is free (no value in its storage) and `T` fits.
        unsafe { slot.ptr().cast::<T>().write(op) };
        slot.vtable.set(Some(NonNull::from(OpVTable::of::<T>())));
        slot.cancel.set(CancelState::No);
        slot.overflowing.set(false);
        slot.paused.set(false);
        self.occupied.set(self.occupied.get() + 1);
        let id = self.id(index as usize);
        let guard = PushGuard {
            reactor: self,
            index,
            on_unwind: OnUnwind::Free,
        };
        // Operations held back by a full queue go first: while any waits,
        // this one queues behind it instead of taking the room it frees.
        // SAFETY: the slot holds the `T` just written; `push` only borrows
        // it where it lies.
        // A backend that may finish an operation while it is pushed is
        // asked for that completion in the same borrow.
        let (pushed, inline) = if self.retry_head.get() == 0 {
            self.driver_mut(|d| {
                // SAFETY: as above.
                if !unsafe { slot::push::<D, T>(slot.ptr(), d, id) } {
                    return (false, None);
                }
                let inline = if D::COMPLETES_INLINE && !T::MULTISHOT {
                    d.take_inline(id)
                } else {
                    None
                };
                (true, inline)
            })
        } else {
            (false, None)
        };
        core::mem::forget(guard);
        // Straight from `Free` to the final state.
        if pushed {
            slot.state.set(State::InFlight);
            self.backend_owned.set(self.backend_owned.get() + 1);
            // Finished while pushed: completed now (no waker is set yet,
            // and the future looks at the slot right after this).
            if let Some(completion) = inline {
                slot.completion.set(completion);
                self.set_state(slot, State::Completed);
            }
        } else {
            slot.state.set(State::Unsubmitted);
            self.want_retry(index);
        }
        id
    }

    /// Hands an `Unsubmitted` operation to the backend. `false` if the
    /// backend's queue is full.
    fn try_push(&self, d: &mut D, index: usize) -> bool {
        let slot = self.slot(index as u32);
        // SAFETY: `Unsubmitted` slots hold their operation; `build` only
        // borrows it where it lies.
        if !unsafe { (slot.vtable().push)(slot.ptr(), d, self.id(index)) } {
            return false;
        }
        self.set_state(slot, State::InFlight);
        true
    }

    /// Puts slot `index` on the retry list (unless it is on it already).
    fn want_retry(&self, index: u32) {
        let slot = self.slot(index);
        if slot.on_retry_list.replace(true) {
            return;
        }
        slot.next_retry.set(0);
        let tail = self.retry_tail.replace(index + 1);
        slot.prev_retry.set(tail);
        match tail {
            0 => self.retry_head.set(index + 1),
            tail => self.slot(tail - 1).next_retry.set(index + 1),
        }
    }

    /// Takes slot `index` off the retry list, wherever it is on it.
    fn unlink_retry(&self, index: u32) {
        let slot = self.slot(index);
        let (prev, next) = (slot.prev_retry.get(), slot.next_retry.get());
        match prev {
            0 => self.retry_head.set(next),
            prev => self.slot(prev - 1).next_retry.set(next),
        }
        match next {
            0 => self.retry_tail.set(prev),
            next => self.slot(next - 1).prev_retry.set(prev),
        }
        slot.on_retry_list.set(false);
    }

    /// Retries what a full backend queue held back: submissions, cancels.
    /// Returns `true` if it handed anything to the backend (or dropped a
    /// stale entry).
    fn push_retries(&self, d: &mut D) -> bool {
        let mut progress = false;
        loop {
            let head = self.retry_head.get();
            if head == 0 {
                return progress;
            }
            let index = head - 1;
            let slot = self.slot(index);
            if slot.state.get() == State::Unsubmitted {
                // A `build` that panics here (it did not the first time)
                // fails the operation instead of panicking every turn.
                let guard = PushGuard {
                    reactor: self,
                    index,
                    on_unwind: OnUnwind::Fail,
                };
                let pushed = self.try_push(d, index as usize);
                core::mem::forget(guard);
                // A full queue leaves the entry first in line for next turn.
                if !pushed {
                    return progress;
                }
                progress = true;
            }
            if slot.cancel.get() == CancelState::Wanted && slot.state.get().backend_owned() {
                if !d.push_cancel(self.id(index as usize)) {
                    return progress;
                }
                slot.cancel.set(CancelState::Requested);
            }
            progress = true;
            self.unlink_retry(index);
        }
    }

    /// Asks the backend to cancel the operation in slot `index` (queued on
    /// the next turn).
    pub(crate) fn request_cancel(&self, index: u32) {
        let slot = self.slot(index);
        if slot.state.get().backend_owned() && slot.cancel.get() == CancelState::No {
            slot.cancel.set(CancelState::Wanted);
            self.want_retry(index);
        }
    }

    /// Takes the operation out of a `Completed` slot and frees the slot.
    ///
    /// # Safety
    /// The slot holds a `T` (the caller submitted it).
    #[inline(always)]
    pub(crate) unsafe fn take_completed<T>(&self, index: u32) -> (T, Completion) {
        let slot = self.slot(index);
        debug_assert_eq!(slot.state.get(), State::Completed);
        // SAFETY: per the caller; the slot is freed right after, so the
        // value is not used again.
        let op = unsafe { slot.ptr().cast::<T>().read() };
        let completion = slot.completion.get();
        self.free(index);
        (op, completion)
    }

    /// Takes an operation that never reached the backend out of its slot.
    ///
    /// # Safety
    /// The slot is `Unsubmitted` and holds a `T`.
    pub(crate) unsafe fn take_unsubmitted<T>(&self, index: u32) -> T {
        let slot = self.slot(index);
        debug_assert_eq!(slot.state.get(), State::Unsubmitted);
        // SAFETY: per the caller.
        let op = unsafe { slot.ptr().cast::<T>().read() };
        self.free(index);
        op
    }

    /// The awaiting future of slot `index` is gone.
    ///
    /// Every path settles the slot's state before any code of the
    /// operation or of a waker runs, so a panic there cannot make a later
    /// turn (or `Drop`) see the operation again.
    pub(crate) fn abandon(&self, index: u32) {
        let slot = self.slot(index);
        match slot.state.get() {
            State::Unsubmitted => {
                // The backend never saw it: out of the slot, slot freed,
                // then dropped (its `Drop` may panic: it runs once).
                // SAFETY: `Unsubmitted` slots hold their operation, unused
                // by anybody else; the slot is freed right after.
                let evicted = unsafe { slot.evict() };
                self.free(index);
                drop(evicted);
            }
            State::InFlight => {
                // The backend may still use the buffers: they stay in the
                // slot until the completion; ask for a cancel.
                self.set_state(slot, State::Orphaned);
                self.request_cancel(index);
                slot.waker.clear();
                slot.release_queued();
            }
            State::Completed => {
                // Completed but never taken: release what it produced.
                self.set_state(slot, State::OrphanDone);
                self.push_done(index);
                slot.waker.clear();
            }
            State::Free | State::Orphaned | State::OrphanDone => {
                debug_assert!(false, "abandoning a slot nobody awaits");
            }
        }
    }

    /// Frees slot `index`, which holds no value any more (taken out, or
    /// never handed to the backend and evicted). Its bookkeeping is done
    /// before the waker code at the end runs.
    #[inline(always)]
    fn free(&self, index: u32) {
        let slot = self.slot(index);
        debug_assert_eq!(
            slot.queue_len.get(),
            0,
            "queued completions are taken or released first"
        );
        // Only operations the backend is done with (or never got) are
        // freed, so the count of backend-owned slots does not change.
        debug_assert!(!slot.state.get().backend_owned());
        // Held back (or its cancel was) and given up: out of the line, so
        // whatever takes the slot next queues last.
        if slot.on_retry_list.get() {
            self.unlink_retry(index);
        }
        slot.state.set(State::Free);
        slot.cancel.set(CancelState::No);
        slot.generation.set(slot.generation.get().wrapping_add(1));
        slot.vtable.set(None);
        slot.next_free.set(self.free_head.get());
        self.free_head.set(index + 1);
        self.occupied.set(self.occupied.get() - 1);
        // Waker code last: a foreign waker's drop or wake may panic.
        slot.waker.clear();
        self.notify_free_waiter();
    }

    /// Promises a free slot to the first submission in line and wakes it.
    fn notify_free_waiter(&self) {
        if let Some(node) = self.free_waiters.pop_front() {
            self.offers.set(self.offers.get() + 1);
            let waker = node.value.take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Links a submission waiting for a free slot: last in line, or first
    /// (`first`: it had been woken for a slot it could not take). Slots
    /// go to waiters in line order.
    ///
    /// # Safety
    /// `node` is pinned, not linked, and unlinked (with
    /// [`unlink_free_waiter`](Self::unlink_free_waiter)) before it is
    /// invalidated.
    pub(crate) unsafe fn link_free_waiter(&self, node: &FreeWaiter, first: bool) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if first {
                self.free_waiters.push_front(node);
            } else {
                self.free_waiters.push_back(node);
            }
        }
    }

    pub(crate) fn unlink_free_waiter(&self, node: &FreeWaiter) {
        if node.is_linked() {
            // SAFETY: free-waiter nodes are only ever linked into this list.
            unsafe { self.free_waiters.remove(node) };
        }
    }

    fn push_done(&self, index: u32) {
        let slot = self.slot(index);
        if !slot.on_done_list.replace(true) {
            slot.next_done.set(self.done_head.get());
            self.done_head.set(index + 1);
        }
    }

    /// Records one completion reported by the backend.
    ///
    /// Runs inside the driver's reap. Only a multishot operation's
    /// `release`/`overflow` may run here, each after its completion was
    /// taken and the slot's state settled: if one panics, that completion
    /// is lost (whatever it produced is leaked), and the reap stops with
    /// the rest left to the driver for the next turn.
    fn record(&self, id: OpId, completion: Completion, woken: &mut WakeBatch) {
        let Some(slot) = self.get_slot(id.index() as usize) else {
            return;
        };
        if self.id(id.index() as usize) != id {
            return; // not ours (a stale or foreign completion)
        }
        let state = slot.state.get();
        if !matches!(state, State::InFlight | State::Orphaned) {
            return;
        }
        let vtable = slot.vtable();
        if vtable.multishot && D::has_more(&completion) {
            // One completion of a multishot operation; more will come.
            if state == State::Orphaned {
                // SAFETY: an in-flight slot holds its operation; nobody
                // else uses it now.
                unsafe { (vtable.release)(slot.ptr(), completion) };
                return;
            }
            self.push_done(id.index());
            let queued = !slot.overflowing.get()
                && slot.queue_len.get() < vtable.max_pending
                && slot.enqueue(completion);
            if !queued {
                // The stream is behind: later completions follow this one
                // into the overflow, and the operation is paused (cancelled)
                // so that a stream that stopped reading pins no more.
                slot.overflowing.set(true);
                if !slot.paused.replace(true) {
                    self.request_cancel(id.index());
                }
                // SAFETY: as above.
                unsafe { (vtable.overflow)(slot.ptr(), completion) };
            }
            return;
        }
        let next = if state == State::InFlight {
            State::Completed
        } else {
            State::OrphanDone
        };
        slot.completion.set(completion);
        slot.cancel.set(CancelState::No);
        self.set_state(slot, next);
        // A task's waker only marks the task ready: gathered here, made
        // ready a ready-queue word at a time when the batch flushes (before
        // the turn ends). Anything else could re-enter the reactor while
        // the driver is borrowed, so it is woken after the reap.
        if next == State::OrphanDone || !slot.waker.wake_task_into(woken) {
            self.push_done(id.index());
        }
    }

    /// Wakes the futures of completed operations and releases orphans.
    ///
    /// Each entry leaves the done list before its code runs; a panic in a
    /// waker or in `orphaned`/`release` leaves the rest for the next turn.
    fn process_done(&self) {
        loop {
            let head = self.done_head.get();
            if head == 0 {
                break;
            }
            let index = head - 1;
            let slot = self.slot(index);
            self.done_head.set(slot.next_done.get());
            slot.on_done_list.set(false);
            match slot.state.get() {
                // Completed, or a multishot operation with queued items.
                State::Completed | State::InFlight => {
                    slot.waker.wake();
                }
                State::OrphanDone => self.release_orphan(index),
                _ => {}
            }
        }
    }

    /// Finishes an `OrphanDone` slot: the operation (and the completions
    /// its stream never took) leaves the slot, the slot is freed, and only
    /// then do `release` and `orphaned` run, on the evicted value.
    fn release_orphan(&self, index: u32) {
        let slot = self.slot(index);
        let completion = slot.completion.get();
        // SAFETY: `OrphanDone` slots hold their operation, which the
        // backend no longer uses and nobody else can reach.
        let evicted = unsafe { slot.evict() };
        self.free(index);
        self.with_driver(|d| evicted.orphan(completion, d));
    }

    /// Submits, reaps and handles completions, without blocking.
    fn turn_io(&self) {
        // Flushed below — or, if the reap unwinds, when dropped.
        let mut woken = WakeBatch::new();
        self.driver_mut(|d| {
            self.push_retries(d);
            d.flush();
            d.reap(|id, c| self.record(id, c, &mut woken));
        });
        woken.flush();
        self.process_done();
    }
}

/// What happens to an operation whose `build` panics while it is pushed.
#[derive(Clone, Copy)]
enum OnUnwind {
    /// In [`Reactor::start`], before its future knows the slot: drop the
    /// operation and free the slot (the backend never got it).
    Free,
    /// On a retry, with its future waiting: complete it with `-ECANCELED`,
    /// so the future gets it back (buffers and all) instead of the panic
    /// coming back every turn.
    Fail,
}

/// Applies [`OnUnwind`] to slot `index` if dropped during a panic (and is
/// forgotten otherwise).
struct PushGuard<'a, D: Driver, C: Clock, const M: usize, const K: usize> {
    reactor: &'a Reactor<D, C, M, K>,
    index: u32,
    on_unwind: OnUnwind,
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> Drop for PushGuard<'_, D, C, M, K> {
    fn drop(&mut self) {
        let (reactor, index) = (self.reactor, self.index);
        let slot = reactor.slot(index);
        match self.on_unwind {
            OnUnwind::Free => {
                // SAFETY: the slot holds the operation `start` wrote, which
                // nobody else uses: its future gave it up, and the backend
                // never got it.
                let evicted = unsafe { slot.evict() };
                reactor.free(index);
                drop(evicted);
            }
            OnUnwind::Fail => {
                slot.completion
                    .set(Completion::new(-super::errno::ECANCELED));
                reactor.set_state(slot, State::Completed);
                reactor.push_done(index);
            }
        }
    }
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> Drive for Reactor<D, C, M, K> {
    fn turn(&self) {
        self.turn_io();
        self.timers.advance();
    }

    fn park(&self, idle: &Idle<'_>) {
        let timeout: Option<Duration> = self.timers.time_to_next();
        self.driver_mut(|d| {
            self.push_retries(d);
            // Held back by a full queue: submit the queue and hand over the
            // rest, so that no operation waits in the table while the loop
            // sleeps (its completion might be what ends the sleep).
            while self.retry_head.get() != 0 {
                d.flush();
                if !self.push_retries(d) {
                    break; // the backend takes no more now; its completions will make room
                }
            }
            d.park(timeout, idle);
        });
    }
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> Drop for Reactor<D, C, M, K> {
    fn drop(&mut self) {
        // The backend may write into the op table until every operation
        // has completed: if user code panics out of the shutdown, the
        // unwind must not free the table first. The guard shuts down again
        // while unwinding (a second panic there aborts the process, which
        // is safe).
        struct FinishShutdown<'a, D: Driver, C: Clock, const M: usize, const K: usize>(
            &'a Reactor<D, C, M, K>,
        );
        impl<D: Driver, C: Clock, const M: usize, const K: usize> Drop for FinishShutdown<'_, D, C, M, K> {
            fn drop(&mut self) {
                self.0.shutdown();
                // SAFETY: the shutdown waited for every completion, so the
                // backend uses no slot any more; what the slots still hold
                // is leaked with them (this path is an unwind already).
                unsafe { self.0.chunks.free() };
            }
        }
        let guard = FinishShutdown(self);
        self.shutdown();
        core::mem::forget(guard);
        // What is left never reached the backend, or completed with nobody
        // to take it (its future was leaked): release it here. Each slot is
        // settled before the operation's code runs; if that code panics,
        // the operations of later slots are leaked, never seen twice.
        /// Gives the chunks back last, also if an operation's code panics.
        struct FreeChunks<'a>(&'a Chunks);
        impl Drop for FreeChunks<'_> {
            fn drop(&mut self) {
                // SAFETY: the shutdown above waited for every completion,
                // so the backend no longer uses any slot; the slots hold
                // nothing that needs dropping once released (a panic of a
                // release leaks what later slots hold, and their memory is
                // then freed with nothing pointing into it but the
                // reactor, which is going away).
                unsafe { self.0.free() };
            }
        }
        let _free_chunks = FreeChunks(&self.chunks);
        for index in 0..self.capacity() as u32 {
            let slot = self.slot(index);
            let state = slot.state.get();
            if matches!(state, State::Free | State::InFlight | State::Orphaned) {
                continue;
            }
            let completion = slot.completion.get();
            // SAFETY: the backend is done with these (shutdown waited for
            // every completion) and no future can reach them any more.
            let evicted = unsafe { slot.evict() };
            slot.state.set(State::Free);
            slot.vtable.set(None);
            slot.waker.clear();
            match state {
                State::Unsubmitted => drop(evicted),
                _ => self.with_driver(|d| evicted.orphan(completion, d)),
            }
        }
    }
}

impl<D: Driver, C: Clock, const M: usize, const K: usize> fmt::Debug for Reactor<D, C, M, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("slots", &self.capacity())
            .field("occupied", &self.occupied.get())
            .field("in_flight", &self.backend_owned.get())
            .field("timers", &self.timers)
            .finish()
    }
}
