//! The abuse gate's policy: the destinations refused outright (countries, kinds of number), the velocity limits
//! and the budget, and whether each rule enforces or only monitors. The environment gives the base policy; a
//! TOML document in the same shape (`SMS_POLICY_FILE`, or an AWS AppConfig profile) is laid over it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::destination::phone::{parse_country, Country, NumberKind};
use crate::toml_file::{self, FileError};

/// A rule of the gate: the `rule` field of a `blocked` line and the `Rule` metrics dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    Country,
    NumberType,
    PerNumber,
    PerUser,
    PerPrefix,
    PerCountry,
    Total,
    Budget,
    LowConversion,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 9] = [
        Rule::Country,
        Rule::NumberType,
        Rule::PerNumber,
        Rule::PerUser,
        Rule::PerPrefix,
        Rule::PerCountry,
        Rule::Total,
        Rule::Budget,
        Rule::LowConversion,
    ];

    /// The rule's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Country => "country",
            Rule::NumberType => "number_type",
            Rule::PerNumber => "per_number",
            Rule::PerUser => "per_user",
            Rule::PerPrefix => "per_prefix",
            Rule::PerCountry => "per_country",
            Rule::Total => "total",
            Rule::Budget => "budget",
            Rule::LowConversion => "low_conversion",
        }
    }

    fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Whether a rule refuses the message or only reports that it would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Monitor,
}

impl Mode {
    /// `enforce` or `monitor`.
    pub fn parse(v: &str) -> Result<Mode, String> {
        match v {
            "enforce" => Ok(Mode::Enforce),
            "monitor" => Ok(Mode::Monitor),
            other => Err(format!("{other:?} is not allowed; use enforce or monitor")),
        }
    }
}

/// At most `count` in each fixed `window` (for the budget, `count` is micro-USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u64,
    pub window: Duration,
}

/// The kinds of number refused by default: none of them is a person's phone, or each costs extra.
pub const DEFAULT_BLOCKED_KINDS: [NumberKind; 6] = [
    NumberKind::PremiumRate,
    NumberKind::SharedCost,
    NumberKind::TollFree,
    NumberKind::Uan,
    NumberKind::Pager,
    NumberKind::Voicemail,
];

/// `SMS_LIMIT_PER_NUMBER` when unset: ten codes an hour is five sign-in attempts with a resend each, thirty a
/// day more than any person asks for; a pumping attack that reuses numbers goes far past both.
pub const DEFAULT_PER_NUMBER: &str = "10/1h,30/1d";
/// `SMS_PREFIX_DIGITS` when unset: six national digits are a carrier's block of numbers in many plans (a
/// North American area code and exchange: 10,000 numbers), so an attack walking a range lands in one or two,
/// while a country's real users spread over thousands. Five digits put too many real users of 11-digit plans
/// (Brazil) in one prefix in the attack simulation (bench/README.md).
pub const DEFAULT_PREFIX_DIGITS: usize = 6;
/// The price of one SMS part when the policy names none for the country: an upper estimate of AWS's prices.
pub const DEFAULT_PRICE_MICRO_USD: u64 = 100_000;

/// The low-conversion rule's settings (`[quarantine]` in the policy file; `SMS_QUARANTINE` turns it on): a prefix
/// whose last `codes` judged codes were entered less than `min_conversion_percent` of the time is quarantined
/// for `cooling_off`, then let through on probation, where it is judged on its first `probation` codes; each
/// probation it fails doubles the cooling-off, up to `max_cooling_off`. Why these defaults: docs/operating.md,
/// "The low-conversion rule".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarantine {
    /// Off unless set: without the conversion triggers wired, every code looks unconverted.
    pub enabled: bool,
    /// The fewest judged codes a prefix is judged on (N); with fewer it is never quarantined.
    pub codes: u64,
    /// Conversion below this percentage of the judged codes quarantines the prefix.
    pub min_conversion_percent: u64,
    /// How long the first quarantine lasts.
    pub cooling_off: Duration,
    /// The codes a prefix on probation may have out before they are judged, and is judged on (at most `codes`).
    pub probation: u64,
    /// The longest a quarantine lasts, however many probations the prefix has failed.
    pub max_cooling_off: Duration,
}

/// The low-conversion rule when the policy says nothing but `enabled`.
pub const DEFAULT_QUARANTINE: Quarantine = Quarantine {
    enabled: false,
    codes: 10,
    min_conversion_percent: 20,
    cooling_off: Duration::from_secs(86_400),
    probation: 3,
    max_cooling_off: Duration::from_secs(7 * 86_400),
};

/// The whole policy, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The mode of every rule without its own.
    pub mode: Mode,
    /// Per-rule modes.
    pub modes: HashMap<Rule, Mode>,
    /// Whether a message goes out when the counters cannot be reached.
    pub fail_open: bool,
    /// When set, only these countries receive SMS.
    pub allowed_countries: Option<HashSet<Country>>,
    pub blocked_countries: HashSet<Country>,
    pub blocked_kinds: HashSet<NumberKind>,
    /// Refuse numbers that match no numbering plan of their country.
    pub refuse_invalid: bool,
    pub prefix_digits: usize,
    /// The velocity limits by rule (not the budget).
    pub limits: HashMap<Rule, Vec<Limit>>,
    /// Per-country overrides of the `per_country` limits.
    pub country_limits: HashMap<Country, Vec<Limit>>,
    /// Budget caps in micro-USD.
    pub budget: Vec<Limit>,
    /// Price of one SMS part per country, micro-USD.
    pub prices: HashMap<Country, u64>,
    pub default_price: u64,
    /// Numbers no rule applies to (test numbers), E.164.
    pub exempt: HashSet<String>,
    /// The low-conversion rule.
    pub quarantine: Quarantine,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Mode::Enforce,
            modes: HashMap::new(),
            fail_open: true,
            allowed_countries: None,
            blocked_countries: HashSet::new(),
            blocked_kinds: DEFAULT_BLOCKED_KINDS.into_iter().collect(),
            refuse_invalid: true,
            prefix_digits: DEFAULT_PREFIX_DIGITS,
            limits: HashMap::from([(Rule::PerNumber, parse_limits(DEFAULT_PER_NUMBER).expect("valid"))]),
            country_limits: HashMap::new(),
            budget: Vec::new(),
            prices: HashMap::new(),
            default_price: DEFAULT_PRICE_MICRO_USD,
            exempt: HashSet::new(),
            quarantine: DEFAULT_QUARANTINE,
        }
    }
}

impl Policy {
    /// The mode `rule` runs in.
    pub fn mode_of(&self, rule: Rule) -> Mode {
        self.modes.get(&rule).copied().unwrap_or(self.mode)
    }

    /// The price of one SMS part to `country`, micro-USD.
    pub fn price(&self, country: Option<Country>) -> u64 {
        country.and_then(|c| self.prices.get(&c).copied()).unwrap_or(self.default_price)
    }

    /// The `per_country` limits for `country`.
    pub fn country_limits(&self, country: Country) -> &[Limit] {
        match self.country_limits.get(&country) {
            Some(own) => own,
            None => self.limits.get(&Rule::PerCountry).map_or(&[], Vec::as_slice),
        }
    }

    /// Whether any rule needs the counters table.
    pub fn needs_counters(&self) -> bool {
        self.limits.values().any(|l| !l.is_empty())
            || !self.budget.is_empty()
            || !self.country_limits.is_empty()
            || self.quarantine.enabled
    }

    /// This policy with the TOML document `text` (from `origin`) laid over it.
    pub fn with_toml(&self, text: &str, origin: &str) -> Result<Policy, FileError> {
        let doc = toml_file::parse(text, origin)?;
        let keys = [
            "mode",
            "fail_open",
            "allowed_countries",
            "blocked_countries",
            "blocked_number_types",
            "refuse_invalid_numbers",
            "prefix_digits",
            "default_price_usd",
            "exempt_numbers",
            "limits",
            "modes",
            "countries",
            "quarantine",
        ];
        let hint = "is not a policy key; see docs/operating.md for the policy file";
        toml_file::only_keys(&doc, &keys, origin, hint)?;
        let mut policy = self.clone();
        for (key, value) in &doc {
            policy.set(key, value).map_err(|(k, reason)| FileError::new(origin, &k, reason))?;
        }
        policy.check().map_err(|(k, reason)| FileError::new(origin, &k, reason))?;
        Ok(policy)
    }

    /// Sets one top-level key of a policy document; errors are (key, reason).
    fn set(&mut self, key: &str, value: &toml::Value) -> Result<(), (String, String)> {
        let at = |reason: String| (key.to_owned(), reason);
        match key {
            "mode" => self.mode = Mode::parse(text(value).map_err(at)?).map_err(at)?,
            "fail_open" => self.fail_open = value.as_bool().ok_or_else(|| at("must be true or false".into()))?,
            "allowed_countries" => self.allowed_countries = Some(countries(&list(value).map_err(at)?).map_err(at)?),
            "blocked_countries" => self.blocked_countries = countries(&list(value).map_err(at)?).map_err(at)?,
            "blocked_number_types" => self.blocked_kinds = kinds(&list(value).map_err(at)?).map_err(at)?,
            "refuse_invalid_numbers" => {
                self.refuse_invalid = value.as_bool().ok_or_else(|| at("must be true or false".into()))?
            }
            "prefix_digits" => self.prefix_digits = whole(value, PREFIX_DIGITS).map_err(at)? as usize,
            "default_price_usd" => self.default_price = price(value).map_err(at)?,
            "exempt_numbers" => self.exempt = list(value).map_err(at)?.into_iter().collect(),
            "limits" => self.set_limits(value)?,
            "modes" => self.set_modes(value)?,
            "countries" => self.set_countries(value)?,
            "quarantine" => self.set_quarantine(value)?,
            _ => return Err(at("is not a policy key".into())),
        }
        Ok(())
    }

    fn set_limits(&mut self, value: &toml::Value) -> Result<(), (String, String)> {
        for (name, v) in table(value, "limits")? {
            let at = |r: String| (format!("limits.{name}"), r);
            if name == "budget_usd" {
                self.budget = parse_budget_limits(text(v).map_err(at)?).map_err(at)?;
                continue;
            }
            let rule = Rule::parse(name).filter(|r| velocity(*r)).ok_or_else(|| {
                at("is not a limit; the limits are per_number, per_user, per_prefix, per_country, total and budget_usd".into())
            })?;
            self.limits.insert(rule, parse_limits(text(v).map_err(at)?).map_err(at)?);
        }
        Ok(())
    }

    fn set_modes(&mut self, value: &toml::Value) -> Result<(), (String, String)> {
        for (name, v) in table(value, "modes")? {
            let key = format!("modes.{name}");
            let rule = Rule::parse(name)
                .ok_or_else(|| (key.clone(), format!("is not a rule; the rules are {}", rule_names())))?;
            self.modes.insert(rule, Mode::parse(text(v).map_err(|r| (key.clone(), r))?).map_err(|r| (key.clone(), r))?);
        }
        Ok(())
    }

    /// `[countries.<ISO code>]`: `price_usd` and `per_country` for one country.
    fn set_countries(&mut self, value: &toml::Value) -> Result<(), (String, String)> {
        for (code, section) in table(value, "countries")? {
            let key = format!("countries.{code}");
            let country = parse_country(code).ok_or_else(|| {
                (key.clone(), "is not a country the phone number metadata knows; use its ISO 3166-1 code".into())
            })?;
            for (name, v) in table(section, &key)? {
                let at = |r: String| (format!("{key}.{name}"), r);
                match name.as_str() {
                    "price_usd" => _ = self.prices.insert(country, price(v).map_err(at)?),
                    "per_country" => {
                        _ = self.country_limits.insert(country, parse_limits(text(v).map_err(at)?).map_err(at)?)
                    }
                    _ => return Err(at("is not a country setting; the settings are price_usd and per_country".into())),
                }
            }
        }
        Ok(())
    }

    /// `[quarantine]`: `enabled`, `codes`, `min_conversion` (`"20%"`), `cooling_off` (`"24h"`), `probation` and
    /// `max_cooling_off` (`"7d"`).
    fn set_quarantine(&mut self, value: &toml::Value) -> Result<(), (String, String)> {
        let duration = |v: &toml::Value| text(v).ok().and_then(window_of);
        let q = &mut self.quarantine;
        for (name, v) in table(value, "quarantine")? {
            let at = |r: &str| (format!("quarantine.{name}"), r.to_owned());
            let window = "must be a duration like \"24h\" (s, m, h or d, up to 31d)";
            match name.as_str() {
                "enabled" => q.enabled = v.as_bool().ok_or_else(|| at("must be true or false"))?,
                "codes" => q.codes = whole(v, 5..=1000).map_err(|r| at(&r))?,
                "probation" => q.probation = whole(v, 1..=1000).map_err(|r| at(&r))?,
                "min_conversion" => {
                    q.min_conversion_percent =
                        percent(v).ok_or_else(|| at("must be a percentage from 1% to 99%, like \"20%\""))?
                }
                "cooling_off" => q.cooling_off = duration(v).ok_or_else(|| at(window))?,
                "max_cooling_off" => q.max_cooling_off = duration(v).ok_or_else(|| at(window))?,
                _ => {
                    return Err(at("is not a quarantine setting; the settings are enabled, codes, min_conversion, \
                     cooling_off, probation and max_cooling_off"))
                }
            }
        }
        if q.probation > q.codes {
            return Err(("quarantine.probation".into(), format!("must be at most codes ({})", q.codes)));
        }
        if q.max_cooling_off < q.cooling_off {
            return Err(("quarantine.max_cooling_off".into(), "must be at least cooling_off".into()));
        }
        Ok(())
    }

    /// Rules that only make sense together.
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Some(c) = self.allowed_countries.as_ref().and_then(|a| a.intersection(&self.blocked_countries).next()) {
            return Err(("blocked_countries".into(), format!("{} is both allowed and blocked", c.as_ref())));
        }
        if let Some(n) = self.exempt.iter().find(|n| crate::destination::phone::PhoneNumber::parse(Some(n)).is_err()) {
            return Err((
                "exempt_numbers".into(),
                format!("{} is not an E.164 number", crate::destination::phone::mask(n)),
            ));
        }
        Ok(())
    }
}

/// Whether `rule` is a velocity limit (counted per window).
pub fn velocity(rule: Rule) -> bool {
    matches!(rule, Rule::PerNumber | Rule::PerUser | Rule::PerPrefix | Rule::PerCountry | Rule::Total)
}

fn rule_names() -> String {
    Rule::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn table<'a>(value: &'a toml::Value, key: &str) -> Result<&'a toml::Table, (String, String)> {
    value.as_table().ok_or_else(|| (key.to_owned(), "must be a table".to_owned()))
}

fn text(value: &toml::Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

fn list(value: &toml::Value) -> Result<Vec<String>, String> {
    let items = value.as_array().ok_or_else(|| "must be a list of strings".to_owned())?;
    items.iter().map(|v| text(v).map(|s| s.trim().to_owned())).collect()
}

/// The national digits a prefix may keep (`prefix_digits`, `SMS_PREFIX_DIGITS`).
pub const PREFIX_DIGITS: std::ops::RangeInclusive<u64> = 1..=10;

/// `n` when it is a whole number within `range`; the reason otherwise.
pub fn whole_within(n: Option<u64>, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    n.filter(|n| range.contains(n))
        .ok_or_else(|| format!("must be a whole number from {} to {}", range.start(), range.end()))
}

/// A TOML value that is a whole number within `range`.
fn whole(value: &toml::Value, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    whole_within(value.as_integer().and_then(|n| u64::try_from(n).ok()), range)
}

/// `"20%"`: a whole percentage from 1 to 99.
fn percent(value: &toml::Value) -> Option<u64> {
    value.as_str()?.trim().strip_suffix('%')?.trim().parse().ok().filter(|p| (1..=99).contains(p))
}

fn price(value: &toml::Value) -> Result<u64, String> {
    let usd = value.as_float().or_else(|| value.as_integer().map(|i| i as f64));
    usd.filter(|p| p.is_finite() && *p >= 0.0 && *p < 100.0)
        .map(|p| (p * 1e6).round() as u64)
        .ok_or_else(|| "must be an amount in USD, like 0.05".into())
}

/// A comma-separated list of ISO 3166-1 alpha-2 codes.
pub fn countries(codes: &[String]) -> Result<HashSet<Country>, String> {
    codes
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| {
            parse_country(c).ok_or_else(|| {
                format!("{c:?} is not an ISO 3166-1 country code the phone number metadata knows, like US or GB")
            })
        })
        .collect()
}

/// Kinds of number by name; `none` alone means none.
pub fn kinds(names: &[String]) -> Result<HashSet<NumberKind>, String> {
    if names.len() == 1 && names[0] == "none" {
        return Ok(HashSet::new());
    }
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| {
            NumberKind::parse(n).ok_or_else(|| {
                let all: Vec<&str> = NumberKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("{n:?} is not a kind of number; the kinds are {} (or none)", all.join(", "))
            })
        })
        .collect()
}

/// `COUNT/WINDOW` items, comma-separated: `5/1h,10/1d` (`s`, `m`, `h`, `d`).
pub fn parse_limits(text: &str) -> Result<Vec<Limit>, String> {
    split_limits(text, |count| count.parse::<u64>().ok().filter(|n| *n > 0))
}

/// Budget caps in USD per window: `50/1d,500/30d`, kept in micro-USD.
pub fn parse_budget_limits(text: &str) -> Result<Vec<Limit>, String> {
    split_limits(text, |usd| {
        usd.parse::<f64>().ok().filter(|p| p.is_finite() && *p > 0.0).map(|p| (p * 1e6).round() as u64)
    })
}

fn split_limits(text: &str, count: impl Fn(&str) -> Option<u64>) -> Result<Vec<Limit>, String> {
    let bad = |item: &str| {
        format!("{item:?} is not a limit: use COUNT/WINDOW items like 5/1h,10/1d (windows in s, m, h or d, up to 31d)")
    };
    let mut limits = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (n, window) = item.split_once('/').ok_or_else(|| bad(item))?;
        let limit = Limit {
            count: count(n.trim()).ok_or_else(|| bad(item))?,
            window: window_of(window.trim()).ok_or_else(|| bad(item))?,
        };
        limits.push(limit);
    }
    if limits.is_empty() {
        return Err(bad(text));
    }
    Ok(limits)
}

fn window_of(w: &str) -> Option<Duration> {
    let split = w.len().checked_sub(1)?;
    let (n, unit) = w.split_at(split);
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let secs = n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    (secs <= 31 * 86_400).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_count_and_window() {
        let l = parse_limits("5/1h, 10/1d").unwrap();
        assert_eq!(
            l,
            [
                Limit { count: 5, window: Duration::from_secs(3600) },
                Limit { count: 10, window: Duration::from_secs(86_400) }
            ]
        );
        for bad in ["", "5", "5/", "0/1h", "x/1h", "5/1w", "5/0s", "5/32d", "5/h"] {
            assert!(parse_limits(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_budget_limits("50/1d,0.5/1h").unwrap()[1].count, 500_000);
    }

    #[test]
    fn a_document_lays_over_the_policy() {
        let text = r#"
mode = "monitor"
allowed_countries = ["gb", "US"]
blocked_number_types = ["premium_rate"]
exempt_numbers = ["+447700900000"]
[limits]
per_prefix = "100/1h"
budget_usd = "50/1d"
[modes]
per_number = "enforce"
[countries.GB]
price_usd = 0.04
per_country = "1000/1h"
[quarantine]
enabled = true
codes = 20
min_conversion = "35%"
cooling_off = "2d"
probation = 5
max_cooling_off = "14d"
"#;
        let p = Policy::default().with_toml(text, "policy.toml").unwrap();
        let gb = parse_country("GB").unwrap();
        assert_eq!((p.mode_of(Rule::PerPrefix), p.mode_of(Rule::PerNumber)), (Mode::Monitor, Mode::Enforce));
        assert_eq!(p.allowed_countries.as_ref().map(|a| a.len()), Some(2));
        assert_eq!(p.blocked_kinds, HashSet::from([NumberKind::PremiumRate]));
        assert_eq!((p.price(Some(gb)), p.price(None)), (40_000, DEFAULT_PRICE_MICRO_USD));
        assert_eq!(p.country_limits(gb)[0].count, 1000);
        assert_eq!(p.limits[&Rule::PerNumber], parse_limits(DEFAULT_PER_NUMBER).unwrap());
        assert_eq!(p.budget[0].count, 50_000_000);
        let q = Quarantine {
            enabled: true,
            codes: 20,
            min_conversion_percent: 35,
            cooling_off: Duration::from_secs(172_800),
            probation: 5,
            max_cooling_off: Duration::from_secs(14 * 86_400),
        };
        assert_eq!(p.quarantine, q);
        assert!(!Policy::default().quarantine.enabled);
        let only_quarantine = Policy { limits: HashMap::new(), quarantine: q, ..Policy::default() };
        assert!(only_quarantine.needs_counters());
        assert!(p.needs_counters());
    }

    #[test]
    fn mistakes_name_the_key() {
        for (text, key) in [
            ("mode = \"block\"", "mode"),
            ("allowed_countries = [\"XX\"]", "allowed_countries"),
            ("[limits]\nper_hour = \"5/1h\"", "limits.per_hour"),
            ("[limits]\nper_number = \"5 per hour\"", "limits.per_number"),
            ("[modes]\nspeed = \"monitor\"", "modes.speed"),
            ("[countries.GB]\nprice = 1", "countries.GB.price"),
            ("allowed_countries = [\"GB\"]\nblocked_countries = [\"GB\"]", "blocked_countries"),
            ("exempt_numbers = [\"12345\"]", "exempt_numbers"),
            ("colour = 1", "colour"),
            ("[quarantine]\ncodes = 2", "quarantine.codes"),
            ("[quarantine]\nmin_conversion = 0.2", "quarantine.min_conversion"),
            ("[quarantine]\nmin_conversion = \"100%\"", "quarantine.min_conversion"),
            ("[quarantine]\ncooling_off = \"1w\"", "quarantine.cooling_off"),
            ("[quarantine]\nenabled = \"yes\"", "quarantine.enabled"),
            ("[quarantine]\nn = 5", "quarantine.n"),
            ("prefix_digits = 11", "prefix_digits"),
            ("[quarantine]\nprobation = 0", "quarantine.probation"),
            ("[quarantine]\nprobation = 11", "quarantine.probation"),
            ("[quarantine]\ncooling_off = \"8d\"", "quarantine.max_cooling_off"),
        ] {
            let e = Policy::default().with_toml(text, "p.toml").unwrap_err();
            assert_eq!((e.origin.as_str(), e.key.as_str()), ("p.toml", key), "{e}");
        }
    }
}
