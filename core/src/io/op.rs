//! The futures of submitted operations.

use core::cell::Cell;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::reactor::{FreeWaiter, Reactor};
use super::slot::State;
use futures_util::stream::Stream;

use super::{Completion, Driver, Multishot, OpId, Operation, errno};
use crate::list::Node;
use crate::time::Clock;

enum Stage<T> {
    /// Not in the op table yet (not polled, or waiting for a free slot).
    Pending(T),
    /// In the op table.
    Submitted(OpId),
    /// The output was returned.
    Done,
}

/// The future of [`Handle::submit`](super::Handle::submit).
///
/// On its first poll the operation moves into a free slot of the reactor's
/// op table (waiting for one if all are taken) and is handed to the backend;
/// the future then resolves to [`Operation::complete`]'s output.
///
/// **Dropping it never frees memory the backend may still use.** Dropped
/// while the backend holds the operation, the operation — buffers and all —
/// stays in its slot, a cancel is requested, and it is released (through
/// [`Operation::orphaned`]) only when the completion arrives. To cancel and
/// still get the buffers and the result back, use [`cancel`](Op::cancel).
#[must_use = "operations do nothing unless awaited"]
pub struct Op<'r, T, D: Driver, C: Clock, const M: usize, const K: usize> {
    reactor: &'r Reactor<D, C, M, K>,
    stage: Stage<T>,
    /// Made, and linked into the reactor, when the operation first has to
    /// wait for a free slot; while it exists and is no longer linked, the
    /// reactor popped it: a free slot was offered to this operation. It
    /// exists only while waiting, so building and moving an `Op` copies
    /// no list node.
    waiter: Option<FreeWaiter>,
}

impl<'r, T, D, C, const M: usize, const K: usize> Op<'r, T, D, C, M, K>
where
    T: Operation<D>,
    D: Driver,
    C: Clock,
{
    pub(crate) fn new(reactor: &'r Reactor<D, C, M, K>, op: T) -> Self {
        Self {
            reactor,
            stage: Stage::Pending(op),
            waiter: None,
        }
    }

    /// The operation's id, once it is in the op table.
    pub fn id(&self) -> Option<OpId> {
        match self.stage {
            Stage::Submitted(id) => Some(id),
            _ => None,
        }
    }

    /// Cancels the operation and resolves to its output, so the caller
    /// gets the buffers back and can tell "cancelled" (`-ECANCELED`) from
    /// "completed anyway" (data that arrived is not lost).
    ///
    /// An operation that never reached the backend resolves at once with
    /// `-ECANCELED`.
    pub fn cancel(self: Pin<&mut Self>) -> Cancel<'_, 'r, T, D, C, M, K> {
        Cancel {
            op: self,
            requested: false,
        }
    }

    /// Splits the pinned future into its parts. `stage` is not
    /// structurally pinned (the operation is moved into the op table from
    /// it); the waiter node is, while linked (see [`Waiter`]).
    fn parts(self: Pin<&mut Self>) -> (&'r Reactor<D, C, M, K>, &mut Stage<T>, Waiter<'_>) {
        // SAFETY: `Waiter` never moves a linked node (see its docs);
        // nothing else needs pinning.
        let this = unsafe { self.get_unchecked_mut() };
        (this.reactor, &mut this.stage, Waiter(&mut this.waiter))
    }
}

impl<T, D, C, const M: usize, const K: usize> Future for Op<'_, T, D, C, M, K>
where
    T: Operation<D>,
    D: Driver,
    C: Clock,
{
    type Output = T::Output;

    /// # Panics
    /// When polled again after it returned `Ready`.
    ///
    /// Inlined where it is awaited: taking a completion is a few loads and
    /// stores; submitting (the larger part) is left to the compiler, which
    /// inlines it into small futures (a call's saving of registers was a
    /// tenth of a no-op's instructions).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let (reactor, stage, waiter) = self.parts();
        match *stage {
            Stage::Submitted(id) => poll_submitted(reactor, stage, id, cx),
            Stage::Pending(_) => poll_pending(reactor, stage, waiter, cx),
            Stage::Done => panic!("operation future polled after it completed"),
        }
    }
}

/// Polls an operation that is not in the op table yet: moves it into a
/// free slot and submits it, or waits for a slot.
#[inline]
fn poll_pending<T, D, C, const M: usize, const K: usize>(
    reactor: &Reactor<D, C, M, K>,
    stage: &mut Stage<T>,
    mut waiter: Waiter<'_>,
    cx: &mut Context<'_>,
) -> Poll<T::Output>
where
    T: Operation<D>,
    D: Driver,
    C: Clock,
{
    if poll_claim(reactor, stage, &mut waiter, cx).is_pending() {
        return Poll::Pending;
    }
    let Stage::Submitted(id) = *stage else {
        unreachable!("a claimed operation is submitted")
    };
    poll_submitted(reactor, stage, id, cx)
}

/// Polls an operation in op-table slot `id`: its output once completed,
/// else `Pending` with `cx`'s waker registered.
#[inline(always)]
fn poll_submitted<T, D, C, const M: usize, const K: usize>(
    reactor: &Reactor<D, C, M, K>,
    stage: &mut Stage<T>,
    id: OpId,
    cx: &mut Context<'_>,
) -> Poll<T::Output>
where
    T: Operation<D>,
    D: Driver,
    C: Clock,
{
    let index = id.index();
    let slot = reactor.slot(index);
    if slot.state.get() != State::Completed {
        slot.set_waker(cx.waker());
        return Poll::Pending;
    }
    *stage = Stage::Done;
    // SAFETY: this future put a `T` into the slot.
    let (op, completion) = unsafe { reactor.take_completed::<T>(index) };
    Poll::Ready(op.complete(completion))
}

/// The pinned waiter field of an [`Op`]: the only way the op touches it.
///
/// It upholds the pinning the reactor's list relies on: the node is made in
/// place, and it is removed (moved out, dropped) only after it was unlinked.
struct Waiter<'a>(&'a mut Option<FreeWaiter>);

impl Waiter<'_> {
    /// Registers `cx`'s waker and links the node (making it on first use)
    /// if it is not linked.
    fn wait<D: Driver, C: Clock, const M: usize, const K: usize>(
        &mut self,
        reactor: &Reactor<D, C, M, K>,
        cx: &Context<'_>,
    ) {
        // A node that exists but is not linked was woken for a slot it
        // could not take: it keeps its turn.
        let offered = self.0.is_some();
        let node = self.0.get_or_insert_with(|| Node::new(Cell::new(None)));
        node.value.set(Some(cx.waker().clone()));
        if !node.is_linked() {
            // SAFETY: the node lives in a pinned `Op` and is never moved
            // while linked; the `Op`'s `Drop` unlinks it (`leave`).
            unsafe { reactor.link_free_waiter(node, offered) };
        }
    }

    /// `true` if the reactor woke this waiter for a slot it promised it
    /// (the node exists but was popped from the line).
    fn offered(&self) -> bool {
        self.0.as_ref().is_some_and(|node| !node.is_linked())
    }

    /// Unlinks and removes the node. Returns `true` if the operation had
    /// been offered a free slot it did not take (the node was popped).
    fn leave<D: Driver, C: Clock, const M: usize, const K: usize>(
        &mut self,
        reactor: &Reactor<D, C, M, K>,
    ) -> bool {
        let Some(node) = self.0.as_ref() else {
            return false;
        };
        let offered = !node.is_linked();
        reactor.unlink_free_waiter(node);
        // Unlinked: the node may go.
        *self.0 = None;
        offered
    }
}

/// Moves a pending operation into a free op-table slot and hands it to the
/// backend; `Pending` (with the waiter linked) while every slot is taken.
fn poll_claim<T, D, C, const M: usize, const K: usize>(
    reactor: &Reactor<D, C, M, K>,
    stage: &mut Stage<T>,
    waiter: &mut Waiter<'_>,
    cx: &mut Context<'_>,
) -> Poll<()>
where
    T: Operation<D>,
    D: Driver,
    C: Clock,
{
    let claimed = if waiter.offered() {
        reactor.claim_offered()
    } else {
        reactor.claim_unoffered()
    };
    let Some(index) = claimed else {
        waiter.wait(reactor, cx);
        return Poll::Pending;
    };
    waiter.leave(reactor);
    let Stage::Pending(op) = mem::replace(stage, Stage::Done) else {
        unreachable!("only called for pending operations")
    };
    *stage = Stage::Submitted(reactor.start(index, op));
    Poll::Ready(())
}

impl<T, D: Driver, C: Clock, const M: usize, const K: usize> Drop for Op<'_, T, D, C, M, K> {
    /// Inlined: an awaited operation ends `Done`, and its drop is then one
    /// comparison.
    #[inline(always)]
    fn drop(&mut self) {
        if !matches!(self.stage, Stage::Done) {
            self.give_up();
        }
    }
}

impl<T, D: Driver, C: Clock, const M: usize, const K: usize> Op<'_, T, D, C, M, K> {
    /// Drop of an operation that did not finish: leaves the line for a
    /// free slot, or abandons the slot.
    #[inline(never)]
    fn give_up(&mut self) {
        match self.stage {
            Stage::Pending(_) => {
                if Waiter(&mut self.waiter).leave(self.reactor) {
                    // We were woken for a free slot we will not take: pass
                    // it on.
                    self.reactor.decline_offer();
                }
            }
            Stage::Submitted(id) => self.reactor.abandon(id.index()),
            Stage::Done => {}
        }
    }
}

impl<T, D: Driver, C: Clock, const M: usize, const K: usize> fmt::Debug for Op<'_, T, D, C, M, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Pending(_) => "pending",
            Stage::Submitted(_) => "submitted",
            Stage::Done => "done",
        };
        f.debug_struct("Op").field("stage", &stage).finish()
    }
}

/// The future of [`Op::cancel`].
#[must_use = "futures do nothing unless awaited"]
pub struct Cancel<'a, 'r, T, D: Driver, C: Clock, const M: usize, const K: usize> {
    op: Pin<&'a mut Op<'r, T, D, C, M, K>>,
    requested: bool,
}

impl<T, D, C, const M: usize, const K: usize> Future for Cancel<'_, '_, T, D, C, M, K>
where
    T: Operation<D>,
    D: Driver,
    C: Clock,
{
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let cancelled = Completion::new(-errno::ECANCELED);
        if !self.requested {
            self.requested = true;
            let (reactor, stage, mut waiter) = self.op.as_mut().parts();
            match stage {
                Stage::Pending(_) => {
                    if waiter.leave(reactor) {
                        reactor.decline_offer();
                    }
                    let Stage::Pending(op) = mem::replace(stage, Stage::Done) else {
                        unreachable!()
                    };
                    return Poll::Ready(op.complete(cancelled));
                }
                Stage::Submitted(id) => {
                    let index = id.index();
                    if reactor.slot(index).state.get() == State::Unsubmitted {
                        *stage = Stage::Done;
                        // SAFETY: the `Op` put a `T` into the slot, and the
                        // backend never saw it.
                        let op = unsafe { reactor.take_unsubmitted::<T>(index) };
                        return Poll::Ready(op.complete(cancelled));
                    }
                    reactor.request_cancel(index);
                }
                Stage::Done => {}
            }
        }
        self.op.as_mut().poll(cx)
    }
}

/// The stream of [`Handle::submit_multishot`](super::Handle::submit_multishot):
/// one item per completion of a multishot operation, ending after the last.
/// Dropping it cancels the operation; later completions are released.
#[must_use = "streams do nothing unless polled"]
pub struct Multi<'r, T, D: Driver, C: Clock, const M: usize, const K: usize> {
    op: Op<'r, T, D, C, M, K>,
}

impl<'r, T, D, C, const M: usize, const K: usize> Multi<'r, T, D, C, M, K>
where
    T: Multishot<D>,
    D: Driver,
    C: Clock,
{
    pub(crate) fn new(op: Op<'r, T, D, C, M, K>) -> Self {
        Self { op }
    }

    /// The operation's id, once it is in the op table.
    pub fn id(&self) -> Option<OpId> {
        self.op.id()
    }
}

impl<T, D, C, const M: usize, const K: usize> Stream for Multi<'_, T, D, C, M, K>
where
    T: Multishot<D>,
    D: Driver,
    C: Clock,
{
    type Item = T::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        // SAFETY: structural pinning of the only field.
        let op = unsafe { self.map_unchecked_mut(|m| &mut m.op) };
        let (reactor, stage, mut waiter) = op.parts();
        loop {
            match stage {
                Stage::Pending(_) => {
                    if poll_claim(reactor, stage, &mut waiter, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Stage::Submitted(id) => {
                    let index = id.index();
                    let slot = reactor.slot(index);
                    // SAFETY: the slot holds this stream's `T`. Only a shared
                    // reference is made (the backend may be writing memory
                    // inside it, which the `Operation` contract puts in an
                    // `UnsafeCell`), and `item` and `take_overflow` do not
                    // touch that memory (`Multishot` contract).
                    let op = unsafe { &*slot.ptr().cast_const().cast::<T>() };
                    if let Some(completion) = slot.dequeue() {
                        return Poll::Ready(Some(op.item(completion)));
                    }
                    if let Some(item) = op.take_overflow() {
                        return Poll::Ready(Some(item));
                    }
                    // Everything that arrived was taken: new completions
                    // may queue again.
                    slot.overflowing.set(false);
                    if slot.state.get() != State::Completed {
                        slot.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                    *stage = Stage::Done;
                    let paused = slot.paused.get();
                    // SAFETY: this stream put a `T` into the slot; its
                    // queue is empty (drained above).
                    let (op, completion) = unsafe { reactor.take_completed::<T>(index) };
                    if paused && completion.result == -errno::ECANCELED {
                        // Paused by the reactor: the stream just ends.
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(op.item(completion)));
                }
                Stage::Done => return Poll::Ready(None),
            }
        }
    }
}

impl<T, D: Driver, C: Clock, const M: usize, const K: usize> fmt::Debug
    for Multi<'_, T, D, C, M, K>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multi").field("op", &self.op).finish()
    }
}
