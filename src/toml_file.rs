//! The project's TOML settings files (the message catalogue, the routing table): reading and parsing them, and
//! their one error shape, which names the file, the key and the reason.

/// What is wrong with a settings file or a setting: where, which key and why. Only operator text is quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {key}: {reason}")]
pub struct FileError {
    /// The file as the operator named it, a built-in file's name, or `environment`.
    pub origin: String,
    /// The dotted key (`messages.pt-BR.SignUp`, `countries.US.sender_id`), the variable, or `line 3, column 7`.
    pub key: String,
    pub reason: String,
}

/// How errors name settings that come from environment variables.
pub const ENV_ORIGIN: &str = "environment";

impl FileError {
    /// An error at `key` of `origin`.
    pub fn new(origin: &str, key: &str, reason: impl Into<String>) -> Self {
        FileError { origin: origin.to_owned(), key: key.to_owned(), reason: reason.into() }
    }
}

/// Reads the file the variable `variable` names.
pub fn read(path: &str, variable: &str) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| FileError::new(path, variable, format!("cannot be read: {e}")))
}

/// Parses `text` as a TOML table; a syntax error is reported at its line and column.
pub fn parse(text: &str, origin: &str) -> Result<toml::Table, FileError> {
    toml::from_str(text).map_err(|e| {
        let key = e.span().map(|s| line_col(text, s.start)).unwrap_or_else(|| "(whole file)".into());
        FileError::new(origin, &key, format!("is not valid TOML: {}", e.message()))
    })
}

/// Refuses any top-level key not in `allowed`; `hint` says what the keys are.
pub fn only_keys(doc: &toml::Table, allowed: &[&str], origin: &str, hint: &str) -> Result<(), FileError> {
    match doc.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(FileError::new(origin, key, hint)),
        None => Ok(()),
    }
}

/// "line L, column C" of a byte offset.
fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = parse("a = 1\n[b\n", "f.toml").unwrap_err();
        assert_eq!(e.origin, "f.toml");
        assert!(e.key.starts_with("line 2, column "), "{e}");
        assert!(e.reason.starts_with("is not valid TOML"), "{e}");
        let e = read("/nonexistent/x.toml", "SMS_ROUTES_FILE").unwrap_err();
        assert_eq!(e.to_string().split(": ").take(2).collect::<Vec<_>>(), ["/nonexistent/x.toml", "SMS_ROUTES_FILE"]);
    }
}
