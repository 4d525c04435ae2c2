//! Helpers shared by kasync's test suites and benchmarks.
//!
//! * [`alloc_counter`] — a counting global allocator to prove code paths
//!   allocation-free.
//! * [`watchdog`] — turns a hang (a lost wake-up) into a loud failure
//!   without asserting anything about timing.
//! * [`wake`] — counting wakers for futures polled by hand.
//!
//! The end-to-end tests themselves live in this package's `tests/` folder.

pub mod alloc_counter;
pub mod wake;
pub mod watchdog;
