//! # kasync core
//!
//! The allocation-free, `no_std` half of kasync: what an OS kernel or a
//! microcontroller firmware embeds to run async Rust with no heap.
//!
//! * [`executor`] — tasks in static, fixed-capacity storage (or storage
//!   that grows in chunks); one-word
//!   wakers that interrupt handlers may use; a lock-free ready queue.
//! * [`irq_queue`] — [`IrqQueue`], a bounded lock-free queue an interrupt
//!   handler pushes into and a task consumes as a `Stream`.
//! * [`sync`] — [`Channel`](sync::Channel), [`Signal`](sync::Signal),
//!   [`Mutex`](sync::Mutex), [`Semaphore`](sync::Semaphore) and
//!   [`PubSub`](sync::PubSub): coordination between tasks, and from
//!   interrupt handlers to tasks, in `static`s, without an allocator.
//! * [`time`] — `sleep`, `timeout` and `interval` on a hierarchical timer
//!   wheel driven by a [`Clock`](time::Clock).
//! * [`chunk`] — growth for the task and op tables: chunks of slots that
//!   never move, from memory the embedder supplies.
//! * [`io`] — the completion-driver contract, the op table that owns every
//!   operation in flight (buffers included) until its completion, and a
//!   deterministic simulated backend.
//!
//! Nothing here allocates, and nothing an interrupt handler or another
//! thread can reach takes a lock. What the runtime trusts for memory
//! safety — and what a panic in user code does — is in [`soundness`].
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

mod atomics;
mod list;
mod ring;
mod storage;
mod unwind;

pub mod chunk;
pub mod executor;
pub mod io;
pub mod irq_queue;
pub mod sync;
pub mod time;

#[doc = include_str!("../SOUNDNESS.md")]
pub mod soundness {}

pub use executor::{Executor, JoinError, JoinHandle, Platform, Runner, SpawnError};
pub use irq_queue::IrqQueue;
