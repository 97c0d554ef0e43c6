//! Exactly once: a ledger of messages, keyed by a hash of the encrypted code (unique per Cognito message), so a
//! redelivered event is not sent twice and a code whose sender crashed is not lost. The [`Ledger`] port; its
//! adapter is [`dynamodb`].

pub mod dynamodb;

use std::future::Future;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::aws::{is_access_denied, Check};

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
    fn complete(&self, key: &str, message_id: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;
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

    async fn complete(&self, key: &str, message_id: &str) -> Result<(), LedgerError> {
        match self {
            Some(ledger) => ledger.complete(key, message_id).await,
            None => Ok(()),
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
