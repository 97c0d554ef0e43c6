//! Failure classes: what a failed delivery means, and what to do about it. SNS's records say it in a
//! `providerResponse` text, End User Messaging's events in an `eventType`; both land in the same classes.

use std::fmt;

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
    /// The carrier or handset refused the message or could not be reached (End User Messaging: also a message
    /// whose `TimeToLive` ran out first).
    CarrierFailure,
    /// End User Messaging's protect configuration blocked the message (`TEXT_PROTECT_BLOCKED`).
    ProtectBlocked,
    /// A reason this watcher does not know, or a record it could not read.
    Unknown,
}

/// `providerResponse` texts SNS documents for failed SMS ("SMS delivery failure reasons", SNS Developer
/// Guide), older wordings included, that the carrier or handset is behind. Compared without case.
pub(super) const CARRIER_RESPONSES: [&str; 15] = [
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
    pub const ALL: [FailureClass; 8] = [
        FailureClass::SpendingLimitReached,
        FailureClass::OptedOut,
        FailureClass::SnsSandbox,
        FailureClass::AccountUnderReview,
        FailureClass::MaxPriceExceeded,
        FailureClass::CarrierFailure,
        FailureClass::ProtectBlocked,
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
            FailureClass::ProtectBlocked => "ProtectBlocked",
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
                | FailureClass::ProtectBlocked
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
            FailureClass::ProtectBlocked => "End User Messaging's protect configuration blocked the message (its country rules, or the filter for artificially inflated traffic): check the rules of SMS_PROTECT_CONFIGURATION_ID, the configuration set's or the account default protect configuration",
            FailureClass::Unknown => "the service gave a reason this watcher does not classify: read provider_response",
        }
    }
}

/// What an End User Messaging SMS event says about its message
/// (<https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Still on its way: queued, pending, accepted by the carrier with a delivery receipt to come, a failure the
    /// service retries (`isFinal` false), or not an SMS event. Counted neither as delivered nor as failed, so a
    /// message counts once, at its final event.
    Interim,
    /// Delivered (or, where carriers send no receipt, accepted by the carrier as the final event).
    Delivered,
    /// Failed, in this class.
    Failed(FailureClass),
}

/// End User Messaging's failure event types that the carrier or the handset is behind (an invalid number or
/// body, blocked, spam, unreachable, the `TimeToLive` run out).
const CARRIER_EVENTS: [&str; 8] = [
    "TEXT_BLOCKED",
    "TEXT_CARRIER_BLOCKED",
    "TEXT_SPAM",
    "TEXT_CARRIER_UNREACHABLE",
    "TEXT_UNREACHABLE",
    "TEXT_INVALID",
    "TEXT_INVALID_MESSAGE",
    "TEXT_TTL_EXPIRED",
];

impl Fate {
    /// The fate of an event of `event_type`, final or not (`isFinal`), with its `messageStatusDescription`.
    /// A `TEXT_UNKNOWN` (or a failure type this watcher does not know) is classified by its description as
    /// SNS's texts are, so an opted-out number or a spend limit is named the same way on both transports.
    pub fn of_event(event_type: &str, is_final: bool, description: &str) -> Fate {
        match event_type {
            _ if !event_type.starts_with("TEXT_") => Fate::Interim,
            "TEXT_QUEUED" | "TEXT_PENDING" => Fate::Interim,
            "TEXT_DELIVERED" | "TEXT_SUCCESSFUL" if is_final => Fate::Delivered,
            _ if !is_final => Fate::Interim,
            "TEXT_PROTECT_BLOCKED" => Fate::Failed(FailureClass::ProtectBlocked),
            t if CARRIER_EVENTS.contains(&t) => Fate::Failed(FailureClass::CarrierFailure),
            _ => Fate::Failed(FailureClass::of(description)),
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
