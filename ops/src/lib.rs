//! # kasync's operating-system operations
//!
//! Every operation the host runs — accept, connect, send, receive, read
//! and write at an offset, open, close, fsync, … — is written once here,
//! against a description of the system call it makes: a [`Call`]. A
//! backend is a [`Driver`](kasync::io::Driver) whose operations are
//! `Call`s, and decides how to run one:
//!
//! * the io_uring backend (`kasync_uring`) turns a `Call` into a
//!   submission entry and lets the kernel complete it;
//! * the readiness backend (`kasync_poll`) makes the system call itself,
//!   waits for readiness (epoll, through `mio`) when the call would block,
//!   and reports the result as a completion — the same result codes, the
//!   same flags.
//!
//! The operations own what the kernel may touch (buffers, addresses,
//! paths) until their final completion, as the core's
//! [`Operation`](kasync::io::Operation) contract requires, whichever backend
//! runs them. The resources some operations use — shared receive buffers
//! ([`BufRing`]), registered buffers ([`FixedBufPool`]) and files
//! ([`FixedFd`]) — are made here and registered by the backend that owns
//! them ([`DriverId`]); a backend without registration uses them as plain
//! memory and descriptors.

mod addr;
mod backend;
mod bufring;
mod call;
mod fixed;
mod memory;
pub mod ops;

pub use addr::RawAddr;
pub use backend::{DriverFailure, DriverId, DriverStats, flags, foreign_resource, result};
pub use bufring::{BufRing, GROUP, Provided, RecvBuf};
pub use call::{Call, Timespec};
pub use fixed::{FixedBuf, FixedBufPool, FixedFd, Target, already_registered};
