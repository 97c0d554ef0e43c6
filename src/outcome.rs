//! Every way an event can end, mapped to the stable `outcome` names operators alarm on, in one place.

use crate::crypto::DecryptError;
use crate::event::EventError;
use crate::idempotency::LedgerError;
use crate::phone::PhoneError;
use crate::sns::PublishError;

/// The `outcome` of an SMS SNS accepted.
pub const SENT: &str = "sent";
/// The `outcome` of a redelivered event whose SMS was sent before.
pub const DUPLICATE: &str = "duplicate";

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
    Publish(#[from] PublishError),
    #[error("another invocation is sending this message now; Lambda will retry this one and find it sent")]
    InProgressElsewhere,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl SendError {
    /// The stable name for logs, metrics and alarms.
    pub fn outcome(&self) -> &'static str {
        match self {
            SendError::Event(EventError::Malformed(_)) => "malformed_event",
            SendError::Event(EventError::UnsupportedRequestType(_)) => "unsupported_request_type",
            SendError::Event(EventError::UnknownTriggerSource(_)) => "unknown_trigger_source",
            SendError::Event(EventError::MissingTriggerSource) => "missing_trigger_source",
            SendError::Event(EventError::MissingUserPoolId) => "missing_user_pool_id",
            SendError::PoolNotAllowed(_) => "user_pool_not_allowed",
            SendError::Phone(PhoneError::Missing) => "missing_phone_number",
            SendError::Phone(PhoneError::NotE164 { .. }) => "invalid_phone_number",
            SendError::MissingCode(_) => "missing_code",
            SendError::Decrypt(DecryptError::NotBase64) => "invalid_base64",
            SendError::Decrypt(DecryptError::InvalidMessage) => "invalid_ciphertext",
            SendError::Decrypt(DecryptError::WrongPool) => "wrong_user_pool",
            SendError::Decrypt(DecryptError::WrongKey) => "wrong_kms_key",
            SendError::Decrypt(DecryptError::KmsDenied(_)) => "kms_access_denied",
            SendError::Decrypt(DecryptError::KmsUnavailable(_)) => "kms_unavailable",
            SendError::Decrypt(DecryptError::NotText) => "invalid_plaintext",
            SendError::Publish(PublishError::InvalidNumber) => "sns_invalid_phone_number",
            SendError::Publish(PublishError::InvalidParameter(_)) => "sns_invalid_parameter",
            SendError::Publish(PublishError::Denied(_)) => "sns_access_denied",
            SendError::Publish(PublishError::Throttled(_)) => "sns_throttled",
            SendError::Publish(PublishError::ServiceError(_)) => "sns_service_error",
            SendError::Publish(PublishError::Unreachable(_)) => "sns_unreachable",
            SendError::Publish(PublishError::Rejected(_)) => "sns_rejected",
            SendError::InProgressElsewhere => "duplicate_in_progress",
            SendError::Ledger(_) => "idempotency_unavailable",
        }
    }

    /// Whether the invocation should fail so Lambda retries it. Everything else is logged and acknowledged:
    /// retrying a bad number or a foreign pool's code cannot succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SendError::Decrypt(e) => e.is_transient(),
            SendError::Publish(e) => e.is_transient(),
            SendError::InProgressElsewhere | SendError::Ledger(_) => true,
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
                | SendError::Decrypt(DecryptError::NotBase64 | DecryptError::InvalidMessage | DecryptError::NotText)
                | SendError::Publish(PublishError::InvalidNumber)
        )
    }
}

/// What Lambda records for a failed invocation: the outcome as the error type, the reason as the message.
impl From<SendError> for lambda_runtime::Diagnostic {
    fn from(e: SendError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.outcome().to_owned(), error_message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
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
            SendError::Publish(PublishError::InvalidNumber),
            SendError::Publish(PublishError::InvalidParameter("x".into())),
            SendError::Publish(PublishError::Denied("x".into())),
            SendError::Publish(PublishError::Throttled("x".into())),
            SendError::Publish(PublishError::ServiceError("x".into())),
            SendError::Publish(PublishError::Unreachable("x".into())),
            SendError::Publish(PublishError::Rejected("x".into())),
            SendError::InProgressElsewhere,
            SendError::Ledger(LedgerError("x".into())),
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|e| e.outcome()).collect();
        assert_eq!(names.len(), all.len());
        assert!(!names.contains(SENT) && !names.contains(DUPLICATE));
        let transient: Vec<_> = all.iter().filter(|e| e.is_transient()).map(|e| e.outcome()).collect();
        assert_eq!(
            transient,
            [
                "kms_unavailable",
                "sns_throttled",
                "sns_service_error",
                "sns_unreachable",
                "duplicate_in_progress",
                "idempotency_unavailable"
            ]
        );
    }
}
