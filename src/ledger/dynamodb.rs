//! The ledger in a DynamoDB table: a conditional `PutItem` claims a message ([`Claims`] builds it, so the gate's
//! counters can make the same claim inside their own transaction), one `TransactWriteItems` marks it sent and
//! puts the user's outstanding message of its kind, `DeleteItem` gives a claim up, and a conditional
//! `UpdateItem` converts an outstanding message.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{Claim, Conversion, Kind, Ledger, LedgerError, SentMessage};
use crate::aws::Check;

/// The ledger in a DynamoDB table: partition key `pk` (S), TTL attribute `expires_at` (epoch seconds).
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    /// The table and how long records live, as its claims are made.
    claims: Claims,
}

/// A record's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Claimed: its holder is sending it.
    InProgress,
    /// Sent; the record carries the message id.
    Sent,
    /// A user's message whose code no conversion event has reported entered yet.
    Outstanding,
    /// A user's message whose code was entered.
    Converted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Sent => "SENT",
            Status::Outstanding => "OUTSTANDING",
            Status::Converted => "CONVERTED",
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

/// The key of `user`'s outstanding message of `kind`. Message keys start with `sms#`, the gate's with `gate#`.
fn outstanding_key(user: &str, kind: Kind) -> String {
    format!("conv#{user}#{}", kind.as_str())
}

/// What is remembered of a sent message, as attributes (no country when it is not known).
fn remembered(sent: &SentMessage) -> Vec<(&'static str, AttributeValue)> {
    let mut fields = vec![
        ("pool", s(&sent.pool)),
        ("user", s(&sent.user)),
        ("trigger_source", s(&sent.trigger_source)),
        ("prefix", s(&sent.prefix)),
        ("transport", s(&sent.transport)),
        ("sms_region", s(&sent.region)),
        ("message_id", s(&sent.message_id)),
        ("sent_at", n(epoch(sent.sent_at))),
        ("valid_until", n(epoch(sent.valid_until))),
        ("feedback", AttributeValue::Bool(sent.feedback)),
    ];
    if let Some(country) = &sent.country {
        fields.push(("country", s(country)));
    }
    fields
}

/// A remembered message read back from its attributes (missing ones empty).
fn sent_message(item: &HashMap<String, AttributeValue>, kind: Kind) -> SentMessage {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let time = |name: &str| {
        let secs = item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok());
        UNIX_EPOCH + Duration::from_secs(secs.unwrap_or(0))
    };
    SentMessage {
        pool: text("pool").unwrap_or_default(),
        user: text("user").unwrap_or_default(),
        trigger_source: text("trigger_source").unwrap_or_default(),
        country: text("country"),
        prefix: text("prefix").unwrap_or_default(),
        transport: text("transport").unwrap_or_default(),
        region: text("sms_region").unwrap_or_default(),
        message_id: text("message_id").unwrap_or_default(),
        sent_at: time("sent_at"),
        valid_until: time("valid_until"),
        feedback: item.get("feedback").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        kind: Some(kind),
    }
}

fn ledger_err<E: ProvideErrorMetadata>(e: &E) -> LedgerError {
    LedgerError(e.code().unwrap_or("unreachable").to_owned())
}

/// How the ledger claims a message: one conditional put, which a writer sharing the table (the gate's counters)
/// may make inside its own transaction, so claiming and counting take one request.
#[derive(Debug, Clone)]
pub struct Claims {
    table: String,
    ttl: Duration,
}

impl Claims {
    /// The put that claims `key` until `lease_until`. Its condition: the key absent, or a claim whose holder ran
    /// out of time, or a record past its TTL that DynamoDB has not deleted yet (TTL deletion can lag by days).
    /// When the condition fails, the record found comes back with the failure ([`Claims::found`] reads it).
    pub fn put(&self, key: &str, lease_until: SystemTime) -> Put {
        let now = epoch(SystemTime::now());
        Put::builder()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("status", Status::InProgress.value())
            .item("lease_until", n(epoch(lease_until)))
            .item("expires_at", n(now + self.ttl.as_secs() as i64))
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND lease_until < :now) OR expires_at < :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", Status::InProgress.value())
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, item and condition are set")
    }

    /// What a claim whose condition failed found, from the record that came back with the failure: sent
    /// already, or held by another invocation whose lease has not run out.
    pub fn found(item: Option<&HashMap<String, AttributeValue>>) -> Claim {
        let field = |name: &str| item.and_then(|i| i.get(name)).and_then(|v| v.as_s().ok());
        match field("status") {
            Some(status) if status == Status::Sent.as_str() => {
                Claim::AlreadySent { message_id: field("message_id").cloned().unwrap_or_default() }
            }
            _ => Claim::InProgress,
        }
    }
}

impl DynamoLedger {
    /// The ledger in `table`, keeping records for `ttl`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        DynamoLedger { client, claims: Claims { table: table.into(), ttl } }
    }

    /// How this ledger claims a message, for a writer that claims it in its own transaction.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Marks `key` sent, with what is remembered of it.
    fn mark_sent(&self, key: &str, sent: &SentMessage) -> Update {
        let fields = remembered(sent);
        let sets: Vec<String> = (0..fields.len()).map(|i| format!("#f{i} = :f{i}")).collect();
        let mut update = Update::builder()
            .table_name(&self.claims.table)
            .key("pk", s(key))
            .update_expression(format!("SET #status = :sent, {}", sets.join(", ")))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sent", Status::Sent.value());
        for (i, (name, value)) in fields.into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#f{i}"), name)
                .expression_attribute_values(format!(":f{i}"), value);
        }
        update.build().expect("table, key and expression are set")
    }

    /// The user's outstanding message of `kind`: this one, replacing any earlier.
    fn outstanding(&self, kind: Kind, sent: &SentMessage) -> Put {
        let mut put = Put::builder()
            .table_name(&self.claims.table)
            .item("pk", s(&outstanding_key(&sent.user, kind)))
            .item("status", Status::Outstanding.value())
            .item("expires_at", n(epoch(sent.sent_at) + self.claims.ttl.as_secs() as i64));
        for (name, value) in remembered(sent) {
            put = put.item(name, value);
        }
        put.build().expect("table and item are set")
    }
}

/// The key the warm-up reads. Message keys start with `sms#`, so it is never written.
const WARM_UP_KEY: &str = "warm-up#never-written";

impl Ledger for DynamoLedger {
    /// `GetItem` of a key that is never written: opens the connection the claims use and finds the table.
    async fn warm_up(&self) -> Check {
        match self.client.get_item().table_name(&self.claims.table).key("pk", s(WARM_UP_KEY)).send().await {
            Ok(_) => Check::Ready,
            Err(e) => Check::from_error(&e, &["ResourceNotFoundException"]),
        }
    }

    async fn claim(&self, key: &str, lease_until: SystemTime) -> Result<Claim, LedgerError> {
        let put = self.claims.put(key, lease_until);
        let claimed = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .set_return_values_on_condition_check_failure(put.return_values_on_condition_check_failure)
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(Claim::Acquired),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => Ok(Claims::found(failed.item.as_ref())),
                _ => Err(ledger_err(&e)),
            },
        }
    }

    /// One `TransactWriteItems`: the send path makes no more requests than marking the message sent needs.
    async fn complete(&self, key: &str, sent: &SentMessage) -> Result<(), LedgerError> {
        let mut items = vec![TransactWriteItem::builder().update(self.mark_sent(key, sent)).build()];
        if let Some(kind) = sent.kind {
            items.push(TransactWriteItem::builder().put(self.outstanding(kind, sent)).build());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ledger_err(&e))
    }

    async fn convert(&self, user: &str, kind: Kind, now: SystemTime) -> Result<Conversion, LedgerError> {
        let converted = self
            .client
            .update_item()
            .table_name(&self.claims.table)
            .key("pk", s(&outstanding_key(user, kind)))
            .update_expression("SET #status = :converted, converted_at = :now")
            // Outstanding and still valid: a code too old to be accepted cannot be the one just entered.
            .condition_expression("#status = :outstanding AND valid_until >= :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":converted", Status::Converted.value())
            .expression_attribute_values(":outstanding", Status::Outstanding.value())
            .expression_attribute_values(":now", n(epoch(now)))
            .return_values(ReturnValue::AllOld)
            // Tells a conversion seen before from no message at all, without a second request.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match converted {
            Ok(out) => Ok(Conversion::Converted(Box::new(sent_message(&out.attributes.unwrap_or_default(), kind)))),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let status = failed.item.as_ref().and_then(|i| i.get("status")).and_then(|v| v.as_s().ok());
                    Ok(match status {
                        Some(s) if s == Status::Converted.as_str() => Conversion::AlreadyConverted,
                        _ => Conversion::NoOutstandingMessage,
                    })
                }
                _ => Err(ledger_err(&e)),
            },
        }
    }

    async fn release(&self, key: &str) -> Result<(), LedgerError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.claims.table)
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
