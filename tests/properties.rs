//! Property tests: event parsing, template filling, phone handling and Region choice hold for any input.

// For its log capture: every line these tests log is scanned for secrets.
mod common;

use cognito_sms_sender::destination::phone::{mask, PhoneNumber};
use cognito_sms_sender::destination::region::{is_region_name, sns_region};
use cognito_sms_sender::message::event::CustomSmsSenderEvent;
use cognito_sms_sender::message::template::Template;
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::hash_map(
                prop_oneof![
                    Just("request".to_owned()),
                    Just("triggerSource".to_owned()),
                    Just("userPoolId".to_owned()),
                    Just("code".to_owned()),
                    Just("userAttributes".to_owned()),
                    Just("phone_number".to_owned()),
                    Just("type".to_owned()),
                    "[a-zA-Z]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn parsing_any_json_never_panics(v in any_json()) {
        if let Ok(e) = CustomSmsSenderEvent::from_json(&v) {
            let _ = e.validate();
            let _ = e.phone_number();
        }
    }

    #[test]
    fn parsing_events_with_any_field_values_never_panics(
        source in ".{0,30}", pool in ".{0,30}", code in proptest::option::of(".{0,30}"),
        phone in ".{0,20}", region in proptest::option::of(".{0,20}"),
    ) {
        let v = json!({"triggerSource": source, "userPoolId": pool, "region": region,
            "request": {"type": "customSMSSenderRequestV1", "code": code, "userAttributes": {"phone_number": phone}}});
        let e = CustomSmsSenderEvent::from_json(&v).unwrap();
        if let Err(err) = e.validate() {
            prop_assert!(err.to_string().chars().count() < 300);
        }
    }

    #[test]
    fn filling_is_one_pass_and_exact(prefix in "[a-z .]{0,20}", middle in "[a-z .]{0,20}", code in ".{0,12}", user in ".{0,40}") {
        let text = format!("{prefix}{{####}}{middle}{{username}}!");
        prop_assume!(text.chars().count() >= 6);
        let t = Template::parse(&text, true).unwrap();
        let filled = t.render(&code, &user);
        prop_assert_eq!(filled.as_str(), format!("{prefix}{code}{middle}{user}!"));
    }

    #[test]
    fn templates_are_checked_without_panicking(text in ".{0,200}") {
        if let Ok(t) = Template::parse(&text, true) {
            prop_assert!(t.uses_code());
            let n = text.chars().count();
            prop_assert!((6..=140).contains(&n));
        }
    }

    #[test]
    fn accepted_numbers_are_e164_and_masks_hide_them(raw in "\\+?[0-9 ()+-]{0,20}") {
        match PhoneNumber::parse(Some(&raw)) {
            Ok(p) => {
                let digits = &raw[1..];
                prop_assert!(raw.starts_with('+') && (8..=15).contains(&digits.len()));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'));
                let m = p.masked();
                prop_assert_ne!(&m, &raw);
                prop_assert!(m.ends_with(&raw[raw.len() - 4..]));
                prop_assert_eq!(m.chars().count(), raw.chars().count());
            }
            Err(e) => {
                let text = e.to_string();
                let longest = text.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
                prop_assert!(longest < 5, "the refusal must not quote the number: {text}");
            }
        }
    }

    #[test]
    fn no_mask_shows_eight_digits_in_a_row(raw in ".{0,40}") {
        let m = mask(&raw);
        let longest = m.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
        prop_assert!(longest <= 4, "{m}");
    }

    #[test]
    fn region_choice(region in "[a-z]{2}-[a-z]{3,9}-[1-9]", configured in proptest::option::of("[a-z]{2}-[a-z]{3,9}-[1-9]")) {
        let chosen = sns_region(&region, configured.as_deref());
        match (&configured, region.as_str()) {
            (Some(c), _) => prop_assert_eq!(chosen, c.as_str()),
            (None, "ap-northeast-2") => prop_assert_eq!(chosen, "ap-northeast-1"),
            (None, r) => prop_assert_eq!(chosen, r),
        }
        prop_assert!(is_region_name(chosen));
    }
}

#[test]
fn seoul_always_uses_tokyo_without_an_override() {
    assert_eq!(sns_region("ap-northeast-2", None), "ap-northeast-1");
}
