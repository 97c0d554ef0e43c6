//! The built binary as a new user runs it: outside Lambda, `invoke` on good and bad event files, `make-event`
//! with bad flags. Every stderr line is JSON, errors are said once in plain words, nothing panics.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cognito-sms-sender");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs the binary in `dir` with `args`, `stdin` and no Lambda or AWS settings besides `env`.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary runs");
    child.stdin.take().expect("piped").write_all(stdin).expect("stdin");
    child.wait_with_output().expect("the binary ends")
}

fn run(args: &[&str]) -> Output {
    run_in(Path::new(ROOT), args, &[], b"")
}

/// Every stderr line, each of which must be a JSON object; fails on panics and Debug output.
fn stderr_lines(out: &Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked") && !text.contains("RUST_BACKTRACE"), "{text}");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}")))
        .collect()
}

/// The one error line of a command that could not run: (outcome, reason).
fn refusal(out: &Output) -> (String, String) {
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let lines = stderr_lines(out);
    assert_eq!(lines.len(), 1, "said once: {lines:?}");
    (lines[0]["outcome"].as_str().unwrap().to_owned(), lines[0]["reason"].as_str().unwrap().to_owned())
}

#[test]
fn outside_lambda_with_no_command_it_says_so_and_prints_the_help() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["message"], "not running inside Lambda");
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("AWS_LAMBDA_RUNTIME_API is not set"), "{reason}");
    assert!(reason.contains("invoke events/sign-up.json") && reason.contains("cargo lambda watch"), "{reason}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: cognito-sms-sender <COMMAND>"));
}

/// The variables Lambda sets, as the Runtime API emulator in tests/py sets them.
const LAMBDA: [(&str, &str); 4] = [
    ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
    ("AWS_LAMBDA_FUNCTION_NAME", "sms"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
];

#[test]
fn a_partial_lambda_environment_names_what_is_missing_without_a_panic() {
    for (missing, _) in LAMBDA.iter().skip(1) {
        let env: Vec<(&str, &str)> = LAMBDA.iter().copied().filter(|(k, _)| k != missing).collect();
        let out = run_in(Path::new(ROOT), &[], &env, b"");
        assert_eq!(out.status.code(), Some(2), "{missing}");
        let lines = stderr_lines(&out);
        assert!(lines[0]["reason"].as_str().unwrap().starts_with(missing), "{lines:?}");
    }
    let mut env = LAMBDA.to_vec();
    env[2].1 = "lots";
    let lines = stderr_lines(&run_in(Path::new(ROOT), &[], &env, b""));
    assert!(lines[0]["reason"].as_str().unwrap().starts_with("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "{lines:?}");
}

#[test]
fn an_init_error_is_one_line_in_plain_words() {
    // A Runtime API that is never reached: the configuration fails first.
    let out = run_in(Path::new(ROOT), &[], &LAMBDA, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(
        (lines[0]["outcome"].as_str(), lines[0]["message"].as_str()),
        (Some("config_error"), Some("cannot start"))
    );
    assert!(lines[0]["reason"].as_str().unwrap().starts_with("KMS_KEY_ARN: is required"), "{stdout}");
}

#[test]
fn a_local_run_says_it_would_send_and_every_stderr_line_is_json() {
    let out = run(&["invoke", "events/sign-up.json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = stderr_lines(&out);
    let outcome = lines.iter().find(|l| l.get("outcome").is_some() && l.get("level").is_some()).expect("outcome line");
    assert_eq!(outcome["message"], "SMS would be sent: written to LOCAL_OUTBOX, not sent");
    let summary = lines.last().unwrap();
    assert_eq!(summary["outcome"], "sent");
    assert!(summary["elapsed_ms"].is_number(), "{summary}");
    // The sample's US number falls to the default route: no warning a new user can do nothing about.
    assert!(!lines.iter().any(|l| l["check"] == "routing"), "{lines:?}");
    let sent: Value = serde_json::from_slice(&out.stdout).expect("the outbox line");
    assert_eq!(sent["message_id"], "local-outbox-1");
}

#[test]
fn invoke_reads_the_event_from_stdin() {
    let event = std::fs::read(format!("{ROOT}/events/forgot-password.json")).unwrap();
    let out = run_in(Path::new(ROOT), &["invoke", "-"], &[], &event);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stderr_lines(&out).last().unwrap()["outcome"], "sent");
}

#[test]
fn event_file_mistakes_name_the_file_and_what_to_do() {
    let dir = std::env::temp_dir().join(format!("cli-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let cases = [
        (format!("{}/missing.json", dir.display()), "does not exist; pass an event file such as events/sign-up.json"),
        (file("empty.json", b""), "is empty; an event is a JSON object"),
        (file("bad.json", b"{\n \"request\": {\n}}}"), "is not valid JSON at line 3, column 3: trailing characters"),
        (file("binary.json", b"\x00\xff\xfe"), "is not text (a binary file?)"),
        (file("array.json", b"[{}]"), "an event must be a JSON object, not an array"),
        (dir.display().to_string(), "is a directory; pass one event file in it"),
    ];
    for (path, says) in cases {
        let (outcome, reason) = refusal(&run(&["invoke", &path]));
        assert_eq!(outcome, "malformed_event");
        assert!(reason.starts_with(&path) && reason.contains(says), "{path}: {reason}");
    }
    let (_, reason) = refusal(&run_in(Path::new(ROOT), &["invoke", "-"], &[], b"[]"));
    assert!(reason.starts_with("stdin: an event must be a JSON object"), "{reason}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_development_key_is_found_from_any_directory_or_named_in_the_error() {
    let elsewhere = std::env::temp_dir();
    let event = format!("{ROOT}/events/sign-up.json");
    let out = run_in(&elsewhere, &["invoke", &event], &[], b"");
    assert_eq!(out.status.code(), Some(0), "the default key path resolves from the repository: {out:?}");
    let out = run_in(&elsewhere, &["invoke", &event, "--dev-key-file", "no/such.hex"], &[], b"");
    let (outcome, reason) = refusal(&out);
    assert_eq!(outcome, "config_error");
    assert!(reason.contains("no/such.hex is not found from") && reason.contains("--dev-key-file"), "{reason}");
}

#[test]
fn config_errors_are_display_not_debug() {
    let out = run_in(Path::new(ROOT), &["invoke", "events/sign-up.json"], &[("SMS_TYPE", "promo")], b"");
    let (outcome, reason) = refusal(&out);
    assert_eq!(outcome, "config_error");
    assert!(reason.starts_with("SMS_TYPE: ") && !reason.contains("ConfigError"), "{reason}");
    let out = run_in(Path::new(ROOT), &["invoke", "events/sign-up.json"], &[("SMS_TEMPLATE_SIGNUP", "Hi {####}")], b"");
    let (_, reason) = refusal(&out);
    assert_eq!(
        reason,
        "SMS_TEMPLATE_SIGNUP: names no trigger source, so nothing would read it; did you mean SMS_TEMPLATE_SIGN_UP?"
    );
}

#[test]
fn make_event_checks_its_flags_as_invoke_would() {
    for (flag, value, says) in [
        ("--trigger", "Welcome", "--trigger: Welcome is not a trigger source; the sources are SignUp"),
        ("--phone", "206-555-0100", "--phone: phone_number (12 characters) is not E.164"),
        ("--code", "", "--code: must be the code"),
        ("--user-pool-id", "my-pool", "--user-pool-id: is not a user pool id"),
        ("--kms-key-arn", "alias/sms", "--kms-key-arn: must be a full KMS key ARN"),
    ] {
        let (outcome, reason) = refusal(&run(&["make-event", flag, value]));
        assert_eq!(outcome, "config_error");
        assert!(reason.starts_with(says), "{flag} {value}: {reason}");
        assert!(!reason.contains("KMS_KEY_ARN"), "{reason}");
    }
    let out = run(&["make-event", "--trigger", "CustomSMSSender_ForgotPassword", "--phone", "+447700900123"]);
    let event: Value = serde_json::from_slice(&out.stdout).expect("an event");
    assert_eq!(event["triggerSource"], "CustomSMSSender_ForgotPassword");
}

#[test]
fn the_bootstrap_allocates_with_mimalloc() {
    // mimalloc says so on stderr when asked to be verbose; glibc's malloc would print nothing.
    let out = run_in(Path::new(ROOT), &["--help"], &[("MIMALLOC_VERBOSE", "1")], b"");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mimalloc: process init"), "the global allocator is not mimalloc: {stderr}");
}
