//! The function's EMF output: documents CloudWatch accepts, the documented metric names and dimensions, and
//! never a phone number or code. The `metrics` recorder is global to the process, so this binary installs it
//! once and its tests take turns.

mod common;

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use cognito_sms_sender::config::Env;
use cognito_sms_sender::telemetry::metrics::{self, MetricsError, Settings, Stage, Tally};
use serde_json::Value;

const NAMESPACE: &str = "CognitoSmsSenderTest";

/// Installs the recorder once (checking on the way that `METRICS=off` installs nothing and that a second
/// `init` is refused), then hands out a turn with nothing left over from earlier tests.
fn turn() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let off = Settings::from_env(&Env::from_lookup(|k| (k == "METRICS").then(|| "off".to_owned()))).unwrap();
        metrics::init(&off, metrics::SENDER).unwrap();
        metrics::record_cold_start();
        assert!(emitted().is_empty(), "METRICS=off wrote metrics");

        let on = Settings::from_env(&Env::from_lookup(|k| (k == "METRICS_NAMESPACE").then(|| NAMESPACE.to_owned())))
            .unwrap();
        metrics::init(&on, metrics::SENDER).unwrap();
        assert!(matches!(metrics::init(&on, metrics::SENDER), Err(MetricsError::Install(_))));
    });
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    emitted();
    guard
}

/// Flushes and returns the documents written, one per line, each checked against the EMF specification.
fn emitted() -> Vec<Value> {
    let mut out = Vec::new();
    metrics::flush_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    text.lines().map(valid_emf).collect()
}

/// The EMF rules the documents must follow: `_aws` with an integer `Timestamp` and one `CloudWatchMetrics`
/// directive; every dimension named in a dimension set is a string member of the root; every metric is a
/// number (or an array of at most 100 numbers) at the root.
fn valid_emf(line: &str) -> Value {
    let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].is_u64(), "{line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert_eq!(directives.len(), 1, "{line}");
    let d = &directives[0];
    assert_eq!(d["Namespace"], NAMESPACE);
    for set in d["Dimensions"].as_array().expect("Dimensions") {
        let set = set.as_array().expect("a dimension set");
        assert!(!set.is_empty() && set.len() <= 30, "{line}");
        for name in set {
            let name = name.as_str().expect("a dimension name");
            assert!(doc[name].is_string(), "dimension {name} missing from the root: {line}");
        }
    }
    let metrics = d["Metrics"].as_array().expect("Metrics");
    assert!(!metrics.is_empty(), "{line}");
    for m in metrics {
        let name = m["Name"].as_str().expect("a metric name");
        let value = &doc[name];
        let ok = value.is_number()
            || value.as_array().is_some_and(|v| !v.is_empty() && v.len() <= 100 && v.iter().all(Value::is_number));
        assert!(ok, "metric {name} has no value: {line}");
    }
    doc
}

/// The sorted dimension names of a document.
fn dimensions(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn metric_names(doc: &Value) -> Vec<&str> {
    doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect()
}

fn unit_of<'a>(doc: &'a Value, metric: &str) -> Option<&'a str> {
    doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == metric)
        .and_then(|m| m["Unit"].as_str())
}

/// The one document holding `metric` with exactly these dimensions.
fn doc_with<'a>(docs: &'a [Value], metric: &str, dims: &[&str]) -> &'a Value {
    let mut want: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    want.sort();
    let found: Vec<&Value> =
        docs.iter().filter(|d| metric_names(d).contains(&metric) && dimensions(d) == want).collect();
    assert_eq!(found.len(), 1, "{metric} {dims:?} in {docs:#?}");
    found[0]
}

#[test]
fn sent_is_counted_by_trigger_source_and_region_and_in_the_roll_up() {
    let _turn = turn();
    metrics::record_outcome(Tally::Sent, Some("CustomSMSSender_SignUp"), Some("eu-west-2"));
    metrics::record_outcome(Tally::Sent, Some("CustomSMSSender_SignUp"), Some("eu-west-2"));
    metrics::record_outcome(Tally::Sent, Some("CustomSMSSender_Authentication"), Some("eu-west-2"));
    let docs = emitted();

    let sign_up = docs.iter().find(|d| d["TriggerSource"] == "CustomSMSSender_SignUp").expect("a SignUp document");
    assert_eq!(dimensions(sign_up), ["Service", "SnsRegion", "TriggerSource"]);
    assert_eq!(sign_up["Service"], metrics::SENDER);
    assert_eq!(sign_up["SnsRegion"], "eu-west-2");
    assert_eq!(sign_up["Sent"], 2);
    assert_eq!(unit_of(sign_up, "Sent"), Some("Count"));

    let roll_up = doc_with(&docs, "Sent", &["Service"]);
    assert_eq!(roll_up["Sent"], 3);
    assert!(docs.iter().all(|d| d.get("Failures").is_none()));
    // Counters restart from zero after each flush: nothing is written twice.
    assert!(emitted().is_empty());
}

#[test]
fn failures_carry_their_outcome() {
    let _turn = turn();
    metrics::record_outcome(
        Tally::Failure("kms_unavailable"),
        Some("CustomSMSSender_ForgotPassword"),
        Some("us-east-1"),
    );
    metrics::record_outcome(Tally::Failure("invalid_phone_number"), None, None);
    let docs = emitted();

    let detailed = |outcome: &str| {
        docs.iter()
            .find(|d| d["Outcome"] == outcome && d.get("TriggerSource").is_some())
            .unwrap_or_else(|| panic!("no detailed document for {outcome}: {docs:#?}"))
    };
    let kms = detailed("kms_unavailable");
    assert_eq!(dimensions(kms), ["Outcome", "Service", "SnsRegion", "TriggerSource"]);
    assert_eq!(kms["TriggerSource"], "CustomSMSSender_ForgotPassword");
    assert_eq!(kms["Failures"], 1);
    let phone = detailed("invalid_phone_number");
    assert_eq!((&phone["TriggerSource"], &phone["SnsRegion"]), (&Value::from("None"), &Value::from("None")));
    let by_outcome: Vec<&Value> = docs.iter().filter(|d| dimensions(d) == ["Outcome", "Service"]).collect();
    assert_eq!(by_outcome.len(), 2);
    assert_eq!(doc_with(&docs, "Failures", &["Service"])["Failures"], 2);
}

#[test]
fn duplicates_latency_parts_and_cold_start() {
    let _turn = turn();
    metrics::record_outcome(Tally::Duplicate, Some("CustomSMSSender_ResendCode"), Some("ap-northeast-1"));
    metrics::record_latency(Stage::Decrypt, Duration::from_micros(3_500));
    metrics::record_latency(Stage::Decrypt, Duration::from_millis(12));
    metrics::record_latency(Stage::Publish, Duration::from_millis(48));
    metrics::record_sms_parts(1);
    metrics::record_sms_parts(2);
    metrics::record_cold_start();
    let docs = emitted();

    assert_eq!(doc_with(&docs, "Duplicates", &["Service"])["Duplicates"], 1);
    let decrypt = docs.iter().find(|d| d["Stage"] == "Decrypt").unwrap();
    assert_eq!(dimensions(decrypt), ["Service", "Stage"]);
    assert_eq!(decrypt["Latency"], serde_json::json!([3.5, 12.0]));
    assert_eq!(unit_of(decrypt, "Latency"), Some("Milliseconds"));
    let publish = docs.iter().find(|d| d["Stage"] == "Publish").unwrap();
    assert_eq!(publish["Latency"], serde_json::json!([48.0]));
    let service_only = doc_with(&docs, "SmsParts", &["Service"]);
    assert_eq!(service_only["SmsParts"], serde_json::json!([1.0, 2.0]));
    assert_eq!(service_only["ColdStart"], 1);
    assert_eq!(service_only["Duplicates"], 1);
}

#[test]
fn no_phone_number_or_code_reaches_a_dimension() {
    let _turn = turn();
    let phone = "+12065550100";
    let code = "ZXQ424242";
    metrics::record_outcome(Tally::Failure(phone), Some(phone), Some(phone));
    metrics::record_outcome(Tally::Failure(code), Some(&format!("CustomSMSSender_{code}")), Some(code));
    metrics::record_delivery_failure(phone);
    let mut out = Vec::new();
    metrics::flush_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.is_empty());
    for secret in [phone, "2065550100", code, "424242"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    for doc in text.lines().map(valid_emf) {
        for key in ["Outcome", "TriggerSource", "SnsRegion", "Class"] {
            if let Some(v) = doc.get(key) {
                assert_eq!(v, "Other", "{key} in {doc}");
            }
        }
    }
    // And in every other form the secret scan knows.
    common::assert_clean_text(&text, &[code, phone]);
}

#[test]
fn codes_sent_and_converted_share_their_dimensions_so_the_rate_divides_them() {
    let _turn = turn();
    metrics::record_code_sent("CustomSMSSender_SignUp", Some("BR"));
    metrics::record_code_sent("CustomSMSSender_SignUp", Some("BR"));
    metrics::record_code_sent("CustomSMSSender_Authentication", None);
    metrics::record_converted("CustomSMSSender_SignUp", Some("BR"));
    metrics::record_converted("CustomSMSSender_+5511987654321", Some("+55"));
    metrics::record_conversion_event("converted");
    metrics::record_conversion_event("no_outstanding_message");
    let docs = emitted();
    for (metric, by_both, by_country, total) in [("CodesSent", 2, 2, 3), ("Converted", 1, 1, 2)] {
        let both = docs
            .iter()
            .find(|d| metric_names(d).contains(&metric) && d["TriggerSource"] == "CustomSMSSender_SignUp")
            .unwrap_or_else(|| panic!("{metric} by trigger source and country: {docs:#?}"));
        assert_eq!(dimensions(both), ["Country", "Service", "TriggerSource"]);
        assert_eq!((both["Country"].as_str(), both[metric].as_i64()), (Some("BR"), Some(by_both)));
        let country = docs
            .iter()
            .find(|d| {
                metric_names(d).contains(&metric) && dimensions(d) == ["Country", "Service"] && d["Country"] == "BR"
            })
            .unwrap_or_else(|| panic!("{metric} by country: {docs:#?}"));
        assert_eq!(country[metric], by_country);
        assert_eq!(doc_with(&docs, metric, &["Service"])[metric], total);
        assert_eq!(unit_of(both, metric), Some("Count"));
    }
    // What is not a known trigger source or country code becomes Other: no number becomes a dimension.
    assert!(docs.iter().any(|d| d["TriggerSource"] == "Other" && d["Country"] == "Other"), "{docs:#?}");
    assert!(!serde_json::to_string(&docs).unwrap().contains("987654321"));
    let events: Vec<_> = docs.iter().filter(|d| metric_names(d).contains(&"ConversionEvents")).collect();
    let mut outcomes: Vec<&str> = events.iter().map(|d| d["Outcome"].as_str().unwrap()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["converted", "no_outstanding_message"]);
}

#[test]
fn the_sender_counts_a_code_sent_only_for_messages_a_conversion_event_can_report() {
    let _turn = turn();
    tokio::runtime::Runtime::new().unwrap().block_on(send_samples());
    let docs = emitted();
    assert_eq!(doc_with(&docs, "Sent", &["Service"])["Sent"], 4);
    assert_eq!(doc_with(&docs, "CodesSent", &["Service"])["CodesSent"], 2, "sign-up and MFA codes only");
    let mut sources: Vec<&str> = docs
        .iter()
        .filter(|d| metric_names(d).contains(&"CodesSent") && d.get("TriggerSource").is_some())
        .map(|d| d["TriggerSource"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, ["CustomSMSSender_Authentication", "CustomSMSSender_SignUp"]);
}

/// Sends four sample events (development key, local outbox): two codes a conversion event can report, two not.
async fn send_samples() {
    let root = env!("CARGO_MANIFEST_DIR");
    let outbox = std::env::temp_dir().join(format!("codes-sent-{}.jsonl", fastrand::u64(..)));
    let key = format!("{root}/events/DEV-ONLY-public-test-key.hex");
    let config = common::dev_config(&[("LOCAL_DEV_KEY_FILE", &key), ("LOCAL_OUTBOX", outbox.to_str().unwrap())]);
    let app = cognito_sms_sender::sender::wiring::build(&config, &common::moto().sdk_config()).await.unwrap();
    for sample in ["sign-up", "authentication", "update-user-attribute", "admin-create-user"] {
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{root}/events/{sample}.json")).unwrap()).unwrap();
        assert_eq!(app.handle(&event).await.unwrap()["outcome"], "sent", "{sample}");
    }
    let _ = std::fs::remove_file(&outbox);
}
