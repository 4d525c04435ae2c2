//! The host runtime's task and operation limits and `spawn_when_free`:
//! every way a slot comes free wakes the waiters, at every limit. Each case
//! runs on its own thread with a deadline, so a hang is reported as a
//! failure instead of stalling the run.

use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use kasync::SpawnError;
use kasync_host::net::{TcpListener, TcpStream};
use kasync_host::{Builder, apps, sleep, spawn, spawn_when_free};

/// Runs `f` on a fresh thread; `Err` if it did not finish within `secs`.
fn within(secs: u64, f: impl FnOnce() + Send + 'static) -> Result<(), &'static str> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => Ok(()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err("hung"),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panicked"),
    }
}

/// A task's slot is freed by dropping its kept `JoinHandle` after the task
/// finished: a `spawn_when_free` that registered after the finish is woken.
#[test]
fn spawn_when_free_wakes_when_a_kept_handle_is_dropped() {
    let r = within(5, || {
        let rt = Builder::new().max_tasks(1).build().unwrap();
        rt.block_on(async {
            let done = spawn(async { 1 }).unwrap();
            // Let it finish; its output waits in the slot for `done`.
            sleep(Duration::from_millis(10)).await;
            assert!(done.is_finished());
            let waiter = async { spawn_when_free(async { 2 }).await.unwrap().await.unwrap() };
            let release = async {
                sleep(Duration::from_millis(50)).await;
                drop(done); // the slot is free from here on
            };
            let (two, ()) = futures_util::future::join(waiter, release).await;
            assert_eq!(two, 2);
        });
    });
    assert_eq!(
        r,
        Ok(()),
        "spawn_when_free never saw the slot freed by a dropped handle"
    );
}

/// Same, with the output taken by awaiting the handle (not dropping it).
#[test]
fn spawn_when_free_wakes_when_a_kept_handle_is_awaited_late() {
    let r = within(5, || {
        let rt = Builder::new().max_tasks(1).build().unwrap();
        rt.block_on(async {
            let done = spawn(async { 1 }).unwrap();
            sleep(Duration::from_millis(10)).await;
            let waiter = async { spawn_when_free(async { 2 }).await.unwrap().await.unwrap() };
            let release = async {
                sleep(Duration::from_millis(50)).await;
                done.await.unwrap()
            };
            let (two, one) = futures_util::future::join(waiter, release).await;
            assert_eq!((one, two), (1, 2));
        });
    });
    assert_eq!(
        r,
        Ok(()),
        "spawn_when_free never saw the slot freed by a late await"
    );
}

/// A task that panics frees its slot (its handle was dropped): a waiting
/// `spawn_when_free` is woken, although the panic unwinds out of the tick.
#[test]
fn spawn_when_free_wakes_when_a_task_panics() {
    let r = within(5, || {
        // The panic message is expected.
        let rt = Builder::new().max_tasks(1).build().unwrap();
        rt.block_on(async {
            drop(
                spawn(async {
                    sleep(Duration::from_millis(20)).await;
                    panic!("a task panics on purpose");
                })
                .unwrap(),
            );
            let h = spawn_when_free(async { 3 }).await.unwrap();
            assert_eq!(h.await.unwrap(), 3);
        });
    });
    assert_eq!(
        r,
        Ok(()),
        "spawn_when_free never saw the slot freed by a panicked task"
    );
}

/// A panicking task in the same tick as another task that completes: the
/// completed one's slot counts too.
#[test]
fn spawn_when_free_wakes_when_a_task_completes_in_a_panicking_tick() {
    let r = within(5, || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(async {
            // Both wake on the same timer turn; the one in the lower slot
            // completes, the other panics in the same tick.
            drop(
                spawn(async {
                    sleep(Duration::from_millis(20)).await;
                })
                .unwrap(),
            );
            drop(
                spawn(async {
                    sleep(Duration::from_millis(20)).await;
                    panic!("a task panics on purpose");
                })
                .unwrap(),
            );
            let a = spawn_when_free(async { 3 }).await.unwrap();
            assert_eq!(a.await.unwrap(), 3);
        });
    });
    assert_eq!(r, Ok(()));
}

/// A `spawn_when_free` dropped while it waits leaves a stale waker behind;
/// nothing breaks and later spawns work.
#[test]
fn spawn_when_free_cancelled_while_waiting() {
    let r = within(10, || {
        let rt = Builder::new().max_tasks(1).build().unwrap();
        rt.block_on(async {
            let hold = spawn(async {
                sleep(Duration::from_millis(100)).await;
                7
            })
            .unwrap();
            let gave_up =
                kasync_host::time::timeout(Duration::from_millis(10), spawn_when_free(async { 1 }))
                    .await;
            assert!(gave_up.is_err(), "no slot was free");
            assert_eq!(hold.await.unwrap(), 7);
            let h = spawn_when_free(async { 8 }).await.unwrap();
            assert_eq!(h.await.unwrap(), 8);
        });
    });
    assert_eq!(r, Ok(()));
}

/// Many waiters in line behind one slot: each gets it in turn.
#[test]
fn many_waiters_behind_one_slot() {
    let r = within(20, || {
        let rt = Builder::new().max_tasks(1).build().unwrap();
        let sum = rt.block_on(async {
            let waiters = (0..50u32).map(|i| async move {
                let h = spawn_when_free(async move {
                    sleep(Duration::from_millis(1)).await;
                    i
                })
                .await
                .unwrap();
                h.await.unwrap()
            });
            futures_util::future::join_all(waiters)
                .await
                .into_iter()
                .sum::<u32>()
        });
        assert_eq!(sum, (0..50).sum());
    });
    assert_eq!(r, Ok(()));
}

/// Waiters that are tasks themselves (each holds a slot while it waits).
#[test]
fn waiting_tasks_fill_the_table() {
    let r = within(20, || {
        let rt = Builder::new().max_tasks(4).build().unwrap();
        rt.block_on(async {
            let mut outer = Vec::new();
            for i in 0..3u32 {
                outer.push(
                    spawn(async move {
                        let mut got = 0;
                        for j in 0..10u32 {
                            let h = spawn_when_free(async move { i * 100 + j }).await.unwrap();
                            got += h.await.unwrap();
                        }
                        got
                    })
                    .unwrap(),
                );
            }
            let mut total = 0;
            for h in outer {
                total += h.await.unwrap();
            }
            assert_eq!(
                total,
                (0..3)
                    .map(|i| (0..10).map(|j| i * 100 + j).sum::<u32>())
                    .sum()
            );
        });
    });
    assert_eq!(r, Ok(()));
}

/// A runtime dropped while a task waits in `spawn_when_free`, then a new
/// one on the same (spare) core.
#[test]
fn runtime_dropped_with_waiters_then_reused() {
    let r = within(10, || {
        for round in 0..3 {
            let rt = Builder::new().max_tasks(2).build().unwrap();
            rt.block_on(async {
                let _blocker = spawn(std::future::pending::<()>()).unwrap();
                let _waiter = spawn(async {
                    let h = spawn_when_free(async { 1 }).await.unwrap();
                    let _ = h.await;
                })
                .unwrap();
                // A root-level waiter too, given up.
                let _ = kasync_host::time::timeout(
                    Duration::from_millis(5),
                    spawn_when_free(async { 2 }),
                )
                .await;
                sleep(Duration::from_millis(5)).await;
            });
            drop(rt);
            let rt = Builder::new().max_tasks(2).build().unwrap();
            rt.block_on(async {
                let a = spawn(async { 1 }).unwrap();
                let b = spawn(async { 2 }).unwrap();
                assert_eq!(
                    spawn(async { 3 }).unwrap_err(),
                    SpawnError::Full,
                    "round {round}"
                );
                assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
                let c = spawn_when_free(async { 4 }).await.unwrap();
                assert_eq!(c.await.unwrap(), 4);
            });
        }
    });
    assert_eq!(r, Ok(()));
}

/// Spawns until `Full`; returns how many were spawned (and drops them all).
async fn fill() -> usize {
    let mut held = Vec::new();
    loop {
        match spawn(std::future::pending::<()>()) {
            Ok(h) => held.push(h),
            Err(SpawnError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    for h in &held {
        h.abort();
    }
    let n = held.len();
    for h in held {
        let _ = h.await;
    }
    n
}

/// Limits below, at and just above the inline slot count, and reuse of a
/// spare core only with the same limit.
#[test]
fn limits_are_exact_and_spare_cores_keep_their_own() {
    let r = within(30, || {
        let t = kasync_host::TASKS;
        let c = kasync_host::CHUNK_SLOTS;
        for max in [1, 2, t - 1, t, t + 1, t + c - 1, t + c, t + c + 1, 3, 1] {
            let rt = Builder::new().max_tasks(max).build().unwrap();
            let n = rt.block_on(fill());
            assert_eq!(n, max, "max_tasks({max})");
            // Twice on the same runtime: freed slots are all usable again.
            let n = rt.block_on(fill());
            assert_eq!(n, max, "max_tasks({max}) again");
        }
        assert!(Builder::new().max_tasks(0).build().is_err());
        assert!(
            Builder::new()
                .max_tasks(kasync_host::MAX_TASKS + 1)
                .build()
                .is_err()
        );
        assert!(Builder::new().max_operations(0).build().is_err());
    });
    assert_eq!(r, Ok(()));
}

/// Echo server with `max_tasks(2)` served from the root: the third client
/// waits (in the listen queue) until one of the first two leaves, then is
/// served.
#[test]
fn echo_at_the_task_limit() {
    let (addr_tx, addr_rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            apps::serve_echo(listener).await.unwrap();
        });
    });
    let addr: SocketAddr = addr_rx.recv().unwrap();
    let echo = |s: &mut std::net::TcpStream, msg: &[u8]| -> std::io::Result<Vec<u8>> {
        s.write_all(msg)?;
        let mut got = vec![0; msg.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    };
    let t = Some(Duration::from_secs(3));
    let mut a = std::net::TcpStream::connect(addr).unwrap();
    a.set_read_timeout(t).unwrap();
    let mut b = std::net::TcpStream::connect(addr).unwrap();
    b.set_read_timeout(t).unwrap();
    assert_eq!(echo(&mut a, b"a").unwrap(), b"a");
    assert_eq!(echo(&mut b, b"b").unwrap(), b"b");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    c.write_all(b"c").unwrap();
    let mut one = [0u8; 1];
    assert!(c.read_exact(&mut one).is_err(), "the third waits");
    drop(a);
    c.set_read_timeout(t).unwrap();
    c.read_exact(&mut one)
        .expect("served once a slot came free");
    assert_eq!(&one, b"c");
    assert_eq!(echo(&mut b, b"bb").unwrap(), b"bb");
    for i in 0..20 {
        let mut d = std::net::TcpStream::connect(addr).unwrap();
        drop(c);
        d.set_read_timeout(t).unwrap();
        assert_eq!(echo(&mut d, b"d").unwrap(), b"d", "client {i}");
        c = d;
    }
}

/// Chat at `max_tasks(3)`: every admitted member is served (one task
/// each); the next waits in the listen queue instead of being turned away.
#[test]
fn chat_at_an_odd_task_limit() {
    let (addr_tx, addr_rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = Builder::new().max_tasks(3).build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            apps::serve_chat(listener).await.unwrap();
        });
    });
    let addr: SocketAddr = addr_rx.recv().unwrap();
    let t = Some(Duration::from_secs(3));
    let mut a = std::net::TcpStream::connect(addr).unwrap();
    a.set_read_timeout(t).unwrap();
    a.write_all(b"alice\n").unwrap();
    let mut buf = [0u8; 256];
    let n = a.read(&mut buf).unwrap();
    let welcome = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(welcome.contains("welcome"), "{welcome}");
    let mut b = std::net::TcpStream::connect(addr).unwrap();
    b.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    b.write_all(b"bob\n").unwrap();
    let got = match b.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).to_string(),
        Err(_) => String::from("<waiting>"),
    };
    assert!(
        !got.contains("full"),
        "bob was admitted and turned away at the task limit instead of waiting: {got:?}"
    );
}

/// A connection via the kasync client too (two ops per echo: receive and
/// send), many rounds at max_operations(2) so the table is always full.
#[test]
fn client_and_server_share_two_operation_slots() {
    let r = within(10, || {
        let rt = Builder::new().max_operations(2).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(async move {
                let (s, _) = listener.accept().await.unwrap();
                for _ in 0..50 {
                    let (r, buf) = s.read(Vec::with_capacity(16)).await;
                    let n = r.unwrap();
                    let (r, _) = s.write_all(buf[..n].to_vec()).await;
                    r.unwrap();
                }
            })
            .unwrap();
            let c = TcpStream::connect(addr).await.unwrap();
            for i in 0..50u8 {
                let (r, _) = c.write_all(vec![i]).await;
                r.unwrap();
                let (r, buf) = c.read(Vec::with_capacity(16)).await;
                assert_eq!(r.unwrap(), 1);
                assert_eq!(buf[0], i);
            }
            server.await.unwrap();
        });
    });
    assert_eq!(r, Ok(()));
}

/// The smallest case: a detached task finishes and frees the only slot,
/// then the run loop would park with nothing else to wait for: the waiter
/// is woken before the park.
#[test]
fn spawn_when_free_wakes_when_a_detached_task_finishes() {
    let r = within(5, || {
        let rt = Builder::new().max_tasks(1).build().unwrap();
        rt.block_on(async {
            drop(spawn(sleep(Duration::from_millis(10))).unwrap());
            let h = spawn_when_free(async { 5 }).await.unwrap();
            assert_eq!(h.await.unwrap(), 5);
        });
    });
    assert_eq!(
        r,
        Ok(()),
        "the waiter slept through the finish of the task it waited for"
    );
}

/// A waiter that is a task (not the root, which a caught panic re-polls):
/// the slot is freed by a task that panics.
#[test]
fn task_waiting_in_spawn_when_free_after_a_panic() {
    let r = within(5, || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(async {
            drop(
                spawn(async {
                    sleep(Duration::from_millis(20)).await;
                    panic!("a task panics on purpose");
                })
                .unwrap(),
            );
            let waiter = spawn(async {
                let h = spawn_when_free(async { 3 }).await.unwrap();
                h.await.unwrap()
            })
            .unwrap();
            // Keep the loop turning on a timer, so that only the counting
            // of freed slots decides.
            let ticker = async {
                for _ in 0..100 {
                    sleep(Duration::from_millis(10)).await;
                }
            };
            let ticker = std::pin::pin!(ticker);
            match futures_util::future::select(waiter, ticker).await {
                futures_util::future::Either::Left((r, _)) => assert_eq!(r.unwrap(), 3),
                futures_util::future::Either::Right(_) => panic!("the waiter was never woken"),
            }
        });
    });
    assert_eq!(r, Ok(()));
}

/// Echo at `max_tasks(2)`: after a client leaves, the third is served
/// without any other I/O waking the loop.
#[test]
fn echo_third_client_served_once_a_client_leaves() {
    let (addr_tx, addr_rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            apps::serve_echo(listener).await.unwrap();
        });
    });
    let addr: SocketAddr = addr_rx.recv().unwrap();
    let mut a = std::net::TcpStream::connect(addr).unwrap();
    let mut b = std::net::TcpStream::connect(addr).unwrap();
    let mut one = [0u8; 1];
    for s in [&mut a, &mut b] {
        s.write_all(b"x").unwrap();
        s.read_exact(&mut one).unwrap();
    }
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"c").unwrap();
    drop(a);
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let first = c.read_exact(&mut one).map(|()| one[0]);
    // Poke the server through the other connection.
    b.write_all(b"y").unwrap();
    b.read_exact(&mut one).unwrap();
    let second = c.read_exact(&mut one).map(|()| one[0]);
    assert!(
        first.is_ok(),
        "c not served within 2 s of a slot coming free ({first:?}); after poking b: {second:?}"
    );
}

/// Control for `task_waiting_in_spawn_when_free_after_a_panic`: the same
/// with a task that returns instead of panicking passes.
#[test]
fn control_task_waiting_in_spawn_when_free_after_a_normal_finish() {
    let r = within(5, || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(async {
            drop(
                spawn(async {
                    sleep(Duration::from_millis(20)).await;
                })
                .unwrap(),
            );
            let waiter = spawn(async {
                let h = spawn_when_free(async { 3 }).await.unwrap();
                h.await.unwrap()
            })
            .unwrap();
            let ticker = async {
                for _ in 0..100 {
                    sleep(Duration::from_millis(10)).await;
                }
            };
            let ticker = std::pin::pin!(ticker);
            match futures_util::future::select(waiter, ticker).await {
                futures_util::future::Either::Left((r, _)) => assert_eq!(r.unwrap(), 3),
                futures_util::future::Either::Right(_) => panic!("the waiter was never woken"),
            }
        });
    });
    assert_eq!(r, Ok(()));
}

/// Every poll of a waiting `spawn_when_free` pushes another clone of its
/// waker (no `will_wake` check), so a waiter polled often while the table
/// stays full keeps growing the list until a task finishes.
#[test]
fn spawn_when_free_waker_list_grows_with_every_poll() {
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    struct Count;
    impl Wake for Count {
        fn wake(self: Arc<Self>) {}
    }
    let rt = Builder::new().max_tasks(1).build().unwrap();
    let live = rt.block_on(async {
        let _hold = spawn(std::future::pending::<()>()).unwrap();
        let count = Arc::new(Count);
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(spawn_when_free(async {}));
        for _ in 0..10_000 {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        Arc::strong_count(&count) - 2
    });
    assert!(live <= 1, "{live} clones of one waiter's waker are kept");
}

/// One round: a task holds the only slot; the root waits in
/// `spawn_when_free` and (in the same poll) lets the task finish. The
/// finish is counted at the end of that tick and the waiters are woken in
/// the turn right after — if `Runner::finished` differs from the `seen`
/// the core kept from its last wake.
async fn one_round_at_the_limit() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{Poll, Waker};
    // A ticker task keeps the loop turning (so the park-before-turn
    // problem does not decide here) for 4 s; it holds the other slot.
    drop(
        spawn(async {
            for _ in 0..800 {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .unwrap(),
    );
    let gate: Rc<RefCell<(bool, Option<Waker>)>> = Rc::default();
    let g = gate.clone();
    drop(
        spawn(std::future::poll_fn(move |cx| {
            let mut g = g.borrow_mut();
            if g.0 {
                Poll::Ready(())
            } else {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }))
        .unwrap(),
    );
    // Let the task run once (and store its waker).
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    let open = async {
        let w = {
            let mut g = gate.borrow_mut();
            g.0 = true;
            g.1.take()
        };
        w.unwrap().wake();
    };
    let (h, ()) = futures_util::future::join(spawn_when_free(async { 9 }), open).await;
    assert_eq!(h.unwrap().await.unwrap(), 9);
}

/// The same round on a fresh core and then on the spare core of the first
/// runtime: `SlotWaiters::seen` survives in the spare core while the new
/// runner's `finished` restarts from 0, so the second round's finish (the
/// new runner's first, `finished == 1`) equals the stale `seen` (1) and the
/// waiter is not woken.
#[test]
fn spawn_when_free_on_a_reused_core() {
    let fresh = within(3, || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(one_round_at_the_limit());
    });
    assert_eq!(fresh, Ok(()), "control: the round works on a fresh core");
    let reused = within(3, || {
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(one_round_at_the_limit());
        drop(rt);
        // Same settings: the spare core is reused.
        let rt = Builder::new().max_tasks(2).build().unwrap();
        rt.block_on(one_round_at_the_limit());
    });
    assert_eq!(reused, Ok(()), "the same round hangs on a reused core");
}
