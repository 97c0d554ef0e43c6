//! Sending the way each country requires: the transport and its settings per destination country (the SNS
//! message attributes, or the End User Messaging `SendTextMessage` settings).
//!
//! The country comes from the number ([`PhoneNumber::country`]). A routing table
//! (`SMS_ROUTES_FILE`, TOML) has a `[default]` route and `[countries.<ISO code>]` routes; a country route
//! inherits every field it does not set from `[default]`, and `[default]` inherits from the environment
//! (`SMS_TRANSPORT`, `SMS_TYPE`, `SENDER_ID`, `ORIGINATION_NUMBER`, `ORIGINATION_IDENTITY`, `MAX_PRICE`,
//! `SMS_CONFIGURATION_SET`, `SMS_PROTECT_CONFIGURATION_ID`), which alone make the default route when there is
//! no file. An empty string removes an inherited value.
//!
//! Two rules hold whatever the table says:
//! - Countries that do not allow alphanumeric sender IDs ([`NO_SENDER_ID`]) never get a `SenderID`: an
//!   inherited one is dropped, and one set in that country's own section is refused at init.
//! - US and Canadian carriers only deliver from a registered origination identity (toll-free, 10DLC or short
//!   code). A `[countries.US]` or `[countries.CA]` route without an `origination_number` (its own or
//!   inherited; through End User Messaging an `origination_identity` does too) is refused at init. When those numbers fall to a default route without one, init succeeds
//!   with a warning ([`Routes::warnings`]): SNS then picks one of the account's identities itself, which works
//!   when the account has exactly the right one.

use std::collections::HashMap;

use aws_sdk_pinpointsmsvoicev2::types::{DestinationCountryParameterKey, MessageType};
use aws_sdk_sns::types::MessageAttributeValue;

use super::attributes::{
    check_max_price, check_origination_number, check_resource_id, check_sender_id, SmsAttributes, SmsType,
    TransportKind,
};
use super::phone::{parse_country, Country, PhoneNumber};
use crate::message::event::TriggerSource;
use crate::toml_file::{self, FileError, ENV_ORIGIN};

/// Countries where SNS cannot send from an alphanumeric sender ID, from the "SMS Sender IDs" column of AWS
/// End User Messaging's supported-countries tables (North and South America, Asia), plus Puerto Rico, which
/// follows US rules. Set `sender_id = ""` in a country's section to drop the sender ID for any other.
pub const NO_SENDER_ID: [&str; 18] =
    ["US", "CA", "PR", "BS", "KY", "CR", "DO", "SV", "AR", "BR", "CL", "CO", "EC", "PY", "PE", "UY", "VE", "CN"];

/// Countries whose carriers require a registered origination identity (`OriginationNumber`).
pub const NEEDS_ORIGINATION_NUMBER: [&str; 2] = ["US", "CA"];

/// SNS message attributes, built once per route at init.
type AttributeList = Vec<(&'static str, MessageAttributeValue)>;

/// A route's End User Messaging `SendTextMessage` settings, built once at init.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMessageSettings {
    pub origination_identity: Option<String>,
    pub configuration_set: Option<String>,
    pub protect_configuration_id: Option<String>,
    pub message_type: MessageType,
    /// USD in the API's form (digits, a point, at most five decimals).
    pub max_price: Option<String>,
    /// India's DLT IDs (`IN_ENTITY_ID`, `IN_TEMPLATE_ID`), when set.
    pub country_parameters: Option<HashMap<DestinationCountryParameterKey, String>>,
}

/// How messages to one country (or by default) are sent. The message attributes are built once, at init.
#[derive(Debug, Clone)]
pub struct Route {
    name: String,
    pub transport: TransportKind,
    pub sms_type: SmsType,
    pub sender_id: Option<String>,
    pub origination_number: Option<String>,
    /// USD, as validated decimal text.
    pub max_price: Option<String>,
    /// India DLT principal entity ID (`AWS.MM.SMS.EntityId`).
    pub entity_id: Option<String>,
    /// India DLT template ID (`AWS.MM.SMS.TemplateId`) for sources without their own.
    pub template_id: Option<String>,
    /// DLT template IDs of single trigger sources: each registered message text has its own.
    pub template_ids: HashMap<TriggerSource, String>,
    /// End User Messaging only: a phone number, pool or sender ID (ID or ARN); `origination_number` otherwise.
    pub origination_identity: Option<String>,
    pub configuration_set: Option<String>,
    pub protect_configuration_id: Option<String>,
    attributes: AttributeList,
    by_source: HashMap<TriggerSource, AttributeList>,
    text: TextMessageSettings,
    text_by_source: HashMap<TriggerSource, TextMessageSettings>,
}

/// The fields a route section may set; `Some(None)` is an explicit removal (`""`).
#[derive(Debug, Clone, Default)]
struct Fields {
    transport: Option<TransportKind>,
    sms_type: Option<SmsType>,
    sender_id: Option<Option<String>>,
    origination_number: Option<Option<String>>,
    max_price: Option<Option<String>>,
    entity_id: Option<Option<String>>,
    template_id: Option<Option<String>>,
    template_ids: HashMap<TriggerSource, String>,
    origination_identity: Option<Option<String>>,
    configuration_set: Option<Option<String>>,
    protect_configuration_id: Option<Option<String>>,
}

impl Route {
    fn build(name: String, f: Fields) -> Route {
        let flat = |v: Option<Option<String>>| v.flatten();
        let mut route = Route {
            name,
            transport: f.transport.unwrap_or_default(),
            sms_type: f.sms_type.unwrap_or(SmsType::Transactional),
            sender_id: flat(f.sender_id),
            origination_number: flat(f.origination_number),
            max_price: flat(f.max_price),
            entity_id: flat(f.entity_id),
            template_id: flat(f.template_id),
            template_ids: f.template_ids,
            origination_identity: flat(f.origination_identity),
            configuration_set: flat(f.configuration_set),
            protect_configuration_id: flat(f.protect_configuration_id),
            attributes: Vec::new(),
            by_source: HashMap::new(),
            text: TextMessageSettings {
                origination_identity: None,
                configuration_set: None,
                protect_configuration_id: None,
                message_type: MessageType::Transactional,
                max_price: None,
                country_parameters: None,
            },
            text_by_source: HashMap::new(),
        };
        route.attributes = route.attributes_with(route.template_id.as_deref());
        route.by_source =
            route.template_ids.iter().map(|(s, id)| (s.clone(), route.attributes_with(Some(id)))).collect();
        route.text = route.text_message_with(route.template_id.as_deref());
        route.text_by_source =
            route.template_ids.iter().map(|(s, id)| (s.clone(), route.text_message_with(Some(id)))).collect();
        route
    }

    fn fields(&self) -> Fields {
        Fields {
            transport: Some(self.transport),
            sms_type: Some(self.sms_type),
            sender_id: Some(self.sender_id.clone()),
            origination_number: Some(self.origination_number.clone()),
            max_price: Some(self.max_price.clone()),
            entity_id: Some(self.entity_id.clone()),
            template_id: Some(self.template_id.clone()),
            template_ids: self.template_ids.clone(),
            origination_identity: Some(self.origination_identity.clone()),
            configuration_set: Some(self.configuration_set.clone()),
            protect_configuration_id: Some(self.protect_configuration_id.clone()),
        }
    }

    /// Where the route sends from: its `origination_identity` through End User Messaging when set, else its
    /// `origination_number`.
    pub fn origination(&self) -> Option<&str> {
        match (self.transport, &self.origination_identity) {
            (TransportKind::EndUserMessaging, Some(identity)) => Some(identity),
            _ => self.origination_number.as_deref(),
        }
    }

    /// The `SendTextMessage` settings with `template_id` as India's DLT template ID.
    fn text_message_with(&self, template_id: Option<&str>) -> TextMessageSettings {
        let mut country = HashMap::new();
        if let Some(v) = &self.entity_id {
            country.insert(DestinationCountryParameterKey::InEntityId, v.clone());
        }
        if let Some(v) = template_id {
            country.insert(DestinationCountryParameterKey::InTemplateId, v.to_owned());
        }
        TextMessageSettings {
            origination_identity: self.origination().map(str::to_owned),
            configuration_set: self.configuration_set.clone(),
            protect_configuration_id: self.protect_configuration_id.clone(),
            message_type: match self.sms_type {
                SmsType::Transactional => MessageType::Transactional,
                SmsType::Promotional => MessageType::Promotional,
            },
            max_price: self.max_price.as_deref().map(api_price),
            country_parameters: (!country.is_empty()).then_some(country),
        }
    }

    fn attributes_with(&self, template_id: Option<&str>) -> AttributeList {
        let attr = |data_type: &str, value: &str| {
            MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
                .expect("data_type is always set")
        };
        let mut out = vec![("AWS.SNS.SMS.SMSType", attr("String", self.sms_type.as_str()))];
        if let Some(v) = &self.sender_id {
            out.push(("AWS.SNS.SMS.SenderID", attr("String", v)));
        }
        if let Some(v) = &self.origination_number {
            out.push(("AWS.MM.SMS.OriginationNumber", attr("String", v)));
        }
        if let Some(v) = &self.max_price {
            out.push(("AWS.SNS.SMS.MaxPrice", attr("Number", v)));
        }
        if let Some(v) = &self.entity_id {
            out.push(("AWS.MM.SMS.EntityId", attr("String", v)));
        }
        if let Some(v) = template_id {
            out.push(("AWS.MM.SMS.TemplateId", attr("String", v)));
        }
        out
    }

    /// Which route this is, for logs: `default`, `default without SenderID` or `countries.IN`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The message attributes of this route, with its route-wide `template_id`.
    pub fn message_attributes(&self) -> &[(&'static str, MessageAttributeValue)] {
        &self.attributes
    }

    /// The message attributes for a message of `source`: its own DLT template ID when it has one.
    pub fn message_attributes_for(&self, source: &TriggerSource) -> &[(&'static str, MessageAttributeValue)] {
        self.by_source.get(source).unwrap_or(&self.attributes)
    }

    /// The `SendTextMessage` settings for a message of `source`: its own DLT template ID when it has one.
    pub fn text_message_for(&self, source: &TriggerSource) -> &TextMessageSettings {
        self.text_by_source.get(source).unwrap_or(&self.text)
    }
}

/// A validated price (`0.50`, `2`) in the form `SendTextMessage` accepts: a point and at most five decimals.
fn api_price(price: &str) -> String {
    let fixed = format!("{:.5}", price.parse::<f64>().unwrap_or_default());
    let trimmed = fixed.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_owned()
    }
}

/// The checked routing table.
#[derive(Debug, Clone)]
pub struct Routes {
    origin: String,
    default: Route,
    /// The default route less its sender ID, for [`NO_SENDER_ID`] countries without their own section.
    default_no_sender: Option<Route>,
    countries: HashMap<Country, Route>,
    warnings: Vec<String>,
    /// False when every number gets the default route, so no number needs its country looked up.
    by_country_needed: bool,
}

/// A country's section as read: its code, its key in the file and its fields.
type CountrySection = (Country, String, Fields);

impl Routes {
    /// The routing table of the file `SMS_ROUTES_FILE` names, layered over `env` (the settings parsed from
    /// `SMS_TYPE`, `SENDER_ID`, `ORIGINATION_NUMBER` and `MAX_PRICE`); just `env` as the default route without
    /// a file.
    pub fn load(file: Option<&str>, env: &SmsAttributes) -> Result<Routes, FileError> {
        match file {
            None => Ok(Routes::from_attributes(env)),
            Some(path) => Routes::from_toml(&toml_file::read(path, "SMS_ROUTES_FILE")?, path, env),
        }
    }

    /// One default route from the environment's settings.
    pub fn from_attributes(env: &SmsAttributes) -> Routes {
        Routes::assemble(ENV_ORIGIN, fields_of(env), Vec::new()).expect("a default route alone passes every check")
    }

    /// Parses and checks a routing table; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str, env: &SmsAttributes) -> Result<Routes, FileError> {
        let err = |(key, reason): (String, String)| FileError::new(origin, &key, reason);
        let doc = toml_file::parse(text, origin)?;
        let hint = "is not a routing key; the keys are [default] and [countries.<ISO code>]";
        toml_file::only_keys(&doc, &["default", "countries"], origin, hint)?;
        let mut base = fields_of(env);
        if let Some(v) = doc.get("default") {
            overlay(&mut base, parse_section(v, "default").map_err(err)?);
        }
        let countries = match doc.get("countries") {
            Some(v) => parse_countries(v).map_err(err)?,
            None => Vec::new(),
        };
        Routes::assemble(origin, base, countries).map_err(err)
    }

    /// Builds the routes and applies the country rules; errors are (key, reason).
    fn assemble(origin: &str, base: Fields, countries: Vec<CountrySection>) -> Result<Routes, (String, String)> {
        let default = Route::build("default".into(), base);
        check_dlt(&default, "default")?;
        let mut by_country = HashMap::new();
        for (id, key, own) in countries {
            let route = country_route(&default, id, &key, own)?;
            by_country.insert(id, route);
        }
        let default_no_sender = default.sender_id.as_ref().map(|_| {
            let mut fields = default.fields();
            fields.sender_id = Some(None);
            Route::build("default without SenderID".into(), fields)
        });
        let warnings = uncovered_warning(&default, &by_country).into_iter().collect();
        let by_country_needed = !by_country.is_empty() || default_no_sender.is_some();
        Ok(Routes {
            origin: origin.to_owned(),
            default,
            default_no_sender,
            countries: by_country,
            warnings,
            by_country_needed,
        })
    }

    /// Whether any number's route depends on its country (so the phone number metadata is needed).
    pub fn needs_country(&self) -> bool {
        self.by_country_needed
    }

    /// Whether any route sends through `transport` (so its client is needed).
    pub fn uses(&self, transport: TransportKind) -> bool {
        self.default.transport == transport || self.countries.values().any(|r| r.transport == transport)
    }

    /// The route for messages to `phone`.
    pub fn route_for(&self, phone: &PhoneNumber) -> &Route {
        if !self.by_country_needed {
            return &self.default;
        }
        self.route_for_country(phone.country())
    }

    /// The route for a country (`None` when the number's country is unknown: the default route).
    pub fn route_for_country(&self, country: Option<Country>) -> &Route {
        let Some(id) = country else {
            return &self.default;
        };
        if let Some(route) = self.countries.get(&id) {
            return route;
        }
        match &self.default_no_sender {
            Some(route) if NO_SENDER_ID.contains(&id.as_ref()) => route,
            _ => &self.default,
        }
    }

    /// Where the table came from: the file path, or `environment`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Problems that do not stop the function but should be logged once at init.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// One country's route: the default's fields under the section's own, with the country rules applied.
fn country_route(default: &Route, id: Country, key: &str, own: Fields) -> Result<Route, (String, String)> {
    let code = id.as_ref();
    let explicit_sender = matches!(own.sender_id, Some(Some(_)));
    let mut fields = default.fields();
    overlay(&mut fields, own);
    if NO_SENDER_ID.contains(&code) {
        if explicit_sender {
            return Err((
                format!("{key}.sender_id"),
                format!("{code} does not allow alphanumeric sender IDs, so SNS cannot send with one; remove it"),
            ));
        }
        fields.sender_id = Some(None);
    }
    let route = Route::build(key.to_owned(), fields);
    if NEEDS_ORIGINATION_NUMBER.contains(&code) {
        match route.origination() {
            None => return Err((
                key.to_owned(),
                format!("{code} carriers only deliver from a registered origination identity: set origination_number (a toll-free, 10DLC or short code number of this account), or origination_identity through End User Messaging"),
            )),
            Some(n) if n.starts_with('+') && !n.starts_with("+1") => return Err((
                format!("{key}.origination_number"),
                format!("{n} is not a North American number; {code} messages need a +1 toll-free or 10DLC number, or a short code"),
            )),
            Some(_) => {}
        }
    }
    check_dlt(&route, key)?;
    Ok(route)
}

/// The warning for US and Canadian numbers that fall to a default route without an origination number.
fn uncovered_warning(default: &Route, by_country: &HashMap<Country, Route>) -> Option<String> {
    let uncovered: Vec<&str> = NEEDS_ORIGINATION_NUMBER
        .iter()
        .copied()
        .filter(|c| parse_country(c).is_some_and(|id| !by_country.contains_key(&id)))
        .collect();
    (default.origination().is_none() && !uncovered.is_empty()).then(|| format!(
        "{} numbers use the default route, which has no OriginationNumber: SNS picks one of the account's origination identities, and US and Canadian carriers drop messages without a registered one; set ORIGINATION_NUMBER, or origination_number in [countries.US] / [countries.CA] of SMS_ROUTES_FILE",
        uncovered.join(" and ")
    ))
}

/// The `[countries.<code>]` sections, each checked to be a known country named once.
fn parse_countries(v: &toml::Value) -> Result<Vec<CountrySection>, (String, String)> {
    let table = v
        .as_table()
        .ok_or_else(|| ("countries".to_owned(), "must hold one table per country, like [countries.US]".to_owned()))?;
    let mut countries: Vec<CountrySection> = Vec::new();
    for (code, section) in table {
        let key = format!("countries.{code}");
        let id = parse_country(code).ok_or_else(|| {
            (
                key.clone(),
                "is not a country the phone number metadata knows; use its ISO 3166-1 code, like US, IN or BR"
                    .to_owned(),
            )
        })?;
        if countries.iter().any(|(other, _, _)| *other == id) {
            return Err((key, "is listed twice (country codes are not case-sensitive)".into()));
        }
        let fields = parse_section(section, &key)?;
        countries.push((id, key, fields));
    }
    Ok(countries)
}

fn fields_of(env: &SmsAttributes) -> Fields {
    Fields {
        transport: Some(env.transport),
        sms_type: Some(env.sms_type),
        sender_id: Some(env.sender_id.clone()),
        origination_number: Some(env.origination_number.clone()),
        max_price: Some(env.max_price.clone()),
        origination_identity: Some(env.origination_identity.clone()),
        configuration_set: Some(env.configuration_set.clone()),
        protect_configuration_id: Some(env.protect_configuration_id.clone()),
        ..Fields::default()
    }
}

/// Lays `top` over `base`: what `top` sets wins.
fn overlay(base: &mut Fields, top: Fields) {
    if top.sms_type.is_some() {
        base.sms_type = top.sms_type;
    }
    if top.transport.is_some() {
        base.transport = top.transport;
    }
    for (b, t) in [
        (&mut base.sender_id, top.sender_id),
        (&mut base.origination_number, top.origination_number),
        (&mut base.max_price, top.max_price),
        (&mut base.entity_id, top.entity_id),
        (&mut base.template_id, top.template_id),
        (&mut base.origination_identity, top.origination_identity),
        (&mut base.configuration_set, top.configuration_set),
        (&mut base.protect_configuration_id, top.protect_configuration_id),
    ] {
        if t.is_some() {
            *b = t;
        }
    }
    base.template_ids.extend(top.template_ids);
}

/// DLT IDs only work as a pair.
fn check_dlt(route: &Route, key: &str) -> Result<(), (String, String)> {
    let has_template = route.template_id.is_some() || !route.template_ids.is_empty();
    if has_template && route.entity_id.is_none() {
        return Err((
            format!("{key}.entity_id"),
            "is missing: India's DLT needs the principal entity ID with every template ID".into(),
        ));
    }
    Ok(())
}

/// Reads one route section (`[default]` or a country's); errors are (key, reason).
fn parse_section(v: &toml::Value, section: &str) -> Result<Fields, (String, String)> {
    let table = v.as_table().ok_or_else(|| (section.to_owned(), "must be a table of route fields".to_owned()))?;
    let mut f = Fields::default();
    for (name, value) in table {
        let key = format!("{section}.{name}");
        if name == "template_ids" {
            f.template_ids = template_ids(value, &key)?;
        } else {
            parse_field(&mut f, name, value).map_err(|reason| (key, reason))?;
        }
    }
    Ok(f)
}

/// Reads one plain field of a route section into `f`; the error is the reason.
fn parse_field(f: &mut Fields, name: &str, value: &toml::Value) -> Result<(), String> {
    let both = "must be \"Transactional\" or \"Promotional\"";
    match name {
        "sms_type" => f.sms_type = Some(value.as_str().and_then(|v| SmsType::parse(v).ok()).ok_or(both)?),
        "sender_id" => f.sender_id = Some(checked_text(value, check_sender_id)?),
        "origination_number" => f.origination_number = Some(checked_text(value, check_origination_number)?),
        "max_price" => f.max_price = Some(price(value)?),
        "entity_id" => f.entity_id = Some(checked_text(value, check_dlt_id)?),
        "template_id" => f.template_id = Some(checked_text(value, check_dlt_id)?),
        "transport" => f.transport = Some(value.as_str().ok_or("must be a string").map(TransportKind::parse)??),
        "origination_identity" => f.origination_identity = Some(checked_text(value, check_resource_id)?),
        "configuration_set" => f.configuration_set = Some(checked_text(value, check_resource_id)?),
        "protect_configuration_id" => f.protect_configuration_id = Some(checked_text(value, check_resource_id)?),
        _ => return Err("is not a route field; the fields are transport, sms_type, sender_id, origination_number, origination_identity, max_price, configuration_set, protect_configuration_id, entity_id, template_id and [template_ids]".into()),
    }
    Ok(())
}

/// A string field: trimmed, `""` meaning "remove the inherited value", else checked with `check`.
fn checked_text(value: &toml::Value, check: fn(&str) -> Result<(), String>) -> Result<Option<String>, String> {
    let s = value.as_str().ok_or_else(|| "must be a string".to_owned())?.trim();
    if s.is_empty() {
        return Ok(None);
    }
    check(s)?;
    Ok(Some(s.to_owned()))
}

/// `max_price`, given as a number or as text.
fn price(value: &toml::Value) -> Result<Option<String>, String> {
    match value {
        toml::Value::Float(p) => check_max_price(&p.to_string()).map(|_| Some(p.to_string())),
        toml::Value::Integer(p) => check_max_price(&p.to_string()).map(|_| Some(p.to_string())),
        other => checked_text(other, check_max_price),
    }
}

/// `[template_ids]` at `key`: `TriggerSource = "template ID"` pairs; errors are (key, reason).
fn template_ids(value: &toml::Value, key: &str) -> Result<HashMap<TriggerSource, String>, (String, String)> {
    let t = value
        .as_table()
        .ok_or_else(|| (key.to_owned(), "must be a table of TriggerSource = \"template ID\" pairs".to_owned()))?;
    let mut ids = HashMap::new();
    for (source_name, id) in t {
        let at = |reason: String| (format!("{key}.{source_name}"), reason);
        let source = TriggerSource::from_suffix(source_name).map_err(at)?;
        let id = checked_text(id, check_dlt_id).map_err(at)?.ok_or_else(|| at("must be a non-empty string".into()))?;
        ids.insert(source, id);
    }
    Ok(ids)
}

/// An Indian DLT entity or template ID: 1-50 letters or digits.
fn check_dlt_id(id: &str) -> Result<(), String> {
    let ok = (1..=50).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| format!("{id:?} is not a DLT ID: 1-50 letters or digits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> SmsAttributes {
        SmsAttributes::default()
    }

    fn phone(n: &str) -> PhoneNumber {
        PhoneNumber::parse(Some(n)).unwrap()
    }

    /// The attributes as `name=value` pairs, sorted, for readable assertions.
    fn attrs(a: &[(&'static str, MessageAttributeValue)]) -> Vec<String> {
        let mut v: Vec<String> = a.iter().map(|(k, v)| format!("{k}={}", v.string_value().unwrap_or(""))).collect();
        v.sort();
        v
    }

    fn fixture() -> Routes {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/routes.toml");
        Routes::load(Some(path), &env()).unwrap()
    }

    #[test]
    fn us_gets_its_origination_number_and_never_a_sender_id() {
        let r = fixture();
        let us = r.route_for(&phone("+12065550100"));
        assert_eq!(us.name(), "countries.US");
        assert_eq!(
            attrs(us.message_attributes()),
            [
                "AWS.MM.SMS.OriginationNumber=+18445550100",
                "AWS.SNS.SMS.MaxPrice=0.50",
                "AWS.SNS.SMS.SMSType=Transactional",
            ]
        );
        assert!(r.warnings().is_empty());
        let ca = r.route_for(&phone("+14165550100"));
        assert_eq!(ca.name(), "countries.CA");
        assert_eq!(ca.sender_id, None);
    }

    #[test]
    fn india_gets_dlt_ids_per_source() {
        let r = fixture();
        let india = r.route_for(&phone("+919876543210"));
        assert_eq!(india.name(), "countries.IN");
        let base = [
            "AWS.MM.SMS.EntityId=1101456789012345678",
            "AWS.SNS.SMS.MaxPrice=0.50",
            "AWS.SNS.SMS.SMSType=Transactional",
            "AWS.SNS.SMS.SenderID=EXMPLE",
        ];
        let with = |t: &str| {
            let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            v.push(format!("AWS.MM.SMS.TemplateId={t}"));
            v.sort();
            v
        };
        assert_eq!(attrs(india.message_attributes_for(&TriggerSource::SignUp)), with("1107160000000000001"));
        assert_eq!(attrs(india.message_attributes_for(&TriggerSource::ForgotPassword)), with("1107160000000000002"));
        assert_eq!(attrs(india.message_attributes()), with("1107160000000000001"));
        let attr = &india.message_attributes()[0];
        assert_eq!(attr.1.data_type(), "String");
    }

    #[test]
    fn other_countries_use_the_default_route() {
        let r = fixture();
        let de = r.route_for(&phone("+4915123456789"));
        assert_eq!(de.name(), "default");
        assert_eq!(
            attrs(de.message_attributes()),
            ["AWS.SNS.SMS.MaxPrice=0.50", "AWS.SNS.SMS.SMSType=Transactional", "AWS.SNS.SMS.SenderID=Example",]
        );
        let price = de.message_attributes().iter().find(|(k, _)| *k == "AWS.SNS.SMS.MaxPrice").unwrap();
        assert_eq!(price.1.data_type(), "Number");
        // A country with its own section inherits what it does not set.
        let gb = r.route_for(&phone("+447700900123"));
        assert_eq!(gb.name(), "countries.GB");
        assert_eq!((gb.max_price.as_deref(), gb.sender_id.as_deref()), (Some("0.10"), Some("Example")));
        // Unknown country (non-geographic number): the default route.
        assert_eq!(r.route_for(&phone("+80012345678")).name(), "default");
        assert_eq!(r.route_for_country(None).name(), "default");
    }

    #[test]
    fn sender_id_is_dropped_where_it_is_not_allowed() {
        let r = fixture();
        for n in ["+5511987654321", "+8613812345678", "+17875550100", "+56912345678"] {
            let route = r.route_for(&phone(n));
            assert_eq!(route.name(), "default without SenderID", "{n}");
            assert!(!attrs(route.message_attributes()).iter().any(|a| a.contains("SenderID")), "{n}");
            assert_eq!(route.max_price.as_deref(), Some("0.50"));
        }
        let text = "[default]\nsender_id = \"Example\"\n[countries.BR]\nsender_id = \"Example\"\n";
        let e = Routes::from_toml(text, "routes.toml", &env()).unwrap_err();
        assert_eq!((e.key.as_str(), e.origin.as_str()), ("countries.BR.sender_id", "routes.toml"));
        assert!(e.reason.contains("BR does not allow alphanumeric sender IDs"), "{e}");
    }

    #[test]
    fn environment_alone_is_the_default_route() {
        let mut sms = env();
        sms.sender_id = Some("MyApp".into());
        sms.max_price = Some("0.25".into());
        let r = Routes::load(None, &sms).unwrap();
        assert_eq!(r.origin(), "environment");
        let fr = r.route_for(&phone("+33612345678"));
        assert_eq!(fr.name(), "default");
        assert_eq!(
            (fr.sms_type, fr.sender_id.as_ref(), fr.max_price.as_ref()),
            (sms.sms_type, sms.sender_id.as_ref(), sms.max_price.as_ref())
        );
        let mut names: Vec<_> = fr.message_attributes().iter().map(|(k, _)| *k).collect();
        names.sort();
        assert_eq!(names, ["AWS.SNS.SMS.MaxPrice", "AWS.SNS.SMS.SMSType", "AWS.SNS.SMS.SenderID"]);
        // Still no sender ID to the US, and a warning that no origination identity is set.
        let us = r.route_for(&phone("+12065550100"));
        assert_eq!(us.name(), "default without SenderID");
        assert_eq!(us.sender_id, None);
        assert_eq!(r.warnings().len(), 1);
        assert!(r.warnings()[0].starts_with("US and CA numbers use the default route"));
        sms.origination_number = Some("+18445550100".into());
        assert!(Routes::from_attributes(&sms).warnings().is_empty());
        // Without a sender ID or country sections every number gets the one route.
        sms.sender_id = None;
        let r = Routes::from_attributes(&sms);
        assert!(!r.needs_country());
        assert_eq!(r.route_for(&phone("+5511987654321")).name(), "default");
    }

    #[test]
    fn the_file_layers_over_the_environment() {
        let mut sms = env();
        sms.sender_id = Some("FromEnv".into());
        sms.max_price = Some("0.25".into());
        sms.sms_type = SmsType::Promotional;
        let text = "[default]\nsms_type = \"Transactional\"\n[countries.DE]\nsender_id = \"\"\nmax_price = 0.05\n";
        let r = Routes::from_toml(text, "routes.toml", &sms).unwrap();
        let fr = r.route_for(&phone("+33612345678"));
        assert_eq!(
            (fr.sms_type, fr.sender_id.as_deref(), fr.max_price.as_deref()),
            (SmsType::Transactional, Some("FromEnv"), Some("0.25"))
        );
        let de = r.route_for(&phone("+4915123456789"));
        assert_eq!((de.sender_id.as_deref(), de.max_price.as_deref()), (None, Some("0.05")));
    }

    #[test]
    fn us_and_canada_routes_need_an_origination_number() {
        let e = Routes::from_toml("[countries.US]\nmax_price = \"0.10\"\n", "r.toml", &env()).unwrap_err();
        assert_eq!(e.key, "countries.US");
        assert!(e.reason.contains("set origination_number"), "{e}");
        // Inherited from [default] is enough.
        let r = Routes::from_toml(
            "[default]\norigination_number = \"+18445550100\"\n[countries.CA]\nmax_price = \"0.10\"\n",
            "r.toml",
            &env(),
        )
        .unwrap();
        assert_eq!(r.route_for(&phone("+14165550100")).origination_number.as_deref(), Some("+18445550100"));
        // A short code (no +) is fine; a number from another country is not.
        assert!(Routes::from_toml("[countries.US]\norigination_number = \"12345\"\n", "r.toml", &env()).is_ok());
        // Through End User Messaging a pool or sender ID is an origination identity too.
        let eum = "[countries.US]\ntransport = \"end-user-messaging\"\norigination_identity = \"pool-1\"\n";
        let r = Routes::from_toml(eum, "r.toml", &env()).unwrap();
        let us = r.route_for(&phone("+12065550100"));
        assert_eq!(us.text_message_for(&TriggerSource::SignUp).origination_identity.as_deref(), Some("pool-1"));
        assert!(r.uses(TransportKind::EndUserMessaging) && r.uses(TransportKind::Sns));
        let e = Routes::from_toml("[countries.US]\norigination_number = \"+447700900123\"\n", "r.toml", &env())
            .unwrap_err();
        assert_eq!(e.key, "countries.US.origination_number");
    }

    #[test]
    fn every_kind_of_mistake_names_file_key_and_reason() {
        let f = "/var/task/routes.toml";
        for (text, key, reason) in [
            ("[default]\nsender_id = \"AB\"", "default.sender_id", "is not a sender ID"),
            ("[default]\nsender_id = \"123456\"", "default.sender_id", "at least one letter"),
            ("[countries.GB]\nsender_id = \"My App\"", "countries.GB.sender_id", "is not a sender ID"),
            ("[default]\norigination_number = \"1234\"", "default.origination_number", "5-14 digits"),
            ("[default]\norigination_number = \"+1-844-555\"", "default.origination_number", "5-14 digits"),
            ("[default]\nmax_price = \"-1\"", "default.max_price", "positive amount"),
            ("[default]\nmax_price = 0", "default.max_price", "positive amount"),
            ("[default]\nmax_price = \"1e3\"", "default.max_price", "positive amount"),
            ("[default]\nsms_type = \"transactional\"", "default.sms_type", "Transactional"),
            ("[default]\nsenderid = \"X\"", "default.senderid", "is not a route field"),
            ("[default]\nsender_id = 5", "default.sender_id", "must be a string"),
            ("[default]\ntransport = \"pinpoint\"", "default.transport", "is not a transport"),
            ("[default]\ntransport = 1", "default.transport", "must be a string"),
            ("[default]\nconfiguration_set = \"a b\"", "default.configuration_set", "End User Messaging ID"),
            ("[countries.US]\norigination_identity = \"pool-1\"", "countries.US", "origination_identity"),
            ("[countries.XX]\nmax_price = \"1\"", "countries.XX", "is not a country"),
            ("[countries.USA]\nmax_price = \"1\"", "countries.USA", "is not a country"),
            ("[countries.GB]\nmax_price = \"1\"\n[countries.gb]\nmax_price = \"2\"", "countries.gb", "is listed twice"),
            ("[countries.IN]\ntemplate_id = \"1107\"", "countries.IN.entity_id", "DLT needs the principal entity ID"),
            (
                "[countries.IN]\nentity_id = \"x\"\ntemplate_ids = { SignIn = \"1\" }",
                "countries.IN.template_ids.SignIn",
                "is not a trigger source",
            ),
            (
                &format!("[countries.IN]\nentity_id = \"{}\"", "1".repeat(51)),
                "countries.IN.entity_id",
                "1-50 letters or digits",
            ),
            ("[countries.IN]\nentity_id = \"11 01\"", "countries.IN.entity_id", "1-50 letters or digits"),
            ("routes = 1", "routes", "is not a routing key"),
            ("[default\nsms_type = 1", "line 1, column 9", "is not valid TOML"),
        ] {
            let e = Routes::from_toml(text, f, &env()).unwrap_err();
            assert_eq!((e.origin.as_str(), e.key.as_str()), (f, key), "{e}");
            assert!(e.reason.contains(reason), "{e}");
            assert!(e.to_string().starts_with(&format!("{f}: {key}: ")), "{e}");
        }
        let e = Routes::load(Some("/nonexistent/routes.toml"), &env()).unwrap_err();
        assert_eq!((e.origin.as_str(), e.key.as_str()), ("/nonexistent/routes.toml", "SMS_ROUTES_FILE"));
    }
}
