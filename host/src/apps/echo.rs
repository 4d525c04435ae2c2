//! A TCP echo server.
//!
//! What it does with peers that do not play along: a peer that sends but
//! does not read the echo gets [`ECHO_WRITE_TIMEOUT`] for each piece to go
//! out, then is disconnected — its connection would otherwise keep a send
//! and a receive of the runtime's op table, and a buffer, for as long as
//! it likes. The shared receive buffers follow the runtime's policy (see
//! [`RecvStream`](crate::net::RecvStream)).

use std::io;
use std::time::Duration;

use futures_util::StreamExt;

use crate::net::{TcpListener, TcpStream};
use crate::{io as ring, spawn};

/// How long one echoed piece may take to go out before the connection is
/// dropped (its peer does not read).
pub const ECHO_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Echoes everything each connection sends until it closes, one task per
/// connection, accepting through a multishot accept and receiving through
/// multishot receives. Runs until stopped. A failed accept (out of
/// descriptors, …) or a connection that finds the task table full is
/// reported on stderr and the server goes on.
pub async fn serve_echo(listener: TcpListener) -> io::Result<()> {
    serve_echo_with(listener, ECHO_WRITE_TIMEOUT).await
}

/// [`serve_echo`] with another write timeout.
pub async fn serve_echo_with(listener: TcpListener, write_timeout: Duration) -> io::Result<()> {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        match stream {
            Ok(stream) => {
                if let Err(e) = spawn(echo_with(stream, write_timeout)) {
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
/// closes, or does not take a piece within [`ECHO_WRITE_TIMEOUT`]; a failed
/// receive or send (other than the peer resetting the connection) is
/// reported on stderr.
pub async fn echo_connection(stream: TcpStream) {
    echo_with(stream, ECHO_WRITE_TIMEOUT).await;
}

async fn echo_with(stream: TcpStream, write_timeout: Duration) {
    let _ = stream.set_nodelay(true);
    let mut received = stream.recv_multi();
    while let Some(buf) = received.next().await {
        let result = match buf {
            Ok(buf) => match ring().timeout(write_timeout, stream.write_all(buf)).await {
                Ok((result, _)) => result,
                // The peer does not read: let go of it.
                Err(_) => return,
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
