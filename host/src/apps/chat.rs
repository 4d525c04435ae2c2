//! A line-based broadcast chat room: a client sends its name first and is
//! welcomed; joins, leaves and messages go to everyone else. Works with
//! `nc` or `telnet`.
//!
//! Limits a public server needs, and what happens at each:
//!
//! * **A member that falls behind** — its unsent lines pass
//!   [`OUTBOX_BYTES`], or one line takes longer than [`WRITE_TIMEOUT`] to
//!   send — is told so (when it still reads) and disconnected: memory per
//!   member stays bounded, whatever the others send.
//! * **A line longer than [`MAX_LINE`]** gets the sender an error line and
//!   the connection closed.
//! * **Accept errors** (out of descriptors, …) are reported and the server
//!   backs off for a moment and goes on; it never exits on them.
//! * **A member is in the room only once both of its tasks run**; one that
//!   cannot be given a writer task is told and closed.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use super::lines::{LineBuffer, LineTooLong};
use crate::net::{TcpListener, TcpStream};
use crate::{io as ring, sleep, spawn};

/// Bytes of unsent lines a member may have before it is disconnected.
pub const OUTBOX_BYTES: usize = 256 * 1024;
/// Longest line a member may send, in bytes.
pub const MAX_LINE: usize = 4096;
/// Longest a single line may take to reach a member.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of descriptors, …) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Lines waiting to be sent to one member, and its writer's waker.
#[derive(Default)]
struct Outbox {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    waker: Option<Waker>,
    /// No more lines: the member left, or is being disconnected.
    closed: bool,
}

impl Outbox {
    /// Queues `line`; past the limit the member is cut off: its queue is
    /// replaced by a last notice and closed.
    fn push(&mut self, line: Vec<u8>) {
        if self.closed {
            return;
        }
        if self.bytes + line.len() > OUTBOX_BYTES {
            self.lines.clear();
            self.lines
                .push_back(b"* you fell too far behind; disconnecting\n".to_vec());
            self.bytes = 0;
            self.closed = true;
        } else {
            self.bytes += line.len();
            self.lines.push_back(line);
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn close(&mut self) {
        self.closed = true;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

#[derive(Default)]
struct Room {
    members: BTreeMap<u64, Rc<RefCell<Outbox>>>,
    next_id: u64,
}

impl Room {
    /// Queues `line` for every member but `from`.
    fn broadcast(&self, from: u64, line: &str) {
        for (&id, outbox) in &self.members {
            if id != from {
                outbox.borrow_mut().push(format!("{line}\n").into_bytes());
            }
        }
    }
}

/// Runs the chat room on `listener`; never returns on its own. Failed
/// accepts are reported on stderr, and the server goes on after a pause.
pub async fn serve_chat(listener: TcpListener) -> io::Result<()> {
    let room = Rc::new(RefCell::new(Room::default()));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if let Err(e) = spawn(member(Rc::clone(&room), stream)) {
                    eprintln!("chat: {e}; closing the connection from {peer}");
                }
            }
            Err(e) => {
                eprintln!("chat: accept failed: {e}; going on in a moment");
                sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// One member: reads its lines, and (in a second task) writes what others
/// say to it.
async fn member(room: Rc<RefCell<Room>>, stream: TcpStream) {
    let stream = Rc::new(stream);
    let mut lines = LineBuffer::new(MAX_LINE);
    let mut buf = Vec::with_capacity(4096);
    let name = match read_line(&stream, &mut lines, &mut buf).await {
        Read::Line(name) if name.trim().is_empty() => "anonymous".to_owned(),
        Read::Line(name) => name.trim().to_owned(),
        Read::TooLong => return refuse(&stream, "* your name is too long; goodbye\n").await,
        Read::Closed => return,
    };
    let outbox = Rc::new(RefCell::new(Outbox::default()));
    // The writer first: a member joins the room only once it can be
    // written to.
    let writer = match spawn(write_outbox(Rc::clone(&stream), Rc::clone(&outbox))) {
        Ok(writer) => writer,
        Err(e) => {
            eprintln!("chat: {e}; turning {name} away");
            return refuse(&stream, "* the server is full; try again later\n").await;
        }
    };
    let id = {
        let mut room = room.borrow_mut();
        let id = room.next_id;
        room.next_id += 1;
        room.members.insert(id, Rc::clone(&outbox));
        outbox
            .borrow_mut()
            .push(format!("* welcome, {name} ({} here)\n", room.members.len()).into_bytes());
        room.broadcast(id, &format!("* {name} joined"));
        id
    };
    loop {
        match read_line(&stream, &mut lines, &mut buf).await {
            Read::Line(line) => room.borrow().broadcast(id, &format!("{name}: {line}")),
            Read::TooLong => {
                outbox.borrow_mut().push(
                    format!("* lines are limited to {MAX_LINE} bytes; disconnecting\n")
                        .into_bytes(),
                );
                break;
            }
            Read::Closed => break,
        }
    }
    {
        let mut room = room.borrow_mut();
        room.members.remove(&id);
        room.broadcast(id, &format!("* {name} left"));
    }
    outbox.borrow_mut().close();
    let _ = writer.await;
}

/// Tells a connection why it is turned away, and closes it.
async fn refuse(stream: &TcpStream, why: &'static str) {
    let _ = ring()
        .timeout(WRITE_TIMEOUT, stream.write_all(why.as_bytes()))
        .await;
}

/// What reading a member's next line gave.
enum Read {
    Line(String),
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// The member disconnected (or its connection failed).
    Closed,
}

/// The next line from the member.
async fn read_line(stream: &TcpStream, lines: &mut LineBuffer, buf: &mut Vec<u8>) -> Read {
    loop {
        match lines.next_line() {
            Ok(Some(line)) => return Read::Line(line),
            Err(LineTooLong) => return Read::TooLong,
            Ok(None) => {}
        }
        let mut chunk = std::mem::take(buf);
        chunk.clear();
        let (result, back) = stream.read(chunk).await;
        *buf = back;
        match result {
            Ok(0) | Err(_) => return Read::Closed,
            Ok(n) => lines.push(&buf[..n]),
        }
    }
}

/// Sends the member its outbox, line by line, until it leaves or is cut
/// off; then shuts the connection down, which also ends the member's
/// reading side.
async fn write_outbox(stream: Rc<TcpStream>, outbox: Rc<RefCell<Outbox>>) {
    loop {
        let next = poll_fn(|cx| {
            let mut outbox = outbox.borrow_mut();
            match outbox.lines.pop_front() {
                Some(line) => {
                    outbox.bytes = outbox.bytes.saturating_sub(line.len());
                    Poll::Ready(Some(line))
                }
                None if outbox.closed => Poll::Ready(None),
                None => {
                    outbox.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let Some(line) = next else { break };
        match ring().timeout(WRITE_TIMEOUT, stream.write_all(line)).await {
            Ok((Ok(()), _)) => {}
            // Failed, or too slow: a member that does not read.
            _ => break,
        }
    }
    outbox.borrow_mut().close();
    // SAFETY: `shutdown` on the member's socket, which `stream` keeps open;
    // it ends the reading task's receive (end of stream) as well.
    unsafe { libc::shutdown(stream.as_fd().as_raw_fd(), libc::SHUT_RDWR) };
}
