//! Helpers shared by kasync's test suites and benchmarks.
//!
//! * [`alarm`] — a real interrupt: `SIGALRM` from an interval timer.
//! * [`alloc_counter`] — a counting global allocator to prove code paths
//!   allocation-free.
//! * [`watchdog`] — turns a hang (a lost wake-up) into a loud failure
//!   without asserting anything about timing.
//! * [`wake`] — counting wakers for futures polled by hand.
//! * [`crowd`] — many loopback connections at once: the descriptor limit
//!   raised, clients spread over several source addresses.
//!
//! The end-to-end tests themselves live in this package's `tests/` folder.

pub mod alarm;
pub mod alloc_counter;
pub mod crowd;
pub mod wake;
pub mod watchdog;
