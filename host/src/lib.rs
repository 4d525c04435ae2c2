//! # kasync on Linux
//!
//! The std side of kasync. Today it holds what the `host` command runs: a
//! check of the machine and a tour of the core runtime on real threads.
//! The io_uring runtime (sockets, files, timers) builds on these pieces.

pub mod machine;
mod runtime;
pub mod tour;

pub use runtime::{Builder, Io, MonotonicClock, Runtime, io, sleep, spawn};
