//! The counters in the DynamoDB state table (the ledger's table): one transaction adds every enforced count
//! under its limit's condition, all or none, together with a mark that the message was counted; monitored
//! counts are plain atomic additions beside it. A shared counter is spread over [`super::SHARDS`] items whose
//! caps add up to the limit, so it stays exact: a message refused by one shard tries the next.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update};
use futures::future::join_all;

use super::policy::Mode;
use super::{Count, Counted, CounterError, Counters};
use crate::aws::{classify, Failure};

/// The counters in `table`.
pub struct DynamoCounters {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCounters {
    /// Counters in `table` (partition key `pk` S, TTL attribute `expires_at`).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCounters { client, table: table.into() }
    }
}

/// How many times a transaction is tried when shards are full or another transaction holds an item.
const ATTEMPTS: u32 = super::SHARDS + 8;
/// The first pause after DynamoDB throttled a transaction; it doubles, four times at most (750 ms in all).
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn err<E: ProvideErrorMetadata>(e: &E) -> CounterError {
    CounterError(e.code().unwrap_or("unreachable").to_owned())
}

/// Shard `i`'s share of `limit`: the shares of all shards add up to the limit.
fn shard_cap(limit: u64, shards: u32, i: u32) -> u64 {
    let (shards, i) = (u64::from(shards), u64::from(i));
    limit / shards + u64::from(i < limit % shards)
}

/// The item key of a count at shard `i`.
fn shard_key(count: &Count, i: u32) -> String {
    if count.shards <= 1 {
        count.key.clone()
    } else {
        format!("{}#s{i}", count.key)
    }
}

/// Why a transaction did not go through.
enum Refusal {
    /// The message was counted before.
    AlreadyCounted,
    /// The count at this index of the enforced list would pass its (shard's) limit.
    Full(usize),
    /// Another transaction holds an item: try again.
    Conflict,
    /// DynamoDB throttled the call or failed on its side (this code): try again after a pause.
    Busy(CounterError),
}

impl DynamoCounters {
    fn mark(&self, message: &str, expires_at: u64) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&format!("gate#msg#{message}")))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn add(&self, key: &str, amount: u64, cap: u64, expires_at: u64) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("ADD n :amount SET expires_at = :expires")
            .condition_expression("attribute_not_exists(n) OR n <= :max")
            .expression_attribute_values(":amount", n(amount))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":max", n(cap - amount))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// One try: the mark and every enforced count at its chosen shard.
    async fn transact(
        &self,
        message: &str,
        plan: &[&Count],
        shards: &[u32],
    ) -> Result<Result<(), Refusal>, CounterError> {
        let expires = plan.iter().map(|c| c.window_end).max().unwrap_or(0);
        let mut items = vec![self.mark(message, expires)];
        for (count, shard) in plan.iter().zip(shards) {
            let cap = shard_cap(count.limit, count.shards, *shard);
            if cap < count.amount {
                return Ok(Err(Refusal::Full(items.len() - 1)));
            }
            items.push(self.add(&shard_key(count, *shard), count.amount, cap, count.window_end));
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
                    Ok(Err(refusal(canceled.cancellation_reasons())))
                }
                // The SDK makes one attempt per call (crate::aws::aws_config): throttling is retried here.
                _ if matches!(classify(&e), Failure::Throttled(_) | Failure::Service(_)) => {
                    Ok(Err(Refusal::Busy(err(&e))))
                }
                _ => Err(err(&e)),
            },
        }
    }

    /// A monitored count: added whatever its value; `true` when it is now over the limit.
    async fn add_monitored(&self, count: &Count) -> Result<bool, CounterError> {
        let shard = if count.shards > 1 { fastrand::u32(0..count.shards) } else { 0 };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&shard_key(count, shard)))
            .update_expression("ADD n :amount SET expires_at = :expires")
            .expression_attribute_values(":amount", n(count.amount))
            .expression_attribute_values(":expires", n(count.window_end))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| err(&e))?;
        let now = out.attributes().and_then(|a| a.get("n")).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        Ok(now.unwrap_or(0) > shard_cap(count.limit, count.shards, shard))
    }

    /// The enforced counts, shards tried in turn until all fit or one cannot.
    async fn count_enforced(&self, message: &str, plan: &[&Count]) -> Result<Counted, CounterError> {
        let mut shards: Vec<u32> =
            plan.iter().map(|c| if c.shards > 1 { fastrand::u32(0..c.shards) } else { 0 }).collect();
        let mut tried = vec![1u32; plan.len()];
        let mut pause = BUSY_PAUSE;
        for _ in 0..ATTEMPTS {
            match self.transact(message, plan, &shards).await? {
                Ok(()) => {
                    let taken = plan.iter().zip(&shards).map(|(c, i)| (shard_key(c, *i), c.amount)).collect();
                    return Ok(Counted { taken, ..Counted::default() });
                }
                Err(Refusal::AlreadyCounted) => return Ok(Counted { already: true, ..Counted::default() }),
                Err(Refusal::Conflict) => {
                    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..10))).await
                }
                Err(Refusal::Busy(e)) if pause > BUSY_PAUSE * 8 => return Err(e),
                Err(Refusal::Busy(_)) => {
                    // Equal jitter: half the pause, plus up to the other half.
                    tokio::time::sleep(pause / 2 + pause.mul_f64(fastrand::f64() / 2.0)).await;
                    pause *= 2;
                }
                Err(Refusal::Full(i)) if tried[i] < plan[i].shards => {
                    shards[i] = (shards[i] + 1) % plan[i].shards;
                    tried[i] += 1;
                }
                Err(Refusal::Full(i)) => return Ok(Counted { refused: Some(plan[i].rule), ..Counted::default() }),
            }
        }
        Err(CounterError("TransactionConflict".into()))
    }
}

/// Reads a cancelled transaction's reasons: item 0 is the mark, the others the enforced counts.
fn refusal(reasons: &[aws_sdk_dynamodb::types::CancellationReason]) -> Refusal {
    let failed = |r: &&aws_sdk_dynamodb::types::CancellationReason| r.code().is_some_and(|c| c != "None");
    match reasons.iter().enumerate().find(|(_, r)| failed(r)) {
        Some((0, r)) if r.code() == Some("ConditionalCheckFailed") => Refusal::AlreadyCounted,
        Some((i, r)) if r.code() == Some("ConditionalCheckFailed") => Refusal::Full(i - 1),
        _ => Refusal::Conflict,
    }
}

impl Counters for DynamoCounters {
    async fn count(&self, message: &str, plan: &[Count]) -> Result<Counted, CounterError> {
        let enforced: Vec<&Count> = plan.iter().filter(|c| c.mode == Mode::Enforce).collect();
        let monitored = plan.iter().filter(|c| c.mode == Mode::Monitor);
        let monitored = join_all(
            monitored.map(|c| async move { Ok::<_, CounterError>(self.add_monitored(c).await?.then_some(c.rule)) }),
        );
        let (counted, over) = tokio::join!(self.count_enforced(message, &enforced), monitored);
        let mut counted = counted?;
        if counted.refused.is_none() {
            counted.over = over.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
        }
        Ok(counted)
    }

    async fn give_back(&self, message: &str, counted: &Counted) -> Result<(), CounterError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&format!("gate#msg#{message}")))
            .build()
            .expect("table and key are set");
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        for (key, amount) in &counted.taken {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(key))
                .update_expression("ADD n :minus")
                .expression_attribute_values(":minus", AttributeValue::N(format!("-{amount}")))
                .build()
                .expect("table, key and expression are set");
            items.push(TransactWriteItem::builder().update(update).build());
        }
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_caps_add_up_to_the_limit() {
        for (limit, shards) in [(5, 10), (100, 10), (1001, 10), (7, 1)] {
            let caps: Vec<u64> = (0..shards).map(|i| shard_cap(limit, shards, i)).collect();
            assert_eq!(caps.iter().sum::<u64>(), limit, "{limit}/{shards}: {caps:?}");
            assert!(caps.iter().max().unwrap() - caps.iter().min().unwrap() <= 1);
        }
    }
}
