//! The Lambda bootstrap. With a command (`invoke`, `make-event`) it runs that locally instead; outside Lambda
//! with no command it says so and prints the help.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use cognito_sms_sender::aws;
use cognito_sms_sender::config::{Config, Env};
use cognito_sms_sender::dev::cli;
use cognito_sms_sender::sender::outcome::Outcome;
use cognito_sms_sender::sender::retry::Deadline;
use cognito_sms_sender::sender::{warmup, wiring};
use cognito_sms_sender::telemetry::{logging, metrics};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

/// What Lambda (and `cargo lambda watch`) sets and `lambda_runtime` needs: it panics without them.
const LAMBDA_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

// Multi-thread because the Encryption SDK makes each KMS call with `block_in_place`, which a current-thread
// runtime turns into a stall of seconds per decrypt (bench/README.md).
#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        logging::init(std::io::stderr);
        return ExitCode::from(cli::main(cli::Cli::parse()).await);
    }
    if let Some(missing) = missing_lambda_variable() {
        logging::init(std::io::stderr);
        tracing::error!(
            outcome = Outcome::ConfigError.as_str(),
            reason = format!("{missing} is not set or not valid; to run locally use `invoke events/sign-up.json` (cargo run -- invoke events/sign-up.json) or `cargo lambda watch`"),
            "not running inside Lambda"
        );
        let _ = cli::Cli::command().print_help();
        return ExitCode::from(2);
    }
    logging::init(std::io::stdout);
    // Each failure has logged its one line; the exit code only tells Lambda that init failed.
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}

/// The first Lambda variable that is missing (or, for the memory size, not a number).
fn missing_lambda_variable() -> Option<&'static str> {
    LAMBDA_ENV.into_iter().find(|name| match std::env::var(name) {
        Ok(v) if *name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => v.parse::<i32>().is_err(),
        Ok(_) => false,
        Err(_) => true,
    })
}

/// Reads the configuration, builds the function once and serves events until the Runtime API stops.
async fn serve() -> Result<(), ()> {
    let env = Env::process();
    let metric_settings = metrics::Settings::from_env(&env).map_err(|e| cannot_start(Outcome::ConfigError, &e))?;
    metrics::init(&metric_settings, metrics::SENDER).map_err(|e| cannot_start(Outcome::InitError, &e))?;
    metrics::record_cold_start();
    let config = Config::read(&env).map_err(|e| cannot_start(Outcome::ConfigError, &e))?;
    let sdk = aws::aws_config().await;
    let app = wiring::build(&config, &sdk).await.map_err(|e| cannot_start(Outcome::InitError, &e))?;
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
    .map_err(|e| tracing::error!(reason = %e, "the Lambda Runtime API connection failed"))
}

/// The one line of a function that cannot start.
fn cannot_start(outcome: Outcome, reason: &dyn std::fmt::Display) {
    tracing::error!(outcome = outcome.as_str(), reason = %reason, "cannot start");
}
