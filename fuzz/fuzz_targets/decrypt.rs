//! Any bytes as `request.code`'s ciphertext through the real Encryption SDK path with the development keyring:
//! refused cleanly, never a panic, and never "decrypted" unless it is a genuine message for the pool.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use cognito_sms_sender::decrypt::Decrypter;
use cognito_sms_sender::decrypt::esdk::{self, EsdkDecrypter};
use libfuzzer_sys::fuzz_target;

const POOL: &str = "us-east-1_EXAMPLE";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn decrypter() -> &'static EsdkDecrypter {
    static D: OnceLock<EsdkDecrypter> = OnceLock::new();
    D.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/DEV-ONLY-public-test-key.hex")).unwrap();
        let key = esdk::read_dev_key(&text).unwrap();
        let keyring = runtime().block_on(esdk::dev_keyring(&key)).unwrap();
        EsdkDecrypter::new(keyring).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let d = decrypter();
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    if let Ok(code) = runtime().block_on(d.decrypt(&b64, POOL)) {
        // Only an intact message made with the development key for this pool can get here.
        assert!(!code.is_empty() || data.len() > 100);
    }
    // The same bytes as base64 text (the field is a string): invalid base64 must be refused, not panic.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = runtime().block_on(d.decrypt(text, POOL));
    }
});
