//! A hand-written HTTP/1.1 keep-alive server on kasync: every request gets
//! "hello". The owned-buffer way of reading and writing, with no
//! framework: requests are parsed out of one growing buffer, responses
//! are queued in another and sent with one `write_all` per batch
//! (pipelined requests share a send).
//!
//! ```text
//! cargo run --release -p host --example http -- 127.0.0.1:3001
//! curl http://127.0.0.1:3001/
//! ```

use std::io;

use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, spawn_when_free};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello";
/// Longest request head accepted (a peer sending more without a blank
/// line is cut off).
const MAX_HEAD: usize = 16 * 1024;

/// The length of the first complete request head in `data` (up to and
/// including its blank line), if there is one.
fn request_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

async fn serve(stream: TcpStream) -> io::Result<()> {
    let mut received = Vec::with_capacity(4096);
    let mut replies = Vec::with_capacity(4096);
    loop {
        // Answer every complete request received so far.
        let mut start = 0;
        while let Some(len) = request_end(&received[start..]) {
            // (A real server would parse the head here: method, path,
            // content-length. "hello" needs none of it.)
            start += len;
            replies.extend_from_slice(RESPONSE);
        }
        received.drain(..start);
        if !replies.is_empty() {
            let (sent, back) = stream.write_all(replies).await;
            sent?;
            replies = back;
            replies.clear();
        }
        if received.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        // Reads append: make room after what is kept.
        received.reserve(4096);
        let (n, back) = stream.read(received).await;
        received = back;
        if n? == 0 {
            return Ok(()); // the client closed
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args_os()
        .nth(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("the address {a:?} is not valid UTF-8"))
        })
        .transpose()?
        .unwrap_or_else(|| "127.0.0.1:3001".into());
    let rt = Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind(&*addr)?;
        println!("HTTP/1.1 on kasync: http://{}/", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    stream.set_nodelay(true)?;
                    let _detached = spawn_when_free(async move {
                        if let Err(e) = serve(stream).await {
                            eprintln!("connection: {e}");
                        }
                    })
                    .await?;
                }
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    kasync_host::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}
