//! The io_uring driver against the running kernel.

use kasync_uring::{Config, UringDriver};

/// The running kernel's (major, minor) version.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A thread can register at most 16 rings (`IORING_REGISTER_RING_FDS`), and
/// a registered ring is not freed while registered: a driver that kept its
/// registration after being dropped would leak its ring and, by the 17th,
/// leave later drivers unregistered.
#[test]
fn each_driver_gives_its_ring_registration_back() {
    let expected = kernel_version() >= (5, 18);
    for i in 0..40 {
        let driver = UringDriver::new(&Config::default()).expect("io_uring is needed");
        assert_eq!(
            driver.flags().registered_ring,
            expected,
            "driver {i} on kernel {:?}",
            kernel_version()
        );
    }
}
