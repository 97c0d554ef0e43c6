//! The Lambda bootstrap. With a command (`invoke`, `make-event`) it runs that locally instead.

use clap::Parser;
use cognito_sms_sender::{app, cli, config::Config, logging, metrics, retry::Deadline, warmup};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// Multi-thread on purpose: the Encryption SDK makes each KMS call with `block_in_place`, and on a current-thread
// runtime with a fresh thread and runtime whose request waits on a connection owned by the blocked main runtime.
// Measured (bench, stub): current_thread took 3.3-8.0 s per decrypt, against ~1.5 ms.
#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::args_os().len() > 1 {
        logging::init(std::io::stderr);
        let code = cli::run(cli::Cli::parse()).await?;
        std::process::exit(code);
    }
    logging::init(std::io::stdout);
    let metric_settings = metrics::Settings::from_env()
        .inspect_err(|e| tracing::error!(outcome = "config_error", reason = %e, "cannot start"))?;
    metrics::init(&metric_settings, metrics::SENDER)?;
    metrics::record_cold_start();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(outcome = "config_error", reason = %e, "cannot start"))?;
    let sdk = app::aws_config().await;
    let app = app::build(&config, &sdk)
        .await
        .inspect_err(|e| tracing::error!(outcome = "init_error", reason = %e, "cannot start"))?;
    // Lives as long as the process; 'static so a background warm-up can share it.
    let app: &'static app::App = Box::leak(Box::new(app));
    if config.warm_up {
        if warmup::awaited_at_init(std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").ok().as_deref()) {
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
