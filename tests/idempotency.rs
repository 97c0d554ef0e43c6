//! Exactly once, against moto's DynamoDB: redelivered and concurrent events send one SMS, and a claim left
//! by a crashed invocation is taken over once its lease has run out.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use cognito_sms_sender::config::Config;
use cognito_sms_sender::decrypt::esdk;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::ledger::{message_key, Ledger, LedgerError};
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::sender::retry::Deadline;
use cognito_sms_sender::sender::{wiring, LEASE_MARGIN};
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

fn epoch_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto().sdk_config())
}

/// A record for `e`'s message as another invocation would have left it.
async fn leave_record(table: &str, e: &Value, status: &str, lease_until: i64, expires_at: i64) {
    let key = message_key(e["request"]["code"].as_str(), e);
    dynamodb()
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(key))
        .item("status", AttributeValue::S(status.into()))
        .item("lease_until", AttributeValue::N(lease_until.to_string()))
        .item("expires_at", AttributeValue::N(expires_at.to_string()))
        .send()
        .await
        .unwrap();
}

async fn leave_claim(table: &str, e: &Value, lease_offset_secs: i64) {
    let now = epoch_now();
    leave_record(table, e, "IN_PROGRESS", now + lease_offset_secs, now + 86_400).await;
}

/// The record of `e`'s message in moto's table.
async fn record(table: &str, e: &Value) -> HashMap<String, AttributeValue> {
    let key = message_key(e["request"]["code"].as_str(), e);
    let item = dynamodb().get_item().table_name(table).key("pk", AttributeValue::S(key)).send().await.unwrap();
    item.item.expect("a record")
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

/// Waits until a new epoch second has just begun, so the next few calls all see the same second.
async fn start_of_a_second() -> i64 {
    let into = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_millis() as u64;
    tokio::time::sleep(Duration::from_millis(1000 - into + 20)).await;
    epoch_now()
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

#[tokio::test]
async fn the_lease_is_the_deadline_plus_a_margin_and_the_record_lives_for_its_ttl() {
    let (app, key, table) = setup().await;
    let e = event(&key, "+12065557008", "ZXQ700008").await;
    let budget = Duration::from_secs(20);
    let before = SystemTime::now();
    let sent = app.handle_until(&e, Deadline::after(budget)).await.unwrap();
    let after = SystemTime::now();
    let item = record(&table, &e).await;
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let lease = (budget + LEASE_MARGIN).as_secs() as i64;
    assert!((secs(before) + lease..=secs(after) + lease).contains(&number(&item, "lease_until")), "{item:?}");
    let ttl = 86_400; // IDEMPOTENCY_TTL_SECONDS' default
    assert!((secs(before) + ttl..=secs(after) + ttl).contains(&number(&item, "expires_at")), "{item:?}");
    assert_eq!(item["status"].as_s().unwrap(), "SENT");
    assert_eq!(item["message_id"].as_s().unwrap(), sent["messageId"].as_str().unwrap());
}

#[tokio::test]
async fn a_claim_is_taken_over_after_its_lease_and_a_record_after_its_ttl_not_at_them() {
    let (app, key, table) = setup().await;
    let phones = ["+12065557009", "+12065557010", "+12065557011", "+12065557012"];
    let mut events = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        events.push(event(&key, phone, &format!("ZXQ70001{i}")).await);
    }
    let far = 86_400;
    let now = start_of_a_second().await;
    // Lease ending this very second: still held (the stored second is rounded down, so the lease may not be over).
    leave_record(&table, &events[0], "IN_PROGRESS", now, now + far).await;
    // Sent, its TTL ending this very second: still a duplicate.
    leave_record(&table, &events[1], "SENT", now, now).await;
    leave_record(&table, &events[2], "IN_PROGRESS", now - 1, now + far).await;
    leave_record(&table, &events[3], "SENT", now - far, now - 1).await;
    let mut outcomes = Vec::new();
    for (i, e) in events.iter().enumerate() {
        outcomes.push(match app.handle(e).await {
            Ok(v) => v["outcome"].as_str().unwrap().to_owned(),
            Err(e) => e.outcome().as_str().to_owned(),
        });
        if i == 1 {
            // Later, the two records would be taken over rightly: these two claims must run in that second.
            assert_eq!(epoch_now(), now, "the claims at the lease's and the TTL's end ran within their second");
        }
    }
    assert_eq!(outcomes, ["duplicate_in_progress", "duplicate", "sent", "sent"]);
    for (phone, sms) in phones.iter().zip([0, 0, 1, 1]) {
        assert_eq!(moto().sms_to(phone).await.len(), sms, "{phone}");
    }
}

/// A ledger over a mocked DynamoDB whose `complete` fails. The claim is made by the gate's counters, in the
/// real table, in the same request as the counts (as deployed).
fn ledger_that_cannot_complete(table: &str) -> DynamoLedger {
    let error = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"m"}"#;
    let update = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(500, Some(error.to_owned()))
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&update], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    DynamoLedger::new(client, table, Duration::from_secs(86_400))
}

/// What a failed `complete` leads to: the SMS is sent and the event ends `sent` with a warning; the record
/// stays in progress, so a redelivery waits until the lease ends, then takes over and sends the code again.
#[tokio::test]
async fn a_failed_complete_keeps_the_sms_sent_and_a_redelivery_sends_again_after_the_lease() {
    let (mut app, key, table) = setup().await;
    let phone = "+12065557013";
    let e = event(&key, phone, "ZXQ700013").await;
    app.ledger = Some(ledger_that_cannot_complete(&table));
    let (logs, guard) = Logs::capture();
    let first = app.handle_until(&e, Deadline::after(Duration::from_secs(1))).await.unwrap();
    drop(guard);
    assert_eq!(first["outcome"], "sent");
    let lines = logs.lines();
    let warning = lines.iter().find(|l| l["message"] == "the idempotency record could not be updated").expect("warned");
    assert!(warning["reason"].as_str().unwrap().contains("InternalServerError"), "{warning}");
    logs.assert_clean(&["ZXQ700013", phone]);

    // The claim as the function wrote it, never completed.
    let claim = record(&table, &e).await;
    assert_eq!(claim["status"], AttributeValue::S("IN_PROGRESS".into()));
    app.ledger = Some(DynamoLedger::new(dynamodb(), &table, Duration::from_secs(86_400)));
    let err = app.handle(&e).await.unwrap_err();
    assert_eq!((err.outcome().as_str(), err.is_transient()), ("duplicate_in_progress", true));

    let lease_until = number(&claim, "lease_until");
    let lease = (Duration::from_secs(1) + LEASE_MARGIN).as_secs() as i64;
    assert!(lease_until <= epoch_now() + lease, "the lease ends after the deadline and its margin: {lease_until}");
    while epoch_now() <= lease_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.handle(&e).await.unwrap()["outcome"], "sent");
    assert_eq!(moto().sms_to(phone).await.len(), 2, "the same code, sent twice");
}

#[tokio::test]
async fn release_gives_up_only_a_claim_in_progress_and_reports_a_table_it_cannot_use() {
    let (_app, key, table) = setup().await;
    let e = event(&key, "+12065557014", "ZXQ700014").await;
    let now = epoch_now();
    leave_record(&table, &e, "SENT", now, now + 86_400).await;
    let ledger = DynamoLedger::new(dynamodb(), &table, Duration::from_secs(86_400));
    let message = message_key(e["request"]["code"].as_str(), &e);
    assert_eq!(ledger.release(&message).await, Ok(()), "a sent record is not ours to release: nothing to report");
    assert_eq!(record(&table, &e).await["status"].as_s().unwrap(), "SENT", "and it stays");
    let missing = DynamoLedger::new(dynamodb(), "no-such-table", Duration::from_secs(86_400));
    assert_eq!(missing.release(&message).await, Err(LedgerError("ResourceNotFoundException".into())));
}
