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
//! * regular files are always "ready": a read or write is first tried
//!   without waiting (`RWF_NOWAIT` on Linux), so what the page cache
//!   answers completes on the loop at the cost of one call; what would
//!   wait for the disk, and `open`, `fsync` and `statx`, run on a thread
//!   pool when the driver is given one
//!   ([`PollDriver::offload_to`]; the host gives its `spawn_blocking`
//!   pool), writes, position moves and `fsync` one at a time and in order
//!   per descriptor (reads at an offset side by side), and their results
//!   come back through the cross-thread waker; without a pool (or with
//!   it full) they run on the loop's thread, as does `close`;
//! * multishot accepts and receives stay queued and complete once per
//!   connection / arrival (flag [`MORE`](kasync_ops::flags::MORE)); a
//!   receive takes its buffer from the same [`BufRing`](kasync_ops::BufRing)
//!   the kernel would, in the kernel's order, and ends with `-ENOBUFS` when
//!   none is left; each wakes at most a few completions per loop turn so
//!   that a peer that never stops sending cannot hold the loop;
//! * registered buffers and files are plain memory and descriptors here;
//! * a descriptor known to be drained — after `EAGAIN`, or a transfer
//!   shorter than asked for on a TCP socket (as tokio assumes too; not
//!   after a `MSG_PEEK`, and never on Unix or datagram sockets, where a
//!   read stops short with more queued) — waits for its next readiness
//!   event without a call, so a request costs the system calls it costs on
//!   tokio. TCP urgent data (`MSG_OOB`) breaks the assumption: a read
//!   stops short at the urgent mark, and what follows waits for the next
//!   arrival.
//!
//! Where it differs from io_uring, and what a caller must do:
//!
//! * **Close through [`closing`].** The driver remembers descriptors by
//!   number. The host's sockets and files call [`closing`] when they close;
//!   code that hands raw descriptors to operations must too (or close them
//!   with the `Close` operation) — otherwise a new descriptor that gets the
//!   same number may be taken for the old one, and operations on it wait
//!   forever.
//! * Listeners and connecting sockets are switched to `O_NONBLOCK` (their
//!   calls have no per-call flag); other descriptors keep their mode.
//! * Pipes, FIFOs, terminals and eventfds are read and written in their
//!   blocking mode after `poll(2)` says they are ready, at most `PIPE_BUF`
//!   bytes per write: a read can still block the loop if another reader
//!   (another process or loop) takes the data in between.
//! * Without a pool, file operations run on the loop's thread: a slow
//!   disk, or opening a FIFO whose other end is not open yet, stalls the
//!   loop's other work. With one, a file operation that is running cannot
//!   be cancelled (as in the kernel): its cancel waits for its result.

mod attempt;
mod closes;
mod driver;
mod fds;
mod file_rw;
#[cfg(target_os = "linux")]
mod nowait;
mod offload;
mod platform;
mod timers;

pub use closes::closing;
pub use driver::PollDriver;
pub use offload::Job;
pub use platform::PollPlatform;
