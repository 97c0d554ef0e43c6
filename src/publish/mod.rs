//! Sending one SMS: the [`Publisher`] port, its errors, and its adapters: [`sns`] (Amazon SNS `Publish`) and
//! [`outbox`] (a file or stdout, for local runs).

pub mod outbox;
pub mod sns;

use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::{Check, Failure};
use crate::destination::phone::PhoneNumber;

/// SNS message attributes (`AWS.SNS.SMS.SMSType`, `AWS.SNS.SMS.SenderID`, …), built once per route at init.
pub type MessageAttributes = [(&'static str, MessageAttributeValue)];

/// Sends one SMS.
pub trait Publisher: Send + Sync {
    /// Publishes `body` to `phone` from `sns_region` with `attributes` and returns the message id.
    fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;

    /// Opens the connection to `sns_region` during init ([`crate::sender::warmup`]). Nothing to do by default.
    fn warm_up(&self, _sns_region: &str) -> impl Future<Output = Check> + Send {
        async { Check::Skipped }
    }
}

/// The transport the function sends through: SNS, or the local outbox.
pub enum Transport {
    Sns(sns::SnsPublisher),
    Outbox(outbox::Outbox),
}

impl Publisher for Transport {
    async fn publish(
        &self,
        region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes,
    ) -> Result<String, PublishError> {
        match self {
            Transport::Sns(p) => p.publish(region, phone, body, attributes).await,
            Transport::Outbox(p) => p.publish(region, phone, body, attributes).await,
        }
    }

    async fn warm_up(&self, region: &str) -> Check {
        match self {
            Transport::Sns(p) => p.warm_up(region).await,
            Transport::Outbox(p) => p.warm_up(region).await,
        }
    }
}

/// Why the message was not accepted. Only error codes and SNS's parameter names are kept: SNS error texts
/// can quote the phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("SNS refused the phone number as not valid to publish to")]
    InvalidNumber,
    #[error("SNS refused a parameter ({0}); check SENDER_ID, ORIGINATION_NUMBER, MAX_PRICE and SMS_TYPE")]
    InvalidParameter(String),
    #[error("not allowed to publish ({0}); the role needs sns:Publish on phone numbers (and sts:AssumeRole on SNS_CALLER_ARN when set)")]
    Denied(String),
    #[error("the SNS caller role {0} (SNS_CALLER_ARN) could not be assumed: its trust policy must let this function's role call sts:AssumeRole, with SNS_EXTERNAL_ID as sts:ExternalId when set")]
    CallerRoleRefused(String),
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

    /// Classifies a failed `Publish` ([`crate::aws::classify`]), keeping only SNS's parameter names from its
    /// messages ("Invalid parameter: PhoneNumber Reason: +1206… is not valid").
    pub fn from_sdk<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Self {
        match crate::aws::classify(err) {
            Failure::Refused(code)
                if ["InvalidParameter", "InvalidParameterValue", "ValidationError"].contains(&code.as_str()) =>
            {
                let param = err
                    .message()
                    .and_then(|m| m.strip_prefix("Invalid parameter: "))
                    .and_then(|m| m.split_whitespace().next())
                    .unwrap_or("unknown");
                if param == "PhoneNumber" {
                    PublishError::InvalidNumber
                } else {
                    PublishError::InvalidParameter(param.chars().filter(|c| !c.is_ascii_digit()).take(64).collect())
                }
            }
            Failure::Refused(code) => PublishError::Rejected(code),
            Failure::Denied(code) => PublishError::Denied(code),
            Failure::Throttled(code) => PublishError::Throttled(code),
            Failure::Service(code) => PublishError::ServiceError(code),
            Failure::Unreachable(what) => PublishError::Unreachable(what),
        }
    }
}
