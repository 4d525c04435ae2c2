//! `IrqQueue`: ordering, overflow, wrap-around, pushes from inside polls.

use core::future::poll_fn;
use core::task::Poll;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use kasync::IrqQueue;
use kasync::executor::{Executor, Spin};

#[test]
fn fifo_and_wrap_around() {
    let q: IrqQueue<u32, 4> = IrqQueue::new();
    for lap in 0..10u32 {
        for i in 0..4 {
            q.push(lap * 4 + i).unwrap();
        }
        assert_eq!(q.len(), 4);
        for i in 0..4 {
            assert_eq!(q.try_recv(), Some(lap * 4 + i));
        }
        assert_eq!(q.try_recv(), None);
    }
    assert_eq!(q.dropped(), 0);
}

#[test]
fn overflow_is_counted_and_the_value_returned() {
    let q: IrqQueue<u8, 2> = IrqQueue::new();
    assert_eq!(q.push(1), Ok(()));
    assert_eq!(q.push(2), Ok(()));
    assert_eq!(q.push(3), Err(3));
    assert_eq!(q.push(4), Err(4));
    assert_eq!(q.dropped(), 2);
    assert_eq!(q.try_recv(), Some(1));
    assert_eq!(q.push(5), Ok(()));
    assert_eq!(q.try_recv(), Some(2));
    assert_eq!(q.try_recv(), Some(5));
    assert!(q.is_empty());
}

#[test]
fn dropping_the_queue_drops_queued_values() {
    let marker = Arc::new(());
    {
        let q: IrqQueue<Arc<()>, 4> = IrqQueue::new();
        q.push(marker.clone()).unwrap();
        q.push(marker.clone()).unwrap();
        assert_eq!(Arc::strong_count(&marker), 3);
    }
    assert_eq!(Arc::strong_count(&marker), 1);
}

/// Pushes issued from inside a task's poll and from inside the consumer's
/// own poll — what a nested interrupt does — are all received in order,
/// and the overflow is counted.
#[test]
fn pushes_from_inside_polls() {
    static EXEC: Executor<Spin, 4, 256> = Executor::new(Spin);
    static QUEUE: IrqQueue<u32, 8> = IrqQueue::new();
    let runner = EXEC.runner().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let n = next.clone();
    // A producer task that pushes 3 values per poll.
    let producer = runner
        .spawn_local(poll_fn(move |cx| {
            for _ in 0..3 {
                let v = n.fetch_add(1, Ordering::SeqCst) as u32;
                QUEUE.push(v).unwrap();
            }
            if n.load(Ordering::SeqCst) >= 6 {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }))
        .unwrap();
    let n = next.clone();
    let consumer = runner
        .spawn_local(async move {
            let mut got = Vec::new();
            let mut stream = QUEUE.stream();
            while got.len() < 6 {
                got.push(stream.next().await.unwrap());
            }
            // Now the "interrupt" fires while the consumer is running: it
            // pushes into the very queue being consumed, past capacity.
            for _ in 0..10 {
                let v = n.fetch_add(1, Ordering::SeqCst) as u32;
                let _ = QUEUE.push(v);
            }
            while let Some(v) = QUEUE.try_recv() {
                got.push(v);
            }
            got
        })
        .unwrap();
    runner.block_on(producer).unwrap();
    let got = runner.block_on(consumer).unwrap();
    assert_eq!(got, (0..14).collect::<Vec<_>>());
    assert_eq!(QUEUE.dropped(), 2, "8 places, 10 pushes: 2 dropped");
}

#[test]
fn recv_waits_and_is_woken_by_push() {
    static EXEC: Executor<Spin, 2, 256> = Executor::new(Spin);
    static QUEUE: IrqQueue<&'static str, 4> = IrqQueue::new();
    let runner = EXEC.runner().unwrap();
    let consumer = EXEC.spawn(async { QUEUE.recv().await }).unwrap();
    let stats = runner.tick(8);
    assert_eq!(stats.polled, 1);
    assert!(!stats.ready_left, "consumer parked on the empty queue");
    QUEUE.push("key").unwrap();
    let stats = runner.tick(8);
    assert_eq!(stats.completed, 1, "push woke the consumer");
    assert_eq!(runner.block_on(consumer), Ok("key"));
}

#[test]
fn many_producer_threads() {
    const PER: usize = if cfg!(miri) { 20 } else { 20_000 };
    let q: Arc<IrqQueue<usize, 64>> = Arc::new(IrqQueue::new());
    let received = std::thread::scope(|s| {
        for t in 0..3 {
            let q = q.clone();
            s.spawn(move || {
                for i in 0..PER {
                    while q.push(t * PER + i).is_err() {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let mut seen = vec![false; 3 * PER];
        let mut last = [None::<usize>; 3];
        let mut count = 0;
        while count < 3 * PER {
            match q.try_recv() {
                Some(v) => {
                    assert!(!seen[v], "{v} received twice");
                    seen[v] = true;
                    let t = v / PER;
                    assert!(last[t].is_none_or(|l| l < v), "per-producer order kept");
                    last[t] = Some(v);
                    count += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        count
    });
    assert_eq!(received, 3 * PER);
    assert_eq!(q.try_recv(), None);
}
