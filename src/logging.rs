//! Structured JSON logs, one object per line, with fields at the top level so Logs Insights and metric
//! filters can match `outcome` directly.

use tracing_subscriber::EnvFilter;

/// Targets that must never log below DEBUG: at TRACE `lambda_runtime` logs the raw event, phone numbers and all.
const QUIET: [&str; 2] = ["lambda_runtime=debug", "lambda_runtime_api_client=debug"];

/// The filter: `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO), with the raw-event loggers capped.
pub fn filter() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned())
        .to_lowercase();
    let mut filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
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
