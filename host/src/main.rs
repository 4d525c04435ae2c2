//! `host`: kasync's command-line front door.
//!
//! With no arguments it checks the machine and runs a short tour of the
//! runtime, printing what it saw.

use std::process::ExitCode;

use kasync_host::{machine::Machine, tour};

const USAGE: &str = "\
kasync host — check this machine and tour the kasync runtime

usage: host [--help]

With no arguments: print what kasync needs to know about this machine,
then run a short tour of the runtime (static task slots, back-pressure,
cross-thread wake-ups, an interrupt-style queue) and print a summary.
Exits non-zero if any step of the tour fails.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => run(),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("host: unexpected arguments: {}\n\n{USAGE}", args.join(" "));
            ExitCode::from(2)
        }
    }
}

fn run() -> ExitCode {
    println!("kasync {}\n", env!("CARGO_PKG_VERSION"));
    println!("== machine\n{}\n", Machine::detect());
    println!("== tour");
    match tour::run() {
        Ok(report) => {
            println!("{report}\n\ntour passed");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("host: {err}");
            ExitCode::FAILURE
        }
    }
}
