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

use crate::aws::Check;

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

/// What the warm-up found, service by service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmUpReport {
    pub kms: Check,
    pub sns: Check,
    pub idempotency: Check,
    /// The SNS Region warmed: the one events from the function's own Region publish from.
    pub sns_region: String,
    pub elapsed: Duration,
}

impl WarmUpReport {
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
}
