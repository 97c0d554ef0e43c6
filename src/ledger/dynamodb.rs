//! The ledger in a DynamoDB table: a conditional `PutItem` claims a message, `UpdateItem` marks it sent,
//! `DeleteItem` gives it up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Claim, Ledger, LedgerError};
use crate::aws::Check;

/// The ledger in a DynamoDB table: partition key `pk` (S), TTL attribute `expires_at` (epoch seconds).
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
}

/// A record's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Claimed: its holder is sending it.
    InProgress,
    /// Sent; the record carries the message id.
    Sent,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Sent => "SENT",
        }
    }

    fn value(self) -> AttributeValue {
        s(self.as_str())
    }
}

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
    /// The ledger in `table`, keeping records for `ttl`.
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
            Err(e) => Check::from_error(&e, &["ResourceNotFoundException"]),
        }
    }

    async fn claim(&self, key: &str, lease_until: SystemTime) -> Result<Claim, LedgerError> {
        let now = epoch(SystemTime::now());
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("status", Status::InProgress.value())
            .item("lease_until", n(epoch(lease_until)))
            .item("expires_at", n(now + self.ttl.as_secs() as i64))
            // Absent, or a claim whose holder ran out of time, or a record past its TTL that DynamoDB has not
            // deleted yet (TTL deletion can lag by days).
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND lease_until < :now) OR expires_at < :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", Status::InProgress.value())
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
                    (Some(status), id) if status == Status::Sent.as_str() => Ok(Claim::AlreadySent {
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
            .expression_attribute_values(":sent", Status::Sent.value())
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
            .expression_attribute_values(":in_progress", Status::InProgress.value())
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(ledger_err(&e)),
        }
    }
}
