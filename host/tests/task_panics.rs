//! A panic in a spawned task is the task's business: its handle reports
//! `Panicked`, the panic hook prints it once, and the runtime and every
//! other task — here an echo server and its clients — go on.
//!
//! One test per file: it installs a panic hook, which is process-wide.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kasync::JoinError;
use kasync::io::sim::SimRng;
use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Runtime, sleep, spawn};
use kasync_tests::watchdog::watchdog;

const CLIENTS: usize = 8;
const ROUNDS: usize = 100;
const PANICKERS: usize = 60;

/// Echoes one connection until the peer closes.
async fn echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (n, back) = stream.read(buf).await;
        buf = back;
        match n {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let (written, back) = stream.write_all(buf).await;
                buf = back;
                if written.is_err() {
                    return;
                }
            }
        }
        buf.clear();
    }
}

/// Sends `ROUNDS` random payloads and checks each echo byte for byte.
async fn client(addr: SocketAddr, seed: u64) -> usize {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut rng = SimRng::new(seed);
    let mut checked = 0;
    for _ in 0..ROUNDS {
        let len = 1 + rng.below(3000) as usize;
        let payload: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let (sent, _) = stream.write_all(payload.clone()).await;
        sent.unwrap();
        let mut got = Vec::with_capacity(len);
        while got.len() < len {
            let (n, back) = stream.read(Vec::with_capacity(len - got.len())).await;
            assert!(n.unwrap() > 0, "the server closed early");
            got.extend_from_slice(&back);
        }
        assert_eq!(got, payload, "the echo is the payload, in order");
        checked += len;
        if rng.chance(30) {
            sleep(Duration::from_millis(rng.below(3))).await;
        }
    }
    checked
}

#[test]
fn panicking_tasks_leave_the_runtime_and_other_tasks_running() {
    watchdog("panicking_tasks_leave_the_runtime", || {
        let hooked = Arc::new(AtomicUsize::new(0));
        let counter = hooked.clone();
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with("task panic #"))
            {
                counter.fetch_add(1, Ordering::SeqCst);
            } else {
                default_hook(info);
            }
        }));
        let rt = Runtime::new().expect("io_uring is available on this machine");
        let (bytes, outcomes) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let _echo = spawn(echo(stream)).unwrap();
                }
            })
            .unwrap();
            let mut rng = SimRng::new(7);
            // Tasks that panic at random moments — before, between and
            // after their own awaits — while the clients run.
            let panickers: Vec<_> = (0..PANICKERS)
                .map(|i| {
                    let delay = rng.below(10);
                    let early = rng.chance(20);
                    spawn(async move {
                        if early {
                            panic!("task panic #{i} at its first poll");
                        }
                        sleep(Duration::from_millis(delay)).await;
                        let buf = vec![0u8; 64];
                        drop(buf);
                        panic!("task panic #{i} after {delay} ms");
                    })
                    .unwrap()
                })
                .collect();
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| spawn(client(addr, 100 + c as u64)).unwrap())
                .collect();
            let mut bytes = 0;
            for client in clients {
                bytes += client.await.expect("a client task finished normally");
            }
            let mut outcomes = Vec::new();
            for handle in panickers {
                outcomes.push(handle.await.map(|never: ()| never));
            }
            server.abort();
            (bytes, outcomes)
        });
        let _ = std::panic::take_hook();
        assert!(bytes >= CLIENTS * ROUNDS, "every client echoed its data");
        assert_eq!(outcomes.len(), PANICKERS);
        for outcome in &outcomes {
            assert_eq!(*outcome, Err(JoinError::Panicked));
        }
        assert_eq!(
            hooked.load(Ordering::SeqCst),
            PANICKERS,
            "each panic reached the hook exactly once"
        );
        // The runtime still works after all that.
        assert_eq!(
            rt.block_on(async { spawn(async { 5 }).unwrap().await }),
            Ok(5)
        );
    });
}

/// With `abort_on_task_panic`, a task's panic ends the process (SIGABRT)
/// instead. Runs itself as a child process for that.
#[test]
fn abort_on_task_panic_ends_the_process() {
    use std::os::unix::process::ExitStatusExt;
    if std::env::var_os("KASYNC_ABORT_CHILD").is_some() {
        let rt = kasync_host::Builder::new()
            .abort_on_task_panic(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let _task = spawn(async { panic!("crash-only task") }).unwrap();
            sleep(Duration::from_millis(200)).await;
        });
        // Not reached: the panic aborted the process.
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "abort_on_task_panic_ends_the_process",
            "--nocapture",
        ])
        .env("KASYNC_ABORT_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child aborted ({:?}); stderr: {stderr}",
        out.status
    );
    assert_eq!(
        stderr.matches("crash-only task").count(),
        1,
        "the message was printed once: {stderr}"
    );
}

/// A waker that panics when woken.
struct Boom;

impl std::task::Wake for Boom {
    fn wake(self: Arc<Self>) {
        panic!("contained panic: a foreign waker");
    }
}

/// User code that the reactor runs on a task's behalf — here a foreign
/// waker the task registered on an operation and on a sleep — panics
/// during a turn: contained like a task's panic, `block_on` goes on.
#[test]
fn a_panicking_foreign_waker_is_contained_like_a_task_panic() {
    use std::future::Future;
    use std::task::{Context, Waker};
    watchdog("a_panicking_foreign_waker_is_contained", || {
        let rt = Runtime::new().unwrap();
        let answer = rt.block_on(async {
            let _task = spawn(async {
                let waker = Waker::from(Arc::new(Boom));
                let mut op = Box::pin(kasync_host::io().submit(kasync_ops::ops::Nop));
                let _ = op.as_mut().poll(&mut Context::from_waker(&waker));
                let mut nap = Box::pin(sleep(Duration::from_millis(1)));
                let _ = nap.as_mut().poll(&mut Context::from_waker(&waker));
                let _keep = (op, nap);
                std::future::pending::<()>().await;
            })
            .unwrap();
            sleep(Duration::from_millis(30)).await;
            42
        });
        assert_eq!(answer, 42);
    });
}

/// Dropping the runtime drops every task; one whose future panics when
/// dropped does not stop the others from being dropped, nor the shutdown,
/// and the thread's next runtime works.
#[test]
fn a_task_whose_drop_panics_does_not_stop_the_runtime_drop() {
    use std::cell::Cell;
    use std::rc::Rc;
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("contained panic: a task future panics when dropped");
        }
    }
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    watchdog("a_task_whose_drop_panics", || {
        let dropped = Rc::new(Cell::new(false));
        let rt = Runtime::new().unwrap();
        let flag = dropped.clone();
        rt.block_on(async move {
            let _a = spawn(async {
                let _p = PanicOnDrop;
                std::future::pending::<()>().await;
            })
            .unwrap();
            let _b = spawn(async move {
                let _f = Flag(flag);
                std::future::pending::<()>().await;
            })
            .unwrap();
            sleep(Duration::from_millis(1)).await;
        });
        drop(rt);
        assert!(dropped.get(), "the other task was dropped too");
        let rt = Runtime::new().unwrap();
        assert_eq!(
            rt.block_on(async { spawn(async { 3 }).unwrap().await }),
            Ok(3)
        );
    });
}

/// A panic in the future given to `block_on` is the caller's: it leaves
/// `block_on`, and the runtime can be used again afterwards.
#[test]
fn a_panic_in_the_block_on_future_reaches_the_caller() {
    let rt = Runtime::new().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            sleep(Duration::from_millis(1)).await;
            panic!("root panic: the block_on future's own");
        })
    }));
    let payload = outcome.expect_err("the root's panic propagates");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"root panic: the block_on future's own")
    );
    assert_eq!(
        rt.block_on(async { spawn(async { 1 }).unwrap().await }),
        Ok(1)
    );
}
