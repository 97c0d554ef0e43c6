//! Without `IDEMPOTENCY_TABLE` there is nothing to claim: an event whose time has run out (as under
//! `cargo lambda watch`, before the deadline is read right) never fails on the ledger, and no error names the
//! unset setting.

mod common;

use std::time::Duration;

use cognito_sms_sender::sender::outcome::Outcome;
use cognito_sms_sender::sender::retry::Deadline;
use cognito_sms_sender::sender::wiring;
use common::Logs;

#[tokio::test]
async fn with_no_ledger_no_error_names_idempotency_table() {
    let (logs, guard) = Logs::capture();
    let outbox = std::env::temp_dir().join(format!("no-ledger-{}.jsonl", std::process::id()));
    let dev_key = concat!(env!("CARGO_MANIFEST_DIR"), "/events/DEV-ONLY-public-test-key.hex");
    let config = common::dev_config(&[("LOCAL_DEV_KEY_FILE", dev_key), ("LOCAL_OUTBOX", outbox.to_str().unwrap())]);
    let sdk = cognito_sms_sender::aws::aws_config_in(Some("us-east-1")).await;
    let app = wiring::build(&config, &sdk).await.unwrap();
    let event: serde_json::Value = serde_json::from_str(include_str!("../events/sign-up.json")).unwrap();
    let result = app.handle_until(&event, Deadline::after(Duration::ZERO)).await;
    drop(guard);
    let outcome = match &result {
        Ok(v) => v["outcome"].as_str().unwrap().to_owned(),
        Err(e) => e.outcome().as_str().to_owned(),
    };
    assert_ne!(outcome, Outcome::IdempotencyUnavailable.as_str(), "{result:?}");
    assert!(!logs.text().contains("IDEMPOTENCY_TABLE"), "{}", logs.text());
    logs.assert_clean(&["123456"]);
    let _ = std::fs::remove_file(outbox);
}
