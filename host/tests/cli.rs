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
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage: host"));

    let bad = host().arg("--frobnicate").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("unexpected arguments: --frobnicate"),
        "{stderr}"
    );
}
