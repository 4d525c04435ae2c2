//! Tables that grow in chunks which never move.
//!
//! An executor's task slots and a reactor's op slots are addressed by index
//! from contexts that keep pointers into them (wakers, the kernel), so a
//! table cannot grow by reallocating. A *growing* table keeps its first
//! slots inline and adds further slots in fixed-size chunks, found through
//! a chunk table; a chunk, once added, stays where it is until the table
//! is dropped.
//!
//! The core never allocates on its own: the memory comes from a
//! [`ChunkAlloc`] the embedder supplies (a std host passes the global
//! allocator; a kernel might pass a page allocator, or nothing and keep
//! fixed tables).

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::atomics::{AtomicPtr, AtomicUsize, Ordering};

/// Where a growing table gets its chunks.
///
/// # Safety
/// [`allocate`](Self::allocate) returns `None` or a pointer to
/// `layout.size()` bytes aligned to `layout.align()`, valid for reads and
/// writes, that nothing else uses until it is passed to
/// [`deallocate`](Self::deallocate) (the table may keep it forever). The
/// core writes slots into it and hands out pointers to them, so memory
/// that is not really the table's would be written and read by the
/// backend, wakers and tasks.
pub unsafe trait ChunkAlloc: Sync {
    /// A fresh block for `layout` (`layout.size()` is never zero), or
    /// `None` when memory is exhausted.
    fn allocate(&self, layout: Layout) -> Option<NonNull<u8>>;

    /// Gives back a block.
    ///
    /// # Safety
    /// `ptr` came from [`allocate`](Self::allocate) of this allocator with
    /// the same `layout`, and nothing uses it afterwards.
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout);
}

/// Most chunks a table can have.
#[cfg(not(loom))]
pub(crate) const MAX_CHUNKS: usize = 4096;
#[cfg(loom)]
pub(crate) const MAX_CHUNKS: usize = 8;

/// How a table grows: where its chunks come from, how many slots each
/// has, and the most slots the table may have in all.
///
/// ```
/// # use core::alloc::Layout;
/// # use core::ptr::NonNull;
/// use kasync::chunk::{ChunkAlloc, Growth};
///
/// struct Heap;
/// // SAFETY: the global allocator's blocks are fresh and valid until
/// // freed.
/// unsafe impl ChunkAlloc for Heap {
///     fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
///         // SAFETY: tables never ask for zero bytes.
///         NonNull::new(unsafe { std::alloc::alloc(layout) })
///     }
///     unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
///         // SAFETY: per the caller, `ptr` came from `allocate(layout)`.
///         unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
///     }
/// }
///
/// let growth = Growth::new(&Heap).chunk_slots(64).max_slots(100_000);
/// assert_eq!(growth.slots_per_chunk(), 64);
/// ```
#[derive(Clone, Copy)]
pub struct Growth {
    pub(crate) alloc: &'static dyn ChunkAlloc,
    /// log2 of the slots per chunk.
    pub(crate) shift: u32,
    /// The most slots the table may have, inline ones included.
    pub(crate) max_slots: usize,
}

impl fmt::Debug for Growth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Growth")
            .field("slots_per_chunk", &self.slots_per_chunk())
            .field("max_slots", &self.max_slots)
            .finish_non_exhaustive()
    }
}

impl Growth {
    /// Growth through `alloc`, 256 slots per chunk, no limit below the
    /// table's own maximum.
    pub const fn new(alloc: &'static dyn ChunkAlloc) -> Self {
        Self {
            alloc,
            shift: 8,
            max_slots: usize::MAX,
        }
    }

    /// Slots per chunk, rounded up to a power of two (at least 1, at most
    /// 65 536). Small chunks waste less memory; large ones make fewer
    /// allocations, and the chunk table (4 096 chunks) bounds the table's
    /// size at 4 096 chunks.
    pub const fn chunk_slots(mut self, slots: usize) -> Self {
        let slots = if slots > 65_536 { 65_536 } else { slots };
        self.shift = slots.next_power_of_two().trailing_zeros();
        self
    }

    /// The most slots the table may have, inline ones included, at least
    /// 1 (a limit below the inline count leaves the inline slots above it
    /// unused). At
    /// the limit, an executor's spawn fails with
    /// [`SpawnError::Full`](crate::SpawnError::Full) and a reactor's
    /// submissions wait for a free slot.
    pub const fn max_slots(mut self, max: usize) -> Self {
        self.max_slots = if max == 0 { 1 } else { max };
        self
    }

    /// Slots per chunk.
    pub const fn slots_per_chunk(&self) -> usize {
        1 << self.shift
    }
}

/// Why a table could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrowError {
    /// The table reached its limit (or has no growth).
    Limit,
    /// The allocator had no memory.
    OutOfMemory,
}

/// The chunks of one growing table. Chunks hold `elem_size`-byte elements
/// after a `head`-byte header; which elements, the table's owner decides.
///
/// Lock-free: two contexts that grow at once each add a chunk.
pub(crate) struct Chunks {
    growth: Option<Growth>,
    /// Bytes of one element.
    elem_size: usize,
    /// Alignment of chunks (at least the elements').
    align: usize,
    /// Bytes before the first element.
    head: usize,
    /// Elements kept inline by the owner, before the chunks.
    inline: usize,
    /// The chunk table (`MAX_CHUNKS` pointers), allocated with the first
    /// chunk.
    table: AtomicPtr<AtomicPtr<u8>>,
    /// Chunks added; they are the table's first `len` entries.
    len: AtomicUsize,
    /// [`limit`](Self::limit), worked out once: `capacity` is on every
    /// spawn and submission.
    limit: usize,
    /// log2 of [`per_chunk`](Self::per_chunk).
    shift: u32,
}

impl Chunks {
    crate::atomics::const_fn! {
        /// No chunks yet. `growth: None` never grows.
        pub(crate) fn new(
            growth: Option<Growth>,
            inline: usize,
            elem_size: usize,
            align: usize,
            head: usize,
        ) -> Self {
            let (limit, shift) = match growth {
                None => (inline, 0),
                Some(g) => {
                    let chunked = inline + MAX_CHUNKS * g.slots_per_chunk();
                    let limit = if chunked < g.max_slots { chunked } else { g.max_slots };
                    (limit, g.shift)
                }
            };
            Self {
                growth,
                elem_size,
                align,
                head,
                inline,
                table: AtomicPtr::new(core::ptr::null_mut()),
                len: AtomicUsize::new(0),
                limit,
                shift,
            }
        }
    }

    /// How the table grows, if it does.
    pub(crate) fn growth(&self) -> Option<Growth> {
        self.growth
    }

    /// Slots per chunk (1 without growth).
    #[inline]
    pub(crate) fn per_chunk(&self) -> usize {
        1 << self.shift
    }

    /// Slots the table may have at most.
    #[inline]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Slots available now: inline ones plus those of the chunks added,
    /// never above the limit.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        if self.growth.is_none() {
            return self.inline;
        }
        let len = self.len.load(Ordering::Acquire);
        (self.inline + (len << self.shift)).min(self.limit)
    }

    /// A chunk's layout; `None` if it does not fit the address space
    /// (large slots times many slots per chunk, on a 32-bit target): such a
    /// chunk cannot be allocated, and none ever was.
    fn layout(&self) -> Option<Layout> {
        let size = self
            .elem_size
            .checked_mul(self.per_chunk())?
            .checked_add(self.head)?;
        Layout::from_size_align(size, self.align).ok()
    }

    fn table_layout() -> Layout {
        Layout::new::<[AtomicPtr<u8>; MAX_CHUNKS]>()
    }

    /// The chunk and the element within it for table index `index`
    /// (`>= inline`), if that chunk was added.
    #[inline]
    pub(crate) fn locate(&self, index: usize) -> Option<(NonNull<u8>, usize)> {
        let g = self.growth?;
        let rest = index.checked_sub(self.inline)?;
        let k = rest >> g.shift;
        if k >= MAX_CHUNKS {
            return None;
        }
        let table = NonNull::new(self.table.load(Ordering::Acquire))?;
        // SAFETY: the table has `MAX_CHUNKS > k` entries, initialised
        // before it was published (Release in `table`, Acquire above).
        let chunk = unsafe { table.add(k).as_ref() }.load(Ordering::Acquire);
        Some((NonNull::new(chunk)?, rest & ((1 << g.shift) - 1)))
    }

    /// Pointer to element `within` of `chunk`.
    pub(crate) fn element(&self, chunk: NonNull<u8>, within: usize) -> NonNull<u8> {
        // SAFETY: `within` is below the chunk's element count (`locate`),
        // so the offset stays inside the chunk.
        unsafe { chunk.byte_add(self.head + within * self.elem_size) }
    }

    /// Bytes from element `within` back to its chunk's start.
    pub(crate) fn offset_of(&self, within: usize) -> usize {
        self.head + within * self.elem_size
    }

    /// Adds a chunk, initialised by `init(chunk, first_index)` before
    /// anyone else can see it, and returns the first table index it covers.
    /// If another context adds the same chunk first, this one's is given
    /// back and the other's index returned: either way the caller finds new
    /// slots from there. Lock-free: nobody waits for another context.
    pub(crate) fn grow(&self, init: impl FnOnce(NonNull<u8>, usize)) -> Result<usize, GrowError> {
        let g = self.growth.ok_or(GrowError::Limit)?;
        let k = self.len.load(Ordering::Acquire);
        let first = self.inline + k * g.slots_per_chunk();
        if first >= self.limit() || k >= MAX_CHUNKS {
            return Err(GrowError::Limit);
        }
        let table = self.table()?;
        // SAFETY: the table has `MAX_CHUNKS > k` entries.
        let entry = unsafe { table.add(k).as_ref() };
        if entry.load(Ordering::Acquire).is_null() {
            let layout = self.layout().ok_or(GrowError::OutOfMemory)?;
            let chunk = g.alloc.allocate(layout).ok_or(GrowError::OutOfMemory)?;
            init(chunk, first);
            let published = entry.compare_exchange(
                core::ptr::null_mut(),
                chunk.as_ptr(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if published.is_err() {
                // SAFETY: `chunk` came from `allocate(layout)` and was
                // never published.
                unsafe { g.alloc.deallocate(chunk, layout) };
            }
        }
        // Count the chunk (whoever added it: its adder may be preempted
        // before it counts it itself).
        self.len.fetch_max(k + 1, Ordering::AcqRel);
        Ok(first)
    }

    /// The chunk table, allocated on first use.
    fn table(&self) -> Result<NonNull<AtomicPtr<u8>>, GrowError> {
        if let Some(table) = NonNull::new(self.table.load(Ordering::Acquire)) {
            return Ok(table);
        }
        let g = self.growth.ok_or(GrowError::Limit)?;
        let layout = Self::table_layout();
        let fresh = g
            .alloc
            .allocate(layout)
            .ok_or(GrowError::OutOfMemory)?
            .cast::<AtomicPtr<u8>>();
        for k in 0..MAX_CHUNKS {
            // SAFETY: `fresh` has room for `MAX_CHUNKS` entries and is ours.
            unsafe { fresh.add(k).write(AtomicPtr::new(core::ptr::null_mut())) };
        }
        match self.table.compare_exchange(
            core::ptr::null_mut(),
            fresh.as_ptr(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(fresh),
            Err(other) => {
                // SAFETY: `fresh` came from `allocate(layout)` and was never
                // published.
                unsafe { g.alloc.deallocate(fresh.cast(), layout) };
                // Non-null: the exchange failed on it.
                NonNull::new(other).ok_or(GrowError::OutOfMemory)
            }
        }
    }

    /// Frees every chunk and the table. The owner has dropped what the
    /// elements held. A deallocation that panics does not leak the rest:
    /// they are freed while the panic unwinds (a second panic then aborts,
    /// as any panic during an unwind does).
    ///
    /// # Safety
    /// No pointer into the chunks is used afterwards.
    pub(crate) unsafe fn free(&self) {
        /// Goes on freeing if a deallocation unwinds.
        struct Rest<'a>(&'a Chunks);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                // SAFETY: as for the call this continues.
                unsafe { self.0.free() };
            }
        }
        let Some(g) = self.growth else { return };
        // No layout: no chunk was ever allocated (see `layout`).
        let Some(layout) = self.layout() else { return };
        if let Some(table) = NonNull::new(self.table.load(Ordering::Acquire)) {
            for k in 0..MAX_CHUNKS {
                // SAFETY: as in `locate`.
                let entry = unsafe { table.add(k).as_ref() };
                // Taken out first, so that going on after a panic skips it.
                let Some(chunk) = NonNull::new(entry.swap(core::ptr::null_mut(), Ordering::AcqRel))
                else {
                    continue;
                };
                let rest = Rest(self);
                // SAFETY: every chunk came from `allocate(layout)`; the
                // caller guarantees nobody uses it afterwards.
                unsafe { g.alloc.deallocate(chunk, layout) };
                core::mem::forget(rest);
            }
        }
        self.len.store(0, Ordering::Release);
        let table = self.table.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if let Some(table) = NonNull::new(table) {
            // SAFETY: the table came from `allocate(table_layout())`.
            unsafe { g.alloc.deallocate(table.cast(), Self::table_layout()) };
        }
    }
}
