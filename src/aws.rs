//! What every AWS adapter shares: the SDK configuration and its one HTTPS client, how a failed SDK call is
//! classified ([`Failure`]), and what a warm-up call found ([`Check`]).

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes that mean the caller may not make the call, or its credentials are not accepted, across the
/// services the function calls (longer names first, so a search in an error's text finds the full code).
pub const ACCESS_DENIED: [&str; 9] = [
    "AccessDeniedException",
    "AccessDenied",
    "AuthorizationError",
    "KMSAccessDenied",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "ExpiredToken",
    "SignatureDoesNotMatch",
];

/// Error codes of throttling, across services.
const THROTTLED: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
];

/// Error codes of a failure on the service's side.
const SERVICE: [&str; 5] =
    ["InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", "KMSThrottling"];

/// Whether `code` says the caller is not allowed (or not recognised).
pub fn is_access_denied(code: &str) -> bool {
    ACCESS_DENIED.contains(&code)
}

/// How an AWS call failed. Only error codes and fixed words are kept: service messages can quote a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Not allowed, or no usable credentials.
    #[error("access denied ({0})")]
    Denied(String),
    /// The service is throttling.
    #[error("throttled ({0})")]
    Throttled(String),
    /// The service failed (5xx, internal error, unreadable response).
    #[error("service error ({0})")]
    Service(String),
    /// No answer: timeout or connection failure.
    #[error("unreachable ({0})")]
    Unreachable(String),
    /// The service refused the request as it is (4xx): the code, or `HTTP <status>`.
    #[error("refused ({0})")]
    Refused(String),
}

impl Failure {
    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Throttled(_) | Failure::Service(_) | Failure::Unreachable(_))
    }

    /// The code or the fixed description this failure carries.
    pub fn detail(&self) -> &str {
        match self {
            Failure::Denied(d)
            | Failure::Throttled(d)
            | Failure::Service(d)
            | Failure::Unreachable(d)
            | Failure::Refused(d) => d,
        }
    }
}

/// Classifies a failed SDK call by the SDK's own error kind, then the service's error code, then the HTTP status.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Failure {
    if let Some(failure) = credentials_failure(err) {
        return failure;
    }
    match err {
        SdkError::TimeoutError(_) => return Failure::Unreachable("timeout".into()),
        SdkError::DispatchFailure(d) if d.is_user() => return Failure::Denied("could not get credentials".into()),
        SdkError::DispatchFailure(d) if d.is_timeout() => return Failure::Unreachable("timeout".into()),
        SdkError::DispatchFailure(_) => return Failure::Unreachable("could not connect".into()),
        SdkError::ResponseError(_) => return Failure::Service("unreadable response".into()),
        SdkError::ConstructionFailure(_) => return Failure::Denied("request could not be signed".into()),
        _ => {}
    }
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = err.code().map(str::to_owned).unwrap_or_else(|| format!("HTTP {status}"));
    match code.as_str() {
        c if is_access_denied(c) => Failure::Denied(code),
        c if THROTTLED.contains(&c) || status == 429 => Failure::Throttled(code),
        c if SERVICE.contains(&c) || status >= 500 => Failure::Service(code),
        _ => Failure::Refused(code),
    }
}

/// How getting the call's credentials failed, when that is why it failed: the credentials provider's error
/// travels in the dispatch failure's source chain. An STS `AssumeRole` failure (`SNS_CALLER_ARN`) is
/// classified by its own code, so a refused role reads as denied and a throttled STS as throttled.
pub fn credentials_failure<E>(err: &SdkError<E, HttpResponse>) -> Option<Failure> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let SdkError::DispatchFailure(d) = err else {
        return None;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = d.as_connector_error().map(|c| c as _);
    let mut found = None;
    while let Some(e) = source {
        if let Some(sts) = e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return Some(match classify(sts) {
                Failure::Refused(code) => Failure::Denied(format!("AssumeRole: {code}")),
                other => other,
            });
        }
        found =
            found.or(e.downcast_ref::<CredentialsError>().map(|_| Failure::Denied("could not get credentials".into())));
        source = e.source();
    }
    found
}

/// What one warm-up call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The service answered and the resource is usable.
    Ready,
    /// The call was refused (the role lacks the read permission): the connection is warm, the check is not done.
    Denied(String),
    /// The service answered that the resource cannot be used as configured: events will fail until it is fixed.
    Unusable(String),
    /// The call failed (timeout, network, service error); the first event will try again.
    Failed(String),
    /// Nothing to warm (local outbox, no ledger, development key).
    Skipped,
}

impl Check {
    /// Classifies a failed warm-up call: a refusal of the read permission, one of the `unusable` codes (the
    /// resource cannot be used as configured), or a failure the first event will retry.
    pub fn from_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, unusable: &[&str]) -> Check {
        match err.code() {
            Some(c) if is_access_denied(c) => Check::Denied(c.to_owned()),
            Some(c) if unusable.contains(&c) => Check::Unusable(c.to_owned()),
            Some(c) => Check::Failed(c.to_owned()),
            None => Check::Failed(classify(err).detail().to_owned()),
        }
    }

    /// The short word logged for this check.
    pub fn as_str(&self) -> &'static str {
        match self {
            Check::Ready => "ready",
            Check::Denied(_) => "denied",
            Check::Unusable(_) => "unusable",
            Check::Failed(_) => "failed",
            Check::Skipped => "skipped",
        }
    }

    /// The reason, when there is one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Check::Denied(r) | Check::Unusable(r) | Check::Failed(r) => Some(r),
            Check::Ready | Check::Skipped => None,
        }
    }
}

/// The AWS config the function runs with: the standard chain (which honours `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL_SNS`, …) with timeouts that fit inside a Lambda invocation.
/// The SDK makes one attempt per call: [`crate::sender::retry`] retries, with backoff and jitter, within the
/// invocation's deadline, which the SDK does not know. Stalled-stream protection is off: it arms timers around
/// every request and response body, and the attempt timeout already bounds a stalled body (every call here
/// reads its whole, small response within the attempt).
pub async fn aws_config() -> SdkConfig {
    aws_config_in(None).await
}

/// [`aws_config`], with `fallback_region` used when the environment names none (local runs, where probing
/// the instance metadata service for a Region only adds noise).
pub async fn aws_config_in(fallback_region: Option<&'static str>) -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(crate::sender::retry::ATTEMPT_CAP)
        .operation_timeout(std::time::Duration::from_secs(8))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(timeouts)
        .stalled_stream_protection(aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled())
        .http_client(shared_https_client());
    let env_has_region = ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().any(|v| std::env::var_os(v).is_some());
    if let (Some(region), false) = (fallback_region, env_has_region) {
        loader = loader.region(aws_config::Region::from_static(region));
    }
    loader.load().await
}

/// One HTTPS client (rustls with aws-lc and the system's root certificates, proxy settings from the
/// environment: what the SDK uses by default) shared by every AWS client the function builds. By default each
/// service client gets its own, and each builds its own TLS configuration from the root certificates: sharing
/// one takes that work off the cold start (bench/README.md) and gives one connection pool.
fn shared_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(|c| c.sleep_impl()));
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback that answers every request with a 500 and counts them.
    async fn failing_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    // One read holds the whole (small) request; each read that returns data is one request.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let answer = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n";
                        if socket.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn the_sdk_makes_one_attempt_per_call() {
        let sdk = aws_config_in(Some("us-east-1")).await;
        let (url, requests) = failing_server().await;
        let config = aws_sdk_sns::config::Builder::from(&sdk)
            .endpoint_url(url)
            .region(aws_sdk_sns::config::Region::from_static("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::for_tests())
            .build();
        let sent =
            aws_sdk_sns::Client::from_conf(config).publish().phone_number("+12065550100").message("x").send().await;
        assert!(sent.is_err());
        // A 500 is retryable: the SDK's standard strategy would have tried three times.
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
    use aws_sdk_sns::operation::publish::PublishError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(status: u16, code: Option<&str>) -> SdkError<PublishError, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(PublishError::generic(meta.build()), raw)
    }

    #[test]
    fn failures_are_classified_by_kind_code_and_status() {
        for (status, code, want) in [
            (403, Some("AuthorizationError"), Failure::Denied("AuthorizationError".into())),
            (400, Some("ExpiredTokenException"), Failure::Denied("ExpiredTokenException".into())),
            (400, Some("ThrottlingException"), Failure::Throttled("ThrottlingException".into())),
            (429, None, Failure::Throttled("HTTP 429".into())),
            (500, Some("InternalError"), Failure::Service("InternalError".into())),
            (503, None, Failure::Service("HTTP 503".into())),
            (400, Some("InvalidParameter"), Failure::Refused("InvalidParameter".into())),
            (404, None, Failure::Refused("HTTP 404".into())),
        ] {
            let failure = classify(&service_error(status, code));
            assert_eq!(failure, want, "{status} {code:?}");
            assert_eq!(failure.is_transient(), matches!(want, Failure::Throttled(_) | Failure::Service(_)));
        }
        let timeout: SdkError<PublishError, HttpResponse> = SdkError::timeout_error("slow");
        assert_eq!(classify(&timeout), Failure::Unreachable("timeout".into()));
        let refused = SdkError::dispatch_failure(ConnectorError::io("refused".into()));
        assert_eq!(classify::<PublishError>(&refused), Failure::Unreachable("could not connect".into()));
        let credentials = SdkError::dispatch_failure(ConnectorError::user("no credentials".into()));
        assert_eq!(classify::<PublishError>(&credentials), Failure::Denied("could not get credentials".into()));
    }

    #[test]
    fn warm_up_errors_are_sorted_into_checks() {
        let unusable = ["ResourceNotFoundException"];
        let check = |code| Check::from_error(&service_error(400, Some(code)), &unusable);
        assert_eq!(check("AccessDeniedException"), Check::Denied("AccessDeniedException".into()));
        assert_eq!(check("ResourceNotFoundException"), Check::Unusable("ResourceNotFoundException".into()));
        assert_eq!(check("ThrottlingException"), Check::Failed("ThrottlingException".into()));
        let refused = SdkError::dispatch_failure(ConnectorError::io("refused".into()));
        assert_eq!(Check::from_error::<PublishError>(&refused, &unusable), Check::Failed("could not connect".into()));
        assert_eq!((Check::Skipped.as_str(), Check::Skipped.reason()), ("skipped", None));
    }

    #[tokio::test]
    async fn stalled_stream_protection_is_off_and_the_attempt_timeout_bounds_a_call() {
        let sdk = aws_config_in(Some("us-east-1")).await;
        let protection = sdk.stalled_stream_protection().expect("set explicitly");
        assert!(!protection.is_enabled(), "it arms timers on every body, which the attempt timeout makes redundant");
        let timeouts = sdk.timeout_config().expect("timeouts");
        assert_eq!(timeouts.operation_attempt_timeout(), Some(crate::sender::retry::ATTEMPT_CAP));
    }

    #[tokio::test]
    async fn every_client_shares_one_https_client() {
        let sdk = super::aws_config_in(Some("us-east-1")).await;
        assert!(sdk.http_client().is_some(), "without it each service client builds its own TLS connector");
    }
}
