//! The sandbox / spend probe: against moto through the real clients, a failing probe call holds no event up
//! and is reported once; at the SDK's seam, each Region's answers expire after the configured time. End User
//! Messaging's probe speaks the real wire protocol to the local emulator (tests/eum_emulator.py), which keeps
//! an account per Region: each test below uses a Region of its own.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
use aws_sdk_cloudwatch::types::Datapoint;
use aws_sdk_sns::operation::get_sms_attributes::GetSmsAttributesOutput;
use aws_sdk_sns::operation::get_sms_sandbox_account_status::GetSmsSandboxAccountStatusOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use cognito_sms_sender::config::Config;
use cognito_sms_sender::config::TextMessageOptions;
use cognito_sms_sender::destination::attributes::TransportKind;
use cognito_sms_sender::destination::phone::PhoneNumber;
use cognito_sms_sender::probe::eum::EumProbe;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::probe::{Finding, Probe};
use cognito_sms_sender::publish::eum::EumPublisher;
use cognito_sms_sender::publish::sns::RegionalClients;
use cognito_sms_sender::sender::wiring;
use common::{eum_emulator, moto, Logs};
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn config(extra: &[(&str, &str)]) -> Config {
    let dev_key = format!("{ROOT}/events/DEV-ONLY-public-test-key.hex");
    let mut vars: Vec<(String, String)> = vec![("LOCAL_DEV_KEY_FILE".into(), dev_key)];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).expect("valid config")
}

fn sample(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/events/{name}")).unwrap()).unwrap()
}

#[tokio::test]
async fn a_failing_probe_holds_no_event_up_and_is_reported_once() {
    // Moto loads a service on its first request, which can take longer than a probe call may: done first.
    let sns = aws_sdk_sns::Client::new(&moto().sdk_config());
    assert!(sns.get_sms_sandbox_account_status().send().await.is_err(), "moto answers this call with HTTP 500");
    let (logs, guard) = Logs::capture();
    // Sent through SNS (moto), with the probe on.
    let app = wiring::build(&config(&[("SMS_PROBE", "on")]), &moto().sdk_config()).await.unwrap();
    for (i, name) in ["sign-up.json", "forgot-password.json", "authentication.json"].iter().enumerate() {
        let started = Instant::now();
        let result = app.handle(&sample(name)).await.unwrap();
        let took = started.elapsed();
        assert_eq!(result["outcome"], "sent", "{name}");
        // With SDK retries the first event waits up to the 1.5 s probe budget for the failing call; one attempt
        // takes milliseconds (the bound leaves room for a loaded machine; the attempt count is asserted in
        // a_failing_probe_call_is_made_once_whatever_the_clients_retry). Later events probe nothing: cached.
        let bound = if i == 0 { 1000 } else { 500 };
        assert!(took < Duration::from_millis(bound), "event {i} took {took:?}");
    }
    drop(guard);
    // Moto also answers this SDK's CloudWatch protocol with 404: a probe failure of its own, not the send's.
    let failed: Vec<(Value, Value, Value)> = logs
        .outcomes()
        .into_iter()
        .filter(|l| l["outcome"] == "probe_failed")
        .map(|l| (l["permission"].clone(), l["reason"].clone(), l["level"].clone()))
        .collect();
    let want = |p: &str, r: &str| (Value::from(p), Value::from(r), Value::from("WARN"));
    assert_eq!(
        failed,
        [
            want("sns:GetSMSSandboxAccountStatus", "service error (HTTP 500)"),
            want("cloudwatch:GetMetricStatistics", "refused (HTTP 404)")
        ],
        "each failure is reported once, then cached"
    );
    let sent = logs.outcomes().into_iter().filter(|l| l["outcome"] == "sent").count();
    assert_eq!(sent, 3);
    assert!(!logs.text().contains("SNS rejected"));
    logs.assert_clean(&["123456"]);
}

fn limit_rule() -> Rule {
    mock!(aws_sdk_sns::Client::get_sms_attributes)
        .then_output(|| GetSmsAttributesOutput::builder().attributes("MonthlySpendLimit", "10").build())
}

/// One Region's SNS and CloudWatch clients (moto cannot tell Regions' answers apart in time): out of the
/// sandbox, spend at its limit; every call counted by its rule.
fn region_clients(limit: &Rule) -> (aws_sdk_sns::Client, aws_sdk_cloudwatch::Client) {
    let sandbox = mock!(aws_sdk_sns::Client::get_sms_sandbox_account_status)
        .then_output(|| GetSmsSandboxAccountStatusOutput::builder().is_in_sandbox(false).build());
    let spent = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics).then_output(|| {
        GetMetricStatisticsOutput::builder().datapoints(Datapoint::builder().maximum(10.0).build()).build()
    });
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&sandbox, limit]);
    (sns, mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&spent]))
}

#[tokio::test]
async fn each_regions_answers_expire_after_the_configured_time() {
    let cache_for = config(&[("SMS_PROBE_CACHE_SECONDS", "60")]).probe.cache_for;
    assert_eq!(cache_for, Duration::from_secs(60));
    let (limit_a, limit_b) = (limit_rule(), limit_rule());
    let (a, b) = (region_clients(&limit_a), region_clients(&limit_b));
    let clients =
        RegionalClients::from_factory(Box::new(move |r| if r == "eu-west-1" { a.clone() } else { b.clone() }));
    let (start, elapsed) = (Instant::now(), Arc::new(Mutex::new(Duration::ZERO)));
    let clock = elapsed.clone();
    let probe = SnsProbe::new(Arc::new(clients), cache_for).with_clock(move || start + *clock.lock().unwrap());
    let phone = PhoneNumber::parse(Some("+12065550100")).unwrap();
    // At each time (s), one Region is checked; then the number of times each Region's answers were fetched.
    for (secs, region, fetched) in [
        (0, "eu-west-1", (1, 0)),
        (30, "ap-southeast-2", (1, 1)),
        (59, "eu-west-1", (1, 1)),
        (60, "eu-west-1", (2, 1)),
        (60, "ap-southeast-2", (2, 1)),
        (89, "ap-southeast-2", (2, 1)),
        (90, "ap-southeast-2", (2, 2)),
        (90, "eu-west-1", (2, 2)),
        (119, "eu-west-1", (2, 2)),
        (120, "eu-west-1", (3, 2)),
    ] {
        *elapsed.lock().unwrap() = Duration::from_secs(secs);
        let findings = probe.check(TransportKind::Sns, region, &phone).await;
        assert!(findings.iter().any(|f| matches!(f, Finding::SpendingLimitReached { .. })), "cached answers are used");
        assert_eq!((limit_a.num_calls(), limit_b.num_calls()), fetched, "t={secs} {region}");
    }
}

#[tokio::test]
async fn a_failing_probe_call_is_made_once_whatever_the_clients_retry() {
    let failing = mock!(aws_sdk_sns::Client::get_sms_sandbox_account_status)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let limit = limit_rule();
    // The publisher's clients retry (the SDK's standard mode); the probe's calls must not.
    let standard = aws_sdk_sns::config::retry::RetryConfig::standard();
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&failing, &limit], |c| c.retry_config(standard.clone()));
    let cw = region_clients(&limit_rule()).1;
    let clients = RegionalClients::from_factory(Box::new(move |_| (sns.clone(), cw.clone())));
    let probe = SnsProbe::new(Arc::new(clients), Duration::from_secs(300));
    let phone = PhoneNumber::parse(Some("+12065550100")).unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        probe.check(TransportKind::Sns, "us-east-1", &phone).await;
    }
    assert_eq!(failing.num_calls(), 1, "one attempt, and the failure cached like an answer");
    assert!(started.elapsed() < Duration::from_millis(300), "no backoff waited: {:?}", started.elapsed());
}

/// `name`'s sample event, to `phone`.
fn sample_to(name: &str, phone: &str) -> Value {
    let mut event = sample(name);
    event["request"]["userAttributes"]["phone_number"] = phone.into();
    event
}

/// The routing table: SNS by default, End User Messaging for the United Kingdom.
fn uk_through_end_user_messaging() -> String {
    let path = std::env::temp_dir().join(format!("probe-routes-{}.toml", fastrand::u64(..)));
    let table = "[default]\ntransport = \"sns\"\n\n[countries.GB]\ntransport = \"end-user-messaging\"\n";
    std::fs::write(&path, table).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_message_is_probed_by_the_transport_it_is_sent_through() {
    let region = "eu-west-2";
    eum_emulator().set_account(region, json!({"tier": "SANDBOXED"})).await;
    let routes = uk_through_end_user_messaging();
    let extra = [("SMS_PROBE", "on"), ("SNS_REGION", region), ("SMS_ROUTES_FILE", routes.as_str())];
    let (logs, guard) = Logs::capture();
    let app = wiring::build(&config(&extra), &eum_emulator().sdk_config().await).await.unwrap();
    for (i, name) in ["sign-up.json", "forgot-password.json", "authentication.json"].iter().enumerate() {
        let result = app.handle(&sample_to(name, &format!("+4474001234{i:02}"))).await.unwrap();
        assert_eq!(result["outcome"], "sent", "{name}");
    }
    let sandbox: Vec<Value> = logs.outcomes().into_iter().filter(|l| l["outcome"] == "SNSSandbox").collect();
    assert_eq!(sandbox.len(), 3, "every message to a sandboxed account is flagged: {sandbox:?}");
    assert!(sandbox.iter().all(|l| l["level"] == "ERROR" && l["transport"] == "end-user-messaging"));
    assert!(sandbox[0]["reason"].as_str().unwrap().contains("sms_destination_not_verified"), "{}", sandbox[0]);
    assert_eq!(sandbox[0]["phone"], "+4*******3400", "masked");
    // Asked once for the three messages; SNS's probe was not asked about them.
    assert_eq!(eum_emulator().count_in("DescribeAccountAttributes", region).await, 1);
    assert_eq!(eum_emulator().count_in("DescribeSpendLimits", region).await, 1);
    assert!(logs.outcomes().iter().all(|l| l["permission"] != "sns:GetSMSSandboxAccountStatus"));
    // A message the table sends through SNS is probed by SNS's probe (moto fails its sandbox call), not this one.
    let result = app.handle(&sample_to("sign-up.json", "+12065550101")).await.unwrap();
    assert_eq!(result["outcome"], "sent");
    drop(guard);
    let sns_probed = logs.outcomes().into_iter().filter(|l| l["permission"] == "sns:GetSMSSandboxAccountStatus");
    assert_eq!(sns_probed.count(), 1);
    assert_eq!(logs.outcomes().iter().filter(|l| l["outcome"] == "SNSSandbox").count(), 3);
    logs.assert_clean(&["123456"]);
    std::fs::remove_file(routes).ok();
}

/// End User Messaging's probe through clients of `sdk`, keeping answers for `cache_for`.
fn eum_probe(sdk: &aws_config::SdkConfig, cache_for: Duration) -> EumProbe {
    EumProbe::new(EumPublisher::new(sdk, TextMessageOptions::default()).clients(), cache_for)
}

fn uk_phone() -> PhoneNumber {
    PhoneNumber::parse(Some("+447400123400")).unwrap()
}

#[tokio::test]
async fn a_text_spend_limit_of_zero_is_reached_and_a_production_account_finds_nothing() {
    let (region, eum) = ("ap-southeast-2", TransportKind::EndUserMessaging);
    let probe = eum_probe(&eum_emulator().sdk_config().await, Duration::ZERO);
    assert_eq!(probe.check(eum, region, &uk_phone()).await, [], "production, USD 100: nothing to say");
    eum_emulator().set_account(region, json!({"enforced": 0, "max": 10, "overridden": true})).await;
    let reached = Finding::TextSpendLimitReached { limit_usd: 0.0, max_usd: 10.0, overridden: true };
    assert_eq!(probe.check(eum, region, &uk_phone()).await, std::slice::from_ref(&reached));
    assert_eq!(reached.outcome(), "SpendingLimitReached", "the alarm SNS's limit raises");
    // Not the account's own limit: the maximum is in force.
    eum_emulator().set_account(region, json!({"overridden": false})).await;
    assert_eq!(probe.check(eum, region, &uk_phone()).await, []);
    // SNS's messages are not this probe's.
    eum_emulator().set_account(region, json!({"tier": "SANDBOXED", "overridden": true})).await;
    let before = eum_emulator().count_in("DescribeSpendLimits", region).await;
    assert_eq!(probe.check(TransportKind::Sns, region, &uk_phone()).await, []);
    assert_eq!(eum_emulator().count_in("DescribeSpendLimits", region).await, before);
    let sandbox = Finding::Sandbox { transport: eum, verified: None };
    assert_eq!(probe.check(eum, region, &uk_phone()).await, [sandbox, reached]);
}

#[tokio::test]
async fn a_denied_describe_call_is_reported_once_and_each_region_is_asked_once_per_cache_period() {
    let (region, eum) = ("ca-central-1", TransportKind::EndUserMessaging);
    eum_emulator().fail_in(region, "DescribeAccountAttributes", "AccessDeniedException", 3).await;
    let sdk = eum_emulator().sdk_config().await;
    // Refreshed at every check: the denial is met three times and reported the first.
    let probe = eum_probe(&sdk, Duration::ZERO);
    let denied = Finding::ProbeFailed {
        permission: "sms-voice:DescribeAccountAttributes",
        denied: true,
        reason: "access denied (AccessDeniedException)".into(),
    };
    assert_eq!(probe.check(eum, region, &uk_phone()).await, std::slice::from_ref(&denied));
    assert_eq!(denied.outcome(), "probe_denied");
    for _ in 0..2 {
        assert_eq!(probe.check(eum, region, &uk_phone()).await, []);
    }
    assert_eq!(eum_emulator().count_in("DescribeAccountAttributes", region).await, 3);
    // Cached: one request of each kind for many messages.
    let (region, probe) = ("sa-east-1", eum_probe(&sdk, Duration::from_secs(300)));
    for _ in 0..5 {
        assert_eq!(probe.check(eum, region, &uk_phone()).await, []);
    }
    assert_eq!(eum_emulator().count_in("DescribeAccountAttributes", region).await, 1);
    assert_eq!(eum_emulator().count_in("DescribeSpendLimits", region).await, 1);
}

#[tokio::test]
async fn a_failing_describe_call_is_made_once_whatever_the_clients_retry() {
    let region = "ap-northeast-1";
    eum_emulator().fail_in(region, "DescribeSpendLimits", "InternalServerException", 5).await;
    // The publisher's clients retry (the SDK's standard mode); the probe's calls must not.
    let standard = eum_emulator().sdk_config().await.into_builder().retry_config(RetryConfig::standard()).build();
    let probe = eum_probe(&standard, Duration::from_secs(300));
    let findings = probe.check(TransportKind::EndUserMessaging, region, &uk_phone()).await;
    assert!(matches!(&findings[..], [Finding::ProbeFailed { denied: false, .. }]), "{findings:?}");
    assert_eq!(eum_emulator().count_in("DescribeSpendLimits", region).await, 1, "one attempt");
}
