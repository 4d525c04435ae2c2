//! The split virtqueue in the legacy layout (virtio 1.x §2.7): descriptor
//! table, available ring, used ring (page-aligned), and beside them one
//! request header and status byte per descriptor, all in the
//! [`QueueMemory`](crate::QueueMemory) the kernel supplied.
//!
//! The driver keeps its own copy of everything it must trust — the free
//! list, each chain's links, the next available index — and reads from
//! the device's side only the used ring, checking what it says.

use core::sync::atomic::{Ordering, fence};

use crate::dma::{MAX_QUEUE, QUEUE_MEMORY_BYTES};

/// A descriptor continues in the one its `next` names.
const DESC_NEXT: u16 = 1;
/// The device writes the descriptor's buffer (else it reads it).
const DESC_WRITE: u16 = 2;
/// In the used ring's flags: the device needs no notification now.
const USED_NO_NOTIFY: u16 = 1;

/// Bytes of one request header (type, reserved, sector).
pub(crate) const HEADER_BYTES: usize = 16;

/// Where each part of a queue of a given size lies in the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) size: u16,
    avail: usize,
    used: usize,
    headers: usize,
    statuses: usize,
    pub(crate) end: usize,
}

const fn align_up(value: usize, to: usize) -> usize {
    value.div_ceil(to) * to
}

impl Layout {
    /// The legacy layout of a queue of `size` entries, or `None` if the
    /// driver cannot hold one so large, one too small for a request (below
    /// 4), or `size` is not a power of two.
    pub(crate) const fn of(size: u16) -> Option<Layout> {
        let q = size as usize;
        // Below 4 entries no request chain (three descriptors) fits.
        if q < 4 || !q.is_power_of_two() || q > MAX_QUEUE {
            return None;
        }
        let avail = 16 * q;
        let used = align_up(avail + 6 + 2 * q, 4096);
        let headers = align_up(used + 6 + 8 * q, HEADER_BYTES);
        let statuses = headers + HEADER_BYTES * q;
        let end = statuses + q;
        if end > QUEUE_MEMORY_BYTES {
            return None;
        }
        Some(Layout {
            size,
            avail,
            used,
            headers,
            statuses,
            end,
        })
    }
}

/// One buffer of a descriptor chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    pub(crate) phys: u64,
    pub(crate) len: u32,
    /// The device writes it (a read's data, the status byte).
    pub(crate) device_writes: bool,
}

/// The driver's side of one split virtqueue.
pub(crate) struct SplitQueue {
    base: *mut u8,
    /// The region's physical address.
    phys: u64,
    layout: Layout,
    /// Links of the free list and of each chain in flight (the driver's
    /// copy: the descriptors in shared memory are only ever written).
    next: &'static mut [u16; MAX_QUEUE],
    free_head: u16,
    free: u16,
    /// The available index the driver has reached, and the one the device
    /// was last shown.
    avail_idx: u16,
    published: u16,
    /// The next used-ring entry to read.
    last_used: u16,
}

impl SplitQueue {
    /// A queue of `layout.size` entries at `base` (physical address
    /// `phys`), its rings zeroed.
    ///
    /// # Safety
    ///
    /// `base` points to `layout.end` bytes, 4096-aligned, that only this
    /// queue (and the device it is given to) uses from now on, at physical
    /// address `phys`.
    pub(crate) unsafe fn new(
        base: *mut u8,
        phys: u64,
        layout: Layout,
        next: &'static mut [u16; MAX_QUEUE],
    ) -> Self {
        // SAFETY: the caller gives the queue these bytes.
        unsafe { core::ptr::write_bytes(base, 0, layout.end) };
        let size = layout.size;
        for (i, link) in next.iter_mut().enumerate().take(size as usize) {
            *link = (i as u16).wrapping_add(1);
        }
        Self {
            base,
            phys,
            layout,
            next,
            free_head: 0,
            free: size,
            avail_idx: 0,
            published: 0,
            last_used: 0,
        }
    }

    /// Entries of the queue.
    pub(crate) fn size(&self) -> u16 {
        self.layout.size
    }

    /// Free descriptors.
    pub(crate) fn free(&self) -> u16 {
        self.free
    }

    /// The descriptor the next [`add`](Self::add) starts its chain at.
    pub(crate) fn free_head_hint(&self) -> u16 {
        self.free_head
    }

    /// The region's physical address.
    pub(crate) fn phys(&self) -> u64 {
        self.phys
    }

    fn write16(&self, offset: usize, value: u16) {
        debug_assert!(offset + 2 <= self.layout.end && offset % 2 == 0);
        // SAFETY: in the queue's region (the layout's offsets), aligned;
        // volatile, because the device reads it.
        unsafe { self.base.add(offset).cast::<u16>().write_volatile(value) };
    }

    fn write32(&self, offset: usize, value: u32) {
        debug_assert!(offset + 4 <= self.layout.end && offset % 4 == 0);
        // SAFETY: as for `write16`.
        unsafe { self.base.add(offset).cast::<u32>().write_volatile(value) };
    }

    fn write64(&self, offset: usize, value: u64) {
        debug_assert!(offset + 8 <= self.layout.end && offset % 8 == 0);
        // SAFETY: as for `write16`.
        unsafe { self.base.add(offset).cast::<u64>().write_volatile(value) };
    }

    fn read16(&self, offset: usize) -> u16 {
        debug_assert!(offset + 2 <= self.layout.end && offset % 2 == 0);
        // SAFETY: as for `write16`; volatile, because the device writes it.
        unsafe { self.base.add(offset).cast::<u16>().read_volatile() }
    }

    fn read32(&self, offset: usize) -> u32 {
        debug_assert!(offset + 4 <= self.layout.end && offset % 4 == 0);
        // SAFETY: as for `read16`.
        unsafe { self.base.add(offset).cast::<u32>().read_volatile() }
    }

    /// The physical address of descriptor `head`'s request header.
    pub(crate) fn header_phys(&self, head: u16) -> u64 {
        self.phys + (self.layout.headers + HEADER_BYTES * head as usize) as u64
    }

    /// The physical address of descriptor `head`'s status byte.
    pub(crate) fn status_phys(&self, head: u16) -> u64 {
        self.phys + (self.layout.statuses + head as usize) as u64
    }

    /// Writes the request header that descriptor `head`'s chain starts with.
    pub(crate) fn set_header(&self, head: u16, kind: u32, sector: u64) {
        let at = self.layout.headers + HEADER_BYTES * head as usize;
        self.write32(at, kind);
        self.write32(at + 4, 0);
        self.write64(at + 8, sector);
    }

    /// Sets descriptor `head`'s status byte (before submission: a value
    /// the device never writes, so a device that wrote nothing shows).
    pub(crate) fn set_status(&self, head: u16, value: u8) {
        let at = self.layout.statuses + head as usize;
        // SAFETY: in the region; volatile, the device writes it.
        unsafe { self.base.add(at).write_volatile(value) };
    }

    /// Descriptor `head`'s status byte, as the device left it.
    pub(crate) fn status(&self, head: u16) -> u8 {
        let at = self.layout.statuses + head as usize;
        // SAFETY: as for `set_status`.
        unsafe { self.base.add(at).read_volatile() }
    }

    /// Writes `parts` into free descriptors as one chain and queues its
    /// head on the available ring (shown to the device by
    /// [`publish`](Self::publish)). `None` if fewer descriptors are free
    /// than `parts` needs.
    pub(crate) fn add(&mut self, parts: &[Part]) -> Option<u16> {
        let count = u16::try_from(parts.len()).ok()?;
        if count == 0 || count > self.free {
            return None;
        }
        let head = self.free_head;
        let mut at = head;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let following = self.next[at as usize];
            let mut flags = if part.device_writes { DESC_WRITE } else { 0 };
            if !last {
                flags |= DESC_NEXT;
            }
            let desc = 16 * at as usize;
            self.write64(desc, part.phys);
            self.write32(desc + 8, part.len);
            self.write16(desc + 12, flags);
            self.write16(desc + 14, if last { 0 } else { following });
            if last {
                self.free_head = following;
            } else {
                at = following;
            }
        }
        self.free -= count;
        let slot = self.layout.avail + 4 + 2 * (self.avail_idx % self.size()) as usize;
        self.write16(slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        Some(head)
    }

    /// Shows the device the chains queued since the last call. Returns
    /// `true` if the device wants to be notified of them.
    pub(crate) fn publish(&mut self) -> bool {
        if self.avail_idx == self.published {
            return false;
        }
        // The descriptors and ring entries before the index that covers them.
        fence(Ordering::SeqCst);
        self.write16(self.layout.avail + 2, self.avail_idx);
        self.published = self.avail_idx;
        // The index before reading whether the device wants to hear of it.
        fence(Ordering::SeqCst);
        self.read16(self.layout.used) & USED_NO_NOTIFY == 0
    }

    /// `true` if the device has returned chains not yet taken.
    pub(crate) fn has_used(&self) -> bool {
        self.read16(self.layout.used + 2) != self.last_used
    }

    /// The next chain the device returned: its head as the device named it
    /// (unchecked: see [`release`](Self::release)) and the bytes it says it
    /// wrote.
    pub(crate) fn pop_used(&mut self) -> Option<(u32, u32)> {
        if self.read16(self.layout.used + 2) == self.last_used {
            return None;
        }
        // The index before the entry it covers.
        fence(Ordering::Acquire);
        let entry = self.layout.used + 4 + 8 * (self.last_used % self.size()) as usize;
        let id = self.read32(entry);
        let len = self.read32(entry + 4);
        self.last_used = self.last_used.wrapping_add(1);
        Some((id, len))
    }

    /// Frees the chain of `count` descriptors that starts at `head` (one
    /// the driver made with [`add`](Self::add) and the device returned).
    pub(crate) fn release(&mut self, head: u16, count: u16) {
        let mut tail = head;
        for _ in 1..count {
            tail = self.next[tail as usize];
        }
        self.next[tail as usize] = self.free_head;
        self.free_head = head;
        self.free += count;
    }
}
