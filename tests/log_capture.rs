//! The log capture itself (tests/common): lines logged on any thread are captured and scanned, and a line that
//! cannot be kept fails the test. Each case runs a child test process with its logs in a directory of its
//! own, so the deliberate leak never reaches the suite's scan.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const LEAK_ENV: &str = "LOG_CAPTURE_CHILD";
const SECRET: &str = "+12065550163";

/// Runs the ignored test `name` of this binary as a child, its logs in `dir`; returns whether it passed and
/// what it printed.
fn child(name: &str, dir: &Path) -> (bool, String) {
    let Output { status, stdout, stderr } = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture", "--test-threads=1"])
        .env(LEAK_ENV, "1")
        .env("TEST_LOG_DIR", dir)
        .output()
        .unwrap();
    (status.success(), String::from_utf8_lossy(&[stdout, stderr].concat()).into_owned())
}

fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("log-capture-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Only as a child: logs a phone number (without its `+`) from a thread other than the test's own.
#[test]
#[ignore = "run by a_secret_logged_on_another_thread_is_caught"]
fn child_leaks_from_another_thread() {
    if std::env::var_os(LEAK_ENV).is_none() {
        return;
    }
    let (logs, _guard) = common::Logs::capture();
    std::thread::spawn(|| tracing::info!(number = &SECRET[1..], "a worker logs")).join().unwrap();
    logs.assert_clean(&[SECRET]);
}

/// Only as a child: logs a line somewhere it cannot be written.
#[test]
#[ignore = "run by a_line_that_cannot_be_written_fails_the_test"]
fn child_logs_into_an_unwritable_directory() {
    if std::env::var_os(LEAK_ENV).is_some() {
        tracing::info!("any line");
    }
}

#[test]
fn a_secret_logged_on_another_thread_is_caught() {
    let dir = scratch();
    let (passed, printed) = child("child_leaks_from_another_thread", &dir);
    assert!(!passed, "the capture must fail: {printed}");
    assert!(printed.contains("a secret appears in the captured logs"), "{printed}");
    assert!(printed.contains("by its digits") && !printed.contains(&SECRET[1..]), "{printed}");
    // The suite-wide scan finds it in the process's file as well.
    let scan = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scan_logs.py"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!scan.status.success(), "{}", String::from_utf8_lossy(&scan.stderr));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_line_that_cannot_be_written_fails_the_test() {
    let file = scratch().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (passed, printed) = child("child_logs_into_an_unwritable_directory", &file.join("logs"));
    assert!(!passed && printed.contains("cannot create"), "{printed}");
}
