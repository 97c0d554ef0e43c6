//! The Lambda bootstrap. With a command (`invoke`, `make-event`) it runs that locally instead.

use clap::Parser;
use cognito_sms_sender::aws;
use cognito_sms_sender::config::{Config, Env};
use cognito_sms_sender::dev::cli;
use cognito_sms_sender::sender::outcome::Outcome;
use cognito_sms_sender::sender::retry::Deadline;
use cognito_sms_sender::sender::{warmup, wiring};
use cognito_sms_sender::telemetry::{logging, metrics};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// Multi-thread because the Encryption SDK makes each KMS call with `block_in_place`, which a current-thread
// runtime turns into a stall of seconds per decrypt (bench/README.md).
#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::args_os().len() > 1 {
        logging::init(std::io::stderr);
        let code = cli::run(cli::Cli::parse()).await?;
        std::process::exit(code);
    }
    logging::init(std::io::stdout);
    let env = Env::process();
    let metric_settings = metrics::Settings::from_env(&env).inspect_err(|e| cannot_start(Outcome::ConfigError, e))?;
    metrics::init(&metric_settings, metrics::SENDER)?;
    metrics::record_cold_start();
    let config = Config::read(&env).inspect_err(|e| cannot_start(Outcome::ConfigError, e))?;
    let sdk = aws::aws_config().await;
    let app = wiring::build(&config, &sdk).await.inspect_err(|e| cannot_start(Outcome::InitError, e))?;
    // Lives as long as the process; 'static so a background warm-up can share it.
    let app: &'static wiring::App = Box::leak(Box::new(app));
    if config.warm_up {
        if warmup::awaited_at_init(env.get("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref()) {
            app.warm_up().await.log();
        } else {
            tokio::spawn(async move { app.warm_up().await.log() });
        }
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::from_system_time(event.context.deadline());
        let result = app.handle_until(&event.payload, deadline).await;
        metrics::flush();
        result
    }))
    .await
}

/// The one line of a function that cannot start.
fn cannot_start(outcome: Outcome, reason: &dyn std::fmt::Display) {
    tracing::error!(outcome = outcome.as_str(), reason = %reason, "cannot start");
}
