//! Asking the SMS service what a send does not say: is the account in the SMS sandbox (and is this
//! destination verified), and how close is it to the monthly spend limit. The [`Probe`] port and its SNS
//! adapter ([`sns`]); answers are cached per SNS Region, and the probe runs beside the send, never holding it up.

pub mod sns;

use std::future::Future;

use crate::destination::phone::PhoneNumber;

/// Something the probe found that an operator should act on. Each becomes one log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The account is in the SMS sandbox in this Region. `verified` says whether this destination is one of
    /// the sandbox's verified numbers (`None` if the list could not be read).
    Sandbox { verified: Option<bool> },
    /// Month-to-date spend is at 80 % or more of `MonthlySpendLimit`.
    SpendingLimitNear { spent_usd: f64, limit_usd: f64 },
    /// Month-to-date spend has reached `MonthlySpendLimit`: SNS accepts but does not deliver.
    SpendingLimitReached { spent_usd: f64, limit_usd: f64 },
    /// A probe call failed; reported once per Region and permission.
    ProbeFailed { permission: &'static str, denied: bool, reason: String },
}

impl Finding {
    /// The stable `outcome` name of the log line.
    pub fn outcome(&self) -> &'static str {
        match self {
            Finding::Sandbox { .. } => "SNSSandbox",
            Finding::SpendingLimitNear { .. } => "SpendingLimitNear",
            Finding::SpendingLimitReached { .. } => "SpendingLimitReached",
            Finding::ProbeFailed { denied: true, .. } => "probe_denied",
            Finding::ProbeFailed { denied: false, .. } => "probe_failed",
        }
    }
}

/// Checks the SNS account state for one destination.
pub trait Probe: Send + Sync {
    fn check(&self, sns_region: &str, phone: &PhoneNumber) -> impl Future<Output = Vec<Finding>> + Send;
}

/// No probe (`SMS_PROBE=off`, local runs) finds nothing.
impl<P: Probe> Probe for Option<P> {
    async fn check(&self, sns_region: &str, phone: &PhoneNumber) -> Vec<Finding> {
        match self {
            Some(probe) => probe.check(sns_region, phone).await,
            None => Vec::new(),
        }
    }
}
