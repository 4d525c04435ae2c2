//! A TCP echo server.
//!
//! What it does with peers that do not play along: a peer that sends but
//! takes nothing of its echo for [`ECHO_WRITE_TIMEOUT`] is disconnected —
//! its connection would otherwise keep a send and a receive of the
//! runtime's op table, and a buffer, for as long as it likes. A peer that
//! reads slowly but steadily is not: progress is the bytes the peer's
//! kernel acknowledges, not whole pieces sent. What a server can see sets
//! the bound: a peer whose receive window is full acknowledges again only
//! once its reader has freed about a segment's worth (up to 64 KiB on
//! loopback), so a reader must take about that much per timeout — a reader
//! slower than that (say 4 KiB per 100 ms against a one-second timeout)
//! looks like one that stopped. The shared receive buffers follow the
//! runtime's policy (see [`RecvStream`](crate::net::RecvStream)).

use std::io;
use std::time::Duration;

use futures_util::StreamExt;

use crate::net::{TcpListener, TcpStream};
use crate::{io as ring, spawn_when_free};

/// How long a peer may take nothing of its echo before the connection is
/// dropped (it does not read).
pub const ECHO_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Echoes everything each connection sends until it closes, one task per
/// connection, accepting through a multishot accept and receiving through
/// multishot receives. Runs until stopped. A failed accept (out of
/// descriptors, …) is reported on stderr and the server goes on; at the
/// runtime's task limit accepting pauses until a connection ends.
///
/// ```
/// use kasync_host::net::{TcpListener, TcpStream};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let _server = kasync_host::spawn(kasync_host::apps::serve_echo(listener)).unwrap();
///     let client = TcpStream::connect(addr).await?;
///     client.write_all("echo?").await.0?;
///     let (n, back) = client.read_exact(Vec::with_capacity(5)).await;
///     n?;
///     assert_eq!(back, b"echo?");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn serve_echo(listener: TcpListener) -> io::Result<()> {
    serve_echo_with(listener, ECHO_WRITE_TIMEOUT).await
}

/// [`serve_echo`] with another time a peer may take nothing of its echo.
/// (See [`serve_echo`] for an example.)
pub async fn serve_echo_with(listener: TcpListener, write_timeout: Duration) -> io::Result<()> {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        match stream {
            Ok(stream) => {
                // At the runtime's task limit, accepting waits for a slot
                // (new peers wait in the listen queue) instead of closing.
                if let Err(e) = spawn_when_free(echo_with(stream, write_timeout)).await {
                    eprintln!("echo: {e}; closing a connection");
                }
            }
            Err(e) => {
                eprintln!("echo: accept failed: {e}");
                crate::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok(())
}

/// Echoes one connection: one multishot receive into the runtime's shared
/// receive buffers, each buffer sent back as it is. Ends when the peer
/// closes, or takes nothing of its echo for [`ECHO_WRITE_TIMEOUT`]; a failed
/// receive or send (other than the peer resetting the connection) is
/// reported on stderr.
///
/// ```
/// use kasync_host::net::{TcpListener, TcpStream};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server_side, _) = listener.accept().await?;
///     let _echo = kasync_host::spawn(kasync_host::apps::echo_connection(server_side)).unwrap();
///     client.write_all("one connection").await.0?;
///     let (r, back) = client.read_exact(Vec::with_capacity(14)).await;
///     r?;
///     assert_eq!(back, b"one connection");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn echo_connection(stream: TcpStream) {
    echo_with(stream, ECHO_WRITE_TIMEOUT).await;
}

async fn echo_with(stream: TcpStream, write_timeout: Duration) {
    let _ = stream.set_nodelay(true);
    let mut received = stream.recv_multi();
    while let Some(buf) = received.next().await {
        let result = match buf {
            Ok(buf) => match send_while_taken(&stream, buf, write_timeout).await {
                Some(result) => result,
                // The peer does not read: let go of it.
                None => return,
            },
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if !matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) {
                eprintln!("echo: closing a connection: {e}");
            }
            return;
        }
    }
}

/// Sends all of `buf`, as long as the peer takes some of what was sent
/// within every `stall`: the peer acknowledging bytes counts, even while
/// the send itself still waits for room. `None` once the peer took nothing
/// for `stall` (noticed within one and a half `stall`s: progress is looked
/// at every half `stall`, and only once a send has waited that long — a
/// send that finishes in time costs no look).
async fn send_while_taken(
    stream: &TcpStream,
    buf: crate::net::RecvBuf,
    stall: Duration,
) -> Option<io::Result<()>> {
    let mut send = std::pin::pin!(stream.write_all(buf));
    // A send the backend finishes at once (readiness) needs no timer.
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready((result, _)) = first {
        return Some(result);
    }
    let tick = stall / 2;
    // Progress at the last two looks, oldest first.
    let mut looks: [Option<i64>; 2] = [None, None];
    loop {
        match ring().timeout(tick, send.as_mut()).await {
            Ok((result, _)) => return Some(result),
            Err(_) => {
                let now = taken(stream);
                // A whole `stall` ago the peer had taken as much: nothing
                // was taken since.
                if looks[0].is_some_and(|then| now <= then) {
                    return None;
                }
                looks = [looks[1], Some(now)];
            }
        }
    }
}

/// How far the peer has taken the stream; larger is further. On Linux the
/// bytes it acknowledged (`TCP_INFO`'s `tcpi_bytes_acked`, which only
/// grows: a send queue that is refilled as fast as the peer drains it
/// still shows progress); elsewhere, or if the kernel will not say, the
/// send queue's length, negated (a shorter queue is progress).
fn taken(stream: &TcpStream) -> i64 {
    #[cfg(target_os = "linux")]
    if let Some(acked) = acked(stream) {
        return i64::try_from(acked).unwrap_or(i64::MAX);
    }
    -i64::try_from(unsent(stream)).unwrap_or(i64::MAX)
}

/// Bytes the peer acknowledged so far (`tcpi_bytes_acked`, Linux 4.1).
#[cfg(target_os = "linux")]
fn acked(stream: &TcpStream) -> Option<u64> {
    use std::os::fd::{AsFd, AsRawFd};
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `TCP_INFO` writes at most `len` bytes into `info`, which has
    // room for them, and sets `len` to how many it wrote.
    let r = unsafe {
        libc::getsockopt(
            stream.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + size_of::<u64>();
    if r < 0 || (len as usize) < needed {
        return None;
    }
    // SAFETY: zeroed, then written by the kernel: every field is an
    // integer, and the one read was written (`len` covers it).
    Some(unsafe { info.assume_init() }.tcpi_bytes_acked)
}

/// Bytes in the socket's send queue (sent but not yet acknowledged, or not
/// yet sent); `usize::MAX` if the kernel will not say.
fn unsent(stream: &TcpStream) -> usize {
    use std::os::fd::{AsFd, AsRawFd};
    let mut queued: libc::c_int = 0;
    // SAFETY: `TIOCOUTQ` (`SIOCOUTQ`) writes one `c_int` into `queued`, on
    // the stream's socket, which is open.
    let r = unsafe { libc::ioctl(stream.as_fd().as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if r < 0 { usize::MAX } else { queued as usize }
}
