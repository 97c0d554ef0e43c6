//! The test numbers (`SMS_TEST_NUMBERS` with `SMS_TEST_SINK`) against moto's SQS and SNS: a test number's
//! message is put in the queue and read back with the SDK, any other number is sent as SMS, and a queue that
//! is unencrypted or missing gets nothing.

mod common;

use std::collections::HashMap;

use cognito_sms_sender::aws::Check;
use cognito_sms_sender::config::Config;
use cognito_sms_sender::decrypt::esdk;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::sender::wiring;
use common::{moto, Logs};
use serde_json::Value;

const POOL: &str = "us-east-1_SinkPool1";

fn config(key_arn: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.insert("KMS_KEY_ARN".into(), key_arn.into());
    vars.insert("SMS_PROBE".into(), "off".into());
    Config::from_lookup(|k| vars.get(k).cloned()).expect("valid config")
}

async fn event(key_arn: &str, phone: &str, code: &str) -> Value {
    let keyring = esdk::kms_keyring(key_arn, aws_sdk_kms::Client::new(&moto().sdk_config())).await.unwrap();
    let ciphertext = encrypt_code(&keyring, POOL, code.as_bytes(), Suite::Cognito).await.unwrap();
    let user = "3f1e6a4c-8b1d-4a5e-9f3a-2c7d9e0b1a2f";
    sample_event(&TriggerSource::SignUp, "us-east-1", POOL, user, phone, Some(ciphertext))
}

/// The app with `numbers` as test numbers and `queue` as their sink, on `transport`'s settings.
async fn app(key: &str, numbers: &str, queue: &str, transport: &[(&str, &str)]) -> wiring::App {
    let mut settings = vec![("SMS_TEST_NUMBERS", numbers), ("SMS_TEST_SINK", queue)];
    settings.extend_from_slice(transport);
    wiring::build(&config(key, &settings), &moto().sdk_config()).await.expect("app builds")
}

#[tokio::test]
async fn a_test_numbers_message_lands_in_the_queue_and_any_other_number_gets_an_sms() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    let queue = moto().create_queue(true).await;
    let (test, other) = ("+12065557001", "+12065557011");
    let app = app(&key, &format!("+447700900123, {test}"), &queue, &[]).await;

    let result = app.handle(&event(&key, test, "ZXQ246810").await).await.expect("sent");
    assert_eq!(result["outcome"], "sent");
    let messages = moto().queue_messages(&queue).await;
    assert_eq!(messages.len(), 1, "one message in the queue");
    let (id, body, attributes) = &messages[0];
    let template = config(&key, &[]).catalogue.template(&TriggerSource::SignUp, None, None).unwrap().0.clone();
    assert_eq!(body, template.render("ZXQ246810", test).as_str(), "the rendered message, as an SMS would carry it");
    assert_eq!(attributes["PhoneNumber"], test);
    assert_eq!(
        (attributes["TriggerSource"].as_str(), attributes["UserPoolId"].as_str()),
        ("CustomSMSSender_SignUp", POOL)
    );
    assert_eq!(result["messageId"], id.as_str(), "the queue's message id is the one returned");
    assert!(moto().sms_to(test).await.is_empty(), "no SMS to a test number");

    let result = app.handle(&event(&key, other, "ZXQ135791").await).await.expect("sent");
    assert_eq!(result["outcome"], "sent");
    assert_eq!(moto().sms_to(other).await.len(), 1, "any other number: an SMS");
    assert!(moto().queue_messages(&queue).await.is_empty(), "and nothing in the queue");

    let lines = logs.outcomes();
    let transports: Vec<_> = lines.iter().map(|l| (l["outcome"].clone(), l["transport"].clone())).collect();
    assert_eq!(transports, [("sent".into(), "test-sink".into()), ("sent".into(), "sns".into())]);
    assert!(lines[0]["message"].as_str().unwrap().contains("SMS_TEST_SINK"), "{}", lines[0]);
    logs.assert_clean(&["ZXQ246810", "ZXQ135791", test, other, body]);
}

#[tokio::test]
async fn an_unencrypted_or_missing_queue_gets_nothing_and_says_why() {
    let key = moto().create_key().await;
    let plain = moto().create_queue(false).await;
    let missing = plain.rsplit_once('/').unwrap().0.to_owned() + "/no-such-queue";
    for (n, (queue, want, hint)) in
        [(&plain, "test_sink_unencrypted", "SSE-SQS or SSE-KMS"), (&missing, "test_sink_refused", "sqs:SendMessage")]
            .into_iter()
            .enumerate()
    {
        let (logs, _guard) = Logs::capture();
        let test = format!("+1206555720{n}");
        let app = app(&key, &test, queue, &[]).await;
        let result = app.handle(&event(&key, &test, "ZXQ864200").await).await.expect("not retried");
        assert_eq!(result["outcome"], want);
        let lines = logs.outcomes();
        assert_eq!(lines.len(), 1, "{want}: one outcome line");
        assert!(lines[0]["reason"].as_str().is_some_and(|r| r.contains(hint)), "{}", lines[0]);
        assert_eq!(lines[0]["transport"], "test-sink");
        assert!(moto().sms_to(&test).await.is_empty(), "{want}: never an SMS instead");
        logs.assert_clean(&["ZXQ864200", &test]);
    }
    assert!(moto().queue_messages(&plain).await.is_empty(), "nothing in the unencrypted queue");
    let report = app(&key, "+12065557300", &plain, &[]).await.warm_up().await;
    assert!(matches!(&report.sns, Check::Unusable(r) if r.contains("not encrypted")), "{report:?}");
    let report = app(&key, "+12065557300", &moto().create_queue(true).await, &[]).await.warm_up().await;
    assert_eq!(report.sns, Check::Ready);
}
