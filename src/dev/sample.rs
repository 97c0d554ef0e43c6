//! Cognito-shaped sample events, as `make-event` writes them and the tests use them.

use serde_json::json;

use crate::message::event::TriggerSource;

/// A Cognito-shaped event with every header field filled as Cognito does.
pub fn sample_event(
    source: &TriggerSource,
    region: &str,
    user_pool_id: &str,
    user_name: &str,
    phone: &str,
    code: Option<String>,
) -> serde_json::Value {
    json!({
        "version": "1",
        "triggerSource": source.to_string(),
        "region": region,
        "userPoolId": user_pool_id,
        "userName": user_name,
        "callerContext": { "awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789" },
        "request": {
            "type": "customSMSSenderRequestV1",
            "code": code,
            "clientMetadata": null,
            "userAttributes": {
                "sub": user_name,
                "phone_number": phone,
                "phone_number_verified": "false",
                "cognito:user_status": if *source == TriggerSource::AdminCreateUser { "FORCE_CHANGE_PASSWORD" } else { "UNCONFIRMED" },
            }
        },
        "response": {}
    })
}
