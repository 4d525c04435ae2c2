//! A simulated legacy virtio-blk device for the driver's tests: registers
//! behind a [`Transport`], a disk in memory, and a device side that reads
//! the available ring and descriptor chains out of the driver's memory,
//! does the transfers and fills the used ring — when the run loop halts,
//! as a real device works while the CPU sleeps. It finds memory only
//! through the addresses the driver's [`Dma`] translated, and it writes
//! read buffers at completion time, so a buffer released before the
//! device is done is a use-after-free that miri reports.

#![allow(dead_code, reason = "each test binary uses part of the device")]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use kasync::io::sim::SimRng;
use kasync_virtio_blk::transport::{reg, status};
use kasync_virtio_blk::{Dma, Halt, SECTOR, Transport};

/// The byte at `offset` of the simulated disk as it starts: each sector
/// different, so a read from the wrong sector shows.
pub fn disk_byte(offset: u64) -> u8 {
    let sector = offset / SECTOR as u64;
    (sector.wrapping_mul(31) ^ (offset % SECTOR as u64)) as u8
}

/// What the driver's [`Dma`] handed out: each translated range, with a
/// pointer that may reach it (the device's only way into memory).
pub struct Mappings {
    ranges: RefCell<Vec<(u64, *mut u8, usize)>>,
    /// The next free "physical" page (below the 44 bits a legacy device
    /// addresses, unlike a test's heap).
    next: Cell<u64>,
}

impl Default for Mappings {
    fn default() -> Self {
        Self {
            ranges: RefCell::default(),
            next: Cell::new(1 << 32),
        }
    }
}

impl Mappings {
    /// A pointer to the `len` bytes at physical `phys`, from the newest
    /// translation that covers them.
    fn at(&self, phys: u64, len: usize) -> *mut u8 {
        let ranges = self.ranges.borrow();
        let covers = |&&(start, _, size): &&(u64, *mut u8, usize)| {
            phys >= start && phys + len as u64 <= start + size as u64
        };
        // The queue's region (the first translation), then the newest.
        let &(start, ptr, _) = ranges
            .first()
            .filter(covers)
            .or_else(|| ranges.iter().rev().find(covers))
            .unwrap_or_else(|| {
                panic!("the device was told to use {len} bytes at {phys:#x}, which no translation covers")
            });
        ptr.wrapping_add((phys - start) as usize)
    }
}

/// The tests' [`Dma`]: each translation gets "physical" pages of its own
/// (keeping the offset in the page), recorded for the device.
pub struct RecordingDma(pub Rc<Mappings>);

// SAFETY: the simulated device reaches the memory through the recorded
// pointer itself, so the address names exactly those bytes.
unsafe impl Dma for RecordingDma {
    fn phys(&self, virt: *const u8, len: usize) -> Option<u64> {
        let offset = (virt.addr() % 4096) as u64;
        let phys = self.0.next.get() + offset;
        self.0
            .next
            .set(self.0.next.get() + (offset + len as u64).div_ceil(4096) * 4096);
        let mut ranges = self.0.ranges.borrow_mut();
        // Old buffers' translations go (the queue's, the first, stays):
        // no test has this many requests in flight.
        if ranges.len() > 1024 {
            ranges.drain(1..513);
        }
        ranges.push((phys, virt.cast_mut(), len));
        Some(phys)
    }
}

/// The simulated disk's size in sectors (smaller under miri, which
/// interprets every byte it fills).
pub const SECTORS: u64 = if cfg!(miri) { 128 } else { 256 };

/// How the simulated device behaves.
#[derive(Clone)]
pub struct Behaviour {
    /// Entries of its queue.
    pub queue_size: u16,
    /// The disk's size in sectors.
    pub sectors: u64,
    /// Feature bits it offers.
    pub features: u32,
    /// Requests it completes per halt, at most.
    pub per_halt: usize,
    /// Completes the requests it holds in a random order (else in order).
    pub shuffle: Option<u64>,
    /// Sectors whose reads and writes fail with `IOERR`.
    pub bad_sectors: Vec<u64>,
    /// Answers flushes with `UNSUPP`.
    pub refuse_flush: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            queue_size: 16,
            sectors: SECTORS,
            features: kasync_virtio_blk::transport::feature::FLUSH,
            per_halt: usize::MAX,
            shuffle: None,
            bad_sectors: Vec::new(),
            refuse_flush: false,
        }
    }
}

/// The simulated device.
pub struct Device {
    pub behaviour: Behaviour,
    pub mappings: Rc<Mappings>,
    pub disk: RefCell<Vec<u8>>,
    pub status: Cell<u8>,
    pub guest_features: Cell<u32>,
    queue_pfn: Cell<u32>,
    isr: Cell<u8>,
    /// Available-ring entries taken so far.
    seen: Cell<u16>,
    /// Heads taken, not yet completed.
    held: RefCell<VecDeque<u16>>,
    rng: RefCell<SimRng>,
    /// Requests in the order the device took them: (type, sector).
    pub log: RefCell<Vec<(u32, u64)>>,
    pub notifies: Cell<u64>,
    pub interrupts: Cell<u64>,
    pub halts: Cell<u64>,
    /// Used-ring entries to write, before the next real one, naming heads
    /// the driver never gave (a hostile device).
    pub bogus: RefCell<Vec<u32>>,
    /// Takes requests but never completes them (a stuck device).
    pub stall: Cell<bool>,
    /// Returns requests in the used ring before it writes their status
    /// byte (a broken device's early entry); each is returned again, its
    /// status written, the next time the device works.
    pub early_entries: Cell<bool>,
    /// Requests returned early: (head, where its status goes, the status,
    /// the used `len`).
    early: RefCell<Vec<(u16, u64, u8, u32)>>,
    /// Completes reads with status OK without writing their data.
    pub skip_data: Cell<bool>,
    /// The `len` it puts in used entries instead of the real one.
    pub used_len: Cell<Option<u32>>,
    /// Added to used.idx once, after the next used entry.
    pub idx_jump: Cell<u16>,
    /// Halts after which the test fails as "would hang" (0: no limit).
    pub max_halts: Cell<u64>,
}

impl Device {
    /// A device behaving so, its disk filled with [`disk_byte`].
    pub fn new(behaviour: Behaviour) -> Rc<Device> {
        let bytes = behaviour.sectors * SECTOR as u64;
        Rc::new(Device {
            disk: RefCell::new((0..bytes).map(disk_byte).collect()),
            rng: RefCell::new(SimRng::new(behaviour.shuffle.unwrap_or(1))),
            behaviour,
            mappings: Rc::default(),
            status: Cell::new(0),
            guest_features: Cell::new(0),
            queue_pfn: Cell::new(0),
            isr: Cell::new(0),
            seen: Cell::new(0),
            held: RefCell::default(),
            log: RefCell::default(),
            notifies: Cell::new(0),
            interrupts: Cell::new(0),
            halts: Cell::new(0),
            bogus: RefCell::default(),
            stall: Cell::new(false),
            early_entries: Cell::new(false),
            early: RefCell::default(),
            skip_data: Cell::new(false),
            used_len: Cell::new(None),
            idx_jump: Cell::new(0),
            max_halts: Cell::new(0),
        })
    }

    fn q(&self) -> u64 {
        u64::from(self.behaviour.queue_size)
    }

    fn base(&self) -> u64 {
        u64::from(self.queue_pfn.get()) << 12
    }

    fn used(&self) -> u64 {
        let q = self.q();
        (16 * q + 6 + 2 * q).div_ceil(4096) * 4096
    }

    fn read<const N: usize>(&self, phys: u64) -> [u8; N] {
        let ptr = self.mappings.at(phys, N);
        let mut out = [0; N];
        for (i, byte) in out.iter_mut().enumerate() {
            // SAFETY: the driver translated these bytes for the device.
            *byte = unsafe { ptr.add(i).read_volatile() };
        }
        out
    }

    fn write(&self, phys: u64, bytes: &[u8]) {
        let ptr = self.mappings.at(phys, bytes.len());
        for (i, &byte) in bytes.iter().enumerate() {
            // SAFETY: as for `read`.
            unsafe { ptr.add(i).write_volatile(byte) };
        }
    }

    fn ring16(&self, offset: u64) -> u16 {
        u16::from_ne_bytes(self.read(self.base() + offset))
    }

    /// `true` if the driver gave requests the device has not completed.
    pub fn busy(&self) -> bool {
        self.queue_pfn.get() != 0
            && (!self.held.borrow().is_empty()
                || !self.early.borrow().is_empty()
                || self.ring16(16 * self.q() + 2) != self.seen.get())
    }

    /// Requests taken and not yet completed.
    pub fn held(&self) -> usize {
        self.held.borrow().len()
    }

    /// `true` if a request the device holds (taken, not completed, or
    /// returned early) has its data at `ptr`.
    pub fn holds_ptr(&self, ptr: *const u8) -> bool {
        self.take_available();
        let mut held: Vec<u16> = self.held.borrow().iter().copied().collect();
        held.extend(self.early.borrow().iter().map(|e| e.0));
        held.into_iter().any(|head| {
            let (_, _, flags, next) = self.descriptor(head);
            if flags & 1 == 0 {
                return false;
            }
            let (data, len, _, _) = self.descriptor(next);
            if len == 1 {
                return false;
            }
            self.mappings.at(data, len as usize).cast_const() == ptr
        })
    }

    /// The heads the device holds.
    pub fn held_heads(&self) -> Vec<u16> {
        self.held.borrow().iter().copied().collect()
    }

    /// Takes the new available entries and completes up to `per_halt` of
    /// the requests held; raises the interrupt if it completed any.
    pub fn work(&self) {
        self.take_available();
        if self.stall.get() {
            return;
        }
        let mut done = 0;
        // What it returned early, now for real (status first).
        for (head, status_at, status, written) in self.early.take() {
            self.write(status_at, &[status]);
            self.push_used(u32::from(head), written);
            done += 1;
        }
        while done < self.behaviour.per_halt {
            let head = {
                let mut held = self.held.borrow_mut();
                if held.is_empty() {
                    break;
                }
                let at = match self.behaviour.shuffle {
                    Some(_) => self.rng.borrow_mut().below(held.len() as u64) as usize,
                    None => 0,
                };
                held.remove(at).expect("in range")
            };
            self.complete(head);
            done += 1;
        }
        if done > 0 {
            self.isr.set(1);
            self.interrupts.set(self.interrupts.get() + 1);
        }
    }

    fn take_available(&self) {
        let q = self.q();
        let idx = self.ring16(16 * q + 2);
        while self.seen.get() != idx {
            let at = 16 * q + 4 + 2 * (u64::from(self.seen.get()) % q);
            let head = self.ring16(at);
            self.held.borrow_mut().push_back(head);
            self.seen.set(self.seen.get().wrapping_add(1));
            let header = self.descriptor(head).0;
            let header: [u8; 16] = self.read(header);
            let kind = u32::from_ne_bytes(header[0..4].try_into().unwrap());
            let sector = u64::from_ne_bytes(header[8..16].try_into().unwrap());
            self.log.borrow_mut().push((kind, sector));
        }
    }

    /// Descriptor `i`: address, length, flags, next.
    fn descriptor(&self, i: u16) -> (u64, u32, u16, u16) {
        assert!(
            u64::from(i) < self.q(),
            "descriptor {i} is outside the table"
        );
        let raw: [u8; 16] = self.read(self.base() + 16 * u64::from(i));
        (
            u64::from_ne_bytes(raw[0..8].try_into().unwrap()),
            u32::from_ne_bytes(raw[8..12].try_into().unwrap()),
            u16::from_ne_bytes(raw[12..14].try_into().unwrap()),
            u16::from_ne_bytes(raw[14..16].try_into().unwrap()),
        )
    }

    /// Does the request at `head` and returns it on the used ring.
    fn complete(&self, head: u16) {
        let mut chain = vec![self.descriptor(head)];
        while chain.last().unwrap().2 & 1 != 0 {
            assert!(chain.len() < 3, "a request chain longer than three");
            let next = chain.last().unwrap().3;
            chain.push(self.descriptor(next));
        }
        let (header_at, header_len, header_flags, _) = chain[0];
        assert_eq!(
            (header_len, header_flags & 2),
            (16, 0),
            "the header: 16 bytes, device-read"
        );
        let header: [u8; 16] = self.read(header_at);
        let kind = u32::from_ne_bytes(header[0..4].try_into().unwrap());
        let sector = u64::from_ne_bytes(header[8..16].try_into().unwrap());
        let (status_at, status_len, status_flags, _) = *chain.last().unwrap();
        assert_eq!(
            (status_len, status_flags & 2),
            (1, 2),
            "the status: 1 byte, device-written"
        );
        let mut written = 1;
        let status = match (kind, &chain[..]) {
            (4, [_, _]) if self.behaviour.refuse_flush => 2,
            (4, [_, _]) => 0,
            (0 | 1, [_, (data, len, flags, _), _]) => {
                let len = u64::from(*len);
                assert_eq!(len % SECTOR as u64, 0, "whole sectors");
                assert_eq!(flags & 2 != 0, kind == 0, "a read's data is device-written");
                let start = sector * SECTOR as u64;
                let sectors = sector..sector + len / SECTOR as u64;
                if start + len > self.behaviour.sectors * SECTOR as u64
                    || self
                        .behaviour
                        .bad_sectors
                        .iter()
                        .any(|s| sectors.contains(s))
                {
                    1
                } else {
                    let range = start as usize..(start + len) as usize;
                    if kind == 0 && self.skip_data.get() {
                        written += len as u32;
                    } else if kind == 0 {
                        let bytes = self.disk.borrow()[range].to_vec();
                        self.write(*data, &bytes);
                        written += len as u32;
                    } else {
                        let ptr = self.mappings.at(*data, len as usize);
                        let mut disk = self.disk.borrow_mut();
                        for (k, byte) in disk[range].iter_mut().enumerate() {
                            // SAFETY: translated for the device.
                            *byte = unsafe { ptr.add(k).read_volatile() };
                        }
                    }
                    0
                }
            }
            _ => 2,
        };
        for id in self.bogus.borrow_mut().drain(..) {
            self.push_used(id, 0);
        }
        let written = self.used_len.get().unwrap_or(written);
        if self.early_entries.get() {
            self.early
                .borrow_mut()
                .push((head, status_at, status, written));
            self.push_used(u32::from(head), written);
            return;
        }
        self.write(status_at, &[status]);
        self.push_used(u32::from(head), written);
        let jump = self.idx_jump.replace(0);
        if jump != 0 {
            let used = self.used();
            let idx = self.ring16(used + 2);
            self.write(
                self.base() + used + 2,
                &idx.wrapping_add(jump).to_ne_bytes(),
            );
        }
    }

    fn push_used(&self, id: u32, len: u32) {
        let q = self.q();
        let used = self.used();
        let idx = self.ring16(used + 2);
        let entry = self.base() + used + 4 + 8 * (u64::from(idx) % q);
        self.write(entry, &id.to_ne_bytes());
        self.write(entry + 4, &len.to_ne_bytes());
        self.write(self.base() + used + 2, &idx.wrapping_add(1).to_ne_bytes());
    }
}

/// The device's registers.
pub struct Ports(pub Rc<Device>);

// SAFETY: reaches the simulated device only.
unsafe impl Transport for Ports {
    fn read8(&self, offset: u16) -> u8 {
        match offset {
            reg::STATUS => self.0.status.get(),
            reg::ISR => self.0.isr.replace(0),
            _ => panic!("8-bit read of register {offset:#x}"),
        }
    }
    fn read16(&self, offset: u16) -> u16 {
        match offset {
            reg::QUEUE_SIZE => self.0.behaviour.queue_size,
            _ => panic!("16-bit read of register {offset:#x}"),
        }
    }
    fn read32(&self, offset: u16) -> u32 {
        match offset {
            reg::DEVICE_FEATURES => self.0.behaviour.features,
            reg::CONFIG => self.0.behaviour.sectors as u32,
            o if o == reg::CONFIG + 4 => (self.0.behaviour.sectors >> 32) as u32,
            _ => panic!("32-bit read of register {offset:#x}"),
        }
    }
    fn write8(&self, offset: u16, value: u8) {
        assert_eq!(offset, reg::STATUS, "8-bit write of register {offset:#x}");
        if value == 0 {
            self.0.queue_pfn.set(0);
        }
        self.0.status.set(value);
    }
    fn write16(&self, offset: u16, value: u16) {
        match offset {
            reg::QUEUE_SELECT => assert_eq!(value, 0, "virtio-blk has one queue"),
            reg::QUEUE_NOTIFY => {
                assert_eq!(value, 0, "notify of queue 0");
                assert_ne!(
                    self.0.status.get() & status::DRIVER_OK,
                    0,
                    "notified before DRIVER_OK"
                );
                self.0.notifies.set(self.0.notifies.get() + 1);
            }
            _ => panic!("16-bit write of register {offset:#x}"),
        }
    }
    fn write32(&self, offset: u16, value: u32) {
        match offset {
            reg::GUEST_FEATURES => {
                assert_eq!(
                    value & !self.0.behaviour.features,
                    0,
                    "features the device never offered"
                );
                self.0.guest_features.set(value);
            }
            reg::QUEUE_PFN => self.0.queue_pfn.set(value),
            _ => panic!("32-bit write of register {offset:#x}"),
        }
    }
}

/// The run loop's halt: the device works meanwhile (its interrupt ends
/// the halt). A halt with nothing for the device to do would sleep
/// forever on a real machine: it fails the test instead.
pub struct DeviceHalt(pub Rc<Device>);

impl Halt for DeviceHalt {
    fn halt_unless(&self, ready: &dyn Fn() -> bool) {
        if ready() {
            return;
        }
        let device = &self.0;
        device.halts.set(device.halts.get() + 1);
        let max = device.max_halts.get();
        assert!(
            max == 0 || device.halts.get() <= max,
            "the run loop halted {max} times without progress: it would hang"
        );
        assert!(
            device.busy(),
            "the run loop halted with nothing for the device to do: it would sleep forever"
        );
        device.work();
    }
}

pub mod rig;
