//! User code that panics around the driver: a foreign waker that panics
//! when the completion wakes it, a buffer whose `set_init` panics in
//! `complete`, a buffer whose `bytes_total` panics in `build` (on the first
//! push, and on a retry after a full queue). After each, the driver keeps
//! going: every request completes once, nothing stays on the device.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use kasync::io::{IoBuf, IoBufMut, errno};
use kasync_virtio_blk::{ReadSectors, SECTOR};

mod support;
use support::Behaviour;
use support::rig::{Rig, Sectors, assert_original};

struct PanickingWaker;
impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("foreign waker panics");
    }
}

/// A buffer whose `bytes_total` panics at its `n`th call (0: never) and
/// whose `set_init` panics if `panic_init`.
struct Flaky {
    inner: Sectors,
    total_calls: Cell<u32>,
    panic_total_at: u32,
    panic_init: bool,
}

impl Flaky {
    fn new(inner: Sectors, panic_total_at: u32, panic_init: bool) -> Self {
        Self {
            inner,
            total_calls: Cell::new(0),
            panic_total_at,
            panic_init,
        }
    }
}

// SAFETY: forwards to `Sectors` (or panics first).
unsafe impl IoBuf for Flaky {
    fn stable_ptr(&self) -> *const u8 {
        self.inner.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.inner.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.total_calls.set(self.total_calls.get() + 1);
        if self.total_calls.get() == self.panic_total_at {
            panic!("bytes_total panics");
        }
        self.inner.bytes_total()
    }
}

// SAFETY: as above.
unsafe impl IoBufMut for Flaky {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.inner.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        if self.panic_init {
            panic!("set_init panics");
        }
        // SAFETY: forwarded.
        unsafe { self.inner.set_init(n) }
    }
}

fn settle(rig: &Rig<8>, drops: &Rc<Cell<usize>>) {
    let io = rig.io;
    rig.block_on(async {
        let (r, buf) = io
            .submit(ReadSectors::new(9, Sectors::empty(1, drops)))
            .await;
        assert_eq!(r, Ok(SECTOR));
        assert_original(buf.bytes(), 9);
    });
    let stats = rig.stats();
    assert_eq!(stats.submitted, stats.completed, "{stats:?}");
    assert_eq!(rig.device.held(), 0);
    assert_eq!(rig.disk.in_flight(), 0);
    assert_eq!(rig.disk.occupied(), 0);
}

#[test]
fn a_foreign_waker_that_panics_on_the_completion() {
    let rig = Rig::<8>::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let mut read = Box::pin(io.submit(ReadSectors::new(3, Sectors::empty(1, &drops))));
    let waker = Waker::from(Arc::new(PanickingWaker));
    assert!(
        read.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        rig.block_on(async {
            // Another read, so the loop turns and reaps both.
            io.submit(ReadSectors::new(4, Sectors::empty(1, &drops)))
                .await
                .0
        })
    }));
    assert!(panicked.is_err(), "the waker's panic reaches the run loop");
    let (r, buf) = rig.block_on(poll_fn(|cx| read.as_mut().poll(cx)));
    assert_eq!(r, Ok(SECTOR));
    assert_original(buf.bytes(), 3);
    drop(buf);
    settle(&rig, &drops);
}

#[test]
fn set_init_panics_in_complete() {
    let rig = Rig::<8>::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let flaky = Flaky::new(Sectors::empty(1, &drops), 0, true);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        rig.block_on(io.submit(ReadSectors::new(3, flaky)))
    }));
    assert!(panicked.is_err());
    assert_eq!(drops.get(), 1, "the buffer was dropped by the unwind");
    settle(&rig, &drops);
}

#[test]
fn bytes_total_panics_in_build_on_the_first_push() {
    let rig = Rig::<8>::new(Behaviour::default());
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let flaky = Flaky::new(Sectors::empty(1, &drops), 1, false);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        rig.block_on(io.submit(ReadSectors::new(3, flaky)))
    }));
    assert!(panicked.is_err());
    assert_eq!(drops.get(), 1);
    assert_eq!(rig.stats().submitted, 0, "nothing was queued");
    settle(&rig, &drops);
}

#[test]
fn bytes_total_panics_in_build_on_a_retry() {
    let rig = Rig::<8>::new(Behaviour {
        queue_size: 8, // two requests
        per_halt: 1,
        ..Behaviour::default()
    });
    let drops = Rc::new(Cell::new(0));
    let io = rig.io;
    let mut a = Box::pin(io.submit(ReadSectors::new(1, Sectors::empty(1, &drops))));
    let mut b = Box::pin(io.submit(ReadSectors::new(2, Sectors::empty(1, &drops))));
    // Not built while the queue is full; its first build (the retry) panics.
    let mut c = Box::pin(io.submit(ReadSectors::new(
        3,
        Flaky::new(Sectors::empty(1, &drops), 1, false),
    )));
    let mut d = Box::pin(io.submit(ReadSectors::new(4, Sectors::empty(1, &drops))));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        rig.block_on(async {
            for mut f in [a.as_mut(), b.as_mut()] {
                let _ = poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await;
            }
            let _ = poll_fn(|cx| Poll::Ready(c.as_mut().poll(cx))).await;
            let _ = poll_fn(|cx| Poll::Ready(d.as_mut().poll(cx))).await;
            // Wait for d, behind c: c's retry must come first.
            d.as_mut().await.0
        })
    }));
    assert!(panicked.is_err(), "the retry's panic reaches the run loop");
    let (r, buf) = rig.block_on(c.as_mut());
    assert_eq!(r, Err(errno::ECANCELED));
    assert_eq!(buf.inner.data.len(), SECTOR);
    rig.block_on(async {
        for f in [a.as_mut(), b.as_mut(), d.as_mut()] {
            assert_eq!(f.await.0, Ok(SECTOR));
        }
    });
    settle(&rig, &drops);
}
