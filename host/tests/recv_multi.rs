//! Multishot receives into the runtime's shared receive buffers, against
//! the real kernel: every byte in order, buffers back in the pool, waiting
//! (not losing data) when every buffer is held, cancellation on drop.

use std::io::ErrorKind;
use std::time::Duration;

use futures_util::StreamExt;
use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, sleep, spawn};
use kasync_tests::watchdog::watchdog;

mod support;

/// A connected pair: (accepted side, connecting side).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = spawn(async move { TcpStream::connect(addr).await.unwrap() }).unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, connect.await.unwrap())
}

/// The bytes the tests send: position-dependent, so a reordering or a
/// reused buffer shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// 256 KiB in uneven writes through four 64-byte buffers: the receive runs
/// out of buffers again and again (`ENOBUFS`), and still every byte
/// arrives, in order, and every buffer is back in the ring at the end.
#[test]
fn every_byte_in_order_through_a_tiny_pool() {
    watchdog("every_byte_in_order_through_a_tiny_pool", || {
        let rt = Runtime::new().unwrap();
        let ring = support::recv_buffers(&rt, 4, 64);
        let data = pattern(256 * 1024);
        let received = rt.block_on(async {
            let (server, client) = pair().await;
            let sent = data.clone();
            let writer = spawn(async move {
                let mut at = 0;
                let mut step = 1;
                while at < sent.len() {
                    let end = (at + step).min(sent.len());
                    let (r, _) = client.write_all(sent[at..end].to_vec()).await;
                    r.unwrap();
                    at = end;
                    step = step * 7 % 5000 + 1;
                }
                client.shutdown_write().await.unwrap();
            })
            .unwrap();
            let mut received = Vec::new();
            let mut stream = server.recv_multi();
            while let Some(buf) = stream.next().await {
                let buf = buf.unwrap();
                // Items hold at most a shared buffer (or one of the
                // stream's own where there are no shared ones).
                assert!(!buf.is_empty() && (ring.is_none() || buf.len() <= 64));
                received.extend_from_slice(&buf);
            }
            writer.await.unwrap();
            received
        });
        assert_eq!(received.len(), data.len());
        assert!(received == data, "bytes arrived out of order or changed");
        if let Some(ring) = ring {
            assert_eq!(ring.available(), 4, "every buffer is back in the ring");
        }
    });
}

/// A task that holds every shared buffer does not stall its stream (or
/// anyone else's): the next reads go into buffers of the stream's own,
/// and every byte arrives, in order.
#[test]
fn holding_every_buffer_falls_back_to_own_buffers_and_loses_nothing() {
    watchdog("holding_every_buffer_falls_back", || {
        let rt = Runtime::new().unwrap();
        let Some(ring) = support::recv_buffers(&rt, 2, 16) else {
            return; // every read goes into the stream's own buffers anyway
        };
        let data = pattern(100);
        let received = rt.block_on(async {
            let (server, client) = pair().await;
            let mut stream = server.recv_multi();
            let (r, _) = client.write_all(data[..32].to_vec()).await;
            r.unwrap();
            let first = stream.next().await.unwrap().unwrap();
            let second = stream.next().await.unwrap().unwrap();
            let (r, _) = client.write_all(data[32..].to_vec()).await;
            r.unwrap();
            client.shutdown_write().await.unwrap();
            let mut received = [&first[..], &second[..]].concat();
            let mut own = 0;
            // Both items held: whatever comes next needs no shared buffer.
            while let Some(buf) = stream.next().await {
                let buf = buf.unwrap();
                own += usize::from(!buf.is_shared());
                received.extend_from_slice(&buf);
            }
            assert!(own > 0, "reads went into the stream's own buffers");
            drop((first, second));
            received
        });
        assert_eq!(received, data, "every byte, in order");
        assert_eq!(ring.available(), 2);
    });
}

/// Dropping the stream with data in flight cancels the receive; buffers
/// the kernel filled meanwhile go back to the ring.
#[test]
fn dropping_the_stream_gives_the_buffers_back() {
    watchdog("dropping_the_stream_gives_the_buffers_back", || {
        let rt = Runtime::new().unwrap();
        let ring = support::recv_buffers(&rt, 8, 32);
        rt.block_on(async {
            let (server, client) = pair().await;
            let mut stream = server.recv_multi();
            let (r, _) = client.write_all(pattern(1000)).await;
            r.unwrap();
            let first = stream.next().await.unwrap().unwrap();
            assert_eq!(first[..], pattern(1000)[..first.len()]);
            // More completions are queued or on their way; drop them all.
            drop(stream);
            drop(first);
            // Let the cancellation and any late completion come in.
            for _ in 0..20 {
                if ring.is_none_or(|ring| ring.available() == 8) {
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
        });
        if let Some(ring) = ring {
            assert_eq!(ring.available(), 8, "every buffer is back in the ring");
        }
    });
}

#[test]
fn receive_buffer_shapes_are_checked() {
    let rt = Runtime::new().unwrap();
    let err = rt.register_recv_buffers(3, 64).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("power of two"), "{err}");
    let err = rt.register_recv_buffers(4, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let Some(ring) = support::recv_buffers(&rt, 4, 64) else {
        return;
    };
    assert_eq!((ring.buffers(), ring.buffer_size()), (4, 64));
    // The same shape again is the same ring; another shape is an error.
    assert!(std::ptr::eq(ring, rt.register_recv_buffers(4, 64).unwrap()));
    let err = rt.register_recv_buffers(8, 64).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
}
