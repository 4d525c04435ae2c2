//! `host`: kasync's command-line front door.
//!
//! With no arguments it checks the machine and runs a short tour of the
//! runtime; sub-commands run the demo servers and file tools.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

use futures_util::future::{Either, select};
#[cfg(target_os = "linux")]
use kasync_host::signal::Signals;
use kasync_host::{Runtime, apps, io_tour, machine::Machine, tour};

const USAGE: &str = "\
kasync host — check this machine, tour the runtime, run demo servers

usage:
  host                      check the machine and run a short tour
  host echo [--addr A]      TCP echo server (default 127.0.0.1:7000)
  host chat [--addr A]      line-based chat room (default 127.0.0.1:7001);
                            clients send their name first (try nc A)
  host cat FILE...          print files (- is standard input)
  host cp SRC DST           copy a file (keeps holes)
  host bench [SUITE] [--quick] [--report FILE]
                            kasync side by side with its peers (runs the
                            kasync-bench binary: cargo build --release -p bench)
  host <command> --help     help for one command

Every command runs on io_uring where it works and on the readiness backend
(epoll) otherwise; KASYNC_BACKEND=uring|poll|auto chooses.
KASYNC_URING_WITHOUT=linux-5.15 (or feature names, e.g. multishot-accept)
makes io_uring behave as on an older kernel: `host` lists what it lacks.

Servers stop on Ctrl-C. Exit status: 0 on success, 1 on failure (including
a backend that cannot be set up), 2 on bad arguments.";

/// A command-line mistake.
struct Usage(String);

/// Prints a line on standard output; one whose reader has gone is
/// dropped. (The servers keep `SIGPIPE` ignored — their sockets report a
/// closed peer as an error — so `println!` would panic on a closed pipe:
/// `host echo | head -1`.)
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    // Arguments as the OS gives them: paths pass through byte for byte,
    // and a word that is not UTF-8 where one must be is a usage error.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if !matches!(args.first().and_then(|a| a.to_str()), Some("echo" | "chat")) {
        // A command whose output pipe closes (`host cat f | head`, `host
        // --help | head`) ends quietly, as other tools do, by SIGPIPE
        // (Rust's runtime ignores it, which turns the closed pipe into an
        // error, or a panic in `println!`). The servers keep ignoring it:
        // their sockets report a closed peer as an error instead.
        // SAFETY: restores the default action for one signal before any
        // thread starts; nothing else is touched.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match run(&args) {
        Ok(code) => code,
        Err(Usage(message)) => {
            eprintln!("host: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `arg` as text, or a usage error naming `what` it should have been.
fn text<'a>(arg: &'a OsStr, what: &str) -> Result<&'a str, Usage> {
    arg.to_str().ok_or_else(|| {
        Usage(format!(
            "{what} {arg:?} is not valid UTF-8 (no command or address has bytes outside UTF-8)"
        ))
    })
}

fn run(args: &[OsString]) -> Result<ExitCode, Usage> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(check_and_tour());
    };
    let command = text(command, "the command")?;
    // `--` ends the options: a file after it may be called `--help`.
    let options = rest.iter().take_while(|a| *a != "--");
    if command == "--help" || command == "-h" || options.clone().any(|a| a == "--help" || a == "-h")
    {
        say!("{}", help(command));
        return Ok(ExitCode::SUCCESS);
    }
    match command {
        "echo" => Ok(serve(rest, "127.0.0.1:7000", "echo", |l| {
            Box::pin(apps::serve_echo(l))
        })?),
        "chat" => Ok(serve(rest, "127.0.0.1:7001", "chat", |l| {
            Box::pin(apps::serve_chat(l))
        })?),
        "cat" => {
            // `--` ends the options (there are none): the rest are files.
            let rest = match rest.split_first() {
                Some((first, files)) if first == "--" => files,
                _ => rest,
            };
            if rest.is_empty() {
                return Err(Usage(
                    "cat needs at least one FILE (or - for standard input)".into(),
                ));
            }
            Ok(cat(rest))
        }
        "cp" => match rest {
            [src, dst] => Ok(with_runtime(|rt| {
                let (src, dst) = (Path::new(src), Path::new(dst));
                let bytes = rt.block_on(apps::cp(src, dst))?;
                println!("copied {bytes} bytes");
                Ok(())
            })),
            _ => Err(Usage("cp needs exactly SRC and DST".into())),
        },
        "bench" => Ok(bench(rest)),
        other => Err(Usage(format!("unknown command {other:?}"))),
    }
}

/// `host cat`: every file in turn; one that cannot be read is reported and
/// skipped, and the exit status is then 1. A reader that goes away (a
/// closed pipe: `host cat big | head`) ends it quietly, as it does other
/// tools: by `SIGPIPE`.
fn cat(paths: &[OsString]) -> ExitCode {
    let mut failed = false;
    let code = with_runtime(|rt| {
        let mut out = std::io::stdout().lock();
        let report = rt.block_on(apps::cat(paths, &mut out))?;
        for error in &report.failed {
            eprintln!("host: cat: {error}");
        }
        failed = !report.failed.is_empty();
        Ok(())
    });
    if failed { ExitCode::FAILURE } else { code }
}

/// Runs the benchmark suite, a separate binary so the peers it measures
/// against stay out of `host`.
fn bench(args: &[OsString]) -> ExitCode {
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("kasync-bench"));
    let Some(exe) = exe.filter(|p| p.exists()) else {
        eprintln!(
            "host: the benchmark suite is not built next to this binary: run `cargo build --release -p bench` (or `cargo run --release -p bench -- ...`)"
        );
        return ExitCode::FAILURE;
    };
    match std::process::Command::new(&exe).args(args).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("host: cannot run {}: {e}", exe.display());
            ExitCode::FAILURE
        }
    }
}

fn help(command: &str) -> &'static str {
    match command {
        "echo" => {
            "usage: host echo [--addr IP:PORT]\n\nEchoes every TCP connection's bytes back to it. Default address 127.0.0.1:7000. Ctrl-C stops."
        }
        "chat" => {
            "usage: host chat [--addr IP:PORT]\n\nA broadcast chat room over TCP. Each client sends its name as the first line; joins, leaves and messages go to everyone else. Default address 127.0.0.1:7001. Ctrl-C stops."
        }
        "cat" => {
            "usage: host cat FILE...\n\nPrints the files, read through io_uring; - is standard input. A file that cannot be read is reported and skipped (exit status 1); a closed output pipe ends it quietly."
        }
        "cp" => {
            "usage: host cp SRC DST\n\nCopies SRC to DST through io_uring (into DST/SRC's name if DST is a directory). Refuses to copy a file onto itself (also through links) and never truncates DST before SRC is open; holes in SRC stay holes."
        }
        "bench" => {
            "usage: host bench [executor|nop|all] [--quick] [--report FILE]\n\nRuns kasync side by side with its peers and prints a Markdown report. Needs the kasync-bench binary next to this one: cargo build --release -p bench."
        }
        _ => USAGE,
    }
}

/// Runs `f` on a fresh runtime, reporting setup and I/O errors.
fn with_runtime(f: impl FnOnce(&Runtime) -> std::io::Result<()>) -> ExitCode {
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("host: {e}");
            return ExitCode::FAILURE;
        }
    };
    match f(&rt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host: {e}");
            ExitCode::FAILURE
        }
    }
}

type Server = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>>>>;

fn serve(
    args: &[OsString],
    default: &str,
    name: &str,
    server: impl FnOnce(kasync_host::net::TcpListener) -> Server,
) -> Result<ExitCode, Usage> {
    let addr = match args {
        [] => default.to_owned(),
        [flag, addr] if flag == "--addr" => text(addr, "the address")?.to_owned(),
        _ => return Err(Usage(format!("{name} takes only --addr IP:PORT"))),
    };
    if let Err(e) = addr.parse::<std::net::SocketAddr>() {
        return Err(Usage(format!(
            "bad address {addr:?}: {e} (expected IP:PORT, e.g. {default})"
        )));
    }
    // Block Ctrl-C before any thread starts, and receive it as a future.
    #[cfg(target_os = "linux")]
    let signals = match Signals::new(&[libc::SIGINT, libc::SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("host: cannot handle Ctrl-C: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    Ok(with_runtime(|rt| {
        rt.block_on(async {
            let listener = apps::listen(&addr)?;
            say!(
                "{name}: listening on {} (Ctrl-C stops)",
                listener.local_addr()?
            );
            #[cfg(target_os = "linux")]
            let stop = std::pin::pin!(signals.recv());
            // Without signals as futures (Linux's signalfd), Ctrl-C ends
            // the process by its default action.
            #[cfg(not(target_os = "linux"))]
            let stop = std::pin::pin!(std::future::pending::<std::io::Result<i32>>());
            match select(server(listener), stop).await {
                Either::Left((result, _)) => result,
                Either::Right((signal, _)) => {
                    say!("{name}: stopping on signal {}", signal?);
                    Ok(())
                }
            }
        })
    }))
}

fn check_and_tour() -> ExitCode {
    println!("kasync {}\n", env!("CARGO_PKG_VERSION"));
    let machine = Machine::detect();
    println!("== machine\n{machine}\n");
    println!("== tour: the core");
    match tour::run() {
        Ok(report) => println!("{report}\n"),
        Err(e) => {
            eprintln!("host: {e}");
            return ExitCode::FAILURE;
        }
    }
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backend = io_tour::backend_name(rt.backend());
    println!("== tour: I/O on {backend}");
    match io_tour::run(&rt) {
        Ok(report) => println!("{report}\n"),
        Err(e) => {
            eprintln!("host: the I/O tour on {backend} failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("tour passed");
    ExitCode::SUCCESS
}
