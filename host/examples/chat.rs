//! A chat room in the style of tokio's chat example, on kasync with the
//! `futures` crate's channels and `select!` and `asynchronous-codec`'s
//! line framing (through `Compat`). Connect with `nc 127.0.0.1 6142`;
//! the first line is your name.
//!
//! ```text
//! cargo run -p host --example chat -- 127.0.0.1:6142
//! ```
//!
//! (`host chat` is the hardened version: limits on line length, on a
//! member's unsent lines and on time, for peers that misbehave.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use asynchronous_codec::{Framed, LinesCodec};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use kasync_host::compat::Compat;
use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, spawn};

/// Everyone's outbox, by address.
type Room = Rc<RefCell<HashMap<SocketAddr, mpsc::UnboundedSender<String>>>>;

fn broadcast(room: &Room, from: SocketAddr, line: &str) {
    for (addr, outbox) in room.borrow().iter() {
        if *addr != from {
            let _ = outbox.unbounded_send(line.to_owned());
        }
    }
}

async fn member(
    room: Room,
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut lines = Framed::new(Compat::new(stream), LinesCodec).fuse();
    lines
        .send("Please enter your username:\n".to_owned())
        .await?;
    let Some(name) = lines.next().await else {
        return Ok(());
    };
    let name = name?.trim().to_owned();
    let (outbox, mut inbox) = mpsc::unbounded();
    room.borrow_mut().insert(addr, outbox);
    broadcast(&room, addr, &format!("{name} has joined the chat\n"));
    loop {
        futures::select! {
            // A line from someone else: to this member.
            line = inbox.next() => match line {
                Some(line) => lines.send(line).await?,
                None => break,
            },
            // A line from this member: to everyone else.
            line = lines.next() => match line {
                Some(Ok(line)) => broadcast(&room, addr, &format!("{name}: {line}")),
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
        }
    }
    room.borrow_mut().remove(&addr);
    broadcast(&room, addr, &format!("{name} has left the chat\n"));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args_os()
        .nth(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("the address {a:?} is not valid UTF-8"))
        })
        .transpose()?
        .unwrap_or_else(|| "127.0.0.1:6142".into());
    let rt = Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind(&*addr)?;
        println!("chat on {}", listener.local_addr()?);
        let room = Room::default();
        loop {
            let (stream, addr) = listener.accept().await?;
            let room = room.clone();
            let _detached = spawn(async move {
                if let Err(e) = member(room, stream, addr).await {
                    eprintln!("{addr}: {e}");
                }
            })?;
        }
    })
}
