//! `Compat` allocates nothing per call once its buffers exist: the
//! operations in flight live inside it. (Its own binary: it installs a
//! counting global allocator.)

use futures_util::{AsyncReadExt, AsyncWriteExt};
use kasync_host::compat::Compat;
use kasync_host::net::UnixStream;
use kasync_host::{Backend, Builder};
use kasync_tests::alloc_counter::{CountingAllocator, allocations_in};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn reads_writes_and_flushes_allocate_nothing_once_warm() {
    for backend in [Backend::Uring, Backend::Poll] {
        let rt = Builder::new().backend(backend).build().unwrap();
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (mut a, mut b) = (Compat::new(a), Compat::new(b));
            let message = [7u8; 512];
            let mut back = [0u8; 512];
            // Warm up: the two buffers are allocated once.
            for _ in 0..4 {
                a.write_all(&message).await.unwrap();
                a.flush().await.unwrap();
                b.read_exact(&mut back).await.unwrap();
            }
            let mut round = std::pin::pin!(async {
                for _ in 0..200 {
                    a.write_all(&message).await.unwrap();
                    a.flush().await.unwrap();
                    b.read_exact(&mut back).await.unwrap();
                }
            });
            // Count only inside the adapter's calls: poll the rounds by
            // hand with counting on, on this thread.
            let mut total = 0;
            loop {
                let (ready, n) = allocations_in(|| {
                    std::future::Future::poll(
                        round.as_mut(),
                        &mut std::task::Context::from_waker(std::task::Waker::noop()),
                    )
                    .is_ready()
                });
                total += n;
                if ready {
                    break;
                }
                // Let the runtime complete what is in flight.
                kasync_host::sleep(std::time::Duration::from_micros(50)).await;
            }
            assert_eq!(total, 0, "{backend}: allocations in 200 rounds");
        });
    }
}
