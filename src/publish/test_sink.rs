//! The test-number adapter: messages to the numbers in `SMS_TEST_NUMBERS` are put in the SQS queue
//! `SMS_TEST_SINK` instead of being sent, whatever the transport; every other number goes on to the transport.
//! App-store reviewers and end-to-end tests of an app read their codes there.
//!
//! The queue holds working codes, so it must be encrypted at rest: before the first message, the queue's
//! attributes are read, and an unencrypted queue gets nothing.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use aws_sdk_sqs::Client;

use super::{MessageAttributes, PublishError, Publisher};
use crate::aws::{classify, Check, Failure};
use crate::config::TestNumbers;
use crate::destination::phone::PhoneNumber;
use crate::destination::region::is_region_name;
use crate::destination::routing::Route;

/// The `transport` of a message put in the test-number queue, in its log line.
pub const TRANSPORT: &str = "test-sink";

/// The queue test numbers' messages go to, and those numbers.
pub struct TestSink {
    numbers: Vec<PhoneNumber>,
    queue_url: String,
    client: Client,
    /// Set once the queue is seen encrypted; an unencrypted queue is asked again next time.
    encrypted: tokio::sync::OnceCell<()>,
}

impl TestSink {
    /// The sink for `settings`, with an SQS client from `sdk` in the queue's Region (from its URL, else the
    /// function's own).
    pub fn new(settings: &TestNumbers, sdk: &SdkConfig) -> Self {
        let mut config = aws_sdk_sqs::config::Builder::from(sdk);
        if let Some(region) = queue_region(&settings.queue_url) {
            config = config.region(aws_config::Region::new(region.to_owned()));
        }
        TestSink {
            numbers: settings.numbers.clone(),
            queue_url: settings.queue_url.clone(),
            client: Client::from_conf(config.build()),
            encrypted: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether messages to `phone` go to the queue: exactly the listed numbers, nothing else.
    pub fn takes(&self, phone: &PhoneNumber) -> bool {
        self.numbers.contains(phone)
    }

    /// Puts `body` in the queue, with the number, trigger source and pool as message attributes.
    async fn put(
        &self,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        self.encrypted
            .get_or_try_init(|| async {
                match self.is_encrypted().await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(PublishError::TestSinkUnencrypted),
                    Err(failure) => Err(sink_error(failure, "GetQueueAttributes")),
                }
            })
            .await?;
        let text = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().ok();
        let mut request = self.client.send_message().queue_url(&self.queue_url).message_body(body);
        for (name, value) in [
            ("PhoneNumber", phone.as_e164().to_owned()),
            ("TriggerSource", attributes.source.to_string()),
            ("UserPoolId", attributes.pool.to_owned()),
        ] {
            // Never `None`: the builder only fails without a data type.
            if let Some(value) = text(&value) {
                request = request.message_attributes(name, value);
            }
        }
        let out = request.send().await.map_err(|e| sink_error(classify(&e), "SendMessage"))?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// Whether the queue is encrypted at rest: SSE-SQS on, or a KMS key set.
    async fn is_encrypted(&self) -> Result<bool, Failure> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
            .attribute_names(QueueAttributeName::KmsMasterKeyId)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let attributes = out.attributes.unwrap_or_default();
        let on = |name: QueueAttributeName| attributes.get(&name).is_some_and(|v| !v.is_empty() && v != "false");
        Ok(on(QueueAttributeName::SqsManagedSseEnabled) || on(QueueAttributeName::KmsMasterKeyId))
    }

    /// At init: the queue's encryption (which also opens the connection).
    async fn warm_up(&self) -> Check {
        match self.is_encrypted().await {
            Ok(true) => {
                let _ = self.encrypted.set(());
                Check::Ready
            }
            Ok(false) => Check::Unusable(PublishError::TestSinkUnencrypted.to_string()),
            Err(Failure::Denied(code)) => Check::Denied(code),
            Err(other) => Check::Failed(other.to_string()),
        }
    }
}

/// A failed queue call: what is transient is retried like any send; the rest is the queue's own refusal.
fn sink_error(failure: Failure, operation: &str) -> PublishError {
    match failure {
        Failure::Throttled(code) => PublishError::Throttled(code),
        Failure::Service(code) => PublishError::ServiceError(code),
        Failure::Unreachable(what) => PublishError::Unreachable(what),
        Failure::Denied(code) => PublishError::TestSinkRefused(format!("{operation} access denied: {code}")),
        Failure::Refused(code) => PublishError::TestSinkRefused(format!("{operation} refused: {code}")),
    }
}

/// The Region in a queue URL's host: `sqs.REGION.amazonaws.com` or the legacy `REGION.queue.amazonaws.com`.
pub fn queue_region(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let region = host.strip_prefix("sqs.").and_then(|h| h.split('.').next()).or_else(|| {
        let (region, rest) = host.split_once('.')?;
        rest.starts_with("queue.amazonaws.").then_some(region)
    })?;
    is_region_name(region).then_some(region)
}

/// A transport with the test numbers taken out: their messages go to the [`TestSink`], every other
/// message to `inner`.
pub struct WithTestSink<P> {
    inner: P,
    sink: Option<TestSink>,
}

impl<P> WithTestSink<P> {
    /// `inner`, with `sink` (when the test numbers are set) in front of it.
    pub fn new(inner: P, sink: Option<TestSink>) -> Self {
        WithTestSink { inner, sink }
    }

    fn sink_for(&self, phone: &PhoneNumber) -> Option<&TestSink> {
        self.sink.as_ref().filter(|s| s.takes(phone))
    }
}

impl<P: Publisher> Publisher for WithTestSink<P> {
    async fn publish(
        &self,
        region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        match self.sink_for(phone) {
            Some(sink) => sink.put(phone, body, attributes).await,
            None => self.inner.publish(region, phone, body, attributes).await,
        }
    }

    fn transport(&self, phone: &PhoneNumber, route: &Route) -> &'static str {
        match self.sink_for(phone) {
            Some(_) => TRANSPORT,
            None => self.inner.transport(phone, route),
        }
    }

    /// The transport's warm-up and the queue's encryption check side by side; the first not ready is the answer.
    async fn warm_up(&self, region: &str) -> Check {
        let Some(sink) = &self.sink else {
            return self.inner.warm_up(region).await;
        };
        let (inner, sink) = tokio::join!(self.inner.warm_up(region), sink.warm_up());
        if matches!(sink, Check::Ready) {
            inner
        } else {
            sink
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_region_comes_from_its_url() {
        assert_eq!(queue_region("https://sqs.eu-west-1.amazonaws.com/111122223333/codes"), Some("eu-west-1"));
        assert_eq!(queue_region("https://ap-south-1.queue.amazonaws.com/111122223333/codes"), Some("ap-south-1"));
        assert_eq!(queue_region("https://sqs.cn-north-1.amazonaws.com.cn/111122223333/codes"), Some("cn-north-1"));
        assert_eq!(queue_region("http://127.0.0.1:5000/123456789012/codes"), None);
        assert_eq!(queue_region("https://localhost.localstack.cloud/123456789012/codes"), None);
    }
}
