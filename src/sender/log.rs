//! The sender's log lines: one per event with its outcome, and one per probe finding. Only non-secret values:
//! the phone number masked, never the code, the password or the message.

use super::outcome::{Outcome, SendError};
use super::Delivered;
use crate::destination::attributes::TransportKind;
use crate::destination::phone::{logged_prefix, Country};
use crate::gate::policy::Rule;
use crate::probe::Finding;

/// Context gathered while handling an event, for its one outcome line.
#[derive(Debug, Default)]
pub(super) struct Trace {
    pub trigger_source: Option<String>,
    pub user_pool_id: Option<String>,
    pub phone: Option<String>,
    pub sns_region: Option<String>,
    pub locale: Option<String>,
    pub route: Option<String>,
    pub sms_parts: Option<usize>,
    pub encoding: Option<&'static str>,
    /// The destination's country, when known.
    pub country: Option<Country>,
    /// The destination's prefix (the gate's `prefix_digits`), for conversion per prefix; never the number.
    pub prefix: Option<String>,
    /// Rules in monitor mode that would have refused the message.
    pub would_block: Vec<Rule>,
    /// The local outbox took the message: nothing was sent.
    pub local_outbox: bool,
    /// What took the message ([`crate::publish::Publisher::transport`]), once it is known.
    pub transport: Option<&'static str>,
}

impl Trace {
    /// The destination's ISO country code, when known.
    fn country(&self) -> Option<&str> {
        self.country.as_ref().map(|c| c.as_ref())
    }

    /// `would_block` as one comma-separated field, when there is any.
    fn would_block(&self) -> Option<String> {
        (!self.would_block.is_empty())
            .then(|| self.would_block.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","))
    }
}

/// The one line every event ends with.
pub(super) fn log_outcome(t: &Trace, result: &Result<Delivered, SendError>) {
    let (ts, pool, phone, region) =
        (t.trigger_source.as_deref(), t.user_pool_id.as_deref(), t.phone.as_deref(), t.sns_region.as_deref());
    match result {
        Ok(Delivered::Duplicate { message_id }) => tracing::info!(
            outcome = Outcome::Duplicate.as_str(),
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            message_id = message_id.as_str(),
            reason = "this event was delivered before and its SMS was sent then; not sent again",
            "duplicate delivery skipped"
        ),
        Ok(Delivered::Sent { message_id }) => tracing::info!(
            outcome = Outcome::Sent.as_str(),
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            message_id = message_id.as_str(),
            locale = t.locale.as_deref(),
            route = t.route.as_deref(),
            sms_parts = t.sms_parts,
            encoding = t.encoding,
            country = t.country(),
            prefix = t.prefix.as_deref().map(logged_prefix),
            would_block = t.would_block(),
            transport = t.transport,
            "{}",
            sent_message(t)
        ),
        Err(SendError::Blocked { rule, reason }) => tracing::warn!(
            outcome = Outcome::Blocked.as_str(),
            rule = rule.as_str(),
            reason = reason.as_str(),
            retry = false,
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            country = t.country(),
            sns_region = region,
            would_block = t.would_block(),
            "SMS not sent: refused by the abuse gate"
        ),
        Err(e) if e.is_bad_input() => tracing::warn!(
            outcome = e.outcome().as_str(),
            reason = %e,
            retry = false,
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            "SMS not sent: the event cannot be sent as it is"
        ),
        Err(e) => tracing::error!(
            outcome = e.outcome().as_str(),
            reason = %e,
            retry = e.is_transient(),
            trigger_source = ts,
            user_pool_id = pool,
            phone = phone,
            sns_region = region,
            transport = t.transport,
            "SMS not sent"
        ),
    }
}

/// What the `sent` line says happened to the message.
fn sent_message(t: &Trace) -> &'static str {
    match t.transport {
        _ if t.local_outbox => "SMS would be sent: written to LOCAL_OUTBOX, not sent",
        Some(crate::publish::test_sink::TRANSPORT) => {
            "message to a test number put in the SMS_TEST_SINK queue: no SMS sent"
        }
        _ => "SMS handed to SNS",
    }
}

/// One line per probe finding.
pub(super) fn log_finding(t: &Trace, finding: &Finding) {
    let region = t.sns_region.as_deref();
    let outcome = finding.outcome();
    match finding {
        Finding::Sandbox { transport, verified } => log_sandbox(t, outcome, *transport, *verified),
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
        Finding::TextSpendLimitReached { limit_usd, max_usd, overridden } => tracing::error!(
            outcome,
            sns_region = region,
            transport = TransportKind::EndUserMessaging.as_str(),
            limit_usd = *limit_usd,
            max_usd = *max_usd,
            overridden = *overridden,
            reason = "the End User Messaging monthly text spend limit in force is USD 0: every message is refused; raise it in the End User Messaging console (above max_usd, by a quota increase request)",
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

/// The sandbox finding: SNS knows whether this number is verified; End User Messaging refuses an unverified one.
fn log_sandbox(t: &Trace, outcome: &str, transport: TransportKind, verified: Option<bool>) {
    let (phone, region) = (t.phone.as_deref(), t.sns_region.as_deref());
    match transport {
    TransportKind::Sns => tracing::error!(
        outcome,
        phone,
        sns_region = region,
        destination_verified = verified,
        deliverable = verified.unwrap_or(true),
        reason = "the account is in the SNS SMS sandbox in this Region: only verified destination numbers receive SMS; verify the number or request production access",
        "SNS SMS sandbox"
    ),
    TransportKind::EndUserMessaging => tracing::error!(
        outcome,
        phone,
        sns_region = region,
        transport = TransportKind::EndUserMessaging.as_str(),
        reason = "the account is in the End User Messaging SMS sandbox in this Region (ACCOUNT_TIER SANDBOXED): only verified destination numbers receive SMS, a send to any other ends as sms_destination_not_verified; verify the number or request production access in the End User Messaging console",
        "End User Messaging SMS sandbox"
    ),
    }
}
