//! CloudWatch metrics, written as Embedded Metric Format (EMF) documents on stdout.
//!
//! Each EMF document is one JSON object on its own line of stdout, beside the JSON log lines: Lambda sends both
//! to the function's log group, and CloudWatch Logs turns every line that carries an `_aws.CloudWatchMetrics`
//! block into metrics (no `cloudwatch:PutMetricData` call, no extra permission). Values are gathered in memory
//! by the `metrics` facade and written by [`flush`], which the Lambda binaries call once per invocation, before
//! returning: Lambda freezes the process after the response, so anything not flushed by then would wait for the
//! next event.
//!
//! Dimensions carry only fixed vocabularies (trigger source, SNS Region, outcome, failure class, stage), each
//! checked here before use, so no phone number, code or free text can become a dimension or a property.
//!
//! Every document has the dimension `Service` (the binary: [`SENDER`] or [`WATCHER`]); the per-event counters
//! are also written with `Service` alone, the roll-up that alarms use.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use metrics_cloudwatch_embedded::{Builder, Collector};

use crate::config::{ConfigError, Env};
use crate::destination::region::is_region_name;
use crate::message::event::TriggerSource;

/// The namespace when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "CognitoSmsSender";
/// The `Service` dimension of the custom SMS sender function's metrics.
pub const SENDER: &str = "cognito-sms-sender";
/// The `Service` dimension of the delivery-status watcher's metrics.
pub const WATCHER: &str = "delivery-status-watcher";

/// Messages SNS accepted (outcome `sent`).
const SENT: &str = "Sent";
/// Events that ended without an SMS, by `Outcome` (every outcome except `sent` and `duplicate`).
const FAILURES: &str = "Failures";
/// Redelivered events whose SMS had been sent before (outcome `duplicate`).
const DUPLICATES: &str = "Duplicates";
/// Milliseconds spent in one [`Stage`], retries included.
const LATENCY: &str = "Latency";
/// SMS parts of each message sent.
const SMS_PARTS: &str = "SmsParts";
/// Cold starts of the function.
const COLD_START: &str = "ColdStart";
/// SMS that SNS accepted but could not deliver, by failure `Class` (from the delivery-status logs).
const DELIVERY_FAILURES: &str = "DeliveryFailures";
/// Messages the abuse gate refused, by `Rule` and `Country`.
const BLOCKED: &str = "Blocked";
/// Messages a rule in monitor mode would have refused, by `Rule` and `Country`.
const WOULD_BLOCK: &str = "WouldBlock";
/// Events sent although the gate's counters could not be used (the policy fails open).
const GATE_UNAVAILABLE: &str = "GateUnavailable";
/// AppConfig policy documents not applied (unreachable or invalid), by `Outcome`.
const POLICY_REFUSED: &str = "PolicyRefused";
/// Codes sent that a conversion event can report entered (sign-up, resend, forgot password, MFA), by
/// `TriggerSource` and `Country`: the denominator of the conversion rate.
const CODES_SENT: &str = "CodesSent";
/// Codes the user entered (a conversion event marked their message converted), by the message's
/// `TriggerSource` and `Country`: the conversion rate is `Converted / CodesSent`.
const CONVERTED: &str = "Converted";
/// Conversion events by `Outcome` (`converted`, `no_outstanding_message`, `already_converted`,
/// `conversion_failed`).
const CONVERSION_EVENTS: &str = "ConversionEvents";

/// The `Service` dimension, on every document.
const SERVICE: &str = "Service";
/// Placeholder dimension values: a dimension missing from the event, or a value outside the vocabulary.
const NONE: &str = "None";
const OTHER: &str = "Other";

/// A timed part of sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Decrypting the code (KMS through the Encryption SDK).
    Decrypt,
    /// `sns:Publish`.
    Publish,
}

impl Stage {
    /// The `Stage` dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decrypt => "Decrypt",
            Stage::Publish => "Publish",
        }
    }
}

/// How metrics are written: `METRICS` and `METRICS_NAMESPACE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `METRICS=off` writes no metrics at all.
    pub enabled: bool,
    /// The CloudWatch namespace.
    pub namespace: String,
    /// The `level` each document carries, if any (see [`Settings::from_env`]).
    pub level: Option<&'static str>,
}

/// Why metrics could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// A setting is not allowed; the message names the variable, like the function's other settings.
    #[error(transparent)]
    Setting(#[from] ConfigError),
    /// A metrics recorder was installed before (`init` runs once per process).
    #[error("the metrics recorder could not be installed: {0}")]
    Install(String),
}

impl Settings {
    /// Reads `METRICS` and `METRICS_NAMESPACE` from `env`. When the function's application log level
    /// (`AWS_LAMBDA_LOG_LEVEL`) is above INFO, every document carries that level: Lambda's log-level filter
    /// treats a JSON line without a `level` as INFO and would otherwise drop all metrics.
    pub fn from_env(env: &Env) -> Result<Self, MetricsError> {
        let namespace = env.parsed("METRICS_NAMESPACE", |ns| check_namespace(ns).map(|_| ns.to_owned()))?;
        Ok(Settings {
            enabled: env.on_off("METRICS", true)?,
            namespace: namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            level: env.get("AWS_LAMBDA_LOG_LEVEL").and_then(|l| level_that_survives(&l)),
        })
    }
}

/// CloudWatch's rules for a custom namespace: 1 to 255 of letters, digits and `. - _ / # :` or spaces, not only
/// spaces, and not starting with `AWS/` (reserved for AWS services).
fn check_namespace(ns: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || " .-_/#:".contains(c);
    if ns.len() > 255 || !ns.chars().all(allowed) || ns.trim().is_empty() {
        return Err("must be 1 to 255 letters, digits, spaces or . - _ / # :".to_owned());
    }
    if ns.starts_with("AWS/") {
        return Err("must not start with AWS/ (reserved for AWS services)".to_owned());
    }
    Ok(())
}

/// The level to stamp on documents so that Lambda's filter at `level` keeps them; none at INFO and below.
fn level_that_survives(level: &str) -> Option<&'static str> {
    match level.trim().to_ascii_uppercase().as_str() {
        "WARN" | "WARNING" => Some("WARN"),
        "ERROR" => Some("ERROR"),
        "FATAL" => Some("FATAL"),
        _ => None,
    }
}

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Installs the EMF recorder for this process, once, with `service` ([`SENDER`] or [`WATCHER`]) as the
/// `Service` dimension. With `METRICS=off` nothing is installed and every `record_*` call and [`flush`] does
/// nothing; the same holds when `init` is never called (local runs, tests).
pub fn init(settings: &Settings, service: &'static str) -> Result<(), MetricsError> {
    if !settings.enabled {
        return Ok(());
    }
    let collector = Builder::new()
        .cloudwatch_namespace(settings.namespace.clone())
        .with_dimension(SERVICE, service)
        .init()
        .map_err(|e| MetricsError::Install(e.to_string()))?;
    if let Some(level) = settings.level {
        collector.set_property("level", level);
    }
    // A unit is per metric name: described once, it applies to every dimension set of that name.
    for name in [
        SENT,
        FAILURES,
        DUPLICATES,
        COLD_START,
        DELIVERY_FAILURES,
        BLOCKED,
        WOULD_BLOCK,
        GATE_UNAVAILABLE,
        POLICY_REFUSED,
        CODES_SENT,
        CONVERTED,
        CONVERSION_EVENTS,
    ] {
        describe_counter!(name, Unit::Count, "");
    }
    describe_histogram!(LATENCY, Unit::Milliseconds, "");
    describe_histogram!(SMS_PARTS, Unit::Count, "");
    COLLECTOR.set(collector).map_err(|_| MetricsError::Install("init called twice".to_owned()))
}

/// How a handled event counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally<'a> {
    /// An SMS was accepted for sending.
    Sent,
    /// A redelivered event whose SMS was sent before.
    Duplicate,
    /// The event ended without an SMS, with this outcome.
    Failure(&'a str),
}

/// Counts one handled event: [`Tally::Sent`] adds to `Sent`, [`Tally::Duplicate`] to `Duplicates`, a
/// failure to `Failures` with the dimension `Outcome`. Dimensions: `TriggerSource` and `SnsRegion` (`None`
/// when the event had none, `Other` when it is not a known value), plus the `Service`-only roll-up (and
/// `Service` + `Outcome` for failures).
pub fn record_outcome(tally: Tally, trigger_source: Option<&str>, sns_region: Option<&str>) {
    let source = trigger_source_dimension(trigger_source);
    let region = region_dimension(sns_region);
    let name = match tally {
        Tally::Sent => SENT,
        Tally::Duplicate => DUPLICATES,
        Tally::Failure(outcome) => {
            let outcome = name_dimension(outcome);
            counter!(FAILURES, "Outcome" => outcome.clone(), "TriggerSource" => source, "SnsRegion" => region)
                .increment(1);
            counter!(FAILURES, "Outcome" => outcome).increment(1);
            counter!(FAILURES).increment(1);
            return;
        }
    };
    counter!(name, "TriggerSource" => source, "SnsRegion" => region).increment(1);
    counter!(name).increment(1);
}

/// Records how long one stage took, in milliseconds (`Latency` with the dimension `Stage`).
pub fn record_latency(stage: Stage, took: Duration) {
    histogram!(LATENCY, "Stage" => stage.as_str()).record(took.as_secs_f64() * 1000.0);
}

/// Records the number of SMS parts of a message sent (`SmsParts`).
pub fn record_sms_parts(parts: u32) {
    histogram!(SMS_PARTS).record(f64::from(parts));
}

/// Counts a cold start (`ColdStart`); call once, after [`init`].
pub fn record_cold_start() {
    counter!(COLD_START).increment(1);
}

/// Counts one SMS that SNS reported as not delivered (`DeliveryFailures`) with the dimension `Class`, and
/// in the `Service`-only roll-up.
pub fn record_delivery_failure(class: &str) {
    counter!(DELIVERY_FAILURES, "Class" => name_dimension(class)).increment(1);
    counter!(DELIVERY_FAILURES).increment(1);
}

/// Counts a message the gate refused (`monitor` false: [`BLOCKED`]) or would have refused ([`WOULD_BLOCK`]),
/// by `Rule` and `Country` (an ISO code, else `Other`; `None` when unknown), and in the `Service` roll-up.
pub fn record_blocked(rule: &str, country: Option<&str>, monitor: bool) {
    let name = if monitor { WOULD_BLOCK } else { BLOCKED };
    counter!(name, "Rule" => name_dimension(rule), "Country" => country_dimension(country)).increment(1);
    counter!(name).increment(1);
}

/// Counts a code sent that a conversion event can report ([`CODES_SENT`]).
pub fn record_code_sent(trigger_source: &str, country: Option<&str>) {
    by_source_and_country(CODES_SENT, trigger_source, country);
}

/// Counts a code entered ([`CONVERTED`]), by its message's trigger source and country.
pub fn record_converted(trigger_source: &str, country: Option<&str>) {
    by_source_and_country(CONVERTED, trigger_source, country);
}

/// Counts one conversion event by its outcome ([`CONVERSION_EVENTS`]).
pub fn record_conversion_event(outcome: &str) {
    counter!(CONVERSION_EVENTS, "Outcome" => name_dimension(outcome)).increment(1);
}

/// `name` by `TriggerSource` and `Country`, by `Country` alone and in the `Service` roll-up: the dimension sets
/// [`CODES_SENT`] and [`CONVERTED`] share, so their ratio is the conversion rate at each level.
fn by_source_and_country(name: &'static str, trigger_source: &str, country: Option<&str>) {
    let (source, country) = (trigger_source_dimension(Some(trigger_source)), country_dimension(country));
    counter!(name, "TriggerSource" => source, "Country" => country.clone()).increment(1);
    counter!(name, "Country" => country).increment(1);
    counter!(name).increment(1);
}

/// Counts an event sent without the gate's counters ([`GATE_UNAVAILABLE`]).
pub fn record_gate_unavailable() {
    counter!(GATE_UNAVAILABLE).increment(1);
}

/// Counts an AppConfig policy not applied ([`POLICY_REFUSED`]) by `Outcome`.
pub fn record_policy_refused(outcome: &str) {
    counter!(POLICY_REFUSED, "Outcome" => name_dimension(outcome)).increment(1);
}

/// Writes every metric recorded since the last flush to stdout, one EMF document per line. Each document is
/// written with a single locked write, so it never interleaves with a log line. Does nothing when metrics are
/// off or not initialised.
pub fn flush() {
    let Some(collector) = COLLECTOR.get() else {
        return;
    };
    let mut documents = Vec::new();
    let written = collector.flush(&mut documents).and_then(|()| {
        if documents.is_empty() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&documents)?;
        out.flush()
    });
    if let Err(e) = written {
        tracing::warn!(outcome = "metrics_not_written", reason = %e, "metrics could not be written to stdout");
    }
}

/// Writes every metric recorded since the last flush to `writer` instead of stdout (for tests and tools).
/// Returns `Ok` and writes nothing when metrics are off or not initialised.
pub fn flush_to(writer: impl Write) -> std::io::Result<()> {
    match COLLECTOR.get() {
        Some(collector) => collector.flush(writer),
        None => Ok(()),
    }
}

/// A known trigger source as logged (`CustomSMSSender_SignUp`), else `Other`; `None` when missing.
fn trigger_source_dimension(source: Option<&str>) -> String {
    match source {
        None => NONE.to_owned(),
        Some(s) => match TriggerSource::from(s) {
            TriggerSource::Unknown(_) => OTHER.to_owned(),
            known => known.to_string(),
        },
    }
}

/// An ISO country code, else `Other`; `None` when unknown.
fn country_dimension(country: Option<&str>) -> String {
    match country {
        None => NONE.to_owned(),
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) => c.to_owned(),
        Some(_) => OTHER.to_owned(),
    }
}

/// A Region name, else `Other`; `None` when missing.
fn region_dimension(region: Option<&str>) -> String {
    match region {
        None => NONE.to_owned(),
        Some(r) if is_region_name(r) => r.to_owned(),
        Some(_) => OTHER.to_owned(),
    }
}

/// An outcome or class name: letters and underscores only (no digit can pass, so no number can), at most 64.
fn name_dimension(name: &str) -> String {
    let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
    if ok {
        name.to_owned()
    } else {
        OTHER.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, MetricsError> {
        Settings::from_env(&Env::from_lookup(|k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())))
    }

    #[test]
    fn settings_default_and_validate() {
        let s = settings(&[]).unwrap();
        assert!(s.enabled);
        assert_eq!(s.namespace, DEFAULT_NAMESPACE);
        assert!(!settings(&[("METRICS", "off")]).unwrap().enabled);
        assert!(settings(&[("METRICS", "")]).unwrap().enabled);
        let e = settings(&[("METRICS", "no")]).unwrap_err();
        assert!(e.to_string().starts_with("METRICS: "), "{e}");
        for ok in ["MyApp/Sms", "a", "Prod SMS #1", "x:y_z-1.2", &"n".repeat(255)] {
            assert_eq!(settings(&[("METRICS_NAMESPACE", ok)]).unwrap().namespace, ok);
        }
        for bad in ["AWS/SNS", "emoji😀", "semi;colon", &"n".repeat(256)] {
            let e = settings(&[("METRICS_NAMESPACE", bad)]).unwrap_err();
            assert!(e.to_string().starts_with("METRICS_NAMESPACE: "), "{e}");
        }
    }

    #[test]
    fn level_keeps_documents_through_lambdas_filter() {
        for (asked, stamped) in [
            ("INFO", None),
            ("debug", None),
            ("TRACE", None),
            ("WARN", Some("WARN")),
            ("error", Some("ERROR")),
            ("FATAL", Some("FATAL")),
        ] {
            assert_eq!(level_that_survives(asked), stamped, "{asked}");
        }
    }

    #[test]
    fn dimensions_take_only_known_values() {
        assert_eq!(trigger_source_dimension(Some("CustomSMSSender_SignUp")), "CustomSMSSender_SignUp");
        assert_eq!(trigger_source_dimension(Some("CustomSMSSender_+12065550100")), OTHER);
        assert_eq!(trigger_source_dimension(None), NONE);
        assert_eq!(region_dimension(Some("ap-northeast-1")), "ap-northeast-1");
        assert_eq!(region_dimension(Some("+12065550100")), OTHER);
        assert_eq!(region_dimension(None), NONE);
        assert_eq!(country_dimension(Some("BR")), "BR");
        assert_eq!(country_dimension(Some("+55")), OTHER);
        assert_eq!(country_dimension(None), NONE);
        assert_eq!(name_dimension("kms_unavailable"), "kms_unavailable");
        assert_eq!(name_dimension("SpendingLimitReached"), "SpendingLimitReached");
        for bad in ["+12065550100", "123456", "sent 1", "", &"a".repeat(65)] {
            assert_eq!(name_dimension(bad), OTHER, "{bad}");
        }
    }

    #[test]
    fn stages_are_named() {
        assert_eq!(Stage::Decrypt.as_str(), "Decrypt");
        assert_eq!(Stage::Publish.as_str(), "Publish");
    }
}
