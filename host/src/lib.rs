//! # kasync on Linux
//!
//! The std side of kasync: a [`Runtime`] that runs the core's executor and
//! reactor on Linux io_uring, with TCP ([`net`]), files ([`fs`]) and
//! timers ([`sleep`], [`io`]`().timeout(..)`), all with owned buffers; and
//! what the `host` command runs: a check of the machine and a tour.

pub mod apps;
mod backend;
mod buf;
mod chunk_memory;
pub mod compat;
mod descriptor;
pub mod fs;
pub mod io_tour;
pub mod machine;
pub mod net;
mod per_core;
mod recv_stream;
mod runtime;
#[cfg(target_os = "linux")]
pub mod signal;
pub mod time;
pub mod tour;

pub use backend::{BACKEND_VARIABLE, Backend, HostDriver, HostPlatform, SetupError};
pub use per_core::per_core;
pub use runtime::{
    Builder, CHUNK_SLOTS, Io, MAX_OPERATIONS, MAX_TASKS, MonotonicClock, OP_BYTES, OPS,
    RECV_BUFFER_BYTES, RECV_BUFFERS, Runtime, TASK_BYTES, TASKS, io, spawn, spawn_when_free,
};
pub use time::sleep;

/// The README's Rust examples (core and host), compiled and run as
/// doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
