//! The low-conversion rule against moto's DynamoDB, with the clock in the test's hands (the gate is given `now`):
//! the boundary of N codes and the threshold, too little history, the cooling-off, probation and its escalation,
//! monitor mode, concurrent sends and conversions, codes given back, and the DynamoDB requests each SMS costs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use cognito_sms_sender::destination::phone::PhoneNumber;
use cognito_sms_sender::gate::dynamodb::DynamoCounters;
use cognito_sms_sender::gate::policy::{Mode, Policy, Rule, DEFAULT_QUARANTINE};
use cognito_sms_sender::gate::quarantine::DEFAULT_UNIT_SECONDS as UNIT;
use cognito_sms_sender::gate::{self, watch_key, Conversions, Counted, Counters, Scope, Subject};
use common::{moto, Requests};

/// Messages to one prefix (`+44740012`) of one pool, at times the test chooses.
struct Prefix {
    counters: DynamoCounters,
    client: aws_sdk_dynamodb::Client,
    table: String,
    pool: String,
    policy: Policy,
    requests: Requests,
    sent: AtomicUsize,
}

const PHONE: &str = "+447400123456";

/// The number every message goes to.
fn phone() -> PhoneNumber {
    PhoneNumber::parse(Some(PHONE)).unwrap()
}

impl Prefix {
    /// A fresh table under the default quarantine settings (on), in `mode`.
    async fn new(mode: Mode) -> Prefix {
        let table = moto().create_ledger_table().await;
        let (client, requests) = Requests::counted_client();
        // No other limit: every message goes to one number.
        let mut policy = Policy { quarantine: DEFAULT_QUARANTINE, limits: Default::default(), ..Policy::default() };
        policy.quarantine.enabled = true;
        policy.modes.insert(Rule::LowConversion, mode);
        Prefix {
            counters: DynamoCounters::new(client.clone(), &table),
            client,
            table,
            pool: "eu-west-2_Quarantine".into(),
            policy,
            requests,
            sent: AtomicUsize::new(0),
        }
    }

    /// Counts a new message to the prefix at `at` (epoch seconds).
    async fn send(&self, at: u64) -> Counted {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        self.send_as(&format!("msg-{n}"), at).await
    }

    async fn send_as(&self, message: &str, at: u64) -> Counted {
        let phone = phone();
        let subject = Subject { pool: &self.pool, user: "u", phone: &phone, country: phone.country(), parts: 1 };
        let plan = gate::plan(&self.policy, &subject, UNIX_EPOCH + Duration::from_secs(at));
        self.counters.count(message, &plan, None).await.counted.unwrap()
    }

    /// Whether a message at `at` goes out: `None`, or the rule that refused it.
    async fn refused(&self, at: u64) -> Option<Rule> {
        self.send(at).await.refused
    }

    async fn convert(&self, sent_at: u64) {
        let scope = Scope { pool: self.pool.clone(), country: phone().country(), prefix: phone().prefix(6) };
        self.counters.converted(&scope, UNIX_EPOCH + Duration::from_secs(sent_at)).await.unwrap();
    }

    /// The prefix item's codes (sent, converted) in the unit of `at`.
    async fn tally(&self, at: u64) -> (u64, u64) {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(watch_key(&self.pool, &phone().prefix(6))))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let item = item.item().cloned().unwrap_or_default();
        let number = |name: String| item.get(&name).and_then(|v| v.as_n().ok()).map_or(0, |v| v.parse().unwrap());
        (number(format!("s{}", at / UNIT)), number(format!("c{}", at / UNIT)))
    }
}

/// Puts a fresh prefix in quarantine: ten codes from now, none entered, judged two units later. Returns when
/// the quarantine ends.
async fn quarantined(p: &Prefix) -> u64 {
    let t0 = start();
    for _ in 0..10 {
        assert_eq!(p.refused(t0).await, None);
    }
    let entered = t0 + 2 * UNIT;
    assert_eq!(p.refused(entered).await, Some(Rule::LowConversion), "quarantine starts");
    entered + DEFAULT_QUARANTINE.cooling_off.as_secs()
}

/// The start of the current judging unit: conversions older than the horizon (from the real clock) are dropped,
/// so the test's clock starts now.
fn start() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    now - now % UNIT
}

#[tokio::test]
async fn quarantine_enters_exactly_below_the_threshold_after_n_codes() {
    // Default settings: judged on 10 codes, quarantined below 20 % entered.
    for (sent, converted, want) in [(10, 1, Some(Rule::LowConversion)), (10, 2, None), (9, 0, None)] {
        let p = Prefix::new(Mode::Enforce).await;
        let t0 = start();
        for _ in 0..sent {
            assert_eq!(p.refused(t0).await, None, "no history: sent");
        }
        for _ in 0..converted {
            p.convert(t0).await;
        }
        // Still young (less than one unit old): not judged.
        assert_eq!(p.refused(t0 + UNIT).await, None, "{sent} sent, {converted} entered: too young");
        assert_eq!(p.refused(t0 + 2 * UNIT).await, want, "{sent} sent, {converted} entered");
    }
}

#[tokio::test]
async fn the_prefix_cools_off_then_goes_on_probation() {
    let p = Prefix::new(Mode::Enforce).await;
    let released = quarantined(&p).await;
    assert_eq!(p.refused(released - 1).await, Some(Rule::LowConversion), "still cooling off");
    // Released on probation: three codes go out, the fourth waits until they are judged.
    let probation = DEFAULT_QUARANTINE.probation;
    for n in 0..probation {
        assert_eq!(p.refused(released).await, None, "probation code {n}");
    }
    assert_eq!(p.refused(released).await, Some(Rule::LowConversion), "the fourth waits");
    assert_eq!(p.tally(released).await, (probation, 0), "codes refused are not counted");
    // One of the three entered (33 %, not below 20 %): once judged, the prefix is free again.
    p.convert(released).await;
    let judged = released - released % UNIT + 2 * UNIT;
    for _ in 0..5 {
        assert_eq!(p.refused(judged).await, None);
    }
}

#[tokio::test]
async fn a_failed_probation_quarantines_again_for_twice_as_long() {
    let p = Prefix::new(Mode::Enforce).await;
    let released = quarantined(&p).await;
    for _ in 0..DEFAULT_QUARANTINE.probation {
        assert_eq!(p.refused(released).await, None);
    }
    let judged = released - released % UNIT + 2 * UNIT;
    assert_eq!(p.refused(judged).await, Some(Rule::LowConversion), "none entered: quarantined again");
    let twice = judged + 2 * DEFAULT_QUARANTINE.cooling_off.as_secs();
    assert_eq!(p.refused(twice - 1).await, Some(Rule::LowConversion), "cooling off for two days");
    // Released again; a second failed probation: four days.
    for _ in 0..DEFAULT_QUARANTINE.probation {
        assert_eq!(p.refused(twice).await, None);
    }
    let judged = twice - twice % UNIT + 2 * UNIT;
    assert_eq!(p.refused(judged).await, Some(Rule::LowConversion));
    let four_days = judged + 4 * DEFAULT_QUARANTINE.cooling_off.as_secs();
    assert_eq!(p.refused(four_days - 1).await, Some(Rule::LowConversion));
    assert_eq!(p.refused(four_days).await, None, "released on probation");
}

#[tokio::test]
async fn monitor_mode_sends_and_notes_the_rule() {
    let p = Prefix::new(Mode::Monitor).await;
    let t0 = start();
    for _ in 0..10 {
        p.refused(t0).await;
    }
    for at in [t0 + 2 * UNIT, t0 + 3 * UNIT] {
        let counted = p.send(at).await;
        assert_eq!((counted.refused, counted.over.as_slice()), (None, &[Rule::LowConversion][..]), "at {at}");
        assert!(counted.code.is_some(), "a monitored code is counted");
    }
    assert_eq!(p.tally(t0 + 2 * UNIT).await, (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_and_conversions_are_all_counted() {
    let p = Arc::new(Prefix::new(Mode::Enforce).await);
    let t0 = start();
    let runs: Vec<_> = (0..60)
        .map(|n| {
            let p = p.clone();
            tokio::spawn(async move {
                if n % 2 == 0 {
                    assert_eq!(p.refused(t0).await, None);
                } else {
                    p.convert(t0).await;
                }
            })
        })
        .collect();
    for r in runs {
        r.await.unwrap();
    }
    assert_eq!(p.tally(t0).await, (30, 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_on_probation_let_exactly_the_probation_through() {
    let p = Arc::new(Prefix::new(Mode::Enforce).await);
    let released = quarantined(&p).await;
    let runs: Vec<_> = (0..30)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.refused(released).await.is_none() })
        })
        .collect();
    let mut passed = 0u64;
    for r in runs {
        passed += u64::from(r.await.unwrap());
    }
    assert_eq!(passed, DEFAULT_QUARANTINE.probation);
    assert_eq!(p.tally(released).await, (DEFAULT_QUARANTINE.probation, 0));
}

#[tokio::test]
async fn a_message_not_sent_gives_its_code_back_and_a_redelivery_counts_once() {
    let mut p = Prefix::new(Mode::Enforce).await;
    p.policy.limits.insert(Rule::PerNumber, gate::policy::parse_limits("2/1h").unwrap());
    let t0 = start();
    assert!(p.send_as("once", t0).await.code.is_some());
    assert!(p.send_as("once", t0).await.already, "the redelivery");
    assert_eq!(p.tally(t0).await, (1, 0), "counted once");
    assert_eq!(p.refused(t0).await, None);
    assert_eq!(p.refused(t0).await, Some(Rule::PerNumber));
    assert_eq!(p.tally(t0).await, (2, 0), "a message another rule refused is not a code sent");
    // SNS failed: the sender gives the message's counts back, its code with them.
    let failed = p.send_as("failed", t0 + 4000).await;
    assert_eq!(p.tally(t0 + 4000).await, (1, 0));
    p.counters.give_back("failed", &failed).await.unwrap();
    assert_eq!(p.tally(t0 + 4000).await, (0, 0));
}

#[tokio::test]
async fn the_rule_costs_one_request_per_sms_and_nothing_when_off() {
    let mut p = Prefix::new(Mode::Enforce).await;
    let t0 = start();
    let before = p.requests.count();
    p.refused(t0).await;
    assert_eq!(p.requests.count() - before, 2, "the limits' transaction and the rule's update");
    p.policy.quarantine.enabled = false;
    let before = p.requests.count();
    p.refused(t0).await;
    assert_eq!(p.requests.count() - before, 1, "off: the transaction only");
}

#[tokio::test]
async fn units_past_the_horizon_are_removed_as_sends_pass() {
    use cognito_sms_sender::gate::quarantine::HORIZON;
    let p = Prefix::new(Mode::Enforce).await;
    let t0 = start();
    p.refused(t0).await;
    p.convert(t0).await;
    p.refused(t0 + HORIZON * UNIT).await;
    assert_eq!(p.tally(t0).await, (1, 1), "within the horizon: kept");
    p.refused(t0 + (HORIZON + 1) * UNIT).await;
    assert_eq!(p.tally(t0).await, (0, 0), "past it: removed");
}
