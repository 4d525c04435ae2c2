//! PCI configuration space through the legacy ports 0xCF8 (address) and
//! 0xCFC (data), and a search of every bus for one device.

use crate::cpu::{inl, outl};

const ADDRESS: u16 = 0xCF8;
const DATA: u16 = 0xCFC;

/// One function of one device on one bus.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl Function {
    /// The 32-bit configuration register at `offset` (4-aligned).
    pub fn read32(self, offset: u8) -> u32 {
        outl(ADDRESS, self.address(offset));
        inl(DATA)
    }

    fn write32(self, offset: u8, value: u32) {
        outl(ADDRESS, self.address(offset));
        outl(DATA, value);
    }

    fn address(self, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.device) << 11
            | u32::from(self.function) << 8
            | u32::from(offset & 0xFC)
    }

    /// Vendor and device id; vendor 0xFFFF means nothing is there.
    pub fn ids(self) -> (u16, u16) {
        let id = self.read32(0);
        (id as u16, (id >> 16) as u16)
    }

    /// The I/O port base of BAR 0, if BAR 0 is an I/O-space BAR.
    pub fn io_bar0(self) -> Option<u16> {
        let bar = self.read32(0x10);
        (bar & 1 == 1).then_some((bar & 0xFFFC) as u16)
    }

    /// The interrupt line the firmware routed the device's INTx to (an
    /// 8259 IRQ number; 0xFF: none).
    pub fn interrupt_line(self) -> u8 {
        self.read32(0x3C) as u8
    }

    /// Lets the device answer I/O-port accesses and master the bus (DMA).
    pub fn enable_io_and_dma(self) {
        let command = self.read32(0x04);
        self.write32(0x04, (command & 0xFFFF) | 0b101);
    }
}

/// The first function with `vendor:device` ids, searching every bus.
pub fn find(vendor: u16, device: u16) -> Option<Function> {
    for bus in 0..=255u8 {
        for slot in 0..32u8 {
            for function in 0..8u8 {
                let f = Function {
                    bus,
                    device: slot,
                    function,
                };
                let (v, d) = f.ids();
                if v == 0xFFFF {
                    if function == 0 {
                        break; // no device in this slot
                    }
                    continue;
                }
                if (v, d) == (vendor, device) {
                    return Some(f);
                }
                // Header type bit 7: more than one function.
                if function == 0 && f.read32(0x0C) & 0x0080_0000 == 0 {
                    break;
                }
            }
        }
    }
    None
}
