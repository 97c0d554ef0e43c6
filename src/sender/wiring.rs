//! Builds the function from its configuration: the adapters chosen once, at init.

use std::sync::Arc;

use aws_config::SdkConfig;

use super::{Sender, Settings};
use crate::config::{Config, ConfigError, KeySource};
use crate::decrypt::esdk::{self, CryptoInitError, EsdkDecrypter};
use crate::destination::attributes::TransportKind;
use crate::destination::phone::preload_metadata;
use crate::destination::region::sns_region;
use crate::gate::dynamodb::{state_table, DynamoCounters};
use crate::ledger::dynamodb::DynamoLedger;
use crate::probe::eum::EumProbe;
use crate::probe::sns::SnsProbe;
use crate::publish::eum::EumPublisher;
use crate::publish::outbox::Outbox;
use crate::publish::sns::{publishing_config, RegionalClients, SnsPublisher};
use crate::publish::test_sink::{TestSink, WithTestSink};
use crate::publish::Transport;

/// The probes of the function: SNS's, and End User Messaging's when a route sends through it.
pub type Probes = (Option<SnsProbe>, Option<EumProbe>);

/// The function as deployed (or run locally).
pub type App = Sender<EsdkDecrypter, WithTestSink<Transport>, Probes, Option<DynamoLedger>, Option<DynamoCounters>>;

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Crypto(#[from] CryptoInitError),
    #[error("LOCAL_DEV_KEY_FILE {path}: {reason}")]
    DevKey { path: String, reason: String },
}

/// Builds the keyring, clients, publisher, probe and ledger once.
pub async fn build(config: &Config, sdk: &SdkConfig) -> Result<App, InitError> {
    // Decoding the phone number metadata (every message's country) is slow enough to show on a first
    // message: done beside init.
    tokio::task::spawn_blocking(preload_metadata);
    let decrypter = decrypter(config, sdk).await?;
    let home_region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_owned());
    let clients = Arc::new(RegionalClients::new(sdk, config.caller_role.as_ref()).await);
    // Most events publish from here: build its clients now, not inside the first event.
    clients.sns(sns_region(&home_region, config.sns_region.as_deref()));
    let transport = match &config.local_outbox {
        Some(target) => {
            tracing::warn!(target = %target, "LOCAL_OUTBOX is set: messages are written there, not sent");
            Transport::Outbox(Outbox::new(target.clone()).with_text_message_options(config.text_message))
        }
        None => Transport::Aws { sns: SnsPublisher::new(clients.clone()), eum: eum_publisher(config, sdk).await },
    };
    let probe = probes(config, clients, &transport);
    // The queue is in the function's own account: its own credentials, never SNS_CALLER_ARN's.
    let publisher = WithTestSink::new(transport, config.test_numbers.as_ref().map(|t| TestSink::new(t, sdk)));
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let (ledger, counters) = config
        .state_table
        .as_ref()
        .map(|table| {
            let (ledger, counters) = state_table(dynamodb, &table.name, table.ttl);
            (ledger, counters.with_judging_unit(table.quarantine_unit))
        })
        .unzip();
    for warning in config.routes.warnings() {
        // A local run sends nothing, so an origination identity cannot matter yet: said at DEBUG there, so a
        // new user's first run shows nothing to fix. A deployed function says it at every start.
        if config.local_outbox.is_some() {
            tracing::debug!(check = "routing", reason = %warning, "when deployed: check SMS_ROUTES_FILE / ORIGINATION_NUMBER");
        } else {
            tracing::warn!(check = "routing", reason = %warning, "check SMS_ROUTES_FILE / ORIGINATION_NUMBER");
        }
    }
    Ok(Sender::new(decrypter, publisher, probe, ledger, counters, Settings::from_config(config, home_region)))
}

/// A probe for each transport in use, unless `SMS_PROBE=off` or the run is local; End User Messaging's asks
/// through the publisher's clients.
fn probes(config: &Config, clients: Arc<RegionalClients>, publisher: &Transport) -> Probes {
    let cache_for = config.probe.cache_for;
    match publisher {
        Transport::Aws { eum, .. } if config.probe.enabled => {
            (Some(SnsProbe::new(clients, cache_for)), eum.as_ref().map(|p| EumProbe::new(p.clients(), cache_for)))
        }
        _ => (None, None),
    }
}

/// The End User Messaging publisher, when a route sends through it.
async fn eum_publisher(config: &Config, sdk: &SdkConfig) -> Option<EumPublisher> {
    if !config.routes.uses(TransportKind::EndUserMessaging) {
        return None;
    }
    let publishing = publishing_config(sdk, config.caller_role.as_ref()).await;
    Some(EumPublisher::new(&publishing, config.text_message))
}

/// The decrypter for the configured key: the KMS key (checked at warm-up), or the public development key.
async fn decrypter(config: &Config, sdk: &SdkConfig) -> Result<EsdkDecrypter, InitError> {
    match &config.key {
        KeySource::Kms { key_arn } => Ok(EsdkDecrypter::for_kms_key(key_arn, aws_sdk_kms::Client::new(sdk)).await?),
        KeySource::LocalDev { path } => {
            tracing::warn!(path = %path, "using the PUBLIC development key: for local runs only, never deploy with LOCAL_DEV_KEY_FILE");
            let dev_key_err = |reason: String| InitError::DevKey { path: path.clone(), reason };
            let text = std::fs::read_to_string(path).map_err(|e| dev_key_err(e.to_string()))?;
            let key = esdk::read_dev_key(&text).map_err(|e| dev_key_err(e.to_string()))?;
            Ok(EsdkDecrypter::for_dev_key(&key).await?)
        }
    }
}
