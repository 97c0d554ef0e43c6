//! What moto cannot do, at the SDK's own seam (aws-smithy-mocks): message attributes on the wire, SNS error
//! classes, and the sandbox / spend-limit probe.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
use aws_sdk_cloudwatch::types::Datapoint;
use aws_sdk_sns::operation::get_sms_attributes::GetSmsAttributesOutput;
use aws_sdk_sns::operation::get_sms_sandbox_account_status::GetSmsSandboxAccountStatusOutput;
use aws_sdk_sns::operation::list_sms_sandbox_phone_numbers::ListSmsSandboxPhoneNumbersOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::types::{SmsSandboxPhoneNumber, SmsSandboxPhoneNumberVerificationStatus};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use cognito_sms_sender::decrypt::{DecryptError, Decrypter};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::gate::dynamodb::DynamoCounters;
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::probe::Probe;
use cognito_sms_sender::publish::sns::{RegionalClients, SnsPublisher};
use cognito_sms_sender::publish::Publisher;
use cognito_sms_sender::sender::Sender;
use common::Logs;
use serde_json::Value;
use zeroize::Zeroizing;

const PHONE: &str = "+12065550100";
const CODE: &str = "ZXQ555555";

/// A decrypter that always yields `CODE`: the probe and publish paths do not depend on the ciphertext.
struct FixedCode;

impl Decrypter for FixedCode {
    async fn decrypt(&self, _: &str, _: &str) -> Result<Zeroizing<String>, DecryptError> {
        Ok(Zeroizing::new(CODE.to_owned()))
    }
}

fn clients(sns: &[&Rule], cw: &[&Rule]) -> Arc<RegionalClients> {
    // One SDK attempt per call, as in the function (crate::app::aws_config): retries are the handler's.
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns, |c| c
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, cw, |c| c
        .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled()));
    Arc::new(RegionalClients::from_factory(Box::new(move |_| (sns.clone(), cw.clone()))))
}

fn sender<P: Publisher, Q: Probe>(
    publisher: P,
    probe: Q,
) -> Sender<FixedCode, P, Q, Option<DynamoLedger>, Option<DynamoCounters>> {
    sender_with(publisher, probe, &[])
}

fn sender_with<P: Publisher, Q: Probe>(
    publisher: P,
    probe: Q,
    settings: &[(&str, &str)],
) -> Sender<FixedCode, P, Q, Option<DynamoLedger>, Option<DynamoCounters>> {
    Sender::new(FixedCode, publisher, probe, None, None, common::dev_settings(settings))
}

fn event() -> Value {
    sample_event(&TriggerSource::SignUp, "us-east-1", "us-east-1_Mock", "alice", PHONE, Some("AYAD".into()))
}

fn publish_ok() -> Rule {
    mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("mid-1").build())
}

fn sns_error(status: u16, code: &str, message: &str) -> Rule {
    let body = format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    );
    mock!(aws_sdk_sns::Client::publish).sequence().http_status(status, Some(body)).repeatedly().build()
}

fn attributes_of(r: &aws_sdk_sns::operation::publish::PublishInput) -> Vec<(String, String, String)> {
    let mut attrs: Vec<_> = r
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.data_type().to_owned(), v.string_value().unwrap_or("").to_owned()))
        .collect();
    attrs.sort();
    attrs
}

fn a(k: &str, t: &str, v: &str) -> (String, String, String) {
    (k.into(), t.into(), v.into())
}

#[tokio::test]
async fn publish_carries_the_configured_attributes_as_each_country_allows() {
    const UK: &str = "+447400123456";
    let uk = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.phone_number() == Some(UK)
                && r.message().is_some_and(|m| m.contains(CODE))
                && attributes_of(r)
                    == [
                        a("AWS.MM.SMS.OriginationNumber", "String", "+18005550199"),
                        a("AWS.SNS.SMS.MaxPrice", "Number", "0.25"),
                        a("AWS.SNS.SMS.SMSType", "String", "Transactional"),
                        a("AWS.SNS.SMS.SenderID", "String", "MyApp"),
                    ]
        })
        .then_output(|| PublishOutput::builder().message_id("mid-uk").build());
    // The United States does not allow sender IDs: the same settings send without one.
    let us = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.phone_number() == Some(PHONE)
                && attributes_of(r)
                    == [
                        a("AWS.MM.SMS.OriginationNumber", "String", "+18005550199"),
                        a("AWS.SNS.SMS.MaxPrice", "Number", "0.25"),
                        a("AWS.SNS.SMS.SMSType", "String", "Transactional"),
                    ]
        })
        .then_output(|| PublishOutput::builder().message_id("mid-us").build());
    let settings = [("SENDER_ID", "MyApp"), ("ORIGINATION_NUMBER", "+18005550199"), ("MAX_PRICE", "0.25")];
    let s = sender_with(SnsPublisher::new(clients(&[&uk, &us], &[])), None::<SnsProbe>, &settings);
    let to_uk = sample_event(&TriggerSource::SignUp, "us-east-1", "us-east-1_Mock", "alice", UK, Some("AYAD".into()));
    assert_eq!(s.handle(&to_uk).await.unwrap()["messageId"], "mid-uk");
    assert_eq!(s.handle(&event()).await.unwrap()["messageId"], "mid-us");
    assert_eq!((uk.num_calls(), us.num_calls()), (1, 1));
}

#[tokio::test]
async fn publish_errors_are_classified_and_only_transient_ones_retried() {
    let cases = [
        (
            sns_error(
                400,
                "InvalidParameter",
                "Invalid parameter: PhoneNumber Reason: +12065550100 is not valid to publish to",
            ),
            "sns_invalid_phone_number",
            false,
        ),
        (
            sns_error(400, "InvalidParameter", "Invalid parameter: MessageAttributes Reason: SenderID +12065550100"),
            "sns_invalid_parameter",
            false,
        ),
        (
            sns_error(403, "AuthorizationError", "User is not authorized to perform: SNS:Publish"),
            "sns_access_denied",
            false,
        ),
        (sns_error(400, "Throttling", "Rate exceeded"), "sns_throttled", true),
        (sns_error(500, "InternalError", "oops"), "sns_service_error", true),
        (sns_error(502, "", ""), "sns_service_error", true),
        // Any other refusal: SNS's own code, not retried.
        (sns_error(400, "KMSDisabled", "The request was rejected: KMS key disabled"), "sns_rejected", false),
    ];
    for (rule, want, transient) in cases {
        let (logs, _guard) = Logs::capture();
        let s = sender(SnsPublisher::new(clients(&[&rule], &[])), None::<SnsProbe>);
        let result = s.handle(&event()).await;
        match (&result, transient) {
            (Err(e), true) => assert_eq!(e.outcome().as_str(), want),
            (Ok(v), false) => assert_eq!(v["outcome"], want),
            other => panic!("{want}: unexpected {other:?}"),
        }
        let lines = logs.outcomes();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["outcome"], want);
        assert_eq!(lines[0]["retry"], transient);
        logs.assert_clean(&[CODE, PHONE]);
    }
}

fn sandbox(in_sandbox: bool) -> Rule {
    mock!(aws_sdk_sns::Client::get_sms_sandbox_account_status)
        .then_output(move || GetSmsSandboxAccountStatusOutput::builder().is_in_sandbox(in_sandbox).build())
}

fn sandbox_numbers(verified: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_sns::Client::list_sms_sandbox_phone_numbers).then_output(move || {
        let numbers = verified
            .iter()
            .map(|n| {
                SmsSandboxPhoneNumber::builder()
                    .phone_number(*n)
                    .status(SmsSandboxPhoneNumberVerificationStatus::Verified)
                    .build()
            })
            .collect();
        ListSmsSandboxPhoneNumbersOutput::builder().set_phone_numbers(Some(numbers)).build().unwrap()
    })
}

fn spend_limit(limit: &'static str) -> Rule {
    mock!(aws_sdk_sns::Client::get_sms_attributes)
        .then_output(move || GetSmsAttributesOutput::builder().attributes("MonthlySpendLimit", limit).build())
}

fn spent(usd: f64) -> Rule {
    mock!(aws_sdk_cloudwatch::Client::get_metric_statistics).then_output(move || {
        GetMetricStatisticsOutput::builder().datapoints(Datapoint::builder().maximum(usd).build()).build()
    })
}

async fn run_probe(sns: &[&Rule], cw: &[&Rule], events: usize, cache_for: Duration) -> Logs {
    let (logs, guard) = Logs::capture();
    let c = clients(sns, cw);
    let publish = SnsPublisher::new(c.clone());
    let s = sender(publish, SnsProbe::new(c, cache_for));
    for _ in 0..events {
        assert_eq!(s.handle(&event()).await.unwrap()["outcome"], "sent", "the probe never stops a send");
    }
    drop(guard);
    logs.assert_clean(&[CODE, PHONE]);
    logs
}

fn lines_with(logs: &Logs, outcome: &str) -> Vec<Value> {
    logs.outcomes().into_iter().filter(|l| l["outcome"] == outcome).collect()
}

#[tokio::test]
async fn sandbox_with_an_unverified_destination_is_reported_as_not_deliverable() {
    let (p, s, n, l, c) =
        (publish_ok(), sandbox(true), sandbox_numbers(&["+12065550111"]), spend_limit("10"), spent(1.0));
    let logs = run_probe(&[&p, &s, &n, &l], &[&c], 1, Duration::from_secs(300)).await;
    let lines = lines_with(&logs, "SNSSandbox");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["destination_verified"], false);
    assert_eq!(lines[0]["deliverable"], false);
    assert_eq!(lines[0]["level"], "ERROR");
}

#[tokio::test]
async fn sandbox_with_a_verified_destination_is_deliverable() {
    let (p, s, n, l, c) = (publish_ok(), sandbox(true), sandbox_numbers(&[PHONE]), spend_limit("10"), spent(1.0));
    let logs = run_probe(&[&p, &s, &n, &l], &[&c], 1, Duration::from_secs(300)).await;
    let lines = lines_with(&logs, "SNSSandbox");
    assert_eq!(lines[0]["destination_verified"], true);
    assert_eq!(lines[0]["deliverable"], true);
}

#[tokio::test]
async fn production_account_under_budget_reports_nothing() {
    let (p, s, l, c) = (publish_ok(), sandbox(false), spend_limit("10"), spent(7.99));
    let logs = run_probe(&[&p, &s, &l], &[&c], 1, Duration::from_secs(300)).await;
    let names: Vec<_> = logs.outcomes().iter().map(|l| l["outcome"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["sent"]);
}

#[tokio::test]
async fn spend_warning_from_80_percent_and_error_at_the_limit() {
    let (p, s, l, c) = (publish_ok(), sandbox(false), spend_limit("10"), spent(8.0));
    let logs = run_probe(&[&p, &s, &l], &[&c], 1, Duration::from_secs(300)).await;
    let near = lines_with(&logs, "SpendingLimitNear");
    assert_eq!((near.len(), near[0]["level"].as_str()), (1, Some("WARN")));
    assert_eq!(near[0]["limit_usd"], 10.0);

    let (p, s, l, c) = (publish_ok(), sandbox(false), spend_limit("10"), spent(10.0));
    let logs = run_probe(&[&p, &s, &l], &[&c], 1, Duration::from_secs(300)).await;
    let reached = lines_with(&logs, "SpendingLimitReached");
    assert_eq!((reached.len(), reached[0]["level"].as_str()), (1, Some("ERROR")));
    assert_eq!(reached[0]["spent_usd"], 10.0);
}

#[tokio::test]
async fn answers_are_cached_per_region() {
    let (p, s, l, c) = (publish_ok(), sandbox(false), spend_limit("10"), spent(1.0));
    run_probe(&[&p, &s, &l], &[&c], 3, Duration::from_secs(300)).await;
    assert_eq!(p.num_calls(), 3);
    assert_eq!((s.num_calls(), l.num_calls(), c.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn a_denied_probe_is_logged_once_with_the_permission_and_sending_goes_on() {
    let denied = mock!(aws_sdk_sns::Client::get_sms_sandbox_account_status).sequence().http_status(
        403,
        Some("<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not authorized</Message></Error></ErrorResponse>".into()),
    ).repeatedly().build();
    let (p, l, c) = (publish_ok(), spend_limit("10"), spent(1.0));
    // No cache, so every event probes again; the denial is still reported once.
    let logs = run_probe(&[&p, &denied, &l], &[&c], 3, Duration::ZERO).await;
    assert_eq!(denied.num_calls(), 3);
    let lines = lines_with(&logs, "probe_denied");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["permission"], "sns:GetSMSSandboxAccountStatus");
    assert_eq!(lines_with(&logs, "sent").len(), 3);
}
