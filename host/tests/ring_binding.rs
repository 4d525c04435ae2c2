//! Registered resources belong to the ring that registered them: a buffer
//! ring, registered buffers or a registered file of another ring are
//! refused with a clear error — never a read of whatever this ring has at
//! the same index — and registrations refuse bad sizes with errors, not
//! panics.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd};

use futures_util::StreamExt;
use kasync_host::net::UnixStream;
use kasync_host::{Runtime, io};
use kasync_ops::Target;
use kasync_ops::ops::{ReadAt, RecvMulti};
use kasync_tests::watchdog::watchdog;
use kasync_uring::{Config, Feature, UringDriver};

mod support;

/// A driver of its own: "another ring" (never run, only registered with).
fn foreign_driver() -> UringDriver {
    UringDriver::new(&Config::default()).expect("io_uring is available on this machine")
}

#[test]
fn a_buffer_ring_of_another_ring_is_refused_and_nothing_is_read_from_it() {
    watchdog("a_buffer_ring_of_another_ring_is_refused", || {
        let foreign = foreign_driver();
        if !foreign.features().contains(Feature::BufferRings) {
            eprintln!("this kernel lacks buffer-rings: there is no foreign buffer ring to refuse");
            return;
        }
        let foreign_ring = foreign.register_buf_ring(4, 64).unwrap();
        let rt = Runtime::new().unwrap();
        let own_ring = support::recv_buffers(&rt, 8, 64);
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (sent, _) = b.write_all(b"hello".to_vec()).await;
            sent.unwrap();
            let fd = a.as_fd().as_raw_fd();
            let mut stream =
                std::pin::pin!(io().submit_multishot(RecvMulti::new(fd, foreign_ring)));
            let first = stream.next().await.expect("one item: the refusal");
            let err = first.expect_err("a foreign buffer ring is refused");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains("not registered with"), "{err}");
            assert!(stream.next().await.is_none(), "the stream ends");
            assert_eq!(
                foreign_ring.available(),
                4,
                "the foreign ring was not touched"
            );
            if let Some(own_ring) = own_ring {
                assert_eq!(
                    own_ring.available(),
                    8,
                    "the runtime's ring was not consumed"
                );
            }
            // The data is still there for a proper receive.
            let (n, buf) = a.read(Vec::with_capacity(16)).await;
            assert_eq!(n.unwrap(), 5);
            assert_eq!(buf, b"hello");
        });
    });
}

#[test]
fn a_registered_file_of_another_ring_is_refused() {
    watchdog("a_registered_file_of_another_ring_is_refused", || {
        let dir = std::env::temp_dir().join(format!("kasync-binding-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("foreign.txt");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"the foreign ring's file")
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let foreign = foreign_driver();
        let fixed = foreign.register_file(file.as_raw_fd()).unwrap();
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let (result, buf) = io()
                .submit(ReadAt {
                    fd: Target::Fixed(fixed),
                    buf: Vec::with_capacity(64),
                    offset: 0,
                })
                .await;
            let err = result.expect_err("another ring's registration is refused");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(buf.is_empty(), "nothing was read");
        });
        // Unregistering through the wrong ring is refused too; through the
        // right one it works.
        let rt_driver = foreign_driver();
        assert_eq!(
            rt_driver.unregister_file(fixed).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        foreign.unregister_file(fixed).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn registered_buffers_of_another_ring_are_refused() {
    watchdog("registered_buffers_of_another_ring_are_refused", || {
        let foreign = foreign_driver();
        let pool = foreign.register_buffers(2, 4096).unwrap();
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let file = kasync_host::fs::File::open("/proc/self/status")
                .await
                .unwrap();
            let buf = pool.take().unwrap();
            let (result, buf) = file.read_fixed_at(buf, 0).await;
            let err = result.expect_err("another ring's buffer is refused");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(buf.as_slice().is_empty(), "nothing was read into it");
        });
    });
}

#[test]
fn registrations_refuse_bad_sizes_with_errors() {
    let rt = Runtime::new().unwrap();
    for (count, size) in [(4, 0), (0, 4096), (u16::MAX, 4096), (1, (1 << 30) + 1)] {
        let err = rt
            .register_buffers(count, size)
            .expect_err("refused, not a panic");
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "{count} × {size}: {err}"
        );
    }
    for (count, size) in [(0, 64), (3, 64), (4, 0)] {
        let err = rt
            .register_recv_buffers(count, size)
            .expect_err("refused, not a panic");
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "{count} × {size}: {err}"
        );
    }
    // Sizes the kernel would take but the machine cannot give: errors, not
    // an abort.
    let err = rt
        .register_recv_buffers(1 << 15, u32::MAX as usize)
        .expect_err("refused, not an abort");
    assert_eq!(err.kind(), ErrorKind::OutOfMemory, "{err}");
    assert!(rt.register_buffers(16_384, 1 << 30).is_err());
    // Good sizes still register.
    assert_eq!(rt.register_buffers(2, 512).unwrap().buffer_size(), 512);
}
