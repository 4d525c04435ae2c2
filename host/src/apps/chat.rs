//! A line-based broadcast chat room: a client sends its name first and is
//! welcomed; joins, leaves and messages go to everyone else. Works with
//! `nc` or `telnet`.
//!
//! Limits a public server needs, and what happens at each:
//!
//! * **A member that falls behind** — its unsent lines pass the outbox
//!   limit (each line counted with its bookkeeping, so a flood of tiny
//!   lines fills it too), or one line takes longer than the write timeout
//!   to send — is told so (when it still reads) and disconnected: memory
//!   per member stays bounded, whatever the others send. A line is stored
//!   once, however many outboxes hold it.
//! * **A line longer than the limit** gets the sender an error line and
//!   the connection closed.
//! * **A connection that never says its name** in time is closed.
//!
//! The numbers are [`ChatLimits`].
//! * **A burst of lines** does not hold up the room: empty lines are not
//!   broadcast, and a member's reader lets the other tasks run every few
//!   lines.
//! * **Accept errors** (out of descriptors, …) are reported and the server
//!   backs off for a moment and goes on; it never exits on them.
//! * **At the runtime's task limit** the accept loop waits for a free slot
//!   (new clients wait in the listen queue): each member is one task, its
//!   reading and its writing joined in it, so a member admitted is a
//!   member served.

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
use crate::{io as ring, sleep, spawn_when_free};

/// What a member's unsent lines may count before it is disconnected.
const OUTBOX_BYTES: usize = 256 * 1024;
/// What a queued line counts beyond its bytes (its share of the queue and
/// of the allocation).
const LINE_OVERHEAD: usize = 64;
/// Longest line a member may send, in bytes (without its line ending).
const MAX_LINE: usize = 4096;
/// Longest a single line may take to reach a member.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new connection may take to send its name.
const NAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed accept (out of descriptors, …) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Lines a member's reader handles before it lets other tasks run.
const LINES_PER_TURN: usize = 32;

/// One line as members receive it (with its `\n`), stored once and shared
/// by every outbox that holds it.
type Line = Rc<[u8]>;

/// The limits of [`serve_chat_with`]. [`Default`]: outboxes of 256 KiB
/// (each queued line counted with 64 bytes of bookkeeping), lines of 4096
/// bytes, 10 s to send a line, 30 s to send a name.
#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// What a member's unsent lines may count before it is cut off.
    pub outbox_bytes: usize,
    /// Longest line a member may send, in bytes (without its line ending).
    pub max_line: usize,
    /// Longest a line may take to reach a member before it is cut off.
    pub write_timeout: Duration,
    /// How long a new connection may take to send its name.
    pub name_timeout: Duration,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            outbox_bytes: OUTBOX_BYTES,
            max_line: MAX_LINE,
            write_timeout: WRITE_TIMEOUT,
            name_timeout: NAME_TIMEOUT,
        }
    }
}

/// Lines waiting to be sent to one member, and its writer's waker.
struct Outbox {
    lines: VecDeque<Line>,
    /// What the queued lines count against [`OUTBOX_BYTES`].
    counted: usize,
    waker: Option<Waker>,
    /// No more lines: the member left, or is being disconnected.
    closed: bool,
    /// What `counted` may reach.
    limit: usize,
}

impl Outbox {
    fn new(limit: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            counted: 0,
            waker: None,
            closed: false,
            limit,
        }
    }

    /// Queues `line`; past the limit the member is cut off: its queue is
    /// replaced by a last notice and closed.
    fn push(&mut self, line: Line) {
        if self.closed {
            return;
        }
        let cost = line.len() + LINE_OVERHEAD;
        if self.counted + cost > self.limit {
            self.lines.clear();
            self.lines
                .push_back(Rc::from(&b"* you fell too far behind; disconnecting\n"[..]));
            self.counted = 0;
            self.closed = true;
        } else {
            self.counted += cost;
            self.lines.push_back(line);
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The next line to send; `None` once closed and empty.
    fn pop(&mut self) -> Option<Line> {
        let line = self.lines.pop_front()?;
        self.counted = self.counted.saturating_sub(line.len() + LINE_OVERHEAD);
        Some(line)
    }

    fn close(&mut self) {
        self.closed = true;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// A line of text as a shared [`Line`].
fn line(text: String) -> Line {
    Rc::from(text.into_bytes())
}

struct Room {
    members: BTreeMap<u64, Rc<RefCell<Outbox>>>,
    next_id: u64,
    limits: ChatLimits,
}

impl Room {
    /// Queues `text` for every member but `from`.
    fn broadcast(&self, from: u64, text: &str) {
        let shared = line(format!("{text}\n"));
        for (&id, outbox) in &self.members {
            if id != from {
                outbox.borrow_mut().push(Rc::clone(&shared));
            }
        }
    }
}

/// Runs the chat room on `listener` with the default [`ChatLimits`];
/// never returns on its own. Failed accepts are reported on stderr, and
/// the server goes on after a pause.
///
/// ```
/// use kasync_host::net::{TcpListener, TcpStream};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let _room = kasync_host::spawn(kasync_host::apps::serve_chat(listener)).unwrap();
///     let ada = TcpStream::connect(addr).await?;
///     ada.write_all("ada\n").await.0?;
///     let (n, welcome) = ada.read(Vec::with_capacity(64)).await;
///     assert!(welcome[..n?].starts_with(b"* welcome, ada"));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn serve_chat(listener: TcpListener) -> io::Result<()> {
    serve_chat_with(listener, ChatLimits::default()).await
}

/// [`serve_chat`] with other limits.
pub async fn serve_chat_with(listener: TcpListener, limits: ChatLimits) -> io::Result<()> {
    let room = Rc::new(RefCell::new(Room {
        members: BTreeMap::new(),
        next_id: 0,
        limits,
    }));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // At the runtime's task limit, accepting waits for a slot.
                if let Err(e) = spawn_when_free(member(Rc::clone(&room), stream)).await {
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

/// One member, in one task: reads its lines and, at the same time, writes
/// what others say to it.
async fn member(room: Rc<RefCell<Room>>, stream: TcpStream) {
    let limits = room.borrow().limits;
    let stream = Rc::new(stream);
    let mut lines = LineBuffer::new(limits.max_line);
    let mut buf = Vec::with_capacity(4096);
    let first = ring()
        .timeout(
            limits.name_timeout,
            read_line(&stream, &mut lines, &mut buf),
        )
        .await;
    let refuse = |why| refuse(&stream, why, limits.write_timeout);
    let name = match first {
        Ok(Read::Line(name)) if name.trim().is_empty() => "anonymous".to_owned(),
        Ok(Read::Line(name)) => name.trim().to_owned(),
        Ok(Read::TooLong) => return refuse("* your name is too long; goodbye\n").await,
        Ok(Read::Closed) => return,
        Err(_) => return refuse("* no name given in time; goodbye\n").await,
    };
    let outbox = Rc::new(RefCell::new(Outbox::new(limits.outbox_bytes)));
    let id = {
        let mut room = room.borrow_mut();
        let id = room.next_id;
        room.next_id += 1;
        room.members.insert(id, Rc::clone(&outbox));
        let here = room.members.len();
        outbox
            .borrow_mut()
            .push(line(format!("* welcome, {name} ({here} here)\n")));
        room.broadcast(id, &format!("* {name} joined"));
        id
    };
    let reader = async {
        let mut handled = 0;
        loop {
            match read_line(&stream, &mut lines, &mut buf).await {
                Read::Line(text) if text.is_empty() => {}
                Read::Line(text) => room.borrow().broadcast(id, &format!("{name}: {text}")),
                Read::TooLong => {
                    outbox.borrow_mut().push(line(format!(
                        "* lines are limited to {} bytes; disconnecting\n",
                        limits.max_line
                    )));
                    break;
                }
                Read::Closed => break,
            }
            handled += 1;
            if handled % LINES_PER_TURN == 0 {
                yield_now().await;
            }
        }
        {
            let mut room = room.borrow_mut();
            room.members.remove(&id);
            room.broadcast(id, &format!("* {name} left"));
        }
        // The writer sends what is left, then shuts the connection down.
        outbox.borrow_mut().close();
    };
    // A writer cut off shuts the connection down, which ends the reader.
    let writer = write_outbox(Rc::clone(&stream), Rc::clone(&outbox), limits.write_timeout);
    futures_util::future::join(reader, writer).await;
}

/// Lets the other tasks run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Tells a connection why it is turned away (the connection closes when
/// the member task ends).
async fn refuse(stream: &TcpStream, why: &'static str, timeout: Duration) {
    let _ = ring()
        .timeout(timeout, stream.write_all(why.as_bytes()))
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

/// Bytes of queued lines the writer sends in one go.
const BATCH: usize = 16 * 1024;

/// Sends the member its outbox — the lines queued meanwhile in one send,
/// up to [`BATCH`] bytes — until it leaves or is cut off; then shuts the
/// connection down, which also ends the member's reading side.
async fn write_outbox(stream: Rc<TcpStream>, outbox: Rc<RefCell<Outbox>>, timeout: Duration) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let more = poll_fn(|cx| {
            let mut outbox = outbox.borrow_mut();
            while batch.len() < BATCH {
                let Some(line) = outbox.pop() else { break };
                batch.extend_from_slice(&line);
            }
            if !batch.is_empty() {
                Poll::Ready(true)
            } else if outbox.closed {
                Poll::Ready(false)
            } else {
                outbox.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if !more {
            break;
        }
        let sent = ring().timeout(timeout, stream.write_all(batch)).await;
        match sent {
            Ok((Ok(()), back)) => {
                batch = back;
                batch.clear();
            }
            // Failed, or too slow: a member that does not read.
            _ => break,
        }
    }
    outbox.borrow_mut().close();
    // SAFETY: `shutdown` on the member's socket, which `stream` keeps open;
    // it ends the reading task's receive (end of stream) as well.
    unsafe { libc::shutdown(stream.as_fd().as_raw_fd(), libc::SHUT_RDWR) };
}
