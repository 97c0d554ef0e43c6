//! Every way an event can end, mapped to the stable `outcome` names operators alarm on, in one place.

use crate::decrypt::DecryptError;
use crate::destination::phone::PhoneError;
use crate::gate::policy::Rule;
use crate::gate::CounterError;
use crate::ledger::LedgerError;
use crate::message::code::CodeError;
use crate::message::event::EventError;
use crate::publish::PublishError;

/// Declares [`Outcome`] from `Variant => "name"` pairs: the enum, its names and the list of all.
macro_rules! outcomes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// How an event (or the function's start) ended: the `outcome` field of its log line.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Outcome {
            $($(#[$doc])* $variant,)*
        }

        impl Outcome {
            /// Every outcome.
            pub const ALL: &'static [Outcome] = &[$(Outcome::$variant,)*];

            /// The stable name for logs, metrics and alarms.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Outcome::$variant => $name,)*
                }
            }
        }
    };
}

outcomes! {
    /// The SMS was accepted for sending.
    Sent => "sent",
    /// A redelivered event whose SMS was sent before.
    Duplicate => "duplicate",
    /// A setting is missing or not allowed: the function does not start.
    ConfigError => "config_error",
    /// The function could not build its clients or keyring: it does not start.
    InitError => "init_error",
    MalformedEvent => "malformed_event",
    UnsupportedRequestType => "unsupported_request_type",
    UnknownTriggerSource => "unknown_trigger_source",
    MissingTriggerSource => "missing_trigger_source",
    MissingUserPoolId => "missing_user_pool_id",
    UserPoolNotAllowed => "user_pool_not_allowed",
    MissingPhoneNumber => "missing_phone_number",
    InvalidPhoneNumber => "invalid_phone_number",
    MissingCode => "missing_code",
    InvalidBase64 => "invalid_base64",
    InvalidCiphertext => "invalid_ciphertext",
    WrongUserPool => "wrong_user_pool",
    WrongKmsKey => "wrong_kms_key",
    KmsAccessDenied => "kms_access_denied",
    KmsUnavailable => "kms_unavailable",
    InvalidPlaintext => "invalid_plaintext",
    /// The code decrypted, but it is not one Cognito sends (empty, or not a code: [`crate::message::code`]).
    InvalidCode => "invalid_code",
    SnsInvalidPhoneNumber => "sns_invalid_phone_number",
    SnsInvalidParameter => "sns_invalid_parameter",
    SnsAccessDenied => "sns_access_denied",
    /// STS refused the `SNS_CALLER_ARN` role: its trust policy or external ID, not `sns:Publish`, needs fixing.
    SnsCallerRoleRefused => "sns_caller_role_refused",
    SnsThrottled => "sns_throttled",
    SnsServiceError => "sns_service_error",
    SnsUnreachable => "sns_unreachable",
    SnsRejected => "sns_rejected",
    /// End User Messaging: the account's monthly text spend limit is reached.
    SpendLimitReached => "sms_spend_limit_reached",
    /// End User Messaging: the number opted out of this account's SMS.
    OptedOut => "sms_opted_out",
    /// End User Messaging: sandboxed account, number not verified.
    DestinationNotVerified => "sms_destination_not_verified",
    /// End User Messaging: the destination is blocked (protect configuration, country not enabled).
    DestinationBlocked => "sms_destination_blocked",
    /// End User Messaging: no origination identity can send to the destination.
    NoOriginationIdentity => "sms_no_origination_identity",
    /// End User Messaging: the account is disabled or its reputation too low.
    AccountSuspended => "sms_account_suspended",
    EumInvalidParameter => "eum_invalid_parameter",
    EumAccessDenied => "eum_access_denied",
    EumRejected => "eum_rejected",
    /// A test number's message was not put in `SMS_TEST_SINK`: the queue is not encrypted.
    TestSinkUnencrypted => "test_sink_unencrypted",
    /// A test number's message was not put in `SMS_TEST_SINK`: the queue is missing or refused the role.
    TestSinkRefused => "test_sink_refused",
    DuplicateInProgress => "duplicate_in_progress",
    IdempotencyUnavailable => "idempotency_unavailable",
    /// The abuse gate refused the message (`rule` says which rule).
    Blocked => "blocked",
    /// The abuse gate's counters could not be used and the policy fails closed.
    GateUnavailable => "gate_unavailable",
}

/// Lets an outcome be compared with its name, as read back from a log line or a response.
impl PartialEq<&str> for Outcome {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event did not end with an SMS. Display texts say what to do and never carry a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("user pool {0} is not in ALLOWED_USER_POOL_IDS")]
    PoolNotAllowed(String),
    #[error(transparent)]
    Phone(#[from] PhoneError),
    #[error("request.code is empty, but {0} messages must carry a code")]
    MissingCode(String),
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("another invocation is sending this message now; Lambda will retry this one and find it sent")]
    InProgressElsewhere,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{reason}")]
    Blocked { rule: Rule, reason: String },
    #[error(transparent)]
    GateUnavailable(#[from] CounterError),
}

impl SendError {
    /// The outcome this error ends an event with.
    pub fn outcome(&self) -> Outcome {
        match self {
            SendError::Event(EventError::Malformed(_)) => Outcome::MalformedEvent,
            SendError::Event(EventError::UnsupportedRequestType(_)) => Outcome::UnsupportedRequestType,
            SendError::Event(EventError::UnknownTriggerSource(_)) => Outcome::UnknownTriggerSource,
            SendError::Event(EventError::MissingTriggerSource) => Outcome::MissingTriggerSource,
            SendError::Event(EventError::MissingUserPoolId) => Outcome::MissingUserPoolId,
            SendError::PoolNotAllowed(_) => Outcome::UserPoolNotAllowed,
            SendError::Phone(PhoneError::Missing) => Outcome::MissingPhoneNumber,
            SendError::Phone(PhoneError::NotE164 { .. }) => Outcome::InvalidPhoneNumber,
            SendError::MissingCode(_) => Outcome::MissingCode,
            SendError::Decrypt(e) => decrypt_outcome(e),
            SendError::Code(_) => Outcome::InvalidCode,
            SendError::Publish(e) => publish_outcome(e),
            SendError::InProgressElsewhere => Outcome::DuplicateInProgress,
            SendError::Ledger(_) => Outcome::IdempotencyUnavailable,
            SendError::Blocked { .. } => Outcome::Blocked,
            SendError::GateUnavailable(_) => Outcome::GateUnavailable,
        }
    }

    /// Whether the invocation should fail so Lambda retries it. Everything else is logged and acknowledged:
    /// retrying a bad number or a foreign pool's code cannot succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SendError::Decrypt(e) => e.is_transient(),
            SendError::Publish(e) => e.is_transient(),
            SendError::InProgressElsewhere | SendError::Ledger(_) | SendError::GateUnavailable(_) => true,
            _ => false,
        }
    }

    /// Whether the cause is in the event (bad input) rather than in this function's setup or its dependencies.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            SendError::Event(_)
                | SendError::Phone(_)
                | SendError::MissingCode(_)
                | SendError::Code(_)
                | SendError::Decrypt(DecryptError::NotBase64 | DecryptError::InvalidMessage | DecryptError::NotText)
                | SendError::Publish(PublishError::InvalidNumber | PublishError::OptedOut)
        )
    }
}

fn decrypt_outcome(e: &DecryptError) -> Outcome {
    match e {
        DecryptError::NotBase64 => Outcome::InvalidBase64,
        DecryptError::InvalidMessage => Outcome::InvalidCiphertext,
        DecryptError::WrongPool => Outcome::WrongUserPool,
        DecryptError::WrongKey => Outcome::WrongKmsKey,
        DecryptError::KmsDenied(_) => Outcome::KmsAccessDenied,
        DecryptError::KmsUnavailable(_) => Outcome::KmsUnavailable,
        DecryptError::NotText => Outcome::InvalidPlaintext,
    }
}

fn publish_outcome(e: &PublishError) -> Outcome {
    match e {
        PublishError::InvalidNumber => Outcome::SnsInvalidPhoneNumber,
        PublishError::InvalidParameter(_) => Outcome::SnsInvalidParameter,
        PublishError::Denied(_) => Outcome::SnsAccessDenied,
        PublishError::CallerRoleRefused(_) => Outcome::SnsCallerRoleRefused,
        PublishError::Throttled(_) => Outcome::SnsThrottled,
        PublishError::ServiceError(_) => Outcome::SnsServiceError,
        PublishError::Unreachable(_) => Outcome::SnsUnreachable,
        PublishError::Rejected(_) => Outcome::SnsRejected,
        PublishError::SpendLimitReached => Outcome::SpendLimitReached,
        PublishError::OptedOut => Outcome::OptedOut,
        PublishError::DestinationNotVerified => Outcome::DestinationNotVerified,
        PublishError::DestinationBlocked(_) => Outcome::DestinationBlocked,
        PublishError::NoOriginationIdentity(_) => Outcome::NoOriginationIdentity,
        PublishError::AccountSuspended(_) => Outcome::AccountSuspended,
        PublishError::EumInvalidParameter(_) => Outcome::EumInvalidParameter,
        PublishError::EumDenied(_) => Outcome::EumAccessDenied,
        PublishError::EumRejected(_) => Outcome::EumRejected,
        PublishError::TestSinkUnencrypted => Outcome::TestSinkUnencrypted,
        PublishError::TestSinkRefused(_) => Outcome::TestSinkRefused,
    }
}

/// What Lambda records for a failed invocation: the outcome as the error type, the reason as the message.
impl From<SendError> for lambda_runtime::Diagnostic {
    fn from(e: SendError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.outcome().as_str().to_owned(), error_message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_error_has_its_own() {
        let names: std::collections::HashSet<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), Outcome::ALL.len());
        let all = [
            SendError::Event(EventError::Malformed("x".into())),
            SendError::Event(EventError::UnsupportedRequestType("x".into())),
            SendError::Event(EventError::UnknownTriggerSource("x".into())),
            SendError::Event(EventError::MissingTriggerSource),
            SendError::Event(EventError::MissingUserPoolId),
            SendError::PoolNotAllowed("x".into()),
            SendError::Phone(PhoneError::Missing),
            SendError::Phone(PhoneError::NotE164 { len: 1 }),
            SendError::MissingCode("x".into()),
            SendError::Decrypt(DecryptError::NotBase64),
            SendError::Decrypt(DecryptError::InvalidMessage),
            SendError::Decrypt(DecryptError::WrongPool),
            SendError::Decrypt(DecryptError::WrongKey),
            SendError::Decrypt(DecryptError::KmsDenied("x".into())),
            SendError::Decrypt(DecryptError::KmsUnavailable("x".into())),
            SendError::Decrypt(DecryptError::NotText),
            SendError::Code(CodeError::NotAPassword),
            SendError::Publish(PublishError::InvalidNumber),
            SendError::Publish(PublishError::InvalidParameter("x".into())),
            SendError::Publish(PublishError::Denied("x".into())),
            SendError::Publish(PublishError::CallerRoleRefused("x".into())),
            SendError::Publish(PublishError::Throttled("x".into())),
            SendError::Publish(PublishError::ServiceError("x".into())),
            SendError::Publish(PublishError::Unreachable("x".into())),
            SendError::Publish(PublishError::Rejected("x".into())),
            SendError::Publish(PublishError::SpendLimitReached),
            SendError::Publish(PublishError::OptedOut),
            SendError::Publish(PublishError::DestinationNotVerified),
            SendError::Publish(PublishError::DestinationBlocked("x".into())),
            SendError::Publish(PublishError::NoOriginationIdentity("x".into())),
            SendError::Publish(PublishError::AccountSuspended("x".into())),
            SendError::Publish(PublishError::EumInvalidParameter("x".into())),
            SendError::Publish(PublishError::EumDenied("x".into())),
            SendError::Publish(PublishError::EumRejected("x".into())),
            SendError::Publish(PublishError::TestSinkUnencrypted),
            SendError::Publish(PublishError::TestSinkRefused("x".into())),
            SendError::InProgressElsewhere,
            SendError::Ledger(LedgerError("x".into())),
            SendError::Blocked { rule: Rule::PerNumber, reason: "x".into() },
            SendError::GateUnavailable(CounterError("x".into())),
        ];
        let outcomes: std::collections::HashSet<_> = all.iter().map(|e| e.outcome()).collect();
        assert_eq!(outcomes.len(), all.len());
        for not_an_error in [Outcome::Sent, Outcome::Duplicate, Outcome::ConfigError, Outcome::InitError] {
            assert!(!outcomes.contains(&not_an_error));
        }
        let transient: Vec<_> = all.iter().filter(|e| e.is_transient()).map(|e| e.outcome().as_str()).collect();
        assert_eq!(
            transient,
            [
                "kms_unavailable",
                "sns_throttled",
                "sns_service_error",
                "sns_unreachable",
                "duplicate_in_progress",
                "idempotency_unavailable",
                "gate_unavailable"
            ]
        );
    }

    #[test]
    fn bad_input_is_the_event_and_names_and_texts_compare_as_the_outcome() {
        let bad_input = [
            SendError::Event(EventError::MissingUserPoolId),
            SendError::Phone(PhoneError::Missing),
            SendError::MissingCode("x".into()),
            SendError::Decrypt(DecryptError::NotBase64),
            SendError::Decrypt(DecryptError::InvalidMessage),
            SendError::Decrypt(DecryptError::NotText),
            SendError::Publish(PublishError::InvalidNumber),
        ];
        assert!(bad_input.iter().all(SendError::is_bad_input));
        let not_bad_input = [
            SendError::PoolNotAllowed("x".into()),
            SendError::Decrypt(DecryptError::WrongPool),
            SendError::Decrypt(DecryptError::KmsDenied("x".into())),
            SendError::Publish(PublishError::Throttled("x".into())),
            SendError::InProgressElsewhere,
            SendError::Ledger(LedgerError("x".into())),
        ];
        assert!(!not_bad_input.iter().any(SendError::is_bad_input));
        for o in Outcome::ALL {
            assert_eq!(o.to_string(), o.as_str());
            assert!(*o == o.as_str() && *o != "no_such_outcome", "{o:?}");
        }
        let diagnostic = lambda_runtime::Diagnostic::from(SendError::InProgressElsewhere);
        assert_eq!(diagnostic.error_type, "duplicate_in_progress");
        assert_eq!(diagnostic.error_message, SendError::InProgressElsewhere.to_string());
    }
}
