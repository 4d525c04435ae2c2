//! The demo servers over real sockets.

use std::time::Duration;

use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, apps, spawn, time};
use kasync_tests::watchdog::watchdog;

/// A chat client reading whole lines.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Client {
    async fn join(addr: std::net::SocketAddr, name: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut client = Client {
            stream,
            pending: Vec::new(),
        };
        client.say(name).await;
        let welcome = client.line().await;
        assert!(
            welcome.starts_with(&format!("* welcome, {name} (")),
            "{welcome}"
        );
        client
    }

    async fn say(&self, line: &str) {
        let (r, _) = self
            .stream
            .write_all(format!("{line}\n").into_bytes())
            .await;
        r.unwrap();
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return String::from_utf8(line[..line.len() - 1].to_vec()).unwrap();
            }
            let (n, buf) = self.stream.read(Vec::with_capacity(1024)).await;
            assert!(n.unwrap() > 0, "the server closed the connection");
            self.pending.extend_from_slice(&buf);
        }
    }

    /// The next line, within a second.
    async fn expect(&mut self, want: &str) {
        let got = time::timeout(Duration::from_secs(1), self.line())
            .await
            .expect("a line within 1 s");
        assert_eq!(got, want);
    }
}

#[test]
fn chat_room_joins_messages_and_leaves_in_order() {
    watchdog("chat", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let _server = spawn(apps::serve_chat(listener)).unwrap();

            let mut alice = Client::join(addr, "alice").await;
            let mut bob = Client::join(addr, "bob").await;
            alice.expect("* bob joined").await;
            let mut carol = Client::join(addr, "carol").await;
            alice.expect("* carol joined").await;
            bob.expect("* carol joined").await;

            alice.say("hello").await;
            alice.say("how are you").await;
            bob.expect("alice: hello").await;
            bob.expect("alice: how are you").await;
            carol.expect("alice: hello").await;
            carol.expect("alice: how are you").await;

            bob.say("fine").await;
            alice.expect("bob: fine").await;
            carol.expect("bob: fine").await;

            drop(carol);
            alice.expect("* carol left").await;
            bob.expect("* carol left").await;
            // Nothing of one's own comes back.
            assert!(
                time::timeout(Duration::from_millis(50), alice.line())
                    .await
                    .is_err()
            );
        });
    });
}

#[test]
fn echo_server_serves_connections_concurrently() {
    watchdog("echo server", || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let _server = spawn(apps::serve_echo(listener)).unwrap();
            let clients: Vec<_> = (0..20)
                .map(|i| {
                    spawn(async move {
                        let s = TcpStream::connect(addr).await.unwrap();
                        let msg = format!("client {i}").into_bytes();
                        let (r, msg) = s.write_all(msg).await;
                        r.unwrap();
                        let (n, back) = s.read(Vec::with_capacity(64)).await;
                        assert_eq!(&back[..n.unwrap()], &msg[..]);
                    })
                    .unwrap()
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
        });
    });
}

/// Two threads, each with its own runtime and its own `SO_REUSEPORT`
/// listener on one port, serve the connections between them.
#[test]
fn thread_per_core_listeners_share_a_port() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    watchdog("per core", || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let bound = Arc::new(AtomicUsize::new(0));
        let total = 40;
        let (counter, listening) = (served.clone(), bound.clone());
        let servers = std::thread::spawn(move || {
            kasync_host::per_core(2, move |_| {
                let (counter, listening) = (counter.clone(), listening.clone());
                async move {
                    let listener = TcpListener::bind_reuseport(addr).unwrap();
                    listening.fetch_add(1, Ordering::SeqCst);
                    let mut mine = 0;
                    // Serve until all connections were handled somewhere.
                    while counter.load(Ordering::SeqCst) < total {
                        if let Ok(Ok((stream, _))) =
                            time::timeout(Duration::from_millis(20), listener.accept()).await
                        {
                            apps::echo_connection(stream).await;
                            counter.fetch_add(1, Ordering::SeqCst);
                            mine += 1;
                        }
                    }
                    mine
                }
            })
            .unwrap()
        });
        while bound.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(1)); // until both listen
        }
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            for i in 0..total {
                let s = TcpStream::connect(addr).await.unwrap();
                let (r, msg) = s.write_all(format!("n{i}").into_bytes()).await;
                r.unwrap();
                s.shutdown_write().await.unwrap();
                let (n, back) = s.read(Vec::with_capacity(16)).await;
                assert_eq!(&back[..n.unwrap()], &msg[..]);
            }
        });
        let per_thread = servers.join().unwrap();
        assert_eq!(per_thread.iter().sum::<usize>(), total);
    });
}
