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
    /// The names of the variables that are set, for the checks that refuse a name nothing reads.
    names: Vec<String>,
}

impl<'a> Env<'a> {
    /// The process environment.
    pub fn process() -> Env<'static> {
        Env::from_lookup(|k| std::env::var(k).ok()).with_process_names()
    }

    /// Settings from `lookup`, with no list of names (see [`Env::with_names`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Env { lookup: Box::new(lookup), names: Vec::new() }
    }

    /// These settings, with `names` as the variables that are set.
    pub fn with_names(self, names: impl IntoIterator<Item = String>) -> Self {
        Env { names: names.into_iter().collect(), ..self }
    }

    /// These settings, with the process environment's variables as the names that are set.
    pub fn with_process_names(self) -> Self {
        self.with_names(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
    }

    /// The set (non-empty) variables whose name starts with `prefix`, sorted.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> =
            self.names.iter().filter(|n| n.starts_with(prefix) && self.get(n).is_some()).cloned().collect();
        names.sort();
        names.dedup();
        names
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

    #[test]
    fn names_with_a_prefix_are_the_set_ones() {
        let e = env(&[("P_B", "1"), ("P_A", "1"), ("P_EMPTY", ""), ("Q_A", "1")]);
        assert!(e.names_with_prefix("P_").is_empty(), "no names without with_names");
        let e = e.with_names(["P_B", "Q_A", "P_A", "P_EMPTY", "P_UNSET"].map(String::from));
        assert_eq!(e.names_with_prefix("P_"), ["P_A", "P_B"]);
        std::env::set_var("ENV_RS_TEST_NAME", "x");
        assert!(Env::process().names_with_prefix("ENV_RS_TEST_").contains(&"ENV_RS_TEST_NAME".to_owned()));
    }
}
