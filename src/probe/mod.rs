//! Asking the SMS service what a send does not say: is the account in the SMS sandbox (and is this
//! destination verified), and how close is it to the monthly spend limit. The [`Probe`] port and its adapters,
//! one per transport: [`sns`] and [`eum`] (End User Messaging); `cache.rs` keeps each Region's answers for a
//! while. The probe runs beside the send, never holding it up.

mod cache;
pub mod eum;
pub mod sns;

use std::future::Future;

use crate::destination::attributes::TransportKind;
use crate::destination::phone::PhoneNumber;

/// Something the probe found that an operator should act on. Each becomes one log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The account is in the SMS sandbox of `transport` in this Region. `verified` says whether this
    /// destination is one of the sandbox's verified numbers (`None` if the list could not be read, or, for
    /// End User Messaging, is not read: a send to an unverified number is refused there).
    Sandbox { transport: TransportKind, verified: Option<bool> },
    /// Month-to-date spend is at 80 % or more of `MonthlySpendLimit`.
    SpendingLimitNear { spent_usd: f64, limit_usd: f64 },
    /// Month-to-date spend has reached `MonthlySpendLimit`: SNS accepts but does not deliver.
    SpendingLimitReached { spent_usd: f64, limit_usd: f64 },
    /// End User Messaging's monthly text spend limit in force is 0, so every message is refused. Its
    /// `DescribeSpendLimits` gives the limit (`limit_usd`; `max_usd`, the most it can be set to without a quota
    /// increase; `overridden`, whether the account set its own) but not month-to-date spend, so how close a
    /// non-zero limit is cannot be told: a send past it is refused with its own outcome.
    TextSpendLimitReached { limit_usd: f64, max_usd: f64, overridden: bool },
    /// A probe call failed; reported once per Region and permission.
    ProbeFailed { permission: &'static str, denied: bool, reason: String },
}

impl Finding {
    /// The stable `outcome` name of the log line: Cognito's names for the conditions, whichever transport.
    pub fn outcome(&self) -> &'static str {
        match self {
            Finding::Sandbox { .. } => "SNSSandbox",
            Finding::SpendingLimitNear { .. } => "SpendingLimitNear",
            Finding::SpendingLimitReached { .. } | Finding::TextSpendLimitReached { .. } => "SpendingLimitReached",
            Finding::ProbeFailed { denied: true, .. } => "probe_denied",
            Finding::ProbeFailed { denied: false, .. } => "probe_failed",
        }
    }
}

/// Checks the account state for one destination, as the transport the message is sent through sees it.
pub trait Probe: Send + Sync {
    /// What is wrong for `phone` in `sns_region` through `transport`. A probe finds nothing for a transport it
    /// does not know.
    fn check(
        &self,
        transport: TransportKind,
        sns_region: &str,
        phone: &PhoneNumber,
    ) -> impl Future<Output = Vec<Finding>> + Send;
}

/// No probe (`SMS_PROBE=off`, local runs) finds nothing.
impl<P: Probe> Probe for Option<P> {
    async fn check(&self, transport: TransportKind, sns_region: &str, phone: &PhoneNumber) -> Vec<Finding> {
        match self {
            Some(probe) => probe.check(transport, sns_region, phone).await,
            None => Vec::new(),
        }
    }
}

/// Two probes (one per transport): each answers for the messages sent its way.
impl<A: Probe, B: Probe> Probe for (A, B) {
    async fn check(&self, transport: TransportKind, sns_region: &str, phone: &PhoneNumber) -> Vec<Finding> {
        let (mut a, b) =
            tokio::join!(self.0.check(transport, sns_region, phone), self.1.check(transport, sns_region, phone));
        a.extend(b);
        a
    }
}
