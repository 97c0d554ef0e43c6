//! The event model against fixture JSON: the samples in events/ and shapes seen in real captures.

// For its log capture: every line these tests log is scanned for secrets.
mod common;

use cognito_sms_sender::message::event::{CustomSmsSenderEvent, EventError, TriggerSource};
use serde_json::{json, Value};

fn samples() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.display().to_string(), serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_sample_round_trips_and_there_is_one_per_source() {
    let mut sources = Vec::new();
    for (path, value) in samples() {
        let event = CustomSmsSenderEvent::from_json(&value).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(serde_json::to_value(&event).unwrap(), value, "{path} round-trips");
        let (source, pool) = event.validate().unwrap();
        assert_eq!(pool, "us-east-1_EXAMPLE");
        assert_eq!(event.request.code.is_some(), source.carries_code(), "{path}");
        sources.push(source.clone());
    }
    for known in TriggerSource::KNOWN {
        assert_eq!(sources.iter().filter(|s| **s == known).count(), 1, "one sample for {known}");
    }
}

#[test]
fn header_fields_may_be_null_or_absent() {
    let minimal = json!({"request": {"type": "customSMSSenderRequestV1", "code": null, "userAttributes": null}});
    let e = CustomSmsSenderEvent::from_json(&minimal).unwrap();
    assert_eq!((e.version.as_deref(), e.region.as_deref(), e.user_name.as_deref()), (None, None, None));
    assert!(e.request.user_attributes.is_empty() && e.response.is_none());
    assert_eq!(e.validate(), Err(EventError::MissingTriggerSource));

    let nulls = json!({
        "version": null, "triggerSource": "CustomSMSSender_Authentication", "region": null, "userPoolId": "eu-west-1_Abc",
        "userName": null, "callerContext": null,
        "request": {"type": "customSMSSenderRequestV1", "code": "AYAD", "clientMetadata": null, "userAttributes": {"phone_number": "+447700900123"}},
        "response": null
    });
    let e = CustomSmsSenderEvent::from_json(&nulls).unwrap();
    assert_eq!(e.validate().unwrap(), (&TriggerSource::Authentication, "eu-west-1_Abc"));
    assert_eq!(e.phone_number(), Some("+447700900123"));

    let with_metadata = json!({"triggerSource": "CustomSMSSender_SignUp", "userPoolId": "p_1",
        "request": {"type": "customSMSSenderRequestV1", "clientMetadata": {"app": "web"}, "userAttributes": {}}});
    let e = CustomSmsSenderEvent::from_json(&with_metadata).unwrap();
    assert_eq!(e.request.client_metadata.unwrap()["app"], "web");
}

#[test]
fn trigger_sources_parse_and_print() {
    for known in TriggerSource::KNOWN {
        assert_eq!(TriggerSource::from(known.to_string().as_str()), known);
    }
    assert_eq!(TriggerSource::from("CustomSMSSender_ForgotPassword").env_suffix(), "FORGOT_PASSWORD");
    assert_eq!(TriggerSource::AccountTakeOverNotification.env_suffix(), "ACCOUNT_TAKE_OVER_NOTIFICATION");
    assert_eq!(
        TriggerSource::from("CustomEmailSender_SignUp"),
        TriggerSource::Unknown("CustomEmailSender_SignUp".into())
    );
    assert_eq!(TriggerSource::from("SignUp"), TriggerSource::Unknown("SignUp".into()));
    let unknown = json!({"triggerSource": "CustomSMSSender_New", "userPoolId": "p_1",
        "request": {"type": "customSMSSenderRequestV1", "userAttributes": {}}});
    let e = CustomSmsSenderEvent::from_json(&unknown).unwrap();
    assert_eq!(serde_json::to_value(&e).unwrap()["triggerSource"], "CustomSMSSender_New");
    assert!(matches!(e.validate(), Err(EventError::UnknownTriggerSource(s)) if s == "CustomSMSSender_New"));
}

#[test]
fn other_request_types_and_shapes_are_refused() {
    let v2 = json!({"triggerSource": "CustomSMSSender_SignUp", "userPoolId": "p_1",
        "request": {"type": "customEmailSenderRequestV1", "userAttributes": {}}});
    let err = CustomSmsSenderEvent::from_json(&v2).unwrap().validate().unwrap_err();
    assert!(matches!(err, EventError::UnsupportedRequestType(_)));
    assert!(err.to_string().contains("customSMSSenderRequestV1"));

    let missing =
        json!({"triggerSource": "CustomSMSSender_SignUp", "userPoolId": "p_1", "request": {"userAttributes": {}}});
    assert!(matches!(
        CustomSmsSenderEvent::from_json(&missing).unwrap().validate(),
        Err(EventError::UnsupportedRequestType(_))
    ));

    for bad in [json!(null), json!([1, 2]), json!("text"), json!({"request": 5}), json!({"request": {"code": 7}})] {
        assert!(matches!(CustomSmsSenderEvent::from_json(&bad), Err(EventError::Malformed(_))), "{bad}");
    }
}
