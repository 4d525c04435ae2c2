//! A kernel pretended older (`KASYNC_URING_WITHOUT`,
//! `Builder::io_uring_without`): what the machine report and the errors
//! say must match what the runtime then does, and name the way out.

use std::process::Command;

use kasync_host::{Backend, Builder, Feature, Features};

#[test]
fn the_report_does_not_promise_io_uring_that_will_not_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .env("KASYNC_BACKEND", "uring")
        .env("KASYNC_URING_WITHOUT", "base")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the runtime cannot start: {stdout}{stderr}"
    );
    let backend = stdout
        .lines()
        .find(|l| l.starts_with("backend:"))
        .unwrap_or_default();
    assert!(
        !backend.starts_with("backend:      io_uring"),
        "the report says {backend:?}, and then: {stderr}"
    );
}

#[test]
fn the_error_names_where_base_was_pretended_and_what_to_do() {
    if std::env::var_os("KASYNC_URING_WITHOUT").is_some() {
        eprintln!("KASYNC_URING_WITHOUT is set: skipped");
        return;
    }
    let e = Builder::new()
        .backend(Backend::Uring)
        .io_uring_without(Features::NONE.with(Feature::Base))
        .build()
        .err()
        .expect("base pretended missing: no io_uring runtime")
        .to_string();
    assert!(
        !e.contains("is in KASYNC_URING_WITHOUT"),
        "KASYNC_URING_WITHOUT is not set, yet the error says: {e}"
    );
    assert!(
        e.contains("poll") || e.contains("io_uring_without"),
        "the error says nothing of what to do: {e}"
    );
}

#[test]
fn a_typo_is_not_reported_as_io_uring_unavailable() {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .env("KASYNC_URING_WITHOUT", "multishot-acept")
        .env_remove("KASYNC_BACKEND")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("io_uring:"))
        .unwrap_or_default();
    assert!(!line.contains("UNAVAILABLE"), "{line}");
}

#[test]
fn help_names_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .arg("--help")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("KASYNC_URING_WITHOUT"), "{stdout}");
}
