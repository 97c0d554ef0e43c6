//! Builds the function from its configuration: the adapters chosen once, at init.

use std::sync::Arc;
use std::time::SystemTime;

use aws_config::SdkConfig;

use crate::config::{Config, KeySource};
use crate::crypto::{self, CryptoInitError, EsdkDecrypter};
use crate::handler::Sender;
use crate::idempotency::{Claim, DynamoLedger, Ledger, LedgerError, NoLedger};
use crate::phone::PhoneNumber;
use crate::probe::{Finding, NoProbe, Probe, SnsProbe};
use crate::sns::{Attributes, Outbox, PublishError, Publisher, RegionalClients, SnsPublisher};
use crate::warmup::Check;

/// SNS, or the local outbox.
pub enum AnyPublisher {
    Sns(SnsPublisher),
    Outbox(Outbox),
}

impl Publisher for AnyPublisher {
    async fn publish(
        &self,
        region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &Attributes,
    ) -> Result<String, PublishError> {
        match self {
            AnyPublisher::Sns(p) => p.publish(region, phone, body, attributes).await,
            AnyPublisher::Outbox(p) => p.publish(region, phone, body, attributes).await,
        }
    }
    async fn warm_up(&self, region: &str) -> Check {
        match self {
            AnyPublisher::Sns(p) => p.warm_up(region).await,
            AnyPublisher::Outbox(p) => p.warm_up(region).await,
        }
    }
}

/// The SNS probe, or none.
pub enum AnyProbe {
    Sns(SnsProbe),
    Off(NoProbe),
}

impl Probe for AnyProbe {
    async fn check(&self, region: &str, phone: &PhoneNumber) -> Vec<Finding> {
        match self {
            AnyProbe::Sns(p) => p.check(region, phone).await,
            AnyProbe::Off(p) => p.check(region, phone).await,
        }
    }
}

/// The DynamoDB ledger, or none.
pub enum AnyLedger {
    Dynamo(DynamoLedger),
    Off(NoLedger),
}

impl Ledger for AnyLedger {
    async fn claim(&self, key: &str, lease_until: SystemTime) -> Result<Claim, LedgerError> {
        match self {
            AnyLedger::Dynamo(l) => l.claim(key, lease_until).await,
            AnyLedger::Off(l) => l.claim(key, lease_until).await,
        }
    }
    async fn complete(&self, key: &str, message_id: &str) -> Result<(), LedgerError> {
        match self {
            AnyLedger::Dynamo(l) => l.complete(key, message_id).await,
            AnyLedger::Off(l) => l.complete(key, message_id).await,
        }
    }
    async fn release(&self, key: &str) -> Result<(), LedgerError> {
        match self {
            AnyLedger::Dynamo(l) => l.release(key).await,
            AnyLedger::Off(l) => l.release(key).await,
        }
    }
    async fn warm_up(&self) -> Check {
        match self {
            AnyLedger::Dynamo(l) => l.warm_up().await,
            AnyLedger::Off(l) => l.warm_up().await,
        }
    }
}

/// The function as deployed (or run locally).
pub type App = Sender<EsdkDecrypter, AnyPublisher, AnyProbe, AnyLedger>;

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Crypto(#[from] CryptoInitError),
    #[error("LOCAL_DEV_KEY_FILE {path}: {reason}")]
    DevKey { path: String, reason: String },
}

/// Builds the keyring, clients, publisher and probe once.
pub async fn build(config: &Config, sdk: &SdkConfig) -> Result<App, InitError> {
    let mut key_check = None;
    let keyring = match &config.key {
        KeySource::Kms { key_arn } => {
            let kms = aws_sdk_kms::Client::new(sdk);
            key_check = Some((kms.clone(), key_arn.clone()));
            crypto::kms_keyring(key_arn, kms).await?
        }
        KeySource::LocalDev { path } => {
            tracing::warn!(path = %path, "using the PUBLIC development key: for local runs only, never deploy with LOCAL_DEV_KEY_FILE");
            let text = std::fs::read_to_string(path)
                .map_err(|e| InitError::DevKey { path: path.clone(), reason: e.to_string() })?;
            let key = crypto::read_dev_key(&text)
                .map_err(|e| InitError::DevKey { path: path.clone(), reason: e.to_string() })?;
            crypto::dev_keyring(&key).await?
        }
    };
    let home_region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_owned());
    let clients = Arc::new(RegionalClients::new(sdk, config.caller_role.as_ref()).await);
    // Most events publish from here: build its clients now, not inside the first event.
    clients.sns(crate::region::sns_region(&home_region, config.sns_region.as_deref()));
    let publisher = match &config.local_outbox {
        Some(target) => {
            tracing::warn!(target = %target, "LOCAL_OUTBOX is set: messages are written there, not sent");
            AnyPublisher::Outbox(Outbox::new(target.clone()))
        }
        None => AnyPublisher::Sns(SnsPublisher::new(clients.clone())),
    };
    let probe = if config.probe.enabled && config.local_outbox.is_none() {
        AnyProbe::Sns(SnsProbe::new(clients, config.probe.cache_for))
    } else {
        AnyProbe::Off(NoProbe)
    };
    let ledger = match &config.idempotency {
        Some(table) => AnyLedger::Dynamo(DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), &table.name, table.ttl)),
        None => AnyLedger::Off(NoLedger),
    };
    for warning in config.routes.warnings() {
        tracing::warn!(check = "routing", reason = %warning, "check SMS_ROUTES_FILE / ORIGINATION_NUMBER");
    }
    let mut decrypter = EsdkDecrypter::new(keyring).await?;
    if let Some((kms, key_arn)) = key_check {
        decrypter = decrypter.with_key_check(kms, key_arn);
    }
    Ok(Sender::new(decrypter, publisher, probe, ledger, config, home_region))
}

/// The AWS config the function runs with: the standard chain (which honours `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL_SNS`, …) with timeouts that fit inside a Lambda invocation.
/// The SDK makes one attempt per call: [`crate::retry`] retries, with backoff and jitter, within the
/// invocation's deadline, which the SDK does not know.
pub async fn aws_config() -> SdkConfig {
    aws_config_in(None).await
}

/// [`aws_config`], with `fallback_region` used when the environment names none (local runs, where probing
/// the instance metadata service for a Region only adds noise).
pub async fn aws_config_in(fallback_region: Option<&'static str>) -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(crate::retry::ATTEMPT_CAP)
        .operation_timeout(std::time::Duration::from_secs(8))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .http_client(shared_https_client());
    let env_has_region = ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().any(|v| std::env::var_os(v).is_some());
    if let (Some(region), false) = (fallback_region, env_has_region) {
        loader = loader.region(aws_config::Region::from_static(region));
    }
    loader.load().await
}

/// One HTTPS client (rustls with aws-lc and the system's root certificates, proxy settings from the
/// environment: what the SDK uses by default) shared by every AWS client the function builds. By default each
/// service client gets its own, and each builds its own TLS configuration from the (cached) root certificates:
/// sharing one saved 0.64 M of the cold path's 54.8 M instructions (callgrind, stub, init + one event), and
/// gives one connection pool.
fn shared_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(|c| c.sleep_impl()));
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn every_client_shares_one_https_client() {
        let sdk = super::aws_config_in(Some("us-east-1")).await;
        assert!(sdk.http_client().is_some(), "without it each service client builds its own TLS connector");
    }
}
