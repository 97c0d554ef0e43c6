//! Asking SNS what Publish does not say: is the account in the SMS sandbox (and is this destination verified),
//! and how close is it to the monthly spend limit. Answers are cached per SNS Region; the probe runs beside
//! the send and never holds it up.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::Statistic;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::phone::PhoneNumber;
use crate::sns::{PublishError, RegionalClients};

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

/// A probe that finds nothing, for `SMS_PROBE=off` and local runs.
pub struct NoProbe;

impl Probe for NoProbe {
    async fn check(&self, _: &str, _: &PhoneNumber) -> Vec<Finding> {
        Vec::new()
    }
}

#[derive(Debug, Clone, Default)]
struct RegionState {
    fetched: Option<Instant>,
    in_sandbox: Option<bool>,
    verified_numbers: Option<HashSet<String>>,
    limit_usd: Option<f64>,
    spent_usd: Option<f64>,
    failures_reported: HashSet<&'static str>,
}

/// The probe against real SNS and CloudWatch.
pub struct SnsProbe {
    clients: Arc<RegionalClients>,
    cache_for: Duration,
    state: Mutex<HashMap<String, RegionState>>,
}

/// New accounts' SMS spend limit when `MonthlySpendLimit` is not returned.
const DEFAULT_SPEND_LIMIT_USD: f64 = 1.0;

impl SnsProbe {
    pub fn new(clients: Arc<RegionalClients>, cache_for: Duration) -> Self {
        SnsProbe { clients, cache_for, state: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, region: &str) -> Option<RegionState> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.get(region).filter(|s| s.fetched.is_some_and(|t| t.elapsed() < self.cache_for)).cloned()
    }

    async fn refresh(&self, region: &str) -> (RegionState, Vec<Finding>) {
        let sns = self.clients.sns(region);
        let cw = self.clients.cloudwatch(region);
        let mut failures: Vec<(&'static str, PublishError)> = Vec::new();

        let (sandbox, attributes, spend) = tokio::join!(
            sns.get_sms_sandbox_account_status().send(),
            sns.get_sms_attributes().attributes("MonthlySpendLimit").send(),
            cw.get_metric_statistics()
                .namespace("AWS/SNS")
                .metric_name("SMSMonthToDateSpentUSD")
                .statistics(Statistic::Maximum)
                .start_time(start_of_month())
                .end_time(DateTime::from(std::time::SystemTime::now()))
                .period(86_400)
                .send(),
        );
        let in_sandbox = match sandbox {
            Ok(out) => Some(out.is_in_sandbox),
            Err(e) => {
                failures.push(("sns:GetSMSSandboxAccountStatus", PublishError::from_sdk(&e)));
                None
            }
        };
        let verified_numbers = if in_sandbox == Some(true) {
            match sns.list_sms_sandbox_phone_numbers().send().await {
                Ok(out) => Some(
                    out.phone_numbers
                        .iter()
                        .filter(|n| n.status.as_ref().is_some_and(|s| s.as_str() == "Verified"))
                        .filter_map(|n| n.phone_number.clone())
                        .collect(),
                ),
                Err(e) => {
                    failures.push(("sns:ListSMSSandboxPhoneNumbers", PublishError::from_sdk(&e)));
                    None
                }
            }
        } else {
            None
        };
        let limit_usd = match attributes {
            Ok(out) => Some(
                out.attributes
                    .as_ref()
                    .and_then(|a| a.get("MonthlySpendLimit"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(DEFAULT_SPEND_LIMIT_USD),
            ),
            Err(e) => {
                failures.push(("sns:GetSMSAttributes", PublishError::from_sdk(&e)));
                None
            }
        };
        let spent_usd = match spend {
            Ok(out) => Some(out.datapoints().iter().filter_map(|d| d.maximum).fold(0.0, f64::max)),
            Err(e) => {
                failures.push(("cloudwatch:GetMetricStatistics", PublishError::from_sdk(&e)));
                None
            }
        };

        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state.entry(region.to_owned()).or_default();
        let mut findings = Vec::new();
        for (permission, err) in failures {
            if entry.failures_reported.insert(permission) {
                let denied = matches!(err, PublishError::Denied(_));
                findings.push(Finding::ProbeFailed { permission, denied, reason: err.to_string() });
            }
        }
        entry.fetched = Some(Instant::now());
        entry.in_sandbox = in_sandbox;
        entry.verified_numbers = verified_numbers;
        entry.limit_usd = limit_usd;
        entry.spent_usd = spent_usd;
        (entry.clone(), findings)
    }
}

impl Probe for SnsProbe {
    async fn check(&self, sns_region: &str, phone: &PhoneNumber) -> Vec<Finding> {
        let (state, mut findings) = match self.cached(sns_region) {
            Some(state) => (state, Vec::new()),
            None => self.refresh(sns_region).await,
        };
        findings.extend(assess(&state, phone));
        findings
    }
}

/// What a Region's state means for one destination.
fn assess(state: &RegionState, phone: &PhoneNumber) -> Vec<Finding> {
    let mut findings = Vec::new();
    if state.in_sandbox == Some(true) {
        let verified = state.verified_numbers.as_ref().map(|v| v.contains(phone.as_e164()));
        findings.push(Finding::Sandbox { verified });
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
        assert_eq!(assess(&s, &phone), [Finding::Sandbox { verified: None }]);
        s.verified_numbers = Some(HashSet::from(["+12065550100".to_owned()]));
        assert_eq!(assess(&s, &phone), [Finding::Sandbox { verified: Some(true) }]);
        s.verified_numbers = Some(HashSet::new());
        assert_eq!(assess(&s, &phone), [Finding::Sandbox { verified: Some(false) }]);
        s.in_sandbox = Some(false);
        assert!(assess(&s, &phone).is_empty());
    }
}
