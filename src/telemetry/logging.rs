//! Structured JSON logs, one object per line, with fields at the top level so Logs Insights and metric
//! filters can match `outcome` directly.

use tracing_subscriber::EnvFilter;

use tracing::level_filters::LevelFilter;

/// Targets that must never log at TRACE, whatever level is asked for: at TRACE `lambda_runtime` logs the raw
/// event (phone numbers and all) and the SDK logs request and response bodies (the message, with its code).
const CAPPED: [(&str, LevelFilter); 9] = [
    ("lambda_runtime", LevelFilter::DEBUG),
    ("lambda_runtime_api_client", LevelFilter::DEBUG),
    ("aws_smithy_runtime", LevelFilter::DEBUG),
    ("aws_smithy_runtime_api", LevelFilter::DEBUG),
    ("aws_smithy_http_client", LevelFilter::DEBUG),
    ("aws_smithy_http", LevelFilter::DEBUG),
    ("aws_sdk_sns", LevelFilter::DEBUG),
    ("aws_sdk_kms", LevelFilter::DEBUG),
    ("hyper_util", LevelFilter::INFO),
];

/// The filter: `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO), with [`CAPPED`] applied.
pub fn filter() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    filter_for(&level)
}

/// The filter for a level or `RUST_LOG`-style directives. Each capped target logs at the most verbose level
/// asked for anywhere in `directives`, but never more verbosely than its cap.
pub fn filter_for(directives: &str) -> EnvFilter {
    let directives = directives.to_lowercase();
    let mut filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let asked = directives
        .split(',')
        .filter_map(|d| d.rsplit('=').next()?.trim().parse::<LevelFilter>().ok())
        .max()
        .unwrap_or(LevelFilter::INFO);
    for (target, cap) in CAPPED {
        let level = asked.min(cap);
        filter = filter.add_directive(format!("{target}={level}").parse().expect("valid directive"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_lower_verbose_targets_and_never_raise_them() {
        let info = filter_for("info").to_string();
        assert!(info.contains("aws_smithy_runtime=info") && info.contains("lambda_runtime=info"), "{info}");
        let trace = filter_for("TRACE").to_string();
        assert!(trace.contains("lambda_runtime=debug") && trace.contains("hyper_util=info"), "{trace}");
        let mixed = filter_for("warn,cognito_sms_sender=trace").to_string();
        assert!(mixed.contains("aws_sdk_sns=debug"), "{mixed}");
        assert!(filter_for("error").to_string().contains("aws_sdk_kms=error"));
    }
}
