//! Bad input, tried: malformed events, broken ciphertexts and hostile values each get one clear logged
//! outcome, no panic, no SMS, and no code, password or full number in any log line.

mod common;

use std::sync::Mutex;

use aws_esdk::material_providers::types::keyring::KeyringRef;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cognito_sms_sender::decrypt::esdk::{self, EsdkDecrypter};
use cognito_sms_sender::destination::phone::PhoneNumber;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::gate::dynamodb::DynamoCounters;
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::publish::{MessageAttributes, PublishError, Publisher};
use cognito_sms_sender::sender::Sender;
use common::Logs;
use serde_json::{json, Value};

const POOL: &str = "us-east-1_BadInput";
const PHONE: &str = "+12065559000";
const CODE: &str = "ZXQ900000";

/// Records what would have been sent.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl Publisher for Recorder {
    async fn publish(
        &self,
        _: &str,
        phone: &PhoneNumber,
        body: &str,
        _: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        self.0.lock().unwrap().push((phone.as_e164().to_owned(), body.to_owned()));
        Ok("recorded".into())
    }
}

struct Fixture {
    sender: Sender<EsdkDecrypter, Recorder, Option<SnsProbe>, Option<DynamoLedger>, Option<DynamoCounters>>,
    good_code: String,
    other_key_code: String,
    other_pool_code: String,
    committing_other_pool: String,
}

async fn fixture() -> Fixture {
    let keyring = esdk::dev_keyring(&[1; 32]).await.unwrap();
    let other = raw_keyring("another-namespace", "another-key").await;
    Fixture {
        good_code: encrypt_code(&keyring, POOL, CODE.as_bytes(), Suite::Cognito).await.unwrap(),
        other_key_code: encrypt_code(&other, POOL, CODE.as_bytes(), Suite::Cognito).await.unwrap(),
        other_pool_code: encrypt_code(&keyring, "us-east-1_Other", CODE.as_bytes(), Suite::Cognito).await.unwrap(),
        committing_other_pool: encrypt_code(&keyring, "us-east-1_Other", CODE.as_bytes(), Suite::Committing)
            .await
            .unwrap(),
        sender: Sender::new(
            EsdkDecrypter::for_dev_key(&[1; 32]).await.unwrap(),
            Recorder::default(),
            None,
            None,
            None,
            common::dev_settings(&[]),
        ),
    }
}

/// A raw AES keyring under another name than the development key's: a message made with it names another key.
async fn raw_keyring(namespace: &str, name: &str) -> KeyringRef {
    let mpl = aws_esdk::material_providers::client::Client::from_conf(
        aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig::builder()
            .build()
            .unwrap(),
    )
    .unwrap();
    mpl.create_raw_aes_keyring()
        .key_namespace(namespace)
        .key_name(name)
        .wrapping_key(aws_smithy_types::Blob::new(vec![2; 32]))
        .wrapping_alg(aws_esdk::material_providers::types::AesWrappingAlg::AlgAes256GcmIv12Tag16)
        .send()
        .await
        .unwrap()
}

fn event_with(code: Option<&str>) -> Value {
    sample_event(&TriggerSource::SignUp, "us-east-1", POOL, "dave", PHONE, code.map(str::to_owned))
}

fn edit(code: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut v = event_with(Some(code));
    f(&mut v);
    v
}

/// Byte offsets of each part of a framed, signed ESDK message (format 1) holding one final frame.
struct Parts {
    message_id: usize,
    context: usize,
    edk_provider_info: usize,
    edk_ciphertext: usize,
    header_tag: usize,
    frame_iv: usize,
    frame_content: usize,
    frame_tag: usize,
    signature: usize,
}

fn parts(m: &[u8]) -> Parts {
    let u16_at = |i: usize| u16::from_be_bytes([m[i], m[i + 1]]) as usize;
    assert_eq!(&m[..4], [0x01, 0x80, 0x03, 0x78], "format 1, suite 0x0378");
    let context = 22;
    let mut pos = 22 + u16_at(20);
    let edk_count = u16_at(pos);
    pos += 2;
    assert_eq!(edk_count, 1);
    pos += 2 + u16_at(pos); // provider id
    let edk_provider_info = pos + 2;
    pos += 2 + u16_at(pos);
    let edk_ciphertext = pos + 2;
    pos += 2 + u16_at(pos);
    pos += 1 + 4 + 1 + 4; // content type, reserved, IV length, frame length
    let header_tag = pos + 12;
    let body = header_tag + 16;
    // Final frame: end marker, sequence number, IV, content length, content, tag.
    let frame_iv = body + 8;
    let len = u32::from_be_bytes(m[body + 20..body + 24].try_into().unwrap()) as usize;
    let frame_content = body + 24;
    let frame_tag = frame_content + len;
    let signature = frame_tag + 16 + 2;
    assert!(signature < m.len());
    Parts {
        message_id: 4,
        context,
        edk_provider_info,
        edk_ciphertext,
        header_tag,
        frame_iv,
        frame_content,
        frame_tag,
        signature,
    }
}

fn flip(code: &str, at: usize) -> String {
    let mut m = B64.decode(code).unwrap();
    m[at] ^= 0x01;
    B64.encode(m)
}

fn cases(f: &Fixture) -> Vec<(&'static str, Value, &'static str)> {
    let good = f.good_code.as_str();
    let bytes = B64.decode(good).unwrap();
    let p = parts(&bytes);
    let big = "9".repeat(1 << 20);
    let many: serde_json::Map<String, Value> = (0..10_000).map(|i| (format!("custom:a{i}"), json!("x"))).collect();
    vec![
        ("JSON null", json!(null), "malformed_event"),
        ("a number", json!(42), "malformed_event"),
        ("a string", json!("CustomSMSSender_SignUp"), "malformed_event"),
        ("an array", json!([event_with(Some(good))]), "malformed_event"),
        ("an empty object", json!({}), "malformed_event"),
        ("request is null", edit(good, |v| v["request"] = json!(null)), "malformed_event"),
        ("request is a string", edit(good, |v| v["request"] = json!("x")), "malformed_event"),
        (
            "userAttributes is a list",
            edit(good, |v| v["request"]["userAttributes"] = json!([PHONE])),
            "malformed_event",
        ),
        (
            "phone_number is a number",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!(12065559000u64)),
            "malformed_event",
        ),
        ("code is a number", edit(good, |v| v["request"]["code"] = json!(123456)), "malformed_event"),
        (
            "clientMetadata is a string",
            edit(good, |v| v["request"]["clientMetadata"] = json!("{####}")),
            "malformed_event",
        ),
        ("triggerSource is a number", edit(good, |v| v["triggerSource"] = json!(5)), "malformed_event"),
        (
            "triggerSource missing",
            edit(good, |v| {
                v.as_object_mut().unwrap().remove("triggerSource");
            }),
            "missing_trigger_source",
        ),
        ("triggerSource empty", edit(good, |v| v["triggerSource"] = json!("")), "unknown_trigger_source"),
        (
            "unknown trigger",
            edit(good, |v| v["triggerSource"] = json!("CustomSMSSender_Nope")),
            "unknown_trigger_source",
        ),
        (
            "email trigger",
            edit(good, |v| v["triggerSource"] = json!("CustomEmailSender_SignUp")),
            "unknown_trigger_source",
        ),
        ("100 KB trigger", edit(good, |v| v["triggerSource"] = json!("T".repeat(100_000))), "unknown_trigger_source"),
        (
            "request.type missing",
            edit(good, |v| {
                v["request"].as_object_mut().unwrap().remove("type");
            }),
            "unsupported_request_type",
        ),
        (
            "email request type",
            edit(good, |v| v["request"]["type"] = json!("customEmailSenderRequestV1")),
            "unsupported_request_type",
        ),
        (
            "userPoolId missing",
            edit(good, |v| {
                v.as_object_mut().unwrap().remove("userPoolId");
            }),
            "missing_user_pool_id",
        ),
        ("userPoolId empty", edit(good, |v| v["userPoolId"] = json!("")), "missing_user_pool_id"),
        (
            "hostile userPoolId",
            edit(good, |v| v["userPoolId"] = json!("us-east-1_X\n{\"outcome\":\"sent\"}")),
            "wrong_user_pool",
        ),
        (
            "phone missing",
            edit(good, |v| {
                v["request"]["userAttributes"].as_object_mut().unwrap().remove("phone_number");
            }),
            "missing_phone_number",
        ),
        (
            "phone empty",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("")),
            "missing_phone_number",
        ),
        (
            "10,000 attributes, no phone",
            edit(good, |v| v["request"]["userAttributes"] = Value::Object(many.clone())),
            "missing_phone_number",
        ),
        (
            "phone without +",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("12065559000")),
            "invalid_phone_number",
        ),
        (
            "phone with spaces",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("+1 206 555 9000")),
            "invalid_phone_number",
        ),
        (
            "phone with dashes",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("+1-206-555-9000")),
            "invalid_phone_number",
        ),
        (
            "phone 16 digits",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("+1206555900012345")),
            "invalid_phone_number",
        ),
        (
            "phone with letters",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("+1206555CALL")),
            "invalid_phone_number",
        ),
        (
            "phone with newline",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("+12065559000\n")),
            "invalid_phone_number",
        ),
        (
            "phone in full-width digits",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!("+１２０６５５５９０００")),
            "invalid_phone_number",
        ),
        (
            "1 MB phone",
            edit(good, |v| v["request"]["userAttributes"]["phone_number"] = json!(format!("+{big}"))),
            "invalid_phone_number",
        ),
        ("code null", event_with(None), "missing_code"),
        ("code empty", event_with(Some("")), "missing_code"),
        ("code not base64", event_with(Some("!!not base64!!")), "invalid_base64"),
        ("code url-safe base64", event_with(Some(&good.replace('+', "-").replace('/', "_"))), "invalid_base64"),
        ("1 MB base64 garbage", event_with(Some(&B64.encode(vec![0xA5u8; 1 << 20]))), "invalid_ciphertext"),
        ("code is base64 of text", event_with(Some(&B64.encode(CODE))), "invalid_ciphertext"),
        ("truncated to half", event_with(Some(&B64.encode(&bytes[..bytes.len() / 2]))), "invalid_ciphertext"),
        ("truncated by one byte", event_with(Some(&B64.encode(&bytes[..bytes.len() - 1]))), "invalid_ciphertext"),
        ("flipped bit: header message id", event_with(Some(&flip(good, p.message_id))), "invalid_ciphertext"),
        ("flipped bit: header encryption context", event_with(Some(&flip(good, p.context + 4))), "invalid_ciphertext"),
        ("flipped bit: EDK provider info", event_with(Some(&flip(good, p.edk_provider_info))), "wrong_kms_key"),
        // The message still names this function's key: damage, not a wrong key.
        ("flipped bit: encrypted data key", event_with(Some(&flip(good, p.edk_ciphertext + 3))), "invalid_ciphertext"),
        ("flipped bit: header auth tag", event_with(Some(&flip(good, p.header_tag))), "invalid_ciphertext"),
        ("flipped bit: frame IV", event_with(Some(&flip(good, p.frame_iv))), "invalid_ciphertext"),
        ("flipped bit: frame content", event_with(Some(&flip(good, p.frame_content))), "invalid_ciphertext"),
        ("flipped bit: frame tag", event_with(Some(&flip(good, p.frame_tag))), "invalid_ciphertext"),
        ("flipped bit: signature", event_with(Some(&flip(good, p.signature + 10))), "invalid_ciphertext"),
        ("another key's ciphertext", event_with(Some(&f.other_key_code)), "wrong_kms_key"),
        ("another pool's context", event_with(Some(&f.other_pool_code)), "wrong_user_pool"),
        ("committing message for another pool", event_with(Some(&f.committing_other_pool)), "wrong_user_pool"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_malformed_input_gets_one_clear_outcome_and_no_sms() {
    let f = fixture().await;
    let cases = cases(&f);
    // Exactly the cases listed, each under its own name: one lost or merged away fails here.
    let names: std::collections::HashSet<_> = cases.iter().map(|(name, _, _)| *name).collect();
    assert_eq!((cases.len(), names.len()), (53, 53), "inputs, distinct names");
    let mut mismatches = Vec::new();
    for (name, payload, want) in &cases {
        let (logs, guard) = Logs::capture();
        let result = f.sender.handle(payload).await;
        drop(guard);
        let got = match &result {
            Ok(v) => v["outcome"].as_str().unwrap_or("").to_owned(),
            Err(e) => format!("retry:{}", e.outcome()),
        };
        if got != *want {
            mismatches.push(format!("{name}: got {got}, want {want}"));
        }
        let lines = logs.outcomes();
        assert_eq!(lines.len(), 1, "{name}: one outcome line");
        assert!(lines[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}: a reason");
        assert!(logs.text().len() < 4096, "{name}: a hostile value must not blow up the log line");
        logs.assert_clean(&[CODE, PHONE]);
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(f.sender.publisher.0.lock().unwrap().is_empty(), "nothing may be sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_and_client_metadata_are_printed_never_expanded() {
    let f = fixture().await;
    let admin = encrypt_code(&esdk::dev_keyring(&[1; 32]).await.unwrap(), POOL, b"ZXQ&lt;tmp&gt;", Suite::Cognito)
        .await
        .unwrap();
    let mut e =
        sample_event(&TriggerSource::AdminCreateUser, "us-east-1", POOL, "{####}<####>{username}", PHONE, Some(admin));
    e["request"]["clientMetadata"] =
        json!({"{####}": "{####}", "message": "Send money to +15550000000", "locale": "{username}"});
    e["region"] = json!("../../etc/passwd");
    let (logs, guard) = Logs::capture();
    let result = f.sender.handle(&e).await.unwrap();
    drop(guard);
    assert_eq!(result["outcome"], "sent");
    let sent = f.sender.publisher.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].1,
        "You have been invited. Sign in as {####}<####>{username} with temporary password ZXQ<tmp> and choose a new password."
    );
    assert!(!sent[0].1.contains("money"), "clientMetadata is never interpolated");
    // The hostile Region falls back to the pool id's Region.
    assert_eq!(logs.outcomes()[0]["sns_region"], "us-east-1");
    logs.assert_clean(&["ZXQ<tmp>", "ZXQ&lt;tmp&gt;", PHONE]);
}
