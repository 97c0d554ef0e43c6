//! One event, start to finish: parse, check, decrypt, fill, route, publish, and one log line for the outcome.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::catalogue::Catalogue;
use crate::config::Config;
use crate::crypto::{DecryptError, Decrypter};
use crate::encoding;
use crate::event::{CustomSmsSenderEvent, TriggerSource};
use crate::idempotency::{message_key, Claim, Ledger, LedgerError};
use crate::metrics::{self, Stage};
use crate::outcome::{SendError, DUPLICATE, SENT};
use crate::phone::PhoneNumber;
use crate::probe::{Finding, Probe};
use crate::region::{is_region_name, sns_region};
use crate::retry::{with_retries, Deadline};
use crate::routing::Routes;
use crate::sns::{Attributes, PublishError, Publisher};
use crate::template::{sign_in_name, unescape_password, Template};
use crate::warmup::{self, Report};

/// How long the sandbox/spend probe may run beside a publish before its answer is dropped for this event.
const PROBE_BUDGET: Duration = Duration::from_millis(1500);
/// The budget of [`Sender::handle`], when no Lambda deadline is known (local runs, tests).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

/// The function: its ports and the settings the domain needs.
pub struct Sender<D, P, Q, L> {
    pub decrypter: D,
    pub publisher: P,
    pub probe: Q,
    pub ledger: L,
    /// Messages per trigger source and locale.
    pub catalogue: Catalogue,
    /// Message attributes per destination country.
    pub routes: Routes,
    /// `SNS_REGION`, when set.
    pub sns_region: Option<String>,
    pub allowed_pools: Option<Vec<String>>,
    /// The function's own Region (`AWS_REGION`), used when neither the event nor the pool id names one.
    pub home_region: String,
}

/// How a handled event ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// SNS accepted the message now.
    Sent { message_id: String },
    /// An earlier delivery of this event sent it; nothing was sent now.
    Duplicate { message_id: String },
}

/// Context gathered while handling an event, for its one outcome line. Only non-secret values.
#[derive(Debug, Default)]
struct Trace {
    trigger_source: Option<String>,
    user_pool_id: Option<String>,
    phone: Option<String>,
    sns_region: Option<String>,
    locale: Option<String>,
    route: Option<String>,
    sms_parts: Option<usize>,
    encoding: Option<&'static str>,
}

/// What a claimed message needs to be sent.
struct Job<'a> {
    source: &'a TriggerSource,
    pool: &'a str,
    phone: &'a PhoneNumber,
    region: &'a str,
    template: &'a Template,
    ciphertext: Option<&'a str>,
    username: &'a str,
    attributes: &'a Attributes,
}

impl<D, P, Q, L> Sender<D, P, Q, L> {
    /// The function with these ports and `config`'s messages, routes, Region and pool settings.
    pub fn new(
        decrypter: D,
        publisher: P,
        probe: Q,
        ledger: L,
        config: &Config,
        home_region: impl Into<String>,
    ) -> Self {
        Sender {
            decrypter,
            publisher,
            probe,
            ledger,
            catalogue: config.catalogue.clone(),
            routes: config.routes.clone(),
            sns_region: config.sns_region.clone(),
            allowed_pools: config.allowed_pools.clone(),
            home_region: home_region.into(),
        }
    }
}

impl<D: Decrypter, P: Publisher, Q: Probe, L: Ledger> Sender<D, P, Q, L> {
    /// [`Sender::handle_until`] with [`DEFAULT_BUDGET`].
    pub async fn handle(&self, payload: &Value) -> Result<Value, SendError> {
        self.handle_until(payload, Deadline::after(DEFAULT_BUDGET)).await
    }

    /// Handles one invocation within `deadline`. Returns `Err` only for failures worth a Lambda retry;
    /// everything else is acknowledged with its outcome, having been logged.
    pub async fn handle_until(&self, payload: &Value, deadline: Deadline) -> Result<Value, SendError> {
        let mut trace = Trace::default();
        let result = self.send(payload, deadline, &mut trace).await;
        log_outcome(&trace, &result);
        let outcome = match &result {
            Ok(Delivered::Sent { .. }) => SENT,
            Ok(Delivered::Duplicate { .. }) => DUPLICATE,
            Err(e) => e.outcome(),
        };
        metrics::record_outcome(outcome, trace.trigger_source.as_deref(), trace.sns_region.as_deref());
        match result {
            Ok(Delivered::Sent { message_id }) => Ok(json!({ "outcome": SENT, "messageId": message_id })),
            Ok(Delivered::Duplicate { message_id }) => Ok(json!({ "outcome": DUPLICATE, "messageId": message_id })),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => Ok(json!({ "outcome": e.outcome() })),
        }
    }

    async fn send(&self, payload: &Value, deadline: Deadline, trace: &mut Trace) -> Result<Delivered, SendError> {
        let event = CustomSmsSenderEvent::from_json(payload)?;
        // Both come from the event: shortened so a hostile value cannot blow up the log line.
        trace.trigger_source = event.trigger_source.as_ref().map(|t| clip(&t.to_string()));
        trace.user_pool_id = event.user_pool_id.as_deref().map(clip);
        let (source, pool) = event.validate()?;
        if let Some(allowed) = &self.allowed_pools {
            if !allowed.iter().any(|p| p == pool) {
                return Err(SendError::PoolNotAllowed(pool.to_owned()));
            }
        }
        let phone = PhoneNumber::parse(event.phone_number())?;
        trace.phone = Some(phone.masked());
        let region = self.sns_region_for(&event, pool);
        trace.sns_region = Some(region.to_owned());
        let (template, locale) = self
            .catalogue
            .template_for(source, &event.request)
            .ok_or_else(|| SendError::MissingCode(source.to_string()))?;
        trace.locale = Some(locale.to_owned());
        let route = self.routes.route_for(&phone);
        trace.route = Some(route.name().to_owned());
        let ciphertext = if template.uses_code() {
            let code = event.request.code.as_deref().filter(|c| !c.is_empty());
            Some(code.ok_or_else(|| SendError::MissingCode(source.to_string()))?)
        } else {
            None
        };

        let key = message_key(ciphertext, payload);
        let lease_until =
            SystemTime::now() + deadline.0.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        let claim = with_retries(
            "idempotency",
            deadline,
            || self.ledger.claim(&key, lease_until),
            LedgerError::is_transient,
            LedgerError::timeout,
        )
        .await?;
        match claim {
            Claim::Acquired => {}
            Claim::AlreadySent { message_id } => return Ok(Delivered::Duplicate { message_id }),
            Claim::InProgress => return Err(SendError::InProgressElsewhere),
        }

        let username = sign_in_name(event.user_name.as_deref(), &event.request.user_attributes);
        let attributes = route.message_attributes_for(source);
        let job = Job { source, pool, phone: &phone, region, template, ciphertext, username, attributes };
        let sent = self.deliver(&job, deadline, trace).await;
        let recorded = match &sent {
            Ok(message_id) => self.ledger.complete(&key, message_id).await,
            // Sending failed: a later delivery must be free to try again.
            Err(_) => self.ledger.release(&key).await,
        };
        if let Err(e) = recorded {
            tracing::warn!(reason = %e, phone = trace.phone.as_deref(), "the idempotency record could not be updated");
        }
        Ok(Delivered::Sent { message_id: sent? })
    }

    /// Decrypts, fills the template and publishes, retrying what is transient within the deadline.
    async fn deliver(&self, job: &Job<'_>, deadline: Deadline, trace: &mut Trace) -> Result<String, SendError> {
        let code = match job.ciphertext {
            None => None,
            Some(ciphertext) => {
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
                Some(if *job.source == TriggerSource::AdminCreateUser { unescape_password(&code) } else { code })
            }
        };
        let body = job.template.render(code.as_deref().map_or("", |c| c.as_str()), job.username);
        drop(code);
        // Parts and encoding only: the length in units would tell how long a password is.
        let info = encoding::analyse(&body);
        trace.sms_parts = Some(info.parts);
        trace.encoding = Some(info.encoding.as_str());

        let publish = async {
            let started = Instant::now();
            let published = with_retries(
                "sns",
                deadline,
                || self.publisher.publish(job.region, job.phone, &body, job.attributes),
                PublishError::is_transient,
                || PublishError::Unreachable("timeout".into()),
            )
            .await;
            metrics::record_latency(Stage::Publish, started.elapsed());
            published
        };
        let (published, findings) =
            tokio::join!(publish, tokio::time::timeout(PROBE_BUDGET, self.probe.check(job.region, job.phone)),);
        drop(body);
        for finding in findings.unwrap_or_default() {
            log_finding(trace, &finding);
        }
        let message_id = published?;
        metrics::record_sms_parts(info.parts as u32);
        Ok(message_id)
    }

    /// Opens the KMS, SNS and DynamoDB connections side by side and checks what can be checked, within
    /// [`warmup::BUDGET`]; what does not answer in time is left for the first event. Never fails.
    pub async fn warm_up(&self) -> Report {
        let started = Instant::now();
        let sns_region = sns_region(&self.home_region, self.sns_region.as_deref()).to_owned();
        let (kms, sns, idempotency) = tokio::join!(
            warmup::within_budget(self.decrypter.warm_up()),
            warmup::within_budget(self.publisher.warm_up(&sns_region)),
            warmup::within_budget(self.ledger.warm_up()),
        );
        Report { kms, sns, idempotency, sns_region, elapsed: started.elapsed() }
    }

    /// `SNS_REGION`, else the table applied to the pool's Region (the event's `region`, or the prefix of the
    /// pool id when the event has none), else the function's own Region.
    fn sns_region_for<'a>(&'a self, event: &'a CustomSmsSenderEvent, pool: &'a str) -> &'a str {
        let pool_region = event
            .region
            .as_deref()
            .filter(|r| is_region_name(r))
            .or_else(|| pool.split_once('_').map(|(r, _)| r).filter(|r| is_region_name(r)))
            .unwrap_or(&self.home_region);
        sns_region(pool_region, self.sns_region.as_deref())
    }
}

fn clip(s: &str) -> String {
    crate::event::truncate(s, 64)
}

fn log_outcome(t: &Trace, result: &Result<Delivered, SendError>) {
    let (ts, pool, phone, region) =
        (t.trigger_source.as_deref(), t.user_pool_id.as_deref(), t.phone.as_deref(), t.sns_region.as_deref());
    match result {
        Ok(Delivered::Duplicate { message_id }) => tracing::info!(
            outcome = DUPLICATE,
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            message_id = message_id.as_str(),
            reason = "this event was delivered before and its SMS was sent then; not sent again",
            "duplicate delivery skipped"
        ),
        Ok(Delivered::Sent { message_id }) => tracing::info!(
            outcome = SENT,
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            message_id = message_id.as_str(),
            locale = t.locale.as_deref(),
            route = t.route.as_deref(),
            sms_parts = t.sms_parts,
            encoding = t.encoding,
            "SMS handed to SNS"
        ),
        Err(e) if e.is_bad_input() => tracing::warn!(
            outcome = e.outcome(),
            reason = %e,
            retry = false,
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            "SMS not sent: the event cannot be sent as it is"
        ),
        Err(e) => tracing::error!(
            outcome = e.outcome(),
            reason = %e,
            retry = e.is_transient(),
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            "SMS not sent"
        ),
    }
}

fn log_finding(t: &Trace, finding: &Finding) {
    let (phone, region) = (t.phone.as_deref(), t.sns_region.as_deref());
    let outcome = finding.outcome();
    match finding {
        Finding::Sandbox { verified } => tracing::error!(
            outcome,
            phone,
            sns_region = region,
            destination_verified = *verified,
            deliverable = verified.unwrap_or(true),
            reason = "the account is in the SNS SMS sandbox in this Region: only verified destination numbers receive SMS; verify the number or request production access",
            "SNS SMS sandbox"
        ),
        Finding::SpendingLimitNear { spent_usd, limit_usd } => tracing::warn!(
            outcome,
            sns_region = region,
            spent_usd = *spent_usd,
            limit_usd = *limit_usd,
            reason = "month-to-date SMS spend is at 80% or more of MonthlySpendLimit; raise the limit before SNS stops delivering",
            "SMS spend near the monthly limit"
        ),
        Finding::SpendingLimitReached { spent_usd, limit_usd } => tracing::error!(
            outcome,
            sns_region = region,
            spent_usd = *spent_usd,
            limit_usd = *limit_usd,
            reason = "month-to-date SMS spend has reached MonthlySpendLimit: SNS accepts messages but does not deliver them; raise the limit",
            "SMS spend limit reached"
        ),
        Finding::ProbeFailed { permission, denied, reason } => tracing::warn!(
            outcome,
            sns_region = region,
            permission = *permission,
            reason = %reason,
            hint = if *denied { "grant this read-only permission to the function's role (or SNS caller role), or set SMS_PROBE=off" } else { "the probe will try again later" },
            "sandbox/spend probe could not run; sending goes on"
        ),
    }
}
