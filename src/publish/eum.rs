//! The AWS End User Messaging SMS adapter (`pinpoint-sms-voice-v2`): `SendTextMessage`, with one client per
//! Region. The SDK honours `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2` (from the service's id "Pinpoint SMS Voice
//! V2"), which is how the tests point it at their emulator.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::builders::SendTextMessageInputBuilder;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::{SendTextMessageError, SendTextMessageInput};
use aws_sdk_pinpointsmsvoicev2::types::{
    AccessDeniedExceptionReason as Denied, ConflictExceptionReason as Conflict, MessageFeedbackStatus,
    ServiceQuotaExceededExceptionReason as Quota, ValidationExceptionReason as Invalid,
};
use aws_sdk_pinpointsmsvoicev2::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::sns::PerRegion;
use super::{Feedback, FeedbackError, MessageAttributes, PublishError, Publisher};
use crate::aws::{classify, Check, Failure};
use crate::config::TextMessageOptions;
use crate::destination::phone::PhoneNumber;
use crate::message::event::TriggerSource;

/// The longest `TimeToLive` the API takes: 72 hours.
pub const MAX_TTL_SECONDS: u32 = 259_200;

/// How long a message of `source` is worth delivering: as long as Cognito accepts its code, so a code that
/// can no longer be used is never delivered (capped at [`MAX_TTL_SECONDS`]).
/// - Sign-up confirmation codes (and their resends) are valid for 24 hours
///   (<https://docs.aws.amazon.com/cognito/latest/developerguide/signing-up-users-in-your-app.html>).
/// - Forgot-password codes for 1 hour
///   (<https://docs.aws.amazon.com/cognito/latest/developerguide/how-to-recover-a-user-account.html>).
/// - SMS MFA codes for the app client's authentication session, 3 minutes by default
///   (<https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-settings-mfa-sms-email-message.html>).
/// - Attribute verification codes for 24 hours
///   (<https://docs.aws.amazon.com/cognito/latest/developerguide/signing-up-users-in-your-app.html>).
/// - Temporary passwords for the pool's `TemporaryPasswordValidityDays`, 7 days by default
///   (<https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_PasswordPolicyType.html>).
pub fn default_ttl(source: &TriggerSource) -> u32 {
    const HOUR: u32 = 3_600;
    let seconds = match source {
        TriggerSource::SignUp | TriggerSource::ResendCode => 24 * HOUR,
        TriggerSource::ForgotPassword => HOUR,
        TriggerSource::Authentication => 180,
        TriggerSource::UpdateUserAttribute | TriggerSource::VerifyUserAttribute => 24 * HOUR,
        TriggerSource::AdminCreateUser => 7 * 24 * HOUR,
        TriggerSource::AccountTakeOverNotification | TriggerSource::Unknown(_) => MAX_TTL_SECONDS,
    };
    seconds.min(MAX_TTL_SECONDS)
}

/// The `SendTextMessage` request for one message: the route's settings built at init, the `TimeToLive` of its
/// trigger source (or `SMS_TTL_SECONDS`), a `Context` naming the trigger source and pool (nothing secret: it
/// reaches the configuration set's event destinations), `DryRun` with `SMS_DRY_RUN=on` and
/// `MessageFeedbackEnabled` with `SMS_MESSAGE_FEEDBACK=on`.
pub fn text_message(
    phone: &PhoneNumber,
    body: &str,
    attributes: &MessageAttributes<'_>,
    options: &TextMessageOptions,
) -> SendTextMessageInputBuilder {
    let settings = attributes.route.text_message_for(attributes.source);
    let ttl = options.ttl.map_or_else(|| default_ttl(attributes.source), |t| t.as_secs() as u32);
    SendTextMessageInput::builder()
        .destination_phone_number(phone.as_e164())
        .message_body(body)
        .set_origination_identity(settings.origination_identity.clone())
        .message_type(settings.message_type.clone())
        .set_configuration_set_name(settings.configuration_set.clone())
        .set_protect_configuration_id(settings.protect_configuration_id.clone())
        .set_max_price(settings.max_price.clone())
        .set_destination_country_parameters(settings.country_parameters.clone())
        .time_to_live(ttl.min(MAX_TTL_SECONDS) as i32)
        .context("TriggerSource", attributes.source.to_string())
        .context("UserPoolId", attributes.pool)
        .set_dry_run(options.dry_run.then_some(true))
        .set_message_feedback_enabled(options.feedback.then_some(true))
}

/// The request as JSON, with the API's field names: what a local run shows instead of sending.
pub fn request_json(r: &SendTextMessageInputBuilder) -> serde_json::Value {
    let country: Option<serde_json::Map<String, serde_json::Value>> = r
        .get_destination_country_parameters()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().into())).collect());
    serde_json::json!({
        "DestinationPhoneNumber": r.get_destination_phone_number(),
        "MessageBody": r.get_message_body(),
        "OriginationIdentity": r.get_origination_identity(),
        "MessageType": r.get_message_type().as_ref().map(|t| t.as_str()),
        "ConfigurationSetName": r.get_configuration_set_name(),
        "ProtectConfigurationId": r.get_protect_configuration_id(),
        "MaxPrice": r.get_max_price(),
        "DestinationCountryParameters": country,
        "TimeToLive": r.get_time_to_live(),
        "Context": r.get_context(),
        "DryRun": r.get_dry_run(),
        "MessageFeedbackEnabled": r.get_message_feedback_enabled(),
    })
}

/// Sends with `SendTextMessage`.
pub struct EumPublisher {
    clients: Arc<PerRegion<Client>>,
    options: TextMessageOptions,
}

impl EumPublisher {
    /// Sends with clients from `config` (the publishing config: with `SNS_CALLER_ARN`, that role's credentials).
    pub fn new(config: &SdkConfig, options: TextMessageOptions) -> Self {
        let config = config.clone();
        let make = move |region: &str| {
            let region = aws_config::Region::new(region.to_owned());
            Client::from_conf(aws_sdk_pinpointsmsvoicev2::config::Builder::from(&config).region(region).build())
        };
        EumPublisher { clients: Arc::new(PerRegion::new(Box::new(make))), options }
    }

    /// The clients per Region: the probe asks through the connections sends use.
    pub fn clients(&self) -> Arc<PerRegion<Client>> {
        self.clients.clone()
    }
}

impl Publisher for EumPublisher {
    async fn publish(
        &self,
        region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        let r = text_message(phone, body, attributes, &self.options);
        let out = self
            .clients
            .get(region)
            .send_text_message()
            .set_destination_phone_number(r.get_destination_phone_number().clone())
            .set_message_body(r.get_message_body().clone())
            .set_origination_identity(r.get_origination_identity().clone())
            .set_message_type(r.get_message_type().clone())
            .set_configuration_set_name(r.get_configuration_set_name().clone())
            .set_protect_configuration_id(r.get_protect_configuration_id().clone())
            .set_max_price(r.get_max_price().clone())
            .set_destination_country_parameters(r.get_destination_country_parameters().clone())
            .set_time_to_live(*r.get_time_to_live())
            .set_context(r.get_context().clone())
            .set_dry_run(*r.get_dry_run())
            .set_message_feedback_enabled(*r.get_message_feedback_enabled())
            .send()
            .await
            .map_err(|e| text_message_error(&e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// `DescribeAccountAttributes` through the client sends use: opens the connection (and, with
    /// `SNS_CALLER_ARN`, assumes the role) at init.
    async fn warm_up(&self, region: &str) -> Check {
        match self.clients.get(region).describe_account_attributes().send().await {
            Ok(_) => Check::Ready,
            Err(e) => Check::from_error(&e, &[]),
        }
    }
}

impl Feedback for EumPublisher {
    async fn received(&self, region: &str, message_id: &str) -> Result<(), FeedbackError> {
        self.clients
            .get(region)
            .put_message_feedback()
            .message_id(message_id)
            .message_feedback_status(MessageFeedbackStatus::Received)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| FeedbackError(classify(&e).to_string()))
    }
}

/// Classifies a failed `SendTextMessage` by its exception and reason code. Only codes and field names are
/// kept: the service's messages can quote the number.
pub fn text_message_error(err: &SdkError<SendTextMessageError, HttpResponse>) -> PublishError {
    let reason = |r: Option<&str>, code: &str| format!("{code} {}", r.unwrap_or("without a reason"));
    match err.as_service_error() {
        Some(SendTextMessageError::ServiceQuotaExceededException(e)) => match &e.reason {
            Some(Quota::MonthlySpendLimitReachedForText) => PublishError::SpendLimitReached,
            r => PublishError::EumRejected(reason(r.as_ref().map(|r| r.as_str()), "ServiceQuotaExceededException")),
        },
        Some(SendTextMessageError::ConflictException(e)) => conflict(e.reason.as_ref()),
        Some(SendTextMessageError::ValidationException(e)) => {
            let phone_field = e.fields.iter().flatten().any(|f| f.name == "DestinationPhoneNumber");
            validation(e.reason.as_ref(), phone_field)
        }
        Some(SendTextMessageError::AccessDeniedException(e)) => match &e.reason {
            Some(r @ (Denied::AccountDisabled | Denied::InsufficientAccountReputation)) => {
                PublishError::AccountSuspended(r.as_str().to_owned())
            }
            _ => PublishError::EumDenied("AccessDeniedException".into()),
        },
        Some(SendTextMessageError::ResourceNotFoundException(e)) => PublishError::EumInvalidParameter(reason(
            e.resource_type.as_ref().map(|t| t.as_str()),
            "ResourceNotFoundException",
        )),
        _ => match classify(err) {
            Failure::Denied(code) => PublishError::EumDenied(code),
            Failure::Throttled(code) => PublishError::Throttled(code),
            Failure::Service(code) => PublishError::ServiceError(code),
            Failure::Unreachable(what) => PublishError::Unreachable(what),
            Failure::Refused(code) => PublishError::EumRejected(code),
        },
    }
}

/// A `ConflictException`, by its reason.
fn conflict(reason: Option<&Conflict>) -> PublishError {
    match reason {
        Some(Conflict::DestinationPhoneNumberOptedOut) => PublishError::OptedOut,
        Some(Conflict::DestinationPhoneNumberNotVerified) => PublishError::DestinationNotVerified,
        Some(
            r @ (Conflict::DestinationCountryBlockedByProtectConfiguration
            | Conflict::DestinationPhoneNumberBlockedByProtectNumberOverride),
        ) => PublishError::DestinationBlocked(r.as_str().to_owned()),
        Some(r @ Conflict::NoOriginationIdentitiesFound) => PublishError::NoOriginationIdentity(r.as_str().to_owned()),
        Some(r) => PublishError::EumInvalidParameter(format!("ConflictException {}", r.as_str())),
        None => PublishError::EumInvalidParameter("ConflictException".into()),
    }
}

/// A `ValidationException`, by its reason (and whether it names the destination number).
fn validation(reason: Option<&Invalid>, phone_field: bool) -> PublishError {
    match reason {
        Some(r @ (Invalid::DestinationCountryBlocked | Invalid::CountryNotEnabled)) => {
            PublishError::DestinationBlocked(r.as_str().to_owned())
        }
        Some(
            r @ (Invalid::InvalidIdentityForDestinationCountry
            | Invalid::SenderIdNotRegistered
            | Invalid::SenderIdNotSupported
            | Invalid::SenderIdRequiresRegistration),
        ) => PublishError::NoOriginationIdentity(r.as_str().to_owned()),
        _ if phone_field => PublishError::InvalidNumber,
        Some(r) => PublishError::EumInvalidParameter(format!("ValidationException {}", r.as_str())),
        None => PublishError::EumInvalidParameter("ValidationException".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_lives_as_long_as_cognito_accepts_it() {
        assert_eq!(default_ttl(&TriggerSource::SignUp), 86_400);
        assert_eq!(default_ttl(&TriggerSource::ResendCode), 86_400);
        assert_eq!(default_ttl(&TriggerSource::ForgotPassword), 3_600);
        assert_eq!(default_ttl(&TriggerSource::Authentication), 180);
        assert_eq!(default_ttl(&TriggerSource::UpdateUserAttribute), 86_400);
        assert_eq!(default_ttl(&TriggerSource::VerifyUserAttribute), 86_400);
        // Seven days is longer than the API allows: the API's maximum.
        assert_eq!(default_ttl(&TriggerSource::AdminCreateUser), MAX_TTL_SECONDS);
    }
}
