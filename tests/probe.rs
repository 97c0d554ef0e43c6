//! The sandbox / spend probe: against moto through the real clients, a failing probe call holds no event up
//! and is reported once; at the SDK's seam, each Region's answers expire after the configured time.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
use aws_sdk_cloudwatch::types::Datapoint;
use aws_sdk_sns::operation::get_sms_attributes::GetSmsAttributesOutput;
use aws_sdk_sns::operation::get_sms_sandbox_account_status::GetSmsSandboxAccountStatusOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use cognito_sms_sender::config::Config;
use cognito_sms_sender::destination::phone::PhoneNumber;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::probe::{Finding, Probe};
use cognito_sms_sender::publish::sns::RegionalClients;
use cognito_sms_sender::sender::wiring;
use common::{moto, Logs};
use serde_json::Value;

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
        let findings = probe.check(region, &phone).await;
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
        probe.check("us-east-1", &phone).await;
    }
    assert_eq!(failing.num_calls(), 1, "one attempt, and the failure cached like an answer");
    assert!(started.elapsed() < Duration::from_millis(300), "no backoff waited: {:?}", started.elapsed());
}
