//! Conversion feedback: Cognito's post confirmation and post authentication triggers say a user entered a
//! code, so the user's outstanding message of that kind is marked converted in the ledger (once), counted
//! (`Converted`), reported to End User Messaging (`PutMessageFeedback`, when the message was sent waiting for
//! it) and counted for the abuse gate's low-conversion rule ([`crate::gate::Conversions`]).
//!
//! These triggers are synchronous and sit on the user's sign-in: the event is always answered unchanged within
//! [`BUDGET`], and every failure is one log line and a metric, never an error.
//!
//! Layout: [`event`] (the events' header), here the [`Converter`] and its log line. Imports [`crate::ledger`],
//! [`crate::gate`]'s port, [`crate::publish`]'s [`Feedback`] and [`crate::telemetry`], never the sender.

pub mod event;

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::destination::phone::logged_prefix;
use crate::gate::{self, Conversions, CounterError, Scope};
use crate::ledger::{Conversion, Ledger, LedgerError, SentMessage};
use crate::publish::{Feedback, FeedbackError};
use crate::telemetry::metrics;
use event::{ConversionEvent, EventError};

/// How long a conversion event may take before it is answered anyway: Cognito waits for it (5 s at most)
/// while the user signs in.
pub const BUDGET: Duration = Duration::from_secs(1);

/// How a conversion event ended: the `outcome` of its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The user's outstanding message was marked converted by this event.
    Converted,
    /// It was converted before: a redelivered or concurrent event.
    AlreadyConverted,
    /// No message of the event's kind is outstanding for the user (a sign-in without SMS MFA, a code sent
    /// before the ledger remembered messages, or one no longer valid).
    NoOutstandingMessage,
    /// Something failed; `reason` says what, `converted` whether the ledger counts the message converted.
    ConversionFailed,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 4] =
        [Outcome::Converted, Outcome::AlreadyConverted, Outcome::NoOutstandingMessage, Outcome::ConversionFailed];

    /// The stable name for logs, metrics and alarms.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Converted => "converted",
            Outcome::AlreadyConverted => "already_converted",
            Outcome::NoOutstandingMessage => "no_outstanding_message",
            Outcome::ConversionFailed => "conversion_failed",
        }
    }
}

/// Why a conversion event failed. Display texts say what to do and never carry a number or a user name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("the state table could not be read: {0}")]
    Ledger(#[from] LedgerError),
    #[error("no answer within {} ms; the event was answered unchanged", BUDGET.as_millis())]
    Timeout,
    #[error("the message is recorded converted, but {0}")]
    Feedback(FeedbackError),
    #[error("the message is recorded converted, but the abuse gate could not count it: {0}")]
    Gate(CounterError),
}

/// What the log line says besides the outcome.
#[derive(Debug, Default)]
struct Trace {
    trigger_source: Option<&'static str>,
    user_pool_id: Option<String>,
    /// The converted message, once the ledger marked it.
    message: Option<SentMessage>,
    /// `sent`, `failed`, or none when the message was not sent waiting for feedback.
    feedback: Option<&'static str>,
}

/// The conversion handler: the ledger the sender records messages in, End User Messaging feedback, and the
/// abuse gate's conversion counters.
pub struct Converter<Recording, Telling, Counting> {
    pub ledger: Recording,
    pub feedback: Telling,
    pub conversions: Counting,
    /// How long an event may take ([`BUDGET`] when deployed).
    pub budget: Duration,
}

impl<Recording: Ledger, Telling: Feedback, Counting: Conversions> Converter<Recording, Telling, Counting> {
    /// The handler with these ports and [`BUDGET`].
    pub fn new(ledger: Recording, feedback: Telling, conversions: Counting) -> Self {
        Converter { ledger, feedback, conversions, budget: BUDGET }
    }

    /// Handles one conversion event and returns it unchanged, whatever happened (logged and counted).
    pub async fn handle(&self, payload: &Value) -> Value {
        let started = Instant::now();
        let mut trace = Trace::default();
        let result = tokio::time::timeout(self.budget, self.convert(payload, &mut trace))
            .await
            .unwrap_or(Err(ConversionError::Timeout));
        let outcome = match &result {
            Ok(outcome) => *outcome,
            Err(_) => Outcome::ConversionFailed,
        };
        log_outcome(&trace, outcome, result.as_ref().err(), started.elapsed());
        metrics::record_conversion_event(outcome.as_str());
        payload.clone()
    }

    /// Marks the user's outstanding message converted, then gives its feedback and counts it for the gate.
    async fn convert(&self, payload: &Value, trace: &mut Trace) -> Result<Outcome, ConversionError> {
        let event = ConversionEvent::from_json(payload)?;
        trace.trigger_source = Some(event.trigger.as_str());
        trace.user_pool_id = Some(crate::message::event::truncate(&event.pool, 64));
        let user = gate::hashed(&[&event.pool, &event.user]);
        let sent = match self.ledger.convert(&user, event.trigger.kind(), SystemTime::now()).await? {
            Conversion::Converted(sent) => *sent,
            Conversion::AlreadyConverted => return Ok(Outcome::AlreadyConverted),
            Conversion::NoOutstandingMessage => return Ok(Outcome::NoOutstandingMessage),
        };
        // Counted as soon as the ledger says so: what follows can fail, the conversion stays.
        metrics::record_converted(&sent.trigger_source, sent.country.as_deref());
        let scope = Scope {
            pool: sent.pool.clone(),
            country: sent.country.as_deref().and_then(|c| c.parse().ok()),
            prefix: sent.prefix.clone(),
        };
        let feedback = async {
            match sent.feedback {
                true => self.feedback.received(&sent.region, &sent.message_id).await.map(Some),
                false => Ok(None),
            }
        };
        trace.message = Some(sent.clone());
        let (told, counted) = tokio::join!(feedback, self.conversions.converted(&scope, sent.sent_at));
        trace.feedback = match &told {
            Ok(Some(())) => Some("sent"),
            Ok(None) => None,
            Err(_) => Some("failed"),
        };
        told.map_err(ConversionError::Feedback)?;
        counted.map_err(ConversionError::Gate)?;
        Ok(Outcome::Converted)
    }
}

/// The one line every conversion event ends with. The prefix, never the number; the user only as the pool.
fn log_outcome(t: &Trace, outcome: Outcome, error: Option<&ConversionError>, took: Duration) {
    let m = t.message.as_ref();
    macro_rules! line {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                outcome = outcome.as_str(),
                reason = error.map(|e| e.to_string()),
                trigger_source = t.trigger_source,
                user_pool_id = t.user_pool_id.as_deref(),
                converted = m.is_some(),
                message_trigger_source = m.map(|m| m.trigger_source.as_str()),
                country = m.and_then(|m| m.country.as_deref()),
                prefix = m.map(|m| logged_prefix(&m.prefix)),
                transport = m.map(|m| m.transport.as_str()),
                message_id = m.map(|m| m.message_id.as_str()),
                seconds_to_convert = m.and_then(|m| m.sent_at.elapsed().ok()).map(|d| d.as_secs()),
                feedback = t.feedback,
                elapsed_ms = took.as_millis() as u64,
                $message
            )
        };
    }
    match outcome {
        Outcome::ConversionFailed => {
            line!(tracing::Level::ERROR, "conversion event not fully handled; answered unchanged")
        }
        _ => line!(tracing::Level::INFO, "conversion event handled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_stable_distinct_names() {
        let names: std::collections::HashSet<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), Outcome::ALL.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
