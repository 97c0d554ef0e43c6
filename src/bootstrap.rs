//! The Lambda bootstrap's event loop: the function built for its `FUNCTION_ROLE` once, and each event handed to
//! the handler its `triggerSource` names: conversion events (post confirmation, post authentication) to
//! [`crate::conversion`], everything else to [`crate::sender`].

use aws_config::SdkConfig;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::aws;
use crate::config::StateTable;
use crate::config::{self, Config, Env, FunctionRole};
use crate::conversion::event::Trigger;
use crate::conversion::Converter;
use crate::gate::dynamodb::DynamoCounters;
use crate::ledger::dynamodb::DynamoLedger;
use crate::ledger::Ledger;
use crate::publish::eum::EumPublisher;
use crate::publish::sns::publishing_config;
use crate::sender::outcome::Outcome;
use crate::sender::retry::Deadline;
use crate::sender::{warmup, wiring};
use crate::telemetry::metrics;

/// The conversion handler as deployed.
pub type ConversionApp = Converter<Option<DynamoLedger>, EumPublisher, Option<DynamoCounters>>;

/// The ledger and the gate's conversion counters in the state table, as the sender keeps them (the same judging
/// unit, so a conversion lands in the unit its code was counted in).
pub fn state(sdk: &SdkConfig, table: &StateTable) -> (DynamoLedger, DynamoCounters) {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let counters = DynamoCounters::new(client.clone(), &table.name).with_judging_unit(table.quarantine_unit);
    (DynamoLedger::new(client, &table.name, table.ttl), counters)
}

/// Reads the configuration, builds the function once and serves events until the Runtime API stops. Every
/// failure has logged its one line when this returns `Err`.
pub async fn serve() -> Result<(), ()> {
    let env = Env::process();
    let metric_settings = metrics::Settings::from_env(&env).map_err(|e| cannot_start(Outcome::ConfigError, &e))?;
    metrics::init(&metric_settings, metrics::SENDER).map_err(|e| cannot_start(Outcome::InitError, &e))?;
    metrics::record_cold_start();
    let role = FunctionRole::read(&env).map_err(|e| cannot_start(Outcome::ConfigError, &e))?;
    // Settings are checked before the SDK configuration loads: a setting's error is then the only line.
    let (sender, converter) = match role {
        FunctionRole::Sender => {
            let config = Config::read(&env).map_err(|e| cannot_start(Outcome::ConfigError, &e))?;
            let sdk = aws::aws_config().await;
            let app = wiring::build(&config, &sdk).await.map_err(|e| cannot_start(Outcome::InitError, &e))?;
            (Some(start_sender(app, &config, &env).await), converter(&sdk, &config).await)
        }
        FunctionRole::Conversion => {
            let table = config::conversion_table(&env).map_err(|e| cannot_start(Outcome::ConfigError, &e))?;
            let sdk = aws::aws_config().await;
            let (ledger, counters) = state(&sdk, &table);
            let converter = Converter::new(Some(ledger), EumPublisher::new(&sdk, Default::default()), Some(counters));
            // Opens the table's connection before the first sign-in waits on it.
            warmup::within_budget(converter.ledger.warm_up()).await;
            (None, converter)
        }
    };
    let converter: &'static ConversionApp = Box::leak(Box::new(converter));
    let events = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let result = match (Trigger::of(&event.payload), sender) {
            (Some(_), _) => Ok(converter.handle(&event.payload).await),
            (None, Some(app)) => {
                app.handle_until(&event.payload, Deadline::from_system_time(event.context.deadline())).await
            }
            (None, None) => Ok(not_for_this_function(&event.payload)),
        };
        metrics::flush();
        result
    }));
    // A panic in the loop comes back as the join error; it ends the process as a lost connection does.
    on_worker(events)
        .await
        .unwrap_or_else(|stopped| Err(stopped.into()))
        .map_err(|e| tracing::error!(reason = %e, "the Lambda Runtime API connection failed"))
}

/// The runtime the bootstrap runs on. Multi-thread, because the Encryption SDK makes each KMS call with
/// `block_in_place`, which a current-thread runtime turns into a stall of seconds per decrypt
/// (bench/README.md); one worker, because a Lambda instance handles one event at a time and every further
/// worker only adds wake-ups that hand work between threads (bench/README.md has the figures).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()
}

/// Runs `task` on the runtime's worker rather than on the thread that called `block_on`: the HTTP connections
/// it opens are driven by that worker too, so a request and its response are not handed between two threads.
pub async fn on_worker<F>(task: F) -> Result<F::Output, tokio::task::JoinError>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(task).await
}

/// The sender, built once for the process ('static so a background warm-up can share it), warmed up.
async fn start_sender(app: wiring::App, config: &Config, env: &Env<'_>) -> &'static wiring::App {
    let app: &'static wiring::App = Box::leak(Box::new(app));
    if config.warm_up {
        if warmup::awaited_at_init(env.get("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref()) {
            app.warm_up().await.log();
        } else {
            tokio::spawn(async move { app.warm_up().await.log() });
        }
    }
    app
}

/// The conversion handler beside the sender, on the same table; feedback through the role SMS are sent with.
async fn converter(sdk: &SdkConfig, config: &Config) -> ConversionApp {
    let (ledger, counters) = config.state_table.as_ref().map(|table| state(sdk, table)).unzip();
    let publishing = publishing_config(sdk, config.caller_role.as_ref()).await;
    Converter::new(ledger, EumPublisher::new(&publishing, config.text_message), counters)
}

/// A custom SMS sender event sent to a function deployed for conversion events only: answered unchanged.
fn not_for_this_function(payload: &Value) -> Value {
    tracing::error!(
        outcome = Outcome::UnknownTriggerSource.as_str(),
        reason = "this function is deployed with FUNCTION_ROLE=conversion and handles only post confirmation and post authentication events; set the pool's CustomSMSSender to the sender function",
        "event not handled"
    );
    payload.clone()
}

/// The one line of a function that cannot start.
fn cannot_start(outcome: Outcome, reason: &dyn std::fmt::Display) {
    tracing::error!(outcome = outcome.as_str(), reason = %reason, "cannot start");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_has_one_worker_and_the_event_loop_runs_on_it() {
        let runtime = runtime().expect("runtime");
        assert_eq!(runtime.metrics().num_workers(), 1);
        let caller = std::thread::current().id();
        let ran_on = runtime.block_on(on_worker(async { std::thread::current().id() })).expect("joined");
        assert_ne!(ran_on, caller, "the task ran on the thread that called block_on, not on the worker");
    }

    #[test]
    fn a_blocking_call_inside_the_event_loop_does_not_stall_the_worker() {
        // What the Encryption SDK does for each KMS call: block_in_place, then block_on a future that needs the
        // runtime's I/O driver and timers.
        let runtime = runtime().expect("runtime");
        let inner = async { tokio::time::sleep(std::time::Duration::from_millis(5)).await };
        let done = runtime.block_on(on_worker(async move {
            let handle = tokio::runtime::Handle::current();
            tokio::task::block_in_place(move || handle.block_on(inner));
            "done"
        }));
        assert_eq!(done.expect("joined"), "done");
    }
}
