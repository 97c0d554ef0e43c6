//! The Lambda bootstrap. With a command (`invoke`, `make-event`) it runs that locally instead; outside Lambda
//! with no command it says so and prints the help.

// The whole event path is one nested future (runtime, handler, claim and counts beside the decrypt, the SDK's
// calls): laying it out takes more than the compiler's default query depth of 128.
#![recursion_limit = "256"]

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use cognito_sms_sender::bootstrap;
use cognito_sms_sender::dev::cli;
use cognito_sms_sender::sender::outcome::Outcome;
use cognito_sms_sender::telemetry::logging;

/// What Lambda (and `cargo lambda watch`) sets and `lambda_runtime` needs: it panics without them.
const LAMBDA_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

// mimalloc instead of glibc's malloc: the SDKs and the Encryption SDK allocate a great deal per event, and
// mimalloc does it in fewer instructions (bench/README.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match bootstrap::runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            logging::init(std::io::stderr);
            tracing::error!(outcome = Outcome::InitError.as_str(), reason = %e, "cannot start the async runtime");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
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
    match bootstrap::serve().await {
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
