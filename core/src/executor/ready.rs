//! The ready queue: a two-level bitmap of task slots.
//!
//! Bit `i % W` of word `i / W` (`W` = bits per word) says "task `i` is
//! ready". Setting the bit *is* the enqueue and the "already queued" check
//! in one `fetch_or`, and the run loop takes a whole word of ready tasks in
//! one `swap` — a wake→poll hand-off costs two read-modify-writes, one to
//! publish and one to consume. Nothing is linked, so a
//! wake that an interrupt handler cuts in half leaves nothing half-done for
//! the run loop to wait on, and a bit cannot be set twice, so the queue
//! cannot overflow.
//!
//! A *summary* word has bit `w` set while word `w` may hold ready tasks, so
//! the run loop never scans the whole bitmap. Its top two bits are flags, so
//! that the decisions that must see each other are made on one location:
//!
//! * `SLEEPING` — the run loop is in `Platform::park`. The wake that makes
//!   the first work visible to a sleeping run loop finds it set and pends
//!   the platform; every other wake leaves the platform alone, so busy run
//!   loops cost wakers no `pend` (which matters where `pend` is a system
//!   call).
//! * `ROOT` — the future passed to `block_on` was woken.
//!
//! Summary bits are cleared lazily: the run loop leaves bit `w` set after
//! taking word `w` (tasks that keep waking each other refill it), and a
//! wake skips the summary write when it reads its word's bit already set.
//! The run loop clears a bit only when it finds the word empty — while
//! looking for work, or before sleeping — and then re-checks the word. The
//! pair "set word bit, read summary" (waker) / "clear summary bit, read
//! word" (run loop) needs a store-load order: every access to the summary
//! and the words is `SeqCst`, so all of them fall into one total order and
//! one of the two reads sees the other side's write (see
//! [`store_load_order`]). On x86 that costs nothing over weaker orderings
//! (the read-modify-writes are `lock`ed either way, the loads plain `mov`s),
//! and it keeps the argument free of mixed-ordering subtleties.
//!
//! Order: the run loop visits words round-robin and, within a word, takes
//! every ready task at once and polls them in slot order. A task woken while
//! the run loop works through a batch lands in the *next* visit of its word,
//! after every other word — a task that wakes itself cannot starve others.

use crate::sync::{AtomicUsize, Ordering};

/// Ready bits per word. Under loom one, so that a two-task model exercises
/// the summary level on every wake.
#[cfg(not(loom))]
const WORD_BITS: usize = usize::BITS as usize;
#[cfg(loom)]
const WORD_BITS: usize = 1;

/// The `block_on` future was woken.
const ROOT: usize = 1 << (usize::BITS - 2);
/// The run loop is (about to be) asleep in `Platform::park`.
const SLEEPING: usize = 1 << (usize::BITS - 1);
/// The summary bits that stand for words.
const WORDS: usize = ROOT - 1;

/// How many words the summary can stand for.
const MAX_WORDS: usize = usize::BITS as usize - 2;

/// Length of the word array: `MAX_WORDS` rounded up to a power of two.
const WORD_SLOTS: usize = usize::BITS as usize;

/// The largest number of task slots an executor can have: 3968 where
/// `usize` has 64 bits, 960 where it has 32.
pub(crate) const MAX_TASKS: usize = WORD_BITS * MAX_WORDS;

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

/// The ready bitmap plus the `ROOT` and `SLEEPING` flags.
pub(crate) struct ReadyQueue {
    /// Word bits, then `ROOT` and `SLEEPING`.
    summary: AtomicUsize,
    /// One bit per task slot. Only the first `MAX_WORDS` are used; the
    /// array has a power-of-two length so that indexing it with a word
    /// number masked by [`word_at`](Self::word_at) needs no bounds check
    /// (and no panic path on the waker's way).
    words: [AtomicUsize; WORD_SLOTS],
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

impl ReadyQueue {
    crate::sync::const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                summary: AtomicUsize::new(0),
                #[cfg(not(loom))]
                words: [const { AtomicUsize::new(0) }; WORD_SLOTS],
                #[cfg(loom)]
                words: core::array::from_fn(|_| AtomicUsize::new(0)),
            }
        }
    }

    /// Word number `word` (always below `MAX_WORDS` for the executor's
    /// task indices, which `Executor::new` checks at compile time).
    #[inline(always)]
    fn word_at(&self, word: usize) -> &AtomicUsize {
        &self.words[word % WORD_SLOTS]
    }

    /// Marks task `index` ready. Lock-free (no loop waits on another
    /// context); a task already marked stays marked once. Returns
    /// `true` if the run loop sleeps and must be pended.
    pub(crate) fn push(&self, index: usize) -> bool {
        let word = index / WORD_BITS;
        let bit = 1 << (index % WORD_BITS);
        // Its release half publishes what the waker did before the wake to
        // the run loop's `swap`; SeqCst orders it before the summary load.
        // (Only the task's own bit of the old value is used, so this is one
        // `lock bts` on x86, not a compare-and-swap loop.)
        if self.word_at(word).fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            // Already queued.
            return false;
        }
        let flag = 1 << word;
        store_load_order();
        if self.summary.load(Ordering::SeqCst) & flag != 0 {
            // The run loop still looks at this word. Either this load came
            // before the run loop's clearing of the flag, and then its
            // re-check of the word (after the clear) sees our bit, or it
            // came after, and we would have read the flag clear.
            return false;
        }
        let prev = self.summary.fetch_or(flag, Ordering::SeqCst);
        // The first wake that shows a sleeping run loop work pends it; a
        // sleeping run loop has no other summary bit set (it cleared them
        // all before it set `SLEEPING`).
        prev & SLEEPING != 0 && prev & (WORDS | ROOT) == 0
    }

    /// Flags the `block_on` future as woken. Returns `true` if the run loop
    /// sleeps and must be pended.
    pub(crate) fn wake_root(&self) -> bool {
        let prev = self.summary.fetch_or(ROOT, Ordering::SeqCst);
        prev & SLEEPING != 0 && prev & (WORDS | ROOT) == 0
    }

    /// Takes the next word with ready tasks, visiting words round-robin
    /// from `*cursor`, which it advances. Only the run loop calls this.
    #[inline]
    pub(crate) fn take(&self, cursor: &mut usize) -> Option<Batch> {
        let mut candidates = self.summary.load(Ordering::SeqCst) & WORDS;
        while candidates != 0 {
            // The summary's top bits are flags, never words, so rotating
            // the whole word yields word numbers below `MAX_WORDS`.
            let word = (candidates.rotate_right(*cursor as u32).trailing_zeros() as usize
                + *cursor)
                % usize::BITS as usize;
            let flag = 1 << word;
            candidates &= !flag;
            // A load first, so that an empty word costs no swap.
            if self.word_at(word).load(Ordering::SeqCst) == 0 {
                // A lazily kept flag: drop it, so that later visits skip
                // the word, then re-check the word as `start_sleeping` does.
                self.summary.fetch_and(!flag, Ordering::SeqCst);
                store_load_order();
                if self.word_at(word).load(Ordering::SeqCst) == 0 {
                    continue;
                }
            }
            // Its acquire half pairs with the release half of every `push`
            // it takes.
            let bits = self.word_at(word).swap(0, Ordering::SeqCst);
            if bits != 0 {
                *cursor = (word + 1) % MAX_WORDS;
                return Some(Batch {
                    base: word * WORD_BITS,
                    bits,
                });
            }
        }
        None
    }

    /// Takes just the `ROOT` flag.
    pub(crate) fn take_root(&self) -> bool {
        self.summary.load(Ordering::SeqCst) & ROOT != 0
            && self.summary.fetch_and(!ROOT, Ordering::SeqCst) & ROOT != 0
    }

    /// Marks the run loop as going to sleep. Returns `true` if nothing is
    /// queued (the flag stays set: sleeping is safe, the first later wake
    /// will ask for a pend); `false` if work is already there (the flag is
    /// not set, or cleared again).
    pub(crate) fn start_sleeping(&self) -> bool {
        // Drop the lazily kept word flags, then re-check their words: a
        // wake that saw a flag before this clear set its bit before this
        // re-check reads it (`SeqCst` on both sides, see the module docs).
        let kept = self.summary.fetch_and(!WORDS, Ordering::SeqCst) & WORDS;
        store_load_order();
        let mut busy = 0;
        let mut rest = kept;
        while rest != 0 {
            let word = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if self.word_at(word).load(Ordering::SeqCst) != 0 {
                busy |= 1 << word;
            }
        }
        if busy != 0 {
            self.summary.fetch_or(busy, Ordering::SeqCst);
            return false;
        }
        let prev = self.summary.fetch_or(SLEEPING, Ordering::SeqCst);
        if prev & (WORDS | ROOT) == 0 {
            true
        } else {
            self.stop_sleeping();
            false
        }
    }

    /// Clears the sleeping flag after `Platform::park` returned.
    pub(crate) fn stop_sleeping(&self) {
        self.summary.fetch_and(!SLEEPING, Ordering::SeqCst);
    }

    /// `true` when no task and no `block_on` future is queued.
    pub(crate) fn is_empty(&self) -> bool {
        let summary = self.summary.load(Ordering::SeqCst);
        if summary & ROOT != 0 {
            return false;
        }
        let mut rest = summary & WORDS;
        while rest != 0 {
            let word = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if self.word_at(word).load(Ordering::SeqCst) != 0 {
                return false;
            }
        }
        true
    }
}
