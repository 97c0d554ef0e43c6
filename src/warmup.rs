//! Opening connections during init. Every event needs KMS, SNS and (with `IDEMPOTENCY_TABLE`) DynamoDB; without
//! a warm-up the first event pays for DNS, TCP, TLS (and AWS-LC's first entropy seeding), credentials and, with
//! `SNS_CALLER_ARN`, the AssumeRole call, one service after another while a user waits for the code. At init
//! the three run side by side, and what they find (a disabled key, a missing table) is said before any user
//! is affected.
//!
//! Each warm-up is a cheap read against the same client the events use: KMS `DescribeKey` on `KMS_KEY_ARN`,
//! SNS `GetSMSAttributes` in the home SNS Region, DynamoDB `GetItem` of a key that is never written. A refused
//! call still leaves a warm connection behind, so a missing permission only loses the check, never the event.

use std::time::Duration;

/// Whether init should wait for the warm-up, given `AWS_LAMBDA_INITIALIZATION_TYPE`. With provisioned
/// concurrency, init runs before any event arrives, so waiting costs no one anything. On demand, an event is
/// already waiting: the warm-up runs beside it instead (the SNS connection opens while the first code is
/// decrypted), because waiting would add its extra calls to that event's latency (measured: bench/README.md).
pub fn awaited_at_init(initialization_type: Option<&str>) -> bool {
    initialization_type == Some("provisioned-concurrency")
}

/// How long the warm-up may take before what has not answered is left for the first event.
pub const BUDGET: Duration = Duration::from_millis(1500);

/// `check`, or `Failed("timeout")` when it takes longer than [`BUDGET`].
pub async fn within_budget(check: impl std::future::Future<Output = Check>) -> Check {
    tokio::time::timeout(BUDGET, check).await.unwrap_or_else(|_| Check::Failed("timeout".into()))
}

/// What one warm-up call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The service answered and the resource is usable.
    Ready,
    /// The call was refused (the role lacks the read permission): the connection is warm, the check is not done.
    Denied(String),
    /// The service answered that the resource cannot be used as configured: events will fail until it is fixed.
    Unusable(String),
    /// The call failed (timeout, network, service error); the first event will try again.
    Failed(String),
    /// Nothing to warm (local outbox, no ledger, development key).
    Skipped,
}

impl Check {
    /// The short word logged for this check.
    pub fn as_str(&self) -> &'static str {
        match self {
            Check::Ready => "ready",
            Check::Denied(_) => "denied",
            Check::Unusable(_) => "unusable",
            Check::Failed(_) => "failed",
            Check::Skipped => "skipped",
        }
    }

    /// The reason, when there is one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Check::Denied(r) | Check::Unusable(r) | Check::Failed(r) => Some(r),
            Check::Ready | Check::Skipped => None,
        }
    }
}

/// What the warm-up found, service by service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kms: Check,
    pub sns: Check,
    pub idempotency: Check,
    /// The SNS Region warmed: the one events from the function's own Region publish from.
    pub sns_region: String,
    pub elapsed: Duration,
}

impl Report {
    /// The one init log line: `outcome = "warm_up"`, WARN when a service is unusable as configured. Nothing
    /// when everything was skipped (local runs).
    pub fn log(&self) {
        if [&self.kms, &self.sns, &self.idempotency].iter().all(|c| **c == Check::Skipped) {
            return;
        }
        // `tracing` levels are compile-time constants: one field list, two levels.
        macro_rules! line {
            ($level:expr, $message:literal) => {
                tracing::event!(
                    $level,
                    outcome = "warm_up",
                    kms = self.kms.as_str(),
                    kms_reason = self.kms.reason(),
                    sns = self.sns.as_str(),
                    sns_reason = self.sns.reason(),
                    sns_region = self.sns_region.as_str(),
                    idempotency = self.idempotency.as_str(),
                    idempotency_reason = self.idempotency.reason(),
                    elapsed_ms = self.elapsed.as_secs_f64() * 1e3,
                    $message
                )
            };
        }
        if [&self.kms, &self.sns, &self.idempotency].iter().any(|c| matches!(c, Check::Unusable(_))) {
            line!(tracing::Level::WARN, "warm-up at init: events will fail until the unusable resource is fixed");
        } else {
            line!(tracing::Level::INFO, "warm-up at init: connections open");
        }
    }
}

/// Classifies a failed warm-up call by its error code: refusals of the read permission, the given codes that
/// mean "unusable as configured", and everything else as a failure to retry on the first event.
pub(crate) fn from_error(code: Option<&str>, unusable: &[&str], fallback: &str) -> Check {
    const DENIED: [&str; 5] =
        ["AccessDeniedException", "AccessDenied", "AuthorizationError", "UnrecognizedClientException", "ExpiredToken"];
    match code {
        Some(c) if DENIED.contains(&c) => Check::Denied(c.to_owned()),
        Some(c) if unusable.contains(&c) => Check::Unusable(c.to_owned()),
        Some(c) => Check::Failed(c.to_owned()),
        None => Check::Failed(fallback.to_owned()),
    }
}

/// The failure text for an SDK error without a service error code (timeout, connection, credentials).
pub(crate) fn sdk_failure<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String {
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(d) if d.is_user() => "could not get credentials".into(),
        SdkError::DispatchFailure(_) => "could not connect".into(),
        SdkError::ConstructionFailure(_) => "request could not be built".into(),
        _ => "unexpected response".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_waits_only_when_no_event_is_waiting() {
        assert!(awaited_at_init(Some("provisioned-concurrency")));
        assert!(!awaited_at_init(Some("on-demand")));
        assert!(!awaited_at_init(Some("snap-start")));
        assert!(!awaited_at_init(None));
    }

    #[test]
    fn error_codes_are_sorted_into_checks() {
        let unusable = ["NotFoundException"];
        assert_eq!(
            from_error(Some("AccessDeniedException"), &unusable, "x"),
            Check::Denied("AccessDeniedException".into())
        );
        assert_eq!(from_error(Some("NotFoundException"), &unusable, "x"), Check::Unusable("NotFoundException".into()));
        assert_eq!(
            from_error(Some("ThrottlingException"), &unusable, "x"),
            Check::Failed("ThrottlingException".into())
        );
        assert_eq!(from_error(None, &unusable, "timeout"), Check::Failed("timeout".into()));
        assert_eq!(Check::Skipped.reason(), None);
    }
}
