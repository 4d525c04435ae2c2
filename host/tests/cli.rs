//! The README's main command — the `host` binary with no arguments — run
//! for real, plus its argument handling.

use std::process::Command;

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host"))
}

#[test]
fn main_command_checks_the_machine_and_passes_the_tour() {
    let out = host().output().expect("run host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "host failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("== machine"), "{stdout}");
    assert!(stdout.contains("kernel:"), "{stdout}");
    assert!(
        stdout.contains("1000 run through 16 static slots"),
        "{stdout}"
    );
    assert!(stdout.contains("tour passed"), "{stdout}");
}

#[test]
fn help_and_bad_arguments() {
    let help = host().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("host echo [--addr A]"));

    let bad = host().arg("frobnicate").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("unknown command \"frobnicate\""),
        "{stderr}"
    );

    for command in ["echo", "chat", "cat", "cp"] {
        let help = host().args([command, "--help"]).output().unwrap();
        assert!(help.status.success());
        assert!(String::from_utf8_lossy(&help.stdout).contains(&format!("usage: host {command}")));
    }
    let bad = host()
        .args(["echo", "--addr", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "a bad argument, as --help says");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("bad address \"not-an-address\""),
        "{stderr}"
    );
    let bad = host().args(["cp", "only-one"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn cat_and_cp() {
    let dir = std::env::temp_dir().join(format!("kasync-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    std::fs::write(&a, "first\n").unwrap();
    std::fs::write(&b, "second\n").unwrap();
    let out = host().arg("cat").arg(&a).arg(&b).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nsecond\n");

    let out = host().arg("cp").arg(&b).arg(&c).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&c).unwrap(), "second\n");

    let missing = dir.join("missing");
    let out = host().arg("cat").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing") && stderr.contains("No such file"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Arguments that are not UTF-8: a command or an address is a usage error
/// (exit 2, a message, no panic); a path passes through byte for byte.
#[test]
fn non_utf8_arguments_are_usage_errors_or_exact_paths() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bad = OsStr::from_bytes(b"\xff");
    let check = |args: &[&OsStr], what: &str| {
        let out = host().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(what) && stderr.contains("not valid UTF-8"),
            "{args:?}: {stderr}"
        );
    };
    check(&[bad], "the command \"\\xFF\"");
    check(
        &[
            OsStr::new("echo"),
            OsStr::new("--addr"),
            OsStr::from_bytes(b"127.0.0.1:\xff"),
        ],
        "the address",
    );
    check(
        &[OsStr::new("chat"), OsStr::new("--addr"), bad],
        "the address",
    );

    // cp and cat take such paths as they are.
    let dir = scratch("non-utf8");
    let src = dir.join(OsStr::from_bytes(b"src-\xff"));
    let dst = dir.join(OsStr::from_bytes(b"dst-\xfe\x80"));
    std::fs::write(&src, b"bytes \xff kept\n").unwrap();
    let out = host().arg("cp").arg(&src).arg(&dst).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dst).unwrap(), b"bytes \xff kept\n");
    let out = host().arg("cat").arg(&dst).output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"bytes \xff kept\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kasync-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cp` onto itself — the same path, a symbolic link, a hard link — is
/// refused with a clear error before anything is opened for writing: the
/// file keeps its contents.
#[test]
fn cp_onto_itself_is_refused_and_destroys_nothing() {
    let dir = scratch("self");
    let file = dir.join("same.txt");
    std::fs::write(&file, "precious\n").unwrap();
    let symlink = dir.join("symlink.txt");
    std::os::unix::fs::symlink(&file, &symlink).unwrap();
    let hardlink = dir.join("hardlink.txt");
    std::fs::hard_link(&file, &hardlink).unwrap();
    for dst in [&file, &symlink, &hardlink] {
        let out = host().arg("cp").arg(&file).arg(dst).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dst:?}: {stderr}");
        assert!(stderr.contains("are the same file"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");
    }
    // Into the file's own directory: the same file again.
    let out = host().arg("cp").arg(&file).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A directory as the source is refused before the destination is
/// touched: an existing file keeps its contents, no empty file appears.
#[test]
fn cp_of_a_directory_leaves_the_destination_alone() {
    let dir = scratch("dir");
    let keep = dir.join("keep.txt");
    std::fs::write(&keep, "keep me\n").unwrap();
    let source = dir.join("some_dir");
    std::fs::create_dir(&source).unwrap();
    let out = host().arg("cp").arg(&source).arg(&keep).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is a directory"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "keep me\n");
    let fresh = dir.join("fresh.txt");
    let out = host().arg("cp").arg(&source).arg(&fresh).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!fresh.exists(), "no empty file left behind");
    // A missing source leaves the destination alone too.
    let out = host()
        .arg("cp")
        .arg(dir.join("nope"))
        .arg(&keep)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "keep me\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sparse file's copy is sparse: the data comes across at its offsets,
/// the holes take no blocks, and the length is the same.
#[test]
fn cp_keeps_holes() {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;
    let dir = scratch("sparse");
    let src = dir.join("sparse.bin");
    let len: u64 = 256 << 20;
    {
        let mut f = std::fs::File::create(&src).unwrap();
        f.set_len(len).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(100 << 20)).unwrap();
        f.write_all(&[7u8; 10_000]).unwrap();
        f.seek(SeekFrom::Start(len - 3)).unwrap();
        f.write_all(b"end").unwrap();
    }
    let dst = dir.join("copy.bin");
    std::fs::write(&dst, vec![1u8; 1 << 20]).unwrap(); // old contents to replace
    let out = host().arg("cp").arg(&src).arg(&dst).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, d) = (
        std::fs::metadata(&src).unwrap(),
        std::fs::metadata(&dst).unwrap(),
    );
    assert_eq!(d.len(), len);
    let data_blocks = s.blocks();
    assert!(
        d.blocks() <= data_blocks + 64,
        "the copy is sparse: {} blocks for the source's {data_blocks}",
        d.blocks()
    );
    assert!(
        std::fs::read(&src).unwrap() == std::fs::read(&dst).unwrap(),
        "same bytes"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sources and destinations that are not plain regular files: a device
/// as the destination is written in order (no truncation, no offsets), a
/// `/proc` file (size 0) is copied until its end, and a dangling symbolic
/// link is refused rather than written through.
#[test]
fn cp_with_devices_proc_files_and_dangling_links() {
    let dir = scratch("special");
    let a = dir.join("a");
    std::fs::write(&a, "hello\n").unwrap();
    let out = host().arg("cp").arg(&a).arg("/dev/null").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = dir.join("status");
    let out = host()
        .arg("cp")
        .arg("/proc/self/status")
        .arg(&status)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = std::fs::read_to_string(&status).unwrap();
    assert!(copied.starts_with("Name:"), "{copied}");
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
    let out = host().arg("cp").arg(&a).arg(&dangling).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dangling"));
    assert!(
        !dir.join("nowhere").exists(),
        "nothing written through the link"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A new copy gets the source's permission bits, never its set-user-ID
/// or set-group-ID bit (as `cp` does).
#[test]
fn cp_does_not_copy_set_id_bits() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("setid");
    let src = dir.join("tool");
    std::fs::write(&src, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o6755)).unwrap();
    let dst = dir.join("copy");
    let out = host().arg("cp").arg(&src).arg(&dst).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&dst).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode & 0o6000, 0, "no set-ID bits: {mode:o}");
    assert_eq!(mode & 0o777, 0o755 & !umask(), "{mode:o}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// This process's umask.
fn umask() -> u32 {
    // SAFETY: `umask` only sets and returns the mask; it is set back at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    }
}

/// `cat` goes on after a file it cannot read, reports it, and exits 1;
/// `-` is standard input.
#[test]
fn cat_goes_on_after_a_missing_file_and_reads_standard_input() {
    use std::io::Write;
    let dir = scratch("cat");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::write(&a, "first\n").unwrap();
    std::fs::write(&b, "third\n").unwrap();
    let mut child = host()
        .arg("cat")
        .arg(&a)
        .arg(dir.join("missing"))
        .arg("-")
        .arg(&b)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"second\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "first\nsecond\nthird\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing") && stderr.contains("No such file"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--` ends the options of `cat`; help into a closed pipe does not panic.
#[test]
fn cat_takes_double_dash_and_help_survives_a_closed_pipe() {
    let dir = scratch("dashes");
    let a = dir.join("a");
    std::fs::write(&a, "alpha\n").unwrap();
    let out = host().args(["cat", "--"]).arg(&a).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha\n");
    let mut child = host()
        .arg("--help")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cat` into a pipe whose reader went away ends quietly (as other tools
/// do, by SIGPIPE) instead of printing an error.
#[test]
fn cat_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch("pipe");
    let big = dir.join("big");
    std::fs::write(&big, vec![b'x'; 8 << 20]).unwrap();
    let mut child = host()
        .arg("cat")
        .arg(&big)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `host` with io_uring_setup failing EPERM — what a container's seccomp
/// profile does.
fn host_without_io_uring() -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = host();
    cmd.env_remove(kasync_host::BACKEND_VARIABLE);
    // SAFETY: between fork and exec the closure only makes system calls on
    // data prepared on its own stack (no allocation, no locks).
    unsafe {
        cmd.pre_exec(|| {
            deny_io_uring_setup();
            Ok(())
        });
    }
    cmd
}

/// Where seccomp blocks io_uring, the machine check says so and why, and
/// the tour runs on the readiness backend, saying once on stderr why.
#[test]
fn io_uring_blocked_by_seccomp_falls_back_to_readiness() {
    let out = host_without_io_uring().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("io_uring:     UNAVAILABLE"), "{stdout}");
    assert!(
        stdout.contains("backend:      the readiness backend (epoll) (io_uring is unavailable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("== tour: I/O on the readiness backend"),
        "{stdout}"
    );
    assert!(stdout.contains("tour passed"), "{stdout}");
    let fallbacks: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("using the readiness backend"))
        .collect();
    assert_eq!(fallbacks.len(), 1, "one line says why: {stderr}");
    assert!(fallbacks[0].contains("seccomp"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Asking for io_uring where seccomp blocks it is a clear error, not a
/// fallback, a hang or a panic.
#[test]
fn io_uring_forced_where_blocked_is_a_clear_error() {
    let out = host_without_io_uring()
        .env(kasync_host::BACKEND_VARIABLE, "uring")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("seccomp"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// An unknown backend name is refused with the names that work.
#[test]
fn an_unknown_backend_is_a_clear_error() {
    let out = host()
        .env(kasync_host::BACKEND_VARIABLE, "kqueue-please")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("use uring, poll or auto"), "{stderr}");
}

/// `host echo` serves where io_uring is blocked: byte for byte, on the
/// readiness backend.
#[test]
fn echo_serves_where_io_uring_is_blocked() {
    use std::io::{Read, Write};
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut server = host_without_io_uring()
        .args(["echo", "--addr", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = None;
    for _ in 0..300 {
        if let Ok(s) = std::net::TcpStream::connect(&addr) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut stream = stream.expect("the echo server listens");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || stream.write_all(&data).unwrap())
    };
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == data, "the echo came back changed");
    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("using the readiness backend"), "{stderr}");
}

/// Installs a seccomp filter that fails `io_uring_setup` with EPERM and
/// allows everything else.
fn deny_io_uring_setup() {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    const NR_IO_URING_SETUP: u32 = 425;
    let filter = [
        // A = arch; anything but x86_64: allow.
        bpf_stmt(0x20, 4),
        bpf_jump(0x15, AUDIT_ARCH_X86_64, 0, 3),
        // A = syscall number; io_uring_setup: EPERM, else allow.
        bpf_stmt(0x20, 0),
        bpf_jump(0x15, NR_IO_URING_SETUP, 0, 1),
        bpf_stmt(0x06, 0x0005_0000 | libc::EPERM as u32), // SECCOMP_RET_ERRNO
        bpf_stmt(0x06, 0x7fff_0000),                      // SECCOMP_RET_ALLOW
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls with a valid filter program that lives
    // until the second call returns.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_SECCOMP, 2, &program as *const libc::sock_fprog);
    }
}

fn bpf_stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn bpf_jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// On a kernel without some io_uring features (pretended here: Linux
/// 5.15's set), the machine check names each one with what runs instead,
/// and the tour passes on those fallbacks.
#[test]
fn the_machine_check_names_what_the_kernel_lacks() {
    let out = host()
        .env("KASYNC_URING_WITHOUT", "linux-5.15")
        .env_remove("KASYNC_BACKEND")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "pretending:   KASYNC_URING_WITHOUT=registered-ring,",
        "multishot-accept  (Linux 5.19) -> one accept at a time",
        "multishot-recv    (Linux 6.0) -> receives one at a time into buffers of their own",
        "== tour: I/O on io_uring",
        "tour passed",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("ext-arg "), "5.15 has ext-arg:\n{stdout}");
}

/// Below kasync's minimum (pretended: Linux 5.4) the runtime runs on the
/// readiness backend and says why.
#[test]
fn below_the_minimum_kernel_the_tour_runs_on_readiness_and_says_why() {
    let out = host()
        .env("KASYNC_URING_WITHOUT", "linux-5.4")
        .env_remove("KASYNC_BACKEND")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("backend:      the readiness backend (epoll) (KASYNC_URING_WITHOUT pretends io_uring is older than Linux 5.10)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("== tour: I/O on the readiness backend"),
        "{stdout}"
    );
    assert!(stderr.contains("older than Linux 5.10"), "{stderr}");
}

/// A feature list that names no feature is refused, naming the ones that
/// exist.
#[test]
fn a_bad_feature_list_is_refused_with_the_names_that_work() {
    for bad in ["multishot", "linux-five", "base;ext-arg"] {
        let out = host().env("KASYNC_URING_WITHOUT", bad).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
        assert!(
            stderr.contains("KASYNC_URING_WITHOUT") && stderr.contains("multishot-accept"),
            "{bad}: {stderr}"
        );
    }
}
