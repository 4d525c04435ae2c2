//! The `host` CLI's output into a closed pipe for the commands that keep
//! `SIGPIPE` ignored (echo, chat): no panic; and `--` before a file named
//! `--help`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host"))
}

/// `host echo --help | <reader gone>`: echo and chat keep `SIGPIPE`
/// ignored, and their help into a closed pipe must still not panic.
#[test]
fn echo_and_chat_help_into_a_closed_pipe_do_not_panic() {
    for command in ["echo", "chat"] {
        let mut child = host()
            .args([command, "--help"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && out.status.code() != Some(101),
            "host {command} --help into a closed pipe: {:?}\n{stderr}",
            out.status
        );
    }
}

/// `host echo --addr 127.0.0.1:0 | head -1`, then Ctrl-C: the "stopping
/// on signal" line goes into a closed pipe, quietly.
#[test]
fn echo_stopping_with_its_reader_gone_does_not_panic() {
    let mut child = host()
        .args(["echo", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap(); // read the "listening" line, then the reader goes away
    assert!(line.contains("listening"), "{line}");
    std::thread::sleep(Duration::from_millis(100));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.code() != Some(101),
        "echo stopped with its stdout reader gone: {:?}\n{stderr}",
        out.status
    );
}

/// `host cat -- --help`: `--` ends the options, so `--help` after it is
/// a file, not a request for help.
#[test]
fn cat_double_dash_then_a_file_named_help() {
    let dir = std::env::temp_dir().join(format!("host_cli_pipes_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("--help"), "the file\n").unwrap();
    let out = host()
        .current_dir(&dir)
        .args(["cat", "--", "--help"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "the file\n",
        "cat -- --help printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
