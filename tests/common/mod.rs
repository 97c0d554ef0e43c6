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

/// Counts the requests a DynamoDB client makes.
#[derive(Debug, Default, Clone)]
pub struct Requests(Arc<std::sync::atomic::AtomicUsize>);

impl Requests {
    /// A client of moto's DynamoDB whose requests are counted.
    pub fn counted_client() -> (aws_sdk_dynamodb::Client, Requests) {
        let requests = Requests::default();
        let config =
            aws_sdk_dynamodb::config::Builder::from(&moto().sdk_config()).interceptor(requests.clone()).build();
        (aws_sdk_dynamodb::Client::from_conf(config), requests)
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for Requests {
    fn name(&self) -> &'static str {
        "Requests"
    }

    fn read_before_execution(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Starts `tests/<script>` with the Python moto is installed in, and returns its URL (from the port it prints)
/// and the process, which exits when its stdin closes. Fails (never skips) when that Python is missing.
fn start_server(script: &str) -> (String, Child) {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = python();
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

    /// A fresh SQS queue, encrypted with SSE-SQS or not at all; returns its URL.
    pub async fn create_queue(&self, encrypted: bool) -> String {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config());
        let sse = aws_sdk_sqs::types::QueueAttributeName::SqsManagedSseEnabled;
        let queue = sqs
            .create_queue()
            .queue_name(format!("sms-test-sink-{}", fastrand::u64(..)))
            .attributes(sse, encrypted.to_string())
            .send()
            .await
            .expect("moto CreateQueue");
        queue.queue_url.expect("queue url")
    }

    /// Every message in the queue at `url`, read with the SDK: (message id, body, message attributes).
    pub async fn queue_messages(&self, url: &str) -> Vec<(String, String, std::collections::HashMap<String, String>)> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config());
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("moto ReceiveMessage");
        let attributes = |m: &aws_sdk_sqs::types::Message| {
            let all = m.message_attributes.clone().unwrap_or_default();
            all.into_iter().map(|(k, v)| (k, v.string_value.unwrap_or_default())).collect()
        };
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        out.messages.unwrap_or_default().iter().map(|m| (text(&m.message_id), text(&m.body), attributes(m))).collect()
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

    /// Sets what the describe calls report in `region`: any of `tier` (`SANDBOXED`, `PRODUCTION`) and the text
    /// spend limit's `enforced`, `max` and `overridden`.
    pub async fn set_account(&self, region: &str, account: Value) {
        let mut body = account;
        body["region"] = region.into();
        let client = reqwest::Client::new();
        client.post(format!("{}/_emulator/account", self.url)).json(&body).send().await.unwrap();
    }

    /// Answers the next `times` `operation` requests signed for `region` with `error`.
    pub async fn fail_in(&self, region: &str, operation: &str, error: &str, times: u32) {
        let body = serde_json::json!({"match": operation, "region": region, "type": error, "times": times});
        let client = reqwest::Client::new();
        client.post(format!("{}/_emulator/fail", self.url)).json(&body).send().await.unwrap();
    }

    /// How many `operation` requests were signed for `region`.
    pub async fn count_in(&self, operation: &str, region: &str) -> usize {
        let all: Vec<Value> =
            reqwest::get(format!("{}/_emulator/requests", self.url)).await.unwrap().json().await.unwrap();
        all.iter().filter(|r| r["operation"] == operation && r["region"] == region).count()
    }
}

/// The Python of .venv (or `MOTO_PYTHON`), which runs moto and the secret scan.
fn python() -> String {
    std::env::var("MOTO_PYTHON").unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

/// Where this test process's log lines and named secrets go, for scripts/test's scan of the whole suite
/// (`TEST_LOG_DIR` moves them, for the capture's own tests in tests/log_capture.rs).
fn suite_log(extension: &str) -> std::path::PathBuf {
    let default = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-logs");
    let dir = std::env::var_os("TEST_LOG_DIR").map_or(default, std::path::PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir.join(format!("{}.{extension}", std::process::id()))
}

/// Appends to `file`, failing the test that logged if the line cannot be kept: a lost line is an unscanned one.
fn append(file: &Mutex<std::fs::File>, buf: &[u8]) {
    let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
    f.write_all(buf).unwrap_or_else(|e| panic!("cannot write the test log file: {e}"));
}

/// Every log line of this process, from every thread, kept in one file for the suite's scan.
fn process_log() -> &'static Mutex<std::fs::File> {
    static FILE: OnceLock<Mutex<std::fs::File>> = OnceLock::new();
    FILE.get_or_init(|| Mutex::new(open_append(&suite_log("jsonl"))))
}

/// The lines logged by threads that are not capturing (runtime workers, blocking tasks, hyper's connection
/// tasks), so a capture can be checked against what its test set off on other threads too.
static OTHER_THREADS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Installs the logging of every test binary that has `mod common` before any test runs: TRACE, with the
/// function's caps on the runtime and SDK, in its JSON format, from every thread, so no test's lines escape
/// the scan.
#[ctor::ctor]
fn install_logging() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(cognito_sms_sender::telemetry::logging::filter_for("trace"))
        .with_writer(|| LineWriter)
        .init();
}

/// Log lines captured from the current thread while the guard lives.
#[derive(Clone, Default)]
pub struct Logs {
    lines: Arc<Mutex<Vec<u8>>>,
    /// Where [`OTHER_THREADS`] stood when the capture began.
    others_from: usize,
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

/// Writes each line to the process's log file, and to the capture of the thread that logs (or, for a thread
/// that is not capturing, to [`OTHER_THREADS`]).
struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        append(process_log(), buf);
        let captured = CURRENT.with(|c| c.borrow().as_ref().map(|logs| logs.lines.clone()));
        let mut sink = match &captured {
            Some(lines) => lines.lock(),
            None => OTHER_THREADS.lock(),
        }
        .unwrap_or_else(|p| p.into_inner());
        sink.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Starts capturing this thread's log lines (every thread's lines are in the process's log file anyway).
    pub fn capture() -> (Logs, CaptureGuard) {
        let others_from = OTHER_THREADS.lock().unwrap_or_else(|p| p.into_inner()).len();
        let logs = Logs { lines: Arc::default(), others_from };
        CURRENT.with(|c| *c.borrow_mut() = Some(logs.clone()));
        (logs, CaptureGuard)
    }

    /// This thread's captured lines.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.lock().unwrap()).into_owned()
    }

    /// Every line, parsed.
    pub fn lines(&self) -> Vec<Value> {
        self.text().lines().map(|l| serde_json::from_str(l).expect("JSON log line")).collect()
    }

    /// The lines that carry an `outcome` field.
    pub fn outcomes(&self) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l.get("outcome").is_some()).collect()
    }

    /// Asserts that no secret appears, in any form, in this thread's lines or in those other threads logged
    /// since the capture began ([`assert_clean_text`]).
    pub fn assert_clean(&self, secrets: &[&str]) {
        let others = OTHER_THREADS.lock().unwrap_or_else(|p| p.into_inner());
        let text = [self.text().as_bytes(), others.get(self.others_from..).unwrap_or_default()].concat();
        drop(others);
        assert_clean_text(&String::from_utf8_lossy(&text), secrets);
    }
}

/// Asserts that no secret appears in `text` (JSON lines) in any form tests/scan_logs.py knows, and names the
/// secrets for the suite's scan of every line this process logged.
pub fn assert_clean_text(text: &str, secrets: &[&str]) {
    let named = serde_json::to_string(secrets).unwrap();
    open_append(&suite_log("secrets")).write_all(format!("{named}\n").as_bytes()).expect("the secrets file");
    let capture = suite_log(&format!("capture-{}", fastrand::u64(..)));
    std::fs::write(&capture, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", capture.display()));
    let scan = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scan_logs.py"))
        .args(["--secrets", &named])
        .arg(&capture)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tests/scan_logs.py: {e}"));
    let _ = std::fs::remove_file(&capture);
    let findings = String::from_utf8_lossy(&scan.stderr);
    assert!(scan.status.success(), "a secret appears in the captured logs:\n{findings}");
}

fn open_append(path: &std::path::Path) -> std::fs::File {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
    file.unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
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
