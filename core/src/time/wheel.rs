//! A hierarchical timer wheel over intrusive timer entries.
//!
//! Six levels of 64 slots: level `L` slot `s` holds the entries whose
//! deadline shares every base-64 digit above `L` with the wheel's current
//! time and has digit `s` at `L`. Inserting and removing are O(1) (a list
//! push or unlink plus a bit in the level's occupancy word); finding the
//! next deadline looks at one occupancy word per level. When time reaches
//! a higher-level slot its entries move down ("cascade") until they fire
//! from level 0 at their exact tick.
//!
//! The wheel spans 64⁶ = 2³⁶ ticks (the current top-level window); a
//! deadline beyond the window waits in an overflow list and is re-filed
//! when time enters the next window.

use core::cell::Cell;
use core::task::Waker;

use crate::executor::{WakerCell, wake};
use crate::list::{List, Node};

const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;
/// Ticks one full wheel spans.
const SPAN: u64 = 1 << (SLOT_BITS * LEVELS as u32);

/// What a pending timer needs: its deadline, who to wake, where it is.
pub(crate) struct Entry {
    when: Cell<u64>,
    waker: WakerCell,
    fired: Cell<bool>,
    level: Cell<u8>,
    slot: Cell<u8>,
}

impl Entry {
    pub(crate) const fn new() -> Self {
        Self {
            when: Cell::new(0),
            waker: WakerCell::new(),
            fired: Cell::new(false),
            level: Cell::new(0),
            slot: Cell::new(0),
        }
    }

    /// `true` once the wheel fired this entry (reset by [`Wheel::insert`]).
    pub(crate) fn fired(&self) -> bool {
        self.fired.get()
    }

    /// Forgets that the entry fired (before it is given a new deadline).
    pub(crate) fn rearm(&self) {
        self.fired.set(false);
    }

    /// Wakes the waker it holds, if any (a timer due at once).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Sets the waker to wake when the entry fires; keeps the current one if
    /// it would wake the same task.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        self.waker.register(waker);
    }
}

/// A timer entry as it sits in a wheel list.
pub(crate) type TimerNode = Node<Entry>;

struct Level {
    /// Bit `s` set when slot `s` is non-empty.
    occupied: Cell<u64>,
    slots: [List<Entry>; SLOTS],
}

impl Level {
    const fn new() -> Self {
        Self {
            occupied: Cell::new(0),
            slots: [const { List::new() }; SLOTS],
        }
    }
}

/// The wheel: current time (in ticks) plus the levels.
pub(crate) struct Wheel {
    elapsed: Cell<u64>,
    levels: [Level; LEVELS],
    /// Entries due after the current top-level window (level `LEVELS`).
    overflow: List<Entry>,
    /// Entries taken out of a slot by `advance`, not yet fired or re-filed
    /// (level `PROCESSING`), so a waker that drops a timer while `advance`
    /// runs unlinks it from the right list.
    processing: List<Entry>,
}

/// Level number of entries in `Wheel::processing`.
const PROCESSING: usize = LEVELS + 1;

/// The level an entry due at `when` belongs to, seen from `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let differing = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - differing.leading_zeros();
    ((significant / SLOT_BITS) as usize).min(LEVELS - 1)
}

impl Wheel {
    /// `true` when no timer is filed.
    pub(crate) fn is_empty(&self) -> bool {
        self.overflow.is_empty()
            && self.processing.is_empty()
            && self.levels.iter().all(|l| l.occupied.get() == 0)
    }

    pub(crate) const fn new() -> Self {
        Self {
            elapsed: Cell::new(0),
            levels: [const { Level::new() }; LEVELS],
            overflow: List::new(),
            processing: List::new(),
        }
    }

    /// Files `node` to fire at tick `when`. Returns `false` (and files
    /// nothing) if `when` is not in the future of the wheel.
    ///
    /// # Safety
    /// `node` is pinned, not linked, and removed (with [`remove`]) before
    /// its memory is invalidated.
    ///
    /// [`remove`]: Wheel::remove
    pub(crate) unsafe fn insert(&self, node: &TimerNode, when: u64) -> bool {
        let entry = &node.value;
        entry.fired.set(false);
        entry.when.set(when);
        let elapsed = self.elapsed.get();
        if when <= elapsed {
            return false;
        }
        if when - (elapsed & !(SPAN - 1)) >= SPAN {
            // Beyond the current window: re-filed when time gets there.
            entry.level.set(LEVELS as u8);
            // SAFETY: forwarded from the caller.
            unsafe { self.overflow.push_front(node) };
            return true;
        }
        let level = level_for(elapsed, when);
        let slot = ((when >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
        entry.level.set(level as u8);
        entry.slot.set(slot as u8);
        let lvl = &self.levels[level];
        // SAFETY: forwarded from the caller.
        unsafe { lvl.slots[slot].push_front(node) };
        lvl.occupied.set(lvl.occupied.get() | 1 << slot);
        true
    }

    /// Unlinks `node` if it is filed. O(1).
    pub(crate) fn remove(&self, node: &TimerNode) {
        if !node.is_linked() {
            return;
        }
        let (level, slot) = (
            node.value.level.get() as usize,
            node.value.slot.get() as usize,
        );
        if level >= LEVELS {
            let list = if level == LEVELS {
                &self.overflow
            } else {
                &self.processing
            };
            // SAFETY: the entry's level names the list it is in.
            unsafe { list.remove(node) };
            return;
        }
        let lvl = &self.levels[level];
        // SAFETY: a linked timer node is in the list its entry names.
        unsafe { lvl.slots[slot].remove(node) };
        if lvl.slots[slot].is_empty() {
            lvl.occupied.set(lvl.occupied.get() & !(1 << slot));
        }
    }

    /// The earliest slot that needs processing: `(tick, level, slot)`;
    /// level `LEVELS` stands for the overflow list.
    fn next_slot(&self) -> Option<(u64, usize, usize)> {
        let elapsed = self.elapsed.get();
        if !self.processing.is_empty() {
            // Left aside by an `advance` that a panicking waker cut short:
            // due now.
            return Some((elapsed, PROCESSING, 0));
        }
        let mut best: Option<(u64, usize, usize)> = None;
        if !self.overflow.is_empty() {
            best = Some(((elapsed & !(SPAN - 1)) + SPAN, LEVELS, 0));
        }
        for (level, lvl) in self.levels.iter().enumerate() {
            let occupied = lvl.occupied.get();
            if occupied == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let now_slot = ((elapsed >> shift) as usize) & (SLOTS - 1);
            // Entries are filed at or after the current slot of their
            // level, and every slot whose time has come was processed.
            debug_assert_eq!(occupied >> now_slot << now_slot, occupied);
            let slot = occupied.trailing_zeros() as usize;
            let level_start = elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
            let start = (level_start + ((slot as u64) << shift)).max(elapsed);
            if best.is_none_or(|(t, _, _)| start < t) {
                best = Some((start, level, slot));
            }
        }
        best
    }

    /// The next tick at which something fires or must be re-filed.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        self.next_slot().map(|(t, _, _)| t)
    }

    /// Moves the wheel to tick `now`, firing every entry due by then.
    /// Returns how many fired.
    ///
    /// A waker that panics stops the advance with the entries still to
    /// fire on the `processing` list; the next advance fires them first.
    pub(crate) fn advance(&self, now: u64) -> usize {
        let mut fired = 0;
        while let Some((t, level, slot)) = self.next_slot() {
            if t > now {
                break;
            }
            self.elapsed.set(t);
            // Move the slot's entries aside first: re-filed entries may land
            // in the overflow list again (never in this slot: they lie
            // below its level).
            let from = match self.levels.get(level) {
                Some(lvl) => {
                    lvl.occupied.set(lvl.occupied.get() & !(1 << slot));
                    Some(&lvl.slots[slot])
                }
                None if level == LEVELS => Some(&self.overflow),
                None => None, // the processing list itself
            };
            while let Some(node) = from.and_then(List::pop_front) {
                node.value.level.set(PROCESSING as u8);
                // SAFETY: the node was linked (pinned, valid until removed)
                // and was just unlinked.
                unsafe { self.processing.push_front(node) };
            }
            while let Some(node) = self.processing.pop_front() {
                let entry = &node.value;
                if entry.when.get() <= now {
                    entry.fired.set(true);
                    let waker = entry.waker.take();
                    fired += 1;
                    // The node is unlinked and no longer touched: waking
                    // may run code that drops its owner.
                    if let Some(waker) = waker {
                        wake(waker);
                    }
                } else {
                    // SAFETY: the node was linked (so pinned and valid until
                    // removed) and was just unlinked.
                    let filed = unsafe { self.insert(node, entry.when.get()) };
                    debug_assert!(filed, "re-filed entries lie in the future");
                }
            }
        }
        if now > self.elapsed.get() {
            self.elapsed.set(now);
        }
        fired
    }
}
