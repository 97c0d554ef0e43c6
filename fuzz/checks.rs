//! What the fuzz targets check for one input, as plain functions: the targets in fuzz_targets/ call them under
//! libFuzzer (`scripts/fuzz`), and tests/fuzz_corpus.rs replays the whole corpus through them on the stable
//! toolchain, so the checks build and run in every test run. Included by path in both crates.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cognito_sms_sender::decrypt::esdk::{read_dev_key, EsdkDecrypter, DEV_KEY_NAME, DEV_KEY_NAMESPACE};
use cognito_sms_sender::decrypt::header::OwnKey;
use cognito_sms_sender::decrypt::Decrypter;
use cognito_sms_sender::destination::phone::{mask, PhoneNumber};
use cognito_sms_sender::destination::region::sns_region;
use cognito_sms_sender::message::catalogue::Catalogue;
use cognito_sms_sender::message::event::CustomSmsSenderEvent;
use cognito_sms_sender::message::template::{sign_in_name, unescape_password};

/// The pool the genuine messages in the corpus were made for (as the sample events in events/ are).
pub const POOL: &str = "us-east-1_EXAMPLE";
/// Every code a genuine message in the decrypt corpus carries: made with the public development key for
/// [`POOL`]. Decrypting anything to another code means a forgery got through.
pub const GENUINE_CODES: &[&str] = &["123456", "123457", "123458", "123459", "123460", "123461", "Tmp&lt;Pass&amp;1"];

/// The development-key decrypter and a runtime to drive it, built once per process.
fn decrypter() -> &'static (tokio::runtime::Runtime, EsdkDecrypter) {
    static D: OnceLock<(tokio::runtime::Runtime, EsdkDecrypter)> = OnceLock::new();
    D.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let key = read_dev_key(include_str!("../events/DEV-ONLY-public-test-key.hex")).unwrap();
        let decrypter = runtime.block_on(EsdkDecrypter::for_dev_key(&key)).unwrap();
        (runtime, decrypter)
    })
}

/// Any bytes as `request.code`'s ciphertext (base64-encoded, and as text): refused cleanly, never a panic, and
/// decrypted only when the input is a genuine message for [`POOL`] under the development key, to a known code;
/// never decrypted for another pool.
pub fn decrypt(data: &[u8]) {
    let (runtime, decrypter) = decrypter();
    let as_base64 = B64.encode(data);
    let mut fields = vec![(as_base64.as_str(), Some(data.to_vec()))];
    if let Ok(text) = std::str::from_utf8(data) {
        fields.push((text, B64.decode(text.trim()).ok()));
    }
    for (field, message) in fields {
        if let Ok(code) = runtime.block_on(decrypter.decrypt(field, POOL)) {
            assert!(GENUINE_CODES.contains(&code.as_str()), "a message decrypted to a code no genuine message carries");
            let message = message.expect("what decrypts is base64");
            let own = OwnKey::raw_aes(DEV_KEY_NAMESPACE, DEV_KEY_NAME);
            assert!(own.wrapped_a_data_key_of(&message), "a message decrypted without a data key under the key");
        }
        let elsewhere = runtime.block_on(decrypter.decrypt(field, "us-east-1_ANOTHER"));
        assert!(elsewhere.is_err(), "a message for {POOL} decrypted for another pool");
    }
}

fn catalogue() -> &'static Catalogue {
    static C: OnceLock<Catalogue> = OnceLock::new();
    C.get_or_init(|| Catalogue::load(|_| None).expect("the built-in catalogue is valid"))
}

/// Any bytes as a trigger event: parsing, validation, phone handling and template filling never panic; a
/// mask never shows the number; a filled template carries the code and name it was given.
pub fn event_parser(data: &[u8]) {
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
}
