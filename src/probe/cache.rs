//! What the probes share: each Region's answers kept for a while (failures included, each reported once), and
//! the one-attempt call settings.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::Finding;
use crate::aws::Failure;

/// The longest one probe call may take. A refresh makes at most two calls one after the other (SNS's sandbox
/// status, then its verified numbers), so it ends, and is cached, within the event's probe budget
/// (`sender::PROBE_BUDGET`, 1.5 s) even when every call times out.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(600);

/// What time it is, for the cache: the monotonic clock, or one a test moves.
pub(super) type Clock = Box<dyn Fn() -> Instant + Send + Sync>;

/// The failures of one refresh, each under the permission its call needs.
pub(super) type Failures = Vec<(&'static str, Failure)>;

struct Entry<S> {
    fetched: Instant,
    state: S,
    /// The permissions whose failure was reported in this Region: each is reported once.
    failures_reported: HashSet<&'static str>,
}

/// Each Region's answers, reused for `cache_for`.
pub(super) struct RegionCache<S> {
    cache_for: Duration,
    entries: Mutex<HashMap<String, Entry<S>>>,
    now: Clock,
}

impl<S: Clone> RegionCache<S> {
    pub(super) fn new(cache_for: Duration) -> Self {
        RegionCache { cache_for, entries: Mutex::new(HashMap::new()), now: Box::new(Instant::now) }
    }

    /// This cache, reading the time from `now`.
    pub(super) fn with_clock(self, now: Clock) -> Self {
        RegionCache { now, ..self }
    }

    /// `region`'s answers: the cached ones while fresh, else those of `refresh` (one attempt per call), recorded
    /// with its failures; failures not reported before in this Region become findings.
    pub(super) async fn get<F>(&self, region: &str, refresh: impl FnOnce() -> F) -> (S, Vec<Finding>)
    where
        F: Future<Output = (S, Failures)>,
    {
        if let Some(state) = self.fresh(region) {
            return (state, Vec::new());
        }
        let (state, failures) = refresh().await;
        (state.clone(), self.record(region, state, failures))
    }

    fn fresh(&self, region: &str) -> Option<S> {
        let now = (self.now)();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(region)?;
        (now.saturating_duration_since(entry.fetched) < self.cache_for).then(|| entry.state.clone())
    }

    fn record(&self, region: &str, state: S, failures: Failures) -> Vec<Finding> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut failures_reported = entries.remove(region).map(|e| e.failures_reported).unwrap_or_default();
        let mut findings = Vec::new();
        for (permission, failure) in failures {
            if failures_reported.insert(permission) {
                let denied = matches!(failure, Failure::Denied(_));
                findings.push(Finding::ProbeFailed { permission, denied, reason: failure.to_string() });
            }
        }
        entries.insert(region.to_owned(), Entry { fetched: (self.now)(), state, failures_reported });
        findings
    }
}

/// One attempt within [`CALL_TIMEOUT`]: the probe runs beside a send and never waits for an SDK retry; what
/// fails is cached like an answer and asked again when the cache expires.
pub(super) fn once() -> (RetryConfig, TimeoutConfig) {
    let timeouts =
        TimeoutConfig::builder().operation_timeout(CALL_TIMEOUT).operation_attempt_timeout(CALL_TIMEOUT).build();
    (RetryConfig::disabled(), timeouts)
}

/// The answer of one probe call, or `None` with its failure noted under the permission it needs.
pub(super) fn note<T>(result: Result<T, Failure>, permission: &'static str, failures: &mut Failures) -> Option<T> {
    result.map_err(|f| failures.push((permission, f))).ok()
}
