//! Exactly once, against moto's DynamoDB: redelivered and concurrent events send one SMS, and a claim left
//! by a crashed invocation is taken over once its lease has run out.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cognito_sms_sender::config::Config;
use cognito_sms_sender::decrypt::esdk;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::ledger::message_key;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::sender::wiring;
use common::{moto, Logs};
use serde_json::Value;

const POOL: &str = "us-east-1_Idem1";

async fn setup() -> (wiring::App, String, String) {
    let key = moto().create_key().await;
    let table = moto().create_ledger_table().await;
    let vars: HashMap<&str, &str> =
        [("KMS_KEY_ARN", key.as_str()), ("IDEMPOTENCY_TABLE", table.as_str()), ("SMS_PROBE", "off")].into();
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    (wiring::build(&config, &moto().sdk_config()).await.unwrap(), key, table)
}

async fn event(key: &str, phone: &str, code: &str) -> Value {
    let keyring = esdk::kms_keyring(key, aws_sdk_kms::Client::new(&moto().sdk_config())).await.unwrap();
    let ciphertext = encrypt_code(&keyring, POOL, code.as_bytes(), Suite::Cognito).await.unwrap();
    sample_event(&TriggerSource::SignUp, "us-east-1", POOL, "bob", phone, Some(ciphertext))
}

#[tokio::test]
async fn a_redelivered_event_is_sent_once_and_logged_as_duplicate() {
    let (logs, _guard) = Logs::capture();
    let (app, key, _) = setup().await;
    let phone = "+12065557001";
    let e = event(&key, phone, "ZXQ700001").await;
    let first = app.handle(&e).await.unwrap();
    let second = app.handle(&e).await.unwrap();
    assert_eq!(first["outcome"], "sent");
    assert_eq!(second["outcome"], "duplicate");
    assert_eq!(second["messageId"], first["messageId"], "the duplicate names the SMS that was sent");
    assert_eq!(moto().sms_to(phone).await.len(), 1);
    let outcomes: Vec<_> = logs.outcomes().iter().map(|l| l["outcome"].as_str().unwrap().to_owned()).collect();
    assert_eq!(outcomes, ["sent", "duplicate"]);
    logs.assert_clean(&["ZXQ700001", phone]);

    // A different message to the same user is not a duplicate.
    let other = event(&key, phone, "ZXQ700002").await;
    assert_eq!(app.handle(&other).await.unwrap()["outcome"], "sent");
    assert_eq!(moto().sms_to(phone).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_send_one_sms() {
    let (app, key, _) = setup().await;
    let phone = "+12065557002";
    let e = event(&key, phone, "ZXQ700003").await;
    let app = std::sync::Arc::new(app);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (app, e) = (app.clone(), e.clone());
            tokio::spawn(async move { app.handle(&e).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in runs {
        outcomes.push(match r.await.unwrap() {
            Ok(v) => v["outcome"].as_str().unwrap().to_owned(),
            Err(e) => e.outcome().as_str().to_owned(),
        });
    }
    assert_eq!(outcomes.iter().filter(|o| *o == "sent").count(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| ["sent", "duplicate", "duplicate_in_progress"].contains(&o.as_str())),
        "{outcomes:?}"
    );
    // Lambda's retry of the ones still in progress finds the message sent.
    assert_eq!(app.handle(&e).await.unwrap()["outcome"], "duplicate");
    assert_eq!(moto().sms_to(phone).await.len(), 1);
}

async fn leave_claim(table: &str, e: &Value, lease_offset_secs: i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let key = message_key(e["request"]["code"].as_str(), e);
    aws_sdk_dynamodb::Client::new(&moto().sdk_config())
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(key))
        .item("status", AttributeValue::S("IN_PROGRESS".into()))
        .item("lease_until", AttributeValue::N((now + lease_offset_secs).to_string()))
        .item("expires_at", AttributeValue::N((now + 86_400).to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_crash_between_claim_and_publish_does_not_lose_the_code() {
    let (app, key, table) = setup().await;

    // The crashed invocation's lease is still running: this delivery must not send, and asks Lambda to retry.
    let phone = "+12065557003";
    let e = event(&key, phone, "ZXQ700004").await;
    leave_claim(&table, &e, 60).await;
    let err = app.handle(&e).await.unwrap_err();
    assert_eq!((err.outcome().as_str(), err.is_transient()), ("duplicate_in_progress", true));
    assert!(moto().sms_to(phone).await.is_empty());

    // Its lease has run out (the function timed out or crashed): the next delivery takes over and sends.
    let phone = "+12065557004";
    let e = event(&key, phone, "ZXQ700005").await;
    leave_claim(&table, &e, -5).await;
    assert_eq!(app.handle(&e).await.unwrap()["outcome"], "sent");
    assert_eq!(moto().sms_to(phone).await.len(), 1);
    assert_eq!(app.handle(&e).await.unwrap()["outcome"], "duplicate");
}

#[tokio::test]
async fn a_permanent_failure_releases_the_claim() {
    let (app, _key, table) = setup().await;
    let other_key = moto().create_key().await;
    let phone = "+12065557005";
    let e = event(&other_key, phone, "ZXQ700006").await;
    assert_eq!(app.handle(&e).await.unwrap()["outcome"], "wrong_kms_key");
    let key = message_key(e["request"]["code"].as_str(), &e);
    let item = aws_sdk_dynamodb::Client::new(&moto().sdk_config())
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(key))
        .send()
        .await
        .unwrap();
    assert!(item.item.is_none(), "no claim is left behind");
}

#[tokio::test]
async fn a_missing_table_fails_the_invocation_instead_of_sending_unguarded() {
    let key = moto().create_key().await;
    let vars: HashMap<&str, &str> =
        [("KMS_KEY_ARN", key.as_str()), ("IDEMPOTENCY_TABLE", "no-such-table"), ("SMS_PROBE", "off")].into();
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let app = wiring::build(&config, &moto().sdk_config()).await.unwrap();
    let phone = "+12065557006";
    let err = app.handle(&event(&key, phone, "ZXQ700007").await).await.unwrap_err();
    assert_eq!(err.outcome(), "idempotency_unavailable");
    assert!(moto().sms_to(phone).await.is_empty());
}
