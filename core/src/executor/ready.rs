//! The ready queue: a bitmap of task slots with summary levels above it.
//!
//! Bit `i % W` of leaf word `i / W` (`W` = bits per word) says "task `i` is
//! ready". Setting the bit *is* the enqueue and the "already queued" check
//! in one `fetch_or`, and the run loop takes a whole word of ready tasks in
//! one `swap` — a wake→poll hand-off costs two read-modify-writes, one to
//! publish and one to consume. Nothing is linked, so a wake that an
//! interrupt handler cuts in half leaves nothing half-done for the run loop
//! to wait on, and a bit cannot be set twice, so the queue cannot overflow.
//!
//! Above the leaves sit *summary* levels: bit `w` of a summary word is set
//! while word `w` of the level below may hold ready tasks, so the run loop
//! never scans the whole bitmap. A fixed executor has one summary level
//! (the `top` word over up to 64 leaf words: 4 096 tasks); a growing one
//! has two (`top` over 64 middle words over 4 096 leaf words: 262 144
//! tasks), its leaves living in the executor's
//! [`TaskChunks`](super::TaskChunks).
//!
//! Summary bits are cleared lazily: the run loop leaves a bit set after
//! taking the words below it (tasks that keep waking each other refill
//! them), and a wake stops climbing as soon as it reads the next level's
//! bit already set — so a steady wake→poll hand-off touches the leaf and
//! reads one summary word, whatever the depth. The run loop clears a
//! summary bit only when it finds the word below empty while looking for
//! work — but never the bit over the word it emptied last, the one a task
//! spawned or woken next most likely lands in, so one task at a time costs
//! no summary writes — and then re-checks that word, restoring the bit if
//! work arrived. Every level is the same pair: "set a bit below,
//! read the bit above" (waker) / "clear the bit above, read the word below"
//! (run loop). It needs a store-load order: every access is `SeqCst`, so
//! all of them fall into one total order and one of the two reads sees the
//! other side's write (see [`store_load_order`]). On x86 that costs nothing
//! over weaker orderings (the read-modify-writes are `lock`ed either way,
//! the loads plain `mov`s).
//!
//! Invariant: a summary bit is clear only if the word below is empty or a
//! waker that set a bit there is still on its way up. The run loop restores
//! a bit it cleared when its re-check finds the word non-empty, so it never
//! strands work under a clear bit.
//!
//! Two flags sit in their own word, `flags`:
//!
//! * `SLEEPING` — the run loop is in `Platform::park`. It sets the flag,
//!   then checks the bitmap once more; every wake reads the flag after its
//!   own writes. In the one total order of `SeqCst`, either the wake's read
//!   comes after the flag was set — then the wake takes the flag (a
//!   `fetch_and`, so exactly one wake pends) and pends the platform — or
//!   the wake's writes come before the run loop's check, which then sees
//!   them and does not sleep. Busy run loops cost a wake one load of the
//!   flag, and no wake of a busy loop pends (which matters where `pend` is
//!   a system call). Lazily kept summary bits stay set while the loop
//!   sleeps: the check descends only through set bits, and a set bit never
//!   hides a leaf (see the invariant above).
//! * `ROOT` — the future passed to `block_on` was woken.
//!
//! Order: the run loop visits leaf words round-robin and, within a word,
//! takes every ready task at once and polls them in slot order. A task woken
//! while the run loop works through a batch lands in the *next* visit of its
//! word, after every other word — a task that wakes itself cannot starve
//! others.

use crate::atomics::{AtomicUsize, Ordering};

/// Ready bits per leaf word. Under loom one, so that a two-task model
/// exercises the summary levels on every wake.
#[cfg(not(loom))]
const LEAF_BITS: usize = usize::BITS as usize;
#[cfg(loom)]
const LEAF_BITS: usize = 1;

/// Leaf words per middle word (growing executors). Under loom two, so that
/// two tasks share a middle word.
#[cfg(not(loom))]
const MID_BITS: usize = usize::BITS as usize;
#[cfg(loom)]
const MID_BITS: usize = 2;

/// Bits of the `top` word.
const TOP_BITS: usize = usize::BITS as usize;

/// The `block_on` future was woken.
const ROOT: usize = 1;
/// The run loop is (about to be) asleep in `Platform::park`.
const SLEEPING: usize = 2;

/// The largest number of task slots a fixed executor can have: 4 096 where
/// `usize` has 64 bits, 1 024 where it has 32.
pub(crate) const MAX_TASKS: usize = LEAF_BITS * TOP_BITS;

/// The largest number of task slots a growing executor can have: 262 144
/// where `usize` has 64 bits, 32 768 where it has 32.
pub(crate) const MAX_TASKS_GROWING: usize = LEAF_BITS * MID_BITS * TOP_BITS;

/// Number of leaf words of a growing executor.
pub(crate) const LEAF_WORDS: usize = MID_BITS * TOP_BITS;
const _: () = assert!(LEAF_WORDS.is_power_of_two() && TOP_BITS.is_power_of_two());

/// The leaf words of a growing executor's ready queue.
pub(crate) type Leaves = [AtomicUsize; LEAF_WORDS];

/// Makes a `SeqCst` read-modify-write on one location and a later `SeqCst`
/// load of another location keep their order against the mirror-image pair
/// in another context.
///
/// In the C++20 memory model (Rust's), `SeqCst` operations have one total
/// order that every `SeqCst` load respects, which is all the two pairs need,
/// so this is empty. loom models `SeqCst` loads as mere `Acquire` loads
/// (it would report lost wakes the real model forbids) but models `SeqCst`
/// fences exactly, so under loom the same order is made with a fence —
/// the formulation the model check verifies.
#[inline(always)]
fn store_load_order() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// A `SeqCst` load that keeps its place after earlier writes (see
/// [`store_load_order`]).
#[inline(always)]
fn load(word: &AtomicUsize) -> usize {
    store_load_order();
    word.load(Ordering::SeqCst)
}

/// Clears `bit` in `above`, then re-checks `below`: returns `true` (with
/// the bit restored) if `below` holds work after all.
#[inline]
fn clear_and_recheck(above: &AtomicUsize, bit: usize, below: &AtomicUsize) -> bool {
    above.fetch_and(!bit, Ordering::SeqCst);
    if load(below) == 0 {
        return false;
    }
    above.fetch_or(bit, Ordering::SeqCst);
    true
}

/// The ready bitmap plus the `ROOT` and `SLEEPING` flags.
pub(crate) struct ReadyQueue {
    /// `ROOT` and `SLEEPING`.
    flags: AtomicUsize,
    /// One bit per word of `words`.
    top: AtomicUsize,
    /// The leaf words of a fixed executor; the middle words of a growing
    /// one.
    words: [AtomicUsize; TOP_BITS],
    /// The leaf words of a growing executor.
    leaves: Option<&'static Leaves>,
}

/// A word of ready tasks the run loop took out of the queue.
#[derive(Clone, Copy, Default)]
pub(crate) struct Batch {
    /// Index of the first task the word stands for.
    base: usize,
    /// Ready bits not yet handed out.
    bits: usize,
}

impl Batch {
    /// `true` when every task of the batch was handed out.
    pub(crate) fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Hands out the lowest-numbered task left in the batch.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<usize> {
        if self.bits == 0 {
            return None;
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.base + bit)
    }
}

/// Takes the ready tasks of `leaf`, leaf word number `number` of `words`
/// (a power of two), whose summary bit is `bit` of `above`; moves the
/// cursor past it. `last`: the word is the one the previous take emptied.
#[inline(always)]
fn take_leaf(
    above: &AtomicUsize,
    bit: usize,
    leaf: &AtomicUsize,
    number: usize,
    words: usize,
    cursor: &mut usize,
) -> Option<Batch> {
    // A load first, so that an empty word costs no swap.
    if load(leaf) == 0 {
        // The word the last take emptied keeps its flag: it is the one
        // most likely to be refilled (a task spawned or woken right after
        // the one that ran), and its waker then finds the flag set and
        // need not set it again — clearing and re-setting it would cost
        // two read-modify-writes per task. At most this one word is
        // visited while empty; the others drop their flag, so that later
        // visits skip them — unless work arrived meanwhile.
        if is_last(number, words, *cursor) || !clear_and_recheck(above, 1 << bit, leaf) {
            return None;
        }
    }
    // Its acquire half pairs with the release half of every `push` it
    // takes.
    let bits = leaf.swap(0, Ordering::SeqCst);
    if bits == 0 {
        return None;
    }
    // A power of two: a mask, not a division.
    *cursor = (number + 1) & (words - 1);
    Some(Batch {
        base: number * LEAF_BITS,
        bits,
    })
}

/// `true` if word `number` of `words` (a power of two) is the one the last
/// take emptied: the cursor stands right after it.
#[inline(always)]
fn is_last(number: usize, words: usize, cursor: usize) -> bool {
    (number + 1) & (words - 1) == cursor & (words - 1)
}

/// The leaf word of task `index` and its bit there.
#[inline(always)]
pub(crate) const fn locate(index: usize) -> (usize, usize) {
    (index / LEAF_BITS, 1 << (index % LEAF_BITS))
}

/// The set bits of `bits`, lowest first.
#[inline]
fn ones(mut bits: usize) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if bits == 0 {
            return None;
        }
        let bit = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        Some(bit)
    })
}

impl ReadyQueue {
    crate::atomics::const_fn! {
        /// A queue for up to [`MAX_TASKS`] tasks, or — with `leaves` — up
        /// to [`MAX_TASKS_GROWING`].
        pub(crate) fn new(leaves: Option<&'static Leaves>) -> Self {
            Self {
                flags: AtomicUsize::new(0),
                top: AtomicUsize::new(0),
                #[cfg(not(loom))]
                words: [const { AtomicUsize::new(0) }; TOP_BITS],
                #[cfg(loom)]
                words: core::array::from_fn(|_| AtomicUsize::new(0)),
                leaves,
            }
        }
    }

    /// The leaf words of a growing executor.
    pub(crate) fn leaves(&self) -> Option<&'static Leaves> {
        self.leaves
    }

    /// Word `i` of `words`; the mask keeps the index in bounds without a
    /// panic path on the waker's way (callers' indices are in range).
    #[inline(always)]
    fn word(&self, i: usize) -> &AtomicUsize {
        &self.words[i % TOP_BITS]
    }

    /// Leaf word `i` of a growing executor.
    #[inline(always)]
    fn leaf(leaves: &'static Leaves, i: usize) -> &'static AtomicUsize {
        &leaves[i % LEAF_WORDS]
    }

    /// Marks task `index` ready. Lock-free (no loop waits on another
    /// context); a task already marked stays marked once. Returns
    /// `true` if the run loop sleeps and must be pended.
    #[inline]
    pub(crate) fn push(&self, index: usize) -> bool {
        match self.leaves {
            None => self.push_small(index),
            Some(leaves) => self.push_large(leaves, index),
        }
    }

    /// [`push`](Self::push) with one summary level (a fixed executor's
    /// queue).
    #[inline(always)]
    pub(crate) fn push_small(&self, index: usize) -> bool {
        let leaf = index / LEAF_BITS;
        let bit = 1 << (index % LEAF_BITS);
        // Its release half publishes what the waker did before the wake to
        // the run loop's `swap`. (Only the task's own bit of the old value
        // is used, so this is one `lock bts` on x86, not a CAS loop.)
        if self.word(leaf).fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            // Already queued (whoever queued it looks at `flags`).
            return false;
        }
        self.mark_top(leaf);
        self.claim_pend()
    }

    /// Marks every task of `bits` in leaf word `leaf` ready — the wakes
    /// of several tasks of one word in one read-modify-write (a reactor's
    /// reap wakes many tasks at once). Returns `true` if the run loop
    /// sleeps and must be pended.
    ///
    /// Unlike [`push`](Self::push) it does not ask whether the bits were
    /// set already (that would take a compare-exchange loop for a mask): it
    /// always goes on to read the summary bits and the sleeping flag, which
    /// costs loads when they are set or clear as they should be.
    #[inline]
    pub(crate) fn push_bits(&self, leaf: usize, bits: usize) -> bool {
        // As in `push_small`: the release half publishes the wakers' writes.
        match self.leaves {
            None => {
                self.word(leaf).fetch_or(bits, Ordering::SeqCst);
                self.mark_top(leaf);
            }
            Some(leaves) => {
                Self::leaf(leaves, leaf).fetch_or(bits, Ordering::SeqCst);
                self.mark_mid(leaf);
            }
        }
        self.claim_pend()
    }

    /// [`push`](Self::push) with two summary levels (called out of line,
    /// so that fixed executors' wakes stay small).
    #[inline(always)]
    fn push_large(&self, leaves: &'static Leaves, index: usize) -> bool {
        let leaf = index / LEAF_BITS;
        let bit = 1 << (index % LEAF_BITS);
        // As in `push_small`.
        if Self::leaf(leaves, leaf).fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            return false;
        }
        self.mark_mid(leaf);
        self.claim_pend()
    }

    /// Sets the middle-word flag of leaf word `leaf`, which just got work
    /// (and the top bit above it, if that flag was clear).
    #[inline(always)]
    fn mark_mid(&self, leaf: usize) {
        let mid = leaf / MID_BITS;
        let flag = 1 << (leaf % MID_BITS);
        // A set flag means the run loop still looks at our leaf: its
        // clearing of the flag comes after this load, and its re-check of
        // the leaf after that sees our bit.
        if load(self.word(mid)) & flag == 0
            && self.word(mid).fetch_or(flag, Ordering::SeqCst) & flag == 0
        {
            self.mark_top(mid);
        }
    }

    /// Sets bit `top_bit` of `top` for a word that just became non-empty.
    #[inline(always)]
    fn mark_top(&self, top_bit: usize) {
        let flag = 1 << top_bit;
        // As one level down: a set bit means the run loop will re-check.
        if load(&self.top) & flag == 0 {
            self.top.fetch_or(flag, Ordering::SeqCst);
        }
    }

    /// After a wake's writes: `true` if the run loop sleeps and this wake
    /// is the one to pend it (it takes the flag, so later wakes do not).
    /// Busy run loops cost a wake one load here.
    #[inline(always)]
    fn claim_pend(&self) -> bool {
        load(&self.flags) & SLEEPING != 0
            && self.flags.fetch_and(!SLEEPING, Ordering::SeqCst) & SLEEPING != 0
    }

    /// Flags the `block_on` future as woken. Returns `true` if the run loop
    /// sleeps and must be pended.
    pub(crate) fn wake_root(&self) -> bool {
        self.flags.fetch_or(ROOT, Ordering::SeqCst) & SLEEPING != 0
            && self.flags.fetch_and(!SLEEPING, Ordering::SeqCst) & SLEEPING != 0
    }

    /// Takes the next word with ready tasks, visiting leaf words
    /// round-robin from `*cursor`, which it advances. Only the run loop
    /// calls this.
    #[inline]
    pub(crate) fn take(&self, cursor: &mut usize) -> Option<Batch> {
        match self.leaves {
            None => self.take_small(cursor),
            Some(leaves) => self.take_large(leaves, cursor),
        }
    }

    /// [`take`](Self::take) with one summary level.
    #[inline(always)]
    fn take_small(&self, cursor: &mut usize) -> Option<Batch> {
        let start = *cursor % TOP_BITS;
        let mut candidates = load(&self.top);
        while candidates != 0 {
            // The next set bit at or after `start`, cyclically.
            let word = (candidates.rotate_right(start as u32).trailing_zeros() as usize + start)
                % TOP_BITS;
            candidates &= !(1 << word);
            let leaf = self.word(word);
            if let Some(batch) = take_leaf(&self.top, word, leaf, word, TOP_BITS, cursor) {
                return Some(batch);
            }
        }
        None
    }

    /// [`take`](Self::take) with two summary levels.
    #[inline(never)]
    fn take_large(&self, leaves: &'static Leaves, cursor: &mut usize) -> Option<Batch> {
        let start = *cursor % LEAF_WORDS;
        let (start_mid, start_bit) = (start / MID_BITS, start % MID_BITS);
        let top = load(&self.top);
        let mut candidates = top;
        while candidates != 0 {
            // The next set bit at or after `start_mid`, cyclically.
            let mid = (candidates.rotate_right(start_mid as u32).trailing_zeros() as usize
                + start_mid)
                % TOP_BITS;
            candidates &= !(1 << mid);
            let from = if mid == start_mid { start_bit } else { 0 };
            if let Some(batch) = self.take_mid(leaves, mid, from, cursor) {
                return Some(batch);
            }
        }
        // The bits below the cursor in the word it started in.
        if top & (1 << start_mid) != 0 && start_bit != 0 {
            return self.take_mid(leaves, start_mid, 0, cursor);
        }
        None
    }

    /// Looks for ready tasks under middle word `mid`, from leaf bit `from`.
    #[inline(always)]
    fn take_mid(
        &self,
        leaves: &'static Leaves,
        mid: usize,
        from: usize,
        cursor: &mut usize,
    ) -> Option<Batch> {
        let flag = 1 << mid;
        let word = self.word(mid);
        let mut bits = load(word);
        if bits == 0 {
            // As in `take_leaf`: the middle word over the leaf the last
            // take emptied keeps its flag.
            let last_mid = (*cursor).wrapping_sub(1) % LEAF_WORDS / MID_BITS;
            if mid == last_mid || !clear_and_recheck(&self.top, flag, word) {
                return None;
            }
            bits = load(word);
        }
        let mut bits = if from == 0 {
            bits
        } else {
            bits & (usize::MAX << from)
        };
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let leaf = mid * MID_BITS + b;
            let word_at = Self::leaf(leaves, leaf);
            if let Some(batch) = take_leaf(word, b, word_at, leaf, LEAF_WORDS, cursor) {
                return Some(batch);
            }
        }
        None
    }

    /// Takes just the `ROOT` flag.
    pub(crate) fn take_root(&self) -> bool {
        self.flags.load(Ordering::SeqCst) & ROOT != 0
            && self.flags.fetch_and(!ROOT, Ordering::SeqCst) & ROOT != 0
    }

    /// Marks the run loop as going to sleep. Returns `true` if nothing is
    /// queued (the flag stays set: sleeping is safe, the first later wake
    /// will ask for a pend); `false` if work is already there (the flag is
    /// not set, or cleared again).
    pub(crate) fn start_sleeping(&self) -> bool {
        // Lazily kept summary bits stay: a wake reads `flags` after its
        // writes, so either it sees the flag or the check below sees its
        // bit (`SeqCst` on both sides).
        let prev = self.flags.fetch_or(SLEEPING, Ordering::SeqCst);
        if prev & ROOT == 0 && self.no_task_ready() {
            true
        } else {
            self.stop_sleeping();
            false
        }
    }

    /// Clears the sleeping flag after `Platform::park` returned.
    pub(crate) fn stop_sleeping(&self) {
        self.flags.fetch_and(!SLEEPING, Ordering::SeqCst);
    }

    /// `true` when no task and no `block_on` future is queued.
    pub(crate) fn is_empty(&self) -> bool {
        load(&self.flags) & ROOT == 0 && self.no_task_ready()
    }

    /// `true` when no task is queued: no leaf bit under the summary bits
    /// that are set.
    fn no_task_ready(&self) -> bool {
        for t in ones(load(&self.top)) {
            let word = load(self.word(t));
            match self.leaves {
                None if word != 0 => return false,
                None => {}
                Some(leaves) => {
                    for b in ones(word) {
                        if load(Self::leaf(leaves, t * MID_BITS + b)) != 0 {
                            return false;
                        }
                    }
                }
            }
        }
        true
    }
}
