//! The legacy virtio-PCI register block (BAR 0, I/O space) and how the
//! driver reaches it: through a [`Transport`] the kernel implements (port
//! I/O on x86), or a simulated device in tests.

/// Offsets of the legacy virtio-PCI registers (virtio 1.x §4.1.4.8), for a
/// device without MSI-X (the device's own configuration follows at
/// [`CONFIG`](reg::CONFIG)).
pub mod reg {
    /// Features the device offers (32 bits, read).
    pub const DEVICE_FEATURES: u16 = 0x00;
    /// Features the driver accepts (32 bits, write).
    pub const GUEST_FEATURES: u16 = 0x04;
    /// Physical page number (address / 4096) of the selected queue (32 bits).
    pub const QUEUE_PFN: u16 = 0x08;
    /// Size of the selected queue, set by the device (16 bits, read).
    pub const QUEUE_SIZE: u16 = 0x0C;
    /// Which queue the queue registers address (16 bits).
    pub const QUEUE_SELECT: u16 = 0x0E;
    /// Written with a queue's number when its available ring has news.
    pub const QUEUE_NOTIFY: u16 = 0x10;
    /// Device status (8 bits; 0 resets the device).
    pub const STATUS: u16 = 0x12;
    /// Interrupt status (8 bits): reading it acknowledges the interrupt and
    /// lowers the interrupt line.
    pub const ISR: u16 = 0x13;
    /// Start of the device-specific configuration (virtio-blk: capacity in
    /// 512-byte sectors, 64 bits).
    pub const CONFIG: u16 = 0x14;
}

/// Device status bits.
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = 4;
    /// Something went wrong in the guest; the driver gave up.
    pub const FAILED: u8 = 128;
}

/// Feature bits of virtio-blk that this driver knows.
pub mod feature {
    /// The device is read-only: writes fail.
    pub const RO: u32 = 1 << 5;
    /// The device has a write cache and takes flush requests.
    pub const FLUSH: u32 = 1 << 9;
}

/// Access to one legacy virtio-PCI device's register block.
///
/// # Safety
///
/// Each method reaches the register at `offset` of **one** virtio device's
/// legacy register block, and nothing else: the driver hands that device
/// physical addresses of memory it owns, and a transport that wrote
/// elsewhere (another device, memory) would let the device write where the
/// driver never allowed. No other code drives the same device's queue
/// while a driver uses the transport.
pub unsafe trait Transport {
    /// Reads the 8-bit register at `offset`.
    fn read8(&self, offset: u16) -> u8;
    /// Reads the 16-bit register at `offset`.
    fn read16(&self, offset: u16) -> u16;
    /// Reads the 32-bit register at `offset`.
    fn read32(&self, offset: u16) -> u32;
    /// Writes the 8-bit register at `offset`.
    fn write8(&self, offset: u16, value: u8);
    /// Writes the 16-bit register at `offset`.
    fn write16(&self, offset: u16, value: u16);
    /// Writes the 32-bit register at `offset`.
    fn write32(&self, offset: u16, value: u32);
}
