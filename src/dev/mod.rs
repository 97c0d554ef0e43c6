//! Local development: the binary's commands ([`cli`]: `invoke`, `make-event`), Cognito-shaped sample events
//! ([`sample`]), encrypting codes as Cognito does ([`encrypt`]), used by the commands and the tests, and
//! checking what the commands are given ([`input`]).

pub mod cli;
pub mod encrypt;
pub mod input;
pub mod sample;
