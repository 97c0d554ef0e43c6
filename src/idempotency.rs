//! Exactly once: a ledger of messages, keyed by a hash of the encrypted code (unique per Cognito message), so a
//! redelivered event is not sent twice and a code whose sender crashed is not lost.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::warmup::{self, Check};

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
    pub fn timeout() -> Self {
        LedgerError("timeout".into())
    }

    /// Whether retrying within this invocation could help (throttling, service errors, timeouts).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self.0.as_str(),
            "AccessDeniedException"
                | "ResourceNotFoundException"
                | "ValidationException"
                | "UnrecognizedClientException"
        )
    }
}

/// Records which messages were sent.
pub trait Ledger: Send + Sync {
    /// Claims `key` until `lease_until`. A record whose lease has run out (its sender crashed or timed out) is
    /// taken over.
    fn claim(&self, key: &str, lease_until: SystemTime) -> impl Future<Output = Result<Claim, LedgerError>> + Send;
    /// Marks `key` as sent.
    fn complete(&self, key: &str, message_id: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// Gives up a claim, so a later delivery may try again.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Opens the connection to the table during init and checks it exists ([`crate::warmup`]). Nothing to do
    /// by default.
    fn warm_up(&self) -> impl Future<Output = Check> + Send {
        async { Check::Skipped }
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

/// No ledger (`IDEMPOTENCY_TABLE` unset): every claim succeeds.
pub struct NoLedger;

impl Ledger for NoLedger {
    async fn claim(&self, _: &str, _: SystemTime) -> Result<Claim, LedgerError> {
        Ok(Claim::Acquired)
    }
    async fn complete(&self, _: &str, _: &str) -> Result<(), LedgerError> {
        Ok(())
    }
    async fn release(&self, _: &str) -> Result<(), LedgerError> {
        Ok(())
    }
}

/// The ledger in a DynamoDB table: partition key `pk` (S), TTL attribute `expires_at` (epoch seconds).
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
}

const IN_PROGRESS: &str = "IN_PROGRESS";
const SENT: &str = "SENT";

fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn ledger_err<E: ProvideErrorMetadata>(e: &E) -> LedgerError {
    LedgerError(e.code().unwrap_or("unreachable").to_owned())
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        DynamoLedger { client, table: table.into(), ttl }
    }
}

/// The key the warm-up reads. Message keys start with `sms#`, so it is never written.
const WARM_UP_KEY: &str = "warm-up#never-written";

impl Ledger for DynamoLedger {
    /// `GetItem` of a key that is never written: the same permission and connection `claim` uses.
    async fn warm_up(&self) -> Check {
        match self.client.get_item().table_name(&self.table).key("pk", s(WARM_UP_KEY)).send().await {
            Ok(_) => Check::Ready,
            Err(e) => warmup::from_error(e.code(), &["ResourceNotFoundException"], &warmup::sdk_failure(&e)),
        }
    }

    async fn claim(&self, key: &str, lease_until: SystemTime) -> Result<Claim, LedgerError> {
        let now = epoch(SystemTime::now());
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("status", s(IN_PROGRESS))
            .item("lease_until", n(epoch(lease_until)))
            .item("expires_at", n(now + self.ttl.as_secs() as i64))
            // Absent, or a claim whose holder ran out of time, or a record past its TTL that DynamoDB has not
            // deleted yet (TTL deletion can lag by days).
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND lease_until < :now) OR expires_at < :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Acquired),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(key))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| ledger_err(&e))?
                    .item
                    .unwrap_or_default();
                match (item.get("status").and_then(|v| v.as_s().ok()), item.get("message_id")) {
                    (Some(status), id) if status == SENT => Ok(Claim::AlreadySent {
                        message_id: id.and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
                    }),
                    _ => Ok(Claim::InProgress),
                }
            }
            Err(e) => Err(ledger_err(&e)),
        }
    }

    async fn complete(&self, key: &str, message_id: &str) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET #status = :sent, message_id = :id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sent", s(SENT))
            .expression_attribute_values(":id", s(message_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ledger_err(&e))
    }

    async fn release(&self, key: &str) -> Result<(), LedgerError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(ledger_err(&e)),
        }
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
}
