//! A test rig: a heap buffer that counts its drops (and can watch for a
//! drop while the device holds it), and a device, its driver in a
//! reactor (op table of `M` slots) and a runner.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use kasync::Runner;
use kasync::executor::{Executor, Spin};
use kasync::io::{IoBuf, IoBufMut, Reactor};
use kasync::time::ManualClock;
use kasync_virtio_blk::{BlkDriver, BlkStats, QueueMemory, SECTOR};

use super::{Behaviour, Device, DeviceHalt, Ports, RecordingDma, disk_byte};

pub type Drv = BlkDriver<Ports, RecordingDma, DeviceHalt>;
pub type Disk<const M: usize> = Reactor<Drv, &'static ManualClock, M, 128>;
pub type Io<const M: usize> = kasync::io::Handle<'static, Drv, &'static ManualClock, M, 128>;

/// A heap buffer that counts how often buffers of its family are dropped.
pub struct Sectors {
    pub data: Box<[u8]>,
    pub init: usize,
    pub drops: Rc<Cell<usize>>,
    /// If set: on drop, counts a violation if the device still holds a
    /// request whose data is this buffer.
    pub watch: Option<(Rc<Device>, Rc<Cell<usize>>)>,
}

impl Sectors {
    pub fn empty(sectors: usize, drops: &Rc<Cell<usize>>) -> Self {
        Self::bytes_of(sectors * SECTOR, drops)
    }
    pub fn bytes_of(len: usize, drops: &Rc<Cell<usize>>) -> Self {
        Self {
            data: vec![0; len].into_boxed_slice(),
            init: 0,
            drops: drops.clone(),
            watch: None,
        }
    }
    /// Watched by `device`: a drop while it holds the buffer counts in
    /// `violations`.
    pub fn watched(mut self, device: &Rc<Device>, violations: &Rc<Cell<usize>>) -> Self {
        self.watch = Some((device.clone(), violations.clone()));
        self
    }
    pub fn filled(bytes: &[u8], drops: &Rc<Cell<usize>>) -> Self {
        Self {
            data: bytes.into(),
            init: bytes.len(),
            drops: drops.clone(),
            watch: None,
        }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.init]
    }
}

impl Drop for Sectors {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some((device, violations)) = &self.watch
            && device.holds_ptr(self.data.as_ptr())
        {
            violations.set(violations.get() + 1);
        }
    }
}

// SAFETY: a boxed slice does not move when the box does; `init` never
// exceeds its length.
unsafe impl IoBuf for Sectors {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.data.len()
    }
}

// SAFETY: as above; the box is exclusively ours.
unsafe impl IoBufMut for Sectors {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.init = self.init.max(n.min(self.data.len()));
    }
}

/// A device behaving so, its driver in a (leaked) reactor, and a runner.
pub struct Rig<const M: usize> {
    pub device: Rc<Device>,
    pub disk: Pin<&'static Disk<M>>,
    pub io: Io<M>,
    pub runner: Runner<Spin, 64, 1024>,
}

/// The driver for a fresh device behaving so.
pub fn driver(behaviour: Behaviour) -> (Rc<Device>, Result<Drv, kasync_virtio_blk::SetupError>) {
    let device = Device::new(behaviour);
    let driver = BlkDriver::new(
        Ports(device.clone()),
        RecordingDma(device.mappings.clone()),
        Box::leak(Box::new(QueueMemory::new())),
        DeviceHalt(device.clone()),
    );
    (device, driver)
}

pub fn clock() -> &'static ManualClock {
    Box::leak(Box::new(ManualClock::new(1_000)))
}

impl<const M: usize> Rig<M> {
    pub fn new(behaviour: Behaviour) -> Self {
        let (device, driver) = driver(behaviour);
        let driver = driver.expect("the simulated device sets up");
        let disk: &'static Disk<M> = Box::leak(Box::new(Reactor::new(driver, clock())));
        let disk = Pin::static_ref(disk);
        let executor: &'static Executor<Spin, 64, 1024> = Box::leak(Box::new(Executor::new(Spin)));
        Rig {
            device,
            io: disk.handle(),
            disk,
            runner: executor.runner().expect("a fresh executor"),
        }
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runner.block_on_with(&*self.disk, future)
    }

    pub fn stats(&self) -> BlkStats {
        self.disk.with_driver(|d| d.stats())
    }
}

/// Checks `bytes` are the disk's, from `sector` on, as the device started.
pub fn assert_original(bytes: &[u8], sector: u64) {
    for (i, &b) in bytes.iter().enumerate() {
        let at = sector * SECTOR as u64 + i as u64;
        assert_eq!(
            b,
            disk_byte(at),
            "byte {i} of the read from sector {sector}"
        );
    }
}
