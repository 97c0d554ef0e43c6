//! Shared test support: a real moto server per test binary, AWS config pointing at it, and log capture.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use aws_config::SdkConfig;
use serde_json::Value;

/// A moto server owned by this test process. It exits when the process does (its stdin closes).
pub struct Moto {
    pub url: String,
    _child: Mutex<Child>,
}

/// Starts `tests/<script>` with the Python moto is installed in, and returns its URL (from the port it prints)
/// and the process, which exits when its stdin closes. Fails (never skips) when that Python is missing.
fn start_server(script: &str) -> (String, Child) {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| format!("{root}/.venv/bin/python"));
    let mut child = Command::new(&python)
        .arg(format!("{root}/tests/{script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {script} with {python}: {e}. Run scripts/test, which installs it (scripts/setup).")
        });
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("the server prints its port");
    let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("{script} did not start: {line:?}"));
    (format!("http://127.0.0.1:{port}"), child)
}

/// The moto server for this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let (url, child) = start_server("moto_server.py");
        Moto { url, _child: Mutex::new(child) }
    })
}

impl Moto {
    /// AWS config for moto: its endpoint, us-east-1, dummy credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_in("us-east-1")
    }

    pub fn sdk_config_in(&self, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .time_source(aws_smithy_async::time::SystemTimeSource::new())
            .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio sleep"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"),
            ))
            .build()
    }

    /// A fresh symmetric KMS key; returns its ARN.
    pub async fn create_key(&self) -> String {
        let kms = aws_sdk_kms::Client::new(&self.sdk_config());
        let key = kms.create_key().send().await.expect("moto CreateKey");
        key.key_metadata.expect("metadata").arn.expect("arn")
    }

    /// A fresh idempotency table shaped like the template's (`pk` S, on demand); returns its name.
    pub async fn create_ledger_table(&self) -> String {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let name = format!("sms-ledger-{}", fastrand::u64(..));
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
            .create_table()
            .table_name(&name)
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("moto CreateTable");
        name
    }

    /// The SMS moto recorded for `phone`: (message, message_id).
    pub async fn sms_to(&self, phone: &str) -> Vec<(String, String)> {
        let data: Value = reqwest::get(format!("{}/moto-api/data.json", self.url))
            .await
            .expect("moto data")
            .json()
            .await
            .expect("json");
        data["sns"]["SMS"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["phone_number"] == phone)
            .map(|s| {
                (s["message"].as_str().unwrap_or("").to_owned(), s["message_id"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    }
}

/// The End User Messaging emulator (tests/eum_emulator.py) owned by this test process; it exits when the
/// process does (its stdin closes).
pub struct EumEmulator {
    pub url: String,
    _child: Mutex<Child>,
}

/// The emulator for this test binary, started on first use with the Python that runs moto.
pub fn eum_emulator() -> &'static EumEmulator {
    static EMULATOR: OnceLock<EumEmulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let (url, child) = start_server("eum_emulator.py");
        EumEmulator { url, _child: Mutex::new(child) }
    })
}

impl EumEmulator {
    /// The AWS config a deployed function would load, from an environment that points End User Messaging at
    /// the emulator with the SDK's standard variable, and every other service at moto.
    pub async fn sdk_config(&self) -> SdkConfig {
        let env = aws_types::os_shim_internal::Env::from_slice(&[
            ("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", self.url.as_str()),
            ("AWS_ENDPOINT_URL", moto().url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]);
        // One attempt per call, so what is retried is what the function's own classifier calls transient.
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .env(env)
            .fs(aws_types::os_shim_internal::Fs::from_slice(&[]))
            .load()
            .await
    }

    /// Every request the emulator received for `operation` whose body matches `filter`, as JSON bodies.
    pub async fn requests(&self, operation: &str, filter: impl Fn(&Value) -> bool) -> Vec<Value> {
        let all: Vec<Value> =
            reqwest::get(format!("{}/_emulator/requests", self.url)).await.unwrap().json().await.unwrap();
        all.into_iter().filter(|r| r["operation"] == operation).map(|r| r["body"].clone()).filter(filter).collect()
    }

    /// The `SendTextMessage` requests to `phone`.
    pub async fn sent_to(&self, phone: &str) -> Vec<Value> {
        self.requests("SendTextMessage", |b| b["DestinationPhoneNumber"] == phone).await
    }

    /// Answers the next `times` requests to `matching` (a number, or an operation name) with this error.
    pub async fn fail(&self, matching: &str, error: &str, reason: Option<&str>, fields: &[&str], times: u32) {
        let fields: Vec<Value> = fields.iter().map(|f| serde_json::json!({"Name": f, "Message": "bad"})).collect();
        let body =
            serde_json::json!({"match": matching, "type": error, "reason": reason, "fields": fields, "times": times});
        let client = reqwest::Client::new();
        client.post(format!("{}/_emulator/fail", self.url)).json(&body).send().await.unwrap();
    }

    /// Sets what the describe calls report: the account tier and the text spend limit (enforced, maximum).
    pub async fn set_account(&self, tier: &str, enforced: i64, max: i64) {
        let body = serde_json::json!({"tier": tier, "enforced": enforced, "max": max});
        let client = reqwest::Client::new();
        client.post(format!("{}/_emulator/account", self.url)).json(&body).send().await.unwrap();
    }
}

/// Log lines captured from the current thread while the guard lives.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<Logs>> = const { std::cell::RefCell::new(None) };
}

/// Stops capturing when dropped.
pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Writes to the capturing buffer of the thread that logs, if any.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CURRENT.with(|c| {
            if let Some(logs) = c.borrow_mut().as_mut() {
                let _ = logs.write(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Starts capturing this thread's logs at the most verbose level the function allows (TRACE, with its
    /// caps on the runtime and SDK), in its JSON format. One global subscriber serves the whole test binary,
    /// so every callsite is enabled whatever test runs first.
    pub fn capture() -> (Logs, CaptureGuard) {
        static INIT: OnceLock<()> = OnceLock::new();
        INIT.get_or_init(|| {
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_env_filter(cognito_sms_sender::telemetry::logging::filter_for("trace"))
                .with_writer(|| ThreadWriter)
                .init();
        });
        let logs = Logs::default();
        CURRENT.with(|c| *c.borrow_mut() = Some(logs.clone()));
        (logs, CaptureGuard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Every line, parsed.
    pub fn lines(&self) -> Vec<Value> {
        self.text().lines().map(|l| serde_json::from_str(l).expect("JSON log line")).collect()
    }

    /// The lines that carry an `outcome` field.
    pub fn outcomes(&self) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l.get("outcome").is_some()).collect()
    }

    /// Asserts that no secret appears anywhere in the captured logs, and records them for the suite-wide scan.
    pub fn assert_clean(&self, secrets: &[&str]) {
        let text = self.text();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            if let Some(line) = text.lines().find(|l| l.contains(s)) {
                let shown: String = line.replace(s, "<SECRET>").chars().take(400).collect();
                panic!("a secret ({} chars) appears in this log line: {shown}", s.len());
            }
        }
        assert_no_unmasked_number(&text);
        record_for_suite_scan(&text);
    }
}

/// Fails on anything that looks like a full phone number (+ and 8 or more digits in a row).
pub fn assert_no_unmasked_number(text: &str) {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'+' {
            let digits = bytes[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            assert!(digits < 8, "an unmasked phone number appears in the logs near byte {i}");
        }
    }
}

/// Appends captured logs to target/test-logs/, which scripts/test scans once the whole suite has run.
fn record_for_suite_scan(text: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-logs");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{}.jsonl", std::process::id()));
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
        let _ = f.write_all(text.as_bytes());
    }
}

/// The pipeline settings of [`dev_config`], in us-east-1.
pub fn dev_settings(extra: &[(&str, &str)]) -> cognito_sms_sender::sender::Settings {
    cognito_sms_sender::sender::Settings::from_config(&dev_config(extra), "us-east-1")
}

/// A configuration that needs no AWS (the development key path is never read), with `extra` settings.
pub fn dev_config(extra: &[(&str, &str)]) -> cognito_sms_sender::config::Config {
    let mut vars: std::collections::HashMap<String, String> =
        extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.entry("LOCAL_DEV_KEY_FILE".into()).or_insert_with(|| "unused".into());
    cognito_sms_sender::config::Config::from_lookup(|k| vars.get(k).cloned()).expect("valid test config")
}
