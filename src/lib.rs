//! Amazon Cognito custom SMS sender: decrypts the one-time code with the AWS Encryption SDK, fills the
//! message template, picks the SNS Region and publishes the SMS, logging one line per outcome. A second
//! binary, the delivery-status watcher, reports what happened to each SMS after SNS accepted it.
//!
//! # Layout
//!
//! Each folder has one role; a port (a trait AWS sits behind) has its own folder, with the trait in `mod.rs`
//! and its adapters beside it.
//!
//! - [`message`]: what is sent. The Cognito event, templates, the catalogue per trigger source and locale,
//!   SMS parts. Plain code; imports only [`toml_file`].
//! - [`destination`]: where and how it is sent. Phone numbers and their country, the SNS Region, the SMS
//!   attributes and their checks, routing per country. Plain code; imports only [`message`]'s trigger source
//!   and [`toml_file`].
//! - [`config`]: every setting, read once at init; `config/env.rs` is the one environment lookup (empty =
//!   unset, on/off, bounded seconds). Imports [`message`] and [`destination`] to check what it reads.
//! - [`decrypt`], [`publish`], [`probe`], [`ledger`]: the ports. Decrypting the code (Encryption SDK),
//!   sending the SMS (SNS, End User Messaging, the local outbox, or the test numbers' SQS queue), asking about
//!   the account (sandbox, spend; per transport), remembering what was sent and what was converted (DynamoDB).
//!   Each imports [`aws`] and the plain modules, never [`sender`].
//! - [`gate`]: the abuse gate against SMS pumping. The policy (countries, kinds of number, velocity limits,
//!   budget, the low-conversion quarantine; enforce or monitor) and its live source (AppConfig), the stateless
//!   screen, and the counters and conversions ports with their DynamoDB adapter. Imports [`destination`],
//!   [`toml_file`] and [`telemetry`], never [`sender`].
//! - [`aws`]: what every AWS adapter shares: the SDK configuration and its HTTPS client, the one classifier
//!   of SDK errors, the warm-up [`aws::Check`].
//! - [`sender`]: the custom SMS sender. The pipeline, its outcomes and log line, retries within the
//!   deadline, the warm-up, and the wiring of adapters from the configuration. Imports everything above.
//! - [`telemetry`]: JSON logging and CloudWatch metrics (EMF). Imports [`config`]'s lookup and the
//!   vocabularies its dimensions are checked against.
//! - [`conversion`]: conversion feedback. The post confirmation and post authentication events, and the
//!   handler that marks the user's outstanding message converted, gives End User Messaging its feedback and
//!   counts it for the gate. Imports [`ledger`], [`gate`]'s port, [`publish`]'s feedback and [`telemetry`],
//!   never [`sender`].
//! - [`bootstrap`]: the Lambda event loop: the function built for its `FUNCTION_ROLE`, each event handed to
//!   the sender or the conversion handler by its `triggerSource`; the runtime it runs on (one worker).
//! - [`watcher`]: the delivery-status watcher. The record model, failure classes and the handler. Imports
//!   only [`destination`] and [`telemetry`].
//! - [`dev`]: local development. The `invoke` and `make-event` commands, sample events, and encrypting codes
//!   as Cognito does (for the commands and the tests).
//! - [`toml_file`]: reading the TOML settings files, and their one error shape (file, key, reason).
//!
//! The binaries (`main.rs`, through [`bootstrap`], and `bin/delivery-status-watcher.rs`) only wire: the
//! allocator and runtime, logging, configuration, clients built once, and `lambda_runtime::run`.
//! `vendor/regex-cache` is a dependency patched for the cold start (its `PATCH.md` says what and why).

pub mod aws;
pub mod bootstrap;
pub mod config;
pub mod conversion;
pub mod decrypt;
pub mod destination;
pub mod dev;
pub mod gate;
pub mod ledger;
pub mod message;
pub mod probe;
pub mod publish;
pub mod sender;
pub mod telemetry;
pub mod toml_file;
pub mod watcher;
