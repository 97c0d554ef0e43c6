//! The delivery-status watcher: what happened to an SMS after SNS said yes.
//!
//! `sns:Publish` returns a MessageId for messages SNS then drops: a reached monthly spend limit, an opted-out
//! number, an unverified destination in the SMS sandbox, a carrier refusal. SNS reports those only in its SMS
//! delivery-status logs, minutes later, in the log group `sns/<region>/<account>/DirectPublishToPhoneNumber/
//! Failure` (once delivery-status logging is turned on with `SetSMSAttributes`). A CloudWatch Logs subscription
//! filter on that group invokes the watcher with batches of those records; for each failed delivery it logs
//! one JSON line (`outcome` = `delivery_failed`, a failure `class`, the masked number, the message id) and
//! counts it in the EMF metric `DeliveryFailures` by `Class`.

use std::collections::BTreeMap;
use std::fmt;

use aws_lambda_events::event::cloudwatch_logs::LogData;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::phone::mask;
use crate::region::is_region_name;

/// The `outcome` of a delivery SNS reports as failed.
pub const DELIVERY_FAILED: &str = "delivery_failed";
/// The `outcome` of a delivery SNS reports as successful (only if the watcher is also subscribed to the
/// success log group).
pub const DELIVERED: &str = "delivered";
/// The `outcome` of a log record that is not an SNS SMS delivery-status record.
pub const UNREADABLE: &str = "delivery_status_unreadable";

/// Why a log record could not be read as an SNS SMS delivery-status record. Never carries the record itself,
/// which holds the full phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("the record is not an SNS SMS delivery-status JSON object: {0}")]
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
pub struct Destination(String);

impl Destination {
    /// `+1******0100`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The ISO 3166 country of the number (`GB`, `US`), when it parses as an international number: the
    /// number's own country, else the main country of its calling code (numbers outside the allocated ranges,
    /// such as the fictional ones of the documentation, have no country of their own).
    pub fn country(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        let country = number.country();
        let id = match country.id() {
            Some(id) => id.as_ref().to_owned(),
            None => phonenumber::metadata::DATABASE.by_code(&country.code())?.first()?.id().to_owned(),
        };
        // Non-geographic codes (+800, +882…) have the pseudo-region 001.
        (id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase())).then_some(id)
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// What kind of failure a `providerResponse` reports, which decides what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureClass {
    /// `No quota left for account`: the account's `MonthlySpendLimit` is reached; SNS drops every SMS.
    SpendingLimitReached,
    /// `Phone number is opted out`: the user replied STOP (or was opted out).
    OptedOut,
    /// The account is in the SMS sandbox and the destination is not verified.
    SnsSandbox,
    /// SNS is holding the account's SMS (under review, blocked, suspended).
    AccountUnderReview,
    /// `This delivery would exceed max price`: the price is above `MAX_PRICE`.
    MaxPriceExceeded,
    /// The carrier or handset refused the message or could not be reached.
    CarrierFailure,
    /// A reason this watcher does not know, or a record it could not read.
    Unknown,
}

/// `providerResponse` texts SNS documents for failed SMS ("SMS delivery failure reasons", SNS Developer
/// Guide), older wordings included, that the carrier or handset is behind. Compared without case.
const CARRIER_RESPONSES: [&str; 15] = [
    "Blocked as spam by phone carrier",
    "Destination is on a blocked list",
    "Destination is blacklisted",
    "Invalid phone number",
    "Message body is invalid",
    "Message too long",
    "Phone carrier has blocked this message",
    "Phone carrier is currently unreachable/unavailable",
    "Phone has blocked SMS",
    "Phone is on a blocked list",
    "Phone is blacklisted",
    "Phone is currently unreachable/unavailable",
    "Unknown error attempting to reach phone",
    "Phone carrier is unreachable",
    "Phone is unreachable",
];

impl FailureClass {
    /// Every class, in the order of the `DeliveryFailures` dimension values.
    pub const ALL: [FailureClass; 7] = [
        FailureClass::SpendingLimitReached,
        FailureClass::OptedOut,
        FailureClass::SnsSandbox,
        FailureClass::AccountUnderReview,
        FailureClass::MaxPriceExceeded,
        FailureClass::CarrierFailure,
        FailureClass::Unknown,
    ];

    /// Classifies a `providerResponse`. The documented texts are matched exactly; the account-level
    /// conditions AWS does not document a text for (sandbox, review) by their telling words.
    pub fn of(provider_response: &str) -> FailureClass {
        let r = provider_response.trim().to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| r.contains(w));
        if has(&["no quota left"]) {
            FailureClass::SpendingLimitReached
        } else if has(&["opted out", "opted-out", "opt-out"]) {
            FailureClass::OptedOut
        } else if has(&["sandbox", "not verified", "unverified"]) {
            FailureClass::SnsSandbox
        } else if has(&[
            "under review",
            "account is blocked",
            "account blocked",
            "account has been blocked",
            "account is suspended",
            "account suspended",
            "account has been suspended",
        ]) {
            FailureClass::AccountUnderReview
        } else if has(&["exceed max price", "maxprice"]) {
            FailureClass::MaxPriceExceeded
        } else if CARRIER_RESPONSES.iter().any(|c| c.eq_ignore_ascii_case(&r))
            || has(&["carrier", "blocked", "unreachable", "spam", "blacklist"])
        {
            FailureClass::CarrierFailure
        } else {
            FailureClass::Unknown
        }
    }

    /// The stable name, for the `class` log field and the `Class` dimension. `SNSSandbox` is Cognito's own
    /// name for the condition (and the function's probe outcome).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::SpendingLimitReached => "SpendingLimitReached",
            FailureClass::OptedOut => "OptedOut",
            FailureClass::SnsSandbox => "SNSSandbox",
            FailureClass::AccountUnderReview => "AccountUnderReview",
            FailureClass::MaxPriceExceeded => "MaxPriceExceeded",
            FailureClass::CarrierFailure => "CarrierFailure",
            FailureClass::Unknown => "Unknown",
        }
    }

    /// Whether the cause is the account or its settings (every user is affected) rather than one number.
    pub fn is_account_wide(self) -> bool {
        matches!(
            self,
            FailureClass::SpendingLimitReached
                | FailureClass::SnsSandbox
                | FailureClass::AccountUnderReview
                | FailureClass::MaxPriceExceeded
        )
    }

    /// What to do, for the `reason` log field.
    pub fn action(self) -> &'static str {
        match self {
            FailureClass::SpendingLimitReached => "the account's SMS MonthlySpendLimit is reached: SNS accepts every SMS and delivers none until the limit is raised (SNS console, Text messaging preferences; above USD 1 needs a quota increase)",
            FailureClass::OptedOut => "the number is opted out of SMS from this account (the user replied STOP): SNS sends nothing to it until it is opted in again (sns:OptInPhoneNumber, once every 30 days) at the user's request",
            FailureClass::SnsSandbox => "the account is in the SNS SMS sandbox in this Region and the number is not a verified destination: verify it, or request production access",
            FailureClass::AccountUnderReview => "SNS is holding this account's SMS (under review or blocked): contact AWS Support",
            FailureClass::MaxPriceExceeded => "the message would cost more than MAX_PRICE (AWS.SNS.SMS.MaxPrice): raise or unset MAX_PRICE",
            FailureClass::CarrierFailure => "the carrier or the phone refused the message or could not be reached: check the number with the user; for US numbers check the origination identity (10DLC, toll-free) registration; many failures for one country point at its sender ID or registration rules",
            FailureClass::Unknown => "SNS gave a reason this watcher does not classify: read provider_response",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeliveryStatus {
    /// Reads one log record's message.
    pub fn parse(message: &str) -> Result<Self, WatchError> {
        // serde_json's message may quote the offending value (a phone number): keep only where and what kind.
        let status: DeliveryStatus = serde_json::from_str(message.trim()).map_err(|e| {
            WatchError::NotDeliveryStatus(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
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

/// What one batch held, returned to Lambda (and readable in tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Failed deliveries by class name.
    pub failures: BTreeMap<&'static str, u32>,
    /// Successful deliveries (only when subscribed to the success log group).
    pub delivered: u32,
    /// Records that were not delivery-status records (counted as `Unknown` failures too).
    pub unreadable: u32,
}

impl Report {
    /// The invocation's result.
    pub fn to_json(&self) -> Value {
        json!({
            "failures": self.failures,
            "delivered": self.delivered,
            "unreadable": self.unreadable,
        })
    }
}

/// Handles one subscription batch: one log line per record and one `DeliveryFailures` count per failure.
/// CloudWatch Logs' `CONTROL_MESSAGE` (sent when the subscription is created) is skipped.
pub fn handle(data: &LogData) -> Report {
    let mut report = Report::default();
    if data.message_type != "DATA_MESSAGE" {
        tracing::debug!(message_type = %data.message_type, "not a data message; nothing to do");
        return report;
    }
    let sns_region = sns_region_of(&data.log_group);
    for entry in &data.log_events {
        match DeliveryStatus::parse(&entry.message) {
            Ok(status) if status.is_failure() => {
                let class = status.class();
                log_failure(&status, class, sns_region);
                crate::metrics::record_delivery_failure(class.as_str());
                *report.failures.entry(class.as_str()).or_default() += 1;
            }
            Ok(status) => {
                let d = &status.delivery;
                tracing::info!(
                    outcome = DELIVERED,
                    message_id = status.notification.message_id.as_deref(),
                    sns_timestamp = status.notification.timestamp.as_deref(),
                    phone = d.destination.as_ref().map(Destination::masked),
                    country = d.destination.as_ref().and_then(Destination::country),
                    sns_region,
                    price_usd = d.price_in_usd,
                    sms_type = d.sms_type.as_deref(),
                    parts = d.number_of_message_parts,
                    dwell_time_ms = d.dwell_time_ms,
                    "SMS delivered"
                );
                report.delivered += 1;
            }
            Err(e) => {
                tracing::warn!(
                    outcome = UNREADABLE,
                    reason = %e,
                    log_group = %data.log_group,
                    log_event_id = %entry.id,
                    "a record of the delivery-status log group could not be read; counted as an Unknown failure"
                );
                crate::metrics::record_delivery_failure(FailureClass::Unknown.as_str());
                *report.failures.entry(FailureClass::Unknown.as_str()).or_default() += 1;
                report.unreadable += 1;
            }
        }
    }
    report
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

fn log_failure(status: &DeliveryStatus, class: FailureClass, sns_region: Option<&str>) {
    let d = &status.delivery;
    let n = &status.notification;
    let phone = d.destination.as_ref().map(Destination::masked);
    let country = d.destination.as_ref().and_then(Destination::country);
    let provider_response = d.provider_response.as_deref().map(scrub);
    let (mcc, mnc) = (d.mcc.filter(|c| *c != 0), d.mnc.filter(|c| *c != 0));
    // Account-wide causes stop every user's SMS: ERROR. One number's failure: WARN.
    if class.is_account_wide() {
        tracing::error!(
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
            "SNS accepted this SMS but did not deliver it"
        );
    } else {
        tracing::warn!(
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
            "SNS accepted this SMS but did not deliver it"
        );
    }
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
        for response in CARRIER_RESPONSES {
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
