//! The counters in the DynamoDB state table (the ledger's table): one transaction adds every enforced count
//! under its limit's condition, all or none, together with a mark that the message was counted and, when the
//! ledger's [`Claims`] are given, the message's claim in the ledger; monitored counts are plain atomic
//! additions beside it. A shared counter is spread over [`super::SHARDS`] items whose
//! caps add up to the limit, so it stays exact: a message refused by one shard tries the next.
//!
//! The low-conversion rule keeps one item per pool and prefix, beside that transaction: a send adds its code to
//! the unit it was sent in and reads the whole history back from the same `UpdateItem`; a conversion adds to
//! the unit its code was sent in. Both are atomic additions, so no update is lost under concurrency.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update};
use futures::future::join_all;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::policy::{Mode, Rule};
use super::quarantine::{self, Entry, Verdict, HORIZON};
use super::{watch_key, ClaimAndCount, Conversions, Count, Counted, CounterError, Counters, Plan, Scope, Watch};
use crate::aws::{classify, Failure};
use crate::ledger::dynamodb::{Claims, DynamoLedger};
use crate::ledger::Claim;

/// The counters in `table`.
pub struct DynamoCounters {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The low-conversion rule's judging unit, seconds.
    unit: u64,
    /// The ledger's claims, made in the counts' transaction.
    claims: Option<Claims>,
}

impl DynamoCounters {
    /// Counters in `table` (partition key `pk` S, TTL attribute `expires_at`).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCounters { client, table: table.into(), unit: quarantine::DEFAULT_UNIT_SECONDS, claims: None }
    }

    /// Claiming each message in the ledger (whose table this is) in the same transaction as its counts: one
    /// request instead of two, and one round trip less before the SMS goes out.
    pub fn with_claims(mut self, claims: Claims) -> Self {
        self.claims = Some(claims);
        self
    }

    /// With the low-conversion rule's judging unit (`SMS_QUARANTINE_UNIT_SECONDS`): the history is kept per
    /// unit, so the sends and the conversions must agree on it.
    pub fn with_judging_unit(mut self, unit: Duration) -> Self {
        self.unit = unit.as_secs().max(1);
        self
    }
}

/// The ledger and the counters in one state table, as the function is deployed: the counters claim each message
/// in the ledger (records kept for `ttl`) in the same request as its counts.
pub fn state_table(client: aws_sdk_dynamodb::Client, table: &str, ttl: Duration) -> (DynamoLedger, DynamoCounters) {
    let ledger = DynamoLedger::new(client.clone(), table, ttl);
    let counters = DynamoCounters::new(client, table).with_claims(ledger.claims().clone());
    (ledger, counters)
}

/// How many times a transaction is tried when shards are full or another transaction holds an item.
const ATTEMPTS: u32 = super::SHARDS + 8;
/// The first pause after DynamoDB throttled a transaction; it doubles, four times at most (750 ms in all).
const BUSY_PAUSE: Duration = Duration::from_millis(50);

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
    /// The ledger's claim found the message sent, or held by another invocation.
    Claimed(Claim),
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

    /// One try: the claim (when given), the mark and every enforced count at its chosen shard.
    async fn transact(
        &self,
        message: &str,
        claim: Option<&Put>,
        plan: &[&Count],
        shards: &[u32],
    ) -> Result<Result<(), Refusal>, CounterError> {
        let expires = plan.iter().map(|c| c.window_end).max().unwrap_or(0);
        let mut items: Vec<TransactWriteItem> =
            claim.map(|put| TransactWriteItem::builder().put(put.clone()).build()).into_iter().collect();
        items.push(self.mark(message, expires));
        let first = items.len();
        for (count, shard) in plan.iter().zip(shards) {
            let cap = shard_cap(count.limit, count.shards, *shard);
            if cap < count.amount {
                return Ok(Err(Refusal::Full(items.len() - first)));
            }
            items.push(self.add(&shard_key(count, *shard), count.amount, cap, count.window_end));
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
                    Ok(Err(refusal(canceled.cancellation_reasons(), first)))
                }
                // The SDK makes one attempt per call (crate::aws::aws_config): throttling is retried here.
                _ if matches!(classify(&e), Failure::Throttled(_) | Failure::Service(_)) => {
                    Ok(Err(Refusal::Busy(err(&e))))
                }
                _ => Err(err(&e)),
            },
        }
    }

    /// A monitored count: added whatever its value.
    async fn add_monitored<'a>(&self, count: &'a Count) -> Result<Added<'a>, CounterError> {
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
        let over = now.unwrap_or(0) > shard_cap(count.limit, count.shards, shard);
        Ok(Added { count, key: shard_key(count, shard), over })
    }

    /// The claim (when given) and the enforced counts, shards tried in turn until all fit or one cannot. The
    /// claim found is returned when it was made or found the message sent or held elsewhere.
    async fn count_enforced(
        &self,
        message: &str,
        claim: Option<&Put>,
        plan: &[&Count],
    ) -> Result<(Option<Claim>, Counted), CounterError> {
        let mut shards: Vec<u32> =
            plan.iter().map(|c| if c.shards > 1 { fastrand::u32(0..c.shards) } else { 0 }).collect();
        let mut tried = vec![1u32; plan.len()];
        let mut pause = BUSY_PAUSE;
        for _ in 0..ATTEMPTS {
            match self.transact(message, claim, plan, &shards).await? {
                Ok(()) => {
                    let taken = plan.iter().zip(&shards).map(|(c, i)| (shard_key(c, *i), c.amount)).collect();
                    return Ok((claim.map(|_| Claim::Acquired), Counted { taken, ..Counted::default() }));
                }
                // Sent or held elsewhere: that delivery counted it.
                Err(Refusal::Claimed(found)) => {
                    return Ok((Some(found), Counted { already: true, ..Counted::default() }))
                }
                Err(Refusal::AlreadyCounted) => return Ok((None, Counted { already: true, ..Counted::default() })),
                Err(Refusal::Conflict) => tokio::time::sleep(Duration::from_millis(fastrand::u64(1..10))).await,
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
                Err(Refusal::Full(i)) => {
                    return Ok((None, Counted { refused: Some(plan[i].rule), ..Counted::default() }));
                }
            }
        }
        Err(CounterError("TransactionConflict".into()))
    }
}

/// Reads a cancelled transaction's reasons: the items before `first` are the claim (when made) and the mark
/// (the last of them), the others the enforced counts.
fn refusal(reasons: &[aws_sdk_dynamodb::types::CancellationReason], first: usize) -> Refusal {
    let failed = |r: &&aws_sdk_dynamodb::types::CancellationReason| r.code().is_some_and(|c| c != "None");
    match reasons.iter().enumerate().find(|(_, r)| failed(r)) {
        Some((i, r)) if r.code() == Some("ConditionalCheckFailed") && i + 1 < first => {
            Refusal::Claimed(Claims::found(r.item()))
        }
        Some((i, r)) if r.code() == Some("ConditionalCheckFailed") && i + 1 == first => Refusal::AlreadyCounted,
        Some((i, r)) if r.code() == Some("ConditionalCheckFailed") => Refusal::Full(i - first),
        _ => Refusal::Conflict,
    }
}

/// A monitored count added: to which item, and whether it is now over its limit.
struct Added<'a> {
    count: &'a Count,
    key: String,
    over: bool,
}

impl Counters for DynamoCounters {
    async fn count(&self, message: &str, plan: &Plan, lease_until: Option<SystemTime>) -> ClaimAndCount {
        let claim = lease_until.zip(self.claims.as_ref()).map(|(lease, claims)| claims.put(message, lease));
        let enforced: Vec<&Count> = plan.counts.iter().filter(|c| c.mode == Mode::Enforce).collect();
        let monitored = plan.counts.iter().filter(|c| c.mode == Mode::Monitor);
        let monitored = join_all(monitored.map(|c| self.add_monitored(c)));
        let watched = async {
            match &plan.watch {
                Some(w) => self.watch(w).await.map(|found| Some((w, found))),
                None => Ok(None),
            }
        };
        let (enforced, monitored, watched) =
            tokio::join!(self.count_enforced(message, claim.as_ref(), &enforced), monitored, watched);
        let (claim, counted) = match enforced {
            Ok(found) => found,
            Err(e) => return ClaimAndCount::unclaimed(Err(e)),
        };
        let counted = match (monitored.into_iter().collect(), watched) {
            (Ok(monitored), Ok(watched)) => self.finish(message, counted, monitored, watched).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        ClaimAndCount { claim, counted }
    }

    async fn give_back(&self, message: &str, counted: &Counted) -> Result<(), CounterError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&format!("gate#msg#{message}")))
            .build()
            .expect("table and key are set");
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        items.extend(self.undo(counted));
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(|e| err(&e))
    }
}

impl DynamoCounters {
    /// The updates that take back what `counted` added: its amounts and its low-conversion code.
    fn undo(&self, counted: &Counted) -> Vec<TransactWriteItem> {
        let mut items = Vec::new();
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
        if let Some((key, attribute)) = &counted.code {
            items.push(TransactWriteItem::builder().update(self.uncount(key, attribute)).build());
        }
        items
    }

    /// Completes the counts made beside the transaction. A message not counted (refused, counted before, or
    /// sent or held elsewhere) takes back what was added beside it; one counted keeps its monitored counts
    /// (given back with the rest if it is not sent), notes those over their limit, and is judged by the
    /// low-conversion rule.
    async fn finish(
        &self,
        message: &str,
        mut counted: Counted,
        monitored: Vec<Added<'_>>,
        watched: Option<(&Watch, Watched)>,
    ) -> Result<Counted, CounterError> {
        let added = monitored.iter().map(|a| (a.key.clone(), a.count.amount)).collect();
        if counted.refused.is_some() || counted.already {
            let beside = Counted { taken: added, code: watched.map(|(_, w)| w.code), ..Counted::default() };
            let items = self.undo(&beside);
            if !items.is_empty() {
                self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(|e| err(&e))?;
            }
            return Ok(counted);
        }
        counted.over = monitored.iter().filter(|a| a.over).map(|a| a.count.rule).collect();
        counted.taken.extend(added);
        match watched {
            Some((watch, watched)) => self.settle(message, counted, watch, watched).await,
            None => Ok(counted),
        }
    }
}

/// What the low-conversion rule found for a message.
struct Watched {
    verdict: Verdict,
    /// The code added to the prefix's item: (key, attribute).
    code: (String, String),
}

/// The attributes of the units just past the horizon, removed as each send passes by so the item stays small.
fn past_horizon(current: u64) -> String {
    let first = current.saturating_sub(2 * HORIZON + 1);
    let last = current.saturating_sub(HORIZON + 1);
    (first..=last).flat_map(|u| [format!("s{u}"), format!("c{u}")]).collect::<Vec<_>>().join(", ")
}

impl DynamoCounters {
    /// Adds the message's code to its prefix's unit and judges the prefix on what the item then holds (the
    /// same request returns it). A message then refused gives the code back with its other counts.
    async fn watch(&self, w: &Watch) -> Result<Watched, CounterError> {
        let current = w.now / self.unit;
        let attribute = format!("s{current}");
        // The item outlives the history and any quarantine it holds.
        let keep = (HORIZON + 2) * self.unit + w.settings.max_cooling_off.as_secs();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&w.key))
            .update_expression(format!(
                "ADD {attribute} :one SET expires_at = :expires REMOVE {}",
                past_horizon(current)
            ))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(w.now + keep))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| err(&e))?;
        let history = quarantine::history_of(out.attributes().unwrap_or(&Default::default()), |v| {
            v.as_n().ok().and_then(|v| v.parse().ok())
        });
        let verdict = quarantine::judge(&history, &w.settings, self.unit, w.now);
        Ok(Watched { verdict, code: (w.key.clone(), attribute) })
    }

    /// Puts the prefix in `entry`'s quarantine; concurrent messages that find it so all write the same.
    async fn enter(&self, w: &Watch, entry: Entry) -> Result<(), CounterError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&w.key))
            // Both names are DynamoDB reserved words or close to them: aliased.
            .update_expression("SET #until = :until, #since = :since, cooled = :cooled")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#since", "since")
            .expression_attribute_values(":until", n(entry.until))
            .expression_attribute_values(":since", n(entry.since))
            .expression_attribute_values(":cooled", n(entry.cooled))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e))
    }

    /// What the low-conversion rule's finding means for a message the limits counted as `counted`: one the rule
    /// refuses gives back everything.
    async fn settle(
        &self,
        message: &str,
        mut counted: Counted,
        w: &Watch,
        watched: Watched,
    ) -> Result<Counted, CounterError> {
        counted.code = Some(watched.code);
        if let Verdict::Enter(entry) = watched.verdict {
            self.enter(w, entry).await?;
        }
        match (watched.verdict.blocks(), w.mode) {
            (false, _) => Ok(counted),
            (true, Mode::Monitor) => {
                counted.over.push(Rule::LowConversion);
                Ok(counted)
            }
            (true, Mode::Enforce) => {
                self.give_back(message, &counted).await?;
                Ok(Counted { refused: Some(Rule::LowConversion), ..Counted::default() })
            }
        }
    }

    /// Takes one code back from a prefix's unit.
    fn uncount(&self, key: &str, attribute: &str) -> Update {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(format!("ADD {attribute} :minus"))
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .build()
            .expect("table, key and expression are set")
    }
}

impl Conversions for DynamoCounters {
    async fn converted(&self, scope: &Scope, sent_at: SystemTime) -> Result<(), CounterError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let sent = sent_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / self.unit;
        if sent + HORIZON < now / self.unit {
            // Past the horizon: the rule no longer reads that unit.
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&watch_key(&scope.pool, &scope.prefix)))
            .update_expression(format!("ADD c{sent} :one SET expires_at = if_not_exists(expires_at, :expires)"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(now + (HORIZON + 2) * self.unit))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(&e))
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
