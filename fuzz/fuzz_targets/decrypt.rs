//! Any bytes as `request.code`'s ciphertext through the real Encryption SDK path with the development keyring
//! ([`checks::decrypt`]).
#![no_main]

// Each target uses its own part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decrypt(data));
