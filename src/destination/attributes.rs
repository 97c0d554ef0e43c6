//! The settings every SMS carries (type, sender ID, origination number, maximum price), and the one check of
//! each, used for the environment variables and for the routing table alike.

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
    pub sms_type: SmsType,
    pub sender_id: Option<String>,
    pub origination_number: Option<String>,
    /// USD, kept as the validated decimal text SNS expects.
    pub max_price: Option<String>,
}

impl Default for SmsAttributes {
    fn default() -> Self {
        SmsAttributes { sms_type: SmsType::Transactional, sender_id: None, origination_number: None, max_price: None }
    }
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
    }
}
