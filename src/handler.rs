//! One event, start to finish: parse, check, decrypt, fill, route, publish, and one log line for the outcome.

use std::time::Duration;

use serde_json::{json, Value};

use crate::crypto::Decrypter;
use crate::event::{CustomSmsSenderEvent, TriggerSource};
use crate::outcome::{SendError, SENT};
use crate::phone::PhoneNumber;
use crate::probe::{Finding, Probe};
use crate::region::{is_region_name, sns_region};
use crate::sns::Publisher;
use crate::template::{sign_in_name, unescape_password, Templates};

/// How long the sandbox/spend probe may run beside a publish before its answer is dropped for this event.
const PROBE_BUDGET: Duration = Duration::from_millis(1500);

/// The function: its ports and the settings the domain needs.
pub struct Sender<D, P, Q> {
    pub decrypter: D,
    pub publisher: P,
    pub probe: Q,
    pub templates: Templates,
    /// `SNS_REGION`, when set.
    pub sns_region: Option<String>,
    pub allowed_pools: Option<Vec<String>>,
    /// The function's own Region (`AWS_REGION`), used when neither the event nor the pool id names one.
    pub home_region: String,
}

/// Context gathered while handling an event, for its one outcome line. Only non-secret values.
#[derive(Debug, Default)]
struct Trace {
    trigger_source: Option<String>,
    user_pool_id: Option<String>,
    phone: Option<String>,
    sns_region: Option<String>,
}

impl<D: Decrypter, P: Publisher, Q: Probe> Sender<D, P, Q> {
    /// Handles one invocation. Returns `Err` only for failures worth a Lambda retry; everything else is
    /// acknowledged with its outcome, having been logged.
    pub async fn handle(&self, payload: &Value) -> Result<Value, SendError> {
        let mut trace = Trace::default();
        let result = self.send(payload, &mut trace).await;
        log_outcome(&trace, &result);
        match result {
            Ok(message_id) => Ok(json!({ "outcome": SENT, "messageId": message_id })),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => Ok(json!({ "outcome": e.outcome() })),
        }
    }

    async fn send(&self, payload: &Value, trace: &mut Trace) -> Result<String, SendError> {
        let event = CustomSmsSenderEvent::from_json(payload)?;
        trace.trigger_source = event.trigger_source.as_ref().map(|t| t.to_string());
        trace.user_pool_id = event.user_pool_id.clone();
        let (source, pool) = event.validate()?;
        if let Some(allowed) = &self.allowed_pools {
            if !allowed.iter().any(|p| p == pool) {
                return Err(SendError::PoolNotAllowed(pool.to_owned()));
            }
        }
        let phone = PhoneNumber::parse(event.phone_number())?;
        trace.phone = Some(phone.masked());
        let region = self.sns_region_for(&event, pool).to_owned();
        trace.sns_region = Some(region.clone());
        let template = self
            .templates
            .get(source)
            .ok_or_else(|| SendError::MissingCode(source.to_string()))?;

        let code = if template.uses_code() {
            let ciphertext = event.request.code.as_deref().filter(|c| !c.is_empty());
            let ciphertext =
                ciphertext.ok_or_else(|| SendError::MissingCode(source.to_string()))?;
            let code = self.decrypter.decrypt(ciphertext, pool).await?;
            Some(if *source == TriggerSource::AdminCreateUser {
                unescape_password(&code)
            } else {
                code
            })
        } else {
            None
        };
        let username = sign_in_name(event.user_name.as_deref(), &event.request.user_attributes);
        let body = template.render(code.as_deref().map_or("", |c| c.as_str()), username);
        drop(code);

        let (published, findings) = tokio::join!(
            self.publisher.publish(&region, &phone, &body),
            tokio::time::timeout(PROBE_BUDGET, self.probe.check(&region, &phone)),
        );
        drop(body);
        for finding in findings.unwrap_or_default() {
            log_finding(trace, &finding);
        }
        Ok(published?)
    }

    /// `SNS_REGION`, else the table applied to the pool's Region (the event's `region`, or the prefix of the
    /// pool id when the event has none), else the function's own Region.
    fn sns_region_for<'a>(&'a self, event: &'a CustomSmsSenderEvent, pool: &'a str) -> &'a str {
        let pool_region = event
            .region
            .as_deref()
            .filter(|r| is_region_name(r))
            .or_else(|| {
                pool.split_once('_')
                    .map(|(r, _)| r)
                    .filter(|r| is_region_name(r))
            })
            .unwrap_or(&self.home_region);
        sns_region(pool_region, self.sns_region.as_deref())
    }
}

fn log_outcome(t: &Trace, result: &Result<String, SendError>) {
    let (ts, pool, phone, region) = (
        t.trigger_source.as_deref(),
        t.user_pool_id.as_deref(),
        t.phone.as_deref(),
        t.sns_region.as_deref(),
    );
    match result {
        Ok(message_id) => tracing::info!(
            outcome = SENT,
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            message_id = message_id.as_str(),
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
