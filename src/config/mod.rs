//! Settings from environment variables, parsed once at init. A bad value stops init with a message that
//! names the variable and says what is allowed.

pub mod env;

use std::time::Duration;

use crate::destination::attributes::{
    check_max_price, check_origination_number, check_resource_id, check_sender_id, SmsAttributes, SmsType,
    TransportKind,
};
use crate::destination::phone::PhoneNumber;
use crate::destination::region::{is_region_name, is_user_pool_id};
use crate::destination::routing::Routes;
use crate::gate::policy::{self, Mode, Policy, Rule};
use crate::gate::source::{AppConfigSource, DEFAULT_REFRESH};
use crate::message::catalogue::{Catalogue, TEMPLATE_PREFIX};
use crate::message::event::TriggerSource;
use crate::toml_file::ENV_ORIGIN;
pub use env::Env;

/// Where the decryption key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The pool's KMS key (`KMS_KEY_ARN`): the only source in a deployed function.
    Kms { key_arn: String },
    /// The public development key (`LOCAL_DEV_KEY_FILE`): only when asked for by name.
    LocalDev { path: String },
}

/// The IAM role to publish with, as in the pool's `SmsConfiguration`.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerRole {
    pub role_arn: String,
    pub external_id: Option<String>,
}

impl std::fmt::Debug for CallerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The external ID is a shared secret of sorts: keep it out of Debug output.
        f.debug_struct("CallerRole")
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// How the sandbox and spend probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    pub enabled: bool,
    /// How long one Region's answers are reused.
    pub cache_for: Duration,
}

/// How End User Messaging sends (`SendTextMessage`), besides each route's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextMessageOptions {
    /// `SMS_TTL_SECONDS`: one `TimeToLive` for every message instead of the per-trigger-source defaults.
    pub ttl: Option<Duration>,
    /// `SMS_DRY_RUN`: send with `DryRun` (the request is checked, no SMS goes out).
    pub dry_run: bool,
    /// `SMS_MESSAGE_FEEDBACK` (default off): send with `MessageFeedbackEnabled`, so End User Messaging waits
    /// for the conversion events' `PutMessageFeedback`. Off by default because a message with feedback enabled
    /// and no feedback is reported failed: on only when the conversion triggers are wired.
    pub feedback: bool,
}

/// `SMS_TEST_NUMBERS` and `SMS_TEST_SINK`: messages to exactly these numbers are put in this SQS queue
/// instead of being sent as SMS (app-store reviewers, end-to-end tests of the app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestNumbers {
    /// The test numbers, E.164 (their `Debug` is masked).
    pub numbers: Vec<PhoneNumber>,
    /// The queue's URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`).
    pub queue_url: String,
}

/// The DynamoDB state table: the ledger that makes sending exactly-once, and the abuse gate's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTable {
    pub name: String,
    /// How long a record is kept (the table's TTL attribute `expires_at`).
    pub ttl: Duration,
    /// `SMS_QUARANTINE_UNIT_SECONDS`: the low-conversion rule's judging unit, in which its history is kept.
    pub quarantine_unit: Duration,
}

/// What the function is deployed as (`FUNCTION_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FunctionRole {
    /// The custom SMS sender (the default), which handles conversion events too when they are wired to it.
    #[default]
    Sender,
    /// Conversion events only: no key, no SMS, only the state table the sender records messages in.
    Conversion,
}

impl FunctionRole {
    /// Reads `FUNCTION_ROLE`: `sender` (default) or `conversion`.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let parse = |v: &str| match v {
            "sender" => Ok(FunctionRole::Sender),
            "conversion" => Ok(FunctionRole::Conversion),
            other => Err(format!("{other:?} is not a role; use sender or conversion")),
        };
        Ok(env.parsed("FUNCTION_ROLE", parse)?.unwrap_or_default())
    }
}

/// The state table of a function deployed for conversion events only (`FUNCTION_ROLE=conversion`): required,
/// since conversions are looked up in the table the sender records its messages in.
pub fn conversion_table(env: &Env) -> Result<StateTable, ConfigError> {
    state_table(env)?.ok_or_else(|| {
        ConfigError::new(
            "STATE_TABLE",
            "is required with FUNCTION_ROLE=conversion: set it to the sender's STATE_TABLE, where sent messages are recorded",
        )
    })
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub key: KeySource,
    /// `SNS_REGION`: overrides the Region table.
    pub sns_region: Option<String>,
    pub sms: SmsAttributes,
    pub caller_role: Option<CallerRole>,
    /// Messages per trigger source and locale: `SMS_TEMPLATES_FILE` or the built-in catalogue, with
    /// `SMS_TEMPLATE…`, `SMS_VAR_…`, `MAX_SMS_PARTS` and `SMS_LOCALE_METADATA_KEY` applied.
    pub catalogue: Catalogue,
    /// Message attributes per destination country: `SMS_ROUTES_FILE` layered over [`Config::sms`].
    pub routes: Routes,
    pub probe: ProbeSettings,
    /// `SMS_TTL_SECONDS` and `SMS_DRY_RUN`, for End User Messaging.
    pub text_message: TextMessageOptions,
    /// `ALLOWED_USER_POOL_IDS`: when set, events from other pools are refused before any KMS call.
    pub allowed_pools: Option<Vec<String>>,
    /// `STATE_TABLE` (or its old name `IDEMPOTENCY_TABLE`) and `IDEMPOTENCY_TTL_SECONDS`: when set, each
    /// message is recorded before it is sent, and the gate's velocity limits and budget are counted there.
    pub state_table: Option<StateTable>,
    /// The abuse gate's policy from the environment and `SMS_POLICY_FILE`.
    pub policy: Policy,
    /// `SMS_POLICY_APPCONFIG`: the AppConfig profile laid over [`Config::policy`] while the function runs.
    pub policy_appconfig: Option<AppConfigSource>,
    /// `SMS_TEST_NUMBERS` with `SMS_TEST_SINK`: the test numbers whose messages go to a queue, not as SMS.
    pub test_numbers: Option<TestNumbers>,
    /// `LOCAL_OUTBOX`: write messages to this file (`-` for stdout) instead of calling SNS. Local runs only.
    pub local_outbox: Option<String>,
    /// `WARM_UP` (default on): open the KMS, SNS and DynamoDB connections at init ([`crate::sender::warmup`]).
    pub warm_up: bool,
}

/// A setting that is missing or not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

impl ConfigError {
    /// `variable` is not allowed, because `reason`.
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        ConfigError { variable: variable.to_owned(), reason: reason.into() }
    }
}

/// Cognito's pattern for `KMSKeyID` and `SnsCallerArn`
/// (<https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_LambdaConfigType.html>):
/// `arn:[\w+=/,.@-]+:[\w+=/,.@-]+:([\w+=/,.@-]*)?:[0-9]+:[\w+=/,.@-]+(:[\w+=/,.@-]+)?(:[\w+=/,.@-]+)?`, where `\w` is
/// ASCII (Java). Checked by hand rather than with the `regex` crate, whose Unicode `\w` is costly to compile
/// at init (bench/README.md).
fn is_arn(s: &str) -> bool {
    let field = |f: &str| f.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=/,.@-".contains(&b));
    let parts: Vec<&str> = s.split(':').collect();
    (6..=8).contains(&parts.len())
        && parts[0] == "arn"
        && [parts[1], parts[2]].iter().all(|p| !p.is_empty() && field(p))
        && field(parts[3])
        && !parts[4].is_empty()
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5..].iter().all(|p| !p.is_empty() && field(p))
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads settings through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env::from_lookup(lookup))
    }

    /// Reads every setting from `env`.
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let key = key_source(env)?;
        let sms = sms_attributes(env)?;
        let local_outbox = env.get("LOCAL_OUTBOX");
        if local_outbox.is_some() && !matches!(key, KeySource::LocalDev { .. }) {
            // Only the public development key can feed the outbox, so a real code can never be written out.
            return Err(ConfigError::new(
                "LOCAL_OUTBOX",
                "is only allowed with LOCAL_DEV_KEY_FILE (local runs); a deployed function always sends through SNS",
            ));
        }
        Ok(Config {
            key,
            sns_region: env.parsed("SNS_REGION", region)?,
            caller_role: caller_role(env)?,
            catalogue: catalogue(env)?,
            routes: Routes::load(env.get("SMS_ROUTES_FILE").as_deref(), &sms)
                .map_err(|e| ConfigError::new("SMS_ROUTES_FILE", e.to_string()))?,
            sms,
            probe: ProbeSettings {
                enabled: env.on_off("SMS_PROBE", true)?,
                cache_for: env.seconds("SMS_PROBE_CACHE_SECONDS", 300, 10..=86_400)?,
            },
            text_message: TextMessageOptions {
                ttl: env.get("SMS_TTL_SECONDS").map(|_| env.seconds("SMS_TTL_SECONDS", 0, 5..=259_200)).transpose()?,
                dry_run: env.on_off("SMS_DRY_RUN", false)?,
                feedback: env.on_off("SMS_MESSAGE_FEEDBACK", false)?,
            },
            allowed_pools: env.parsed("ALLOWED_USER_POOL_IDS", pool_ids)?,
            state_table: state_table(env)?,
            policy: gate_policy(env)?,
            policy_appconfig: policy_appconfig(env)?,
            test_numbers: test_numbers(env)?,
            local_outbox,
            warm_up: env.on_off("WARM_UP", true)?,
        })
    }
}

/// `KMS_KEY_ARN` or `LOCAL_DEV_KEY_FILE`, exactly one of them.
fn key_source(env: &Env) -> Result<KeySource, ConfigError> {
    match (env.get("KMS_KEY_ARN"), env.get("LOCAL_DEV_KEY_FILE")) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "LOCAL_DEV_KEY_FILE",
            "set together with KMS_KEY_ARN; the development key is for local runs only, unset one of them",
        )),
        (Some(arn), None) => Ok(KeySource::Kms { key_arn: parse_kms_key_arn(&arn)? }),
        (None, Some(path)) => Ok(KeySource::LocalDev { path }),
        (None, None) => Err(ConfigError::new(
            "KMS_KEY_ARN",
            "is required: the ARN of the KMS key set as the pool's LambdaConfig.KMSKeyID",
        )),
    }
}

/// `SMS_TRANSPORT`, `SMS_TYPE`, `SENDER_ID`, `ORIGINATION_NUMBER`, `MAX_PRICE`, and End User Messaging's
/// `ORIGINATION_IDENTITY`, `SMS_CONFIGURATION_SET`, `SMS_PROTECT_CONFIGURATION_ID`.
fn sms_attributes(env: &Env) -> Result<SmsAttributes, ConfigError> {
    let text = |check: fn(&str) -> Result<(), String>| move |v: &str| check(v).map(|_| v.to_owned());
    Ok(SmsAttributes {
        transport: env.parsed("SMS_TRANSPORT", TransportKind::parse)?.unwrap_or_default(),
        sms_type: env.parsed("SMS_TYPE", SmsType::parse)?.unwrap_or(SmsType::Transactional),
        sender_id: env.parsed("SENDER_ID", text(check_sender_id))?,
        origination_number: env.parsed("ORIGINATION_NUMBER", text(check_origination_number))?,
        max_price: env.parsed("MAX_PRICE", text(check_max_price))?,
        origination_identity: env.parsed("ORIGINATION_IDENTITY", text(check_resource_id))?,
        configuration_set: env.parsed("SMS_CONFIGURATION_SET", text(check_resource_id))?,
        protect_configuration_id: env.parsed("SMS_PROTECT_CONFIGURATION_ID", text(check_resource_id))?,
    })
}

fn region(r: &str) -> Result<String, String> {
    if is_region_name(r) {
        Ok(r.to_owned())
    } else {
        Err(format!("{r:?} is not a Region name (5-32 characters, like us-east-1)"))
    }
}

/// `SMS_TEST_NUMBERS` and `SMS_TEST_SINK`: both or neither, every number E.164 (a number that cannot match
/// would leave a reviewer without a code), the queue a standard SQS queue's URL.
fn test_numbers(env: &Env) -> Result<Option<TestNumbers>, ConfigError> {
    let numbers = env.parsed("SMS_TEST_NUMBERS", |v| {
        let numbers: Result<Vec<PhoneNumber>, String> = v
            .split(',')
            .map(str::trim)
            .enumerate()
            .map(|(i, n)| {
                PhoneNumber::parse(Some(n)).map_err(|_| {
                    format!(
                        "number {} is not E.164 ('+', the country code and the number, 8 to 15 digits, nothing else)",
                        i + 1
                    )
                })
            })
            .collect();
        numbers.and_then(|n| if n.len() > MAX_TEST_NUMBERS { Err(TOO_MANY_TEST_NUMBERS.to_owned()) } else { Ok(n) })
    })?;
    let queue_url = env.parsed("SMS_TEST_SINK", |v| check_queue_url(v).map(|_| v.to_owned()))?;
    match (numbers, queue_url) {
        (Some(numbers), Some(queue_url)) => Ok(Some(TestNumbers { numbers, queue_url })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::new(
            "SMS_TEST_SINK",
            "is required with SMS_TEST_NUMBERS: the URL of the encrypted SQS queue their messages go to",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "SMS_TEST_NUMBERS",
            "is required with SMS_TEST_SINK: the comma-separated E.164 test numbers whose messages go to the queue",
        )),
    }
}

/// At most this many test numbers: each is a number whose codes anyone with the queue can read.
const MAX_TEST_NUMBERS: usize = 10;
const TOO_MANY_TEST_NUMBERS: &str =
    "lists more than 10 numbers; keep the list short (each number's codes are readable in the queue)";

/// An SQS queue URL: `http(s)://HOST/ACCOUNT/NAME`, a 12-digit account and a queue name (1-80 letters, digits,
/// '-', '_'). FIFO queues are refused: a test message needs no group or deduplication id.
fn check_queue_url(url: &str) -> Result<(), String> {
    let usage = "must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)";
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or(usage)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [host, account, name] = parts[..] else { return Err(usage.into()) };
    let name_ok =
        (1..=80).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if name.ends_with(".fifo") {
        return Err("names a FIFO queue; use a standard queue".into());
    }
    let ok = !host.is_empty() && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && name_ok;
    ok.then_some(()).ok_or_else(|| usage.into())
}

/// `SNS_CALLER_ARN` and `SNS_EXTERNAL_ID`.
fn caller_role(env: &Env) -> Result<Option<CallerRole>, ConfigError> {
    let Some(arn) = env.get("SNS_CALLER_ARN") else {
        if env.get("SNS_EXTERNAL_ID").is_some() {
            return Err(ConfigError::new(
                "SNS_EXTERNAL_ID",
                "is set but SNS_CALLER_ARN is not; the external ID is only used when assuming that role",
            ));
        }
        return Ok(None);
    };
    if !(20..=2048).contains(&arn.len()) || !is_arn(&arn) || !arn.contains(":iam::") {
        return Err(ConfigError::new(
            "SNS_CALLER_ARN",
            "must be an IAM role ARN (arn:aws:iam::123456789012:role/name), 20-2048 characters",
        ));
    }
    // The external ID is taken as written: spaces may be part of it.
    let external_id = env.raw("SNS_EXTERNAL_ID").filter(|v| !v.is_empty());
    if external_id.as_ref().is_some_and(|v| v.len() > 131_072) {
        return Err(ConfigError::new("SNS_EXTERNAL_ID", "is longer than 131072 characters"));
    }
    Ok(Some(CallerRole { role_arn: arn, external_id }))
}

/// Refuses an `SMS_TEMPLATE_<SOURCE>` that names no trigger source: nothing would read it, and the message it
/// was meant for would go out with the default wording.
fn check_template_names(env: &Env) -> Result<(), ConfigError> {
    let known: Vec<String> =
        TriggerSource::KNOWN.iter().map(|s| format!("{TEMPLATE_PREFIX}{}", s.env_suffix())).collect();
    let squash = |s: &str| s.replace('_', "").to_ascii_uppercase();
    match env.names_with_prefix(TEMPLATE_PREFIX).into_iter().find(|n| !known.contains(n)) {
        None => Ok(()),
        Some(name) => {
            let hint = match known.iter().find(|k| squash(k) == squash(&name)) {
                Some(k) => format!("did you mean {k}?"),
                None => format!("the names are {}", known.join(", ")),
            };
            Err(ConfigError::new(&name, format!("names no trigger source, so nothing would read it; {hint}")))
        }
    }
}

/// The message catalogue. Its errors are reported under the variable that named the file, and keep the
/// file's own key; a setting's error names the setting.
fn catalogue(env: &Env) -> Result<Catalogue, ConfigError> {
    check_template_names(env)?;
    Catalogue::load(|k| env.get(k)).map_err(|e| {
        if e.origin == ENV_ORIGIN {
            ConfigError::new(&e.key, e.reason)
        } else {
            ConfigError::new("SMS_TEMPLATES_FILE", e.to_string())
        }
    })
}

/// `ALLOWED_USER_POOL_IDS`: a comma-separated list of pool ids.
fn pool_ids(v: &str) -> Result<Vec<String>, String> {
    let ids: Vec<String> = v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    match ids.iter().find(|id| !is_user_pool_id(id)) {
        Some(id) => Err(format!("{id:?} is not a user pool id (like us-east-1_AbCdEf123)")),
        None if ids.is_empty() => Err("lists no pool ids".into()),
        None => Ok(ids),
    }
}

/// `STATE_TABLE` (or `IDEMPOTENCY_TABLE`) and `IDEMPOTENCY_TTL_SECONDS`.
fn state_table(env: &Env) -> Result<Option<StateTable>, ConfigError> {
    let ttl = env.seconds("IDEMPOTENCY_TTL_SECONDS", 86_400, 300..=31_536_000)?;
    let quarantine_unit =
        env.seconds("SMS_QUARANTINE_UNIT_SECONDS", crate::gate::quarantine::DEFAULT_UNIT_SECONDS, 1..=21_600)?;
    let variable = match (env.get("STATE_TABLE"), env.get("IDEMPOTENCY_TABLE")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new("IDEMPOTENCY_TABLE", "is the old name of STATE_TABLE; set only STATE_TABLE"))
        }
        (None, Some(_)) => "IDEMPOTENCY_TABLE",
        _ => "STATE_TABLE",
    };
    env.parsed(variable, |name| {
        let ok =
            (3..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        ok.then(|| StateTable { name: name.to_owned(), ttl, quarantine_unit })
            .ok_or_else(|| "must be a DynamoDB table name (3-255 letters, digits, '_', '-', '.')".to_owned())
    })
}

/// The velocity limits' variables, by rule.
const LIMIT_VARIABLES: [(&str, Rule); 5] = [
    ("SMS_LIMIT_PER_NUMBER", Rule::PerNumber),
    ("SMS_LIMIT_PER_USER", Rule::PerUser),
    ("SMS_LIMIT_PER_PREFIX", Rule::PerPrefix),
    ("SMS_LIMIT_PER_COUNTRY", Rule::PerCountry),
    ("SMS_LIMIT_TOTAL", Rule::Total),
];

/// The abuse gate's policy: the `SMS_…` policy variables, then `SMS_POLICY_FILE` laid over them.
fn gate_policy(env: &Env) -> Result<Policy, ConfigError> {
    let list = |v: &str| v.split(',').map(|c| c.trim().to_owned()).collect::<Vec<_>>();
    let mut p = Policy {
        mode: env.parsed("SMS_POLICY_MODE", Mode::parse)?.unwrap_or(Mode::Enforce),
        fail_open: env.on_off("SMS_POLICY_FAIL_OPEN", true)?,
        allowed_countries: env.parsed("SMS_ALLOWED_COUNTRIES", |v| policy::countries(&list(v)))?,
        blocked_countries: env.parsed("SMS_BLOCKED_COUNTRIES", |v| policy::countries(&list(v)))?.unwrap_or_default(),
        ..Policy::default()
    };
    if let Some(kinds) = env.parsed("SMS_BLOCKED_NUMBER_TYPES", |v| policy::kinds(&list(v)))? {
        p.blocked_kinds = kinds;
    }
    for (variable, rule) in LIMIT_VARIABLES {
        // `off` turns a limit off (the per-number limit is on by default).
        if let Some(limits) =
            env.parsed(variable, |v| if v == "off" { Ok(Vec::new()) } else { policy::parse_limits(v) })?
        {
            p.limits.insert(rule, limits);
        }
    }
    p.budget = env.parsed("SMS_BUDGET_USD", policy::parse_budget_limits)?.unwrap_or_default();
    p.prefix_digits = env
        .parsed("SMS_PREFIX_DIGITS", |v| policy::whole_within(v.parse().ok(), policy::PREFIX_DIGITS))?
        .map_or(policy::DEFAULT_PREFIX_DIGITS, |n| n as usize);
    p.quarantine.enabled = env.on_off("SMS_QUARANTINE", false)?;
    p.check().map_err(|(key, reason)| ConfigError::new(&key.to_ascii_uppercase(), reason))?;
    match env.get("SMS_POLICY_FILE") {
        None => Ok(p),
        Some(path) => crate::toml_file::read(&path, "SMS_POLICY_FILE")
            .and_then(|text| p.with_toml(&text, &path))
            .map_err(|e| ConfigError::new("SMS_POLICY_FILE", e.to_string())),
    }
}

/// `SMS_POLICY_APPCONFIG`, with the extension's port (`AWS_APPCONFIG_EXTENSION_HTTP_PORT`, 2772 by default).
fn policy_appconfig(env: &Env) -> Result<Option<AppConfigSource>, ConfigError> {
    let port = env
        .parsed("AWS_APPCONFIG_EXTENSION_HTTP_PORT", |v| {
            v.parse::<u16>().map_err(|_| "must be a port number".to_owned())
        })?
        .unwrap_or(2772);
    let refresh = env.seconds("SMS_POLICY_REFRESH_SECONDS", DEFAULT_REFRESH.as_secs(), 1..=300)?;
    env.parsed("SMS_POLICY_APPCONFIG", |v| AppConfigSource::parse(v, port, refresh))
}

/// A full KMS key ARN. The strict keyring compares it with the ARN stored in each message, so aliases and bare
/// key ids, which would never match, are refused here.
pub fn parse_kms_key_arn(arn: &str) -> Result<String, ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let is_key = parts.len() == 6 && parts[2] == "kms" && parts[5].starts_with("key/") && parts[5].len() > 4;
    if !(20..=2048).contains(&arn.len()) || !is_arn(arn) || !is_key {
        return Err(ConfigError::new(
            "KMS_KEY_ARN",
            "must be a full KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID), not an alias or a bare key id",
        ));
    }
    Ok(arn.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ARN_OK: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn err_var(vars: &[(&str, &str)]) -> String {
        parse(vars).unwrap_err().variable
    }

    #[test]
    fn minimal_config_has_safe_defaults() {
        let c = parse(&[("KMS_KEY_ARN", ARN_OK)]).unwrap();
        assert_eq!(c.key, KeySource::Kms { key_arn: ARN_OK.into() });
        assert_eq!(c.sms.sms_type, SmsType::Transactional);
        assert_eq!(c.sns_region, None);
        assert!(c.caller_role.is_none() && c.local_outbox.is_none() && c.allowed_pools.is_none());
        assert!(c.probe.enabled && c.state_table.is_none());
        assert_eq!(c.probe.cache_for, Duration::from_secs(300));
    }

    #[test]
    fn arns_follow_cognitos_pattern() {
        for ok in [
            ARN_OK,
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:iam::123456789012:role/service-role/sms-caller",
            "arn:aws:iam::123456789012:role/a+b=c,d.e@f-g_h",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x",
        ] {
            assert!(is_arn(ok), "{ok}");
        }
        for bad in [
            "",
            "arn",
            "arn:aws:kms",
            "urn:aws:kms:r:1:key/x",
            "arn::kms:r:1:key/x",
            "arn:aws:kms:r:1:",
            "arn:aws:kms:r:1:k:l:m:n",
        ] {
            assert!(!is_arn(bad), "{bad}");
        }
    }

    #[test]
    fn key_source_is_explicit() {
        assert_eq!(err_var(&[]), "KMS_KEY_ARN");
        assert_eq!(err_var(&[("KMS_KEY_ARN", ARN_OK), ("LOCAL_DEV_KEY_FILE", "k")]), "LOCAL_DEV_KEY_FILE");
        for bad_arn in [
            "alias/my-key",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/my-key",
            "arn:aws:sns:us-east-1:111122223333:key/abc",
            "arn:aws:kms:us-east-1:abc:key/abc",
            "arn:aws:kms:us-east-1:111122223333:key/ключ",
            "arn:aws:kms:us-east-1::key/abc",
            "arn:aws:kms:us-east-1:111122223333:key/a:b:c:d",
            "arn:aws:kms:us east 1:111122223333:key/abc",
        ] {
            assert_eq!(err_var(&[("KMS_KEY_ARN", bad_arn)]), "KMS_KEY_ARN", "{bad_arn}");
        }
        let dev = parse(&[("LOCAL_DEV_KEY_FILE", "events/key")]).unwrap();
        assert_eq!(dev.key, KeySource::LocalDev { path: "events/key".into() });
    }

    #[test]
    fn sms_attributes_are_checked() {
        let k = ("KMS_KEY_ARN", ARN_OK);
        let c = parse(&[
            k,
            ("SMS_TYPE", "Promotional"),
            ("SENDER_ID", "MyApp-1"),
            ("ORIGINATION_NUMBER", "+18005550100"),
            ("MAX_PRICE", "0.50"),
        ])
        .unwrap();
        assert_eq!(c.sms.sms_type, SmsType::Promotional);
        assert_eq!(c.sms.sender_id.as_deref(), Some("MyApp-1"));
        assert_eq!(c.sms.origination_number.as_deref(), Some("+18005550100"));
        assert_eq!(c.sms.max_price.as_deref(), Some("0.50"));
        assert!(c.warm_up, "on by default");
        assert_eq!((c.sms.transport, c.text_message), (TransportKind::Sns, TextMessageOptions::default()));
        let eum = parse(&[
            k,
            ("SMS_TRANSPORT", "end-user-messaging"),
            ("ORIGINATION_IDENTITY", "arn:aws:sms-voice:us-east-1:111122223333:pool/pool-1"),
            ("SMS_TTL_SECONDS", "600"),
            ("SMS_DRY_RUN", "on"),
            ("SMS_MESSAGE_FEEDBACK", "on"),
        ])
        .unwrap();
        assert_eq!(eum.sms.transport, TransportKind::EndUserMessaging);
        let options = TextMessageOptions { ttl: Some(Duration::from_secs(600)), dry_run: true, feedback: true };
        assert_eq!(eum.text_message, options);
        // Through End User Messaging the identity is where US messages come from: no warning.
        assert!(eum.routes.warnings().is_empty());
        assert!(!parse(&[k, ("WARM_UP", "off")]).unwrap().warm_up);
        for (var, value) in [
            ("SMS_TYPE", "transactional"),
            ("SENDER_ID", "AB"),
            ("SENDER_ID", "123456"),
            ("SENDER_ID", "TooLongSender"),
            ("SENDER_ID", "My App"),
            ("ORIGINATION_NUMBER", "1234"),
            ("ORIGINATION_NUMBER", "+1800555010012345"),
            ("ORIGINATION_NUMBER", "+1-800-555"),
            ("MAX_PRICE", "-1"),
            ("MAX_PRICE", "0"),
            ("MAX_PRICE", "1e3"),
            ("MAX_PRICE", "cheap"),
            ("SNS_REGION", "tokyo"),
            ("SMS_PROBE", "yes"),
            ("SMS_PROBE_CACHE_SECONDS", "1"),
            ("WARM_UP", "yes"),
            ("ALLOWED_USER_POOL_IDS", "pool-a"),
            ("SMS_TEMPLATE", "no code"),
            ("IDEMPOTENCY_TABLE", "a b"),
            ("IDEMPOTENCY_TTL_SECONDS", "5"),
            ("MAX_SMS_PARTS", "0"),
            ("SMS_LOCALE_METADATA_KEY", "a key"),
            ("SMS_TEMPLATES_FILE", "/nonexistent/messages.toml"),
            ("SMS_ROUTES_FILE", "/nonexistent/routes.toml"),
            ("SMS_TRANSPORT", "pinpoint"),
            ("ORIGINATION_IDENTITY", "my pool"),
            ("SMS_CONFIGURATION_SET", "otp events"),
            ("SMS_PROTECT_CONFIGURATION_ID", "protect 1"),
            ("SMS_TTL_SECONDS", "4"),
            ("SMS_TTL_SECONDS", "259201"),
            ("SMS_DRY_RUN", "yes"),
        ] {
            assert_eq!(err_var(&[k, (var, value)]), var, "{var}={value}");
        }
    }

    #[test]
    fn catalogue_and_routes_come_with_the_config() {
        let k = ("KMS_KEY_ARN", ARN_OK);
        let c = parse(&[k, ("SENDER_ID", "MyApp"), ("SMS_TEMPLATE_SIGN_UP", "Hi {####}")]).unwrap();
        assert_eq!(c.catalogue.default_locale(), "en");
        assert_eq!(c.catalogue.origin(), crate::message::catalogue::BUILT_IN_ORIGIN);
        let sign_up = &crate::message::event::TriggerSource::SignUp;
        assert_eq!(c.catalogue.template(sign_up, None, None).unwrap().0.render("7", "u").as_str(), "Hi 7");
        let route = c.routes.route_for_country(None);
        assert_eq!((route.sms_type, route.sender_id.as_ref()), (c.sms.sms_type, c.sms.sender_id.as_ref()));
        // A file's mistake is reported under the variable that names the file, with the file's key in it.
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let e = parse(&[
            k,
            ("SMS_ROUTES_FILE", &format!("{fixtures}/routes.toml")),
            ("SMS_TEMPLATES_FILE", &format!("{fixtures}/messages.toml")),
            ("SMS_VAR_APP_NAME", "A name far too long for the messages of this catalogue to stay within the limit"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "SMS_TEMPLATES_FILE");
        assert!(e.reason.starts_with(&format!("{fixtures}/messages.toml: messages.en.")), "{e}");
        let c = parse(&[
            k,
            ("SMS_ROUTES_FILE", &format!("{fixtures}/routes.toml")),
            ("SMS_TEMPLATES_FILE", &format!("{fixtures}/messages.toml")),
        ])
        .unwrap();
        assert_eq!(c.routes.origin(), format!("{fixtures}/routes.toml"));
        assert!(c.catalogue.locales().any(|l| l == "pt-BR"));
    }

    #[test]
    fn a_template_name_that_names_no_trigger_source_is_refused() {
        let names = |vars: &[(&str, &str)]| vars.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>();
        let read = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let env = Env::from_lookup(move |k| map.get(k).cloned()).with_names(names(vars));
            Config::read(&env)
        };
        let k = ("KMS_KEY_ARN", ARN_OK);
        let e = read(&[k, ("SMS_TEMPLATE_SIGNUP", "Hi {####}")]).unwrap_err();
        assert_eq!(e.variable, "SMS_TEMPLATE_SIGNUP");
        assert!(e.reason.ends_with("did you mean SMS_TEMPLATE_SIGN_UP?"), "{e}");
        let e = read(&[k, ("SMS_TEMPLATE_WELCOME", "Hi {####}")]).unwrap_err();
        assert!(e.reason.contains("the names are SMS_TEMPLATE_SIGN_UP, SMS_TEMPLATE_RESEND_CODE"), "{e}");
        assert!(read(&[k, ("SMS_TEMPLATE_SIGNUP", "")]).is_ok(), "empty is unset");
        assert!(read(&[k, ("SMS_TEMPLATE_SIGN_UP", "Hi {####}"), ("SMS_TEMPLATES_FILE", "")]).is_ok());
    }

    #[test]
    fn caller_role_and_external_id() {
        let k = ("KMS_KEY_ARN", ARN_OK);
        let role = "arn:aws:iam::111122223333:role/CognitoSns";
        let c = parse(&[k, ("SNS_CALLER_ARN", role), ("SNS_EXTERNAL_ID", "ext-1")]).unwrap();
        let r = c.caller_role.unwrap();
        assert_eq!((r.role_arn.as_str(), r.external_id.as_deref()), (role, Some("ext-1")));
        assert!(!format!("{r:?}").contains("ext-1"));
        assert_eq!(err_var(&[k, ("SNS_CALLER_ARN", "role/CognitoSns")]), "SNS_CALLER_ARN");
        assert_eq!(err_var(&[k, ("SNS_CALLER_ARN", "arn:aws:kms:us-east-1:111122223333:key/x")]), "SNS_CALLER_ARN");
        assert_eq!(err_var(&[k, ("SNS_EXTERNAL_ID", "x")]), "SNS_EXTERNAL_ID");
        let long = "x".repeat(131_073);
        assert_eq!(err_var(&[k, ("SNS_CALLER_ARN", role), ("SNS_EXTERNAL_ID", &long)]), "SNS_EXTERNAL_ID");
    }

    #[test]
    fn test_numbers_and_their_queue_are_read() {
        let k = ("KMS_KEY_ARN", ARN_OK);
        let queue = ("SMS_TEST_SINK", "https://sqs.eu-west-1.amazonaws.com/111122223333/sms-test-sink");
        let c = parse(&[k, ("SMS_TEST_NUMBERS", "+12065550100, +447700900123"), queue]).unwrap();
        let t = c.test_numbers.unwrap();
        let numbers: Vec<&str> = t.numbers.iter().map(|n| n.as_e164()).collect();
        assert_eq!((numbers, t.queue_url.as_str()), (vec!["+12065550100", "+447700900123"], queue.1));
        assert!(parse(&[k]).unwrap().test_numbers.is_none());
    }

    #[test]
    fn test_numbers_are_refused_without_their_queue_or_with_a_number_that_cannot_match() {
        let k = ("KMS_KEY_ARN", ARN_OK);
        let queue = ("SMS_TEST_SINK", "https://sqs.eu-west-1.amazonaws.com/111122223333/sms-test-sink");
        let eleven = ["+12065550100"; 11].join(",");
        let long_name = format!("https://sqs.eu-west-1.amazonaws.com/111122223333/{}", "q".repeat(81));
        for (vars, var, says) in [
            (vec![("SMS_TEST_NUMBERS", "+12065550100")], "SMS_TEST_SINK", "is required"),
            (vec![queue], "SMS_TEST_NUMBERS", "is required"),
            (vec![("SMS_TEST_NUMBERS", "+12065550100,2065550101"), queue], "SMS_TEST_NUMBERS", "number 2 "),
            (vec![("SMS_TEST_NUMBERS", "+12065550100,"), queue], "SMS_TEST_NUMBERS", "number 2 is not E.164"),
            (vec![("SMS_TEST_NUMBERS", "+1 206 555 0100"), queue], "SMS_TEST_NUMBERS", "number 1 is not E.164"),
            (vec![("SMS_TEST_NUMBERS", &eleven), queue], "SMS_TEST_NUMBERS", "more than 10"),
            (
                vec![("SMS_TEST_NUMBERS", "+12065550100"), ("SMS_TEST_SINK", "sms-test-sink")],
                "SMS_TEST_SINK",
                "queue URL",
            ),
            (
                vec![
                    ("SMS_TEST_NUMBERS", "+12065550100"),
                    ("SMS_TEST_SINK", "https://sqs.eu-west-1.amazonaws.com/1111/q"),
                ],
                "SMS_TEST_SINK",
                "queue URL",
            ),
            (
                vec![
                    ("SMS_TEST_NUMBERS", "+12065550100"),
                    ("SMS_TEST_SINK", "https://sqs.eu-west-1.amazonaws.com/111122223333/a queue"),
                ],
                "SMS_TEST_SINK",
                "queue URL",
            ),
            (vec![("SMS_TEST_NUMBERS", "+12065550100"), ("SMS_TEST_SINK", &long_name)], "SMS_TEST_SINK", "queue URL"),
            (
                vec![
                    ("SMS_TEST_NUMBERS", "+12065550100"),
                    ("SMS_TEST_SINK", "https://sqs.eu-west-1.amazonaws.com/111122223333/q.fifo"),
                ],
                "SMS_TEST_SINK",
                "FIFO",
            ),
        ] {
            let e = parse(&[&[k][..], &vars].concat()).unwrap_err();
            assert_eq!(e.variable, var, "{vars:?}");
            assert!(e.reason.contains(says), "{e}");
            assert!(!e.reason.contains("2065550"), "no number in the reason: {e}");
        }
    }

    #[test]
    fn pools_and_regions() {
        let k = ("KMS_KEY_ARN", ARN_OK);
        let c =
            parse(&[k, ("ALLOWED_USER_POOL_IDS", "us-east-1_AbC123, eu-west-1_XyZ"), ("SNS_REGION", "ap-northeast-1")])
                .unwrap();
        assert_eq!(c.allowed_pools.unwrap(), ["us-east-1_AbC123", "eu-west-1_XyZ"]);
        assert_eq!(c.sns_region.as_deref(), Some("ap-northeast-1"));
    }
}
