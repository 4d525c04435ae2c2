//! The chat room's limits against members that never read, send endless
//! lines, or arrive when the server is out of descriptors. The clients are
//! plain blocking sockets on threads; the server runs on a runtime of its
//! own (in this process, or as the `host chat` command).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use kasync_host::net::TcpListener;
use kasync_host::{Backend, apps};

mod support;
use support::each_backend_by_name;

/// The tests here run one at a time: two of them measure the process's
/// memory, which the others' transfers (megabytes through in-process
/// sockets) would inflate.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the chat server on its own thread and a runtime of `backend`;
/// returns its address.
fn chat_server(backend: Backend) -> SocketAddr {
    chat_server_with(backend, apps::ChatLimits::default())
}

/// [`chat_server`] with other limits.
fn chat_server_with(backend: Backend, limits: apps::ChatLimits) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = support::runtime(backend);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            apps::serve_chat_with(listener, limits).await
        })
        .unwrap();
    });
    rx.recv().unwrap()
}

/// Joins as `name` and reads the welcome.
fn join(addr: SocketAddr, name: &str) -> (TcpStream, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(format!("{name}\n").as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut welcome = String::new();
    reader.read_line(&mut welcome).unwrap();
    assert!(
        welcome.starts_with(&format!("* welcome, {name}")),
        "{welcome}"
    );
    (stream, reader)
}

/// Reads lines until one satisfies `want`; panics at end of stream.
fn read_until(reader: &mut BufReader<TcpStream>, want: impl Fn(&str) -> bool) -> String {
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        if want(&line) {
            return line;
        }
    }
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A member that never reads while 100 000 lines of 1 000 bytes (100 MB)
/// flow through the room: the server's memory stays bounded (the member
/// is cut off once its outbox is full), and a member that reads gets
/// every line.
#[test]
fn a_member_that_never_reads_does_not_grow_the_server() {
    let _alone = one_at_a_time();
    const LINES: usize = 100_000;
    each_backend_by_name("a_member_that_never_reads", |backend| {
        let addr = chat_server(backend);
        let (_sleeper, _sleeper_reader) = join(addr, "sleeper");
        let (_reader_stream, mut reader) = join(addr, "reader");
        let (mut talker, _talker_reader) = join(addr, "talker");
        read_until(&mut reader, |l| l.starts_with("* talker joined"));
        let before = rss_kib();
        // The talker keeps at most `WINDOW` lines ahead of the reader (a
        // conversation, not a flood): the reader is never behind, the
        // sleeper always is.
        const WINDOW: usize = 100;
        assert_eq!(
            talk_in_windows(&mut talker, reader, 1000, LINES, WINDOW),
            LINES,
            "the reading member got every line"
        );
        let grown = rss_kib().saturating_sub(before);
        assert!(
            grown < 40 * 1024,
            "the server's memory grew by {grown} KiB for a member that never reads"
        );
    });
}

/// A member that never reads, a talker that sends 20 000 lines of 4 000
/// bytes as fast as the room takes them (no window: a flood), and a
/// member that reads: the reader hears every line, whole and in order,
/// while the sleeper's sends to it wait for room that never comes.
#[test]
fn a_reader_hears_a_flood_whole_and_in_order_beside_a_member_that_never_reads() {
    let _alone = one_at_a_time();
    const LINES: usize = 20_000;
    const LEN: usize = 4_000;
    each_backend_by_name("a_reader_hears_a_flood_beside_a_sleeper", |backend| {
        let addr = chat_server(backend);
        let (_sleeper, _sleeper_reader) = join(addr, "sleeper");
        let (reader_stream, mut reader) = join(addr, "reader");
        let (mut talker, _talker_reader) = join(addr, "talker");
        read_until(&mut reader, |l| l.starts_with("* talker joined"));
        // Line `i`: its number, then filler up to `LEN` bytes.
        let text = |i: usize| format!("{i:08} {}", "z".repeat(LEN - 9));
        let flood = thread::spawn(move || {
            for i in 0..LINES {
                let mut one = text(i).into_bytes();
                one.push(b'\n');
                talker.write_all(&one).unwrap();
            }
            talker
        });
        // A bounded wait: a reader that stops hearing lines fails here
        // (before the watchdog's deadline), saying how far it got.
        reader_stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(45);
        let mut got = 0;
        let mut line = String::new();
        while got < LINES {
            match reader.read_line(&mut line) {
                Ok(0) => panic!("on {backend}: the reader was disconnected after {got} lines"),
                Ok(_) if !line.ends_with('\n') => continue, // the rest is coming
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "on {backend}: the reader heard {got} of {LINES} lines, then nothing"
                    );
                    continue; // what was read so far stays in `line`
                }
                Err(e) => panic!("on {backend}: reading after {got} lines: {e}"),
            }
            if let Some(said) = line.strip_prefix("talker: ") {
                assert_eq!(
                    said.strip_suffix('\n'),
                    Some(text(got).as_str()),
                    "on {backend}: line {got} whole and in order"
                );
                got += 1;
            } else {
                assert!(line.starts_with("* "), "on {backend}: {line:?}");
            }
            line.clear();
        }
        drop(flood.join().unwrap());
    });
}

/// The talker sends `lines` lines of `len` bytes, at most two windows of
/// `window` lines ahead of what `reader` confirmed (a conversation, not a
/// flood); returns how many of the talker's lines `reader` heard, each
/// checked whole.
fn talk_in_windows(
    talker: &mut TcpStream,
    mut reader: BufReader<TcpStream>,
    len: usize,
    lines: usize,
    window: usize,
) -> usize {
    let (progress, heard) = mpsc::channel::<usize>();
    let counter = thread::spawn(move || {
        let mut got = 0;
        let mut line = String::new();
        while got < lines {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "after {got} lines"
            );
            if line.starts_with("talker: ") {
                assert_eq!(line.len(), "talker: ".len() + len + 1, "line {got}");
                got += 1;
                if got % window == 0 {
                    let _ = progress.send(got);
                }
            }
        }
        got
    });
    let batch = format!("{}\n", "x".repeat(len)).repeat(window);
    for sent in (window..=lines).step_by(window) {
        talker.write_all(batch.as_bytes()).unwrap();
        if sent > window {
            let confirmed = heard.recv().unwrap();
            assert!(confirmed + 2 * window >= sent);
        }
    }
    counter.join().unwrap()
}

/// A line of 10 MB without a newline gets its sender an error line and
/// the connection closed; the room goes on.
#[test]
fn an_endless_line_is_refused() {
    let _alone = one_at_a_time();
    each_backend_by_name("an_endless_line_is_refused", |backend| {
        let addr = chat_server(backend);
        let (mut flooder, mut flooder_reader) = join(addr, "flooder");
        let writer = thread::spawn(move || {
            let chunk = vec![b'y'; 64 * 1024];
            for _ in 0..160 {
                if flooder.write_all(&chunk).is_err() {
                    return; // closed by the server: as it should be
                }
            }
        });
        let refusal = read_until(&mut flooder_reader, |l| {
            l.starts_with("* lines are limited")
        });
        assert!(refusal.contains("4096 bytes"), "{refusal}");
        let mut rest = Vec::new();
        let _ = flooder_reader.read_to_end(&mut rest); // then the end
        writer.join().unwrap();
        let (_a, mut a_reader) = join(addr, "after");
        let (mut b, _b_reader) = join(addr, "other");
        read_until(&mut a_reader, |l| l.starts_with("* other joined"));
        b.write_all(b"still here\n").unwrap();
        read_until(&mut a_reader, |l| l == "other: still here\n");
    });
}

/// `host chat` with only 32 descriptors and 40 clients arriving: accepts
/// fail for want of descriptors, the server says so and goes on, and once
/// clients leave, new members chat as usual.
#[test]
fn running_out_of_descriptors_does_not_end_the_server() {
    let _alone = one_at_a_time();
    use std::os::unix::process::CommandExt;
    each_backend_by_name("running_out_of_descriptors", |backend| {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
        command
            .args(["chat", "--addr", &addr.to_string()])
            .env(kasync_host::BACKEND_VARIABLE, backend.name())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // SAFETY: only `setrlimit`, async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 32,
                    rlim_max: 32,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut server = command.spawn().unwrap();
        // Wait until it listens.
        let mut first = None;
        for _ in 0..200 {
            if let Ok(s) = TcpStream::connect(addr) {
                first = Some(s);
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let first = first.expect("the server listens");
        let crowd: Vec<TcpStream> = (0..40)
            .map(|i| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(format!("crowd{i}\n").as_bytes()).unwrap();
                s
            })
            .collect();
        thread::sleep(Duration::from_millis(500));
        assert!(
            server.try_wait().unwrap().is_none(),
            "the server is still running with its descriptors exhausted"
        );
        drop(crowd);
        drop(first);
        // Room again: new members chat.
        let mut ok = false;
        for _ in 0..100 {
            thread::sleep(Duration::from_millis(50));
            let Ok(mut a) = TcpStream::connect(addr) else {
                continue;
            };
            a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            if a.write_all(b"alice\n").is_err() {
                continue;
            }
            let mut a_reader = BufReader::new(a.try_clone().unwrap());
            let mut welcome = String::new();
            match a_reader.read_line(&mut welcome) {
                Ok(n) if n > 0 && welcome.starts_with("* welcome, alice") => {}
                _ => continue,
            }
            let (mut b, _b_reader) = join(addr, "bob");
            read_until(&mut a_reader, |l| l.starts_with("* bob joined"));
            b.write_all(b"hello alice\n").unwrap();
            read_until(&mut a_reader, |l| l == "bob: hello alice\n");
            ok = true;
            break;
        }
        assert!(
            server.try_wait().unwrap().is_none(),
            "the server is still running"
        );
        server.kill().unwrap();
        let out = server.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            ok,
            "new members could chat after the crowd left; stderr: {stderr}"
        );
        assert!(
            stderr.contains("accept failed") && stderr.contains("going on"),
            "the server reported the failed accepts: {stderr}"
        );
    });
}

/// A flood of one-byte lines: each queued line counts with its
/// bookkeeping, so 50 members that never read are cut off long before
/// their queues cost the server much memory.
#[test]
fn a_flood_of_tiny_lines_is_counted_with_its_bookkeeping() {
    let _alone = one_at_a_time();
    each_backend_by_name("a_flood_of_tiny_lines", |backend| {
        let addr = chat_server(backend);
        let sleepers: Vec<_> = (0..50)
            .map(|i| join(addr, &format!("sleeper{i}")))
            .collect();
        let (mut flooder, _flooder_reader) = join(addr, "a");
        let before = rss_kib();
        let flood = b"a\n".repeat(64_000);
        flooder.write_all(&flood).unwrap();
        // Let the server work through it: a member that reads sees the end.
        let (_w, mut watcher) = join(addr, "watcher");
        flooder.write_all(b"done\n").unwrap();
        read_until(&mut watcher, |l| l == "a: done\n");
        let grown = rss_kib().saturating_sub(before);
        assert!(
            grown < 40 * 1024,
            "the server's memory grew by {grown} KiB for 128 KB of tiny lines"
        );
        drop(sleepers);
    });
}

/// A connection that never sends its name is closed after the name
/// timeout, with a word why.
#[test]
fn a_connection_that_never_says_its_name_is_closed() {
    let _alone = one_at_a_time();
    each_backend_by_name("a_connection_that_never_says_its_name", |backend| {
        let addr = chat_server_with(
            backend,
            apps::ChatLimits {
                name_timeout: Duration::from_millis(200),
                ..apps::ChatLimits::default()
            },
        );
        let silent = TcpStream::connect(addr).unwrap();
        let mut reader = BufReader::new(silent);
        let mut said = String::new();
        reader.read_to_string(&mut said).unwrap();
        assert_eq!(said, "* no name given in time; goodbye\n");
    });
}

/// A TCP connection to `addr` whose receive buffer is set small before it
/// connects (so the window it offers stays small).
fn connect_with_small_receive_buffer(addr: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else {
        panic!("the test server listens on IPv4")
    };
    // SAFETY: plain socket calls on a descriptor this function owns, with
    // valid, initialised arguments; the descriptor goes to `TcpStream`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let small: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// A member that stops reading is cut off (its send times out, or it
/// falls more than the room's backlog behind) and its connection closed,
/// while a member that reads gets every line: nobody waits for the
/// slowest.
#[test]
fn a_member_that_stops_reading_is_cut_off_and_the_others_hear_everything() {
    let _alone = one_at_a_time();
    const LINES: usize = 3 * apps::BACKLOG;
    // The talker keeps at most two windows ahead of the reader (a fast
    // conversation; a talker that floods without limit outruns every
    // member, and the room cuts them off rather than wait).
    const WINDOW: usize = 64;
    each_backend_by_name("a_member_that_stops_reading", |backend| {
        let addr = chat_server_with(
            backend,
            apps::ChatLimits {
                write_timeout: Duration::from_millis(200),
                ..apps::ChatLimits::default()
            },
        );
        // A small receive buffer from the handshake on, so the server's
        // sends to the sleeper soon block.
        let sleeper = connect_with_small_receive_buffer(addr);
        let mut sleeper_writer = sleeper.try_clone().unwrap();
        sleeper_writer.write_all(b"sleeper\n").unwrap();
        sleeper
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let (_reader_stream, mut reader) = join(addr, "reader");
        let (mut talker, _talker_reader) = join(addr, "talker");
        read_until(&mut reader, |l| l.starts_with("* talker joined"));
        assert_eq!(
            talk_in_windows(&mut talker, reader, 4000, LINES, WINDOW),
            LINES,
            "the reading member heard every line"
        );
        // The sleeper's connection is closed by the server: reading what
        // the kernel buffered ends in end-of-stream (or a reset).
        let mut sleeper = sleeper;
        let mut sink = vec![0; 1 << 16];
        loop {
            match sleeper.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the sleeper was not disconnected: {e}"),
            }
        }
    });
}

/// A full room turns a newcomer away with a word why; once a member
/// leaves, the next one gets in.
#[test]
fn a_full_room_turns_newcomers_away_until_someone_leaves() {
    let _alone = one_at_a_time();
    each_backend_by_name("a_full_room", |backend| {
        let addr = chat_server_with(
            backend,
            apps::ChatLimits {
                max_members: 2,
                ..apps::ChatLimits::default()
            },
        );
        let first = join(addr, "first");
        let (_second, mut second_reader) = join(addr, "second");
        let mut third = TcpStream::connect(addr).unwrap();
        third.write_all(b"third\n").unwrap();
        let mut refusal = String::new();
        third.read_to_string(&mut refusal).unwrap();
        assert_eq!(refusal, "* the room is full; try again later\n");
        drop(first); // both halves: the connection closes
        read_until(&mut second_reader, |l| l.starts_with("* first left"));
        // Its place is free once the leaving member's task has sent its
        // last lines and ended: a newcomer gets in within moments.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut fourth = TcpStream::connect(addr).unwrap();
            fourth.write_all(b"fourth\n").unwrap();
            let mut reader = BufReader::new(fourth);
            let mut welcome = String::new();
            reader.read_line(&mut welcome).unwrap();
            if welcome.starts_with("* welcome, fourth") {
                break;
            }
            assert_eq!(welcome, "* the room is full; try again later\n");
            assert!(
                std::time::Instant::now() < deadline,
                "the place never came free"
            );
            thread::sleep(Duration::from_millis(10));
        }
    });
}
