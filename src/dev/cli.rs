//! The binary's local commands: `invoke` runs the real handler on an event file with the development key and
//! the outbox; `make-event` writes a Cognito-shaped event. Without a command the binary is the Lambda bootstrap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde_json::json;

use super::encrypt::{encrypt_code, Suite};
use super::input::{self, CliError};
use super::sample::sample_event;
use crate::aws;
use crate::config::{parse_kms_key_arn, Config, Env};
use crate::decrypt::esdk;
use crate::destination::region::pool_region;
use crate::sender::{outcome::Outcome, wiring};
use aws_esdk::material_providers::types::keyring::KeyringRef;

/// The public development key shipped in `events/`, used by `invoke` and `make-event` unless told otherwise.
pub const DEV_KEY_FILE: &str = "events/DEV-ONLY-public-test-key.hex";

#[derive(Debug, Parser)]
#[command(
    name = "cognito-sms-sender",
    version,
    about = "Cognito custom SMS sender (Lambda bootstrap; local commands below)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the handler on an event file, decrypting with the development key and writing the SMS to stdout
    /// instead of sending it. Other settings (SMS_TEMPLATE…, SNS_REGION, SMS_TYPE…) come from the environment.
    Invoke {
        /// A Cognito event, e.g. events/sign-up.json, or - to read it from stdin.
        event: PathBuf,
        /// The development key file (the public test key in events/ by default).
        #[arg(long, default_value = DEV_KEY_FILE)]
        dev_key_file: String,
    },
    /// Write a Cognito-shaped event (message format 1, suite 0x0378, userpool-id context) to stdout.
    MakeEvent {
        /// Trigger source: SignUp, ResendCode, ForgotPassword, UpdateUserAttribute, VerifyUserAttribute,
        /// Authentication, AdminCreateUser, AccountTakeOverNotification (or the full CustomSMSSender_… name).
        #[arg(long, default_value = "SignUp")]
        trigger: String,
        /// Destination phone number, E.164.
        #[arg(long, default_value = "+12065550100")]
        phone: String,
        /// The code (or temporary password) to encrypt.
        #[arg(long, default_value = "123456")]
        code: String,
        #[arg(long, default_value = "us-east-1_EXAMPLE")]
        user_pool_id: String,
        /// The user's userName (a UUID, as for pools that sign in with phone or email, by default).
        #[arg(long, default_value = "3f1e6a4c-8b1d-4a5e-9f3a-2c7d9e0b1a2f")]
        user_name: String,
        /// Encrypt with this KMS key (needs AWS credentials and kms:Encrypt) instead of the development key,
        /// to test a deployed function.
        #[arg(long)]
        kms_key_arn: Option<String>,
        #[arg(long, default_value = DEV_KEY_FILE)]
        dev_key_file: String,
    },
}

/// Runs a command and logs how it ended; the exit code is 0 when the SMS was (or would be) sent, 1 when it was
/// refused, 2 when it failed in a way Lambda would retry, 3 when the command could not run.
pub async fn main(cli: Cli) -> u8 {
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(outcome = e.outcome.as_str(), reason = %e, "the command could not run");
            3
        }
    }
}

/// Runs a command; the exit code as [`main`] gives it.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Invoke { event, dev_key_file } => invoke(&event, &dev_key_file).await,
        Command::MakeEvent { trigger, phone, code, user_pool_id, user_name, kms_key_arn, dev_key_file } => {
            let source = input::trigger_source(&trigger)?;
            input::check_event_flags(&phone, &code, &user_pool_id)?;
            let keyring = keyring(kms_key_arn.as_deref(), &dev_key_file).await?;
            let encrypted = match source.carries_code() {
                true => Some(
                    encrypt_code(&keyring, &user_pool_id, code.as_bytes(), Suite::Cognito)
                        .await
                        .map_err(|e| CliError::config(format!("the code could not be encrypted: {e}")))?,
                ),
                false => None,
            };
            let region = pool_region(&user_pool_id).unwrap_or("us-east-1");
            let event = sample_event(&source, region, &user_pool_id, &user_name, &phone, encrypted);
            println!("{}", serde_json::to_string_pretty(&event).unwrap_or_default());
            Ok(0)
        }
    }
}

/// The keyring `make-event` encrypts with: the KMS key of `--kms-key-arn`, or the development key.
async fn keyring(kms_key_arn: Option<&str>, dev_key_file: &str) -> Result<KeyringRef, CliError> {
    let built = match kms_key_arn {
        Some(arn) => {
            let arn = parse_kms_key_arn(arn).map_err(|e| CliError::flag("--kms-key-arn", e.reason))?;
            esdk::kms_keyring(&arn, aws_sdk_kms::Client::new(&aws::aws_config_in(Some("us-east-1")).await)).await
        }
        None => {
            let path = input::dev_key_path(dev_key_file)?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CliError::config(format!("development key file {path} cannot be read ({e})")))?;
            let key =
                esdk::read_dev_key(&text).map_err(|e| CliError::config(format!("development key file {path}: {e}")))?;
            esdk::dev_keyring(&key).await
        }
    };
    built.map_err(|e| CliError { outcome: Outcome::InitError, reason: e.to_string() })
}

async fn invoke(event: &Path, dev_key_file: &str) -> Result<u8, CliError> {
    let payload = input::read_event(event)?;
    let dev_key_file = input::dev_key_path(dev_key_file)?;
    // Local runs always decrypt with the development key and write to stdout instead of SNS.
    let overrides = HashMap::from([("LOCAL_OUTBOX", "-".to_owned()), ("LOCAL_DEV_KEY_FILE", dev_key_file)]);
    let env = Env::from_lookup(|k| match overrides.get(k) {
        Some(v) => Some(v.clone()),
        None if k == "KMS_KEY_ARN" => None,
        None => std::env::var(k).ok(),
    })
    .with_process_names();
    let config = Config::read(&env)?;
    let sdk = aws::aws_config_in(Some("us-east-1")).await;
    let app = wiring::build(&config, &sdk).await?;
    let started = std::time::Instant::now();
    let result = app.handle(&payload).await;
    let elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    // The summary is JSON like every other line on stderr, so `jq` reads the whole run.
    let (mut summary, code) = match result {
        Ok(v) => {
            let code = if v["outcome"] == Outcome::Sent.as_str() { 0 } else { 1 };
            (v, code)
        }
        Err(e) => (json!({ "outcome": e.outcome().as_str(), "retry": true, "reason": e.to_string() }), 2),
    };
    summary["elapsed_ms"] = json!(elapsed_ms);
    eprintln!("{summary}");
    Ok(code)
}
