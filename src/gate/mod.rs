//! The abuse gate: refuses SMS that SMS pumping (artificially inflated traffic) would make the team pay for,
//! before they are paid for. Stateless rules (country, kind of number) run before any KMS call; velocity
//! limits and the budget are counters in DynamoDB, updated beside the decrypt.
//!
//! Layout: [`policy`] (the rules and their settings), [`source`] (the policy in force, reloaded from AWS
//! AppConfig), [`quarantine`] (the low-conversion rule's decision), here the decisions and the [`Counters`] and
//! [`Conversions`] ports, and their adapter [`dynamodb`].

pub mod dynamodb;
pub mod policy;
pub mod quarantine;
pub mod source;

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::destination::phone::{Country, PhoneNumber};
use crate::ledger::Claim;
use policy::{Mode, Policy, Quarantine, Rule};

/// Why the gate stops (or, in monitor mode, would stop) a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub rule: Rule,
    pub mode: Mode,
    /// What to do about it, for the `reason` field. Never the number.
    pub reason: String,
}

/// The rules that need no state: the destination's country and kind of number. `None` when every rule passes.
pub fn screen(policy: &Policy, phone: &PhoneNumber, country: Option<Country>) -> Option<Block> {
    if policy.exempt.contains(phone.as_e164()) {
        return None;
    }
    let block = |rule: Rule, reason: String| Some(Block { rule, mode: policy.mode_of(rule), reason });
    let code = country.as_ref().map_or("unknown", |c| c.as_ref());
    let allowed = match (&policy.allowed_countries, country) {
        (None, _) => true,
        (Some(list), Some(c)) => list.contains(&c),
        (Some(_), None) => false,
    };
    if !allowed || country.is_some_and(|c| policy.blocked_countries.contains(&c)) {
        return block(
            Rule::Country,
            format!("SMS to {code} are not allowed by the policy (SMS_ALLOWED_COUNTRIES / SMS_BLOCKED_COUNTRIES)"),
        );
    }
    let facts = phone.facts();
    if policy.refuse_invalid && !facts.valid {
        return block(Rule::NumberType, format!("the number is not valid for {code}'s numbering plan; set refuse_invalid_numbers = false in the policy if real users are refused"));
    }
    match facts.kind.filter(|k| policy.blocked_kinds.contains(k)) {
        Some(kind) => block(
            Rule::NumberType,
            format!("{} numbers are refused by the policy (SMS_BLOCKED_NUMBER_TYPES)", kind.as_str()),
        ),
        None => None,
    }
}

/// Who and what a message is, for the counters.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub pool: &'a str,
    pub user: &'a str,
    pub phone: &'a PhoneNumber,
    pub country: Option<Country>,
    /// Estimated SMS parts of the message, for its cost.
    pub parts: usize,
}

/// One counter to add to: the `amount` must keep it at or under `limit` in its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub rule: Rule,
    pub mode: Mode,
    /// The counter's key without its shard: a rule, a hashed or coarse subject, a window.
    pub key: String,
    pub limit: u64,
    pub amount: u64,
    /// When the window ends (epoch seconds): the counter's item expires then.
    pub window_end: u64,
    /// How many items the counter is spread over (1: one item).
    pub shards: u32,
}

/// Counters that many users share (a pool's total, a country, the budget) are spread over this many items, so
/// none becomes a hot key: see docs/operating.md for the arithmetic.
pub const SHARDS: u32 = 32;

/// The low-conversion rule's part of a plan: the message's prefix, judged at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub mode: Mode,
    /// The prefix's item: [`watch_key`].
    pub key: String,
    /// Epoch seconds.
    pub now: u64,
    pub settings: Quarantine,
}

/// What counting a message takes: the limits' counters, and the low-conversion rule when it is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub counts: Vec<Count>,
    pub watch: Option<Watch>,
}

impl Plan {
    /// Nothing to count.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.watch.is_none()
    }
}

/// The item holding a prefix's codes sent and entered, for the low-conversion rule.
pub fn watch_key(pool: &str, prefix: &str) -> String {
    format!("gate#{}#{pool}#{prefix}", Rule::LowConversion.as_str())
}

/// What `counts` and `watch` take for this message under `policy`, at `now`.
pub fn plan(policy: &Policy, subject: &Subject, now: SystemTime) -> Plan {
    if policy.exempt.contains(subject.phone.as_e164()) {
        return Plan::default();
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let prefix = subject.phone.prefix(policy.prefix_digits);
    let watch = policy.quarantine.enabled.then(|| Watch {
        mode: policy.mode_of(Rule::LowConversion),
        key: watch_key(subject.pool, &prefix),
        now,
        settings: policy.quarantine,
    });
    Plan { counts: counts(policy, subject, &prefix, now), watch }
}

/// The limits' counters for this message, at `now` (epoch seconds).
fn counts(policy: &Policy, subject: &Subject, prefix: &str, now: u64) -> Vec<Count> {
    let mut counts = Vec::new();
    let mut add = |rule: Rule, subject_key: String, limits: &[policy::Limit], amount: u64, shards: u32| {
        for limit in limits {
            // Each shard must hold at least one message's amount, or a small cap could never be reached.
            let shards = shards.min(u32::try_from(limit.count / amount.max(1)).unwrap_or(u32::MAX)).max(1);
            let window = limit.window.as_secs().max(1);
            let start = now - now % window;
            counts.push(Count {
                rule,
                mode: policy.mode_of(rule),
                key: format!("gate#{}#{subject_key}#{window}#{start}", rule.as_str()),
                limit: limit.count,
                amount,
                window_end: start + window,
                shards,
            });
        }
    };
    let limits = |rule: Rule| policy.limits.get(&rule).map_or(&[][..], Vec::as_slice);
    add(Rule::PerNumber, hashed(&[subject.phone.as_e164()]), limits(Rule::PerNumber), 1, 1);
    add(Rule::PerUser, hashed(&[subject.pool, subject.user]), limits(Rule::PerUser), 1, 1);
    add(Rule::PerPrefix, prefix.to_owned(), limits(Rule::PerPrefix), 1, 1);
    if let Some(c) = subject.country {
        add(Rule::PerCountry, format!("{}#{}", subject.pool, c.as_ref()), policy.country_limits(c), 1, SHARDS);
    }
    add(Rule::Total, subject.pool.to_owned(), limits(Rule::Total), 1, SHARDS);
    let cost = policy.price(subject.country) * subject.parts.max(1) as u64;
    add(Rule::Budget, format!("{}#usd", subject.pool), &policy.budget, cost, SHARDS);
    counts
}

/// A subject that must not be readable in the table: the first 16 bytes of a SHA-256, hex. The ledger keys a
/// user's messages on `hashed(&[pool, userName])` too.
pub fn hashed(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// What counting found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    /// The enforced rule whose limit the message would pass; nothing was added then.
    pub refused: Option<Rule>,
    /// Monitored rules whose limit the message passed (it was counted and goes out).
    pub over: Vec<Rule>,
    /// This message was counted before (a redelivery): nothing was added again.
    pub already: bool,
    /// What was added, to give back if the message is not sent: (item key, amount).
    pub taken: Vec<(String, u64)>,
    /// The code counted for the low-conversion rule, to give back if the message is not sent: (item key,
    /// attribute).
    pub code: Option<(String, String)>,
}

/// The `reason` of a message refused by `rule` after counting.
pub fn refusal_reason(rule: Rule) -> String {
    match rule {
        Rule::LowConversion => "codes sent to this number's prefix are rarely entered (below the policy's quarantine.min_conversion): the prefix is quarantined, or on probation until its last codes are judged; see docs/operating.md#the-low-conversion-rule".into(),
        _ => format!("the {} limit of the SMS policy is reached for this message", rule.as_str()),
    }
}

/// Why the counters could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the abuse gate's counters could not be used ({0}); check STATE_TABLE and the role's DynamoDB permissions")]
pub struct CounterError(pub String);

/// What [`Counters::count`] did: the message's claim in the ledger, when it was made in the same request as the
/// counts, and the counts.
#[derive(Debug)]
pub struct ClaimAndCount {
    /// What claiming the message found; `None` when it was not claimed here, and the caller claims it alone.
    pub claim: Option<Claim>,
    pub counted: Result<Counted, CounterError>,
}

impl ClaimAndCount {
    /// Counts made without a claim.
    pub fn unclaimed(counted: Result<Counted, CounterError>) -> Self {
        ClaimAndCount { claim: None, counted }
    }
}

/// Counts messages against the limits, exactly under concurrency.
pub trait Counters: Send + Sync {
    /// Adds `message`'s counts: the enforced ones all together or none (when one would pass its limit), the
    /// monitored ones always. A message counted before is not counted again.
    /// The low-conversion rule (`plan.watch`) counts the code for its prefix and judges the prefix; a message it
    /// refuses takes nothing.
    ///
    /// With `lease_until`, counters that share the ledger's table claim `message` in the ledger (until then) in
    /// the same request as the enforced counts, so claiming and counting cost one round trip. A message found
    /// sent or held elsewhere, or refused by a limit, is neither claimed nor counted. The claim is `None` when
    /// it was not made here (nothing to count, the message counted before by a sender whose lease ran out, the
    /// counters out of reach, or counters that cannot): the caller claims it alone.
    fn count(
        &self,
        message: &str,
        plan: &Plan,
        lease_until: Option<SystemTime>,
    ) -> impl Future<Output = ClaimAndCount> + Send;

    /// Takes back what [`Counters::count`] added for `message`, which was not sent.
    fn give_back(&self, message: &str, counted: &Counted) -> impl Future<Output = Result<(), CounterError>> + Send;
}

/// No counters (no `STATE_TABLE`): nothing is counted, nothing refused.
impl<C: Counters> Counters for Option<C> {
    async fn count(&self, message: &str, plan: &Plan, lease_until: Option<SystemTime>) -> ClaimAndCount {
        match self {
            Some(counters) if !plan.is_empty() => counters.count(message, plan, lease_until).await,
            _ => ClaimAndCount::unclaimed(Ok(Counted::default())),
        }
    }

    async fn give_back(&self, message: &str, counted: &Counted) -> Result<(), CounterError> {
        match self {
            Some(counters) if !counted.taken.is_empty() || counted.code.is_some() => {
                counters.give_back(message, counted).await
            }
            _ => Ok(()),
        }
    }
}

/// Where a sent code went, for the low-conversion rule: the pool, and the destination's country and prefix
/// ([`PhoneNumber::prefix`] with the policy's `prefix_digits`). Never the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub pool: String,
    pub country: Option<Country>,
    pub prefix: String,
}

/// Counts the codes people entered (conversions), which the low-conversion rule weighs against the codes sent.
pub trait Conversions: Send + Sync {
    /// Counts one conversion of a code sent to `scope` at `sent_at`. Called once per converted message.
    fn converted(&self, scope: &Scope, sent_at: SystemTime) -> impl Future<Output = Result<(), CounterError>> + Send;
}

/// No counters (no `STATE_TABLE`): conversions are not counted.
impl<C: Conversions> Conversions for Option<C> {
    async fn converted(&self, scope: &Scope, sent_at: SystemTime) -> Result<(), CounterError> {
        match self {
            Some(conversions) => conversions.converted(scope, sent_at).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::phone::parse_country;
    use std::time::Duration;

    fn phone(n: &str) -> PhoneNumber {
        PhoneNumber::parse(Some(n)).unwrap()
    }

    #[test]
    fn the_screen_refuses_countries_and_kinds() {
        let gb = parse_country("GB");
        let mut p = Policy::default();
        assert_eq!(screen(&p, &phone("+447400123456"), gb), None);
        let premium = screen(&p, &phone("+449098790000"), gb).unwrap();
        assert_eq!((premium.rule, premium.mode), (Rule::NumberType, Mode::Enforce));
        assert!(premium.reason.contains("premium_rate"), "{}", premium.reason);
        p.allowed_countries = Some(["US"].iter().filter_map(|c| parse_country(c)).collect());
        assert_eq!(screen(&p, &phone("+447400123456"), gb).unwrap().rule, Rule::Country);
        p.exempt.insert("+447400123456".into());
        assert_eq!(screen(&p, &phone("+447400123456"), gb), None);
        p.allowed_countries = None;
        p.blocked_countries.extend(gb);
        p.modes.insert(Rule::Country, Mode::Monitor);
        assert_eq!(screen(&p, &phone("+447400123457"), gb).unwrap().mode, Mode::Monitor);
    }

    #[test]
    fn the_plan_keys_on_hashes_and_prefixes_never_the_number() {
        let mut p = Policy::default();
        p.limits.insert(Rule::PerPrefix, policy::parse_limits("100/1h").unwrap());
        p.budget = policy::parse_budget_limits("50/1d").unwrap();
        let n = phone("+447400123456");
        let s = Subject { pool: "eu-west-2_P", user: "u", phone: &n, country: parse_country("GB"), parts: 2 };
        let at = UNIX_EPOCH + Duration::from_secs(1_000_000_123);
        let counts = plan(&p, &s, at).counts;
        let rules: Vec<Rule> = counts.iter().map(|c| c.rule).collect();
        assert_eq!(rules, [Rule::PerNumber, Rule::PerNumber, Rule::PerPrefix, Rule::Budget]);
        assert!(counts.iter().all(|c| !c.key.contains("7400123456")), "{counts:?}");
        assert_eq!(counts[2].key, "gate#per_prefix#+44740012#3600#999997200");
        assert_eq!((counts[0].window_end, counts[0].limit), (1_000_000_800, 10));
        assert_eq!((counts[3].amount, counts[3].shards), (2 * policy::DEFAULT_PRICE_MICRO_USD, SHARDS));
        p.exempt.insert("+447400123456".into());
        assert!(plan(&p, &s, at).is_empty());
    }
}
