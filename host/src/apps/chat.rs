//! A line-based broadcast chat room: a client sends its name first and is
//! welcomed; joins, leaves and messages go to everyone else. Works with
//! `nc` or `telnet`.
//!
//! Limits a public server needs, and what happens at each:
//!
//! * **A member that falls behind** — more than [`BACKLOG`] lines, or one
//!   send takes longer than the write timeout — is told so (when it still
//!   reads) and disconnected. The room is a [`kasync::sync::PubSub`]: each
//!   line is stored once, in the room's last [`BACKLOG`] lines, and a
//!   member is only a cursor into them, so memory stays bounded whatever
//!   the others send and however slowly one member reads; nobody waits
//!   for the slowest (the lagging-subscriber policy of
//!   [`PubSub::publish_immediate`]).
//! * **A full room** ([`MEMBERS`]) turns a newcomer away with a word why.
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

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_util::future::{Either, select};
use kasync::sync::{PubSub, Signal, Subscriber, WaitResult};

use super::lines::{LineBuffer, LineTooLong};
use crate::net::{TcpListener, TcpStream};
use crate::{io as ring, sleep, spawn_when_free};

/// Lines the room keeps for members that have not sent them on yet: a
/// member that falls further behind is disconnected.
pub const BACKLOG: usize = 512;
/// Members a room holds at once; one more is turned away with a word why.
pub const MEMBERS: usize = 4096;
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

/// One line as members receive it (with its `\n`), stored once in the
/// room and shared by every member that sends it on.
type Line = Rc<[u8]>;

/// What the room broadcasts: who said it (not sent back to them), and the
/// line.
type Said = (u64, Line);

/// The room: every line to every member, the last [`BACKLOG`] kept for
/// the members still sending them on.
type Room = PubSub<Said, BACKLOG, MEMBERS>;

/// The limits of [`serve_chat_with`]. [`Default`]: lines of 4096 bytes,
/// 10 s to send a line, 30 s to send a name, [`MEMBERS`] members. (How far
/// a member may fall behind is [`BACKLOG`] lines.)
#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// Longest line a member may send, in bytes (without its line ending).
    pub max_line: usize,
    /// Longest a line may take to reach a member before it is cut off.
    pub write_timeout: Duration,
    /// How long a new connection may take to send its name.
    pub name_timeout: Duration,
    /// Members at once (at most [`MEMBERS`]); one more is turned away
    /// with a word why.
    pub max_members: usize,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_line: MAX_LINE,
            write_timeout: WRITE_TIMEOUT,
            name_timeout: NAME_TIMEOUT,
            max_members: MEMBERS,
        }
    }
}

/// A line of text as a shared [`Line`].
fn line(text: String) -> Line {
    Rc::from(text.into_bytes())
}

/// The room and what its members share.
struct Chat {
    room: &'static Room,
    next_id: Cell<u64>,
    limits: ChatLimits,
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

/// [`serve_chat`] with other limits. The room's memory (its [`BACKLOG`]
/// lines and [`MEMBERS`] places, about 80 KiB) is kept for the life of the
/// process.
///
/// ```
/// use std::time::Duration;
/// use kasync_host::apps::{ChatLimits, serve_chat_with};
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let listener = kasync_host::net::TcpListener::bind("127.0.0.1:0")?;
///     let limits = ChatLimits { name_timeout: Duration::from_secs(5), ..ChatLimits::default() };
///     let _room = kasync_host::spawn(serve_chat_with(listener, limits)).unwrap();
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn serve_chat_with(listener: TcpListener, limits: ChatLimits) -> io::Result<()> {
    let chat = Rc::new(Chat {
        room: Box::leak(Box::new(Room::new())),
        next_id: Cell::new(0),
        limits,
    });
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // At the runtime's task limit, accepting waits for a slot.
                if let Err(e) = spawn_when_free(member(Rc::clone(&chat), stream)).await {
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

/// One member, in one task: reads its lines and, at the same time, sends
/// it what the others say.
async fn member(chat: Rc<Chat>, stream: TcpStream) {
    let limits = chat.limits;
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
    let room = chat.room;
    let full = room.subscriber_count() >= limits.max_members;
    let Some(mut subscriber) = room.subscriber().ok().filter(|_| !full) else {
        return refuse("* the room is full; try again later\n").await;
    };
    let id = chat.next_id.get();
    chat.next_id.set(id + 1);
    let welcome = format!("* welcome, {name} ({} here)\n", room.subscriber_count());
    room.publish_immediate((id, line(format!("* {name} joined\n"))));
    // The reader tells the writer it is done (with a last word, if any).
    let leaving: Signal<Option<Line>> = Signal::new();
    let reader = async {
        let mut handled = 0;
        let mut last_word = None;
        loop {
            match read_line(&stream, &mut lines, &mut buf).await {
                Read::Line(text) if text.is_empty() => {}
                Read::Line(text) => {
                    room.publish_immediate((id, line(format!("{name}: {text}\n"))));
                }
                Read::TooLong => {
                    last_word = Some(line(format!(
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
        room.publish_immediate((id, line(format!("* {name} left\n"))));
        // The writer sends what is left, then shuts the connection down.
        leaving.signal(last_word);
    };
    // A writer cut off shuts the connection down, which ends the reader.
    let writer = send_room(
        &stream,
        &mut subscriber,
        id,
        welcome,
        &leaving,
        limits.write_timeout,
    );
    futures_util::future::join(reader, writer).await;
}

/// The last word to a member that fell more than [`BACKLOG`] lines behind.
const FELL_BEHIND: &str = "* you fell too far behind; disconnecting\n";

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

/// Bytes of lines the writer sends in one go.
const BATCH: usize = 16 * 1024;

/// Sends the member what the others say — the lines published meanwhile
/// in one send, up to [`BATCH`] bytes — until it leaves (then what is
/// left) or falls more than [`BACKLOG`] lines behind (then a last word);
/// then shuts the connection down, which also ends the member's reading
/// side.
async fn send_room(
    stream: &TcpStream,
    subscriber: &mut Subscriber<'static, Said, BACKLOG, MEMBERS>,
    id: u64,
    welcome: String,
    leaving: &Signal<Option<Line>>,
    timeout: Duration,
) {
    let mut batch = Vec::with_capacity(BATCH);
    batch.extend_from_slice(welcome.as_bytes());
    let mut done = false;
    while !done {
        // What is there now.
        while batch.len() < BATCH && !done {
            match subscriber.try_next_message() {
                Some(WaitResult::Message((from, line))) if from != id => {
                    batch.extend_from_slice(&line)
                }
                Some(WaitResult::Message(_)) => {}
                Some(WaitResult::Lagged(_)) => {
                    batch.clear();
                    batch.extend_from_slice(FELL_BEHIND.as_bytes());
                    done = true;
                }
                None if leaving.signaled() => {
                    if let Some(Some(word)) = leaving.try_take() {
                        batch.extend_from_slice(&word);
                    }
                    done = true;
                }
                None => break,
            }
        }
        if batch.is_empty() {
            if done {
                break; // left, with nothing more to send
            }
            // Nothing yet: wait for a line, or for the member to leave.
            let next = std::pin::pin!(subscriber.next_message());
            let left = std::pin::pin!(leaving.wait());
            match select(next, left).await {
                Either::Left((WaitResult::Message((from, line)), _)) => {
                    if from != id {
                        batch.extend_from_slice(&line);
                    }
                }
                Either::Left((WaitResult::Lagged(_), _)) => {
                    batch.extend_from_slice(FELL_BEHIND.as_bytes());
                    done = true;
                }
                // Put back for the loop above, which sends what is left.
                Either::Right((word, _)) => leaving.signal(word),
            }
            continue;
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
    // SAFETY: `shutdown` on the member's socket, which `stream` keeps open;
    // it ends the reading task's receive (end of stream) as well.
    unsafe { libc::shutdown(stream.as_fd().as_raw_fd(), libc::SHUT_RDWR) };
}
