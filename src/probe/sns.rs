//! The probe against SNS (`GetSMSSandboxAccountStatus`, `ListSMSSandboxPhoneNumbers`, `GetSMSAttributes`) and
//! CloudWatch (`SMSMonthToDateSpentUSD`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::Statistic;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use super::cache::{note, once, Failures, RegionCache};
use super::{Finding, Probe};
use crate::aws::{classify, Failure};
use crate::destination::attributes::TransportKind;
use crate::destination::phone::PhoneNumber;
use crate::publish::sns::RegionalClients;

#[derive(Debug, Clone, Default)]
struct RegionState {
    in_sandbox: Option<bool>,
    verified_numbers: Option<HashSet<String>>,
    limit_usd: Option<f64>,
    spent_usd: Option<f64>,
}

/// The probe against real SNS and CloudWatch.
pub struct SnsProbe {
    clients: Arc<RegionalClients>,
    cache: RegionCache<RegionState>,
}

/// New accounts' SMS spend limit when `MonthlySpendLimit` is not returned.
const DEFAULT_SPEND_LIMIT_USD: f64 = 1.0;

impl SnsProbe {
    /// A probe through `clients`, reusing each Region's answers (failures included) for `cache_for`.
    pub fn new(clients: Arc<RegionalClients>, cache_for: Duration) -> Self {
        SnsProbe { clients, cache: RegionCache::new(cache_for) }
    }

    /// This probe, reading the time from `now` (tests move it to see the cache expire).
    pub fn with_clock(self, now: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        SnsProbe { cache: self.cache.with_clock(Box::new(now)), ..self }
    }

    /// Asks SNS and CloudWatch for `region`'s state, side by side.
    async fn refresh(&self, region: &str) -> (RegionState, Failures) {
        let mut failures = Vec::new();
        let (sandbox, limit_usd, spent_usd) =
            tokio::join!(self.sandbox(region), self.spend_limit(region), self.month_to_date_spend(region));
        let in_sandbox = note(sandbox, "sns:GetSMSSandboxAccountStatus", &mut failures);
        let verified_numbers = match in_sandbox {
            Some(true) => note(self.verified_numbers(region).await, "sns:ListSMSSandboxPhoneNumbers", &mut failures),
            _ => None,
        };
        let limit_usd = note(limit_usd, "sns:GetSMSAttributes", &mut failures);
        let spent_usd = note(spent_usd, "cloudwatch:GetMetricStatistics", &mut failures);
        (RegionState { in_sandbox, verified_numbers, limit_usd, spent_usd }, failures)
    }

    async fn sandbox(&self, region: &str) -> Result<bool, Failure> {
        let call = self.clients.sns(region).get_sms_sandbox_account_status();
        let out = call.customize().config_override(sns_once()).send().await;
        out.map(|o| o.is_in_sandbox).map_err(|e| classify(&e))
    }

    async fn verified_numbers(&self, region: &str) -> Result<HashSet<String>, Failure> {
        let call = self.clients.sns(region).list_sms_sandbox_phone_numbers();
        let out = call.customize().config_override(sns_once()).send().await.map_err(|e| classify(&e))?;
        Ok(out
            .phone_numbers
            .iter()
            .filter(|n| n.status.as_ref().is_some_and(|s| s.as_str() == "Verified"))
            .filter_map(|n| n.phone_number.clone())
            .collect())
    }

    async fn spend_limit(&self, region: &str) -> Result<f64, Failure> {
        let call = self.clients.sns(region).get_sms_attributes().attributes("MonthlySpendLimit");
        let out = call.customize().config_override(sns_once()).send().await;
        let out = out.map_err(|e| classify(&e))?;
        let limit = out.attributes.as_ref().and_then(|a| a.get("MonthlySpendLimit")).and_then(|v| v.parse().ok());
        Ok(limit.unwrap_or(DEFAULT_SPEND_LIMIT_USD))
    }

    async fn month_to_date_spend(&self, region: &str) -> Result<f64, Failure> {
        let out = self
            .clients
            .cloudwatch(region)
            .get_metric_statistics()
            .namespace("AWS/SNS")
            .metric_name("SMSMonthToDateSpentUSD")
            .statistics(Statistic::Maximum)
            .start_time(start_of_month())
            .end_time(DateTime::from(std::time::SystemTime::now()))
            .period(86_400)
            .customize()
            .config_override(cloudwatch_once())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.datapoints().iter().filter_map(|d| d.maximum).fold(0.0, f64::max))
    }
}

fn sns_once() -> aws_sdk_sns::config::Builder {
    let (retry, timeouts) = once();
    aws_sdk_sns::config::Builder::default().retry_config(retry).timeout_config(timeouts)
}

fn cloudwatch_once() -> aws_sdk_cloudwatch::config::Builder {
    let (retry, timeouts) = once();
    aws_sdk_cloudwatch::config::Builder::default().retry_config(retry).timeout_config(timeouts)
}

impl Probe for SnsProbe {
    /// Messages sent through SNS only: End User Messaging has its own probe ([`super::eum`]).
    async fn check(&self, transport: TransportKind, sns_region: &str, phone: &PhoneNumber) -> Vec<Finding> {
        if transport != TransportKind::Sns {
            return Vec::new();
        }
        let (state, mut findings) = self.cache.get(sns_region, || self.refresh(sns_region)).await;
        findings.extend(assess(&state, phone));
        findings
    }
}

/// What a Region's state means for one destination.
fn assess(state: &RegionState, phone: &PhoneNumber) -> Vec<Finding> {
    let mut findings = Vec::new();
    if state.in_sandbox == Some(true) {
        let verified = state.verified_numbers.as_ref().map(|v| v.contains(phone.as_e164()));
        findings.push(Finding::Sandbox { transport: TransportKind::Sns, verified });
    }
    if let (Some(spent_usd), Some(limit_usd)) = (state.spent_usd, state.limit_usd) {
        if spent_usd >= limit_usd {
            findings.push(Finding::SpendingLimitReached { spent_usd, limit_usd });
        } else if spent_usd >= 0.8 * limit_usd {
            findings.push(Finding::SpendingLimitNear { spent_usd, limit_usd });
        }
    }
    findings
}

/// 00:00 UTC on the first of this month: the spend metric restarts there.
fn start_of_month() -> DateTime {
    let now = DateTime::from(std::time::SystemTime::now());
    now.fmt(Format::DateTime)
        .ok()
        .and_then(|s| DateTime::from_str(&format!("{}01T00:00:00Z", &s[..8]), Format::DateTime).ok())
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_of_month_is_the_first() {
        let s = start_of_month().fmt(Format::DateTime).unwrap();
        assert!(s.ends_with("-01T00:00:00Z"), "{s}");
    }

    #[test]
    fn spend_thresholds() {
        let phone = PhoneNumber::parse(Some("+12065550100")).unwrap();
        let at = |spent| RegionState { spent_usd: Some(spent), limit_usd: Some(10.0), ..Default::default() };
        assert!(assess(&at(7.9), &phone).is_empty());
        assert_eq!(assess(&at(8.0), &phone), [Finding::SpendingLimitNear { spent_usd: 8.0, limit_usd: 10.0 }]);
        assert_eq!(assess(&at(10.0), &phone), [Finding::SpendingLimitReached { spent_usd: 10.0, limit_usd: 10.0 }]);
    }

    #[test]
    fn sandbox_verification() {
        let phone = PhoneNumber::parse(Some("+12065550100")).unwrap();
        let mut s = RegionState { in_sandbox: Some(true), ..Default::default() };
        assert_eq!(assess(&s, &phone), [Finding::Sandbox { transport: TransportKind::Sns, verified: None }]);
        s.verified_numbers = Some(HashSet::from(["+12065550100".to_owned()]));
        assert_eq!(assess(&s, &phone), [Finding::Sandbox { transport: TransportKind::Sns, verified: Some(true) }]);
        s.verified_numbers = Some(HashSet::new());
        assert_eq!(assess(&s, &phone), [Finding::Sandbox { transport: TransportKind::Sns, verified: Some(false) }]);
        s.in_sandbox = Some(false);
        assert!(assess(&s, &phone).is_empty());
    }
}
