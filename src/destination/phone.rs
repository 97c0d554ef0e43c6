//! Phone numbers: E.164 validation, the masked form used in logs, and the country a number belongs to.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// A destination that passed E.164 validation (`+`, a non-zero digit, at most 15 digits in all). It keeps its
/// parse against the phone number metadata, made the first time a question needs it: one event asks about its
/// number several times (route, country, kind, prefix), and parsing is a run of regular expressions.
#[derive(Clone)]
pub struct PhoneNumber {
    e164: String,
    parsed: OnceLock<Option<phonenumber::PhoneNumber>>,
}

impl PartialEq for PhoneNumber {
    fn eq(&self, other: &Self) -> bool {
        self.e164 == other.e164
    }
}

impl Eq for PhoneNumber {}

impl Hash for PhoneNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.e164.hash(state);
    }
}

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
            Ok(PhoneNumber { e164: raw.to_owned(), parsed: OnceLock::new() })
        } else {
            Err(PhoneError::NotE164 { len: raw.chars().count() })
        }
    }

    /// The full number, for the SNS call only.
    pub fn as_e164(&self) -> &str {
        &self.e164
    }

    /// `+1******0100`: the first digit and the last four, enough to find a user's messages, not to call them.
    pub fn masked(&self) -> String {
        mask(&self.e164)
    }

    /// The number's country: [`country_of`].
    pub fn country(&self) -> Option<Country> {
        country_in(self.parsed())
    }

    /// The number's kind and validity, from the phone number metadata.
    pub fn facts(&self) -> NumberFacts {
        match self.parsed() {
            Some(n) => NumberFacts {
                kind: Some(NumberKind::of(n.number_type(&phonenumber::metadata::DATABASE))),
                valid: n.is_valid(),
            },
            None => NumberFacts { kind: None, valid: false },
        }
    }

    /// The number's prefix: `+`, the country calling code and the first `digits` digits of the national number
    /// (all of it when shorter). Numbers in one prefix share a range, which is what SMS pumping attacks walk.
    pub fn prefix(&self, digits: usize) -> String {
        let code_len = self.parsed().map_or(1, |n| n.code().value().to_string().len());
        self.e164.chars().take(1 + code_len + digits).collect()
    }

    /// The number parsed against the metadata (`None` when it does not parse), parsed once.
    fn parsed(&self) -> Option<&phonenumber::PhoneNumber> {
        self.parsed.get_or_init(|| parse_metadata(&self.e164)).as_ref()
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
/// (`+800`, `+882`…) and anything that does not parse have none. A [`PhoneNumber`] answers it without parsing
/// again ([`PhoneNumber::country`]).
pub fn country_of(e164: &str) -> Option<Country> {
    country_in(parse_metadata(e164).as_ref())
}

fn country_in(parsed: Option<&phonenumber::PhoneNumber>) -> Option<Country> {
    let parsed = parsed?;
    parsed
        .country()
        .id()
        .or_else(|| phonenumber::metadata::DATABASE.region(&parsed.code().value())?.first()?.parse().ok())
}

#[cfg(test)]
thread_local! {
    /// Parses against the metadata on this thread, for the test that a number is parsed once.
    static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `e164` parsed against the phone number metadata; `None` when it does not parse.
fn parse_metadata(e164: &str) -> Option<phonenumber::PhoneNumber> {
    #[cfg(test)]
    PARSES.set(PARSES.get() + 1);
    phonenumber::parse(None, e164).ok()
}

/// An ISO 3166-1 alpha-2 country, as the phone number metadata knows it.
pub type Country = phonenumber::country::Id;

/// The country of an ISO 3166-1 alpha-2 code (any case), when the phone number metadata knows it.
pub fn parse_country(code: &str) -> Option<Country> {
    let id: Country = code.to_ascii_uppercase().parse().ok()?;
    phonenumber::metadata::DATABASE.by_id(id.as_ref()).is_some().then_some(id)
}

/// What the phone number metadata says a number is: its kind, and whether it is valid for its country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFacts {
    /// `None` when the number does not parse against the metadata at all.
    pub kind: Option<NumberKind>,
    /// Whether the number matches a numbering plan of its country.
    pub valid: bool,
}

/// The kinds of number the metadata tells apart that matter for sending SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberKind {
    Mobile,
    FixedLine,
    /// Fixed line or mobile: the metadata cannot tell (the US, Canada…).
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    PersonalNumber,
    Voip,
    Pager,
    Uan,
    Voicemail,
    /// Anything else the metadata knows (short codes, emergency, carrier-specific) or cannot classify.
    Other,
}

impl NumberKind {
    /// Every kind, in the order of [`NumberKind::as_str`]'s names.
    pub const ALL: [NumberKind; 12] = [
        NumberKind::Mobile,
        NumberKind::FixedLine,
        NumberKind::FixedLineOrMobile,
        NumberKind::TollFree,
        NumberKind::PremiumRate,
        NumberKind::SharedCost,
        NumberKind::PersonalNumber,
        NumberKind::Voip,
        NumberKind::Pager,
        NumberKind::Uan,
        NumberKind::Voicemail,
        NumberKind::Other,
    ];

    /// The name used in settings and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::Mobile => "mobile",
            NumberKind::FixedLine => "fixed_line",
            NumberKind::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberKind::TollFree => "toll_free",
            NumberKind::PremiumRate => "premium_rate",
            NumberKind::SharedCost => "shared_cost",
            NumberKind::PersonalNumber => "personal_number",
            NumberKind::Voip => "voip",
            NumberKind::Pager => "pager",
            NumberKind::Uan => "uan",
            NumberKind::Voicemail => "voicemail",
            NumberKind::Other => "other",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<NumberKind> {
        NumberKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn of(t: phonenumber::Type) -> NumberKind {
        use phonenumber::Type;
        match t {
            Type::Mobile => NumberKind::Mobile,
            Type::FixedLine => NumberKind::FixedLine,
            Type::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            Type::TollFree => NumberKind::TollFree,
            Type::PremiumRate => NumberKind::PremiumRate,
            Type::SharedCost => NumberKind::SharedCost,
            Type::PersonalNumber => NumberKind::PersonalNumber,
            Type::Voip => NumberKind::Voip,
            Type::Pager => NumberKind::Pager,
            Type::Uan => NumberKind::Uan,
            Type::Voicemail => NumberKind::Voicemail,
            _ => NumberKind::Other,
        }
    }
}

/// A prefix as log lines carry it: its digits without the `+`, since `+` and eight digits or more reads as a
/// whole phone number to people and to the log scan, and a prefix must never pass for one.
pub fn logged_prefix(prefix: &str) -> &str {
    prefix.trim_start_matches('+')
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
    fn a_number_is_parsed_once_for_all_its_questions() {
        let before = PARSES.get();
        let gb = PhoneNumber::parse(Some("+447400123456")).unwrap();
        assert_eq!(PARSES.get() - before, 0, "not before a question needs it");
        assert_eq!(gb.country().map(|id| id.as_ref().to_owned()).as_deref(), Some("GB"));
        assert_eq!(gb.facts().kind, Some(NumberKind::Mobile));
        assert_eq!(gb.prefix(5), "+4474001");
        assert_eq!(gb.clone().country(), gb.country());
        assert_eq!(PARSES.get() - before, 1, "one number's questions parse it once");
        let odd = PhoneNumber::parse(Some("+99912345678")).unwrap();
        assert_eq!((odd.country(), odd.facts().kind, odd.prefix(2)), (None, None, "+999".into()));
        assert_eq!(PARSES.get() - before, 2, "a number that does not parse is not parsed again either");
    }

    #[test]
    fn kinds_and_prefixes_come_from_the_metadata() {
        let facts = |n: &str| PhoneNumber::parse(Some(n)).unwrap().facts();
        let prefix = |n: &str, digits| PhoneNumber::parse(Some(n)).unwrap().prefix(digits);
        let kind = |n: &str| facts(n).kind;
        assert_eq!(kind("+447400123456"), Some(NumberKind::Mobile));
        assert_eq!(kind("+12065550100"), Some(NumberKind::FixedLineOrMobile));
        assert_eq!(kind("+448001234567"), Some(NumberKind::TollFree));
        assert_eq!(kind("+449098790000"), Some(NumberKind::PremiumRate));
        assert_eq!(kind("+18005550100"), Some(NumberKind::TollFree));
        assert!(facts("+447400123456").valid && facts("+12065550100").valid);
        // Ofcom's range for drama: no person has such a number.
        assert!(!facts("+447700900123").valid);
        assert!(!facts("+44700123").valid, "too short for the UK");
        assert_eq!(facts("+99912345678"), NumberFacts { kind: None, valid: false });
        assert_eq!(prefix("+447700900123", 5), "+4477009");
        assert_eq!(prefix("+12065550100", 5), "+120655");
        assert_eq!(prefix("+35312345", 10), "+35312345");
        for k in NumberKind::ALL {
            assert_eq!(NumberKind::parse(k.as_str()), Some(k));
        }
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
