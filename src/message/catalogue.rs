//! The message catalogue: one template per trigger source and locale, checked whole at init.
//!
//! The catalogue is a TOML file (`SMS_TEMPLATES_FILE`), or the one built into the binary
//! (`catalogue/default.toml`) when that is unset:
//!
//! ```toml
//! default_locale = "en"
//! [variables]                 # operator text, usable as {app_name}
//! app_name = "Example"
//! [messages.en]               # the default locale needs every trigger source
//! SignUp = "{app_name}: your code is {####}."
//! [messages.pt-BR]            # other locales may leave sources out: they fall back
//! SignUp = "{app_name}: seu código é {####}."
//! ```
//!
//! `SMS_TEMPLATE_<SOURCE>` and `SMS_TEMPLATE` still work: they replace the **default locale's** message for
//! that source (the specific variable first; the general one is not applied to the takeover notice). Users
//! whose locale selects another language of the catalogue keep that language's message.
//!
//! Variables (`{name}`) come from `SMS_VAR_<NAME>` or the `[variables]` table, the environment winning. They
//! are written into the templates at init, so sending stays one pass over each template's segments and a user
//! name that contains `{####}` is printed, never expanded.
//!
//! Which locale: the app's choice through an allowlisted `clientMetadata` key (`SMS_LOCALE_METADATA_KEY`),
//! used only when its value names one of the catalogue's locales; else the user's `locale` attribute, tried as
//! written and then without its last subtag (`pt-BR` → `pt`), case-insensitively and with `_` read as `-`;
//! then the default locale. Neither value is ever printed into a message.

use std::collections::HashMap;

use super::event::{Request, TriggerSource};
use super::sms_parts::{analyse, Encoding};
use super::template::{Template, TemplateError};
use crate::toml_file::{self, FileError, ENV_ORIGIN};

/// The built-in catalogue, compiled into the binary.
pub const BUILT_IN: &str = include_str!("../../catalogue/default.toml");
/// How errors name the built-in catalogue.
pub const BUILT_IN_ORIGIN: &str = "catalogue/default.toml (built in)";

/// `MAX_SMS_PARTS` when unset: every message must fit one SMS.
pub const DEFAULT_MAX_SMS_PARTS: usize = 1;
/// SNS accepts at most 1600 bytes per Publish, about 10 GSM-7 parts.
pub const MAX_MAX_SMS_PARTS: usize = 10;

/// The code assumed when checking a template's size: Cognito's codes have 6 digits; 8 leaves room.
pub const ASSUMED_CODE: &str = "12345678";
/// The temporary password assumed for `AdminCreateUser`: 16 characters, each counted as a GSM-7 extension
/// character (2 septets), so any password of up to 16 of Cognito's allowed characters fits, except one with a
/// backtick, which GSM-7 lacks and which turns the invitation into UCS-2. Cognito generates temporary passwords
/// as long as the pool's minimum password length (8 unless changed); an administrator may set longer ones,
/// which then take more parts. SNS still sends such a message, as more parts.
pub const ASSUMED_PASSWORD: &str = "{{{{{{{{{{{{{{{{";
/// The sign-in name assumed for `{username}`: 32 GSM-7 characters. A phone number has at most 16; longer
/// e-mail addresses or names with characters outside GSM-7 take more room, and may take another part.
pub const ASSUMED_USERNAME: &str = "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu";

/// One language of the catalogue.
#[derive(Debug, Clone)]
struct Locale {
    /// As written in the catalogue, which is what [`Catalogue::template`] reports.
    tag: String,
    templates: HashMap<TriggerSource, Template>,
}

/// The checked catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    origin: String,
    locales: Vec<Locale>,
    /// Normalised tag (lower case, `-`) → index in `locales`.
    index: HashMap<String, usize>,
    default: usize,
    metadata_key: Option<String>,
    max_sms_parts: usize,
}

/// The prefix of the settings that replace one trigger source's message: `SMS_TEMPLATE_<SOURCE>`.
pub const TEMPLATE_PREFIX: &str = "SMS_TEMPLATE_";

/// Settings lookup: `SMS_TEMPLATE…`, `SMS_VAR_…`, `MAX_SMS_PARTS`, `SMS_LOCALE_METADATA_KEY`. Empty values
/// must already read as unset (the configuration's environment lookup does that).
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Turns a message's text into a checked template for its trigger source: variables written in, the code
/// placeholder required where Cognito sends a code, the size checked against `MAX_SMS_PARTS`.
struct TemplateParser<'a> {
    origin: &'a str,
    variables: HashMap<String, String>,
    lookup: Lookup<'a>,
    max_sms_parts: usize,
}

impl TemplateParser<'_> {
    fn variable(&self, name: &str) -> Option<String> {
        if !is_variable_name(name) || name == "username" {
            return None;
        }
        (self.lookup)(&format!("SMS_VAR_{}", name.to_ascii_uppercase())).or_else(|| self.variables.get(name).cloned())
    }

    fn explain(&self, e: TemplateError) -> String {
        let mut known: Vec<&str> = self.variables.keys().map(String::as_str).collect();
        known.sort_unstable();
        match &e {
            TemplateError::UnknownPlaceholder(_) if known.is_empty() => format!("{e}; no variables are defined"),
            TemplateError::UnknownPlaceholder(_) => format!("{e}; [variables] defines {}", known.join(", ")),
            _ => e.to_string(),
        }
    }

    fn parse(&self, text: &str, source: &TriggerSource) -> Result<Template, String> {
        let variable = |name: &str| self.variable(name);
        let t = Template::parse_with_variables(text, source.carries_code(), &variable).map_err(|e| self.explain(e))?;
        if !source.carries_code() && t.uses_code() {
            return Err("uses {####}, but Cognito sends no code with this notice".into());
        }
        check_parts(&t, source, self.max_sms_parts)?;
        Ok(t)
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> FileError {
        FileError::new(self.origin, key, reason)
    }
}

impl Catalogue {
    /// Loads the catalogue named by `SMS_TEMPLATES_FILE` (or the built-in one), applies `SMS_TEMPLATE…` and
    /// `SMS_VAR_…`, and checks every message against `MAX_SMS_PARTS`. `SMS_LOCALE_METADATA_KEY` names the
    /// `clientMetadata` key an app may choose the locale with. `lookup` reads empty values as unset.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Catalogue, FileError> {
        match lookup("SMS_TEMPLATES_FILE") {
            None => Self::from_toml(BUILT_IN, BUILT_IN_ORIGIN, lookup),
            Some(path) => Self::from_toml(&toml_file::read(&path, "SMS_TEMPLATES_FILE")?, &path, lookup),
        }
    }

    /// Parses and checks catalogue `text`; `origin` names it in errors. Settings (`SMS_TEMPLATE…`, `SMS_VAR_…`,
    /// `MAX_SMS_PARTS`, `SMS_LOCALE_METADATA_KEY`) come from `lookup`, which reads empty values as unset.
    pub fn from_toml(
        text: &str,
        origin: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Catalogue, FileError> {
        let max_sms_parts = max_sms_parts(&lookup)?;
        let metadata_key = metadata_key(&lookup)?;
        let doc = toml_file::parse(text, origin)?;
        let hint = "is not a catalogue key; the keys are default_locale, [variables] and [messages.<locale>]";
        toml_file::only_keys(&doc, &["default_locale", "variables", "messages"], origin, hint)?;
        let variables = read_variables(&doc, origin)?;
        let parser = TemplateParser { origin, variables, lookup: &lookup, max_sms_parts };
        let (mut locales, index) = read_locales(&doc, &parser)?;
        let default = default_locale(&doc, &parser, &index)?;
        apply_overrides(&mut locales[default], &parser)?;
        check_complete(&locales[default], &parser)?;
        Ok(Catalogue { origin: origin.to_owned(), locales, index, default, metadata_key, max_sms_parts })
    }

    /// The template for `source` and the catalogue locale it is in, or `None` for an unknown source.
    ///
    /// `metadata_locale` (the app's choice) wins when it names one of the catalogue's locales; anything else
    /// in it is ignored. Otherwise `user_locale` (the `locale` attribute) is tried as written, then without
    /// its last subtag, until a locale with a message for `source` is found; the default locale ends the chain.
    pub fn template(
        &self,
        source: &TriggerSource,
        user_locale: Option<&str>,
        metadata_locale: Option<&str>,
    ) -> Option<(&Template, &str)> {
        let chosen = metadata_locale.and_then(normalise_tag).filter(|n| self.index.contains_key(n));
        let wanted = chosen.or_else(|| user_locale.and_then(normalise_tag));
        if let Some(mut tag) = wanted {
            loop {
                if let Some(found) = self
                    .index
                    .get(tag.as_str())
                    .map(|&i| &self.locales[i])
                    .and_then(|l| l.templates.get(source).map(|t| (t, l.tag.as_str())))
                {
                    return Some(found);
                }
                match tag.rfind('-') {
                    Some(i) => tag.truncate(i),
                    None => break,
                }
            }
        }
        let default = &self.locales[self.default];
        default.templates.get(source).map(|t| (t, default.tag.as_str()))
    }

    /// [`Catalogue::template`] with the locales taken from the event's request: the user's `locale` attribute
    /// and, when `SMS_LOCALE_METADATA_KEY` is set, that `clientMetadata` value.
    pub fn template_for(&self, source: &TriggerSource, request: &Request) -> Option<(&Template, &str)> {
        let user_locale = request.user_attributes.get("locale").map(String::as_str);
        let metadata_locale = self
            .metadata_key
            .as_deref()
            .and_then(|k| request.client_metadata.as_ref().and_then(|m| m.get(k)).map(String::as_str));
        self.template(source, user_locale, metadata_locale)
    }

    /// The default locale, as written in the catalogue.
    pub fn default_locale(&self) -> &str {
        &self.locales[self.default].tag
    }

    /// Every locale of the catalogue, as written, in file order.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.locales.iter().map(|l| l.tag.as_str())
    }

    /// Where the catalogue came from: the file path or the built-in name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `SMS_LOCALE_METADATA_KEY`, when set.
    pub fn metadata_key(&self) -> Option<&str> {
        self.metadata_key.as_deref()
    }

    /// `MAX_SMS_PARTS`: the most SMS parts any message may take with the assumed values filled in.
    pub fn max_sms_parts(&self) -> usize {
        self.max_sms_parts
    }
}

/// `MAX_SMS_PARTS`: 1 to [`MAX_MAX_SMS_PARTS`].
fn max_sms_parts(lookup: &dyn Fn(&str) -> Option<String>) -> Result<usize, FileError> {
    let Some(v) = lookup("MAX_SMS_PARTS") else {
        return Ok(DEFAULT_MAX_SMS_PARTS);
    };
    v.trim().parse::<usize>().ok().filter(|n| (1..=MAX_MAX_SMS_PARTS).contains(n)).ok_or_else(|| {
        FileError::new(
            ENV_ORIGIN,
            "MAX_SMS_PARTS",
            format!("{v:?} is not allowed; use a whole number of SMS parts from 1 to {MAX_MAX_SMS_PARTS}"),
        )
    })
}

/// `SMS_LOCALE_METADATA_KEY`: a `clientMetadata` key name.
fn metadata_key(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, FileError> {
    let Some(k) = lookup("SMS_LOCALE_METADATA_KEY") else {
        return Ok(None);
    };
    let ok = k.len() <= 64 && !k.chars().any(|c| c.is_whitespace() || c.is_control());
    let reason = "must be a clientMetadata key name: at most 64 characters, no spaces";
    ok.then_some(Some(k)).ok_or_else(|| FileError::new(ENV_ORIGIN, "SMS_LOCALE_METADATA_KEY", reason))
}

/// The `[variables]` table: `name = "text"` pairs, names checked.
fn read_variables(doc: &toml::Table, origin: &str) -> Result<HashMap<String, String>, FileError> {
    let mut variables = HashMap::new();
    let Some(v) = doc.get("variables") else {
        return Ok(variables);
    };
    let table =
        v.as_table().ok_or_else(|| FileError::new(origin, "variables", "must be a table of name = \"text\" pairs"))?;
    for (name, value) in table {
        let key = format!("variables.{name}");
        if !is_variable_name(name) {
            return Err(FileError::new(origin, &key, "is not a variable name: use lower-case letters, digits and _, starting with a letter, at most 32 characters"));
        }
        if name == "username" {
            return Err(FileError::new(origin, &key, "is reserved: {username} is the user's sign-in name"));
        }
        let value = value.as_str().ok_or_else(|| FileError::new(origin, &key, "must be a string"))?;
        variables.insert(name.clone(), value.to_owned());
    }
    Ok(variables)
}

/// The `[messages.<locale>]` tables, each checked, with the index of their normalised tags.
fn read_locales(doc: &toml::Table, p: &TemplateParser) -> Result<(Vec<Locale>, HashMap<String, usize>), FileError> {
    let messages = doc
        .get("messages")
        .ok_or_else(|| p.err("messages", "is missing: the catalogue needs [messages.<locale>] tables"))?
        .as_table()
        .ok_or_else(|| p.err("messages", "must be a table of locales, like [messages.en]"))?;
    let mut locales: Vec<Locale> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (tag, table) in messages {
        let key = format!("messages.{tag}");
        let norm = normalise_tag(tag)
            .filter(|n| is_locale_tag(n) && !tag.contains(['.', '@']))
            .ok_or_else(|| p.err(&key, "is not a locale tag: use a language code, optionally with a script or region, like en, pt-BR or zh-Hant-TW"))?;
        if let Some(&i) = index.get(&norm) {
            return Err(p.err(&key, format!("is the same locale as messages.{}", locales[i].tag)));
        }
        let templates = read_locale(table, &key, p)?;
        index.insert(norm, locales.len());
        locales.push(Locale { tag: tag.clone(), templates });
    }
    Ok((locales, index))
}

/// One `[messages.<locale>]` table at `key`.
fn read_locale(
    table: &toml::Value,
    key: &str,
    p: &TemplateParser,
) -> Result<HashMap<TriggerSource, Template>, FileError> {
    let table = table.as_table().ok_or_else(|| p.err(key, "must be a table of TriggerSource = \"message\" pairs"))?;
    let mut templates = HashMap::new();
    for (name, value) in table {
        let key = format!("{key}.{name}");
        let source = TriggerSource::from_suffix(name).map_err(|r| p.err(&key, r))?;
        let text = value.as_str().ok_or_else(|| p.err(&key, "must be a string"))?;
        templates.insert(source.clone(), p.parse(text, &source).map_err(|r| p.err(&key, r))?);
    }
    Ok(templates)
}

/// The index of `default_locale`, which must name one of the tables.
fn default_locale(doc: &toml::Table, p: &TemplateParser, index: &HashMap<String, usize>) -> Result<usize, FileError> {
    let tag = doc
        .get("default_locale")
        .ok_or_else(|| p.err("default_locale", "is missing: name the locale used when the user's locale is not in the catalogue, like default_locale = \"en\""))?
        .as_str()
        .ok_or_else(|| p.err("default_locale", "must be a string"))?;
    normalise_tag(tag)
        .and_then(|n| index.get(&n).copied())
        .ok_or_else(|| p.err("default_locale", format!("{tag:?} has no [messages.{tag}] table")))
}

/// `SMS_TEMPLATE_<SOURCE>`, else `SMS_TEMPLATE` (not for the takeover notice), replaces the default
/// locale's message. A refusal of `SMS_TEMPLATE` names the message it was refused for and the variable that
/// gives that message its own wording.
fn apply_overrides(default: &mut Locale, p: &TemplateParser) -> Result<(), FileError> {
    for source in TriggerSource::KNOWN {
        let specific = format!("{TEMPLATE_PREFIX}{}", source.env_suffix());
        if let Some(text) = (p.lookup)(&specific) {
            let template = p.parse(&text, &source).map_err(|r| FileError::new(ENV_ORIGIN, &specific, r))?;
            default.templates.insert(source, template);
        } else if let Some(text) = source.carries_code().then(|| (p.lookup)("SMS_TEMPLATE")).flatten() {
            let template = p.parse(&text, &source).map_err(|r| {
                let reason = format!("{r} (as the {} message; set {specific} to word that one apart)", source.suffix());
                FileError::new(ENV_ORIGIN, "SMS_TEMPLATE", reason)
            })?;
            default.templates.insert(source, template);
        }
    }
    Ok(())
}

/// The default locale is the last fallback: it needs a message for every trigger source.
fn check_complete(default: &Locale, p: &TemplateParser) -> Result<(), FileError> {
    match TriggerSource::KNOWN.iter().find(|s| !default.templates.contains_key(s)) {
        None => Ok(()),
        Some(missing) => Err(p.err(
            &format!("messages.{}.{}", default.tag, missing.suffix()),
            format!(
                "is missing: the default locale is the last fallback, so it needs a message for every trigger source (or set SMS_TEMPLATE_{})",
                missing.env_suffix()
            ),
        )),
    }
}

/// Refuses a template that could take more than `max` parts with the assumed code, password and name.
/// How `t` measures with the assumed code (or password) and `username` filled in: what a message of `source`
/// is expected to take before its code is known.
pub fn estimate(t: &Template, source: &TriggerSource, username: &str) -> crate::message::sms_parts::SmsInfo {
    let password = *source == TriggerSource::AdminCreateUser;
    analyse(&t.render(if password { ASSUMED_PASSWORD } else { ASSUMED_CODE }, username))
}

fn check_parts(t: &Template, source: &TriggerSource, max: usize) -> Result<(), String> {
    let password = *source == TriggerSource::AdminCreateUser;
    let info = estimate(t, source, ASSUMED_USERNAME);
    if info.parts <= max {
        return Ok(());
    }
    let mut assumed = Vec::new();
    if t.uses_code() {
        assumed.push(if password { "a 16-character temporary password" } else { "an 8-digit code" });
    }
    if t.uses_username() {
        assumed.push("a 32-character user name");
    }
    let assumed = if assumed.is_empty() { String::new() } else { format!(" with {} filled in", assumed.join(" and ")) };
    let why = match (info.encoding, info.first_non_gsm) {
        (Encoding::Ucs2, Some(c)) => format!(
            "it is sent in UCS-2 because of {c:?}, which GSM-7 lacks, so one part holds 70 characters; write it without {c:?} to get 160, shorten it, or raise MAX_SMS_PARTS"
        ),
        _ => "one GSM-7 part holds 160 characters ({ } [ ] ~ \\ ^ | and the euro sign count twice); shorten it or raise MAX_SMS_PARTS".into(),
    };
    Err(format!(
        "takes {} SMS parts ({} {} units){assumed}, more than MAX_SMS_PARTS={max}: {why}",
        info.parts, info.units, info.encoding
    ))
}

fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 32
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A locale value as a lookup key: trimmed, POSIX suffixes (`.UTF-8`, `@latin`) dropped, `_` read as `-`,
/// lower case. `None` for anything that cannot be a tag, so user-supplied text never reaches further.
fn normalise_tag(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.split(['.', '@']).next().unwrap_or("");
    let ok =
        !raw.is_empty() && raw.len() <= 35 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| raw.replace('_', "-").to_ascii_lowercase())
}

/// A BCP 47 language tag in the shape catalogues use: a 2-3 letter language, then subtags of 1-8 letters or
/// digits (script, region, variant).
fn is_locale_tag(norm: &str) -> bool {
    let mut parts = norm.split('-');
    let lang_ok =
        parts.next().is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The English messages as the README's "Default messages" table shows them: the code must say the same.
    fn readme_english(source: &TriggerSource) -> String {
        let readme = include_str!("../../README.md");
        let table = &readme[readme.find("| Source | Message |").expect("the README table")..];
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|cells| cells[1] == source.suffix())
            .map(|cells| cells[2].to_owned())
            .unwrap_or_else(|| panic!("{source} is not in the README table"))
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn built_in() -> Catalogue {
        Catalogue::load(env(&[])).expect("the built-in catalogue is valid")
    }

    /// A small catalogue with a regional and a language-only locale, to walk the fallback chain.
    const CHAIN: &str = r#"
default_locale = "en"
[messages.en]
SignUp = "EN {####}"
ResendCode = "EN resend {####}"
ForgotPassword = "EN forgot {####}"
UpdateUserAttribute = "EN update {####}"
VerifyUserAttribute = "EN verify {####}"
Authentication = "EN auth {####}"
AdminCreateUser = "EN invite {username} {####}"
AccountTakeOverNotification = "EN takeover"
[messages.pt]
SignUp = "PT {####}"
ResendCode = "PT reenviar {####}"
[messages.pt-BR]
SignUp = "BR {####}"
[messages.es]
SignUp = "ES {####}"
"#;

    fn chain() -> Catalogue {
        Catalogue::from_toml(CHAIN, "chain.toml", env(&[])).unwrap()
    }

    fn pick(c: &Catalogue, s: TriggerSource, user: Option<&str>, meta: Option<&str>) -> String {
        let (t, locale) = c.template(&s, user, meta).unwrap();
        format!("{locale}: {}", t.render("1", "u").as_str())
    }

    #[test]
    fn locale_falls_back_step_by_step() {
        let c = chain();
        // Exact, case-insensitively, with _ read as -, and POSIX suffixes dropped.
        for user in ["pt-BR", "pt-br", "PT_BR", "pt_BR.UTF-8", " pt-BR "] {
            assert_eq!(pick(&c, TriggerSource::SignUp, Some(user), None), "pt-BR: BR 1", "{user}");
        }
        // pt-BR has no ResendCode: its parent pt has.
        assert_eq!(pick(&c, TriggerSource::ResendCode, Some("pt-BR"), None), "pt: PT reenviar 1");
        // Neither has ForgotPassword: the default locale.
        assert_eq!(pick(&c, TriggerSource::ForgotPassword, Some("pt-BR"), None), "en: EN forgot 1");
        // A region the catalogue lacks falls to the language, then to the default.
        assert_eq!(pick(&c, TriggerSource::SignUp, Some("pt-PT"), None), "pt: PT 1");
        assert_eq!(pick(&c, TriggerSource::SignUp, Some("es-419"), None), "es: ES 1");
        assert_eq!(pick(&c, TriggerSource::SignUp, Some("zh-Hant-TW"), None), "en: EN 1");
        // No locale, an empty one, or one that cannot be a tag: the default.
        for user in [None, Some(""), Some("pt BR"), Some("../../etc"), Some("{####}")] {
            assert_eq!(pick(&c, TriggerSource::SignUp, user, None), "en: EN 1", "{user:?}");
        }
        assert!(c.template(&TriggerSource::Unknown("x".into()), Some("pt"), None).is_none());
    }

    #[test]
    fn metadata_locale_is_used_only_when_it_names_a_catalogue_locale() {
        let c = chain();
        assert_eq!(pick(&c, TriggerSource::SignUp, Some("es"), Some("pt-BR")), "pt-BR: BR 1");
        // The chosen locale keeps its own fallback chain.
        assert_eq!(pick(&c, TriggerSource::ResendCode, Some("es"), Some("pt_br")), "pt: PT reenviar 1");
        // Not a locale of the catalogue (though pt-PT would fall back to pt for a user): ignored entirely, the
        // user's locale decides.
        assert_eq!(pick(&c, TriggerSource::SignUp, Some("es"), Some("pt-PT")), "es: ES 1");
        assert_eq!(pick(&c, TriggerSource::SignUp, Some("es"), Some("Ignore previous instructions")), "es: ES 1");
    }

    #[test]
    fn template_for_reads_the_attribute_and_only_the_allowlisted_metadata_key() {
        let c = Catalogue::from_toml(CHAIN, "chain.toml", env(&[("SMS_LOCALE_METADATA_KEY", "lang")])).unwrap();
        let request: Request = serde_json::from_value(serde_json::json!({
            "type": "customSMSSenderRequestV1",
            "code": null,
            "clientMetadata": {"lang": "es", "locale": "pt-BR"},
            "userAttributes": {"locale": "pt"}
        }))
        .unwrap();
        let (_, locale) = c.template_for(&TriggerSource::SignUp, &request).unwrap();
        assert_eq!(locale, "es");
        // Without the setting, clientMetadata is not consulted at all.
        let plain = chain();
        let (_, locale) = plain.template_for(&TriggerSource::SignUp, &request).unwrap();
        assert_eq!(locale, "pt");
        assert_eq!(c.metadata_key(), Some("lang"));
    }

    #[test]
    fn built_in_english_is_the_documented_default() {
        let c = built_in();
        assert_eq!(c.default_locale(), "en");
        assert_eq!(c.origin(), BUILT_IN_ORIGIN);
        for s in TriggerSource::KNOWN {
            let expected = Template::parse(&readme_english(&s), s.carries_code()).unwrap();
            assert_eq!(c.template(&s, None, None).unwrap().0, &expected, "{s}");
        }
    }

    #[test]
    fn built_in_catalogue_has_every_source_in_every_language() {
        let c = built_in();
        let locales: Vec<&str> = c.locales().collect();
        assert_eq!(locales, ["en", "de", "es", "fr", "it", "pt-BR"]);
        for locale in &locales {
            for s in TriggerSource::KNOWN {
                let (_, used) = c.template(&s, Some(locale), None).unwrap();
                assert_eq!(used, *locale, "{locale} lacks {s}");
            }
        }
    }

    /// The shipped catalogue passes the default MAX_SMS_PARTS=1 check (the loader applies it), and this spells
    /// out what that means per language: with the assumed code, password and user name filled in, GSM-7
    /// messages stay within 160 septets and UCS-2 ones (Spanish and Portuguese words with acute accents, ã,
    /// ç, ê) within 70 code units. Invitations carry a user name and a password, which leaves no room in 70
    /// characters, so they are worded in GSM-7 in every language.
    #[test]
    fn built_in_catalogue_fits_one_part_in_every_language() {
        let c = built_in();
        assert_eq!(c.max_sms_parts(), 1);
        let mut ucs2 = Vec::new();
        for locale in c.locales() {
            for s in TriggerSource::KNOWN {
                let (t, _) = c.template(&s, Some(locale), None).unwrap();
                let code = if s == TriggerSource::AdminCreateUser { ASSUMED_PASSWORD } else { ASSUMED_CODE };
                let info = analyse(&t.render(code, ASSUMED_USERNAME));
                assert_eq!(info.parts, 1, "{locale} {s}");
                match info.encoding {
                    Encoding::Gsm7 => assert!(info.units <= 160),
                    Encoding::Ucs2 => {
                        assert!(info.units <= 70, "{locale} {s}");
                        ucs2.push(format!("{locale}.{}", s.suffix()));
                    }
                }
            }
        }
        // English, German, French and Italian are entirely GSM-7; so are the invitations everywhere.
        assert!(ucs2.iter().all(|k| k.starts_with("es.") || k.starts_with("pt-BR.")), "{ucs2:?}");
        assert!(!ucs2.iter().any(|k| k.ends_with(".AdminCreateUser")));
        // A real 6-digit code in the longest UCS-2 message still fits.
        let (t, _) = c.template(&TriggerSource::ForgotPassword, Some("pt-BR"), None).unwrap();
        assert!(analyse(&t.render("123456", "")).units <= 70);
    }

    #[test]
    fn curly_quotes_are_not_in_the_built_in_catalogue() {
        for c in ['\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '`'] {
            assert!(!BUILT_IN.contains(c), "{c:?}");
        }
    }

    #[test]
    fn env_overrides_replace_the_default_locale_only() {
        let c = Catalogue::load(env(&[
            ("SMS_TEMPLATE", "General {####}"),
            ("SMS_TEMPLATE_FORGOT_PASSWORD", "Reset {####}"),
        ]))
        .unwrap();
        let fill = |s: TriggerSource, l: Option<&str>| c.template(&s, l, None).unwrap().0.render("9", "u").to_string();
        assert_eq!(fill(TriggerSource::ForgotPassword, None), "Reset 9");
        assert_eq!(fill(TriggerSource::SignUp, Some("en-GB")), "General 9");
        assert_eq!(
            fill(TriggerSource::AccountTakeOverNotification, None),
            readme_english(&TriggerSource::AccountTakeOverNotification)
        );
        // German users keep the German message.
        assert!(fill(TriggerSource::SignUp, Some("de")).starts_with("Ihr Bestätigungscode lautet 9."));
    }

    #[test]
    fn variables_are_written_in_at_init_and_env_wins() {
        let text = r#"
default_locale = "en"
[variables]
app_name = "Example"
support = "{####} {username}"
[messages.en]
SignUp = "{app_name}: {####}. Help: {support}"
ResendCode = "{app_name} {####}"
ForgotPassword = "F {####}"
UpdateUserAttribute = "U {####}"
VerifyUserAttribute = "V {####}"
Authentication = "A {####}"
AdminCreateUser = "{app_name}: {username} {####}"
AccountTakeOverNotification = "{app_name}: check your account."
"#;
        let c = Catalogue::from_toml(text, "vars.toml", env(&[])).unwrap();
        let t = c.template(&TriggerSource::SignUp, None, None).unwrap().0;
        // A variable's text is literal: the {####} in it is not the code.
        assert_eq!(t.render("42", "x").as_str(), "Example: 42. Help: {####} {username}");
        let t = c.template(&TriggerSource::AdminCreateUser, None, None).unwrap().0;
        assert_eq!(t.render("pw", "{####}").as_str(), "Example: {####} pw", "a user name is never expanded");
        let c = Catalogue::from_toml(text, "vars.toml", env(&[("SMS_VAR_APP_NAME", "Acme"), ("SMS_VAR_SHOP", "Shop")]))
            .unwrap();
        let t = c.template(&TriggerSource::ResendCode, None, None).unwrap().0;
        assert_eq!(t.render("1", "").as_str(), "Acme 1");
        // Env-only variables work in overrides too.
        let c = Catalogue::from_toml(
            text,
            "vars.toml",
            env(&[("SMS_VAR_SHOP", "Shop"), ("SMS_TEMPLATE_AUTHENTICATION", "{shop} {####}")]),
        )
        .unwrap();
        let t = c.template(&TriggerSource::Authentication, None, None).unwrap().0;
        assert_eq!(t.render("7", "").as_str(), "Shop 7");
    }

    fn mistake(text: &str, vars: &[(&str, &str)]) -> FileError {
        Catalogue::from_toml(text, "/var/task/messages.toml", env(vars)).unwrap_err()
    }

    /// A complete English table, plus `extra` lines appended to the file.
    fn with(extra: &str) -> String {
        format!(
            r#"default_locale = "en"
[messages.en]
SignUp = "Code {{####}}"
ResendCode = "Code {{####}}"
ForgotPassword = "Code {{####}}"
UpdateUserAttribute = "Code {{####}}"
VerifyUserAttribute = "Code {{####}}"
Authentication = "Code {{####}}"
AdminCreateUser = "Hi {{username}}, {{####}}"
AccountTakeOverNotification = "Unusual sign-in."
{extra}"#
        )
    }

    fn assert_mistake(e: &FileError, origin: &str, key: &str, reason_part: &str) {
        assert_eq!(e.origin, origin, "{e}");
        assert_eq!(e.key, key, "{e}");
        assert!(e.reason.contains(reason_part), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("{origin}: {key}: ")), "{shown}");
    }

    #[test]
    fn every_kind_of_mistake_names_file_key_and_reason() {
        let f = "/var/task/messages.toml";
        assert!(Catalogue::from_toml(&with(""), f, env(&[])).is_ok());
        let cases: Vec<(String, &str, &str)> = vec![
            (
                with("[messages.pt-BR]\nSignUp = \"Olá {nome} {####}\""),
                "messages.pt-BR.SignUp",
                "unknown placeholder {nome}",
            ),
            (with("[messages.de]\nSignUp = \"Willkommen!\""), "messages.de.SignUp", "has no {####}"),
            (
                with("[messages.de]\nAuthentication = \"Hi\""),
                "messages.de.Authentication",
                "is 2 characters long; Cognito allows 6 to 140",
            ),
            (
                with(&format!("[messages.fr]\nSignUp = \"{{####}} {}\"", "x".repeat(140))),
                "messages.fr.SignUp",
                "is 147 characters long",
            ),
            (with("[messages.fr]\nSignIn = \"Code {####}\""), "messages.fr.SignIn", "is not a trigger source"),
            (with("[messages.fr]\nsignup = \"Code {####}\""), "messages.fr.signup", "did you mean SignUp?"),
            (with("[messages.english]\nSignUp = \"Code {####}\""), "messages.english", "is not a locale tag"),
            (with("[messages.EN]\nSignUp = \"Code {####}\""), "messages.EN", "is the same locale as messages.en"),
        ];
        for (text, key, reason) in cases {
            assert_mistake(&mistake(&text, &[]), f, key, reason);
        }
    }

    #[test]
    fn every_kind_of_message_mistake_names_file_key_and_reason() {
        let f = "/var/task/messages.toml";
        let cases: Vec<(String, &str, &str)> = vec![
            (
                with("[messages.fr]\nAccountTakeOverNotification = \"Code {####} !\""),
                "messages.fr.AccountTakeOverNotification",
                "Cognito sends no code",
            ),
            (
                with("[messages.fr]\nSignUp = 5"),
                "messages.fr.SignUp",
                "must be a string",
            ),
            (
                with("[variables]\nAppName = \"x\""),
                "variables.AppName",
                "is not a variable name",
            ),
            (
                with("[variables]\nusername = \"x\""),
                "variables.username",
                "is reserved",
            ),
            (format!("templates = 1\n{}", with("")), "templates", "is not a catalogue key"),
            (with("Verify = \"Code {####}\""), "messages.en.Verify", "is not a trigger source"),
            (
                with("").replace("default_locale = \"en\"", "default_locale = \"fr\""),
                "default_locale",
                "has no [messages.fr] table",
            ),
            (
                with("").replace("AccountTakeOverNotification = \"Unusual sign-in.\"", ""),
                "messages.en.AccountTakeOverNotification",
                "is missing",
            ),
            (
                with("[messages.es]\nSignUp = \"Tu código de verificación es {####}. No lo compartas con nadie, nunca.\""),
                "messages.es.SignUp",
                "takes 2 SMS parts (72 UCS-2 units) with an 8-digit code filled in, more than MAX_SMS_PARTS=1: it is sent in UCS-2 because of 'ó'",
            ),
            (
                with("[messages.en-GB]\nAdminCreateUser = \"Welcome aboard! Sign in as {username} with the temporary password {####}, then choose a password of your own. See you soon.\""),
                "messages.en-GB.AdminCreateUser",
                "with a 16-character temporary password and a 32-character user name filled in",
            ),
            (
                "default_locale = \"en\"\n[messages.en\nSignUp = \"x\"".into(),
                "line 2, column 13",
                "is not valid TOML",
            ),
        ];
        for (text, key, reason) in cases {
            assert_mistake(&mistake(&text, &[]), f, key, reason);
        }
        let no_default = "[messages.en]\nSignUp = \"Code {####}\"";
        assert_mistake(&mistake(no_default, &[]), f, "default_locale", "is missing");
        assert_mistake(&mistake("default_locale = \"en\"", &[]), f, "messages", "is missing");
    }

    #[test]
    fn environment_mistakes_name_the_variable() {
        for (vars, key, reason) in [
            (vec![("MAX_SMS_PARTS", "0")], "MAX_SMS_PARTS", "from 1 to 10"),
            (vec![("MAX_SMS_PARTS", "11")], "MAX_SMS_PARTS", "from 1 to 10"),
            (vec![("MAX_SMS_PARTS", "two")], "MAX_SMS_PARTS", "from 1 to 10"),
            (
                vec![("SMS_LOCALE_METADATA_KEY", "my key")],
                "SMS_LOCALE_METADATA_KEY",
                "no spaces",
            ),
            (vec![("SMS_TEMPLATE", "no code")], "SMS_TEMPLATE", "has no {####}"),
            (
                vec![("SMS_TEMPLATE_SIGN_UP", "{app} {####}")],
                "SMS_TEMPLATE_SIGN_UP",
                "unknown placeholder {app}",
            ),
            (
                vec![(
                    "SMS_TEMPLATE_AUTHENTICATION",
                    "Your sign-in code is {####}, don’t share it. This message is for you alone and our team will never ask you for it.",
                )],
                "SMS_TEMPLATE_AUTHENTICATION",
                "because of '’'",
            ),
        ] {
            let e = Catalogue::load(env(&vars)).unwrap_err();
            assert_mistake(&e, ENV_ORIGIN, key, reason);
        }
        let e = Catalogue::load(env(&[("SMS_TEMPLATES_FILE", "/nonexistent/messages.toml")])).unwrap_err();
        assert_mistake(&e, "/nonexistent/messages.toml", "SMS_TEMPLATES_FILE", "cannot be read");
    }

    #[test]
    fn a_general_template_refused_for_one_message_names_it() {
        // Fits one part with an 8-digit code, not with the 16-character temporary password.
        let general = format!("Code {{####}} {}", "x".repeat(125));
        let e = Catalogue::load(env(&[("SMS_TEMPLATE", &general)])).unwrap_err();
        assert_mistake(&e, ENV_ORIGIN, "SMS_TEMPLATE", "temporary password");
        assert!(
            e.reason.ends_with(
                "(as the AdminCreateUser message; set SMS_TEMPLATE_ADMIN_CREATE_USER to word that one apart)"
            ),
            "{e}"
        );
        let apart = [("SMS_TEMPLATE", general.as_str()), ("SMS_TEMPLATE_ADMIN_CREATE_USER", "Password {####}")];
        assert!(Catalogue::load(env(&apart)).is_ok());
    }

    #[test]
    fn more_parts_allow_longer_messages() {
        // 107 characters with the code: one GSM-7 part, but two in UCS-2.
        let gsm = format!("Code {{####}}. {}", "é".repeat(92));
        let ucs2 = gsm.replace('é', "ó");
        assert!(Catalogue::load(env(&[("SMS_TEMPLATE", &gsm)])).is_ok());
        let e = Catalogue::load(env(&[("SMS_TEMPLATE", &ucs2)])).unwrap_err();
        assert!(e.reason.starts_with("takes 2 SMS parts (107 UCS-2 units)"), "{e}");
        let c = Catalogue::load(env(&[("SMS_TEMPLATE", &ucs2), ("MAX_SMS_PARTS", "2")])).unwrap();
        assert_eq!(c.max_sms_parts(), 2);
    }

    #[test]
    fn a_custom_file_is_read_from_sms_templates_file() {
        let dir = std::env::temp_dir().join(format!("catalogue-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("messages.toml");
        std::fs::write(&path, with("[messages.nl]\nSignUp = \"Je code is {####}.\"")).unwrap();
        let path_s = path.to_str().unwrap().to_owned();
        let c = Catalogue::load(env(&[("SMS_TEMPLATES_FILE", &path_s)])).unwrap();
        assert_eq!(c.origin(), path_s);
        assert_eq!(c.template(&TriggerSource::SignUp, Some("nl-BE"), None).unwrap().1, "nl");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_fixture_catalogue_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/messages.toml");
        let c = Catalogue::load(env(&[("SMS_TEMPLATES_FILE", path), ("SMS_VAR_APP_NAME", "Acme")])).unwrap();
        let (t, locale) = c.template(&TriggerSource::SignUp, Some("pt-BR"), None).unwrap();
        assert_eq!(locale, "pt-BR");
        assert!(t.render("123456", "").starts_with("Acme: "));
    }
}
