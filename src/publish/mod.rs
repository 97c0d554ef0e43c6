//! Sending one SMS: the [`Publisher`] port, its errors, and its adapters: [`sns`] (Amazon SNS `Publish`),
//! [`eum`] (AWS End User Messaging SMS `SendTextMessage`), [`outbox`] (a file or stdout, for local runs) and
//! [`test_sink`] (an SQS queue for the test numbers, in front of any of them).

pub mod eum;
pub mod outbox;
pub mod sns;
pub mod test_sink;

use std::future::Future;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::{Check, Failure};
use crate::destination::attributes::TransportKind;
use crate::destination::phone::PhoneNumber;
use crate::destination::routing::Route;
use crate::message::event::TriggerSource;

/// How one message is sent besides its Region, number and body: its route, whose settings for each transport
/// (SNS message attributes, `SendTextMessage` settings) are built once at init, and the event's trigger source
/// and user pool.
#[derive(Debug, Clone, Copy)]
pub struct MessageAttributes<'a> {
    pub route: &'a Route,
    pub source: &'a TriggerSource,
    pub pool: &'a str,
}

/// Sends one SMS.
pub trait Publisher: Send + Sync {
    /// Publishes `body` to `phone` from `sns_region` with `attributes` and returns the message id.
    fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;

    /// What takes a message to `phone` on `route`, for its log line: the route's transport, unless this
    /// adapter sends it elsewhere.
    fn transport(&self, _phone: &PhoneNumber, route: &Route) -> &'static str {
        route.transport.as_str()
    }

    /// Opens the connection to `sns_region` during init ([`crate::sender::warmup`]). Nothing to do by default.
    fn warm_up(&self, _sns_region: &str) -> impl Future<Output = Check> + Send {
        async { Check::Skipped }
    }
}

/// Tells the SMS service that a message's code was entered, so it counts the message delivered.
pub trait Feedback: Send + Sync {
    /// Reports the message `message_id`, sent from `region`, as received (`PutMessageFeedback`, `RECEIVED`).
    fn received(&self, region: &str, message_id: &str) -> impl Future<Output = Result<(), FeedbackError>> + Send;
}

/// Why feedback could not be given: the service's error code only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("End User Messaging feedback could not be sent ({0}); the role needs sms-voice:PutMessageFeedback on the account's messages")]
pub struct FeedbackError(pub String);

/// The transports the function sends through: SNS, End User Messaging when a route uses it (each message
/// goes the way its route says), or the local outbox.
pub enum Transport {
    Aws { sns: sns::SnsPublisher, eum: Option<eum::EumPublisher> },
    Outbox(outbox::Outbox),
}

impl Publisher for Transport {
    async fn publish(
        &self,
        region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        match (self, attributes.route.transport) {
            (Transport::Outbox(p), _) => p.publish(region, phone, body, attributes).await,
            (Transport::Aws { sns, .. }, TransportKind::Sns) => sns.publish(region, phone, body, attributes).await,
            (Transport::Aws { eum: Some(eum), .. }, TransportKind::EndUserMessaging) => {
                eum.publish(region, phone, body, attributes).await
            }
            // Wiring builds the End User Messaging client whenever a route names it: a bug, said plainly.
            (Transport::Aws { eum: None, .. }, TransportKind::EndUserMessaging) => {
                Err(PublishError::EumRejected("no End User Messaging client was built".into()))
            }
        }
    }

    fn transport(&self, _phone: &PhoneNumber, route: &Route) -> &'static str {
        match self {
            Transport::Outbox(_) => "local-outbox",
            Transport::Aws { .. } => route.transport.as_str(),
        }
    }

    /// Warms every transport in use side by side; the first that is not ready is the answer.
    async fn warm_up(&self, region: &str) -> Check {
        match self {
            Transport::Outbox(p) => p.warm_up(region).await,
            Transport::Aws { sns, eum: None } => sns.warm_up(region).await,
            Transport::Aws { sns, eum: Some(eum) } => {
                let (sns, eum) = tokio::join!(sns.warm_up(region), eum.warm_up(region));
                if matches!(eum, Check::Ready | Check::Skipped) {
                    sns
                } else {
                    eum
                }
            }
        }
    }
}

/// Why the message was not accepted. Only error codes, reason codes and parameter names are kept: the
/// services' error texts can quote the phone number.
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
    #[error("the SMS service is throttling ({0})")]
    Throttled(String),
    #[error("the SMS service failed ({0})")]
    ServiceError(String),
    #[error("the SMS service could not be reached ({0})")]
    Unreachable(String),
    #[error("SNS rejected the message ({0})")]
    Rejected(String),
    #[error("End User Messaging refused the message: the account's monthly SMS spend limit is reached (MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT); raise the text spend limit in the End User Messaging console (above its maximum, by a quota increase request)")]
    SpendLimitReached,
    #[error("the destination number has opted out of SMS from this account (DESTINATION_PHONE_NUMBER_OPTED_OUT); only the user can opt back in (or remove the number from the opt-out list if they asked you to)")]
    OptedOut,
    #[error("the account is in the End User Messaging SMS sandbox and this number is not a verified destination (DESTINATION_PHONE_NUMBER_NOT_VERIFIED); verify the number or request production access")]
    DestinationNotVerified,
    #[error("End User Messaging blocked this destination ({0}); check the country rules of SMS_PROTECT_CONFIGURATION_ID (or the account default protect configuration) and the countries enabled for the account")]
    DestinationBlocked(String),
    #[error("no origination identity can send to this destination ({0}); set ORIGINATION_IDENTITY (or origination_identity in its country's route) to a phone number, pool or registered sender ID that can")]
    NoOriginationIdentity(String),
    #[error("End User Messaging refused the account ({0}); the account is disabled or its sending reputation is too low: contact AWS Support")]
    AccountSuspended(String),
    #[error("End User Messaging refused a parameter ({0}); check ORIGINATION_IDENTITY, SMS_CONFIGURATION_SET, SMS_PROTECT_CONFIGURATION_ID, MAX_PRICE, SMS_TYPE and the routing table")]
    EumInvalidParameter(String),
    #[error("not allowed to send ({0}); the role needs sms-voice:SendTextMessage on the origination identity, configuration set and protect configuration in use (and sts:AssumeRole on SNS_CALLER_ARN when set)")]
    EumDenied(String),
    #[error("End User Messaging rejected the message ({0})")]
    EumRejected(String),
    #[error("the test-number queue SMS_TEST_SINK is not encrypted, so no code is put in it; turn on server-side encryption (SSE-SQS or SSE-KMS) for the queue")]
    TestSinkUnencrypted,
    #[error("the test-number queue SMS_TEST_SINK could not be used ({0}); check that the queue exists and that the role has sqs:SendMessage and sqs:GetQueueAttributes on it (and kms:GenerateDataKey on its key when it is KMS-encrypted)")]
    TestSinkRefused(String),
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
