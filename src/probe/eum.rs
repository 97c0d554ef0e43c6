//! The probe against AWS End User Messaging SMS: the account tier (`DescribeAccountAttributes`, attribute
//! `ACCOUNT_TIER`: `SANDBOXED` or `PRODUCTION`) and the monthly text spend limit (`DescribeSpendLimits`,
//! `TEXT_MESSAGE_MONTHLY_SPEND_LIMIT`). Neither reports month-to-date spend, so unlike SNS's probe this one
//! cannot see a limit coming near; End User Messaging refuses a send past it, which has its own outcome.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_pinpointsmsvoicev2::types::{AccountAttributeName, SpendLimitName};
use aws_sdk_pinpointsmsvoicev2::Client;

use super::cache::{note, once, Failures, RegionCache};
use super::{Finding, Probe};
use crate::aws::{classify, Failure};
use crate::destination::attributes::TransportKind;
use crate::destination::phone::PhoneNumber;
use crate::publish::sns::PerRegion;

/// The monthly text spend limit, in whole US dollars as the API gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TextLimit {
    enforced: i64,
    max: i64,
    overridden: bool,
}

impl TextLimit {
    /// The limit in force: the account's own (`EnforcedLimit`) when it set one, else the maximum.
    fn in_force(&self) -> i64 {
        if self.overridden {
            self.enforced
        } else {
            self.max
        }
    }
}

#[derive(Debug, Clone, Default)]
struct AccountState {
    sandboxed: Option<bool>,
    text_limit: Option<TextLimit>,
}

/// The probe against real End User Messaging, through the clients sends use.
pub struct EumProbe {
    clients: Arc<PerRegion<Client>>,
    cache: RegionCache<AccountState>,
}

impl EumProbe {
    /// A probe through `clients`, reusing each Region's answers (failures included) for `cache_for`.
    pub fn new(clients: Arc<PerRegion<Client>>, cache_for: Duration) -> Self {
        EumProbe { clients, cache: RegionCache::new(cache_for) }
    }

    /// Asks for `region`'s account tier and text spend limit, side by side.
    async fn refresh(&self, region: &str) -> (AccountState, Failures) {
        let mut failures = Vec::new();
        let (tier, limit) = tokio::join!(self.sandboxed(region), self.text_limit(region));
        let sandboxed = note(tier, "sms-voice:DescribeAccountAttributes", &mut failures).flatten();
        let text_limit = note(limit, "sms-voice:DescribeSpendLimits", &mut failures).flatten();
        (AccountState { sandboxed, text_limit }, failures)
    }

    /// Whether the account tier is `SANDBOXED` (`None` when the attribute is not returned).
    async fn sandboxed(&self, region: &str) -> Result<Option<bool>, Failure> {
        let call = self.clients.get(region).describe_account_attributes();
        let out = call.customize().config_override(eum_once()).send().await.map_err(|e| classify(&e))?;
        let tier = out.account_attributes().iter().find(|a| a.name == AccountAttributeName::AccountTier);
        Ok(tier.map(|a| a.value == "SANDBOXED"))
    }

    async fn text_limit(&self, region: &str) -> Result<Option<TextLimit>, Failure> {
        let call = self.clients.get(region).describe_spend_limits();
        let out = call.customize().config_override(eum_once()).send().await.map_err(|e| classify(&e))?;
        let text = out.spend_limits().iter().find(|l| l.name == SpendLimitName::TextMessageMonthlySpendLimit);
        Ok(text.map(|l| TextLimit { enforced: l.enforced_limit, max: l.max_limit, overridden: l.overridden }))
    }
}

fn eum_once() -> aws_sdk_pinpointsmsvoicev2::config::Builder {
    let (retry, timeouts) = once();
    aws_sdk_pinpointsmsvoicev2::config::Builder::default().retry_config(retry).timeout_config(timeouts)
}

impl Probe for EumProbe {
    /// Messages sent through End User Messaging only: SNS has its own probe ([`super::sns`]).
    async fn check(&self, transport: TransportKind, sns_region: &str, _phone: &PhoneNumber) -> Vec<Finding> {
        if transport != TransportKind::EndUserMessaging {
            return Vec::new();
        }
        let (state, mut findings) = self.cache.get(sns_region, || self.refresh(sns_region)).await;
        findings.extend(assess(&state));
        findings
    }
}

/// What a Region's state means for every message sent there.
fn assess(state: &AccountState) -> Vec<Finding> {
    let mut findings = Vec::new();
    if state.sandboxed == Some(true) {
        findings.push(Finding::Sandbox { transport: TransportKind::EndUserMessaging, verified: None });
    }
    if let Some(limit) = state.text_limit.filter(|l| l.in_force() <= 0) {
        findings.push(Finding::TextSpendLimitReached {
            limit_usd: limit.in_force() as f64,
            max_usd: limit.max as f64,
            overridden: limit.overridden,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_in_force_is_the_accounts_own_only_when_overridden() {
        let limit = |enforced, max, overridden| TextLimit { enforced, max, overridden };
        let state = |l| AccountState { sandboxed: Some(false), text_limit: Some(l) };
        assert!(assess(&state(limit(0, 10, false))).is_empty(), "not overridden: the maximum is in force");
        assert!(assess(&state(limit(1, 1, false))).is_empty());
        let zero = Finding::TextSpendLimitReached { limit_usd: 0.0, max_usd: 10.0, overridden: true };
        assert_eq!(assess(&state(limit(0, 10, true))), [zero]);
        assert_eq!(assess(&state(limit(0, 0, false)))[0].outcome(), "SpendingLimitReached");
    }
}
