//! A line-based broadcast chat room: a client sends its name first and is
//! welcomed; joins, leaves and messages go to everyone else. Works with
//! `nc` or `telnet`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::lines::LineBuffer;
use crate::net::{TcpListener, TcpStream};
use crate::spawn;

/// Lines waiting to be sent to one member, and its writer's waker.
#[derive(Default)]
struct Outbox {
    lines: VecDeque<Vec<u8>>,
    waker: Option<Waker>,
    closed: bool,
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
                let mut outbox = outbox.borrow_mut();
                outbox.lines.push_back(format!("{line}\n").into_bytes());
                if let Some(waker) = outbox.waker.take() {
                    waker.wake();
                }
            }
        }
    }
}

/// Runs the chat room on `listener` until an accept fails.
pub async fn serve_chat(listener: TcpListener) -> io::Result<()> {
    let room = Rc::new(RefCell::new(Room::default()));
    loop {
        let (stream, peer) = listener.accept().await?;
        if let Err(e) = spawn(member(Rc::clone(&room), stream)) {
            eprintln!("chat: {e}; closing the connection from {peer}");
        }
    }
}

/// One member: reads its lines, and (in a second task) writes what others
/// say to it.
async fn member(room: Rc<RefCell<Room>>, stream: TcpStream) {
    let stream = Rc::new(stream);
    let mut lines = LineBuffer::default();
    let mut buf = Vec::with_capacity(4096);
    let Some(name) = read_line(&stream, &mut lines, &mut buf).await else {
        return;
    };
    let name = if name.trim().is_empty() {
        "anonymous".to_owned()
    } else {
        name.trim().to_owned()
    };
    let outbox = Rc::new(RefCell::new(Outbox::default()));
    let id = {
        let mut room = room.borrow_mut();
        let id = room.next_id;
        room.next_id += 1;
        room.members.insert(id, Rc::clone(&outbox));
        outbox
            .borrow_mut()
            .lines
            .push_back(format!("* welcome, {name} ({} here)\n", room.members.len()).into_bytes());
        room.broadcast(id, &format!("* {name} joined"));
        id
    };
    let writer = spawn(write_outbox(Rc::clone(&stream), Rc::clone(&outbox)));
    while let Some(line) = read_line(&stream, &mut lines, &mut buf).await {
        room.borrow().broadcast(id, &format!("{name}: {line}"));
    }
    {
        let mut room = room.borrow_mut();
        room.members.remove(&id);
        room.broadcast(id, &format!("* {name} left"));
    }
    {
        let mut outbox = outbox.borrow_mut();
        outbox.closed = true;
        if let Some(waker) = outbox.waker.take() {
            waker.wake();
        }
    }
    if let Ok(writer) = writer {
        let _ = writer.await;
    }
}

/// The next line from the member, or `None` when it disconnected.
async fn read_line(
    stream: &TcpStream,
    lines: &mut LineBuffer,
    buf: &mut Vec<u8>,
) -> Option<String> {
    loop {
        if let Some(line) = lines.next_line() {
            return Some(line);
        }
        let mut chunk = std::mem::take(buf);
        chunk.clear();
        let (result, back) = stream.read(chunk).await;
        *buf = back;
        match result {
            Ok(0) | Err(_) => return None,
            Ok(n) => lines.push(&buf[..n]),
        }
    }
}

/// Sends the member its outbox, line by line, until it leaves.
async fn write_outbox(stream: Rc<TcpStream>, outbox: Rc<RefCell<Outbox>>) {
    loop {
        let next = poll_fn(|cx| {
            let mut outbox = outbox.borrow_mut();
            match outbox.lines.pop_front() {
                Some(line) => Poll::Ready(Some(line)),
                None if outbox.closed => Poll::Ready(None),
                None => {
                    outbox.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let Some(line) = next else { return };
        if stream.write_all(line).await.0.is_err() {
            return;
        }
    }
}
