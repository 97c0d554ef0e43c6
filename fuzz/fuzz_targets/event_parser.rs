//! Any bytes as a trigger event: parsing, validation, phone handling and template filling never panic.
#![no_main]

use std::sync::OnceLock;

use cognito_sms_sender::message::event::CustomSmsSenderEvent;
use cognito_sms_sender::destination::phone::{mask, PhoneNumber};
use cognito_sms_sender::destination::region::sns_region;
use cognito_sms_sender::message::catalogue::Catalogue;
use cognito_sms_sender::message::template::{sign_in_name, unescape_password};
use libfuzzer_sys::fuzz_target;

fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(|| Catalogue::load(|_| None).expect("the built-in catalogue is valid"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(event) = CustomSmsSenderEvent::from_json(&value) else { return };
    let raw_phone = event.phone_number();
    let _ = mask(raw_phone.unwrap_or(""));
    if let Ok(phone) = PhoneNumber::parse(raw_phone) {
        assert!(!phone.masked().contains(phone.as_e164()));
    }
    let _ = sns_region(event.region.as_deref().unwrap_or("us-east-1"), None);
    if let Ok((source, _pool)) = event.validate() {
        let code = unescape_password(event.request.code.as_deref().unwrap_or(""));
        let name = sign_in_name(event.user_name.as_deref(), &event.request.user_attributes);
        if let Some((t, _locale)) = catalogue().template_for(source, &event.request) {
            let body = t.render(&code, name);
            if t.uses_username() {
                assert!(body.contains(name));
            }
            if t.uses_code() {
                assert!(body.contains(code.as_str()));
            }
        }
    }
});
