//! End to end against a real moto server (KMS, SNS, STS): Cognito-shaped ciphertexts made with a KMS keyring
//! in moto go through the real handler, and the SMS moto records is checked.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use base64::Engine;
use cognito_sms_sender::aws::Check;
use cognito_sms_sender::config::{CallerRole, Config};
use cognito_sms_sender::decrypt::esdk::{self, EsdkDecrypter};
use cognito_sms_sender::decrypt::header::data_key_providers;
use cognito_sms_sender::decrypt::{DecryptError, Decrypter};
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::gate::dynamodb::DynamoCounters;
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::publish::sns::{publishing_config, RegionalClients, SnsPublisher};
use cognito_sms_sender::sender::wiring;
use cognito_sms_sender::sender::{Sender, Settings};
use common::{moto, Logs};
use serde_json::Value;

const POOL: &str = "us-east-1_MotoPool1";

fn config(key_arn: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.insert("KMS_KEY_ARN".into(), key_arn.into());
    vars.entry("SMS_PROBE".into()).or_insert_with(|| "off".into());
    Config::from_lookup(|k| vars.get(k).cloned()).expect("valid config")
}

async fn app_for(key_arn: &str) -> wiring::App {
    wiring::build(&config(key_arn, &[]), &moto().sdk_config()).await.expect("app builds")
}

async fn encrypt(key_arn: &str, pool: &str, code: &str, suite: Suite) -> String {
    let kms = aws_sdk_kms::Client::new(&moto().sdk_config());
    let keyring = esdk::kms_keyring(key_arn, kms).await.unwrap();
    encrypt_code(&keyring, pool, code.as_bytes(), suite).await.unwrap()
}

fn event(source: &TriggerSource, pool: &str, phone: &str, code: Option<String>) -> Value {
    let region = pool.split('_').next().unwrap();
    sample_event(source, region, pool, "3f1e6a4c-8b1d-4a5e-9f3a-2c7d9e0b1a2f", phone, code)
}

fn outcome(v: &Value) -> &str {
    v["outcome"].as_str().unwrap_or("")
}

#[tokio::test]
async fn every_trigger_source_sends_the_right_text_to_the_right_number() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    let app = app_for(&key).await;
    let mut secrets = Vec::new();
    for (i, source) in TriggerSource::KNOWN.iter().enumerate() {
        let phone = format!("+1206555{:04}", 1000 + i);
        let (code, shown) = match source {
            TriggerSource::AdminCreateUser => ("ZXQ&lt;Pw&amp;9".to_owned(), "ZXQ<Pw&9".to_owned()),
            _ => (format!("ZXQ{}", 400_000 + i), format!("ZXQ{}", 400_000 + i)),
        };
        let ciphertext =
            if source.carries_code() { Some(encrypt(&key, POOL, &code, Suite::Cognito).await) } else { None };
        let result = app.handle(&event(source, POOL, &phone, ciphertext)).await.expect("not transient");
        assert_eq!(outcome(&result), "sent", "{source}");

        let sent = moto().sms_to(&phone).await;
        assert_eq!(sent.len(), 1, "{source}: exactly one SMS");
        let template = config(&key, &[]).catalogue.template(source, None, None).unwrap().0.clone();
        let expected = template.render(if source.carries_code() { &shown } else { "" }, &phone);
        assert_eq!(sent[0].0, expected.as_str(), "{source}");
        assert_eq!(result["messageId"], sent[0].1.as_str());
        secrets.extend([code, shown, phone]);
    }
    let lines = logs.outcomes();
    assert_eq!(lines.iter().filter(|l| l["outcome"] == "sent").count(), TriggerSource::KNOWN.len());
    assert!(lines.iter().all(|l| l["phone"].as_str().unwrap().starts_with("+1******")));
    assert!(lines.iter().all(|l| l["message_id"].is_string() && l["sns_region"] == "us-east-1"));
    logs.assert_clean(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn seoul_pools_send_from_tokyo_with_one_client_reused() {
    let key = moto().create_key().await;
    let sdk = moto().sdk_config();
    let clients = Arc::new(RegionalClients::new(&sdk, None).await);
    let keyring = esdk::kms_keyring(&key, aws_sdk_kms::Client::new(&sdk)).await.unwrap();
    let sender = Sender::new(
        EsdkDecrypter::new(keyring).await.unwrap(),
        SnsPublisher::new(clients.clone()),
        None::<SnsProbe>,
        None::<DynamoLedger>,
        None::<DynamoCounters>,
        Settings::from_config(&config(&key, &[]), "us-east-1"),
    );
    let pool = "ap-northeast-2_Seoul1";
    for n in 0..2 {
        let phone = format!("+8210555{:04}", n);
        let code = encrypt(&key, pool, "ZXQ777777", Suite::Cognito).await;
        let result = sender.handle(&event(&TriggerSource::Authentication, pool, &phone, Some(code))).await.unwrap();
        assert_eq!(outcome(&result), "sent");
        assert_eq!(moto().sms_to(&phone).await.len(), 1);
    }
    assert_eq!(clients.regions(), ["ap-northeast-1"]);
}

#[tokio::test]
async fn committing_and_non_committing_messages_both_decrypt() {
    let key = moto().create_key().await;
    let app = app_for(&key).await;
    for (n, suite) in [Suite::Cognito, Suite::Committing].into_iter().enumerate() {
        let phone = format!("+4420790{:05}", n);
        let code = encrypt(&key, POOL, "ZXQ135790", suite).await;
        let result = app.handle(&event(&TriggerSource::SignUp, POOL, &phone, Some(code))).await.unwrap();
        assert_eq!(outcome(&result), "sent", "{suite:?}");
        assert!(moto().sms_to(&phone).await[0].0.contains("ZXQ135790"));
    }
}

/// Each refusal: acknowledged (no Lambda retry), one outcome line, no SMS, no secret in the logs.
async fn assert_refused(app: &wiring::App, event: Value, phone: &str, want: &str, secrets: &[&str]) {
    let (logs, _guard) = Logs::capture();
    let result = app.handle(&event).await.expect("refusals are not retried");
    assert_eq!(outcome(&result), want, "{}", logs.text());
    if !phone.is_empty() {
        assert!(moto().sms_to(phone).await.is_empty(), "{want}: nothing may be sent");
    }
    let lines = logs.outcomes();
    assert_eq!(lines.len(), 1, "{want}: one outcome line");
    assert_eq!(lines[0]["outcome"], want);
    assert!(lines[0]["reason"].as_str().is_some_and(|r| r.len() > 10), "{want}: a reason");
    let mut all = vec![phone];
    all.extend_from_slice(secrets);
    logs.assert_clean(&all);
}

#[tokio::test]
async fn codes_for_another_pool_or_key_or_altered_are_refused() {
    let key = moto().create_key().await;
    let other_key = moto().create_key().await;
    let app = app_for(&key).await;
    let code = "ZXQ246810";

    let for_other_pool = encrypt(&key, "us-east-1_OtherPool", code, Suite::Cognito).await;
    let phone = "+12065552001";
    assert_refused(
        &app,
        event(&TriggerSource::SignUp, POOL, phone, Some(for_other_pool)),
        phone,
        "wrong_user_pool",
        &[code],
    )
    .await;

    let under_other_key = encrypt(&other_key, POOL, code, Suite::Cognito).await;
    let phone = "+12065552002";
    assert_refused(
        &app,
        event(&TriggerSource::SignUp, POOL, phone, Some(under_other_key)),
        phone,
        "wrong_kms_key",
        &[code],
    )
    .await;

    // A flipped byte in the header, the encrypted data key, the body and the signature at the end.
    let good =
        base64::engine::general_purpose::STANDARD.decode(encrypt(&key, POOL, code, Suite::Cognito).await).unwrap();
    for (n, at) in [5, 60, good.len() / 2, good.len() - 120, good.len() - 40, good.len() - 1].into_iter().enumerate() {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let phone = format!("+1206555{:04}", 2100 + n);
        let (logs, _guard) = Logs::capture();
        let result = app
            .handle(&event(
                &TriggerSource::SignUp,
                POOL,
                &phone,
                Some(base64::engine::general_purpose::STANDARD.encode(bad)),
            ))
            .await
            .expect("not retried");
        assert_ne!(outcome(&result), "sent", "byte {at} flipped");
        assert!(moto().sms_to(&phone).await.is_empty());
        logs.assert_clean(&[code, &phone]);
    }

    let phone = "+12065552003";
    assert_refused(
        &app,
        event(&TriggerSource::SignUp, POOL, phone, Some("not base64!".into())),
        phone,
        "invalid_base64",
        &[],
    )
    .await;
    let junk = base64::engine::general_purpose::STANDARD.encode(b"AYAD but not really an ESDK message");
    assert_refused(&app, event(&TriggerSource::SignUp, POOL, phone, Some(junk)), phone, "invalid_ciphertext", &[])
        .await;
}

/// `message` with one bit flipped in the middle of its first encrypted data key (the wrapped key itself).
fn with_damaged_data_key(message: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(message).unwrap();
    let keys = data_key_providers(&bytes).expect("a readable header");
    let (_, info) = keys[0];
    // The wrapped key follows the provider info and its own 2-byte length.
    let wrapped_at = info.as_ptr() as usize - bytes.as_ptr() as usize + info.len() + 2;
    let len = usize::from(u16::from_be_bytes([bytes[wrapped_at - 2], bytes[wrapped_at - 1]]));
    bytes[wrapped_at + len / 2] ^= 0x01;
    b64.encode(bytes)
}

#[tokio::test]
async fn a_damaged_data_key_under_this_key_is_a_damaged_code_not_a_wrong_key() {
    let key = moto().create_key().await;
    let app = app_for(&key).await;
    let code = "ZXQ135246";
    let damaged = with_damaged_data_key(&encrypt(&key, POOL, code, Suite::Cognito).await);
    let phone = "+12065552201";
    let e = event(&TriggerSource::SignUp, POOL, phone, Some(damaged));
    assert_refused(&app, e, phone, "invalid_ciphertext", &[code]).await;

    // The development key tells them apart the same way (by its namespace and name).
    let dev_key = [5; 32];
    let dev = EsdkDecrypter::for_dev_key(&dev_key).await.unwrap();
    let keyring = esdk::dev_keyring(&dev_key).await.unwrap();
    let damaged = with_damaged_data_key(&encrypt_code(&keyring, POOL, code.as_bytes(), Suite::Cognito).await.unwrap());
    assert_eq!(dev.decrypt(&damaged, POOL).await.unwrap_err(), DecryptError::InvalidMessage);
}

#[tokio::test]
async fn a_code_cognito_would_never_send_is_refused_not_sent() {
    let key = moto().create_key().await;
    let app = app_for(&key).await;
    let cases: [(&TriggerSource, &[u8], &str); 6] = [
        (&TriggerSource::SignUp, b"", "invalid_code"),
        (&TriggerSource::Authentication, b"ZXQ 12345", "invalid_code"),
        (&TriggerSource::ForgotPassword, b"ZXQ123456\n<a href=x>", "invalid_code"),
        (&TriggerSource::AdminCreateUser, b"", "invalid_code"),
        (&TriggerSource::AdminCreateUser, b"ZXQ\x1b[2Jpass", "invalid_code"),
        (&TriggerSource::SignUp, b"ZXQ\xff\xfe123", "invalid_plaintext"),
    ];
    for (n, (source, plaintext, want)) in cases.into_iter().enumerate() {
        let kms = aws_sdk_kms::Client::new(&moto().sdk_config());
        let keyring = esdk::kms_keyring(&key, kms).await.unwrap();
        let ciphertext = encrypt_code(&keyring, POOL, plaintext, Suite::Cognito).await.unwrap();
        let phone = format!("+1206555{:04}", 2210 + n);
        let shown = String::from_utf8_lossy(plaintext).into_owned();
        assert_refused(&app, event(source, POOL, &phone, Some(ciphertext)), &phone, want, &[&shown]).await;
    }
}

#[tokio::test]
async fn bad_events_are_refused_clearly() {
    let key = moto().create_key().await;
    let app = app_for(&key).await;
    let code = encrypt(&key, POOL, "ZXQ112233", Suite::Cognito).await;

    let phone = "+12065553001";
    assert_refused(&app, event(&TriggerSource::SignUp, POOL, phone, None), phone, "missing_code", &[]).await;

    let mut no_phone = event(&TriggerSource::SignUp, POOL, phone, Some(code.clone()));
    no_phone["request"]["userAttributes"].as_object_mut().unwrap().remove("phone_number");
    assert_refused(&app, no_phone, "", "missing_phone_number", &["ZXQ112233"]).await;

    for bad in ["2065553002", "+1 206 555 3002", "+1206555300212345678"] {
        assert_refused(
            &app,
            event(&TriggerSource::SignUp, POOL, bad, Some(code.clone())),
            "",
            "invalid_phone_number",
            &[bad, "ZXQ112233"],
        )
        .await;
    }

    let unknown = TriggerSource::Unknown("CustomSMSSender_Something".into());
    let phone = "+12065553003";
    assert_refused(&app, event(&unknown, POOL, phone, Some(code.clone())), phone, "unknown_trigger_source", &[]).await;

    let mut v2 = event(&TriggerSource::SignUp, POOL, phone, Some(code.clone()));
    v2["request"]["type"] = "customSMSSenderRequestV2".into();
    assert_refused(&app, v2, phone, "unsupported_request_type", &[]).await;

    assert_refused(&app, serde_json::json!({"hello": "world"}), "", "malformed_event", &[]).await;
}

#[tokio::test]
async fn sns_caller_role_is_assumed_through_sts() {
    let key = moto().create_key().await;
    let sdk = moto().sdk_config();
    let role = CallerRole {
        role_arn: "arn:aws:iam::123456789012:role/CognitoSnsCaller".into(),
        external_id: Some("ext-123".into()),
    };
    let creds = publishing_config(&sdk, Some(&role))
        .await
        .credentials_provider()
        .expect("a provider")
        .provide_credentials()
        .await
        .expect("AssumeRole through moto STS");
    assert_ne!(creds.access_key_id(), "testing", "the role's credentials, not the function's");
    assert!(creds.session_token().is_some() && creds.expiry().is_some());

    let app = wiring::build(&config(&key, &[("SNS_CALLER_ARN", &role.role_arn), ("SNS_EXTERNAL_ID", "ext-123")]), &sdk)
        .await
        .unwrap();
    let phone = "+12065554001";
    let code = encrypt(&key, POOL, "ZXQ998877", Suite::Cognito).await;
    let result = app.handle(&event(&TriggerSource::ForgotPassword, POOL, phone, Some(code))).await.unwrap();
    assert_eq!(outcome(&result), "sent");
    assert_eq!(moto().sms_to(phone).await.len(), 1);
}

#[tokio::test]
async fn warm_up_opens_kms_sns_and_the_ledger_and_says_they_are_ready() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    let table = moto().create_ledger_table().await;
    let app = wiring::build(&config(&key, &[("IDEMPOTENCY_TABLE", &table)]), &moto().sdk_config()).await.unwrap();
    let report = app.warm_up().await;
    assert_eq!([&report.kms, &report.sns, &report.idempotency], [&Check::Ready; 3]);
    assert_eq!(report.sns_region, "us-east-1");
    report.log();
    let line = logs.outcomes().into_iter().find(|l| l["outcome"] == "warm_up").expect("one warm_up line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(
        (line["kms"].as_str(), line["sns"].as_str(), line["idempotency"].as_str()),
        (Some("ready"), Some("ready"), Some("ready"))
    );
    // The warm-up's GetItem key is never written: the table stays empty until an event is sent.
    let items = aws_sdk_dynamodb::Client::new(&moto().sdk_config()).scan().table_name(&table).send().await.unwrap();
    assert_eq!(items.count, 0);
    logs.assert_clean(&[]);
}

#[tokio::test]
async fn warm_up_finds_a_disabled_key_and_a_missing_table_before_any_event() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    // moto's DisableKey wants the key id, not the ARN.
    let key_id = key.rsplit('/').next().unwrap();
    aws_sdk_kms::Client::new(&moto().sdk_config()).disable_key().key_id(key_id).send().await.unwrap();
    let app =
        wiring::build(&config(&key, &[("IDEMPOTENCY_TABLE", "no-such-ledger")]), &moto().sdk_config()).await.unwrap();
    let report = app.warm_up().await;
    assert!(matches!(&report.kms, Check::Unusable(r) if r.contains("Disabled")), "{report:?}");
    assert_eq!(report.idempotency, Check::Unusable("ResourceNotFoundException".into()));
    assert_eq!(report.sns, Check::Ready);
    report.log();
    let line = logs.outcomes().into_iter().find(|l| l["outcome"] == "warm_up").expect("one warm_up line");
    assert_eq!((line["level"].as_str(), line["kms"].as_str()), (Some("WARN"), Some("unusable")));
    assert!(line["kms_reason"].as_str().is_some_and(|r| r.contains("KMS_KEY_ARN")), "{line}");
    logs.assert_clean(&[]);
}

#[tokio::test]
async fn warm_up_skips_what_a_local_run_does_not_use() {
    let outbox = std::env::temp_dir().join(format!("warm-up-outbox-{}", fastrand::u64(..)));
    let mut config = common::dev_config(&[("LOCAL_OUTBOX", outbox.to_str().unwrap())]);
    config.key = cognito_sms_sender::config::KeySource::LocalDev { path: "events/DEV-ONLY-public-test-key.hex".into() };
    let app = wiring::build(&config, &moto().sdk_config()).await.unwrap();
    let report = app.warm_up().await;
    assert_eq!([&report.kms, &report.sns, &report.idempotency], [&Check::Skipped; 3]);
    assert!(!outbox.exists(), "the warm-up writes nothing");
}
