//! Signals as futures: a `signalfd` read through the ring.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use kasync_ops::ops::ReadAt;

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
            libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
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
        let size = mem::size_of::<libc::signalfd_siginfo>();
        let (result, buf) = io()
            .submit(ReadAt {
                fd: (self.fd.as_raw_fd()).into(),
                buf: Vec::with_capacity(size),
                offset: u64::MAX,
            })
            .await;
        if result? < size {
            return Err(io::Error::other("short read from signalfd"));
        }
        // SAFETY: the kernel wrote a whole `signalfd_siginfo`.
        let info: libc::signalfd_siginfo = unsafe {
            buf.as_ptr()
                .cast::<libc::signalfd_siginfo>()
                .read_unaligned()
        };
        Ok(info.ssi_signo as i32)
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
