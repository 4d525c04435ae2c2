//! Child processes: started with std's [`Command`], awaited without
//! blocking the runtime's thread (a pidfd waited on in the ring, or on
//! epoll), their piped stdio read and written with owned buffers.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use kasync::io::{IoBuf, IoBufMut};
use kasync_ops::ops::{ReadAt, Readable, WriteAt};

use crate::descriptor::Descriptor;
use crate::runtime::io;

/// How often a kernel without `pidfd_open` (before Linux 5.3) checks
/// whether a child has exited.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// Starts `command` (tokio's `Command::spawn`). Set its stdio to
/// [`Stdio::piped()`] for [`Child::stdin`], [`stdout`](Child::stdout)
/// and [`stderr`](Child::stderr).
///
/// ```
/// use std::process::{Command, Stdio};
///
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let mut child = kasync_host::process::spawn(
///     Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()),
/// )?;
/// let stdin = child.stdin.take().unwrap();
/// stdin.write_all("through cat").await.0?;
/// drop(stdin); // end of input
/// let out = child.stdout.take().unwrap().read_to_end().await?;
/// assert_eq!(out, b"through cat");
/// assert!(child.wait().await?.success());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// A program that does not exist is an error that names it:
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let missing = kasync_host::process::spawn(&mut std::process::Command::new("no-such-program-here"));
/// assert!(missing.unwrap_err().to_string().contains("no-such-program-here"));
/// # });
/// ```
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut child = command.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot start {:?}: {e}", command.get_program()),
        )
    })?;
    let pidfd = pidfd_open(child.id());
    let stdin = child
        .stdin
        .take()
        .map(|s| Pipe::new(s.into()))
        .transpose()?;
    let stdout = child
        .stdout
        .take()
        .map(|s| Pipe::new(s.into()))
        .transpose()?;
    let stderr = child
        .stderr
        .take()
        .map(|s| Pipe::new(s.into()))
        .transpose()?;
    Ok(Child {
        child,
        pidfd,
        stdin: stdin.map(|pipe| ChildStdin { pipe }),
        stdout: stdout.map(|pipe| ChildStdout { pipe }),
        stderr: stderr.map(|pipe| ChildStderr { pipe }),
    })
}

/// Runs `command` to its end with stdout and stderr collected (and stdin
/// empty), as std's `Command::output` does, without blocking the runtime.
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let out = kasync_host::process::output(std::process::Command::new("echo").arg("hi")).await?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hi\n");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn output(command: &mut Command) -> io::Result<Output> {
    let child = spawn(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    child.wait_with_output().await
}

/// A pidfd for `pid`, or `None` where the kernel has none (before 5.3) or
/// refuses it (a seccomp filter): exits are then polled.
#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> Option<Descriptor> {
    use std::os::fd::FromRawFd;

    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: `pidfd_open(pid, 0)` takes no memory; it returns a new
    // descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: `fd` is a descriptor just returned to us, owned by nobody
    // else.
    Some(Descriptor::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// No pidfds outside Linux: exits are polled.
#[cfg(not(target_os = "linux"))]
fn pidfd_open(_pid: u32) -> Option<Descriptor> {
    None
}

/// A child process started by [`spawn`].
///
/// Dropping it neither kills nor waits for the process (as with std and
/// tokio): [`kill`](Self::kill) and [`wait`](Self::wait) first if it
/// must not outlive the handle.
pub struct Child {
    child: std::process::Child,
    pidfd: Option<Descriptor>,
    /// The child's standard input, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited (never waits).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for it to exit. Its stdin, if still open, is closed first (a
    /// child reading its input would otherwise wait for it forever).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(pidfd) => {
                    io().submit(Readable {
                        fd: pidfd.as_raw_fd(),
                    })
                    .await?
                }
                None => crate::sleep(EXIT_POLL).await,
            }
        }
    }

    /// Sends it `SIGKILL`. As with std's `Child::kill`, a child that has
    /// exited already (waited for or not) is not an error: `Ok(())`.
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()
    }

    /// Waits for it to exit, collecting its piped stdout and stderr
    /// meanwhile (both at once, so a child filling one pipe never stalls).
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let read = |pipe: Option<Pipe>| async move {
            match pipe {
                Some(pipe) => pipe.read_to_end().await,
                None => Ok(Vec::new()),
            }
        };
        let (out, err) =
            futures_util::future::join(read(stdout.map(|s| s.pipe)), read(stderr.map(|s| s.pipe)))
                .await;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out?,
            stderr: err?,
        })
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("id", &self.id()).finish()
    }
}

/// One end of a pipe to a child, non-blocking, read or written at its
/// current position.
#[derive(Debug)]
struct Pipe {
    fd: Descriptor,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: fcntl on a descriptor we own; no memory is passed.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        let set = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
        if set < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd: fd.into() })
    }

    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        io().submit(ReadAt {
            fd: self.fd.as_raw_fd().into(),
            buf,
            offset: u64::MAX,
        })
        .await
    }

    async fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        let mut chunk = Vec::with_capacity(16 * 1024);
        loop {
            chunk.clear();
            let (n, back) = self.read(chunk).await;
            chunk = back;
            match n? {
                0 => return Ok(data),
                _ => data.extend_from_slice(&chunk),
            }
        }
    }

    async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        let fd = self.fd.as_raw_fd();
        crate::buf::write_all(buf, |tail, _done| {
            io().submit(WriteAt {
                fd: fd.into(),
                buf: tail,
                offset: u64::MAX,
            })
        })
        .await
    }
}

/// A child's standard input: write to it; drop it to close it.
#[derive(Debug)]
pub struct ChildStdin {
    pipe: Pipe,
}

impl ChildStdin {
    /// Writes all of `buf` (owned bytes: `Vec<u8>`, `String`,
    /// `&'static str`, …); a child that exited is a `BrokenPipe` error.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.pipe.write_all(buf).await
    }
}

/// A child's standard output.
#[derive(Debug)]
pub struct ChildStdout {
    pipe: Pipe,
}

/// A child's standard error.
#[derive(Debug)]
pub struct ChildStderr {
    pipe: Pipe,
}

macro_rules! readers {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// Reads into `buf`, appending up to its capacity; `Ok(0)` once
            /// the child closed it. Gives `buf` back in any case.
            pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
                self.pipe.read(buf).await
            }

            /// Reads until the child closes it.
            pub async fn read_to_end(&self) -> io::Result<Vec<u8>> {
                self.pipe.read_to_end().await
            }
        }
    )*};
}
readers!(ChildStdout, ChildStderr);
