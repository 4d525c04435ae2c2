//! The io_uring driver against the running kernel.

use kasync_uring::{Config, Feature, UringDriver};

/// A thread can register at most 16 rings (`IORING_REGISTER_RING_FDS`), and
/// a registered ring is not freed while registered: a driver that kept its
/// registration after being dropped would leak its ring and, by the 17th,
/// leave later drivers unregistered.
#[test]
fn each_driver_gives_its_ring_registration_back() {
    let first = UringDriver::new(&Config::default()).expect("io_uring is needed");
    let expected = first.features().contains(Feature::RegisteredRing);
    assert_eq!(first.flags().registered_ring, expected);
    if !expected {
        eprintln!("this kernel lacks registered-ring: every driver must use the plain descriptor");
    }
    drop(first);
    for i in 0..40 {
        let driver = UringDriver::new(&Config::default()).expect("io_uring is needed");
        assert_eq!(driver.flags().registered_ring, expected, "driver {i}");
    }
}
