//! The custom SMS sender: one event, start to finish. Parse and check it, claim it in the ledger, decrypt the
//! code, fill the template, route it, publish it (the probe beside), and log one line for the outcome.
//!
//! Layout: [`outcome`] (every way an event ends), [`log`] (its log lines), [`retry`] (retries within the
//! deadline), [`warmup`] (connections opened at init), [`wiring`] (the adapters chosen from the configuration).

mod log;
pub mod outcome;
pub mod retry;
pub mod warmup;
pub mod wiring;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::config::Config;
use crate::decrypt::{DecryptError, Decrypter};
use crate::destination::attributes::TransportKind;
use crate::destination::phone::{Country, PhoneNumber};
use crate::destination::region::{is_region_name, pool_region, sns_region};
use crate::destination::routing::{Route, Routes};
use crate::gate::policy::{Mode, Policy};
use crate::gate::source::{AppConfigSource, PolicySource};
use crate::gate::{self, Counted, Counters, Subject};
use crate::ledger::{message_key, Claim, Kind, Ledger, LedgerError, SentMessage};
use crate::message::catalogue::{self, Catalogue};
use crate::message::code::check_code;
use crate::message::event::{truncate, CustomSmsSenderEvent, TriggerSource};
use crate::message::sms_parts;
use crate::message::template::{sign_in_name, unescape_password, Template};
use crate::probe::Probe;
use crate::publish::eum::default_ttl;
use crate::publish::{MessageAttributes, PublishError, Publisher};
use crate::telemetry::metrics::{self, Stage, Tally};
use log::{log_finding, log_outcome, Trace};
use outcome::{Outcome, SendError};
use retry::{with_retries, Deadline};
use warmup::WarmUpReport;

/// How long the sandbox/spend probe may run beside a publish before its answer is dropped for this event.
const PROBE_BUDGET: Duration = Duration::from_millis(1500);
/// The budget of [`Sender::handle`], when no Lambda deadline is known (local runs, tests).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);
/// How long a claim in the ledger outlasts the invocation's deadline: time to write the outcome after it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(1);
/// The longest an SMS MFA code can be entered: the app client's authentication session, at most 15 minutes
/// (<https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html>,
/// `AuthSessionValidity`). A conversion counts for a message this long at least.
const LONGEST_SESSION: Duration = Duration::from_secs(15 * 60);

/// What the pipeline needs to know besides its ports.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Messages per trigger source and locale.
    pub catalogue: Catalogue,
    /// Message attributes per destination country.
    pub routes: Routes,
    /// `SNS_REGION`, when set.
    pub sns_region: Option<String>,
    /// `ALLOWED_USER_POOL_IDS`, when set.
    pub allowed_pools: Option<Vec<String>>,
    /// The function's own Region (`AWS_REGION`), used when neither the event nor the pool id names one.
    pub home_region: String,
    /// The abuse gate's policy at init.
    pub policy: Policy,
    /// The AppConfig profile the policy follows while the function runs.
    pub policy_appconfig: Option<AppConfigSource>,
    /// `LOCAL_OUTBOX` is set: messages are written out, not sent, and the log says "would send".
    pub local_outbox: bool,
    /// `SMS_MESSAGE_FEEDBACK`: End User Messaging messages are sent waiting for feedback.
    pub message_feedback: bool,
}

impl Settings {
    /// The pipeline's part of `config`, in `home_region`.
    pub fn from_config(config: &Config, home_region: impl Into<String>) -> Self {
        Settings {
            catalogue: config.catalogue.clone(),
            routes: config.routes.clone(),
            sns_region: config.sns_region.clone(),
            allowed_pools: config.allowed_pools.clone(),
            home_region: home_region.into(),
            policy: config.policy.clone(),
            policy_appconfig: config.policy_appconfig.clone(),
            local_outbox: config.local_outbox.is_some(),
            message_feedback: config.text_message.feedback,
        }
    }

    /// `SNS_REGION`, else the table applied to the pool's Region (the event's `region`, or the prefix of the
    /// pool id when the event has none), else the function's own Region.
    fn sns_region_for<'a>(&'a self, event: &'a CustomSmsSenderEvent, pool: &'a str) -> &'a str {
        let pool_region = event
            .region
            .as_deref()
            .filter(|r| is_region_name(r))
            .or_else(|| pool_region(pool))
            .unwrap_or(&self.home_region);
        sns_region(pool_region, self.sns_region.as_deref())
    }
}

/// The function: its ports (decrypting the code, publishing the SMS, probing the account, recording what was
/// sent, counting against the abuse gate's limits) and its settings.
pub struct Sender<Decrypting, Publishing, Probing, Recording, Counting> {
    pub decrypter: Decrypting,
    pub publisher: Publishing,
    pub probe: Probing,
    pub ledger: Recording,
    pub counters: Counting,
    pub settings: Settings,
    /// The abuse gate's policy in force.
    policy: PolicySource,
}

/// What claiming and counting a message found.
enum Claimed {
    /// This invocation holds the message's claim and sends it, with these counts.
    Sending(Counted),
    /// An earlier delivery sent it.
    Duplicate { message_id: String },
}

/// How a handled event ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The message was accepted for sending now.
    Sent { message_id: String },
    /// An earlier delivery of this event sent it; nothing was sent now.
    Duplicate { message_id: String },
}

/// An event that passed every check, ready to be claimed and sent.
struct Job<'a> {
    source: &'a TriggerSource,
    pool: &'a str,
    phone: PhoneNumber,
    region: &'a str,
    template: &'a Template,
    route: &'a Route,
    ciphertext: Option<&'a str>,
    username: &'a str,
    /// The user's `userName`, for the per-user limit.
    user: &'a str,
    country: Option<Country>,
    /// The destination's prefix, as the gate and the ledger key it.
    prefix: String,
    policy: Arc<Policy>,
}

impl<Decrypting, Publishing, Probing, Recording, Counting>
    Sender<Decrypting, Publishing, Probing, Recording, Counting>
{
    /// The function with these ports and settings.
    pub fn new(
        decrypter: Decrypting,
        publisher: Publishing,
        probe: Probing,
        ledger: Recording,
        counters: Counting,
        settings: Settings,
    ) -> Self {
        let policy = PolicySource::new(settings.policy.clone(), settings.policy_appconfig.clone());
        Sender { decrypter, publisher, probe, ledger, counters, settings, policy }
    }
}

impl<Decrypting: Decrypter, Publishing: Publisher, Probing: Probe, Recording: Ledger, Counting: Counters>
    Sender<Decrypting, Publishing, Probing, Recording, Counting>
{
    /// [`Sender::handle_until`] with [`DEFAULT_BUDGET`].
    pub async fn handle(&self, payload: &Value) -> Result<Value, SendError> {
        self.handle_until(payload, Deadline::after(DEFAULT_BUDGET)).await
    }

    /// Handles one invocation within `deadline`. Returns `Err` only for failures worth a Lambda retry;
    /// everything else is acknowledged with its outcome, having been logged.
    pub async fn handle_until(&self, payload: &Value, deadline: Deadline) -> Result<Value, SendError> {
        let mut trace = Trace { local_outbox: self.settings.local_outbox, ..Trace::default() };
        let result = self.send(payload, deadline, &mut trace).await;
        log_outcome(&trace, &result);
        let tally = match &result {
            Ok(Delivered::Sent { .. }) => Tally::Sent,
            Ok(Delivered::Duplicate { .. }) => Tally::Duplicate,
            Err(e) => Tally::Failure(e.outcome().as_str()),
        };
        metrics::record_outcome(tally, trace.trigger_source.as_deref(), trace.sns_region.as_deref());
        match result {
            Ok(Delivered::Sent { message_id }) => {
                Ok(json!({ "outcome": Outcome::Sent.as_str(), "messageId": message_id }))
            }
            Ok(Delivered::Duplicate { message_id }) => {
                Ok(json!({ "outcome": Outcome::Duplicate.as_str(), "messageId": message_id }))
            }
            Err(e) if e.is_transient() => Err(e),
            Err(e) => Ok(json!({ "outcome": e.outcome().as_str() })),
        }
    }

    /// Checks the event; claims its message and counts it against the gate's limits beside the decrypt; fills
    /// the template, publishes, and records what happened. A message not sent gives its counts back.
    async fn send(&self, payload: &Value, deadline: Deadline, trace: &mut Trace) -> Result<Delivered, SendError> {
        let event = CustomSmsSenderEvent::from_json(payload)?;
        let job = self.check(&event, trace).await?;
        let key = message_key(job.ciphertext, payload);
        // A duplicate or refused message drops its decrypted code unused: the decrypt does not wait for them.
        let (code, claimed) =
            tokio::join!(self.code(&job, deadline), self.claim_and_count(&job, &key, deadline, trace));
        let counted = match claimed? {
            Claimed::Sending(counted) => counted,
            Claimed::Duplicate { message_id } => return Ok(Delivered::Duplicate { message_id }),
        };
        let sent = self.fill_and_publish(&job, code, deadline, trace).await;
        let recorded = match &sent {
            Ok(message_id) => self.complete(&key, &self.remembered(&job, message_id), deadline).await,
            Err(_) => {
                if let Err(e) = self.counters.give_back(&key, &counted).await {
                    tracing::warn!(reason = %e, phone = trace.phone.as_deref(), "the gate's counts could not be given back");
                }
                // Sending failed: a later delivery must be free to try again.
                self.ledger.release(&key).await
            }
        };
        // The SMS's fate does not change with the record's (what a redelivery then does: `Ledger::complete`).
        if let Err(e) = recorded {
            warn_unrecorded(&e, trace);
        }
        Ok(Delivered::Sent { message_id: sent? })
    }

    /// What the ledger remembers of `job`'s message, sent now as `message_id`; a message a conversion event
    /// can report counts as a code sent (`CodesSent`).
    fn remembered(&self, job: &Job<'_>, message_id: &str) -> SentMessage {
        let now = SystemTime::now();
        let transport = job.route.transport;
        let sent = SentMessage {
            pool: job.pool.to_owned(),
            user: gate::hashed(&[job.pool, job.user]),
            trigger_source: job.source.to_string(),
            country: job.country.map(|c| c.as_ref().to_owned()),
            prefix: job.prefix.clone(),
            transport: transport.as_str().to_owned(),
            region: job.region.to_owned(),
            message_id: message_id.to_owned(),
            sent_at: now,
            valid_until: now + Duration::from_secs(default_ttl(job.source).into()).max(LONGEST_SESSION),
            feedback: self.settings.message_feedback && transport == TransportKind::EndUserMessaging,
            kind: Kind::of_message(job.source),
        };
        if sent.kind.is_some() {
            metrics::record_code_sent(&sent.trigger_source, sent.country.as_deref());
        }
        sent
    }

    /// Everything that can be checked before any call: the event's shape, the pool, the number, the message,
    /// and the gate's rules that need no state.
    async fn check<'a>(&'a self, event: &'a CustomSmsSenderEvent, trace: &mut Trace) -> Result<Job<'a>, SendError> {
        // Both come from the event: shortened so a hostile value cannot blow up the log line.
        trace.trigger_source = event.trigger_source.as_ref().map(|t| truncate(&t.to_string(), 64));
        trace.user_pool_id = event.user_pool_id.as_deref().map(|p| truncate(p, 64));
        let (source, pool) = event.validate()?;
        if let Some(allowed) = &self.settings.allowed_pools {
            if !allowed.iter().any(|p| p == pool) {
                return Err(SendError::PoolNotAllowed(pool.to_owned()));
            }
        }
        let phone = PhoneNumber::parse(event.phone_number())?;
        trace.phone = Some(phone.masked());
        let region = self.settings.sns_region_for(event, pool);
        trace.sns_region = Some(region.to_owned());
        let missing_code = || SendError::MissingCode(source.to_string());
        let (template, locale) =
            self.settings.catalogue.template_for(source, &event.request).ok_or_else(missing_code)?;
        trace.locale = Some(locale.to_owned());
        let route = self.settings.routes.route_for(&phone);
        trace.route = Some(route.name().to_owned());
        let ciphertext = match template.uses_code() {
            true => Some(event.request.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(missing_code)?),
            false => None,
        };
        let username = sign_in_name(event.user_name.as_deref(), &event.request.user_attributes);
        let country = phone.country();
        trace.country = country;
        let policy = self.policy.current().await;
        if let Some(block) = gate::screen(&policy, &phone, country) {
            stop_or_note(block, trace)?;
        }
        let user = event.user_name.as_deref().unwrap_or("");
        let prefix = phone.prefix(policy.prefix_digits);
        trace.prefix = Some(prefix.clone());
        Ok(Job { source, pool, phone, region, template, route, ciphertext, username, user, country, prefix, policy })
    }

    /// Claims the message in the ledger alone, leasing it until `lease_until`. Without a table the claim cannot
    /// fail, so it is not wrapped in retries: no timeout can blame a table that is not set.
    async fn claim(&self, key: &str, lease_until: SystemTime, deadline: Deadline) -> Result<Claim, SendError> {
        if !self.ledger.records() {
            // No table: nothing to claim, so no deadline can fail it (with an error naming an unset setting).
            return Ok(Claim::Acquired);
        }
        let claim = || self.ledger.claim(key, lease_until);
        if !self.ledger.is_configured() {
            return Ok(claim().await?);
        }
        Ok(with_retries("idempotency", deadline, claim, LedgerError::is_transient, LedgerError::timeout).await?)
    }

    /// Marks the claimed message sent, retrying what is transient within the deadline.
    async fn complete(&self, key: &str, sent: &SentMessage, deadline: Deadline) -> Result<(), LedgerError> {
        if !self.ledger.records() {
            return Ok(());
        }
        let complete = || self.ledger.complete(key, sent);
        with_retries("idempotency", deadline, complete, LedgerError::is_transient, LedgerError::timeout).await
    }

    /// Claims the message in the ledger and counts it against the gate's limits: in one request when the
    /// counters share the ledger's table, else the claim alone. A message the gate refuses or holds back keeps
    /// no claim, so a later delivery may try again.
    async fn claim_and_count(
        &self,
        job: &Job<'_>,
        key: &str,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Result<Claimed, SendError> {
        // The claim lasts until the deadline plus a margin, time to write the outcome after it.
        let lease_until = deadline.wall_clock() + LEASE_MARGIN;
        let leased = self.ledger.records().then_some(lease_until);
        let gate::ClaimAndCount { claim, counted } = self.counters.count(key, &self.plan(job), leased).await;
        let claim = match claim {
            Some(claim) => claim,
            // Refused before any claim: the refusal is all there is to do.
            None if counted.as_ref().is_ok_and(|c| c.refused.is_some()) => {
                return self.admit(job, counted, trace).map(Claimed::Sending)
            }
            None => self.claim(key, lease_until, deadline).await?,
        };
        match claim {
            Claim::Acquired => {}
            Claim::AlreadySent { message_id } => return Ok(Claimed::Duplicate { message_id }),
            Claim::InProgress => return Err(SendError::InProgressElsewhere),
        }
        let admitted = self.admit(job, counted, trace);
        if admitted.is_err() {
            if let Err(e) = self.ledger.release(key).await {
                warn_unrecorded(&e, trace);
            }
        }
        admitted.map(Claimed::Sending)
    }

    /// What the gate counts for the message.
    fn plan(&self, job: &Job<'_>) -> gate::Plan {
        let parts = catalogue::estimate(job.template, job.source, job.username).parts;
        let subject = Subject { pool: job.pool, user: job.user, phone: &job.phone, country: job.country, parts };
        gate::plan(&job.policy, &subject, SystemTime::now())
    }

    /// What counting means for the message: refused by an enforced limit, sent with the monitored ones noted,
    /// or, with the counters out of reach, sent or held as the policy says.
    fn admit(
        &self,
        job: &Job<'_>,
        counted: Result<Counted, gate::CounterError>,
        trace: &mut Trace,
    ) -> Result<Counted, SendError> {
        let counted = match counted {
            Ok(counted) => counted,
            Err(e) if job.policy.fail_open => {
                tracing::warn!(outcome = "gate_unavailable", reason = %e, phone = trace.phone.as_deref(), "the abuse gate's counters could not be used; sending anyway (fail_open)");
                metrics::record_gate_unavailable();
                return Ok(Counted::default());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(rule) = counted.refused {
            stop_or_note(gate::Block { rule, mode: Mode::Enforce, reason: gate::refusal_reason(rule) }, trace)?;
        }
        for rule in &counted.over {
            stop_or_note(gate::Block { rule: *rule, mode: Mode::Monitor, reason: String::new() }, trace)?;
        }
        Ok(counted)
    }

    /// The code the template takes (decrypted with retries), or none.
    async fn code(&self, job: &Job<'_>, deadline: Deadline) -> Result<Option<zeroize::Zeroizing<String>>, SendError> {
        match job.ciphertext {
            Some(ciphertext) => self.decrypt(ciphertext, job, deadline).await.map(Some),
            None => Ok(None),
        }
    }

    /// Fills the template with the code and publishes.
    async fn fill_and_publish(
        &self,
        job: &Job<'_>,
        code: Result<Option<zeroize::Zeroizing<String>>, SendError>,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Result<String, SendError> {
        let code = code?;
        let body = job.template.render(code.as_deref().map_or("", |c| c.as_str()), job.username);
        drop(code);
        // Parts and encoding only: the length in units would tell how long a password is.
        let info = sms_parts::analyse(&body);
        trace.sms_parts = Some(info.parts);
        trace.encoding = Some(info.encoding.as_str());
        let attributes = MessageAttributes { route: job.route, source: job.source, pool: job.pool };
        trace.transport = Some(self.publisher.transport(&job.phone, job.route));
        let message_id = self.publish(job, &body, &attributes, deadline, trace).await?;
        metrics::record_sms_parts(info.parts as u32);
        Ok(message_id)
    }

    /// The code (or the temporary password, unescaped), decrypted with retries.
    async fn decrypt(
        &self,
        ciphertext: &str,
        job: &Job<'_>,
        deadline: Deadline,
    ) -> Result<zeroize::Zeroizing<String>, SendError> {
        let started = Instant::now();
        let code = with_retries(
            "kms",
            deadline,
            || self.decrypter.decrypt(ciphertext, job.pool),
            DecryptError::is_transient,
            || DecryptError::KmsUnavailable("timeout".into()),
        )
        .await;
        metrics::record_latency(Stage::Decrypt, started.elapsed());
        let code = code?;
        let code = if *job.source == TriggerSource::AdminCreateUser { unescape_password(&code) } else { code };
        check_code(job.source, &code)?;
        Ok(code)
    }

    /// Publishes with retries; the probe runs beside, and what it finds is logged.
    async fn publish(
        &self,
        job: &Job<'_>,
        body: &str,
        attributes: &MessageAttributes<'_>,
        deadline: Deadline,
        trace: &Trace,
    ) -> Result<String, SendError> {
        let publish = async {
            let started = Instant::now();
            let published = with_retries(
                "sns",
                deadline,
                || self.publisher.publish(job.region, &job.phone, body, attributes),
                PublishError::is_transient,
                || PublishError::Unreachable("timeout".into()),
            )
            .await;
            metrics::record_latency(Stage::Publish, started.elapsed());
            published
        };
        let probe = tokio::time::timeout(PROBE_BUDGET, self.probe.check(job.route.transport, job.region, &job.phone));
        let (published, findings) = tokio::join!(publish, probe);
        for finding in findings.unwrap_or_default() {
            log_finding(trace, &finding);
        }
        Ok(published?)
    }

    /// Opens the KMS, SNS and DynamoDB connections side by side and checks what can be checked, within
    /// [`warmup::BUDGET`]; what does not answer in time is left for the first event. Never fails.
    pub async fn warm_up(&self) -> WarmUpReport {
        let started = Instant::now();
        let sns_region = sns_region(&self.settings.home_region, self.settings.sns_region.as_deref()).to_owned();
        let (kms, sns, idempotency) = tokio::join!(
            warmup::within_budget(self.decrypter.warm_up()),
            warmup::within_budget(self.publisher.warm_up(&sns_region)),
            warmup::within_budget(self.ledger.warm_up()),
        );
        WarmUpReport { kms, sns, idempotency, sns_region, elapsed: started.elapsed() }
    }
}

/// The ledger could not record a claim's end (sent, or given up): warned, and the event's outcome stands.
fn warn_unrecorded(e: &LedgerError, trace: &Trace) {
    tracing::warn!(reason = %e, phone = trace.phone.as_deref(), "the idempotency record could not be updated");
}

/// An enforced block ends the event; a monitored one is noted for the outcome line. Both are counted.
fn stop_or_note(block: gate::Block, trace: &mut Trace) -> Result<(), SendError> {
    let country = trace.country.as_ref().map(|c| c.as_ref());
    let monitor = block.mode == Mode::Monitor;
    metrics::record_blocked(block.rule.as_str(), country, monitor);
    if monitor {
        trace.would_block.push(block.rule);
        return Ok(());
    }
    Err(SendError::Blocked { rule: block.rule, reason: block.reason })
}
