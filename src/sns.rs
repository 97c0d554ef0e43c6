//! Sending through Amazon SNS: one client per SNS Region, the publisher port and its SNS adapter.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::config::CallerRole;
use crate::phone::PhoneNumber;
use crate::warmup::{self, Check};

/// SNS message attributes (`AWS.SNS.SMS.SMSType`, `AWS.SNS.SMS.SenderID`, …), built once per route at init.
pub type Attributes = [(&'static str, MessageAttributeValue)];

/// Sends one SMS.
pub trait Publisher: Send + Sync {
    /// Publishes `body` to `phone` from `sns_region` with `attributes` and returns the SNS MessageId.
    fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &Attributes,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;

    /// Opens the connection to `sns_region` during init ([`crate::warmup`]). Nothing to do by default.
    fn warm_up(&self, _sns_region: &str) -> impl Future<Output = Check> + Send {
        async { Check::Skipped }
    }
}

/// Why SNS did not accept the message. Only error codes and SNS's parameter names are kept: SNS error texts
/// can quote the phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("SNS refused the phone number as not valid to publish to")]
    InvalidNumber,
    #[error("SNS refused a parameter ({0}); check SENDER_ID, ORIGINATION_NUMBER, MAX_PRICE and SMS_TYPE")]
    InvalidParameter(String),
    #[error("not allowed to publish ({0}); the role needs sns:Publish on phone numbers (and sts:AssumeRole on SNS_CALLER_ARN when set)")]
    Denied(String),
    #[error("SNS is throttling ({0})")]
    Throttled(String),
    #[error("SNS failed ({0})")]
    ServiceError(String),
    #[error("SNS could not be reached ({0})")]
    Unreachable(String),
    #[error("SNS rejected the message ({0})")]
    Rejected(String),
}

impl PublishError {
    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PublishError::Throttled(_) | PublishError::ServiceError(_) | PublishError::Unreachable(_))
    }

    /// Classifies an SDK error by its code and HTTP status.
    pub fn from_sdk<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Self {
        let status = err.raw_response().map(|r| r.status().as_u16());
        match err {
            SdkError::TimeoutError(_) => return PublishError::Unreachable("timeout".into()),
            SdkError::DispatchFailure(d) => {
                let kind = if d.is_timeout() {
                    "timeout"
                } else if d.is_io() {
                    "connection failed"
                } else {
                    "dispatch failure"
                };
                // A credentials failure (e.g. AssumeRole refused) surfaces as a dispatch failure "user" error.
                if d.is_user() {
                    return PublishError::Denied("could not get credentials".into());
                }
                return PublishError::Unreachable(kind.into());
            }
            SdkError::ResponseError(_) => return PublishError::ServiceError("unreadable response".into()),
            SdkError::ConstructionFailure(_) => return PublishError::Denied("request could not be signed".into()),
            _ => {}
        }
        let code = err.code().unwrap_or("").to_owned();
        let message = err.message().unwrap_or("");
        match code.as_str() {
            "InvalidParameter" | "InvalidParameterValue" | "ValidationError" => {
                // "Invalid parameter: PhoneNumber Reason: +1206… is not valid": keep only the parameter name.
                let param = message
                    .strip_prefix("Invalid parameter: ")
                    .and_then(|m| m.split_whitespace().next())
                    .unwrap_or("unknown");
                if param == "PhoneNumber" {
                    PublishError::InvalidNumber
                } else {
                    PublishError::InvalidParameter(param.chars().filter(|c| !c.is_ascii_digit()).take(64).collect())
                }
            }
            "AuthorizationError"
            | "AccessDenied"
            | "AccessDeniedException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "ExpiredToken"
            | "SignatureDoesNotMatch"
            | "KMSAccessDenied" => PublishError::Denied(code),
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded" => PublishError::Throttled(code),
            "InternalError" | "InternalFailure" | "ServiceUnavailable" | "KMSThrottling" => {
                PublishError::ServiceError(code)
            }
            _ if status.is_some_and(|s| s >= 500) => {
                PublishError::ServiceError(if code.is_empty() { format!("HTTP {}", status.unwrap_or(0)) } else { code })
            }
            _ if status == Some(429) => PublishError::Throttled("HTTP 429".into()),
            _ => PublishError::Rejected(if code.is_empty() { format!("HTTP {}", status.unwrap_or(0)) } else { code }),
        }
    }
}

type ClientFactory = Box<dyn Fn(&str) -> (aws_sdk_sns::Client, aws_sdk_cloudwatch::Client) + Send + Sync>;

/// SNS and CloudWatch clients per SNS Region, built on first use and reused for the life of the process.
pub struct RegionalClients {
    make: ClientFactory,
    clients: Mutex<HashMap<String, (aws_sdk_sns::Client, aws_sdk_cloudwatch::Client)>>,
}

impl RegionalClients {
    /// Clients from the function's AWS config, with the caller role's credentials when one is set.
    pub async fn new(base: &SdkConfig, caller_role: Option<&CallerRole>) -> Self {
        let config = publishing_config(base, caller_role).await;
        Self::from_factory(Box::new(move |region| {
            let region = aws_config::Region::new(region.to_owned());
            let sns = aws_sdk_sns::config::Builder::from(&config).region(region.clone()).build();
            let cw = aws_sdk_cloudwatch::config::Builder::from(&config).region(region).build();
            (aws_sdk_sns::Client::from_conf(sns), aws_sdk_cloudwatch::Client::from_conf(cw))
        }))
    }

    /// Clients from a factory, e.g. mocked clients in tests.
    pub fn from_factory(make: ClientFactory) -> Self {
        RegionalClients { make, clients: Mutex::new(HashMap::new()) }
    }

    fn get(&self, region: &str) -> (aws_sdk_sns::Client, aws_sdk_cloudwatch::Client) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.entry(region.to_owned()).or_insert_with(|| (self.make)(region)).clone()
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
        let mut regions: Vec<String> = self.clients.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        regions.sort();
        regions
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
    clients: std::sync::Arc<RegionalClients>,
}

impl SnsPublisher {
    pub fn new(clients: std::sync::Arc<RegionalClients>) -> Self {
        SnsPublisher { clients }
    }
}

impl Publisher for SnsPublisher {
    async fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &Attributes,
    ) -> Result<String, PublishError> {
        let mut request = self.clients.sns(sns_region).publish().phone_number(phone.as_e164()).message(body);
        for (name, value) in attributes {
            request = request.message_attributes(*name, value.clone());
        }
        let out = request.send().await.map_err(|e| PublishError::from_sdk(&e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// `GetSMSAttributes` through the client Publish uses (with `SNS_CALLER_ARN`, this also assumes the role).
    async fn warm_up(&self, sns_region: &str) -> Check {
        match self.clients.sns(sns_region).get_sms_attributes().attributes("DefaultSMSType").send().await {
            Ok(_) => Check::Ready,
            Err(e) => warmup::from_error(e.code(), &[], &warmup::sdk_failure(&e)),
        }
    }
}

/// Writes each message to a file (or stdout for `-`) instead of sending it: for local runs, never deployed.
pub struct Outbox {
    target: String,
    count: std::sync::atomic::AtomicU64,
}

impl Outbox {
    pub fn new(target: impl Into<String>) -> Self {
        Outbox { target: target.into(), count: Default::default() }
    }
}

impl Publisher for Outbox {
    async fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &Attributes,
    ) -> Result<String, PublishError> {
        use std::io::Write;
        let n = self.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let message_id = format!("local-outbox-{n}");
        let attributes: serde_json::Map<String, serde_json::Value> =
            attributes.iter().map(|(k, v)| ((*k).to_owned(), v.string_value().unwrap_or_default().into())).collect();
        let line = serde_json::json!({
            "sns_region": sns_region,
            "phone_number": phone.as_e164(),
            "message": body,
            "message_attributes": attributes,
            "message_id": message_id,
        });
        let write = |w: &mut dyn Write| writeln!(w, "{line}");
        let result = if self.target == "-" {
            write(&mut std::io::stdout().lock())
        } else {
            std::fs::OpenOptions::new().create(true).append(true).open(&self.target).and_then(|mut f| write(&mut f))
        };
        result.map_err(|e| PublishError::Unreachable(format!("LOCAL_OUTBOX not writable: {}", e.kind())))?;
        Ok(message_id)
    }
}
