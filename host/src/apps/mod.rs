//! The programs the `host` command runs, as library functions so tests can
//! run them in-process: an echo server, a chat room, `cat` and `cp`.

mod chat;
mod echo;
mod files;
mod lines;

pub use chat::{BACKLOG, ChatLimits, MEMBERS, serve_chat, serve_chat_with};
pub use echo::{ECHO_WRITE_TIMEOUT, echo_connection, serve_echo, serve_echo_with};
pub use files::{cat, cp};

use std::io;
use std::net::SocketAddr;

use crate::net::TcpListener;

/// Parses `addr` and listens on it, with errors that say what was wrong.
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let listener = kasync_host::apps::listen("127.0.0.1:0")?;
/// # drop(listener);
/// let error = kasync_host::apps::listen("localhost").unwrap_err();
/// assert!(error.to_string().contains("expected IP:PORT"), "{error}");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let parsed: SocketAddr = addr.parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad address {addr:?}: {e} (expected IP:PORT, e.g. 127.0.0.1:7000)"),
        )
    })?;
    TcpListener::bind(parsed)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
