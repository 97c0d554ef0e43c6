//! The SNS adapter: `sns:Publish` to a phone number, with one SNS (and CloudWatch) client per SNS Region.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;

use super::{MessageAttributes, PublishError, Publisher};
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::{credentials_failure, Check, Failure};
use crate::config::CallerRole;
use crate::destination::phone::PhoneNumber;

type ClientFactory = Box<dyn Fn(&str) -> (aws_sdk_sns::Client, aws_sdk_cloudwatch::Client) + Send + Sync>;

/// Clients of one kind per Region, built on first use and reused for the life of the process.
pub struct PerRegion<C> {
    make: Box<dyn Fn(&str) -> C + Send + Sync>,
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> PerRegion<C> {
    /// Clients built by `make` for each Region asked for.
    pub fn new(make: Box<dyn Fn(&str) -> C + Send + Sync>) -> Self {
        PerRegion { make, clients: Mutex::new(HashMap::new()) }
    }

    /// The client for `region`.
    pub fn get(&self, region: &str) -> C {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.entry(region.to_owned()).or_insert_with(|| (self.make)(region)).clone()
    }

    /// The Regions that have clients so far, sorted.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self.clients.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        regions.sort();
        regions
    }
}

/// SNS and CloudWatch clients per SNS Region.
pub struct RegionalClients {
    clients: PerRegion<(aws_sdk_sns::Client, aws_sdk_cloudwatch::Client)>,
    /// `SNS_CALLER_ARN`, when the clients publish with that role's credentials.
    caller_role: Option<String>,
}

impl RegionalClients {
    /// Clients from the function's AWS config, with the caller role's credentials when one is set.
    pub async fn new(base: &SdkConfig, caller_role: Option<&CallerRole>) -> Self {
        let config = publishing_config(base, caller_role).await;
        let clients = Self::from_factory(Box::new(move |region| {
            let region = aws_config::Region::new(region.to_owned());
            let sns = aws_sdk_sns::config::Builder::from(&config).region(region.clone()).build();
            let cw = aws_sdk_cloudwatch::config::Builder::from(&config).region(region).build();
            (aws_sdk_sns::Client::from_conf(sns), aws_sdk_cloudwatch::Client::from_conf(cw))
        }));
        RegionalClients { caller_role: caller_role.map(|r| r.role_arn.clone()), ..clients }
    }

    /// Clients from a factory, e.g. mocked clients in tests.
    pub fn from_factory(make: ClientFactory) -> Self {
        RegionalClients { clients: PerRegion::new(make), caller_role: None }
    }

    fn get(&self, region: &str) -> (aws_sdk_sns::Client, aws_sdk_cloudwatch::Client) {
        self.clients.get(region)
    }

    /// The SNS client for `region`.
    pub fn sns(&self, region: &str) -> aws_sdk_sns::Client {
        self.get(region).0
    }

    /// The CloudWatch client for `region` (SNS SMS spend metrics live in the SNS Region).
    pub fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        self.get(region).1
    }

    /// The Regions that have clients so far, sorted.
    pub fn regions(&self) -> Vec<String> {
        self.clients.regions()
    }
}

/// The AWS config SNS and CloudWatch calls use. With a caller role (like the pool's `SmsConfiguration`), its
/// credentials come from STS AssumeRole with the external ID, cached by the SDK and refreshed before they expire.
pub async fn publishing_config(base: &SdkConfig, caller_role: Option<&CallerRole>) -> SdkConfig {
    let Some(role) = caller_role else {
        return base.clone();
    };
    let mut provider =
        aws_config::sts::AssumeRoleProvider::builder(&role.role_arn).session_name("cognito-sms-sender").configure(base);
    if let Some(id) = &role.external_id {
        provider = provider.external_id(id);
    }
    base.to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider.build().await))
        .build()
}

/// Publishes with `sns:Publish` to a phone number.
pub struct SnsPublisher {
    clients: Arc<RegionalClients>,
}

impl SnsPublisher {
    /// Publishes through `clients`.
    pub fn new(clients: Arc<RegionalClients>) -> Self {
        SnsPublisher { clients }
    }
}

impl SnsPublisher {
    /// Classifies a failed Publish; with `SNS_CALLER_ARN`, STS refusing the role is the role's own outcome.
    fn error<E: ProvideErrorMetadata>(&self, err: &SdkError<E, HttpResponse>) -> PublishError {
        match (&self.clients.caller_role, credentials_failure(err)) {
            (Some(role), Some(Failure::Denied(_))) => PublishError::CallerRoleRefused(role.clone()),
            _ => PublishError::from_sdk(err),
        }
    }
}

impl Publisher for SnsPublisher {
    async fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        let mut request = self.clients.sns(sns_region).publish().phone_number(phone.as_e164()).message(body);
        for (name, value) in attributes.route.message_attributes_for(attributes.source) {
            request = request.message_attributes(*name, value.clone());
        }
        let out = request.send().await.map_err(|e| self.error(&e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// `GetSMSAttributes` through the client Publish uses (with `SNS_CALLER_ARN`, this also assumes the role).
    async fn warm_up(&self, sns_region: &str) -> Check {
        match self.clients.sns(sns_region).get_sms_attributes().attributes("DefaultSMSType").send().await {
            Ok(_) => Check::Ready,
            Err(e) => Check::from_error(&e, &[]),
        }
    }
}
