//! The delivery-status watcher's Lambda bootstrap: CloudWatch Logs invokes it with batches of SNS SMS
//! delivery-status records (see `cognito_sms_sender::watcher`).

use aws_lambda_events::event::cloudwatch_logs::LogsEvent;
use cognito_sms_sender::config::Env;
use cognito_sms_sender::sender::outcome::Outcome;
use cognito_sms_sender::telemetry::{logging, metrics};
use cognito_sms_sender::watcher;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init(std::io::stdout);
    let settings = metrics::Settings::from_env(&Env::process())
        .inspect_err(|e| tracing::error!(outcome = Outcome::ConfigError.as_str(), reason = %e, "cannot start"))?;
    metrics::init(&settings, metrics::WATCHER)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<LogsEvent>| async move {
        let report = watcher::handle(&event.payload.aws_logs.data);
        // Lambda freezes the process once the result is returned: the batch's metrics must be out before.
        metrics::flush();
        Ok::<_, Error>(report.to_json())
    }))
    .await
}
