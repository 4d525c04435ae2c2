//! TCP over the real kernel: an echo server under many concurrent
//! connections with messages of random sizes, every byte checked.

use std::net::SocketAddr;
use std::sync::mpsc;

use kasync::io::sim::SimRng;
use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, apps, spawn};
use kasync_tests::watchdog::watchdog;

/// A server that echoes `connections` connections, then returns.
fn serve(connections: usize, ready: mpsc::Sender<SocketAddr>) {
    let rt = Runtime::new().expect("io_uring");
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        ready.send(listener.local_addr().unwrap()).unwrap();
        let mut handlers = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().await.unwrap();
            handlers.push(spawn(apps::echo_connection(stream)).unwrap());
        }
        for h in handlers {
            h.await.unwrap();
        }
    });
}

/// Sends `messages` messages of random size (1 B – 64 KiB, most of them
/// small) and checks each echo byte for byte.
async fn client(addr: SocketAddr, seed: u64, messages: usize) -> usize {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut rng = SimRng::new(seed);
    let mut echoed = 0;
    let mut recv = Vec::with_capacity(64 * 1024);
    for m in 0..messages {
        // Log-uniform sizes between 1 B and 64 KiB.
        let size = 1usize << rng.below(17);
        let size = (size + rng.below(size as u64) as usize).clamp(1, 64 * 1024);
        let message: Vec<u8> = (0..size)
            .map(|i| (seed as usize + m + i * 7) as u8)
            .collect();
        let (result, message) = stream.write_all(message).await;
        result.unwrap();
        let mut got = 0;
        while got < size {
            recv.clear();
            let (result, back) = stream.read(recv).await;
            recv = back;
            let n = result.unwrap();
            assert!(n > 0, "server closed early");
            assert_eq!(
                &recv[..n],
                &message[got..got + n],
                "connection {seed}, message {m}"
            );
            got += n;
        }
        echoed += size;
    }
    stream.shutdown_write().await.unwrap();
    echoed
}

#[test]
fn echo_many_connections_random_sizes() {
    let (connections, messages) = (200, 1000);
    watchdog("echo", || {
        let (tx, rx) = mpsc::channel();
        let server = std::thread::spawn(move || serve(connections, tx));
        let addr = rx.recv().unwrap();
        let rt = Runtime::new().unwrap();
        let total = rt.block_on(async {
            let clients: Vec<_> = (0..connections)
                .map(|c| spawn(client(addr, c as u64, messages)).unwrap())
                .collect();
            let mut total = 0;
            for c in clients {
                total += c.await.unwrap();
            }
            total
        });
        server.join().unwrap();
        assert!(total > connections * messages, "{total} bytes echoed");
    });
}

#[test]
fn connect_to_a_closed_port_is_an_error() {
    let rt = Runtime::new().unwrap();
    // Bind and drop: the port is (almost certainly) closed right after.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = rt.block_on(TcpStream::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// `bind` and `connect` take what std's do: names such as `localhost`,
/// strings, `SocketAddr`s; a malformed address is an error, not a panic.
#[test]
fn bind_and_connect_take_names_and_strings() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("localhost:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = spawn(async move { listener.accept().await.map(|(s, _)| s) }).unwrap();
        let client = TcpStream::connect(format!("localhost:{port}"))
            .await
            .unwrap();
        let server = accept.await.unwrap().unwrap();
        let (sent, _) = client.write_all(b"hi".to_vec()).await;
        sent.unwrap();
        let (n, buf) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(n.unwrap(), 2);
        assert_eq!(buf, b"hi");
        for bad in ["not an address", "127.0.0.1", "127.0.0.1:99999"] {
            assert!(TcpListener::bind(bad).is_err(), "{bad}");
            assert!(TcpStream::connect(bad).await.is_err(), "{bad}");
        }
    });
}
