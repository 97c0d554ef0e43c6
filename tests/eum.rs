//! End to end through AWS End User Messaging SMS: the real handler and the real SDK, speaking the real wire
//! protocol to the local emulator (tests/eum_emulator.py, reached through `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2`),
//! with KMS and SNS in moto. Every `SendTextMessage` field is checked, and every error the service can answer.

mod common;

use std::collections::HashMap;

use cognito_sms_sender::aws::Check;
use cognito_sms_sender::config::Config;
use cognito_sms_sender::decrypt::esdk;
use cognito_sms_sender::dev::encrypt::{encrypt_code, Suite};
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::sender::wiring;
use common::{eum_emulator, moto, Logs};
use serde_json::{json, Value};

const POOL: &str = "us-east-1_EumPool1";

/// An error the emulator answers with (exception, reason, fields named), the outcome it must end with, and a
/// word of the remedy its log line must give.
type Refusal<'a> = (&'a str, Option<&'a str>, &'a [&'a str], &'a str, &'a str);

/// The settings of a deployment through End User Messaging, with `extra` on top.
fn config(key_arn: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("KMS_KEY_ARN", key_arn),
        ("SMS_PROBE", "off"),
        ("SMS_TRANSPORT", "end-user-messaging"),
        ("ORIGINATION_IDENTITY", "pool-0123456789abcdef0123456789abcdef"),
        ("SMS_CONFIGURATION_SET", "otp-events"),
        ("SMS_PROTECT_CONFIGURATION_ID", "protect-0123456789abcdef0123456789abcdef"),
        ("MAX_PRICE", "0.50"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.retain(|_, v| !v.is_empty());
    Config::from_lookup(|k| vars.get(k).cloned()).expect("valid config")
}

async fn app(key_arn: &str, extra: &[(&str, &str)]) -> wiring::App {
    wiring::build(&config(key_arn, extra), &eum_emulator().sdk_config().await).await.expect("app builds")
}

async fn event(key_arn: &str, source: &TriggerSource, phone: &str, code: &str) -> Value {
    let kms = aws_sdk_kms::Client::new(&moto().sdk_config());
    let keyring = esdk::kms_keyring(key_arn, kms).await.unwrap();
    let ciphertext = encrypt_code(&keyring, POOL, code.as_bytes(), Suite::Cognito).await.unwrap();
    sample_event(source, "us-east-1", POOL, "3f1e6a4c-8b1d-4a5e-9f3a-2c7d9e0b1a2f", phone, Some(ciphertext))
}

/// A number of its own for each case, so the tests of this binary never see each other's requests.
fn phone(n: u32) -> String {
    format!("+1206556{n:04}")
}

#[tokio::test]
async fn every_request_field_is_sent_from_the_settings() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    let app = app(&key, &[]).await;
    let (to, code) = (phone(1), "ZXQ731904");
    let result = app.handle(&event(&key, &TriggerSource::SignUp, &to, code).await).await.unwrap();
    assert_eq!(result["outcome"], "sent");

    let sent = eum_emulator().sent_to(&to).await;
    assert_eq!(sent.len(), 1, "one SendTextMessage, nothing through SNS: {sent:?}");
    assert!(moto().sms_to(&to).await.is_empty());
    let r = &sent[0];
    let template = config(&key, &[]).catalogue.template(&TriggerSource::SignUp, None, None).unwrap().0.clone();
    assert_eq!(r["MessageBody"], template.render(code, &to).as_str());
    assert_eq!(r["OriginationIdentity"], "pool-0123456789abcdef0123456789abcdef");
    assert_eq!(r["ConfigurationSetName"], "otp-events");
    assert_eq!(r["ProtectConfigurationId"], "protect-0123456789abcdef0123456789abcdef");
    assert_eq!(r["MessageType"], "TRANSACTIONAL");
    assert_eq!(r["MaxPrice"], "0.5");
    assert_eq!(r["TimeToLive"], 86_400, "sign-up codes are valid for 24 hours");
    assert_eq!(r["Context"], json!({"TriggerSource": "CustomSMSSender_SignUp", "UserPoolId": POOL}));
    assert!(r.get("DryRun").is_none() && r.get("DestinationCountryParameters").is_none(), "{r}");
    assert!(!r["Context"].to_string().contains(code));

    // An MFA code is only worth delivering for three minutes.
    let to = phone(2);
    app.handle(&event(&key, &TriggerSource::Authentication, &to, "ZXQ55").await).await.unwrap();
    assert_eq!(eum_emulator().sent_to(&to).await[0]["TimeToLive"], 180);
    logs.assert_clean(&[code, "ZXQ55"]);
}

#[tokio::test]
async fn ttl_override_dry_run_and_promotional_type() {
    let key = moto().create_key().await;
    let extra = [("SMS_TTL_SECONDS", "600"), ("SMS_DRY_RUN", "on"), ("SMS_TYPE", "Promotional"), ("MAX_PRICE", "2")];
    let app = app(&key, &extra).await;
    let to = phone(3);
    let result = app.handle(&event(&key, &TriggerSource::ForgotPassword, &to, "ZXQ1").await).await.unwrap();
    assert_eq!(result["outcome"], "sent");
    let r = &eum_emulator().sent_to(&to).await[0];
    assert_eq!((r["TimeToLive"].clone(), r["DryRun"].clone()), (json!(600), json!(true)));
    assert_eq!((r["MessageType"].clone(), r["MaxPrice"].clone()), (json!("PROMOTIONAL"), json!("2.0")));
}

#[tokio::test]
async fn the_routing_table_chooses_the_transport_and_its_settings_per_country() {
    let key = moto().create_key().await;
    let routes = std::env::temp_dir().join(format!("eum-routes-{}.toml", fastrand::u64(..)));
    std::fs::write(
        &routes,
        r#"
[default]
transport = "sns"

[countries.IN]
transport = "end-user-messaging"
origination_identity = "senderid-EXMPLE"
configuration_set = "arn:aws:sms-voice:us-east-1:111122223333:configuration-set/india"
entity_id = "1101456789012345678"
template_id = "1107160000000000001"
template_ids = { ForgotPassword = "1107160000000000002" }
"#,
    )
    .unwrap();
    let path = routes.to_str().unwrap();
    let app = app(&key, &[("SMS_TRANSPORT", ""), ("SMS_ROUTES_FILE", path)]).await;
    let india = "+919876500001";
    app.handle(&event(&key, &TriggerSource::ForgotPassword, india, "ZXQ2").await).await.unwrap();
    let r = &eum_emulator().sent_to(india).await[0];
    assert_eq!(r["OriginationIdentity"], "senderid-EXMPLE");
    assert_eq!(r["ConfigurationSetName"], "arn:aws:sms-voice:us-east-1:111122223333:configuration-set/india");
    assert_eq!(
        r["DestinationCountryParameters"],
        json!({"IN_ENTITY_ID": "1101456789012345678", "IN_TEMPLATE_ID": "1107160000000000002"})
    );
    // Everyone else goes through SNS, as the default route says.
    let germany = "+4915123400001";
    let result = app.handle(&event(&key, &TriggerSource::SignUp, germany, "ZXQ3").await).await.unwrap();
    assert_eq!(result["outcome"], "sent");
    assert_eq!(moto().sms_to(germany).await.len(), 1);
    assert!(eum_emulator().sent_to(germany).await.is_empty());
    std::fs::remove_file(routes).ok();
}

#[tokio::test]
async fn every_refusal_has_its_outcome_and_is_not_retried() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    let app = app(&key, &[]).await;
    let cases: [Refusal; 13] = [
        (
            "ServiceQuotaExceededException",
            Some("MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"),
            &[],
            "sms_spend_limit_reached",
            "raise the text spend limit",
        ),
        (
            "ConflictException",
            Some("DESTINATION_PHONE_NUMBER_OPTED_OUT"),
            &[],
            "sms_opted_out",
            "only the user can opt back in",
        ),
        (
            "ConflictException",
            Some("DESTINATION_PHONE_NUMBER_NOT_VERIFIED"),
            &[],
            "sms_destination_not_verified",
            "request production access",
        ),
        (
            "ConflictException",
            Some("DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION"),
            &[],
            "sms_destination_blocked",
            "SMS_PROTECT_CONFIGURATION_ID",
        ),
        (
            "ConflictException",
            Some("DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE"),
            &[],
            "sms_destination_blocked",
            "protect configuration",
        ),
        (
            "ValidationException",
            Some("DESTINATION_COUNTRY_BLOCKED"),
            &[],
            "sms_destination_blocked",
            "countries enabled",
        ),
        (
            "ConflictException",
            Some("NO_ORIGINATION_IDENTITIES_FOUND"),
            &[],
            "sms_no_origination_identity",
            "set ORIGINATION_IDENTITY",
        ),
        (
            "ValidationException",
            Some("INVALID_IDENTITY_FOR_DESTINATION_COUNTRY"),
            &[],
            "sms_no_origination_identity",
            "registered sender ID",
        ),
        (
            "AccessDeniedException",
            Some("INSUFFICIENT_ACCOUNT_REPUTATION"),
            &[],
            "sms_account_suspended",
            "contact AWS Support",
        ),
        ("AccessDeniedException", None, &[], "eum_access_denied", "sms-voice:SendTextMessage"),
        ("ValidationException", Some("PRICE_OVER_THRESHOLD"), &["MaxPrice"], "eum_invalid_parameter", "MAX_PRICE"),
        ("ResourceNotFoundException", None, &[], "eum_invalid_parameter", "SMS_CONFIGURATION_SET"),
        (
            "ValidationException",
            Some("INVALID_PARAMETER"),
            &["DestinationPhoneNumber"],
            "sns_invalid_phone_number",
            "not valid",
        ),
    ];
    for (i, (error, reason, fields, want, hint)) in cases.iter().enumerate() {
        let to = phone(100 + i as u32);
        eum_emulator().fail(&to, error, *reason, fields, 1).await;
        let result = app.handle(&event(&key, &TriggerSource::SignUp, &to, "ZXQ4").await).await;
        let result = result.unwrap_or_else(|e| panic!("{error} {reason:?} must not be retried by Lambda: {e}"));
        assert_eq!(result["outcome"], *want, "{error} {reason:?}");
        assert_eq!(eum_emulator().sent_to(&to).await.len(), 1, "{error} {reason:?}: tried once");
        let line = logs.outcomes().pop().unwrap_or_else(|| panic!("no outcome line for {error}"));
        assert_eq!(line["outcome"], *want);
        assert_eq!(line["retry"], false);
        assert!(line["reason"].as_str().unwrap().contains(hint), "{error} {reason:?}: {line}");
    }
    logs.assert_clean(&["ZXQ4"]);
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_within_the_deadline() {
    let key = moto().create_key().await;
    let app = app(&key, &[]).await;
    for (i, error) in ["ThrottlingException", "InternalServerException"].iter().enumerate() {
        let to = phone(200 + i as u32);
        eum_emulator().fail(&to, error, None, &[], 2).await;
        let result = app.handle(&event(&key, &TriggerSource::SignUp, &to, "ZXQ5").await).await.unwrap();
        assert_eq!(result["outcome"], "sent", "{error}");
        assert_eq!(eum_emulator().sent_to(&to).await.len(), 3, "{error}: two failures, then sent");
    }
}

#[tokio::test]
async fn warm_up_opens_the_end_user_messaging_connection() {
    let key = moto().create_key().await;
    let app = app(&key, &[]).await;
    let before = eum_emulator().requests("DescribeAccountAttributes", |_| true).await.len();
    assert_eq!(app.warm_up().await.sns, Check::Ready);
    assert!(eum_emulator().requests("DescribeAccountAttributes", |_| true).await.len() > before);
    // A role without the read permission still warms the connection; the check says what is missing.
    eum_emulator().fail("DescribeAccountAttributes", "AccessDeniedException", None, &[], 1).await;
    assert_eq!(app.warm_up().await.sns, Check::Denied("AccessDeniedException".into()));
}

#[tokio::test]
async fn a_test_numbers_message_goes_to_the_queue_not_through_end_user_messaging() {
    let (logs, _guard) = Logs::capture();
    let key = moto().create_key().await;
    let queue = moto().create_queue(true).await;
    let (test, other) = (phone(90), phone(91));
    let app = app(&key, &[("SMS_TEST_NUMBERS", &test), ("SMS_TEST_SINK", &queue)]).await;
    for to in [&test, &other] {
        let result = app.handle(&event(&key, &TriggerSource::SignUp, to, "ZXQ97531").await).await.unwrap();
        assert_eq!(result["outcome"], "sent");
    }
    assert!(eum_emulator().sent_to(&test).await.is_empty(), "no SendTextMessage to a test number");
    assert_eq!(eum_emulator().sent_to(&other).await.len(), 1, "any other number goes through End User Messaging");
    let messages = moto().queue_messages(&queue).await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].1.contains("ZXQ97531") && messages[0].2["PhoneNumber"] == test);
    let transports: Vec<_> = logs.outcomes().iter().map(|l| l["transport"].clone()).collect();
    assert_eq!(transports, [json!("test-sink"), json!("end-user-messaging")]);
    logs.assert_clean(&["ZXQ97531"]);
}
