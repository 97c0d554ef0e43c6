//! Fault injection at the SDK seam (aws-smithy-mocks) and with real sockets: throttling, 5xx until the
//! deadline, connection refused, an endpoint too slow for the deadline.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_kms::operation::decrypt::DecryptOutput;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::Blob;
use cognito_sms_sender::aws::Check;
use cognito_sms_sender::decrypt::esdk::{self, EsdkDecrypter};
use cognito_sms_sender::decrypt::{DecryptError, Decrypter};
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::gate::dynamodb::DynamoCounters;
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::ledger::Ledger;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::publish::sns::{RegionalClients, SnsPublisher};
use cognito_sms_sender::publish::Publisher;
use cognito_sms_sender::sender::retry::{Deadline, MAX_ATTEMPTS, RESERVE};
use cognito_sms_sender::sender::warmup;
use cognito_sms_sender::sender::Sender;
use common::{moto, Logs};
use serde_json::Value;
use zeroize::Zeroizing;

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/0f0f0f0f-1111-2222-3333-444444444444";
const POOL: &str = "us-east-1_Faults";
const PHONE: &str = "+12065558000";
const DATA_KEY: [u8; 32] = [7; 32];

fn sender<D: Decrypter, P: Publisher, L: Ledger>(
    decrypter: D,
    publisher: P,
    ledger: L,
) -> Sender<D, P, Option<SnsProbe>, L, Option<DynamoCounters>> {
    Sender::new(decrypter, publisher, None, ledger, None, common::dev_settings(&[]))
}

struct FixedCode;

impl Decrypter for FixedCode {
    async fn decrypt(&self, _: &str, _: &str) -> Result<Zeroizing<String>, DecryptError> {
        Ok(Zeroizing::new("ZXQ800000".to_owned()))
    }
}

fn event(code: &str) -> Value {
    sample_event(&TriggerSource::Authentication, "us-east-1", POOL, "carol", PHONE, Some(code.to_owned()))
}

fn sns_clients(rules: &[&Rule]) -> Arc<RegionalClients> {
    let sns = mock_client!(aws_sdk_sns, RuleMode::Sequential, rules, |c| c
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[] as &[&Rule]);
    Arc::new(RegionalClients::from_factory(Box::new(move |_| (sns.clone(), cw.clone()))))
}

fn sns_status(status: u16, code: &str) -> Option<String> {
    Some(format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error></ErrorResponse>"
    ))
    .filter(|_| status > 0)
}

fn kms_error(code: &str) -> Option<String> {
    Some(format!("{{\"__type\":\"{code}\",\"message\":\"Rate exceeded\"}}"))
}

/// A Cognito-shaped message whose data key a mocked KMS hands out, and a decrypter over a mocked KMS whose
/// Decrypt answers with `decrypt_rule`.
async fn mocked_kms(decrypt_rule: &Rule) -> (String, EsdkDecrypter) {
    let generate = mock!(aws_sdk_kms::Client::generate_data_key).then_output(|| {
        GenerateDataKeyOutput::builder()
            .key_id(KEY_ARN)
            .plaintext(Blob::new(DATA_KEY.to_vec()))
            .ciphertext_blob(Blob::new(b"wrapped-data-key".to_vec()))
            .build()
    });
    let encrypt_kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[&generate]);
    let keyring = esdk::kms_keyring(KEY_ARN, encrypt_kms).await.unwrap();
    let ciphertext = encrypt_code(&keyring, POOL, b"ZXQ810000", Suite::Cognito).await.unwrap();

    let decrypt_kms = mock_client!(aws_sdk_kms, RuleMode::Sequential, &[decrypt_rule], |c| c
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled()));
    let decrypter = EsdkDecrypter::new(esdk::kms_keyring(KEY_ARN, decrypt_kms).await.unwrap()).await.unwrap();
    (ciphertext, decrypter)
}

fn decrypt_ok() -> DecryptOutput {
    DecryptOutput::builder().key_id(KEY_ARN).plaintext(Blob::new(DATA_KEY.to_vec())).build()
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_throttled_then_fine_sends_once() {
    let (logs, _guard) = Logs::capture();
    let decrypt = mock!(aws_sdk_kms::Client::decrypt)
        .sequence()
        .http_status(400, kms_error("ThrottlingException"))
        .times(2)
        .output(decrypt_ok)
        .build();
    let (ciphertext, decrypter) = mocked_kms(&decrypt).await;
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| r.message().is_some_and(|m| m.contains("ZXQ810000")))
        .then_output(|| PublishOutput::builder().message_id("m-kms").build());
    let s = sender(decrypter, SnsPublisher::new(sns_clients(&[&publish])), None::<DynamoLedger>);
    let result = s.handle(&event(&ciphertext)).await.unwrap();
    assert_eq!(result["outcome"], "sent");
    assert_eq!((decrypt.num_calls(), publish.num_calls()), (3, 1));
    let retries = logs.lines().into_iter().filter(|l| l["call"] == "kms").count();
    assert_eq!(retries, 2, "each retry is logged");
    logs.assert_clean(&["ZXQ810000", PHONE]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_access_denied_is_not_retried() {
    let decrypt = mock!(aws_sdk_kms::Client::decrypt)
        .sequence()
        .http_status(400, kms_error("AccessDeniedException"))
        .repeatedly()
        .build();
    let (ciphertext, decrypter) = mocked_kms(&decrypt).await;
    let s = sender(decrypter, SnsPublisher::new(sns_clients(&[])), None::<DynamoLedger>);
    assert_eq!(s.handle(&event(&ciphertext)).await.unwrap()["outcome"], "kms_access_denied");
    assert_eq!(decrypt.num_calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_failing_until_the_deadline_is_kms_unavailable_and_retried_by_lambda() {
    let (logs, _guard) = Logs::capture();
    let decrypt = mock!(aws_sdk_kms::Client::decrypt)
        .sequence()
        .http_status(500, kms_error("KMSInternalException"))
        .repeatedly()
        .build();
    let (ciphertext, decrypter) = mocked_kms(&decrypt).await;
    let publish = mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m").build());
    let s = sender(decrypter, SnsPublisher::new(sns_clients(&[&publish])), None::<DynamoLedger>);
    let err = s.handle_until(&event(&ciphertext), Deadline::after(Duration::from_millis(1500))).await.unwrap_err();
    assert_eq!((err.outcome().as_str(), err.is_transient()), ("kms_unavailable", true));
    assert!(decrypt.num_calls() >= 2, "retried in-process: {}", decrypt.num_calls());
    assert_eq!(publish.num_calls(), 0);
    let lines = logs.outcomes();
    assert_eq!((lines.len(), lines[0]["outcome"].as_str()), (1, Some("kms_unavailable")));
    assert_eq!(lines[0]["retry"], true);
    logs.assert_clean(&["ZXQ810000", PHONE]);
}

#[tokio::test]
async fn sns_throttled_three_times_then_fine_sends_once() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(400, sns_status(400, "Throttling"))
        .times(3)
        .output(|| PublishOutput::builder().message_id("m-4").build())
        .build();
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), None::<DynamoLedger>);
    let result = s.handle(&event("AYAD")).await.unwrap();
    assert_eq!((result["outcome"].as_str(), result["messageId"].as_str()), (Some("sent"), Some("m-4")));
    assert_eq!(publish.num_calls(), 4);
}

#[tokio::test]
async fn sns_failing_until_the_deadline_returns_an_error_and_the_retry_sends_once() {
    let table = moto().create_ledger_table().await;
    let ledger =
        || DynamoLedger::new(aws_sdk_dynamodb::Client::new(&moto().sdk_config()), &table, Duration::from_secs(3600));
    let e = event("AYAD-same-message");

    let failing = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, sns_status(500, "InternalError"))
        .repeatedly()
        .build();
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&failing])), ledger());
    let started = Instant::now();
    // 1 s of work after the reserve: even the shortest backoffs (50 + 100 + 200 + 400 + 800 ms) leave no room
    // for all MAX_ATTEMPTS, so only the deadline can end the retries.
    let budget = Duration::from_millis(1500);
    let err = s.handle_until(&e, Deadline::after(budget)).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!((err.outcome().as_str(), err.is_transient()), ("sns_service_error", true));
    assert!(took < budget - RESERVE + Duration::from_millis(250), "returned before the reserve: {took:?}");
    let calls = failing.num_calls() as u32;
    assert!((2..MAX_ATTEMPTS).contains(&calls), "retried in-process until the deadline: {calls}");

    // Lambda's retry: SNS is fine again; the message goes out once, and a third delivery is a duplicate.
    let ok = mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-retry").build());
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&ok])), ledger());
    assert_eq!(s.handle(&e).await.unwrap()["outcome"], "sent");
    assert_eq!(s.handle(&e).await.unwrap()["outcome"], "duplicate");
    assert_eq!(ok.num_calls(), 1);
}

/// SNS clients that talk HTTP to `url` (one SDK attempt, as in the function).
async fn real_clients(url: &str) -> Arc<RegionalClients> {
    let sdk = moto()
        .sdk_config()
        .to_builder()
        .endpoint_url(url)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .build(),
        )
        .build();
    Arc::new(RegionalClients::new(&sdk, None).await)
}

#[tokio::test]
async fn connection_refused_is_retried_then_returned_as_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = sender(
        FixedCode,
        SnsPublisher::new(real_clients(&format!("http://127.0.0.1:{port}")).await),
        None::<DynamoLedger>,
    );
    let (logs, _guard) = Logs::capture();
    let started = Instant::now();
    let err = s.handle_until(&event("AYAD"), Deadline::after(Duration::from_secs(2))).await.unwrap_err();
    assert_eq!(err.outcome(), "sns_unreachable");
    assert!(started.elapsed() < Duration::from_secs(2));
    let line = &logs.outcomes()[0];
    assert_eq!((line["retry"].as_bool(), line["level"].as_str()), (Some(true), Some("ERROR")));
    logs.assert_clean(&["ZXQ800000", PHONE]);
}

#[tokio::test]
async fn an_endpoint_slower_than_the_deadline_is_cut_off_in_time() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().await.push(socket);
        }
    });
    let s = sender(FixedCode, SnsPublisher::new(real_clients(&url).await), None::<DynamoLedger>);
    let started = Instant::now();
    let err = s.handle_until(&event("AYAD"), Deadline::after(Duration::from_millis(1500))).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.outcome(), "sns_unreachable");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn allowed_pools_refuse_others_before_any_kms_call() {
    struct MustNotDecrypt;
    impl Decrypter for MustNotDecrypt {
        async fn decrypt(&self, _: &str, _: &str) -> Result<Zeroizing<String>, DecryptError> {
            panic!("no KMS call for a pool that is not allowed")
        }
    }
    let mut s = sender(MustNotDecrypt, SnsPublisher::new(sns_clients(&[])), None::<DynamoLedger>);
    s.settings.allowed_pools = Some(vec!["us-east-1_Allowed".into()]);
    let result = s.handle(&event("AYAD")).await.unwrap();
    assert_eq!(result["outcome"], "user_pool_not_allowed");
}

#[tokio::test]
async fn warm_up_without_describe_key_permission_is_denied_not_fatal() {
    let denied = mock!(aws_sdk_kms::Client::describe_key)
        .sequence()
        .http_status(400, kms_error("AccessDeniedException"))
        .repeatedly()
        .build();
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, &[&denied]);
    let keyring = esdk::kms_keyring(KEY_ARN, kms.clone()).await.unwrap();
    let decrypter = EsdkDecrypter::new(keyring).await.unwrap().with_key_check(kms, KEY_ARN);
    assert_eq!(decrypter.warm_up().await, Check::Denied("AccessDeniedException".into()));
    assert_eq!(denied.num_calls(), 1);
}

#[tokio::test]
async fn warm_up_gives_up_on_a_silent_endpoint_within_its_budget() {
    // Accepts connections and never answers: init must not wait for it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let s = sender(FixedCode, SnsPublisher::new(real_clients(&url).await), None::<DynamoLedger>);
    let started = Instant::now();
    let report = s.warm_up().await;
    let took = started.elapsed();
    assert_eq!(report.sns, Check::Failed("timeout".into()));
    assert!(took >= warmup::BUDGET && took < warmup::BUDGET + Duration::from_millis(500), "{took:?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused = sender(
        FixedCode,
        SnsPublisher::new(real_clients(&format!("http://127.0.0.1:{port}")).await),
        None::<DynamoLedger>,
    );
    assert_eq!(refused.warm_up().await.sns, Check::Failed("could not connect".into()));
}

/// A mocked DynamoDB: PutItem is throttled `throttled` times, then succeeds; TransactWriteItems succeeds; GetItem finds
/// no record (what a throttled claim would find if it were taken for someone else's). Returns the PutItem and
/// GetItem rules.
fn throttled_ledger(throttled: usize) -> (DynamoLedger, Rule, Rule) {
    let error = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#;
    let ok = || PutItemOutput::builder().build();
    let put = match throttled {
        0 => mock!(aws_sdk_dynamodb::Client::put_item).then_output(ok),
        n => mock!(aws_sdk_dynamodb::Client::put_item)
            .sequence()
            .http_status(400, Some(error.to_owned()))
            .times(n)
            .output(ok)
            .build(),
    };
    let update = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&put, &update, &get], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    (DynamoLedger::new(client, "sms-ledger", Duration::from_secs(3600)), put, get)
}

#[tokio::test]
async fn a_throttled_claim_is_retried() {
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-c").build());
    let (ledger, put, get) = throttled_ledger(2);
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), Some(ledger));
    assert_eq!(s.handle(&event("AYAD-claim")).await.unwrap()["outcome"], "sent");
    assert_eq!((put.num_calls(), get.num_calls(), publish.num_calls()), (3, 0, 1));
    // The adapter on its own (not inside an Option) is a configured ledger too.
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-d").build());
    let (ledger, put, _) = throttled_ledger(2);
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), ledger);
    assert_eq!(s.handle(&event("AYAD-claim")).await.unwrap()["outcome"], "sent");
    assert_eq!((put.num_calls(), publish.num_calls()), (3, 1));
}

#[tokio::test]
async fn out_of_time_with_no_table_blames_no_table() {
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-t").build());
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), None::<DynamoLedger>);
    let (logs, guard) = Logs::capture();
    let err = s.handle_until(&event("AYAD-late"), Deadline::after(Duration::ZERO)).await.unwrap_err();
    drop(guard);
    assert_eq!(err.outcome(), "kms_unavailable");
    assert!(!err.to_string().contains("IDEMPOTENCY_TABLE"), "{err}");
    assert!(!logs.text().contains("IDEMPOTENCY_TABLE"), "{}", logs.text());
    assert!(!logs.text().contains("STATE_TABLE"), "{}", logs.text());
    logs.assert_clean(&["ZXQ800000", PHONE]);

    // With a table, the same lateness is the table's timeout, and naming it is right.
    let (ledger, _, _) = throttled_ledger(0);
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), Some(ledger));
    let err = s.handle_until(&event("AYAD-late"), Deadline::after(Duration::ZERO)).await.unwrap_err();
    assert_eq!(err.outcome(), "idempotency_unavailable");
    assert!(err.to_string().contains("(timeout); check IDEMPOTENCY_TABLE"), "{err}");
    assert_eq!(publish.num_calls(), 0);
}

#[tokio::test]
async fn a_relative_deadline_as_cargo_lambda_watch_sends_it_still_sends() {
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-w").build());
    let (ledger, put, _) = throttled_ledger(0);
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), Some(ledger));
    // `Lambda-Runtime-Deadline-Ms: 30000` (the time left), read as a date.
    let deadline = Deadline::from_system_time(std::time::UNIX_EPOCH + Duration::from_secs(30));
    assert_eq!(s.handle_until(&event("AYAD-watch"), deadline).await.unwrap()["outcome"], "sent");
    assert_eq!((put.num_calls(), publish.num_calls()), (1, 1));
}

const THROTTLED: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#;

#[tokio::test]
async fn a_throttled_complete_is_retried() {
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-u").build());
    let put = mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build());
    // Marking the message sent is one transaction (the ledger record and the user's outstanding message).
    let update = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(400, Some(THROTTLED.to_owned()))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&put, &update], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let ledger = DynamoLedger::new(client, "sms-ledger", Duration::from_secs(3600));
    let s = sender(FixedCode, SnsPublisher::new(sns_clients(&[&publish])), ledger);
    let (logs, guard) = Logs::capture();
    assert_eq!(s.handle(&event("AYAD-complete")).await.unwrap()["outcome"], "sent");
    drop(guard);
    assert_eq!((put.num_calls(), update.num_calls(), publish.num_calls()), (1, 2, 1));
    assert!(!logs.text().contains("could not be updated"), "{}", logs.text());
}

#[tokio::test]
async fn a_throttled_count_is_retried_and_counts_once() {
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().message_id("m-n").build());
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(400, Some(THROTTLED.to_owned()))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&transact], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let counters = DynamoCounters::new(client, "sms-state");
    let s = Sender::new(
        FixedCode,
        SnsPublisher::new(sns_clients(&[&publish])),
        None::<SnsProbe>,
        None::<DynamoLedger>,
        counters,
        common::dev_settings(&[]),
    );
    let (logs, guard) = Logs::capture();
    assert_eq!(s.handle(&event("AYAD-count")).await.unwrap()["outcome"], "sent");
    drop(guard);
    // The default policy's per-number limits are enforced: one transaction, throttled once, then through
    // (the SDK itself makes one attempt: the counters retry).
    assert_eq!((transact.num_calls(), publish.num_calls()), (2, 1));
    assert!(!logs.text().contains("gate_unavailable"), "{}", logs.text());
}
