//! The policy in force. The environment and `SMS_POLICY_FILE` give it at init; with `SMS_POLICY_APPCONFIG`
//! (`application/environment/profile`) a freeform AWS AppConfig profile in the same TOML shape is laid over it
//! and re-read when older than [`REFRESH`], through the AWS AppConfig Lambda extension's local endpoint
//! (<https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-integration-lambda-extensions.html>).
//!
//! The extension, not the AppConfigData API, because it polls AppConfig in the background and answers from
//! its cache on loopback: the event path pays a local call, no AWS round trip, no session token to keep, and no
//! SDK crate in the binary. A document that fails validation is refused and the last good policy stays in
//! force, as it does when the extension cannot be reached; each refusal is one error line and a metric.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::policy::Policy;
use crate::telemetry::metrics;

/// How old the policy may get before the extension is asked again (`SMS_POLICY_REFRESH_SECONDS`). With the
/// extension's own poll interval (45 s by default) a change takes effect within a minute.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10);
/// How long one read of the extension may take before the last good policy is used.
const FETCH_TIMEOUT: Duration = Duration::from_millis(250);

/// Where the AppConfig document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfigSource {
    /// `host:port` of the extension (`localhost:2772` unless `AWS_APPCONFIG_EXTENSION_HTTP_PORT` says).
    pub address: String,
    /// `/applications/A/environments/E/configurations/P`.
    pub path: String,
    /// How old the policy may get before it is read again.
    pub refresh: Duration,
}

impl AppConfigSource {
    /// From `application/environment/profile` and the extension's port.
    pub fn parse(spec: &str, port: u16, refresh: Duration) -> Result<Self, String> {
        let parts: Vec<&str> = spec.split('/').collect();
        let ok = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        if !ok {
            return Err("must be application/environment/profile (names or ids of the AppConfig resources)".into());
        }
        Ok(AppConfigSource {
            address: format!("127.0.0.1:{port}"),
            path: format!("/applications/{}/environments/{}/configurations/{}", parts[0], parts[1], parts[2]),
            refresh,
        })
    }
}

/// The policy in force, and where newer ones come from.
pub struct PolicySource {
    /// The environment's and the file's policy, under any AppConfig document.
    base: Policy,
    appconfig: Option<AppConfigSource>,
    current: Mutex<(Arc<Policy>, Option<Instant>, Option<String>)>,
}

impl PolicySource {
    /// A source that starts with `base` and, with `appconfig`, follows that profile.
    pub fn new(base: Policy, appconfig: Option<AppConfigSource>) -> Self {
        let current = Mutex::new((Arc::new(base.clone()), None, None));
        PolicySource { base, appconfig, current }
    }

    /// The policy to apply now; re-read from AppConfig first when it is older than its refresh interval.
    pub async fn current(&self) -> Arc<Policy> {
        let Some(appconfig) = &self.appconfig else {
            return self.lock().0.clone();
        };
        let stale = self.lock().1.is_none_or(|t| t.elapsed() >= appconfig.refresh);
        if stale {
            self.refresh(appconfig).await;
        }
        self.lock().0.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Arc<Policy>, Option<Instant>, Option<String>)> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn refresh(&self, appconfig: &AppConfigSource) {
        let fetched =
            tokio::time::timeout(FETCH_TIMEOUT, fetch(appconfig)).await.unwrap_or_else(|_| Err("timeout".into()));
        let text = match fetched {
            Ok(text) => text,
            Err(reason) => return self.refused("policy_unreachable", &reason),
        };
        if self.lock().2.as_deref() == Some(text.as_str()) {
            self.lock().1 = Some(Instant::now());
            return;
        }
        match self.base.with_toml(&text, "AppConfig") {
            Ok(policy) => {
                tracing::info!(outcome = "policy_updated", source = %appconfig.path, "a new SMS policy is in force");
                *self.lock() = (Arc::new(policy), Some(Instant::now()), Some(text));
            }
            Err(e) => self.refused("policy_refused", &e.to_string()),
        }
    }

    /// Keeps the last good policy; asks again after the refresh interval.
    fn refused(&self, outcome: &'static str, reason: &str) {
        tracing::error!(outcome, reason = %reason, "the AppConfig SMS policy was not applied; the last good policy stays in force");
        metrics::record_policy_refused(outcome);
        self.lock().1 = Some(Instant::now());
    }
}

/// One GET of the extension's endpoint; the body, or why not.
async fn fetch(source: &AppConfigSource) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect(&source.address)
        .await
        .map_err(|e| format!("{}: {}", source.address, e.kind()))?;
    // HTTP/1.0: the answer comes whole, never chunked, and the connection closes after it.
    let request = format!("GET {} HTTP/1.0\r\nHost: localhost\r\n\r\n", source.path);
    stream.write_all(request.as_bytes()).await.map_err(|e| e.kind().to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(|e| e.kind().to_string())?;
    let response = String::from_utf8(response).map_err(|_| "the answer is not UTF-8".to_owned())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("the answer is not HTTP")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("the extension answered HTTP {status}"));
    }
    Ok(body.to_owned())
}
