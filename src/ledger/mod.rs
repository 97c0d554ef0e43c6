//! Exactly once: a ledger of messages, keyed by a hash of the encrypted code (unique per Cognito message), so a
//! redelivered event is not sent twice and a code whose sender crashed is not lost. It also remembers what was
//! sent ([`SentMessage`]: never the code, never the number), so a conversion event (the user entered the code)
//! finds the user's outstanding message of its [`Kind`] and marks it converted once. The [`Ledger`] port; its
//! adapter is [`dynamodb`].

pub mod dynamodb;

use std::future::Future;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::aws::{is_access_denied, Check};
use crate::message::event::TriggerSource;

/// What claiming a message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This invocation owns the message and should send it.
    Acquired,
    /// The message was sent already (by an earlier delivery of the same event).
    AlreadySent { message_id: String },
    /// Another invocation is sending it right now (its lease has not run out).
    InProgress,
}

/// Why the ledger could not be used (the DynamoDB error code). The invocation fails, so Lambda retries it
/// and finally hands it to the on-failure destination: sending without the ledger could send twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the idempotency table could not be used ({0}); check IDEMPOTENCY_TABLE and the role's DynamoDB permissions")]
pub struct LedgerError(pub String);

impl LedgerError {
    /// The error of a claim that ran out of time.
    pub fn timeout() -> Self {
        LedgerError("timeout".into())
    }

    /// Whether retrying within this invocation could help (throttling, service errors, timeouts).
    pub fn is_transient(&self) -> bool {
        let code = self.0.as_str();
        !(is_access_denied(code) || ["ResourceNotFoundException", "ValidationException"].contains(&code))
    }
}

/// Which conversion event shows that a message's code was entered: a message of one kind is outstanding for
/// its user until that event comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sign-up and resent codes, entered with `ConfirmSignUp` (`PostConfirmation_ConfirmSignUp`).
    ConfirmSignUp,
    /// Forgot-password codes, entered with `ConfirmForgotPassword` (`PostConfirmation_ConfirmForgotPassword`).
    ConfirmForgotPassword,
    /// SMS MFA codes, entered at sign-in (`PostAuthentication_Authentication`).
    Authentication,
}

impl Kind {
    /// The kind of a message of `source`. `None` for messages no Cognito trigger reports as used: attribute
    /// verification codes (`VerifyUserAttribute` has no post trigger), temporary passwords and notifications.
    pub fn of_message(source: &TriggerSource) -> Option<Kind> {
        match source {
            TriggerSource::SignUp | TriggerSource::ResendCode => Some(Kind::ConfirmSignUp),
            TriggerSource::ForgotPassword => Some(Kind::ConfirmForgotPassword),
            TriggerSource::Authentication => Some(Kind::Authentication),
            _ => None,
        }
    }

    /// The name in the ledger's keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConfirmSignUp => "confirm_sign_up",
            Kind::ConfirmForgotPassword => "confirm_forgot_password",
            Kind::Authentication => "authentication",
        }
    }
}

/// What the ledger remembers of one SMS sent: who and where, never the code or the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub pool: String,
    /// A hash of the pool and the user's `userName` ([`crate::gate::hashed`]): the user, unreadable.
    pub user: String,
    /// The trigger source as Cognito names it (`CustomSMSSender_SignUp`).
    pub trigger_source: String,
    /// The destination's ISO country code, when known.
    pub country: Option<String>,
    /// The destination's prefix ([`crate::destination::phone::PhoneNumber::prefix`]), never the whole number.
    pub prefix: String,
    /// `sns` or `end-user-messaging`.
    pub transport: String,
    /// The Region the SMS was sent from (where its feedback goes).
    pub region: String,
    pub message_id: String,
    pub sent_at: SystemTime,
    /// Until when a conversion event counts for this message (its code's validity).
    pub valid_until: SystemTime,
    /// The message was sent with `MessageFeedbackEnabled`: End User Messaging waits for its feedback.
    pub feedback: bool,
    /// `None` for a message no event converts: it is remembered, but never outstanding.
    pub kind: Option<Kind>,
}

/// What a conversion event found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// The user's outstanding message, now marked converted (by this event alone).
    Converted(Box<SentMessage>),
    /// The outstanding message was converted before (a redelivered or concurrent event).
    AlreadyConverted,
    /// No message of this kind is outstanding for the user (none sent, or its code no longer valid).
    NoOutstandingMessage,
}

/// Records which messages were sent.
pub trait Ledger: Send + Sync {
    /// Claims `key` until `lease_until`. A record whose lease has run out (its sender crashed or timed out) is
    /// taken over.
    fn claim(&self, key: &str, lease_until: SystemTime) -> impl Future<Output = Result<Claim, LedgerError>> + Send;
    /// Marks `key` as sent.
    ///
    /// When this fails, the SMS has gone out already: the function logs a warning and the event still ends
    /// `sent` (failing it would make Lambda send the SMS again at once). The record stays in progress, so a
    /// redelivery of the same event is told to retry until the claim's lease ends, then takes it over and
    /// sends the same code again. That is deliberate: the record cannot tell a sender that published but
    /// could not record it from one that crashed before publishing, and a code sent twice beats a code lost.
    ///
    /// `sent` is remembered in the same request: on `key`'s record, and, for a message of a [`Kind`], as the
    /// user's outstanding message of that kind (replacing an earlier one: the latest code is the one entered).
    fn complete(&self, key: &str, sent: &SentMessage) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// Marks `user`'s outstanding message of `kind` converted, if one is outstanding at `now`; exactly one of
    /// many concurrent or redelivered events finds it [`Conversion::Converted`].
    fn convert(
        &self,
        user: &str,
        kind: Kind,
        now: SystemTime,
    ) -> impl Future<Output = Result<Conversion, LedgerError>> + Send;
    /// Gives up a claim, so a later delivery may try again.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Whether a table is configured (`IDEMPOTENCY_TABLE`). Without one nothing is recorded and nothing can
    /// fail, so no error may name the table.
    fn is_configured(&self) -> bool {
        true
    }

    /// Opens the connection to the table during init and checks it exists ([`crate::sender::warmup`]). Nothing to do
    /// by default.
    fn warm_up(&self) -> impl Future<Output = Check> + Send {
        async { Check::Skipped }
    }

    /// Whether claims are recorded anywhere; `false` for no ledger, whose claims need no time.
    fn records(&self) -> bool {
        true
    }
}

/// The key for one message: a hash of the encrypted code, or of the whole event when it has no code.
pub fn message_key(code: Option<&str>, payload: &serde_json::Value) -> String {
    let digest = match code {
        Some(c) => Sha256::digest(c.as_bytes()),
        None => Sha256::digest(payload.to_string().as_bytes()),
    };
    format!("sms#{}", hex::encode(digest))
}

/// No ledger (`IDEMPOTENCY_TABLE` unset): every claim succeeds and nothing is recorded.
impl<L: Ledger> Ledger for Option<L> {
    fn is_configured(&self) -> bool {
        self.is_some()
    }

    async fn claim(&self, key: &str, lease_until: SystemTime) -> Result<Claim, LedgerError> {
        match self {
            Some(ledger) => ledger.claim(key, lease_until).await,
            None => Ok(Claim::Acquired),
        }
    }

    async fn complete(&self, key: &str, sent: &SentMessage) -> Result<(), LedgerError> {
        match self {
            Some(ledger) => ledger.complete(key, sent).await,
            None => Ok(()),
        }
    }

    /// Without a ledger nothing was remembered, so nothing is outstanding.
    async fn convert(&self, user: &str, kind: Kind, now: SystemTime) -> Result<Conversion, LedgerError> {
        match self {
            Some(ledger) => ledger.convert(user, kind, now).await,
            None => Ok(Conversion::NoOutstandingMessage),
        }
    }

    async fn release(&self, key: &str) -> Result<(), LedgerError> {
        match self {
            Some(ledger) => ledger.release(key).await,
            None => Ok(()),
        }
    }

    async fn warm_up(&self) -> Check {
        match self {
            Some(ledger) => ledger.warm_up().await,
            None => Check::Skipped,
        }
    }

    fn records(&self) -> bool {
        self.as_ref().is_some_and(Ledger::records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let p = serde_json::json!({"a": 1});
        assert_eq!(message_key(Some("AYAD1"), &p), message_key(Some("AYAD1"), &serde_json::json!({"b": 2})));
        assert_ne!(message_key(Some("AYAD1"), &p), message_key(Some("AYAD2"), &p));
        assert_ne!(message_key(None, &p), message_key(None, &serde_json::json!({"a": 2})));
        assert!(message_key(None, &p).starts_with("sms#") && message_key(None, &p).len() == 4 + 64);
    }

    #[test]
    fn only_throttling_service_errors_and_timeouts_are_retried() {
        for permanent in ["ResourceNotFoundException", "ValidationException", "AccessDeniedException"] {
            assert!(!LedgerError(permanent.into()).is_transient(), "{permanent}");
        }
        for transient in ["ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"] {
            assert!(LedgerError(transient.into()).is_transient(), "{transient}");
        }
        assert!(LedgerError::timeout().is_transient());
    }
}
