//! The delivery-status watcher on documented SNS records, delivered the way CloudWatch Logs delivers them: a
//! gzipped, base64-encoded subscription payload, decoded by `aws_lambda_events`.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use aws_lambda_events::event::cloudwatch_logs::LogsEvent;
use base64::Engine;
use cognito_sms_sender::config::Env;
use cognito_sms_sender::telemetry::metrics::{self, Settings};
use cognito_sms_sender::watcher::{self, DeliveryStatus, FailureClass};
use common::Logs;
use serde_json::{json, Value};

/// Every full number in the fixtures: none may appear in a log line or a metric.
const NUMBERS: [&str; 5] = ["+12065550100", "+447700900123", "+12065550199", "+819012345678", "+12065550142"];

fn fixture(name: &str) -> String {
    fixture_in("delivery-status", name)
}

/// The fixture `name` of `tests/fixtures/<dir>`.
fn fixture_in(dir: &str, name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", dir, name].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The event Lambda receives for a subscription delivery of `data` (the decoded `awslogs.data`), read from its
/// bytes as `lambda_runtime` reads it (the `awslogs` decoder borrows its keys, so it cannot read a `Value`).
fn subscription_event(data: &str) -> LogsEvent {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data.as_bytes()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let body = json!({ "awslogs": { "data": encoded } }).to_string();
    serde_json::from_slice(body.as_bytes()).expect("a CloudWatch Logs subscription event")
}

/// The metrics recorder is global: installed once (as the watcher, with the level Lambda's filter needs at
/// WARN), and tests take turns.
fn turn() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let mut settings = Settings::from_env(&Env::from_lookup(|_| None)).unwrap();
        settings.level = Some("WARN");
        metrics::init(&settings, metrics::WATCHER).unwrap();
    });
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    emf();
    guard
}

fn emf() -> Vec<Value> {
    let mut out = Vec::new();
    metrics::flush_to(&mut out).unwrap();
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_subscription_batch_is_logged_and_counted_by_class() {
    let _turn = turn();
    let event = subscription_event(&fixture("subscription-data.json"));
    let data = &event.aws_logs.data;
    assert_eq!(data.log_events.len(), 6);

    let (logs, _guard) = Logs::capture();
    let report = watcher::handle(data);
    let docs = emf();

    assert_eq!(
        report.to_json(),
        json!({
            "failures": {"CarrierFailure": 2, "OptedOut": 1, "SNSSandbox": 1, "SpendingLimitReached": 1, "Unknown": 1},
            "delivered": 0,
            "unreadable": 1,
            "interim": 0,
        })
    );

    let lines = logs.outcomes();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let failed: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == watcher::DELIVERY_FAILED).collect();
    assert_eq!(failed.len(), 5);
    let quota = failed.iter().find(|l| l["class"] == "SpendingLimitReached").unwrap();
    assert_eq!(quota["level"], "ERROR");
    assert_eq!(quota["phone"], "+4*******0123");
    assert_eq!(quota["country"], "GB");
    assert_eq!(quota["message_id"], "8c1de487-da4b-5c67-9d2a-b95f017e32b3");
    assert_eq!(quota["sns_region"], "us-east-1");
    assert_eq!(quota["provider_response"], "No quota left for account");
    assert!(quota["reason"].as_str().unwrap().contains("MonthlySpendLimit"));
    let blocked = failed.iter().find(|l| l["provider_response"] == "Phone carrier has blocked this message").unwrap();
    assert_eq!(blocked["class"], "CarrierFailure");
    assert_eq!(blocked["level"], "WARN");
    assert_eq!(blocked["country"], "JP");
    assert_eq!((&blocked["mcc"], &blocked["mnc"]), (&json!(440), &json!(10)));
    assert_eq!(blocked["price_usd"], 0.07451);
    assert_eq!(blocked["sms_type"], "Transactional");
    let documented = failed.iter().find(|l| l["message_id"] == "1077257a-92f3-5ca3-bc97-6a915b310625").unwrap();
    // SNS writes 0 for an unknown network: not worth a field.
    assert!(documented.get("mcc").is_none() && documented.get("mnc").is_none());
    assert_eq!(documented["phone"], "+1******0100");
    let sandbox = failed.iter().find(|l| l["class"] == "SNSSandbox").unwrap();
    assert_eq!(sandbox["level"], "ERROR");
    let unreadable = lines.iter().find(|l| l["outcome"] == watcher::UNREADABLE).unwrap();
    assert_eq!(unreadable["level"], "WARN");

    let by_class: Vec<(&str, u64)> =
        docs.iter().filter_map(|d| Some((d.get("Class")?.as_str()?, d["DeliveryFailures"].as_u64()?))).collect();
    let mut by_class = by_class;
    by_class.sort();
    assert_eq!(
        by_class,
        [("CarrierFailure", 2), ("OptedOut", 1), ("SNSSandbox", 1), ("SpendingLimitReached", 1), ("Unknown", 1)]
    );
    for doc in &docs {
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], metrics::DEFAULT_NAMESPACE);
        assert_eq!(doc["Service"], metrics::WATCHER);
        assert_eq!(doc["level"], "WARN", "the level Lambda's filter keeps");
        let dims = cw["Dimensions"][0].as_array().unwrap();
        if doc.get("Class").is_some() {
            assert_eq!(dims, &[json!("Service"), json!("Class")]);
        } else {
            assert_eq!(dims, &[json!("Service")]);
            assert_eq!(doc["DeliveryFailures"], 6);
        }
        assert_eq!(cw["Metrics"], json!([{"Name": "DeliveryFailures", "Unit": "Count"}]));
    }

    let everything = format!("{}\n{}", logs.text(), serde_json::to_string(&docs).unwrap());
    for number in NUMBERS {
        let digits = &number[1..];
        assert!(!everything.contains(digits), "{number} leaked");
    }
    logs.assert_clean(&NUMBERS);
}

#[test]
fn successes_are_logged_and_not_counted_as_failures() {
    let _turn = turn();
    let data = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "sns/eu-west-1/123456789012/DirectPublishToPhoneNumber",
        "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": 1, "message": fixture("success.json")}],
    });
    let event = subscription_event(&data.to_string());
    let (logs, _guard) = Logs::capture();
    let report = watcher::handle(&event.aws_logs.data);
    assert_eq!(report.delivered, 1);
    assert!(report.failures.is_empty());
    assert!(emf().is_empty());
    let line = &logs.outcomes()[0];
    assert_eq!(line["outcome"], watcher::DELIVERED);
    assert_eq!(line["sns_region"], "eu-west-1");
    assert_eq!(line["phone"], "+1******0100");
    logs.assert_clean(&NUMBERS);
}

#[test]
fn the_control_message_is_ignored() {
    let _turn = turn();
    let event = subscription_event(&fixture("control-message-data.json"));
    let (logs, _guard) = Logs::capture();
    let report = watcher::handle(&event.aws_logs.data);
    assert_eq!(report, watcher::BatchReport::default());
    assert!(emf().is_empty());
    assert!(logs.outcomes().is_empty());
    logs.assert_clean(&NUMBERS);
}

#[test]
fn every_failure_fixture_has_its_class() {
    for (file, class) in [
        ("failure-unknown-error.json", FailureClass::CarrierFailure),
        ("failure-no-quota.json", FailureClass::SpendingLimitReached),
        ("failure-opted-out.json", FailureClass::OptedOut),
        ("failure-carrier-blocked.json", FailureClass::CarrierFailure),
        ("failure-sandbox.json", FailureClass::SnsSandbox),
    ] {
        let status = DeliveryStatus::parse(&fixture(file)).unwrap();
        assert!(status.is_failure(), "{file}");
        assert_eq!(status.class(), class, "{file}");
    }
    assert!(!DeliveryStatus::parse(&fixture("success.json")).unwrap().is_failure());
}

fn eum_fixture(name: &str) -> String {
    fixture_in("end-user-messaging", name)
}

/// Every full number in the End User Messaging fixtures (and the two SNS records of the mixed batch).
const EUM_NUMBERS: [&str; 16] = [
    "+14255550156",
    "+14255550157",
    "+14255550158",
    "+12065550171",
    "+12065550172",
    "+12065550173",
    "+447700900321",
    "+447700900322",
    "+447700900323",
    "+447700900324",
    "+447700900325",
    "+819012345601",
    "+819012345602",
    "+819012345603",
    "+447700900123",
    "+12065550199",
];

#[test]
fn every_end_user_messaging_event_has_its_fate() {
    use watcher::{Fate, Record};
    use FailureClass::*;
    for (file, fate) in [
        ("text-queued.json", Fate::Interim),
        ("text-pending.json", Fate::Interim),
        ("text-successful-interim.json", Fate::Interim),
        ("text-carrier-unreachable-retrying.json", Fate::Interim),
        ("text-delivered.json", Fate::Delivered),
        ("text-successful-final.json", Fate::Delivered),
        ("text-blocked.json", Fate::Failed(CarrierFailure)),
        ("text-carrier-blocked.json", Fate::Failed(CarrierFailure)),
        ("text-spam.json", Fate::Failed(CarrierFailure)),
        ("text-carrier-unreachable.json", Fate::Failed(CarrierFailure)),
        ("text-unreachable.json", Fate::Failed(CarrierFailure)),
        ("text-invalid.json", Fate::Failed(CarrierFailure)),
        ("text-invalid-message.json", Fate::Failed(CarrierFailure)),
        ("text-ttl-expired.json", Fate::Failed(CarrierFailure)),
        ("text-protect-blocked.json", Fate::Failed(ProtectBlocked)),
        ("text-unknown.json", Fate::Failed(Unknown)),
        ("text-unknown-opted-out.json", Fate::Failed(OptedOut)),
    ] {
        let Ok(Record::EndUserMessaging(event)) = Record::parse(&eum_fixture(file)) else { panic!("{file}") };
        assert_eq!(event.fate(), fate, "{file}");
    }
    // An SNS record is still read as one, and a voice event of the same configuration set counts for nothing.
    assert!(matches!(Record::parse(&fixture("failure-no-quota.json")), Ok(Record::Sns(_))));
    let voice = r#"{"eventType":"VOICE_COMPLETED","isFinal":true,"destinationPhoneNumber":"+14255550156"}"#;
    let Ok(Record::EndUserMessaging(voice)) = Record::parse(voice) else { panic!("voice") };
    assert_eq!(voice.fate(), Fate::Interim);
    let e = Record::parse(r#"{"eventType":7,"destinationPhoneNumber":"+14255550156"}"#).unwrap_err();
    assert!(!e.to_string().contains("4255550156"), "{e}");
}

#[test]
fn a_mixed_batch_counts_each_message_once_in_the_same_classes_as_sns() {
    let _turn = turn();
    let event = subscription_event(&eum_fixture("subscription-data-mixed.json"));
    let (logs, _guard) = Logs::capture();
    let report = watcher::handle(&event.aws_logs.data);
    let docs = emf();
    assert_eq!(
        report.to_json(),
        json!({
            "failures": {"CarrierFailure": 8, "OptedOut": 2, "ProtectBlocked": 1, "SpendingLimitReached": 1, "Unknown": 2},
            "delivered": 2,
            "unreadable": 1,
            "interim": 4,
        })
    );
    let lines = logs.outcomes();
    assert_eq!(lines.len(), 20, "one line per record");
    let count = |o: &str| lines.iter().filter(|l| l["outcome"] == o).count();
    let counts = (
        count(watcher::DELIVERY_FAILED),
        count(watcher::DELIVERED),
        count(watcher::INTERIM),
        count(watcher::UNREADABLE),
    );
    assert_eq!(counts, (13, 2, 4, 1));
    let protect = lines.iter().find(|l| l["class"] == "ProtectBlocked").unwrap();
    assert_eq!(
        (protect["level"].as_str(), protect["event_type"].as_str()),
        (Some("ERROR"), Some("TEXT_PROTECT_BLOCKED"))
    );
    assert!(protect["reason"].as_str().unwrap().contains("SMS_PROTECT_CONFIGURATION_ID"));
    assert_eq!((protect["phone"].as_str(), protect["country"].as_str()), (Some("+4*******0325"), Some("GB")));
    assert_eq!(protect["trigger_source"], "CustomSMSSender_SignUp");
    assert!(protect["message"].as_str().unwrap().starts_with("End User Messaging accepted"));
    let spam = lines.iter().find(|l| l["event_type"] == "TEXT_SPAM").unwrap();
    assert_eq!((spam["class"].as_str(), spam["level"].as_str()), (Some("CarrierFailure"), Some("WARN")));
    assert_eq!((&spam["mcc"], &spam["mnc"], &spam["price_usd"]), (&json!(234), &json!(10), &json!(0.0398)));
    let quota = lines.iter().find(|l| l["class"] == "SpendingLimitReached").unwrap();
    assert!(quota["message"].as_str().unwrap().starts_with("SNS accepted") && quota.get("event_type").is_none());

    let mut by_class: Vec<(&str, u64)> =
        docs.iter().filter_map(|d| Some((d.get("Class")?.as_str()?, d["DeliveryFailures"].as_u64()?))).collect();
    by_class.sort();
    let want =
        [("CarrierFailure", 8), ("OptedOut", 2), ("ProtectBlocked", 1), ("SpendingLimitReached", 1), ("Unknown", 2)];
    assert_eq!(by_class, want, "the same metric, by the same dimension");
    let everything = format!("{}\n{}", logs.text(), serde_json::to_string(&docs).unwrap());
    for number in EUM_NUMBERS {
        assert!(!everything.contains(&number[1..]), "{number} leaked");
    }
    logs.assert_clean(&EUM_NUMBERS);
}
