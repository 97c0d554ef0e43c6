//! What the local commands are given: an event file (or stdin), the development key's path, and the flags of
//! `make-event`. Every refusal is a [`CliError`] that names the file or the flag and says what to do.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::ConfigError;
use crate::destination::phone::PhoneNumber;
use crate::destination::region::is_user_pool_id;
use crate::message::event::TriggerSource;
use crate::sender::outcome::Outcome;
use crate::sender::wiring::InitError;

/// Why a local command could not run: the reason in plain words, and the outcome its one log line carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct CliError {
    pub outcome: Outcome,
    pub reason: String,
}

impl CliError {
    /// A mistake in a setting, a flag or the development key: `config_error`.
    pub fn config(reason: impl Into<String>) -> Self {
        CliError { outcome: Outcome::ConfigError, reason: reason.into() }
    }

    /// An event file that cannot be used: `malformed_event`.
    pub fn event(reason: impl Into<String>) -> Self {
        CliError { outcome: Outcome::MalformedEvent, reason: reason.into() }
    }

    /// A mistake in a `make-event` flag, named as the user typed it.
    pub fn flag(flag: &str, reason: impl std::fmt::Display) -> Self {
        CliError::config(format!("{flag}: {reason}"))
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::config(e.to_string())
    }
}

impl From<InitError> for CliError {
    fn from(e: InitError) -> Self {
        let outcome = if matches!(e, InitError::Config(_)) { Outcome::ConfigError } else { Outcome::InitError };
        CliError { outcome, reason: e.to_string() }
    }
}

/// The event in `path` (`-` reads stdin), which must be a JSON object.
pub fn read_event(path: &Path) -> Result<Value, CliError> {
    let stdin = path == Path::new("-");
    let name = if stdin { "stdin".to_owned() } else { path.display().to_string() };
    let bytes = if stdin {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
    } else if path.is_dir() {
        return Err(CliError::event(format!(
            "{name} is a directory; pass one event file in it, such as {}",
            path.join("sign-up.json").display()
        )));
    } else {
        std::fs::read(path)
    };
    let bytes = bytes.map_err(|e| CliError::event(unreadable(&name, &e)))?;
    parse_event(&name, &bytes)
}

fn unreadable(name: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{name} does not exist; pass an event file such as events/sign-up.json, write one with `make-event > {name}`, or pass - to read stdin"
        ),
        _ => format!("{name} cannot be read ({e})"),
    }
}

/// The event in `bytes`, read from `name`: refused when empty, binary, not JSON (with line and column) or not
/// an object. serde_json's messages name what was expected, never the text found, so no secret is echoed.
fn parse_event(name: &str, bytes: &[u8]) -> Result<Value, CliError> {
    let fix = "start from events/sign-up.json or write one with make-event";
    let text = std::str::from_utf8(bytes).map_err(|_| {
        CliError::event(format!("{name} is not text (a binary file?); an event is a JSON object: {fix}"))
    })?;
    if text.trim().is_empty() {
        return Err(CliError::event(format!("{name} is empty; an event is a JSON object: {fix}")));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or_default();
        CliError::event(format!("{name} is not valid JSON at line {}, column {}: {what}; {fix}", e.line(), e.column()))
    })?;
    if !value.is_object() {
        let found = match value {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(CliError::event(format!("{name}: an event must be a JSON object, not {found}; {fix}")));
    }
    Ok(value)
}

/// The development key file: `path` as given when it exists, else the same path in this repository (so the
/// default works from any directory of a checkout), else an error saying where to run from.
pub fn dev_key_path(path: &str) -> Result<String, CliError> {
    let given = Path::new(path);
    if given.is_file() {
        return Ok(path.to_owned());
    }
    let in_repo: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if given.is_relative() && in_repo.is_file() {
        return Ok(in_repo.display().to_string());
    }
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "here".into());
    Err(CliError::config(format!(
        "development key file {path} is not found from {cwd}; run from the repository root or pass --dev-key-file <path>"
    )))
}

/// The `--trigger` source: a known suffix (`SignUp`) or full name (`CustomSMSSender_SignUp`).
pub fn trigger_source(name: &str) -> Result<TriggerSource, CliError> {
    let suffix = name.strip_prefix("CustomSMSSender_").unwrap_or(name);
    TriggerSource::from_suffix(suffix).map_err(|reason| CliError::flag("--trigger", format!("{name} {reason}")))
}

/// Checks `make-event`'s `--phone`, `--code` and `--user-pool-id` as the function checks an event's.
pub fn check_event_flags(phone: &str, code: &str, user_pool_id: &str) -> Result<(), CliError> {
    PhoneNumber::parse(Some(phone)).map_err(|e| CliError::flag("--phone", e))?;
    if code.is_empty() || code.chars().any(char::is_control) {
        return Err(CliError::flag("--code", "must be the code (or temporary password) as text, not empty"));
    }
    if !is_user_pool_id(user_pool_id) {
        return Err(CliError::flag("--user-pool-id", "is not a user pool id (like us-east-1_AbCdEf123)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_must_be_json_objects() {
        assert!(parse_event("e.json", br#"{"request":{}}"#).is_ok());
        let reason = |bytes: &[u8]| parse_event("e.json", bytes).unwrap_err().reason;
        assert!(reason(b"[1]").contains("an event must be a JSON object, not an array"));
        assert!(reason(b" \n").starts_with("e.json is empty"));
        assert!(reason(b"\xff\xfe\x00").starts_with("e.json is not text"));
        let bad = reason(b"{\n  \"request\": 1,\n}");
        assert!(bad.starts_with("e.json is not valid JSON at line 3, column 1: trailing comma"), "{bad}");
        assert_eq!(parse_event("e.json", b"[]").unwrap_err().outcome, Outcome::MalformedEvent);
    }

    #[test]
    fn flags_are_checked_as_the_function_checks_events() {
        assert_eq!(trigger_source("ForgotPassword"), Ok(TriggerSource::ForgotPassword));
        assert_eq!(trigger_source("CustomSMSSender_SignUp"), Ok(TriggerSource::SignUp));
        assert!(trigger_source("signup").unwrap_err().reason.starts_with("--trigger: signup is not"));
        assert!(check_event_flags("+12065550100", "123456", "us-east-1_EXAMPLE").is_ok());
        let flag = |p, c, u| check_event_flags(p, c, u).unwrap_err().reason;
        assert!(flag("2065550100", "1", "us-east-1_X").starts_with("--phone: "));
        assert!(flag("+12065550100", "", "us-east-1_X").starts_with("--code: "));
        assert!(flag("+12065550100", "1\n", "us-east-1_X").starts_with("--code: "));
        assert!(flag("+12065550100", "1", "pool").starts_with("--user-pool-id: "));
    }
}
