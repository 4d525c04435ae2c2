//! Provided buffers: a ring of receive buffers the kernel picks from when
//! data arrives, so a multishot receive ([`RecvMulti`](crate::ops::RecvMulti))
//! needs no buffer of its own per connection and no new submission per
//! message.
//!
//! The application gives buffers to the kernel by writing their address,
//! length and id into the ring and advancing its tail; the kernel takes one
//! per completion and names it in the completion's flags. A [`RecvBuf`]
//! holds a taken buffer and gives it back to the ring when dropped.
//!
//! A backend without io_uring takes buffers from the same ring itself, in
//! the kernel's order ([`BufRing::peek_provided`],
//! [`BufRing::consume_provided`]), so both behave the same.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::{AtomicU16, Ordering};

use kasync::io::IoBuf;

use crate::backend::DriverId;

/// Buffer group id of the one ring a driver registers.
pub const GROUP: u16 = 0;

/// One ring entry, as the kernel reads it (`struct io_uring_buf`). The
/// first entry's `resv` field is the ring's tail.
#[repr(C)]
struct Entry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// Byte offset of the tail (the first entry's `resv`).
const TAIL_OFFSET: usize = 14;
const _: () = assert!(size_of::<Entry>() == 16 && std::mem::offset_of!(Entry, resv) == TAIL_OFFSET);

/// Receive buffers registered with one driver as a provided-buffer group.
/// Created by its backend's `register_buf_ring`; lives for the rest of the
/// program (the kernel keeps the registration), which is what lets
/// [`RecvBuf`]s be `'static`. Used from the driver's own thread only
/// (`!Sync`).
pub struct BufRing {
    /// `count` entries, page-aligned, shared with the kernel.
    entries: *mut Entry,
    /// Buffer memory: `count` buffers of `size` bytes.
    memory: Box<[UnsafeCell<u8>]>,
    size: usize,
    count: u16,
    /// The tail as this side last published it.
    tail: Cell<u16>,
    /// The next entry a backend that provides buffers itself takes (the
    /// kernel keeps its own head for a registered ring).
    head: Cell<u16>,
    /// Buffers in the ring, as of the last reap (the driver counts the
    /// completions that name a buffer).
    in_ring: Cell<u16>,
    /// The driver the buffers are registered with.
    owner: DriverId,
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // Only a ring that was never registered is dropped (registered
        // rings are leaked: the kernel may read them until the ring closes).
        // SAFETY: allocated in `new` with this layout, freed only here.
        unsafe { dealloc(self.entries.cast(), Self::layout(self.count)) };
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("buffers", &self.count)
            .field("size", &self.size)
            .field("available", &self.available())
            .finish()
    }
}

impl BufRing {
    /// Allocates the ring and the buffers (not yet registered) and puts
    /// every buffer into the ring. `count` must be a power of two from 1 to
    /// 32768, `size` from 1 to `u32::MAX`.
    /// For a backend to register (or, without io_uring, to take buffers
    /// from itself).
    pub fn new(count: u16, size: usize, owner: DriverId) -> io::Result<Self> {
        if !count.is_power_of_two() || count > 1 << 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "receive buffers: the count must be a power of two up to 32768, not {count}"
                ),
            ));
        }
        if size == 0 || u32::try_from(size).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("receive buffers: a buffer must have 1 to 4294967295 bytes, not {size}"),
            ));
        }
        let bytes = usize::from(count).checked_mul(size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "receive buffers: count × size does not fit in memory",
            )
        })?;
        let layout = Self::layout(count);
        // SAFETY: `layout` has a non-zero size (count ≥ 1).
        let entries = unsafe { alloc_zeroed(layout) }.cast::<Entry>();
        if entries.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let ring = Self {
            entries,
            memory: crate::memory::zeroed(bytes, "receive buffers")?,
            size,
            count,
            tail: Cell::new(0),
            head: Cell::new(0),
            in_ring: Cell::new(0),
            owner,
        };
        for bid in 0..count {
            ring.provide(bid);
        }
        Ok(ring)
    }

    /// The entries' allocation: page-aligned, as the kernel wants it.
    fn layout(count: u16) -> Layout {
        Layout::from_size_align(usize::from(count) * size_of::<Entry>(), 4096)
            .expect("at most 32768 entries of 16 bytes, page-aligned")
    }

    /// The ring's address and entry count, for registering it with
    /// io_uring (page-aligned, `count` entries of `struct io_uring_buf`).
    pub fn registration(&self) -> (u64, u16) {
        (self.entries as u64, self.count)
    }

    /// The driver the buffers are registered with.
    pub fn owner(&self) -> DriverId {
        self.owner
    }

    /// Size of each buffer in bytes.
    pub fn buffer_size(&self) -> usize {
        self.size
    }

    /// Number of buffers.
    pub fn buffers(&self) -> usize {
        self.count.into()
    }

    /// Buffers in the ring, ready for the kernel to fill, as of the last
    /// time the driver reaped completions. The others are held by
    /// [`RecvBuf`]s or by completions no stream has taken yet.
    pub fn available(&self) -> usize {
        self.in_ring.get().into()
    }

    /// Notes that the kernel took a buffer (the driver reaped a completion
    /// that names one).
    pub fn taken(&self) {
        self.in_ring.set(self.in_ring.get().saturating_sub(1));
    }

    /// For a backend that takes buffers itself: the buffer the kernel
    /// would take next, if the ring has one. It stays in the ring until
    /// [`consume_provided`](Self::consume_provided).
    pub fn peek_provided(&self) -> Option<Provided> {
        let head = self.head.get();
        if head == self.tail.get() {
            return None;
        }
        let at = (head & (self.count - 1)) as usize;
        // SAFETY: `at < count`, inside the allocation; entries between the
        // head and the tail were written by `provide` on this thread (the
        // ring is `!Sync`), and no kernel reads a ring that is not
        // registered with it.
        let (addr, len, bid) = unsafe {
            let entry = self.entries.add(at);
            (
                ptr::addr_of!((*entry).addr).read(),
                ptr::addr_of!((*entry).len).read(),
                ptr::addr_of!((*entry).bid).read(),
            )
        };
        debug_assert_eq!(addr, self.buffer_ptr(bid) as u64);
        Some(Provided {
            bid,
            ptr: self.buffer_ptr(bid),
            len,
        })
    }

    /// Takes the buffer [`peek_provided`](Self::peek_provided) named out of
    /// the ring (a completion will name it).
    pub fn consume_provided(&self) {
        debug_assert_ne!(self.head.get(), self.tail.get(), "nothing to consume");
        self.head.set(self.head.get().wrapping_add(1));
    }

    /// Gives buffer `bid` (back) to the kernel.
    pub(crate) fn provide(&self, bid: u16) {
        debug_assert!(bid < self.count);
        let tail = self.tail.get();
        let at = (tail & (self.count - 1)) as usize;
        // SAFETY: `at < count`, inside the allocation. The kernel reads
        // this entry only once the tail store below covers it, and never
        // writes entries; the fields are written through raw pointers so
        // the first entry's `resv` (the tail, which the kernel reads at any
        // time) is never covered by a reference.
        unsafe {
            let entry = self.entries.add(at);
            ptr::addr_of_mut!((*entry).addr).write(self.buffer_ptr(bid) as u64);
            ptr::addr_of_mut!((*entry).len).write(self.size as u32);
            ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail field is inside the allocation, 2-aligned (the
        // ring is page-aligned), and accessed only atomically from here.
        let shared_tail =
            unsafe { AtomicU16::from_ptr(self.entries.cast::<u8>().add(TAIL_OFFSET).cast()) };
        // Release: the kernel sees the entry written above once it sees
        // the new tail.
        shared_tail.store(tail, Ordering::Release);
        self.in_ring.set(self.in_ring.get() + 1);
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        self.memory[bid as usize * self.size].get()
    }
}

/// A buffer a backend took from a [`BufRing`] to receive into.
#[derive(Debug, Clone, Copy)]
pub struct Provided {
    /// Its id (what the completion names).
    pub bid: u16,
    /// Its memory.
    pub ptr: *mut u8,
    /// Its size.
    pub len: u32,
}

/// Received bytes: one of a [`BufRing`]'s shared buffers, which goes
/// back to the ring when dropped — or, for data taken off the shared
/// buffers ([`detach`](Self::detach)) or read without them, bytes in an
/// allocation of their own. Hold a shared one only as long as needed:
/// while every shared buffer is held, multishot receives find none.
///
/// It can be sent as it is (it is an [`IoBuf`]), e.g. by an echo server.
pub struct RecvBuf {
    data: Data,
}

enum Data {
    /// Buffer `bid` of `ring`, holding `len` received bytes.
    Shared {
        ring: &'static BufRing,
        bid: u16,
        len: usize,
    },
    /// Bytes of its own.
    Owned(Vec<u8>),
}

impl RecvBuf {
    /// Takes buffer `bid` with `len` received bytes out of the kernel's
    /// hands.
    pub(crate) fn shared(ring: &'static BufRing, bid: u16, len: usize) -> Self {
        Self {
            data: Data::Shared {
                ring,
                bid,
                len: len.min(ring.size),
            },
        }
    }

    /// Received bytes in an allocation of their own.
    pub fn owned(bytes: Vec<u8>) -> Self {
        Self {
            data: Data::Owned(bytes),
        }
    }

    /// The same bytes, copied out of the shared buffer, which goes back to
    /// the ring at once (an owned one is returned as it is). For data that
    /// may have to wait — a reader that is behind, a peer that does not
    /// read what is echoed — so that it pins no shared buffer meanwhile.
    pub fn detach(self) -> Self {
        match self.data {
            Data::Shared { .. } => Self::owned(self.to_vec()),
            Data::Owned(_) => self,
        }
    }

    /// `true` while it holds one of the ring's shared buffers.
    pub fn is_shared(&self) -> bool {
        matches!(self.data, Data::Shared { .. })
    }
}

impl Deref for RecvBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.data {
            // SAFETY: the kernel wrote `len` bytes into buffer `bid` and
            // handed it over (its completion named it); it gets the buffer
            // back only when this `RecvBuf` is dropped.
            Data::Shared { ring, bid, len } => unsafe {
                std::slice::from_raw_parts(ring.buffer_ptr(*bid), *len)
            },
            Data::Owned(bytes) => bytes,
        }
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        if let Data::Shared { ring, bid, .. } = self.data {
            ring.provide(bid);
        }
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.data {
            Data::Shared { bid, len, .. } => f
                .debug_struct("RecvBuf")
                .field("bid", bid)
                .field("len", len)
                .finish(),
            Data::Owned(bytes) => f
                .debug_struct("RecvBuf")
                .field("owned", &bytes.len())
                .finish(),
        }
    }
}

// SAFETY: a shared buffer's pointer is into the leaked buffer memory
// (stable forever), an owned one's into the vector's heap block (stable
// when the value moves; it never grows); the `len()` bytes behind it are
// initialised, and the buffer is not reused while this value (and so any
// operation holding it) lives.
unsafe impl IoBuf for RecvBuf {
    fn stable_ptr(&self) -> *const u8 {
        match &self.data {
            Data::Shared { ring, bid, .. } => ring.buffer_ptr(*bid),
            Data::Owned(bytes) => bytes.as_ptr(),
        }
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}
