//! The waiter list under every primitive of [`kasync::sync`](crate::sync):
//! an intrusive FIFO of pinned [`Waiter`]s that live inside the futures
//! waiting, plus a count of *units* (permits, or notifications) granted to
//! them.
//!
//! # Who may do what
//!
//! * [`grant`](WaitQueue::grant) — hand out units, or wake every current
//!   waiter — may be called from **any context**, interrupt handlers
//!   included: it never waits for another context. It either takes the
//!   list's lock and serves the waiters itself, or, when another context
//!   holds the lock, adds its request to the lock word with one
//!   compare-and-swap and leaves; the holder serves every request before
//!   it lets go.
//! * Joining, re-registering and leaving the list
//!   ([`register`](WaitQueue::register), [`cancel`](WaitQueue::cancel))
//!   happen in tasks and may spin while another context holds the lock.
//!   The holder never runs user code while holding it (wakers are cloned
//!   before, woken and dropped after) and never waits for anything, so the
//!   spin is short; and it never spins on an interrupt handler that
//!   preempted it, because such a handler only ever *grants*, never waits
//!   for the lock.
//!
//! # Units
//!
//! A waiter asks for `want` units. Served in FIFO order: the first waiter
//! gets its units when enough are there, and later waiters wait behind it
//! (no starvation of large requests). An *accumulating* queue (a
//! semaphore) keeps units nobody has taken yet; a *notifying* queue (a
//! channel's receivers) drops units when nobody waits: they only mean
//! "look again".
//!
//! # The waiter's states
//!
//! `IDLE` (not in the list) → `WAITING` (linked; owner, under the lock) →
//! `NOTIFIED` (unlinked and granted its units; the lock holder, as the last
//! thing it does with the node) → `IDLE` (the owner, which alone touches a
//! node that is not linked). A waiter that leaves `NOTIFIED` without using
//! what it was granted gives it back with [`grant`](WaitQueue::grant), so
//! a permit or a notification is never lost with a dropped future.

use core::marker::PhantomPinned;
use core::pin::Pin;
use core::ptr;
use core::task::Waker;

use crate::atomics::{AtomicUsize, Ordering, Racy, spin_loop};

/// Lock word: the lock bit.
const LOCKED: usize = 1;
/// Lock word: "wake every waiter there is now" was requested.
const ALL: usize = 2;
/// Lock word: one unit requested (the units count from this bit up).
const UNIT: usize = 4;
/// The most units a grant can carry (more are capped).
pub(crate) const MAX_UNITS: usize = usize::MAX / UNIT;

const IDLE: usize = 0;
const WAITING: usize = 1;
const NOTIFIED: usize = 2;

/// How many wakers the lock holder collects before it lets go to wake them.
const BATCH: usize = 8;

/// One task waiting in a [`WaitQueue`]. Lives in the waiting future, which
/// must be pinned while it waits and must call
/// [`WaitQueue::cancel`] in its `Drop`.
pub(crate) struct Waiter {
    state: AtomicUsize,
    /// Touched only by the holder of the queue's lock.
    links: Racy<Links>,
    _pin: PhantomPinned,
}

struct Links {
    prev: *const Waiter,
    next: *const Waiter,
    waker: Option<Waker>,
    /// Order of arrival, for "wake everyone who is waiting now".
    seq: usize,
    want: usize,
}

// SAFETY: the links are touched only under the queue's lock, the state is
// atomic; a `Waker` is `Send + Sync`.
unsafe impl Send for Waiter {}
// SAFETY: as above.
unsafe impl Sync for Waiter {}

impl Waiter {
    crate::atomics::const_fn! {
        /// A waiter not in any list.
        pub(crate) fn new() -> Self {
            Self {
                state: AtomicUsize::new(IDLE),
                links: Racy::new(Links {
                    prev: ptr::null(),
                    next: ptr::null(),
                    waker: None,
                    seq: 0,
                    want: 0,
                }),
                _pin: PhantomPinned,
            }
        }
    }

    /// `true` once, after the waiter was granted its units (it is then out
    /// of the list, and `IDLE` again).
    pub(crate) fn take_notified(&self) -> bool {
        if self.state.load(Ordering::Acquire) == NOTIFIED {
            self.state.store(IDLE, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// `true` while linked or granted: [`WaitQueue::cancel`] has work.
    pub(crate) fn is_active(&self) -> bool {
        self.state.load(Ordering::Acquire) != IDLE
    }
}

/// The list's ends and counters; touched only under the lock.
struct List {
    head: *const Waiter,
    tail: *const Waiter,
    next_seq: usize,
    /// Waiters that arrived before this number are woken by an `ALL`.
    all_below: usize,
    units: usize,
    accumulate: bool,
}

/// An intrusive FIFO of waiters and the units granted to them; see the
/// module docs.
pub(crate) struct WaitQueue {
    word: AtomicUsize,
    list: Racy<List>,
}

// SAFETY: the list is touched only by the holder of `word`'s lock bit
// (Acquire when taken, Release when given back); waiters are `Sync`.
unsafe impl Sync for WaitQueue {}
// SAFETY: as above.
unsafe impl Send for WaitQueue {}

/// What [`Locked::register`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Registered {
    /// Granted meanwhile: the waiter is out of the list (and `IDLE`).
    Notified,
    /// In the list with the current waker.
    Waiting,
}

impl WaitQueue {
    crate::atomics::const_fn! {
        /// An empty queue. `accumulate`: units nobody takes are kept (for
        /// permits), starting with `units`; otherwise they are dropped.
        pub(crate) fn new(accumulate: bool, units: usize) -> Self {
            Self {
                word: AtomicUsize::new(0),
                list: Racy::new(List {
                    head: ptr::null(),
                    tail: ptr::null(),
                    next_seq: 0,
                    all_below: 0,
                    units,
                    accumulate,
                }),
            }
        }
    }

    /// Takes the lock, spinning while another context holds it (task
    /// context only: see the module docs).
    pub(crate) fn lock(&self) -> Locked<'_> {
        while self.word.fetch_or(LOCKED, Ordering::Acquire) & LOCKED != 0 {
            spin_loop();
        }
        Locked {
            queue: self,
            batch: Batch::new(),
            stale: None,
        }
    }

    /// Puts `waiter` at the back of the list wanting `want` units — or,
    /// if nobody waits and the units are there, takes them at once — or,
    /// if it is already in the list, makes sure it wakes `waker`. Returns
    /// [`Registered::Notified`] when the waiter got its units (at once, or
    /// granted meanwhile; it is `IDLE` then). Task context.
    ///
    /// The waker is cloned with the lock released (a clone is user code,
    /// which may itself use this primitive), so a first registration takes
    /// the lock twice.
    pub(crate) fn register(&self, waiter: Pin<&Waiter>, waker: &Waker, want: usize) -> Registered {
        let node: *const Waiter = &*waiter;
        let mut fresh: Option<Waker> = None;
        loop {
            let mut locked = self.lock();
            match waiter.state.load(Ordering::Acquire) {
                NOTIFIED => {
                    waiter.state.store(IDLE, Ordering::Relaxed);
                    locked.stale = fresh;
                    return self.notified(locked, want);
                }
                WAITING => {
                    // SAFETY: linked nodes are touched under the lock, which
                    // we hold; `will_wake` is a comparison, no user code.
                    let current = waiter.links.with_mut(|l| unsafe {
                        (*l).waker.as_ref().is_some_and(|w| w.will_wake(waker))
                    });
                    if current {
                        locked.stale = fresh;
                        return Registered::Waiting;
                    }
                    if let Some(new) = fresh.take() {
                        // SAFETY: as above.
                        locked.stale = waiter
                            .links
                            .with_mut(|l| unsafe { (*l).waker.replace(new) });
                        return Registered::Waiting;
                    }
                }
                _ => {
                    if locked.take_units(want) {
                        locked.stale = fresh;
                        return self.notified(locked, want);
                    }
                    if let Some(new) = fresh.take() {
                        // SAFETY: `waiter` is pinned and `IDLE`; its owner
                        // cancels it in `Drop` (the type's contract).
                        locked.with_list(|list| unsafe { list.push_back(node, new, want) });
                        waiter.state.store(WAITING, Ordering::Relaxed);
                        return Registered::Waiting;
                    }
                }
            }
            drop(locked);
            fresh = Some(waker.clone());
        }
    }

    /// Lets go of the lock after a registering waiter got its `want` units.
    /// If the user code that runs then (a replaced waker's `drop`, the
    /// wakes of waiters served meanwhile) panics, the caller never learns
    /// it got them: they go back to the queue, for the next in line.
    fn notified(&self, locked: Locked<'_>, want: usize) -> Registered {
        /// Gives the units back if dropped (during an unwind).
        struct GiveBack<'q>(&'q WaitQueue, usize);
        impl Drop for GiveBack<'_> {
            fn drop(&mut self) {
                self.0.grant(self.1, false);
            }
        }
        let give_back = GiveBack(self, want);
        drop(locked);
        core::mem::forget(give_back);
        Registered::Notified
    }

    /// Grants `units` to the waiters in FIFO order (kept for later ones if
    /// the queue accumulates), and with `all` wakes every waiter there is
    /// now. Any context; never waits for another.
    pub(crate) fn grant(&self, units: usize, all: bool) {
        let units = units.min(MAX_UNITS);
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let pending = (word / UNIT).saturating_add(units).min(MAX_UNITS);
            let request = (pending * UNIT) | (word & ALL) | if all { ALL } else { 0 };
            // Unlocked: take the lock with the request and serve it below;
            // locked: leave the request to the holder.
            let locking = word & LOCKED == 0;
            match self.word.compare_exchange_weak(
                word,
                request | LOCKED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) if locking => {
                    let mut batch = Batch::new();
                    self.unlock(&mut batch);
                    batch.wake_all();
                    return;
                }
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Takes `waiter` out of the list if it is still in it. Returns `true`
    /// when it had been granted its units (which the caller must use or
    /// give back with [`grant`](Self::grant)). Task context.
    pub(crate) fn cancel(&self, waiter: Pin<&Waiter>) -> bool {
        match waiter.state.load(Ordering::Acquire) {
            IDLE => false,
            NOTIFIED => {
                waiter.state.store(IDLE, Ordering::Relaxed);
                true
            }
            _ => {
                let mut locked = self.lock();
                // Granted while this context waited for the lock?
                if waiter.take_notified() {
                    return true;
                }
                locked.stale = locked.unlink(&waiter);
                false
            }
        }
    }

    /// Serves the requests in the lock word and lets go of the lock. The
    /// wakers of the waiters served are left in `batch`, to be woken by
    /// the caller (outside the lock).
    fn unlock(&self, batch: &mut Batch) {
        loop {
            // What other contexts asked for meanwhile; the lock stays ours.
            let requests = self.word.swap(LOCKED, Ordering::AcqRel);
            // SAFETY: this context holds the lock.
            let full = self
                .list
                .with_mut(|list| unsafe { (*list).serve(requests, batch) });
            if full {
                // Wake these before serving more (a waker's wake may run
                // code that wants this lock). Another context that takes
                // the lock meanwhile serves what is left.
                self.word.fetch_and(!LOCKED, Ordering::Release);
                // A waker that panics here must not strand the waiters
                // not yet served (their units are counted): the unwind
                // serves them (a second panic there aborts).
                struct ServeRest<'q>(&'q WaitQueue);
                impl Drop for ServeRest<'_> {
                    fn drop(&mut self) {
                        self.0.grant(0, false);
                    }
                }
                let serve_rest = ServeRest(self);
                batch.wake_all();
                core::mem::forget(serve_rest);
                if self.word.fetch_or(LOCKED, Ordering::Acquire) & LOCKED != 0 {
                    return;
                }
                continue;
            }
            if self
                .word
                .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            // New requests arrived while serving: serve them too.
        }
    }
}

impl List {
    /// Adds `requests` (a lock word) to the units and hands units out.
    /// Returns `true` if it stopped because `batch` is full.
    ///
    /// # Safety
    /// The caller holds the lock; linked waiters are valid (their owners
    /// unlink them before they go away).
    unsafe fn serve(&mut self, requests: usize, batch: &mut Batch) -> bool {
        if requests & ALL != 0 {
            self.all_below = self.next_seq;
        }
        self.units = self.units.saturating_add(requests / UNIT).min(MAX_UNITS);
        loop {
            let front = self.head;
            if front.is_null() {
                if !self.accumulate {
                    self.units = 0;
                }
                return false;
            }
            // SAFETY: linked, hence valid; we hold the lock.
            let (seq, want) = unsafe { (*front).links.with_mut(|l| ((*l).seq, (*l).want)) };
            let everyone = (seq.wrapping_sub(self.all_below) as isize) < 0;
            if !everyone && self.units < want {
                return false;
            }
            if batch.is_full() {
                return true;
            }
            if !everyone {
                self.units -= want;
            }
            // SAFETY: as above.
            let waker = unsafe { self.unlink(front) };
            batch.push(waker);
            // SAFETY: as above. The last touch of the node: once it reads
            // `NOTIFIED` its owner may free it.
            unsafe { (*front).state.store(NOTIFIED, Ordering::Release) };
        }
    }

    /// Links `waiter` at the back.
    ///
    /// # Safety
    /// Lock held; `waiter` is pinned, `IDLE`, and its owner unlinks it
    /// before it goes away.
    unsafe fn push_back(&mut self, waiter: *const Waiter, waker: Waker, want: usize) {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let tail = self.tail;
        // SAFETY: the caller's contract; we hold the lock.
        unsafe {
            (*waiter).links.with_mut(|l| {
                *l = Links {
                    prev: tail,
                    next: ptr::null(),
                    waker: Some(waker),
                    seq,
                    want,
                }
            });
            if tail.is_null() {
                self.head = waiter;
            } else {
                (*tail).links.with_mut(|l| (*l).next = waiter);
            }
        }
        self.tail = waiter;
    }

    /// Unlinks `waiter` and returns its waker.
    ///
    /// # Safety
    /// Lock held; `waiter` is linked in this list.
    unsafe fn unlink(&mut self, waiter: *const Waiter) -> Option<Waker> {
        // SAFETY: the caller's contract: linked nodes are valid.
        unsafe {
            let (prev, next, waker) = (*waiter).links.with_mut(|l| {
                let l = &mut *l;
                let out = (l.prev, l.next, l.waker.take());
                l.prev = ptr::null();
                l.next = ptr::null();
                out
            });
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).links.with_mut(|l| (*l).next = next);
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*next).links.with_mut(|l| (*l).prev = prev);
            }
            waker
        }
    }
}

/// The queue's lock, held. Dropping it serves the requests other contexts
/// left meanwhile, lets go, and then wakes the waiters served and drops
/// replaced wakers (user code, never run under the lock).
pub(crate) struct Locked<'q> {
    queue: &'q WaitQueue,
    batch: Batch,
    stale: Option<Waker>,
}

impl Locked<'_> {
    fn with_list<R>(&mut self, f: impl FnOnce(&mut List) -> R) -> R {
        // SAFETY: we hold the lock.
        self.queue.list.with_mut(|list| f(unsafe { &mut *list }))
    }

    /// Takes `want` units if nobody waits ahead (FIFO) and enough are
    /// there.
    pub(crate) fn take_units(&mut self, want: usize) -> bool {
        self.with_list(|list| {
            if list.head.is_null() && list.units >= want {
                list.units -= want;
                true
            } else {
                false
            }
        })
    }

    /// Units kept and not taken (accumulating queues).
    pub(crate) fn units(&mut self) -> usize {
        self.with_list(|list| list.units)
    }

    /// Unlinks a `WAITING` waiter; returns its waker (to drop after the
    /// lock is released).
    fn unlink(&mut self, waiter: &Waiter) -> Option<Waker> {
        let node: *const Waiter = waiter;
        // SAFETY: `WAITING` means linked in this list; we hold the lock.
        let waker = self.with_list(|list| unsafe { list.unlink(node) });
        waiter.state.store(IDLE, Ordering::Relaxed);
        waker
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.queue.unlock(&mut self.batch);
        // Outside the lock now: user code may run.
        drop(self.stale.take());
        self.batch.wake_all();
    }
}

/// Wakers collected under the lock, woken after it is released. If one
/// `wake` panics, the rest are still woken as the batch is dropped.
struct Batch {
    wakers: [Option<Waker>; BATCH],
    len: usize,
}

impl Batch {
    const fn new() -> Self {
        Self {
            wakers: [const { None }; BATCH],
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == BATCH
    }

    fn push(&mut self, waker: Option<Waker>) {
        self.wakers[self.len] = waker;
        self.len += 1;
    }

    /// Wakes them in the order they were served.
    fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        self.len = 0;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.wake_all();
    }
}
