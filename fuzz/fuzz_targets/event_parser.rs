//! Any bytes as a trigger event ([`checks::event_parser`]).
#![no_main]

// Each target uses its own part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::event_parser(data));
