//! The delivery-status watcher: what happened to an SMS after SNS said yes.
//!
//! `sns:Publish` returns a MessageId for messages SNS then drops: a reached monthly spend limit, an opted-out
//! number, an unverified destination in the SMS sandbox, a carrier refusal. SNS reports those only in its SMS
//! delivery-status logs, minutes later, in the log group `sns/<region>/<account>/DirectPublishToPhoneNumber/
//! Failure` (once delivery-status logging is turned on with `SetSMSAttributes`). A CloudWatch Logs subscription
//! filter on that group invokes the watcher with batches of those records; for each failed delivery it logs
//! one JSON line (`outcome` = `delivery_failed`, a failure `class`, the masked number, the message id) and
//! counts it in the EMF metric `DeliveryFailures` by `Class`.
//!
//! A configuration set's CloudWatch Logs event destination (the End User Messaging transport) feeds the same
//! watcher: each record says which service wrote it ([`Record::parse`]), and an End User Messaging event is
//! logged and counted in the same classes. Such a message has several events (queued, pending, accepted by
//! the carrier, delivered or failed): only its final one counts, as delivered or as failed; the others are
//! logged at DEBUG as `delivery_interim` ([`Fate`]).

//!
//! Layout: [`record`] (the record model), [`failure`] (failure classes), and here the handler.

pub mod failure;
pub mod record;

use std::collections::BTreeMap;

use aws_lambda_events::event::cloudwatch_logs::LogData;
use serde_json::{json, Value};

use crate::destination::region::is_region_name;
pub use failure::{FailureClass, Fate};
pub use record::{Delivery, DeliveryStatus, Destination, Notification, Record, TextEvent, WatchError};

/// The `outcome` of a delivery SNS reports as failed.
pub const DELIVERY_FAILED: &str = "delivery_failed";
/// The `outcome` of a delivery SNS reports as successful (only if the watcher is also subscribed to the
/// success log group).
pub const DELIVERED: &str = "delivered";
/// The `outcome` of an End User Messaging event that is not its message's last word (queued, pending,
/// accepted by the carrier with a receipt to come, a failure the service retries).
pub const INTERIM: &str = "delivery_interim";
/// The `outcome` of a log record that is not an SNS SMS delivery-status record.
pub const UNREADABLE: &str = "delivery_status_unreadable";

/// What one batch held, returned to Lambda (and readable in tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// Failed deliveries by class name.
    pub failures: BTreeMap<&'static str, u32>,
    /// Successful deliveries (only when subscribed to the success log group).
    pub delivered: u32,
    /// Records that were not delivery-status records (counted as `Unknown` failures too).
    pub unreadable: u32,
    /// End User Messaging events that are not final (counted neither as delivered nor as failed).
    pub interim: u32,
}

impl BatchReport {
    /// The invocation's result.
    pub fn to_json(&self) -> Value {
        json!({
            "failures": self.failures,
            "delivered": self.delivered,
            "unreadable": self.unreadable,
            "interim": self.interim,
        })
    }
}

/// Handles one subscription batch: one log line per record and one `DeliveryFailures` count per failure.
/// CloudWatch Logs' `CONTROL_MESSAGE` (sent when the subscription is created) is skipped.
pub fn handle(data: &LogData) -> BatchReport {
    let mut report = BatchReport::default();
    if data.message_type != "DATA_MESSAGE" {
        tracing::debug!(message_type = %data.message_type, "not a data message; nothing to do");
        return report;
    }
    let sns_region = sns_region_of(&data.log_group);
    for entry in &data.log_events {
        let fate = match Record::parse(&entry.message) {
            Ok(Record::Sns(status)) => {
                let fate = if status.is_failure() { Fate::Failed(status.class()) } else { Fate::Delivered };
                log_fate(&status, None, fate, sns_region);
                fate
            }
            Ok(Record::EndUserMessaging(event)) => {
                let fate = event.fate();
                log_fate(&event.as_delivery_status(), Some(&event), fate, sns_region);
                fate
            }
            Err(e) => {
                tracing::warn!(
                    outcome = UNREADABLE,
                    reason = %e,
                    log_group = %data.log_group,
                    log_event_id = %entry.id,
                    "a record of the delivery-status log group could not be read; counted as an Unknown failure"
                );
                report.unreadable += 1;
                Fate::Failed(FailureClass::Unknown)
            }
        };
        match fate {
            Fate::Failed(class) => {
                crate::telemetry::metrics::record_delivery_failure(class.as_str());
                *report.failures.entry(class.as_str()).or_default() += 1;
            }
            Fate::Delivered => report.delivered += 1,
            Fate::Interim => report.interim += 1,
        }
    }
    report
}

/// The one line of a record: failed, delivered or interim.
fn log_fate(status: &DeliveryStatus, event: Option<&TextEvent>, fate: Fate, sns_region: Option<&str>) {
    match fate {
        Fate::Failed(class) => log_failure(status, event, class, sns_region),
        Fate::Delivered => {
            let d = &status.delivery;
            tracing::info!(
                outcome = DELIVERED,
                message_id = status.notification.message_id.as_deref(),
                sns_timestamp = status.notification.timestamp.as_deref(),
                phone = d.destination.as_ref().map(Destination::masked),
                country = country(status, event),
                sns_region,
                event_type = event.map(|e| e.event_type.as_str()),
                price_usd = d.price_in_usd,
                sms_type = d.sms_type.as_deref(),
                parts = d.number_of_message_parts,
                dwell_time_ms = d.dwell_time_ms,
                "SMS delivered"
            );
        }
        Fate::Interim => tracing::debug!(
            outcome = INTERIM,
            event_type = event.map(|e| e.event_type.as_str()),
            message_id = status.notification.message_id.as_deref(),
            phone = status.delivery.destination.as_ref().map(Destination::masked),
            "an event on the way to the message's final one; not counted"
        ),
    }
}

/// The destination's country: End User Messaging's `isoCountryCode`, else the number's.
fn country(status: &DeliveryStatus, event: Option<&TextEvent>) -> Option<String> {
    let iso = event.and_then(|e| e.iso_country_code.as_deref()).filter(|c| c.len() == 2);
    iso.map(str::to_owned).or_else(|| status.delivery.destination.as_ref().and_then(Destination::country))
}

/// The SNS Region in a delivery-status log group name (`sns/<region>/<account>/DirectPublishToPhoneNumber…`).
pub fn sns_region_of(log_group: &str) -> Option<&str> {
    let mut parts = log_group.split('/');
    (parts.next() == Some("sns")).then(|| parts.next()).flatten().filter(|r| is_region_name(r))
}

/// SNS's reason text, with any run of four or more digits starred: the documented texts carry no number, and
/// an undocumented one must not bring a phone number into the logs.
fn scrub(text: &str) -> String {
    let chars: Vec<char> = text.chars().take(256).collect();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run >= 4 {
            out.extend(std::iter::repeat_n('*', run));
            i += run;
        } else if run > 0 {
            out.extend(&chars[i..i + run]);
            i += run;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn log_failure(status: &DeliveryStatus, event: Option<&TextEvent>, class: FailureClass, sns_region: Option<&str>) {
    let d = &status.delivery;
    let n = &status.notification;
    let phone = d.destination.as_ref().map(Destination::masked);
    let country = country(status, event);
    let event_type = event.map(|e| e.event_type.as_str());
    let trigger_source = event.and_then(|e| e.context("TriggerSource"));
    let user_pool_id = event.and_then(|e| e.context("UserPoolId"));
    let service = if event.is_some() { "End User Messaging" } else { "SNS" };
    let provider_response = d.provider_response.as_deref().map(scrub);
    let (mcc, mnc) = (d.mcc.filter(|c| *c != 0), d.mnc.filter(|c| *c != 0));
    // `tracing` levels are compile-time constants: one field list, two levels.
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                $level,
                outcome = DELIVERY_FAILED,
                class = class.as_str(),
                reason = class.action(),
                provider_response,
                message_id = n.message_id.as_deref(),
                sns_timestamp = n.timestamp.as_deref(),
                phone,
                country,
                sns_region,
                price_usd = d.price_in_usd,
                sms_type = d.sms_type.as_deref(),
                mcc,
                mnc,
                parts = d.number_of_message_parts,
                dwell_time_ms = d.dwell_time_ms,
                event_type,
                trigger_source,
                user_pool_id,
                "{service} accepted this SMS but did not deliver it"
            )
        };
    }
    // Account-wide causes stop every user's SMS: ERROR. One number's failure: WARN.
    if class.is_account_wide() {
        line!(tracing::Level::ERROR);
    } else {
        line!(tracing::Level::WARN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failure example of the SNS Developer Guide ("Example log for failed SMS delivery").
    const DOCUMENTED_FAILURE: &str = r#"{
        "notification": {"messageId": "1077257a-92f3-5ca3-bc97-6a915b310625", "timestamp": "2016-06-28 00:40:34.559"},
        "delivery": {"mnc": 0, "numberOfMessageParts": 1, "destination": "+12065550100", "priceInUSD": 0.00645,
                     "smsType": "Transactional", "mcc": 0, "providerResponse": "Unknown error attempting to reach phone",
                     "dwellTimeMs": 1420, "dwellTimeMsUntilDeviceAck": 1692},
        "status": "FAILURE"}"#;

    #[test]
    fn reads_the_documented_record() {
        let s = DeliveryStatus::parse(DOCUMENTED_FAILURE).unwrap();
        assert!(s.is_failure());
        assert_eq!(s.class(), FailureClass::CarrierFailure);
        assert_eq!(s.notification.message_id.as_deref(), Some("1077257a-92f3-5ca3-bc97-6a915b310625"));
        assert_eq!(s.delivery.price_in_usd, Some(0.00645));
        assert_eq!(s.delivery.mcc, Some(0));
        assert_eq!(s.delivery.number_of_message_parts, Some(1));
        assert_eq!(s.delivery.dwell_time_ms, Some(1420));
        let dest = s.delivery.destination.as_ref().unwrap();
        assert_eq!(dest.masked(), "+1******0100");
        assert_eq!(format!("{dest:?}"), "+1******0100");
        assert!(!format!("{s:?}").contains("2065550100"));
    }

    #[test]
    fn reads_sparse_and_oddly_typed_records() {
        // Real failure records often carry only these fields.
        let s = DeliveryStatus::parse(
            r#"{"notification":{"messageId":"m","timestamp":"2021-04-18 13:54:35.51"},
                "delivery":{"destination":"+46701234567","smsType":"Transactional",
                            "providerResponse":"No quota left for account","dwellTimeMs":174},
                "status":"FAILURE"}"#,
        )
        .unwrap();
        assert_eq!(s.class(), FailureClass::SpendingLimitReached);
        assert_eq!(s.delivery.price_in_usd, None);
        let s = DeliveryStatus::parse(
            r#"{"delivery":{"mcc":"310","mnc":"410","priceInUSD":"0.0075","dwellTimeMs":null},"status":"FAILURE"}"#,
        )
        .unwrap();
        assert_eq!((s.delivery.mcc, s.delivery.mnc), (Some(310), Some(410)));
        assert_eq!(s.delivery.price_in_usd, Some(0.0075));
        for bad in ["", "not json", "[]", "{}", r#"{"level":"INFO","msg":"x"}"#] {
            assert!(DeliveryStatus::parse(bad).is_err(), "{bad:?}");
        }
        let e = DeliveryStatus::parse(r#"{"delivery":{"destination":"+12065550100"#).unwrap_err();
        assert!(!e.to_string().contains("2065550100"), "{e}");
    }

    #[test]
    fn classifies_provider_responses() {
        use FailureClass::*;
        let cases = [
            ("No quota left for account", SpendingLimitReached),
            ("Phone number is opted out", OptedOut),
            ("Phone is currently opted out", OptedOut),
            ("Phone number is not verified in the SMS sandbox", SnsSandbox),
            ("Destination phone number not verified", SnsSandbox),
            ("Account is under review", AccountUnderReview),
            ("This delivery would exceed max price", MaxPriceExceeded),
            ("Unknown error attempting to reach phone", CarrierFailure),
            ("Phone carrier has blocked this message", CarrierFailure),
            ("Invalid phone number", CarrierFailure),
            ("Phone has blocked SMS", CarrierFailure),
            ("Message too long", CarrierFailure),
            ("Blocked as spam by phone carrier", CarrierFailure),
            ("Phone is currently unreachable/unavailable", CarrierFailure),
            ("Message body is invalid", CarrierFailure),
            ("Destination is blacklisted", CarrierFailure),
            ("  phone carrier is currently unreachable/unavailable ", CarrierFailure),
            ("Something new", Unknown),
            ("", Unknown),
        ];
        for (text, class) in cases {
            assert_eq!(FailureClass::of(text), class, "{text:?}");
        }
        for response in failure::CARRIER_RESPONSES {
            assert_eq!(FailureClass::of(response), CarrierFailure, "{response}");
        }
    }

    #[test]
    fn class_names_are_unique_dimension_values() {
        let names: std::collections::HashSet<_> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), FailureClass::ALL.len());
        for c in FailureClass::ALL {
            assert!(c.as_str().bytes().all(|b| b.is_ascii_alphabetic()));
            assert!(!c.action().is_empty());
        }
        assert_eq!(FailureClass::SnsSandbox.to_string(), "SNSSandbox");
    }

    #[test]
    fn finds_the_region_and_country() {
        assert_eq!(sns_region_of("sns/eu-west-2/123456789012/DirectPublishToPhoneNumber/Failure"), Some("eu-west-2"));
        assert_eq!(sns_region_of("/aws/lambda/x"), None);
        assert_eq!(sns_region_of("sns/+1206/x"), None);
        let dest = |n: &str| Destination(n.to_owned());
        assert_eq!(dest("+447700900123").country().as_deref(), Some("GB"));
        assert_eq!(dest("+819012345678").country().as_deref(), Some("JP"));
        assert_eq!(dest("+12065550100").country().as_deref(), Some("US"));
        assert_eq!(dest("+80012345678").country(), None);
        assert_eq!(dest("not a number").country(), None);
    }

    #[test]
    fn scrubs_numbers_from_reasons() {
        assert_eq!(scrub("Invalid phone number"), "Invalid phone number");
        assert_eq!(scrub("error 42 for +12065550100"), "error 42 for +***********");
        assert_eq!(scrub(&"x".repeat(300)).len(), 256);
    }
}
