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
    assert_eq!(bad.status.code(), Some(1));
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

/// With io_uring_setup failing EPERM — what a container's seccomp profile
/// does — the command explains and exits non-zero instead of hanging or
/// panicking.
#[test]
fn io_uring_blocked_by_seccomp_is_a_clear_error() {
    use std::os::unix::process::CommandExt;
    let mut cmd = host();
    // SAFETY: between fork and exec the closure only makes system calls on
    // data prepared on its own stack (no allocation, no locks).
    unsafe {
        cmd.pre_exec(|| {
            deny_io_uring_setup();
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("io_uring:     UNAVAILABLE"), "{stdout}");
    assert!(stderr.contains("seccomp"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
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
