//! Amazon Cognito custom SMS sender: decrypts the one-time code with the AWS Encryption SDK, fills the
//! message template, picks the SNS Region and publishes the SMS, logging one line per outcome.
//!
//! The domain (event, template, region, phone, handler) is plain code; AWS sits behind the small ports
//! [`crypto::Decrypter`], [`sns::Publisher`] and [`probe::Probe`]. [`app`] wires the real adapters.

pub mod app;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod encoding;
pub mod event;
pub mod handler;
pub mod idempotency;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod phone;
pub mod probe;
pub mod region;
pub mod retry;
pub mod routing;
pub mod sns;
pub mod template;
pub mod warmup;
pub mod watcher;
