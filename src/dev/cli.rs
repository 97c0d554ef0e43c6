//! The binary's local commands: `invoke` runs the real handler on an event file with the development key and
//! the outbox; `make-event` writes a Cognito-shaped event. Without a command the binary is the Lambda bootstrap.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::encrypt::{encrypt_code, Suite};
use super::sample::sample_event;
use crate::aws;
use crate::config::{parse_kms_key_arn, Config};
use crate::decrypt::esdk;
use crate::destination::region::pool_region;
use crate::message::event::TriggerSource;
use crate::sender::{outcome::Outcome, wiring};

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
        /// A Cognito event, e.g. events/sign-up.json.
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

type CliResult = Result<i32, Box<dyn std::error::Error + Send + Sync>>;

/// Runs a command; the exit code is 0 when the SMS was (or would be) sent.
pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Invoke { event, dev_key_file } => invoke(&event, dev_key_file).await,
        Command::MakeEvent { trigger, phone, code, user_pool_id, user_name, kms_key_arn, dev_key_file } => {
            let source = TriggerSource::from(trigger.as_str());
            let source = match source {
                TriggerSource::Unknown(s) => TriggerSource::from(format!("CustomSMSSender_{s}").as_str()),
                known => known,
            };
            let keyring = match kms_key_arn {
                Some(arn) => {
                    let arn = parse_kms_key_arn(&arn)?;
                    esdk::kms_keyring(&arn, aws_sdk_kms::Client::new(&aws::aws_config_in(Some("us-east-1")).await))
                        .await?
                }
                None => esdk::dev_keyring(&esdk::read_dev_key(&std::fs::read_to_string(&dev_key_file)?)?).await?,
            };
            let encrypted = if source.carries_code() {
                Some(encrypt_code(&keyring, &user_pool_id, code.as_bytes(), Suite::Cognito).await?)
            } else {
                None
            };
            let region = pool_region(&user_pool_id).unwrap_or("us-east-1");
            println!(
                "{}",
                serde_json::to_string_pretty(&sample_event(
                    &source,
                    region,
                    &user_pool_id,
                    &user_name,
                    &phone,
                    encrypted
                ))?
            );
            Ok(0)
        }
    }
}

async fn invoke(event: &PathBuf, dev_key_file: String) -> CliResult {
    let payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(event)?)?;
    // Local runs always decrypt with the development key and write to stdout instead of SNS.
    let overrides = HashMap::from([("LOCAL_OUTBOX", "-".to_owned()), ("LOCAL_DEV_KEY_FILE", dev_key_file)]);
    let config = Config::from_lookup(|k| match overrides.get(k) {
        Some(v) => Some(v.clone()),
        None if k == "KMS_KEY_ARN" => None,
        None => std::env::var(k).ok(),
    })?;
    let sdk = aws::aws_config_in(Some("us-east-1")).await;
    let app = wiring::build(&config, &sdk).await?;
    let started = std::time::Instant::now();
    let result = app.handle(&payload).await;
    let elapsed = started.elapsed();
    match result {
        Ok(v) => {
            eprintln!("{v} ({:.1} ms)", elapsed.as_secs_f64() * 1000.0);
            Ok(if v["outcome"] == Outcome::Sent.as_str() { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("{{\"outcome\":\"{}\",\"retry\":true}}", e.outcome());
            Ok(2)
        }
    }
}
