//! kasync's io_uring completion driver (work in progress).
//!
//! This crate will implement the core's completion-driver trait over Linux
//! io_uring. Until then it only re-exports the core it builds on.

pub use kasync;
