//! The Cognito custom SMS sender trigger event
//! (<https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-lambda-custom-sms-sender.html>).
//!
//! No published crate has types for this event, so they live here. Real captures show every header field as
//! possibly null or absent, so all of them are `Option`s; only `request` is required.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only `request.type` Cognito sends to a custom SMS sender with `LambdaVersion: V1_0`.
pub const REQUEST_TYPE_V1: &str = "customSMSSenderRequestV1";

/// The whole event as Cognito sends it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomSmsSenderEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_source: Option<TriggerSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_context: Option<CallerContext>,
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<serde_json::Value>,
}

/// Which client and SDK caused the message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_sdk_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The `request` part: the encrypted code and the user's attributes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Always [`REQUEST_TYPE_V1`] today; anything else is refused by [`CustomSmsSenderEvent::validate`].
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    /// Base64 of an AWS Encryption SDK message holding the code or temporary password.
    #[serde(default)]
    pub code: Option<String>,
    /// Data the app passed to the Cognito API call. Never interpolated into a message.
    #[serde(default)]
    pub client_metadata: Option<HashMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_attributes: HashMap<String, String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Why Cognito sends the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TriggerSource {
    SignUp,
    ResendCode,
    ForgotPassword,
    UpdateUserAttribute,
    VerifyUserAttribute,
    /// SMS MFA at sign-in.
    Authentication,
    /// An invitation; the code is the temporary password.
    AdminCreateUser,
    /// Seen in an older AWS sample; its `code` is null.
    AccountTakeOverNotification,
    /// Anything else, kept verbatim so it can be logged and refused.
    Unknown(String),
}

impl TriggerSource {
    /// Every known source, in documentation order.
    pub const KNOWN: [TriggerSource; 8] = [
        TriggerSource::SignUp,
        TriggerSource::ResendCode,
        TriggerSource::ForgotPassword,
        TriggerSource::UpdateUserAttribute,
        TriggerSource::VerifyUserAttribute,
        TriggerSource::Authentication,
        TriggerSource::AdminCreateUser,
        TriggerSource::AccountTakeOverNotification,
    ];

    /// The suffix after `CustomSMSSender_`, e.g. `SignUp`.
    pub fn suffix(&self) -> &str {
        match self {
            TriggerSource::SignUp => "SignUp",
            TriggerSource::ResendCode => "ResendCode",
            TriggerSource::ForgotPassword => "ForgotPassword",
            TriggerSource::UpdateUserAttribute => "UpdateUserAttribute",
            TriggerSource::VerifyUserAttribute => "VerifyUserAttribute",
            TriggerSource::Authentication => "Authentication",
            TriggerSource::AdminCreateUser => "AdminCreateUser",
            TriggerSource::AccountTakeOverNotification => "AccountTakeOverNotification",
            TriggerSource::Unknown(s) => s,
        }
    }

    /// Upper snake case, as used in `SMS_TEMPLATE_<SOURCE>`, e.g. `FORGOT_PASSWORD`.
    pub fn env_suffix(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.suffix().chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// The known source with this suffix (`SignUp`), or why there is none: a did-you-mean for a name that
    /// differs only in case, else the list of sources.
    pub fn from_suffix(name: &str) -> Result<TriggerSource, String> {
        if let Some(source) = TriggerSource::KNOWN.iter().find(|s| s.suffix() == name) {
            return Ok(source.clone());
        }
        let names: Vec<&str> = TriggerSource::KNOWN.iter().map(|s| s.suffix()).collect();
        Err(match names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            Some(n) => format!("is not a trigger source; did you mean {n}?"),
            None => format!("is not a trigger source; the sources are {}", names.join(", ")),
        })
    }

    /// Whether Cognito sends an encrypted code with this source.
    pub fn carries_code(&self) -> bool {
        !matches!(self, TriggerSource::AccountTakeOverNotification)
    }
}

impl fmt::Display for TriggerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TriggerSource::Unknown(s) => f.write_str(s),
            known => write!(f, "CustomSMSSender_{}", known.suffix()),
        }
    }
}

impl From<&str> for TriggerSource {
    fn from(s: &str) -> Self {
        let suffix = s.strip_prefix("CustomSMSSender_");
        TriggerSource::KNOWN
            .iter()
            .find(|t| Some(t.suffix()) == suffix)
            .cloned()
            .unwrap_or_else(|| TriggerSource::Unknown(s.to_owned()))
    }
}

impl Serialize for TriggerSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TriggerSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(TriggerSource::from(String::deserialize(d)?.as_str()))
    }
}

/// Why an event is not one this function can act on. Texts never include the code or a phone number.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the event is not a Cognito custom SMS sender event: {0}")]
    Malformed(String),
    #[error("request.type is {0}; this function understands only \"customSMSSenderRequestV1\" (LambdaVersion V1_0)")]
    UnsupportedRequestType(String),
    #[error("triggerSource {0:?} is not one this function knows how to word")]
    UnknownTriggerSource(String),
    #[error("the event has no triggerSource")]
    MissingTriggerSource,
    #[error("the event has no userPoolId, so the code's encryption context cannot be checked")]
    MissingUserPoolId,
}

/// A serde message with the value it found left out: "invalid type: integer `12065550100`, expected a
/// string" quotes a phone number sent as a number, or a code. The kind of value and what was expected stay.
fn without_values(message: &str) -> String {
    let Some(label) = ["invalid type", "invalid value", "unknown variant"].into_iter().find(|l| message.starts_with(l))
    else {
        return message.to_owned();
    };
    let rest = message[label.len()..].trim_start_matches([':', ' ']);
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
    let kind = found.split(['`', '"']).next().unwrap_or("").trim_end();
    let kind = if kind.is_empty() { String::new() } else { format!(": {kind}") };
    let expected = if expected.is_empty() { String::new() } else { format!(", expected {expected}") };
    format!("{label}{kind}{expected}")
}

impl CustomSmsSenderEvent {
    /// Parses the JSON payload. The error names what was expected, never the value found ([`without_values`]).
    pub fn from_json(payload: &serde_json::Value) -> Result<Self, EventError> {
        Self::deserialize(payload).map_err(|e| EventError::Malformed(without_values(&e.to_string())))
    }

    /// Checks what every later step relies on and returns the known trigger source and pool id.
    pub fn validate(&self) -> Result<(&TriggerSource, &str), EventError> {
        match self.request.request_type.as_deref() {
            Some(REQUEST_TYPE_V1) => {}
            Some(other) => return Err(EventError::UnsupportedRequestType(format!("{:?}", truncate(other, 64)))),
            None => return Err(EventError::UnsupportedRequestType("(missing)".into())),
        }
        let source = match &self.trigger_source {
            None => return Err(EventError::MissingTriggerSource),
            Some(TriggerSource::Unknown(s)) => return Err(EventError::UnknownTriggerSource(truncate(s, 64))),
            Some(s) => s,
        };
        let pool = self.user_pool_id.as_deref().filter(|p| !p.is_empty()).ok_or(EventError::MissingUserPoolId)?;
        Ok((source, pool))
    }

    /// The user's phone number attribute, as sent (not yet validated).
    pub fn phone_number(&self) -> Option<&str> {
        self.request.user_attributes.get("phone_number").map(String::as_str)
    }
}

/// Shortens attacker-controlled text before it goes into an error message or a log line.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_kind_found_and_what_was_expected_never_the_value() {
        let number = serde_json::json!({"request": {"userAttributes": {"phone_number": 12065550100u64}}});
        let EventError::Malformed(reason) = CustomSmsSenderEvent::from_json(&number).unwrap_err() else {
            panic!("malformed")
        };
        assert_eq!(reason, "invalid type: integer, expected a string");
        let cases = [
            ("invalid type: string \"+12065550100\", expected a map", "invalid type: string, expected a map"),
            ("invalid value: integer `424242`, expected a code", "invalid value: integer, expected a code"),
            ("unknown variant `ZXQ123`, expected one of `a`, `b`", "unknown variant, expected one of `a`, `b`"),
            ("invalid type: floating point `1.5`", "invalid type: floating point"),
            ("missing field `request`", "missing field `request`"),
        ];
        for (serde, shown) in cases {
            assert_eq!(without_values(serde), shown);
        }
    }
}
