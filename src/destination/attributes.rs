//! The settings every SMS carries (transport, type, sender ID, origination number or identity, maximum price,
//! configuration set, protect configuration), and the one check of each, used for the environment variables
//! and for the routing table alike.

/// The service an SMS is sent through (`SMS_TRANSPORT`, or `transport` in a route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransportKind {
    /// Amazon SNS `Publish` (the default).
    #[default]
    Sns,
    /// AWS End User Messaging SMS `SendTextMessage` (`pinpoint-sms-voice-v2`).
    EndUserMessaging,
}

impl TransportKind {
    /// The name used in settings: `sns` or `end-user-messaging`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Sns => "sns",
            TransportKind::EndUserMessaging => "end-user-messaging",
        }
    }

    /// Reads `sns` or `end-user-messaging`.
    pub fn parse(v: &str) -> Result<TransportKind, String> {
        match v {
            "sns" => Ok(TransportKind::Sns),
            "end-user-messaging" => Ok(TransportKind::EndUserMessaging),
            other => Err(format!("{other:?} is not a transport; use \"sns\" or \"end-user-messaging\"")),
        }
    }
}

/// `AWS.SNS.SMS.SMSType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsType {
    Transactional,
    Promotional,
}

impl SmsType {
    /// The name SNS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsType::Transactional => "Transactional",
            SmsType::Promotional => "Promotional",
        }
    }

    /// Reads `Transactional` or `Promotional` (as SNS spells them).
    pub fn parse(v: &str) -> Result<SmsType, String> {
        match v {
            "Transactional" => Ok(SmsType::Transactional),
            "Promotional" => Ok(SmsType::Promotional),
            other => Err(format!("{other:?} is not allowed; use \"Transactional\" or \"Promotional\"")),
        }
    }
}

/// The message attributes the environment sets for every message (the routing table's default route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsAttributes {
    pub transport: TransportKind,
    pub sms_type: SmsType,
    pub sender_id: Option<String>,
    pub origination_number: Option<String>,
    /// USD, kept as the validated decimal text SNS expects.
    pub max_price: Option<String>,
    /// End User Messaging only: a phone number, pool or sender ID, by ID or ARN (`ORIGINATION_IDENTITY`).
    pub origination_identity: Option<String>,
    /// End User Messaging only: the configuration set, by name or ARN (`SMS_CONFIGURATION_SET`).
    pub configuration_set: Option<String>,
    /// End User Messaging only: the protect configuration, by ID or ARN (`SMS_PROTECT_CONFIGURATION_ID`).
    pub protect_configuration_id: Option<String>,
}

impl Default for SmsAttributes {
    fn default() -> Self {
        SmsAttributes {
            transport: TransportKind::Sns,
            sms_type: SmsType::Transactional,
            sender_id: None,
            origination_number: None,
            max_price: None,
            origination_identity: None,
            configuration_set: None,
            protect_configuration_id: None,
        }
    }
}

/// An End User Messaging resource (origination identity, configuration set, protect configuration) by ID, name
/// or ARN: 1-256 letters, digits and `_ - : / + .`, as the API's patterns allow.
pub fn check_resource_id(v: &str) -> Result<(), String> {
    let ok = (1..=256).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-:/+.".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        format!(
            "{v:?} is not an End User Messaging ID, name or ARN: 1-256 letters, digits, '_', '-', ':', '/', '+', '.'"
        )
    })
}

/// An alphanumeric sender ID: 3-11 letters, digits or hyphens, at least one letter.
pub fn check_sender_id(v: &str) -> Result<(), String> {
    let ok = (3..=11).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && v.bytes().any(|b| b.is_ascii_alphabetic());
    ok.then_some(())
        .ok_or_else(|| format!("{v:?} is not a sender ID: 3-11 letters, digits or hyphens with at least one letter"))
}

/// An origination number (phone number or short code): 5-14 digits, optional leading `+`.
pub fn check_origination_number(v: &str) -> Result<(), String> {
    let digits = v.strip_prefix('+').unwrap_or(v);
    let ok = (5..=14).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(()).ok_or_else(|| {
        format!("{v:?} is not an origination number: 5-14 digits with an optional leading +, an origination identity of this account")
    })
}

/// A maximum price in USD: a positive decimal like `0.50`.
pub fn check_max_price(v: &str) -> Result<(), String> {
    let ok = v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|b| *b == b'.').count() <= 1
        && v.parse::<f64>().is_ok_and(|p| p > 0.0 && p.is_finite());
    ok.then_some(()).ok_or_else(|| format!("{v:?} is not a price: a positive amount in USD, like 0.50"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_says_what_is_allowed() {
        assert!(check_sender_id("MyApp-1").is_ok());
        assert!(check_sender_id("AB").unwrap_err().contains("is not a sender ID"));
        assert!(check_sender_id("123456").unwrap_err().contains("at least one letter"));
        assert!(check_origination_number("+18445550100").is_ok() && check_origination_number("12345").is_ok());
        assert!(check_origination_number("+1-844-555").unwrap_err().contains("5-14 digits"));
        assert!(check_max_price("0.50").is_ok());
        for bad in ["-1", "0", "1e3", "1.2.3", ""] {
            assert!(check_max_price(bad).unwrap_err().contains("positive amount"), "{bad}");
        }
        assert_eq!(SmsType::parse("Promotional"), Ok(SmsType::Promotional));
        assert!(SmsType::parse("transactional").unwrap_err().contains("Transactional"));
        assert_eq!(TransportKind::parse("end-user-messaging"), Ok(TransportKind::EndUserMessaging));
        assert_eq!(TransportKind::parse(TransportKind::Sns.as_str()), Ok(TransportKind::Sns));
        assert!(TransportKind::parse("eum").unwrap_err().contains("end-user-messaging"));
        assert!(check_resource_id("pool-0123456789abcdef").is_ok());
        assert!(check_resource_id("arn:aws:sms-voice:us-east-1:111122223333:configuration-set/otp").is_ok());
        for bad in ["", "my set", &"x".repeat(257)] {
            assert!(check_resource_id(bad).unwrap_err().contains("is not an End User Messaging ID"), "{bad}");
        }
    }
}
