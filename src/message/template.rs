//! Message templates: parsed and checked once at init, filled per event without re-scanning what was filled in.

use std::collections::HashMap;

use zeroize::Zeroizing;

/// Cognito's code placeholder. `<####>` is accepted as another spelling of it.
pub const CODE_PLACEHOLDER: &str = "{####}";
const CODE_PLACEHOLDER_ALT: &str = "<####>";
const USERNAME_PLACEHOLDER: &str = "{username}";

/// Cognito's limits on an SMS message template.
pub const MIN_LEN: usize = 6;
pub const MAX_LEN: usize = 140;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Code,
    Username,
}

/// A checked template. Filling it is one pass over its segments, so a `{####}` inside a user name is printed
/// as text, never expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// What is wrong with a template; the text is the operator's own, so it is safe to quote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("is {0} characters long; Cognito allows {MIN_LEN} to {MAX_LEN}")]
    Length(usize),
    #[error("has no {CODE_PLACEHOLDER} (or <####>) placeholder, so the user would not get the code")]
    MissingCode,
    #[error(
        "has an unknown placeholder {0}; the known ones are {{####}}, <####>, {{username}} and named variables ([variables] in the catalogue, SMS_VAR_<NAME>)"
    )]
    UnknownPlaceholder(String),
}

impl Template {
    /// Parses and checks a template. `needs_code` is false only for the account takeover notice.
    pub fn parse(text: &str, needs_code: bool) -> Result<Self, TemplateError> {
        let len = text.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(TemplateError::Length(len));
        }
        Self::parse_with_variables(text, needs_code, &|_| None)
    }

    /// Parses and checks a template in which `{name}` may also name an operator's variable: `variable(name)`
    /// gives its text. A variable's text becomes plain text in the template, so it is never itself read for
    /// placeholders, and filling the template stays one pass over its segments. Cognito's length rule applies
    /// to the text with the variables written out and the placeholders as written.
    pub fn parse_with_variables(
        text: &str,
        needs_code: bool,
        variable: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        let mut len = 0;
        while !rest.is_empty() {
            let (seg, used) = if rest.starts_with(CODE_PLACEHOLDER) || rest.starts_with(CODE_PLACEHOLDER_ALT) {
                (Some(Segment::Code), CODE_PLACEHOLDER.len())
            } else if rest.starts_with(USERNAME_PLACEHOLDER) {
                (Some(Segment::Username), USERNAME_PLACEHOLDER.len())
            } else if let Some(name) = placeholder_like(rest) {
                let value = variable(&name[1..name.len() - 1])
                    .ok_or_else(|| TemplateError::UnknownPlaceholder(name.to_owned()))?;
                len += value.chars().count();
                literal.push_str(&value);
                (None, name.len())
            } else {
                let c = rest.chars().next().expect("rest is not empty");
                literal.push(c);
                len += 1;
                (None, c.len_utf8())
            };
            if let Some(seg) = seg {
                len += rest[..used].chars().count();
                if !literal.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut literal)));
                }
                segments.push(seg);
            }
            rest = &rest[used..];
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(TemplateError::Length(len));
        }
        if needs_code && !segments.contains(&Segment::Code) {
            return Err(TemplateError::MissingCode);
        }
        Ok(Template { segments })
    }

    /// Whether the template prints the code.
    pub fn uses_code(&self) -> bool {
        self.segments.contains(&Segment::Code)
    }

    /// Whether the template prints the user's sign-in name.
    pub fn uses_username(&self) -> bool {
        self.segments.contains(&Segment::Username)
    }

    /// Fills the template. The result holds the code, so it is zeroized when dropped.
    pub fn render(&self, code: &str, username: &str) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(MAX_LEN + code.len() + username.len()));
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Code => out.push_str(code),
                Segment::Username => out.push_str(username),
            }
        }
        out
    }
}

/// `{name}` at the start of `s`, where name is a short run of letters, digits, `_` or `#`: something meant as a
/// placeholder. Braces around anything else are ordinary text.
fn placeholder_like(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let plausible = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'#' || b == b'-');
    plausible.then(|| &s[..end + 2])
}

/// Undoes the HTML escaping Cognito may apply to temporary passwords (`&lt;`, `&gt;`, `&amp;`, …).
pub fn unescape_password(raw: &str) -> Zeroizing<String> {
    Zeroizing::new(html_escape::decode_html_entities(raw).into_owned())
}

/// The name the user signs in with. Pools that sign in with phone or email give users a UUID `userName`,
/// which means nothing to them; the sign-in attribute does.
pub fn sign_in_name<'a>(user_name: Option<&'a str>, attributes: &'a HashMap<String, String>) -> &'a str {
    let user_name = user_name.unwrap_or("");
    if !user_name.is_empty() && uuid::Uuid::try_parse(user_name).is_err() {
        return user_name;
    }
    ["phone_number", "email", "preferred_username"]
        .iter()
        .find_map(|k| attributes.get(*k).map(String::as_str).filter(|v| !v.is_empty()))
        .unwrap_or(user_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_code_spellings_fill() {
        let t = Template::parse("Code {####} or <####>.", true).unwrap();
        assert_eq!(t.render("123456", "u").as_str(), "Code 123456 or 123456.");
    }

    #[test]
    fn filled_values_are_not_expanded_again() {
        let t = Template::parse("Hi {username}, code {####}", true).unwrap();
        assert_eq!(t.render("42", "{####}<####>{username}").as_str(), "Hi {####}<####>{username}, code 42");
    }

    #[test]
    fn cognito_rules_are_enforced() {
        assert_eq!(Template::parse("{####}", true).unwrap().render("1", "").as_str(), "1");
        assert_eq!(Template::parse("abc", true), Err(TemplateError::Length(3)));
        assert_eq!(Template::parse(&"x".repeat(141), true), Err(TemplateError::Length(141)));
        assert_eq!(Template::parse("no code here", true), Err(TemplateError::MissingCode));
        assert!(Template::parse("no code here", false).is_ok());
        assert_eq!(
            Template::parse("Hi {usename} {####}", true),
            Err(TemplateError::UnknownPlaceholder("{usename}".into()))
        );
        // Braces that are not a placeholder are text.
        assert!(Template::parse("Use {the code}: {####}", true).is_ok());
    }

    #[test]
    fn passwords_are_unescaped() {
        assert_eq!(unescape_password("a&lt;b&gt;c&amp;d&quot;").as_str(), "a<b>c&d\"");
    }

    #[test]
    fn sign_in_name_prefers_the_identifier_the_user_types() {
        let attrs: HashMap<String, String> =
            [("phone_number".into(), "+12065550100".into()), ("email".into(), "a@example.com".into())].into();
        let uuid = "3f1e6a4c-8b1d-4a5e-9f3a-2c7d9e0b1a2f";
        assert_eq!(sign_in_name(Some(uuid), &attrs), "+12065550100");
        assert_eq!(sign_in_name(Some("alice"), &attrs), "alice");
        let email_only: HashMap<String, String> = [("email".into(), "a@example.com".into())].into();
        assert_eq!(sign_in_name(Some(uuid), &email_only), "a@example.com");
        assert_eq!(sign_in_name(Some(uuid), &HashMap::new()), uuid);
        assert_eq!(sign_in_name(None, &HashMap::new()), "");
    }
}
