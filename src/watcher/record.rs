//! The record model: one SNS SMS delivery-status record, as SNS writes it to CloudWatch Logs
//! (<https://docs.aws.amazon.com/sns/latest/dg/sms_stats_cloudwatch.html>), or one AWS End User Messaging SMS
//! event, as a configuration set's CloudWatch Logs event destination writes it
//! (<https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-format.html>).

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::failure::{FailureClass, Fate};
use crate::destination::phone::{country_of, mask};

/// Why a log record could not be read as an SNS SMS delivery-status record. Never carries the record itself,
/// which holds the full phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("the record is not an SNS SMS delivery-status or End User Messaging event JSON object: {0}")]
    NotDeliveryStatus(String),
}

/// One SNS SMS delivery-status record, as SNS writes it (documented fields; any may be missing).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliveryStatus {
    #[serde(default)]
    pub notification: Notification,
    #[serde(default)]
    pub delivery: Delivery,
    /// `SUCCESS` or `FAILURE`.
    #[serde(default)]
    pub status: Option<String>,
}

/// `notification`: which Publish the record is about.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The MessageId Publish returned (the function logs it as `message_id`).
    pub message_id: Option<String>,
    /// When SNS accepted the message, UTC, like `2016-06-28 00:40:34.559`.
    pub timestamp: Option<String>,
}

/// `delivery`: what the carrier said.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub destination: Option<Destination>,
    pub provider_response: Option<String>,
    #[serde(rename = "priceInUSD", default, deserialize_with = "lenient_f64")]
    pub price_in_usd: Option<f64>,
    pub sms_type: Option<String>,
    /// Mobile country and network codes; SNS writes 0 when it does not know them.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub mcc: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub mnc: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub number_of_message_parts: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub dwell_time_ms: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub dwell_time_ms_until_device_ack: Option<u64>,
}

/// A destination phone number. Its `Debug` shows the masked form only.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Destination(pub(super) String);

impl Destination {
    /// `+1******0100`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The ISO 3166 country of the number (`GB`, `US`), when it parses as an international number: the
    /// number's own country, else the main country of its calling code (numbers outside the allocated ranges,
    /// such as the fictional ones of the documentation, have no country of their own).
    pub fn country(&self) -> Option<String> {
        country_of(&self.0).map(|id| id.as_ref().to_owned())
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl DeliveryStatus {
    /// Reads one log record's message.
    pub fn parse(message: &str) -> Result<Self, WatchError> {
        let status: DeliveryStatus = serde_json::from_str(message.trim()).map_err(|e| not_a_record(&e))?;
        if status.status.is_none() && status.delivery == Delivery::default() {
            return Err(WatchError::NotDeliveryStatus("no status and no delivery".to_owned()));
        }
        Ok(status)
    }

    /// Whether SNS reports the delivery as failed. Records in the failure log group all are; a record with no
    /// status but a provider response counts as failed too.
    pub fn is_failure(&self) -> bool {
        match self.status.as_deref() {
            Some(s) => !s.eq_ignore_ascii_case("SUCCESS"),
            None => true,
        }
    }

    /// The failure class of this record.
    pub fn class(&self) -> FailureClass {
        FailureClass::of(self.delivery.provider_response.as_deref().unwrap_or(""))
    }
}

/// One End User Messaging SMS event (documented fields; any but `eventType` may be missing).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextEvent {
    /// `TEXT_DELIVERED`, `TEXT_BLOCKED`, … (a configuration set may also send `VOICE_…` and `MEDIA_…` events).
    pub event_type: String,
    /// Whether this is the message's last event; absent reads as final.
    pub is_final: Option<bool>,
    pub destination_phone_number: Option<Destination>,
    pub iso_country_code: Option<String>,
    pub message_id: Option<String>,
    /// When the message was sent, in milliseconds since 1970.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub message_request_timestamp: Option<u64>,
    pub message_type: Option<String>,
    pub message_status: Option<String>,
    pub message_status_description: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub mcc: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub mnc: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub total_message_parts: Option<u32>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub total_message_price: Option<f64>,
    /// The `Context` the function sends: its trigger source and user pool.
    #[serde(default)]
    pub context: serde_json::Map<String, Value>,
}

impl TextEvent {
    /// What the event says about its message ([`Fate::of_event`]).
    pub fn fate(&self) -> Fate {
        let description = self.message_status_description.as_deref().unwrap_or("");
        Fate::of_event(&self.event_type, self.is_final.unwrap_or(true), description)
    }

    /// The event in the shape of an SNS record, for the same log line: the status description as the provider
    /// response, the request time as the timestamp.
    pub fn as_delivery_status(&self) -> DeliveryStatus {
        DeliveryStatus {
            notification: Notification {
                message_id: self.message_id.clone(),
                timestamp: self.message_request_timestamp.map(|t| t.to_string()),
            },
            delivery: Delivery {
                destination: self.destination_phone_number.clone(),
                provider_response: self.message_status_description.clone(),
                price_in_usd: self.total_message_price,
                sms_type: self.message_type.clone(),
                mcc: self.mcc,
                mnc: self.mnc,
                number_of_message_parts: self.total_message_parts,
                ..Delivery::default()
            },
            status: self.message_status.clone(),
        }
    }

    /// A string of the `Context`, like `TriggerSource`.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context.get(key).and_then(Value::as_str)
    }
}

/// One record of a subscribed log group, of either service.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sns(DeliveryStatus),
    EndUserMessaging(TextEvent),
}

impl Record {
    /// Reads one log record's message: an End User Messaging event when it has an `eventType`, else an SNS
    /// delivery-status record.
    pub fn parse(message: &str) -> Result<Self, WatchError> {
        let value: Value = serde_json::from_str(message.trim()).map_err(|e| not_a_record(&e))?;
        if value.get("eventType").is_none() {
            return DeliveryStatus::parse(message).map(Record::Sns);
        }
        serde_json::from_value(value).map(Record::EndUserMessaging).map_err(|e| not_a_record(&e))
    }
}

/// serde_json's message may quote the offending value (a phone number): only where and what kind is kept.
fn not_a_record(e: &serde_json::Error) -> WatchError {
    WatchError::NotDeliveryStatus(format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()))
}

/// A number SNS may write as a JSON number or a string; anything else reads as absent rather than failing
/// the whole record.
fn lenient_number(v: Option<Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(lenient_number(Option::<Value>::deserialize(d)?).filter(|v| v.is_finite()))
}

fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient_number(Option::<Value>::deserialize(d)?).filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64))
}

fn lenient_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_u64(d)?.and_then(|v| u32::try_from(v).ok()))
}
