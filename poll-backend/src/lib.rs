//! # kasync readiness backend
//!
//! [`PollDriver`] implements the core's completion-driver contract
//! ([`kasync::io::Driver`]) over readiness — epoll on Linux, kqueue
//! elsewhere, through `mio` — for where io_uring is unavailable (seccomp
//! profiles that refuse `io_uring_setup`, `kernel.io_uring_disabled`, old
//! kernels, other systems). [`PollPlatform`] is the executor side of its
//! wake-ups (mio's `Waker`).
//!
//! It runs the same operations as the io_uring backend (`kasync_ops`) and
//! reports them the same way, emulating completions:
//!
//! * an operation makes its system call when it is pushed, without
//!   blocking (`MSG_DONTWAIT`, non-blocking listeners and connecting
//!   sockets); if the call would block, the operation waits in its
//!   descriptor's queue (one queue per direction, first come first served)
//!   and is tried again when the descriptor becomes ready;
//! * the result is its completion: the call's return value or `-errno`,
//!   exactly once, in order per descriptor and direction; a cancelled
//!   waiting operation completes with `-ECANCELED` and its memory is not
//!   touched again;
//! * regular files are always "ready": their reads, writes, `open`,
//!   `close`, `fsync` and `statx` run inline on the loop's thread;
//! * multishot accepts and receives stay queued and complete once per
//!   connection / arrival (flag [`MORE`](kasync_ops::flags::MORE)); a
//!   receive takes its buffer from the same [`BufRing`](kasync_ops::BufRing)
//!   the kernel would, in the kernel's order, and ends with `-ENOBUFS` when
//!   none is left; each wakes at most a few completions per loop turn so
//!   that a peer that never stops sending cannot hold the loop;
//! * registered buffers and files are plain memory and descriptors here.

mod attempt;
mod closes;
mod driver;
mod fds;
mod platform;
mod timers;

pub use closes::closing;
pub use driver::PollDriver;
pub use platform::PollPlatform;
