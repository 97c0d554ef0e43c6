//! The abuse gate against moto's DynamoDB: each rule, each limit's boundary, concurrency, redelivery, monitor
//! mode, the budget, and no KMS call for a destination the policy refuses outright.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cognito_sms_sender::decrypt::{DecryptError, Decrypter};
use cognito_sms_sender::destination::phone::PhoneNumber;
use cognito_sms_sender::dev::sample::sample_event;
use cognito_sms_sender::gate::dynamodb::{state_table, DynamoCounters};
use cognito_sms_sender::ledger::dynamodb::DynamoLedger;
use cognito_sms_sender::ledger::{Claim, Ledger};
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::probe::sns::SnsProbe;
use cognito_sms_sender::publish::{MessageAttributes, PublishError, Publisher};
use cognito_sms_sender::sender::Sender;
use common::{moto, Logs, Requests};
use serde_json::Value;
use zeroize::Zeroizing;

const POOL: &str = "eu-west-2_Gate1";
const CODE: &str = "ZXQ4242";

/// Counts decrypts: a refused destination must not cost a KMS call.
#[derive(Default)]
struct CountingDecrypter(AtomicUsize);

impl Decrypter for CountingDecrypter {
    async fn decrypt(&self, _: &str, _: &str) -> Result<Zeroizing<String>, DecryptError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Zeroizing::new(CODE.to_owned()))
    }
}

/// Records what would have been sent; fails the first `fail_first` publishes.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<String>>,
    fail_first: AtomicUsize,
}

impl Publisher for Recorder {
    async fn publish(
        &self,
        _: &str,
        phone: &PhoneNumber,
        _: &str,
        _: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        if self.fail_first.load(Ordering::SeqCst) > 0 {
            self.fail_first.fetch_sub(1, Ordering::SeqCst);
            return Err(PublishError::ServiceError("InternalError".into()));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(phone.as_e164().to_owned());
        Ok(format!("m-{}", sent.len()))
    }
}

type GateSender = Sender<CountingDecrypter, Recorder, Option<SnsProbe>, Option<DynamoLedger>, Option<DynamoCounters>>;

/// A sender with a fresh state table in moto and `settings`.
async fn sender(settings: &[(&str, &str)]) -> GateSender {
    counted_sender(settings).await.0
}

/// A sender with a fresh state table in moto and `settings`, as deployed (the counters claim each message in the
/// ledger), with its DynamoDB requests counted and the table's name.
async fn counted_sender(settings: &[(&str, &str)]) -> (GateSender, Requests, String) {
    let table = moto().create_ledger_table().await;
    let (dynamodb, requests) = Requests::counted_client();
    let (ledger, counters) = state_table(dynamodb, &table, Duration::from_secs(3600));
    let s = Sender::new(
        CountingDecrypter::default(),
        Recorder::default(),
        None,
        Some(ledger),
        Some(counters),
        common::dev_settings(settings),
    );
    (s, requests, table)
}

/// Whether the ledger holds a record of `e`'s message.
async fn claimed(table: &str, e: &Value) -> bool {
    let key = cognito_sms_sender::ledger::message_key(e["request"]["code"].as_str(), e);
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto().sdk_config());
    let found = dynamodb.get_item().table_name(table).key("pk", AttributeValue::S(key)).send().await.unwrap();
    found.item.is_some()
}

/// A sign-up event to `phone` from `user`, with a distinct encrypted code `n` (so each is its own message).
fn event(phone: &str, user: &str, n: usize) -> Value {
    sample_event(&TriggerSource::SignUp, "eu-west-2", POOL, user, phone, Some(format!("AYADcode{n}")))
}

async fn outcome(s: &GateSender, e: &Value) -> String {
    match s.handle(e).await {
        Ok(v) => v["outcome"].as_str().unwrap().to_owned(),
        Err(e) => e.outcome().as_str().to_owned(),
    }
}

fn blocked_rules(logs: &Logs) -> Vec<String> {
    logs.outcomes()
        .iter()
        .filter(|l| l["outcome"] == "blocked")
        .map(|l| l["rule"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn refused_countries_and_kinds_cost_no_kms_call() {
    let (logs, _guard) = Logs::capture();
    let s = sender(&[("SMS_ALLOWED_COUNTRIES", "GB,US")]).await;
    assert_eq!(outcome(&s, &event("+33671842953", "u1", 1)).await, "blocked");
    assert_eq!(outcome(&s, &event("+449098790000", "u2", 2)).await, "blocked");
    assert_eq!(outcome(&s, &event("+447700900123", "u3", 3)).await, "blocked");
    assert_eq!(s.decrypter.0.load(Ordering::SeqCst), 0, "no decrypt for a refused destination");
    assert_eq!(blocked_rules(&logs), ["country", "number_type", "number_type"]);
    let line = &logs.outcomes()[0];
    assert_eq!((line["country"].as_str(), line["retry"].as_bool()), (Some("FR"), Some(false)));
    assert_eq!(outcome(&s, &event("+447400123456", "u4", 4)).await, "sent");
    logs.assert_clean(&[CODE, "+33671842953", "+449098790000", "+447400123456"]);
}

#[tokio::test]
async fn the_nth_message_passes_the_next_is_blocked_and_a_new_window_lets_it_through() {
    let (logs, _guard) = Logs::capture();
    let s = sender(&[("SMS_LIMIT_PER_NUMBER", "3/10s")]).await;
    // Start just after a window opens, so the four fit one window even on a loaded machine.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    tokio::time::sleep(Duration::from_millis(10_000 - (now.as_millis() % 10_000) as u64 + 50)).await;
    for n in 0..3 {
        assert_eq!(outcome(&s, &event("+447400123456", "u", n)).await, "sent", "message {n}");
    }
    assert_eq!(outcome(&s, &event("+447400123456", "u", 3)).await, "blocked");
    assert_eq!(blocked_rules(&logs), ["per_number"]);
    assert_eq!(s.decrypter.0.load(Ordering::SeqCst), 4, "limits are counted beside the decrypt");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    tokio::time::sleep(Duration::from_millis(10_000 - (now.as_millis() % 10_000) as u64 + 50)).await;
    assert_eq!(outcome(&s, &event("+447400123456", "u", 4)).await, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_messages_never_pass_a_limit() {
    for (settings, phone_of) in [
        (("SMS_LIMIT_PER_NUMBER", "5/1h"), (|_| "+447400123456".to_owned()) as fn(usize) -> String),
        (("SMS_LIMIT_PER_PREFIX", "5/1h"), |n| format!("+4474001234{:02}", n)),
        (("SMS_LIMIT_TOTAL", "7/1h"), |n| format!("+4474009{:05}", n * 7919)),
    ] {
        // Failing closed: a count that cannot be made is never a message sent uncounted.
        let s = Arc::new(sender(&[settings, ("SMS_POLICY_FAIL_OPEN", "off")]).await);
        let runs: Vec<_> = (0..24)
            .map(|n| {
                let (s, e) = (s.clone(), event(&phone_of(n), &format!("user{n}"), n));
                tokio::spawn(async move { outcome(&s, &e).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for r in runs {
            outcomes.push(r.await.unwrap());
        }
        let limit: usize = settings.1.split('/').next().unwrap().parse().unwrap();
        let count = |want: &str| outcomes.iter().filter(|o| *o == want).count();
        let sent = count("sent");
        assert_eq!(s.publisher.sent.lock().unwrap().len(), sent);
        // Never past the limit; exactly the limit unless the table could not be reached for some (an overloaded
        // machine can time a call out).
        assert!(sent <= limit, "{settings:?}: {outcomes:?}");
        if count("gate_unavailable") == 0 {
            assert_eq!((sent, count("blocked")), (limit, 24 - limit), "{settings:?}: {outcomes:?}");
        }
    }
}

#[tokio::test]
async fn a_message_that_fails_gives_its_count_back_and_a_redelivery_counts_once() {
    for redelivered in [false, true] {
        let s = sender(&[("SMS_LIMIT_PER_NUMBER", "1/1h")]).await;
        s.publisher.fail_first.store(6, Ordering::SeqCst);
        let failed = event("+447400123456", "u", 1);
        // SNS keeps failing: the event fails for Lambda to retry, and gives its count back.
        assert_eq!(outcome(&s, &failed).await, "sns_service_error");
        s.publisher.fail_first.store(0, Ordering::SeqCst);
        // Either Lambda's retry of the same event, or another message, fits the limit of one now.
        let next = if redelivered { failed.clone() } else { event("+447400123456", "u", 2) };
        assert_eq!(outcome(&s, &next).await, "sent", "redelivered: {redelivered}");
        assert_eq!(outcome(&s, &next).await, "duplicate");
        assert_eq!(outcome(&s, &event("+447400123456", "u", 3)).await, "blocked", "one message counted, not two");
    }
}

#[tokio::test]
async fn monitor_mode_sends_and_says_which_rule_would_have_blocked() {
    let (logs, _guard) = Logs::capture();
    let s =
        sender(&[("SMS_POLICY_MODE", "monitor"), ("SMS_LIMIT_PER_NUMBER", "1/1h"), ("SMS_BLOCKED_COUNTRIES", "GB")])
            .await;
    assert_eq!(outcome(&s, &event("+447400123456", "u", 1)).await, "sent");
    assert_eq!(outcome(&s, &event("+447400123456", "u", 2)).await, "sent");
    let lines = logs.outcomes();
    let would: Vec<_> = lines.iter().map(|l| l["would_block"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(would, ["country", "country,per_number"]);
    assert_eq!(s.publisher.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_budget_stops_sending_at_its_cap() {
    let (logs, _guard) = Logs::capture();
    // The default price is 0.10 USD a part: two one-part messages fit 0.25, the third does not.
    let s = sender(&[("SMS_BUDGET_USD", "0.25/1d"), ("SMS_LIMIT_PER_NUMBER", "off")]).await;
    for n in 0..2 {
        assert_eq!(outcome(&s, &event(&format!("+4474001234{n:02}"), "u", n)).await, "sent");
    }
    assert_eq!(outcome(&s, &event("+447400123499", "u", 9)).await, "blocked");
    assert_eq!(blocked_rules(&logs), ["budget"]);
}

#[tokio::test]
async fn without_a_state_table_only_the_stateless_rules_apply() {
    let s = Sender::new(
        CountingDecrypter::default(),
        Recorder::default(),
        None::<SnsProbe>,
        None::<DynamoLedger>,
        None::<DynamoCounters>,
        common::dev_settings(&[]),
    );
    for n in 0..12 {
        assert_eq!(outcome(&s, &event("+447400123456", "u", n)).await, "sent");
    }
    assert_eq!(outcome(&s, &event("+449098790000", "u", 99)).await, "blocked");
}

/// A stand-in for the AWS AppConfig Lambda extension's local endpoint: answers every GET with `doc`, or 404 when
/// `doc` is `None`, until dropped.
struct Extension {
    port: u16,
    doc: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Extension {
    async fn start(doc: &str) -> Extension {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let doc = Arc::new(Mutex::new(Some(doc.to_owned())));
        let served = doc.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let n = stream.read(&mut request).await.unwrap_or(0);
                let path_ok = String::from_utf8_lossy(&request[..n])
                    .starts_with("GET /applications/sms/environments/prod/configurations/policy ");
                let answer = match (path_ok, served.lock().unwrap().clone()) {
                    (true, Some(body)) => format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
                    _ => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
                };
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        Extension { port, doc, task }
    }

    fn serve(&self, doc: Option<&str>) {
        *self.doc.lock().unwrap() = doc.map(str::to_owned);
    }
}

#[tokio::test]
async fn an_appconfig_policy_takes_effect_and_a_bad_one_keeps_the_last_good() {
    let (logs, _guard) = Logs::capture();
    let ext = Extension::start("blocked_countries = [\"GB\"]").await;
    let port = ext.port.to_string();
    let s = sender(&[
        ("SMS_POLICY_APPCONFIG", "sms/prod/policy"),
        ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", &port),
        ("SMS_POLICY_REFRESH_SECONDS", "1"),
    ])
    .await;
    let uk = "+447400123456";
    assert_eq!(outcome(&s, &event(uk, "u", 1)).await, "blocked", "the AppConfig document applies");
    assert_eq!(outcome(&s, &event("+12065550100", "u", 2)).await, "sent");

    ext.serve(Some("mode = \"block\""));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(outcome(&s, &event(uk, "u", 3)).await, "blocked", "a bad document leaves the last good in force");
    let refused = logs.lines().into_iter().filter(|l| l["outcome"] == "policy_refused").count();
    assert_eq!(refused, 1);

    ext.serve(None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(outcome(&s, &event(uk, "u", 4)).await, "blocked", "so does an unreachable extension");
    assert!(logs.lines().iter().any(|l| l["outcome"] == "policy_unreachable"));

    ext.serve(Some("blocked_countries = []"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(outcome(&s, &event(uk, "u", 5)).await, "sent", "the new document takes effect");
    assert!(logs.lines().iter().any(|l| l["outcome"] == "policy_updated"));
    ext.task.abort();
}

#[test]
fn a_bad_policy_stops_init_with_file_key_and_reason() {
    let dir = std::env::temp_dir().join(format!("gate-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "[limits]\nper_prefix = \"100 per hour\"\n").unwrap();
    let path = path.to_str().unwrap();
    let config = |vars: &[(&str, &str)]| {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .chain(&[("LOCAL_DEV_KEY_FILE", "unused")])
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cognito_sms_sender::config::Config::from_lookup(|k| vars.get(k).cloned())
    };
    let e = config(&[("SMS_POLICY_FILE", path)]).unwrap_err();
    assert_eq!(e.variable, "SMS_POLICY_FILE");
    assert!(e.reason.starts_with(&format!("{path}: limits.per_prefix: ")), "{e}");
    for (variable, value) in [
        ("SMS_POLICY_MODE", "block"),
        ("SMS_ALLOWED_COUNTRIES", "GB,XX"),
        ("SMS_BLOCKED_NUMBER_TYPES", "premium"),
        ("SMS_LIMIT_PER_NUMBER", "10"),
        ("SMS_BUDGET_USD", "-5/1d"),
        ("SMS_PREFIX_DIGITS", "0"),
        ("SMS_POLICY_APPCONFIG", "just-a-name"),
        ("SMS_QUARANTINE", "yes"),
        ("SMS_QUARANTINE_UNIT_SECONDS", "0"),
    ] {
        assert_eq!(config(&[(variable, value)]).unwrap_err().variable, variable, "{variable}={value}");
    }
    let ok = config(&[("SMS_ALLOWED_COUNTRIES", "gb, US"), ("SMS_LIMIT_PER_NUMBER", "off")]).unwrap();
    assert_eq!(ok.policy.allowed_countries.map(|c| c.len()), Some(2));
    assert!(ok.policy.limits[&cognito_sms_sender::gate::policy::Rule::PerNumber].is_empty());
    assert!(!ok.policy.quarantine.enabled, "the low-conversion rule is off unless turned on");
    assert!(config(&[("SMS_QUARANTINE", "on")]).unwrap().policy.quarantine.enabled);
}

#[tokio::test]
async fn a_message_counted_by_an_invocation_that_crashed_is_not_counted_again() {
    use cognito_sms_sender::gate::{self, Counters, Subject};
    let s = sender(&[("SMS_LIMIT_PER_NUMBER", "1/1h")]).await;
    let e = event("+447400123456", "u", 1);
    // The crashed invocation counted the message (and never gave it back) before it could send.
    let phone = PhoneNumber::parse(Some("+447400123456")).unwrap();
    let country = phone.country();
    let subject = Subject { pool: POOL, user: "u", phone: &phone, country, parts: 1 };
    let plan = gate::plan(&s.settings.policy, &subject, std::time::SystemTime::now());
    let key = cognito_sms_sender::ledger::message_key(e["request"]["code"].as_str(), &e);
    let lease_ran_out = std::time::SystemTime::now() - Duration::from_secs(5);
    let crashed = s.counters.count(&key, &plan, Some(lease_ran_out)).await;
    assert_eq!(crashed.claim, Some(Claim::Acquired));
    assert!(crashed.counted.unwrap().refused.is_none());
    assert_eq!(outcome(&s, &e).await, "sent", "the takeover finds the message counted and sends it");
    assert_eq!(outcome(&s, &event("+447400123456", "u", 2)).await, "blocked", "it was counted once");
}

#[tokio::test]
async fn claiming_and_counting_take_one_request_and_a_duplicate_one() {
    let (s, requests, _) = counted_sender(&[("SMS_LIMIT_PER_NUMBER", "2/1h")]).await;
    let e = event("+447400123456", "u", 1);
    assert_eq!(outcome(&s, &e).await, "sent");
    assert_eq!(requests.count(), 2, "the claim with the counts, then the completion");
    assert_eq!(outcome(&s, &e).await, "duplicate");
    assert_eq!(requests.count(), 3, "the claim finds the message sent in the same request");
    assert_eq!(outcome(&s, &event("+447400123456", "u", 2)).await, "sent", "the duplicate counted nothing");
    assert_eq!(outcome(&s, &event("+447400123456", "u", 3)).await, "blocked");
}

#[tokio::test]
async fn a_refused_message_holds_no_claim_and_a_claim_held_elsewhere_counts_nothing() {
    let (s, _, table) = counted_sender(&[("SMS_LIMIT_PER_NUMBER", "1/1h")]).await;
    let (first, refused) = (event("+447400123456", "u", 1), event("+447400123456", "u", 2));
    assert_eq!(outcome(&s, &first).await, "sent");
    assert_eq!(outcome(&s, &refused).await, "blocked");
    assert!(claimed(&table, &first).await);
    assert!(!claimed(&table, &refused).await, "a refused message leaves no claim behind");
    // Another invocation holds a message's claim: this delivery is told to retry, and counts nothing.
    let held = event("+447400123457", "u", 3);
    let key = cognito_sms_sender::ledger::message_key(held["request"]["code"].as_str(), &held);
    let lease = std::time::SystemTime::now() + Duration::from_secs(60);
    assert_eq!(s.ledger.as_ref().unwrap().claim(&key, lease).await.unwrap(), Claim::Acquired);
    assert_eq!(outcome(&s, &held).await, "duplicate_in_progress");
    assert_eq!(outcome(&s, &event("+447400123457", "u", 4)).await, "sent", "the delivery in progress counted nothing");
}

#[tokio::test]
async fn in_monitor_mode_a_duplicate_counts_nothing_either() {
    let (logs, _guard) = Logs::capture();
    let s = sender(&[("SMS_POLICY_MODE", "monitor"), ("SMS_LIMIT_PER_NUMBER", "2/1h")]).await;
    let e = event("+447400123456", "u", 1);
    assert_eq!(outcome(&s, &e).await, "sent");
    assert_eq!(outcome(&s, &e).await, "duplicate");
    assert_eq!(outcome(&s, &event("+447400123456", "u", 2)).await, "sent");
    assert_eq!(outcome(&s, &event("+447400123456", "u", 3)).await, "sent");
    let would: Vec<_> = logs.outcomes().iter().map(|l| l["would_block"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(would, ["", "", "", "per_number"], "the third message passes the limit of two, not the second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sharded_counter_stays_exact_under_load() {
    // 200 messages to distinct numbers, 8 at a time, against a pool-wide total spread over shards. The gate
    // fails closed: on a loaded machine moto can be slower than a call's timeout, and failing open would
    // send those messages uncounted, which is the policy's choice, not a miscount.
    let settings = [("SMS_LIMIT_TOTAL", "77/1h"), ("SMS_LIMIT_PER_NUMBER", "off"), ("SMS_POLICY_FAIL_OPEN", "off")];
    let s = Arc::new(sender(&settings).await);
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    // The limit counts per clock hour (windows are aligned on the epoch): a run that crosses the hour starts a
    // second window and may send up to the limit in each.
    let hour = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 3600;
    let first_hour = hour();
    let runs: Vec<_> = (0..200)
        .map(|n| {
            let (s, gate) = (s.clone(), gate.clone());
            let e = event(&format!("+4474{:08}", 10_000_000 + n * 7), &format!("user{n}"), n);
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                outcome(&s, &e).await
            })
        })
        .collect();
    let (mut sent, mut unavailable) = (0, 0);
    for r in runs {
        match r.await.unwrap().as_str() {
            "sent" => sent += 1,
            "gate_unavailable" => unavailable += 1,
            _ => {}
        }
    }
    // Never more than the limit; and every place under it is taken, by a message sent or by one whose count
    // may have gone through after its call timed out (it is held, and Lambda would retry it).
    let windows = usize::try_from(hour() - first_hour + 1).unwrap();
    assert!(sent <= 77 * windows, "{sent} sent in {windows} hourly window(s)");
    assert!(sent + unavailable >= 77, "{sent} sent, {unavailable} unavailable");
    assert_eq!(s.publisher.sent.lock().unwrap().len(), sent);
}

#[tokio::test]
async fn unreachable_counters_fail_the_way_the_policy_says() {
    let (logs, _guard) = Logs::capture();
    // Nothing listens on port 9 of loopback: every DynamoDB call fails to connect.
    let sdk = moto().sdk_config().to_builder().endpoint_url("http://127.0.0.1:9").build();
    let unreachable = || Some(DynamoCounters::new(aws_sdk_dynamodb::Client::new(&sdk), "no-table"));
    for (fail_open, want) in [("on", "sent"), ("off", "gate_unavailable")] {
        let s = Sender::new(
            CountingDecrypter::default(),
            Recorder::default(),
            None::<SnsProbe>,
            None::<DynamoLedger>,
            unreachable(),
            common::dev_settings(&[("SMS_POLICY_FAIL_OPEN", fail_open)]),
        );
        assert_eq!(outcome(&s, &event("+447400123456", "u", 1)).await, want, "fail_open={fail_open}");
    }
    let warned = logs.lines().into_iter().filter(|l| l["outcome"] == "gate_unavailable").count();
    assert_eq!(warned, 2, "one warning when sending anyway, one outcome line when held");
}

/// A sender whose low-conversion rule judges codes in units of one second, on ten codes, with `settings`.
async fn quarantine_sender(settings: &[(&str, &str)]) -> GateSender {
    let settings: Vec<_> = settings.iter().chain(&[("SMS_QUARANTINE", "on")]).copied().collect();
    let mut s = sender(&settings).await;
    s.counters = s.counters.take().map(|c| c.with_judging_unit(Duration::from_secs(1)));
    s
}

#[tokio::test]
async fn a_quarantined_prefix_gets_one_blocked_line_each_and_monitor_sends() {
    let (logs, _guard) = Logs::capture();
    for mode in ["enforce", "monitor"] {
        let s = quarantine_sender(&[("SMS_POLICY_MODE", mode)]).await;
        // Ten codes to one prefix (+44740012), none entered; judged once at least a second old.
        for n in 0..10 {
            assert_eq!(outcome(&s, &event(&format!("+4474001234{n:02}"), "u", n)).await, "sent");
        }
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let want = if mode == "enforce" { "blocked" } else { "sent" };
        assert_eq!(outcome(&s, &event("+447400123499", "u", 99)).await, want, "{mode}");
        assert_eq!(outcome(&s, &event("+447400999999", "u", 98)).await, "sent", "another prefix: {mode}");
    }
    let lines = logs.outcomes();
    let blocked: Vec<_> = lines.iter().filter(|l| l["outcome"] == "blocked").collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["rule"], "low_conversion");
    assert!(blocked[0]["reason"].as_str().unwrap().contains("quarantine"), "{}", blocked[0]);
    let would: Vec<_> = lines.iter().filter_map(|l| l["would_block"].as_str()).collect();
    assert_eq!(would, ["low_conversion"]);
    logs.assert_clean(&[CODE, "+447400123499", "+447400123400"]);
}
