//! Child processes on both backends: large output on both pipes at once,
//! exit codes, kill, a runtime that keeps running while it waits, and a
//! child that exits before reading its input.

use std::cell::Cell;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use kasync_host::process;

mod support;
use support::each_backend;

/// 1 MiB on stdout and on stderr at once: both pipes drained together, so
/// the child never stalls on a full one.
#[test]
fn large_output_on_both_pipes_is_collected_whole() {
    each_backend("process output", |rt| {
        rt.block_on(async {
            let script = "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; exit 3";
            let out = process::output(Command::new("sh").args(["-c", script]))
                .await
                .unwrap();
            assert_eq!(out.status.code(), Some(3));
            assert_eq!(out.stdout.len(), 1 << 20);
            assert_eq!(out.stderr.len(), 1 << 20);
        })
    });
}

/// While a child sleeps, the runtime's other tasks run: the wait does not
/// block the thread.
#[test]
fn waiting_for_a_child_does_not_block_the_runtime() {
    each_backend("process wait", |rt| {
        rt.block_on(async {
            let ticks = Rc::new(Cell::new(0u32));
            let counter = ticks.clone();
            let ticker = kasync_host::spawn(async move {
                loop {
                    kasync_host::sleep(Duration::from_millis(5)).await;
                    counter.set(counter.get() + 1);
                }
            })
            .unwrap();
            let mut child = process::spawn(Command::new("sleep").arg("0.2")).unwrap();
            assert!(child.wait().await.unwrap().success());
            assert!(ticks.get() >= 5, "only {} ticks while waiting", ticks.get());
            ticker.abort();
        })
    });
}

/// A killed child's wait reports the signal; waiting twice gives the same
/// status.
#[test]
fn kill_then_wait() {
    each_backend("process kill", |rt| {
        rt.block_on(async {
            let mut child = process::spawn(Command::new("sleep").arg("30")).unwrap();
            assert!(child.try_wait().unwrap().is_none());
            child.kill().unwrap();
            let status = child.wait().await.unwrap();
            assert!(!status.success());
            assert_eq!(child.wait().await.unwrap(), status);
        })
    });
}

/// Writing to a child that exited without reading is an error, not a
/// hang or a dead test process (SIGPIPE).
#[test]
fn writing_to_a_child_that_exited_is_an_error() {
    each_backend("process stdin", |rt| {
        rt.block_on(async {
            let mut child = process::spawn(Command::new("true").stdin(Stdio::piped())).unwrap();
            let stdin = child.stdin.take().unwrap();
            let mut child_done = child;
            child_done.wait().await.unwrap();
            let (result, _) = stdin.write_all(vec![0u8; 1 << 20]).await;
            assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
        })
    });
}
