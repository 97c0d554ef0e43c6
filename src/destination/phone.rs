//! Phone numbers: E.164 validation, the masked form used in logs, and the country a number belongs to.

use std::fmt;

/// A destination that passed E.164 validation (`+`, a non-zero digit, at most 15 digits in all).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// Why a `phone_number` attribute cannot be sent to. Never carries the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the user has no phone_number attribute")]
    Missing,
    #[error("phone_number ({len} characters) is not E.164: it must be '+', a country code and the number, 8 to 15 digits, no spaces or punctuation")]
    NotE164 { len: usize },
}

impl PhoneNumber {
    /// Validates an attribute value. Spaces or dashes are refused rather than stripped: Cognito stores
    /// `phone_number` in E.164, so anything else means the attribute was written by something broken.
    pub fn parse(raw: Option<&str>) -> Result<Self, PhoneError> {
        let raw = raw.ok_or(PhoneError::Missing)?;
        if raw.is_empty() {
            return Err(PhoneError::Missing);
        }
        let digits = raw.strip_prefix('+').unwrap_or("");
        let ok =
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok {
            Ok(PhoneNumber(raw.to_owned()))
        } else {
            Err(PhoneError::NotE164 { len: raw.chars().count() })
        }
    }

    /// The full number, for the SNS call only.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// `+1******0100`: the first digit and the last four, enough to find a user's messages, not to call them.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks any string that may be a phone number, valid or not.
pub fn mask(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if digits < 8 || chars.len() > 16 {
        return "*".repeat(chars.len().min(16));
    }
    let keep_head = if chars[0] == '+' { 2 } else { 1 };
    let keep_tail = 4;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= chars.len() - keep_tail { *c } else { '*' })
        .collect()
}

/// The country (ISO 3166-1 region) of an E.164 number, from libphonenumber's metadata (the `phonenumber`
/// crate), so `+1 684…` is American Samoa and `+1 416…` Canada, which no prefix slicing gets right. A number
/// whose region the metadata cannot pin down (a new NANP area code, the fictional `555` numbers) counts as the
/// main country of its calling code (`+1` → US), which errs towards the stricter rules; non-geographic numbers
/// (`+800`, `+882`…) and anything that does not parse have none.
pub fn country_of(e164: &str) -> Option<Country> {
    let parsed = phonenumber::parse(None, e164).ok()?;
    parsed
        .country()
        .id()
        .or_else(|| phonenumber::metadata::DATABASE.region(&parsed.code().value())?.first()?.parse().ok())
}

/// An ISO 3166-1 alpha-2 country, as the phone number metadata knows it.
pub type Country = phonenumber::country::Id;

/// The country of an ISO 3166-1 alpha-2 code (any case), when the phone number metadata knows it.
pub fn parse_country(code: &str) -> Option<Country> {
    let id: Country = code.to_ascii_uppercase().parse().ok()?;
    phonenumber::metadata::DATABASE.by_id(id.as_ref()).is_some().then_some(id)
}

/// Decodes the phone number metadata, which takes a noticeable part of a cold start (bench/README.md): called
/// off the event path at init when routing needs countries, so the first message does not wait for it.
pub fn preload_metadata() {
    let _ = country_of("+12015550123");
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164() {
        for n in ["+12065550100", "+442071838750", "+819012345678", "+12345678"] {
            assert_eq!(PhoneNumber::parse(Some(n)).unwrap().as_e164(), n);
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(PhoneNumber::parse(None), Err(PhoneError::Missing));
        assert_eq!(PhoneNumber::parse(Some("")), Err(PhoneError::Missing));
        for n in [
            "12065550100",
            "+1 206 555 0100",
            "+1-206-555-0100",
            "+02065550100",
            "+1234567",
            "+1234567890123456",
            "+1206555010a",
            "++12065550100",
            " +12065550100",
            "+１２０６５５５０１００",
        ] {
            assert!(matches!(PhoneNumber::parse(Some(n)), Err(PhoneError::NotE164 { .. })), "{n:?} accepted");
        }
    }

    #[test]
    fn countries_come_from_the_number_metadata() {
        for (number, country) in [
            ("+12065550100", "US"),
            ("+14165550100", "CA"),
            ("+16845550100", "AS"),
            ("+17875550100", "PR"),
            ("+919876543210", "IN"),
            ("+447700900123", "GB"),
            ("+5511987654321", "BR"),
            ("+8613812345678", "CN"),
            ("+819012345678", "JP"),
            ("+33612345678", "FR"),
        ] {
            assert_eq!(country_of(number).map(|id| id.as_ref().to_owned()).as_deref(), Some(country), "{number}");
        }
        // Non-geographic (international freephone) and unparseable: no country.
        assert_eq!(country_of("+80012345678"), None);
        assert_eq!(country_of("not a number"), None);
        assert_eq!(parse_country("gb").map(|c| c.as_ref().to_owned()).as_deref(), Some("GB"));
        assert_eq!(parse_country("XX"), None);
        assert_eq!(parse_country("USA"), None);
    }

    #[test]
    fn masks_like_the_docs() {
        let p = PhoneNumber::parse(Some("+12065550100")).unwrap();
        assert_eq!(p.masked(), "+1******0100");
        assert_eq!(format!("{p} {p:?}"), "+1******0100 +1******0100");
        assert_eq!(mask("12345"), "*****");
        assert_eq!(mask(&"9".repeat(40)), "*".repeat(16));
    }
}
