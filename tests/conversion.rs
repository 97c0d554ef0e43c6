//! Conversion feedback against moto's DynamoDB and the End User Messaging emulator: the sender remembers each
//! SMS, a post confirmation or post authentication event converts the user's outstanding message of its kind
//! exactly once (redelivered, concurrent), gives End User Messaging its feedback once, counts it for the gate
//! once, and answers the event unchanged whatever fails.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use cognito_sms_sender::config::Config;
use cognito_sms_sender::conversion::Converter;
use cognito_sms_sender::decrypt::esdk;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::gate::{Conversions, CounterError, Scope};
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::publish::eum::EumPublisher;
use cognito_sms_sender::sender::wiring;
use common::{eum_emulator, moto, Logs};
use serde_json::{json, Value};

const POOL: &str = "us-east-1_ConvPool1";

/// The gate's conversion counter, recording each call; failing with `fail`.
#[derive(Clone, Default)]
struct Recorded {
    calls: Arc<Mutex<Vec<(Scope, SystemTime)>>>,
    fail: bool,
    delay: Duration,
}

impl Conversions for Recorded {
    async fn converted(&self, scope: &Scope, sent_at: SystemTime) -> Result<(), CounterError> {
        tokio::time::sleep(self.delay).await;
        self.calls.lock().unwrap().push((scope.clone(), sent_at));
        match self.fail {
            true => Err(CounterError("ProvisionedThroughputExceededException".into())),
            false => Ok(()),
        }
    }
}

type Handler = Converter<Option<DynamoLedger>, EumPublisher, Recorded>;

/// A deployment: the sender (End User Messaging, with `extra`) and the conversion handler on one new table.
struct Deployment {
    key: String,
    table: String,
    sender: wiring::App,
    converter: Handler,
    gate: Recorded,
}

async fn deployment(extra: &[(&str, &str)]) -> Deployment {
    let key = moto().create_key().await;
    let table = moto().create_ledger_table().await;
    let mut vars: HashMap<String, String> = [
        ("KMS_KEY_ARN", key.as_str()),
        ("STATE_TABLE", table.as_str()),
        ("SMS_PROBE", "off"),
        ("SMS_TRANSPORT", "end-user-messaging"),
        ("SMS_LIMIT_PER_NUMBER", "off"),
        ("SMS_LIMIT_PER_USER", "off"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.retain(|_, v| !v.is_empty());
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("valid config");
    let sdk = eum_emulator().sdk_config().await;
    let sender = wiring::build(&config, &sdk).await.expect("app builds");
    let gate = Recorded::default();
    let converter = converter(&sdk, &table, gate.clone());
    Deployment { key, table, sender, converter, gate }
}

fn converter(sdk: &aws_config::SdkConfig, table: &str, gate: Recorded) -> Handler {
    let ledger = DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), table, Duration::from_secs(86_400));
    Converter::new(Some(ledger), EumPublisher::new(sdk, Default::default()), gate)
}

impl Deployment {
    /// Sends one SMS of `source` to `user` at `phone`; returns its message id.
    async fn send(&self, source: &TriggerSource, user: &str, phone: &str) -> String {
        let kms = aws_sdk_kms::Client::new(&moto().sdk_config());
        let keyring = esdk::kms_keyring(&self.key, kms).await.unwrap();
        let ciphertext = encrypt_code(&keyring, POOL, b"ZXQ4417", Suite::Cognito).await.unwrap();
        let event = sample_event(source, "us-east-1", POOL, user, phone, Some(ciphertext));
        let answer = self.sender.handle(&event).await.unwrap();
        assert_eq!(answer["outcome"], "sent", "{answer}");
        answer["messageId"].as_str().unwrap().to_owned()
    }
}

/// A conversion event as Cognito sends it (the user's attributes carry the number).
fn conversion(trigger: &str, user: &str, phone: &str) -> Value {
    let request = match trigger.starts_with("PostAuthentication") {
        true => json!({"userAttributes": {"sub": user, "phone_number": phone}, "newDeviceUsed": false}),
        false => json!({"userAttributes": {"sub": user, "phone_number": phone, "cognito:user_status": "CONFIRMED"}}),
    };
    json!({
        "version": "1", "region": "us-east-1", "userPoolId": POOL, "userName": user, "triggerSource": trigger,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "request": request, "response": {}
    })
}

fn phone(n: u32) -> String {
    format!("+1206557{n:04}")
}

async fn feedback_for(message_id: &str) -> Vec<Value> {
    eum_emulator().requests("PutMessageFeedback", |b| b["MessageId"] == message_id).await
}

fn outcomes(logs: &Logs) -> Vec<String> {
    logs.outcomes().iter().map(|l| l["outcome"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_confirmed_sign_up_converts_its_message_once_and_gives_feedback_once() {
    let d = deployment(&[("SMS_MESSAGE_FEEDBACK", "on")]).await;
    let (user, to) = ("conv-user-1", phone(1));
    let message_id = d.send(&TriggerSource::SignUp, user, &to).await;
    let sent = eum_emulator().sent_to(&to).await;
    assert_eq!(sent[0]["MessageFeedbackEnabled"], true, "{sent:?}");

    let (logs, _guard) = Logs::capture();
    let event = conversion("PostConfirmation_ConfirmSignUp", user, &to);
    assert_eq!(d.converter.handle(&event).await, event, "the event is answered unchanged");
    assert_eq!(d.converter.handle(&event).await, event, "a redelivery too");
    assert_eq!(outcomes(&logs), ["converted", "already_converted"]);
    let line = &logs.outcomes()[0];
    assert_eq!(line["prefix"], "1206557", "the prefix without its +, never the number: {line}");
    assert_eq!((line["country"].clone(), line["feedback"].clone()), (json!("US"), json!("sent")));
    assert_eq!(line["message_trigger_source"], "CustomSMSSender_SignUp");
    assert_eq!(line["message_id"], message_id.as_str());
    logs.assert_clean(&[&to, user]);

    let feedback = feedback_for(&message_id).await;
    assert_eq!(feedback, [json!({"MessageId": message_id, "MessageFeedbackStatus": "RECEIVED"})]);
    let calls = d.gate.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "counted for the gate once");
    let country = Some("US".parse().unwrap());
    assert_eq!(calls[0].0, Scope { pool: POOL.into(), country, prefix: "+1206557".into() });
    assert!(calls[0].1.elapsed().unwrap() < Duration::from_secs(60), "sent_at is the send's time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conversion_events_convert_once() {
    let d = Arc::new(deployment(&[("SMS_MESSAGE_FEEDBACK", "on")]).await);
    let (user, to) = ("conv-user-2", phone(2));
    let message_id = d.send(&TriggerSource::Authentication, user, &to).await;
    let event = conversion("PostAuthentication_Authentication", user, &to);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (d, event) = (d.clone(), event.clone());
            tokio::spawn(async move { d.converter.handle(&event).await })
        })
        .collect();
    for run in runs {
        assert_eq!(run.await.unwrap(), event);
    }
    assert_eq!(feedback_for(&message_id).await.len(), 1, "feedback once");
    assert_eq!(d.gate.calls.lock().unwrap().len(), 1, "counted once");
    let (logs, _guard) = Logs::capture();
    d.converter.handle(&event).await;
    assert_eq!(outcomes(&logs), ["already_converted"]);
}

#[tokio::test]
async fn no_conversion_without_an_outstanding_message_of_the_matching_kind() {
    let d = deployment(&[]).await;
    let (user, to) = ("conv-user-3", phone(3));
    let (logs, _guard) = Logs::capture();
    d.converter.handle(&conversion("PostAuthentication_Authentication", user, &to)).await;
    let forgot = d.send(&TriggerSource::ForgotPassword, user, &to).await;
    d.converter.handle(&conversion("PostConfirmation_ConfirmSignUp", user, &to)).await;
    d.converter.handle(&conversion("PostConfirmation_ConfirmForgotPassword", "someone-else", &to)).await;
    d.converter.handle(&conversion("PostConfirmation_ConfirmForgotPassword", user, &to)).await;
    // An attribute verification code is remembered but no event converts it.
    d.send(&TriggerSource::VerifyUserAttribute, user, &to).await;
    d.converter.handle(&conversion("PostAuthentication_Authentication", user, &to)).await;
    let expected = [
        "no_outstanding_message",
        "sent",
        "no_outstanding_message",
        "no_outstanding_message",
        "converted",
        "sent",
        "no_outstanding_message",
    ];
    assert_eq!(outcomes(&logs), expected);
    // Feedback off (the default): not asked for, not given.
    let sent = eum_emulator().sent_to(&to).await;
    assert!(sent.iter().all(|r| r.get("MessageFeedbackEnabled").is_none()), "{sent:?}");
    assert!(feedback_for(&forgot).await.is_empty());
    assert_eq!(d.gate.calls.lock().unwrap().len(), 1);
    assert_eq!(logs.outcomes()[4]["feedback"], Value::Null);
}

#[tokio::test]
async fn the_ledger_remembers_each_sms_without_the_number() {
    let d = deployment(&[]).await;
    let (user, to) = ("conv-user-4", phone(4));
    let (logs, guard) = Logs::capture();
    let message_id = d.send(&TriggerSource::SignUp, user, &to).await;
    drop(guard);
    let sent = logs.outcomes().pop().unwrap();
    assert_eq!((sent["outcome"].clone(), sent["prefix"].clone()), (json!("sent"), json!("1206557")), "{sent}");
    let items = aws_sdk_dynamodb::Client::new(&moto().sdk_config())
        .scan()
        .table_name(&d.table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let remembered: Vec<_> = items.iter().filter(|i| i.contains_key("message_id")).collect();
    assert_eq!(remembered.len(), 2, "the message's record and the user's outstanding message: {items:?}");
    for item in remembered {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        assert_eq!((text("pool"), text("country"), text("prefix")), (POOL.into(), "US".into(), "+1206557".into()));
        assert_eq!(
            (text("trigger_source"), text("transport")),
            ("CustomSMSSender_SignUp".into(), "end-user-messaging".into())
        );
        assert_eq!((text("message_id"), text("sms_region")), (message_id.clone(), "us-east-1".into()));
        assert_eq!(text("user").len(), 32, "a hash of the pool and user");
        for k in ["sent_at", "valid_until", "expires_at"] {
            assert!(item.get(k).and_then(|v| v.as_n().ok()).is_some(), "{k}: {item:?}");
        }
        let all = format!("{item:?}");
        assert!(!all.contains(&to[2..]) && !all.contains(user), "{all}");
    }
}

/// Every failure ends `conversion_failed`, answered unchanged within the budget.
async fn fails_unchanged(converter: &Handler, event: &Value, reason: &str) -> Value {
    let (logs, _guard) = Logs::capture();
    let started = Instant::now();
    assert_eq!(converter.handle(event).await, *event);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    let line = logs.outcomes().pop().unwrap();
    assert_eq!(line["outcome"], "conversion_failed", "{line}");
    assert_eq!(line["level"], "ERROR");
    assert!(line["reason"].as_str().unwrap().contains(reason), "{line}");
    line
}

#[tokio::test]
async fn the_answer_is_unchanged_when_dynamodb_or_end_user_messaging_fail() {
    let d = deployment(&[("SMS_MESSAGE_FEEDBACK", "on")]).await;
    let sdk = eum_emulator().sdk_config().await;
    let (user, to) = ("conv-user-5", phone(5));
    let event = conversion("PostConfirmation_ConfirmSignUp", user, &to);

    let missing = converter(&sdk, "no-such-table", Recorded::default());
    fails_unchanged(&missing, &event, "ResourceNotFoundException").await;

    // DynamoDB not answering at all (nothing listens on the port).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(format!("http://{closed}")).build();
    let ledger = DynamoLedger::new(aws_sdk_dynamodb::Client::from_conf(down), &d.table, Duration::from_secs(60));
    let unreachable = Converter::new(Some(ledger), EumPublisher::new(&sdk, Default::default()), Recorded::default());
    fails_unchanged(&unreachable, &event, "the state table could not be read").await;

    // End User Messaging failing the feedback: the conversion stands, and is not made twice.
    let message_id = d.send(&TriggerSource::SignUp, user, &to).await;
    eum_emulator().fail("PutMessageFeedback", "InternalServerException", None, &[], 1).await;
    let line = fails_unchanged(&d.converter, &event, "sms-voice:PutMessageFeedback").await;
    assert_eq!((line["converted"].clone(), line["feedback"].clone()), (json!(true), json!("failed")));
    assert_eq!(d.gate.calls.lock().unwrap().len(), 1, "the gate counts it all the same");
    let (logs, _guard) = Logs::capture();
    d.converter.handle(&event).await;
    assert_eq!(outcomes(&logs), ["already_converted"]);
    assert_eq!(feedback_for(&message_id).await.len(), 1, "one attempt, not repeated");
}

#[tokio::test]
async fn a_gate_that_fails_or_is_slow_still_gets_the_answer_out_in_time() {
    let d = deployment(&[]).await;
    let sdk = eum_emulator().sdk_config().await;
    let (user, to) = ("conv-user-6", phone(6));
    let event = conversion("PostAuthentication_Authentication", user, &to);
    d.send(&TriggerSource::Authentication, user, &to).await;
    let failing = converter(&sdk, &d.table, Recorded { fail: true, ..Recorded::default() });
    fails_unchanged(&failing, &event, "the abuse gate could not count it").await;

    d.send(&TriggerSource::Authentication, user, &to).await;
    let slow = converter(&sdk, &d.table, Recorded { delay: Duration::from_secs(3), ..Recorded::default() });
    let line = fails_unchanged(&slow, &event, "no answer within 1000 ms").await;
    assert_eq!(line["converted"], true, "{line}");
}

#[tokio::test]
async fn a_code_past_its_validity_is_not_converted() {
    use cognito_sms_sender::ledger::{Conversion, Kind, Ledger, SentMessage};
    let table = moto().create_ledger_table().await;
    let ledger =
        DynamoLedger::new(aws_sdk_dynamodb::Client::new(&moto().sdk_config()), &table, Duration::from_secs(600));
    let sent_at = SystemTime::now() - Duration::from_secs(3600);
    let sent = SentMessage {
        pool: POOL.into(),
        user: "0123456789abcdef0123456789abcdef".into(),
        trigger_source: "CustomSMSSender_Authentication".into(),
        country: None,
        prefix: "+4474001".into(),
        transport: "sns".into(),
        region: "eu-west-2".into(),
        message_id: "m-1".into(),
        sent_at,
        valid_until: sent_at + Duration::from_secs(900),
        feedback: false,
        kind: Some(Kind::Authentication),
    };
    ledger.complete("sms#old", &sent).await.unwrap();
    let now = SystemTime::now();
    assert_eq!(ledger.convert(&sent.user, Kind::Authentication, now).await, Ok(Conversion::NoOutstandingMessage));
    // Within its validity it converts, with what was remembered (no country stays none).
    let fresh = SentMessage { valid_until: now + Duration::from_secs(60), ..sent.clone() };
    ledger.complete("sms#new", &fresh).await.unwrap();
    let converted = ledger.convert(&sent.user, Kind::Authentication, now).await.unwrap();
    let expected = SentMessage {
        sent_at: UNIX_EPOCH + Duration::from_secs(epoch(sent_at)),
        valid_until: UNIX_EPOCH + Duration::from_secs(epoch(fresh.valid_until)),
        ..fresh
    };
    assert_eq!(converted, Conversion::Converted(Box::new(expected)));
    assert_eq!(ledger.convert(&sent.user, Kind::Authentication, now).await, Ok(Conversion::AlreadyConverted));
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn a_conversion_counts_for_the_low_conversion_rule_in_the_unit_its_code_was_sent_in() {
    let d = deployment(&[("SMS_QUARANTINE", "on")]).await;
    let (user, to) = ("conv-user-q", phone(9));
    d.send(&TriggerSource::SignUp, user, &to).await;
    // The conversion handler as the bootstrap builds it: the ledger and the gate's counters in the state table.
    let vars = [("STATE_TABLE", d.table.as_str()), ("LOCAL_DEV_KEY_FILE", "unused"), ("SMS_QUARANTINE", "on")];
    let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    let sdk = eum_emulator().sdk_config().await;
    let (ledger, counters) = cognito_sms_sender::bootstrap::state(&sdk, config.state_table.as_ref().unwrap());
    let converter = Converter::new(Some(ledger), EumPublisher::new(&sdk, Default::default()), Some(counters));
    let event = conversion("PostConfirmation_ConfirmSignUp", user, &to);
    assert_eq!(converter.handle(&event).await, event);

    let item = aws_sdk_dynamodb::Client::new(&moto().sdk_config())
        .get_item()
        .table_name(&d.table)
        .key("pk", AttributeValue::S(cognito_sms_sender::gate::watch_key(POOL, "+1206557")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    // Counts per unit are attributes named by a letter and the unit's number.
    let unit_of = |k: &str, letter: char| {
        k.strip_prefix(letter).filter(|u| u.chars().all(|c| c.is_ascii_digit()) && !u.is_empty()).map(str::to_owned)
    };
    let count = |letter: char| -> u64 {
        item.iter()
            .filter(|(k, _)| unit_of(k, letter).is_some())
            .map(|(_, v)| v.as_n().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    // One code sent and one entered, in the same unit (`s<unit>` and `c<unit>`).
    assert_eq!((count('s'), count('c')), (1, 1), "{item:?}");
    let sent_unit = item.keys().find_map(|k| unit_of(k, 's')).unwrap();
    assert!(item.contains_key(&format!("c{sent_unit}")), "{item:?}");
}
