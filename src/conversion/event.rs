//! The conversion events: Cognito's post confirmation
//! (<https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-lambda-post-confirmation.html>) and post
//! authentication (<https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-lambda-post-authentication.html>)
//! triggers. Only the header is read: which trigger, which pool, which user. The rest is returned untouched.

use serde::Deserialize;
use serde_json::Value;

use crate::ledger::Kind;
use crate::message::event::truncate;

/// A trigger that reports a code entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `PostConfirmation_ConfirmSignUp`: the sign-up code was entered.
    ConfirmSignUp,
    /// `PostConfirmation_ConfirmForgotPassword`: the forgot-password code was entered.
    ConfirmForgotPassword,
    /// `PostAuthentication_Authentication`: a sign-in succeeded (with its SMS MFA code, if one was sent).
    Authentication,
}

impl Trigger {
    /// Every conversion trigger.
    pub const ALL: [Trigger; 3] = [Trigger::ConfirmSignUp, Trigger::ConfirmForgotPassword, Trigger::Authentication];

    /// The `triggerSource` Cognito sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ConfirmSignUp => "PostConfirmation_ConfirmSignUp",
            Trigger::ConfirmForgotPassword => "PostConfirmation_ConfirmForgotPassword",
            Trigger::Authentication => "PostAuthentication_Authentication",
        }
    }

    /// The kind of message this trigger converts.
    pub fn kind(self) -> Kind {
        match self {
            Trigger::ConfirmSignUp => Kind::ConfirmSignUp,
            Trigger::ConfirmForgotPassword => Kind::ConfirmForgotPassword,
            Trigger::Authentication => Kind::Authentication,
        }
    }

    /// The conversion trigger `payload` is, if it is one (what the bootstrap dispatches on).
    pub fn of(payload: &Value) -> Option<Trigger> {
        let source = payload.get("triggerSource")?.as_str()?;
        Trigger::ALL.into_iter().find(|t| t.as_str() == source)
    }
}

/// The header of a conversion event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    #[serde(default)]
    trigger_source: Option<String>,
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
}

/// A conversion event, checked: its trigger, pool and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionEvent {
    pub trigger: Trigger,
    pub pool: String,
    pub user: String,
}

/// Why a conversion event cannot be used. Never quotes a value: a user name can be a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a post confirmation or post authentication event (triggerSource {0:?})")]
    NotAConversion(String),
    #[error("the event has no {0}; Cognito always sends it, so the caller is not Cognito")]
    Missing(&'static str),
}

impl ConversionEvent {
    /// Reads the header of `payload`.
    pub fn from_json(payload: &Value) -> Result<Self, EventError> {
        let header = Header::deserialize(payload).unwrap_or_default();
        let source = header.trigger_source.as_deref().unwrap_or("");
        let trigger = Trigger::of(payload).ok_or_else(|| EventError::NotAConversion(truncate(source, 64)))?;
        let present = |v: Option<String>| v.filter(|v| !v.is_empty());
        Ok(ConversionEvent {
            trigger,
            pool: present(header.user_pool_id).ok_or(EventError::Missing("userPoolId"))?,
            user: present(header.user_name).ok_or(EventError::Missing("userName"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_trigger_converts_its_kind_and_others_are_not_conversions() {
        let e = |source: &str| json!({"triggerSource": source, "userPoolId": "us-east-1_P", "userName": "bob"});
        for (trigger, kind) in [
            (Trigger::ConfirmSignUp, Kind::ConfirmSignUp),
            (Trigger::ConfirmForgotPassword, Kind::ConfirmForgotPassword),
            (Trigger::Authentication, Kind::Authentication),
        ] {
            let event = ConversionEvent::from_json(&e(trigger.as_str())).unwrap();
            assert_eq!((event.trigger, event.trigger.kind(), event.user.as_str()), (trigger, kind, "bob"));
        }
        for other in ["CustomSMSSender_SignUp", "PostConfirmation_Other", "PreSignUp_SignUp"] {
            assert_eq!(Trigger::of(&e(other)), None, "{other}");
        }
        assert_eq!(Trigger::of(&json!({"triggerSource": 1})), None);
        let missing = json!({"triggerSource": "PostConfirmation_ConfirmSignUp", "userPoolId": "us-east-1_P"});
        assert_eq!(ConversionEvent::from_json(&missing), Err(EventError::Missing("userName")));
    }
}
