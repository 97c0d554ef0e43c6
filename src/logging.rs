//! Structured JSON logs, one object per line, with fields at the top level so Logs Insights and metric
//! filters can match `outcome` directly.

use tracing_subscriber::EnvFilter;

/// Targets that must never log at TRACE, whatever level is asked for: at TRACE `lambda_runtime` logs the raw
/// event (phone numbers and all) and the SDK logs request and response bodies (the message, with its code).
const QUIET: [&str; 9] = [
    "lambda_runtime=debug",
    "lambda_runtime_api_client=debug",
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime_api=debug",
    "aws_smithy_http_client=debug",
    "aws_smithy_http=debug",
    "aws_sdk_sns=debug",
    "aws_sdk_kms=debug",
    "hyper_util=info",
];

/// The filter: `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO), with the raw-event loggers capped.
pub fn filter() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    filter_for(&level)
}

/// The filter for a level or `RUST_LOG`-style directives, with [`QUIET`] applied on top.
pub fn filter_for(level: &str) -> EnvFilter {
    let mut filter =
        EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in QUIET {
        filter = filter.add_directive(directive.parse().expect("static directive"));
    }
    filter
}

/// Installs the JSON subscriber writing to `writer` (stdout in Lambda, stderr for the CLI).
pub fn init<W>(writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_env_filter(filter())
        .with_writer(writer)
        .init();
}
