//! A TCP echo server.

use std::io;

use futures_util::StreamExt;

use crate::net::{TcpListener, TcpStream};
use crate::spawn;

/// Echoes everything each connection sends until it closes, one task per
/// connection, accepting through a multishot accept and receiving through
/// multishot receives. Runs until stopped. A
/// failed accept (out of descriptors, …) or a connection that finds the
/// task table full is reported on stderr and the server goes on.
pub async fn serve_echo(listener: TcpListener) -> io::Result<()> {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        match stream {
            Ok(stream) => {
                if let Err(e) = spawn(echo_connection(stream)) {
                    eprintln!("echo: {e}; closing a connection");
                }
            }
            Err(e) => {
                eprintln!("echo: accept failed: {e}");
                crate::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    Ok(())
}

/// Echoes one connection: one multishot receive into the runtime's shared
/// receive buffers, each buffer sent back as it is. Ends when the peer
/// closes; a failed receive or send (other than the peer resetting the
/// connection) is reported on stderr.
pub async fn echo_connection(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut received = stream.recv_multi();
    while let Some(buf) = received.next().await {
        let result = match buf {
            Ok(buf) => stream.write_all(buf).await.0,
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
