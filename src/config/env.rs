//! The one way settings are read from the environment: an empty value counts as unset, switches are `on` or
//! `off`, durations are whole seconds within bounds. Every error names the variable.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::ConfigError;

/// Reads one variable as it is set.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// A source of settings: the process environment, or a map in tests and local runs.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Env<'a> {
    /// The process environment.
    pub fn process() -> Env<'static> {
        Env::from_lookup(|k| std::env::var(k).ok())
    }

    /// Settings from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Env { lookup: Box::new(lookup) }
    }

    /// The value of `name`; empty or blank counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name` exactly as set, empty included (for values where blank is meaningful).
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// An `on`/`off` switch, `default` when unset.
    pub fn on_off(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("on") => Ok(true),
            Some("off") => Ok(false),
            Some(other) => Err(ConfigError::new(name, format!("{other:?} is not allowed; use on or off"))),
        }
    }

    /// A whole number of seconds within `allowed`, `default` when unset.
    pub fn seconds(&self, name: &str, default: u64, allowed: RangeInclusive<u64>) -> Result<Duration, ConfigError> {
        let Some(v) = self.get(name) else {
            return Ok(Duration::from_secs(default));
        };
        match v.trim().parse::<u64>() {
            Ok(s) if allowed.contains(&s) => Ok(Duration::from_secs(s)),
            _ => Err(ConfigError::new(
                name,
                format!("must be a whole number of seconds from {} to {}", allowed.start(), allowed.end()),
            )),
        }
    }

    /// Parses the value of `name` with `parse` (which gives the reason when it refuses), `None` when unset.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name).map(|v| parse(&v).map_err(|reason| ConfigError::new(name, reason))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<'static> {
        Env::from_lookup(move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn empty_is_unset_and_errors_name_the_variable() {
        let e = env(&[("A", " "), ("B", "on"), ("C", "yes"), ("D", "30"), ("E", "5")]);
        assert_eq!(e.get("A"), None);
        assert_eq!(e.raw("A").as_deref(), Some(" "));
        assert_eq!(e.on_off("A", true), Ok(true));
        assert_eq!(e.on_off("B", false), Ok(true));
        assert_eq!(e.on_off("C", true).unwrap_err().variable, "C");
        assert_eq!(e.seconds("D", 1, 10..=60), Ok(Duration::from_secs(30)));
        assert_eq!(e.seconds("Z", 15, 10..=60), Ok(Duration::from_secs(15)));
        let err = e.seconds("E", 15, 10..=60).unwrap_err();
        assert_eq!(err.to_string(), "E: must be a whole number of seconds from 10 to 60");
        assert_eq!(e.parsed("D", |v| v.parse::<u8>().map_err(|e| e.to_string())), Ok(Some(30)));
    }
}
