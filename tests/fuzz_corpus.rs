//! The fuzz corpus (fuzz/corpus/), replayed on the stable toolchain through the checks the fuzz targets run
//! (fuzz/checks.rs), and proof that those checks can fail.

#[path = "../fuzz/checks.rs"]
mod checks;

// For its log capture: every line these tests log is scanned for secrets.
mod common;

use std::path::PathBuf;

use cognito_sms_sender::decrypt::esdk;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus")).join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

/// Runs `check` on every input of `target`'s corpus (at least `at_least` of them), naming the first that fails.
fn replay(target: &str, at_least: usize, check: fn(&[u8])) {
    let inputs = corpus(target);
    assert!(inputs.len() >= at_least, "{} inputs for {target}", inputs.len());
    for (path, data) in &inputs {
        if std::panic::catch_unwind(|| check(data)).is_err() {
            panic!("{} fails the {target} check", path.display());
        }
    }
}

#[test]
fn every_decrypt_input_passes_the_decrypt_check() {
    replay("decrypt", 500, checks::decrypt);
}

#[test]
fn every_event_input_passes_the_event_check() {
    replay("event_parser", 1700, checks::event_parser);
}

/// A message made with the development key, for `pool`, carrying `code`: raw bytes, as the corpus holds them.
fn dev_message(pool: &str, code: &str) -> Vec<u8> {
    use base64::Engine;
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let key = esdk::read_dev_key(include_str!("../events/DEV-ONLY-public-test-key.hex")).unwrap();
    let keyring = runtime.block_on(esdk::dev_keyring(&key)).unwrap();
    let b64 = runtime.block_on(encrypt_code(&keyring, pool, code.as_bytes(), Suite::Cognito)).unwrap();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

#[test]
fn the_decrypt_check_passes_genuine_messages_and_fails_a_code_no_genuine_message_carries() {
    checks::decrypt(&dev_message(checks::POOL, checks::GENUINE_CODES[0]));
    // For another pool: refused, so nothing to object to.
    checks::decrypt(&dev_message("us-east-1_Other", "999999"));
    let forged = dev_message(checks::POOL, "999999");
    assert!(std::panic::catch_unwind(|| checks::decrypt(&forged)).is_err(), "the check must object");
}
