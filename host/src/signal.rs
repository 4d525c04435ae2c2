//! Signals as futures: a `signalfd`, waited for through the ring and read
//! on the runtime's thread.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use kasync_ops::ops::Readable;

use crate::descriptor::Descriptor;
use crate::runtime::io;

/// Receives the given signals as values instead of interrupting the
/// program. Creating it blocks the signals for the calling thread (and the
/// threads it starts afterwards), so create it early, before other
/// threads. They stay blocked when it is dropped: unblocking would deliver
/// a signal that arrived meanwhile with its default action (a second
/// Ctrl-C would end the program), and a drop on another thread would
/// change the wrong thread's mask.
#[derive(Debug)]
pub struct Signals {
    fd: Descriptor,
}

impl Signals {
    /// Starts receiving `signals` (e.g. `libc::SIGINT`).
    ///
    /// ```
    /// use kasync_host::signal::Signals;
    ///
    /// kasync_host::Runtime::new()?.block_on(async {
    ///     let signals = Signals::new(&[libc::SIGUSR1])?;
    ///     // SAFETY: kill(2) at this process, for a signal it now receives
    ///     // as a value.
    ///     unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    ///     assert_eq!(signals.recv().await?, libc::SIGUSR1);
    ///     // Not a signal number: refused.
    ///     assert!(Signals::new(&[12345]).is_err());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(signals: &[i32]) -> io::Result<Self> {
        // SAFETY: `set` is initialised by `sigemptyset` before use; the
        // calls only read and write it and the thread's signal mask.
        let fd = unsafe {
            let mut set: libc::sigset_t = mem::zeroed();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                if libc::sigaddset(&mut set, signal) != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("not a signal: {signal}"),
                    ));
                }
            }
            let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd: fd.into() })
    }

    /// Waits for the next of the signals and returns its number.
    ///
    /// (See [`new`](Self::new) for an example.)
    pub async fn recv(&self) -> io::Result<i32> {
        // A signalfd read returns the *reading* thread's signals, and an
        // io_uring read of it may run on a kernel worker thread, which has
        // none (on Linux 6.1 such a read waits forever). So the ring only
        // waits for the descriptor to become readable, and the read is
        // made here, without blocking.
        let size = mem::size_of::<libc::signalfd_siginfo>();
        loop {
            io().submit(Readable {
                fd: self.fd.as_raw_fd(),
            })
            .await?;
            let mut info = mem::MaybeUninit::<libc::signalfd_siginfo>::uninit();
            // SAFETY: reads at most `size` bytes into `info`, which has
            // room for them; the descriptor is non-blocking.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
            if n < 0 {
                let error = io::Error::last_os_error();
                match error.kind() {
                    // Taken by another reader (or a spurious wake): wait again.
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => continue,
                    _ => return Err(error),
                }
            }
            if n as usize != size {
                return Err(io::Error::other("short read from signalfd"));
            }
            // SAFETY: the kernel wrote a whole `signalfd_siginfo`.
            let info = unsafe { info.assume_init() };
            return Ok(info.ssi_signo as i32);
        }
    }
}

/// Completes on the first Ctrl-C (SIGINT).
///
/// ```no_run
/// // Serve until Ctrl-C (this example blocks until you press it).
/// kasync_host::Runtime::new()?.block_on(async {
///     let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
///     let server = kasync_host::spawn(kasync_host::apps::serve_echo(listener)).unwrap();
///     kasync_host::signal::ctrl_c().await?;
///     drop(server); // detached; it ends with the runtime
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    Signals::new(&[libc::SIGINT])?.recv().await.map(drop)
}
