//! The blocking pool against careless jobs and wakers: a result whose
//! `Drop` panics on a pool thread, a panic payload whose `Drop` panics, a
//! waker that panics in `wake` — none may take a pool thread (counted as
//! alive) with it — and jobs that wait on each other or run as a burst,
//! which must each get a thread. (Its own process: the pool is shared.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use kasync_host::spawn_blocking;
use kasync_host::time::timeout;

fn rt() -> kasync_host::Runtime {
    kasync_host::Runtime::new().unwrap()
}

/// Waits (up to 20 s) until `counter` reaches `n`.
fn wait_for(counter: &AtomicUsize, n: usize) {
    for _ in 0..2000 {
        if counter.load(Ordering::SeqCst) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("only {} of {n} happened", counter.load(Ordering::SeqCst));
}

/// The pool still runs a job.
async fn assert_pool_runs() {
    let r = timeout(Duration::from_secs(10), spawn_blocking(|| 7).unwrap()).await;
    assert_eq!(r, Ok(Ok(7)), "the pool no longer runs jobs");
}

static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
        panic!("PanicOnDrop dropped (on purpose)");
    }
}

static WOKEN: AtomicUsize = AtomicUsize::new(0);

struct PanickyWaker;

impl Wake for PanickyWaker {
    fn wake(self: Arc<Self>) {
        WOKEN.fetch_add(1, Ordering::SeqCst);
        panic!("the waker panics (on purpose)");
    }
}

#[test]
fn careless_jobs_and_wakers_leave_the_pool_working() {
    // 64 (the most threads) detached jobs whose result panics when
    // dropped, on the pool thread.
    // Each job waits until every future is dropped, so that its result
    // is dropped on the pool thread, not here.
    let before = DROPPED.load(Ordering::SeqCst);
    let (open, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    for _ in 0..64 {
        let gate = gate.clone();
        drop(
            spawn_blocking(move || {
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
                PanicOnDrop
            })
            .unwrap(),
        );
    }
    for _ in 0..64 {
        open.send(()).unwrap();
    }
    wait_for(&DROPPED, before + 64);
    rt().block_on(assert_pool_runs());

    // A panic payload whose drop panics: the future still completes.
    rt().block_on(async {
        let f = spawn_blocking(|| -> u32 { std::panic::panic_any(PanicOnDrop) }).unwrap();
        let r = timeout(Duration::from_secs(10), f).await;
        assert!(matches!(r, Ok(Err(kasync::JoinError::Panicked))), "{r:?}");
    });

    // 64 jobs polled with wakers that panic when the job wakes them.
    let waker = Waker::from(Arc::new(PanickyWaker));
    let mut cx = Context::from_waker(&waker);
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let mut polled = Vec::new();
    for _ in 0..64 {
        let gate = gate.clone();
        let mut f = Box::pin(
            spawn_blocking(move || {
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
            })
            .unwrap(),
        );
        assert!(f.as_mut().poll(&mut cx).is_pending());
        polled.push(f);
    }
    for _ in 0..64 {
        release.send(()).unwrap();
    }
    wait_for(&WOKEN, 64);
    rt().block_on(assert_pool_runs());
}

/// Job A waits for job B, submitted right after it while one pool thread
/// is idle: B must get a thread of its own (it ran only after A gave up
/// when the idle thread was counted for both).
#[test]
fn a_job_waiting_for_the_next_one_gets_it_run() {
    rt().block_on(async {
        spawn_blocking(|| ()).unwrap().await.unwrap(); // a thread, idle now
        let (tx, rx) = mpsc::channel::<()>();
        let a = spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)).is_ok()).unwrap();
        let b = spawn_blocking(move || tx.send(()).unwrap()).unwrap();
        assert!(
            a.await.unwrap(),
            "job B never ran while job A waited for it"
        );
        b.await.unwrap();
    });
}

/// Eight jobs that each wait until all eight are running: a burst gets
/// eight threads, not one.
#[test]
fn a_burst_runs_side_by_side() {
    rt().block_on(async {
        spawn_blocking(|| ()).unwrap().await.unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let running = running.clone();
                spawn_blocking(move || {
                    running.fetch_add(1, Ordering::SeqCst);
                    for _ in 0..1000 {
                        if running.load(Ordering::SeqCst) == 8 {
                            return true;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    false
                })
                .unwrap()
            })
            .collect();
        for job in jobs {
            assert!(job.await.unwrap(), "the jobs did not all run at once");
        }
    });
}
