//! Local development: the binary's commands ([`cli`]: `invoke`, `make-event`), Cognito-shaped sample events
//! ([`sample`]) and encrypting codes as Cognito does ([`encrypt`]), used by the commands and the tests.

pub mod cli;
pub mod encrypt;
pub mod sample;
