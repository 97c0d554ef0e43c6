//! The local adapter: writes each message (for End User Messaging routes, the `SendTextMessage` request) to a
//! file or stdout instead of sending it. Local runs only: the
//! configuration refuses it without the public development key.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::eum::{request_json, text_message};
use super::{MessageAttributes, PublishError, Publisher};
use crate::config::TextMessageOptions;
use crate::destination::attributes::TransportKind;
use crate::destination::phone::PhoneNumber;

/// Writes each message to a file (or stdout for `-`) instead of sending it: for local runs, never deployed.
pub struct Outbox {
    target: String,
    count: AtomicU64,
    text_message: TextMessageOptions,
}

impl Outbox {
    /// Writes to the file `target`, or stdout for `-`.
    pub fn new(target: impl Into<String>) -> Self {
        Outbox { target: target.into(), count: Default::default(), text_message: TextMessageOptions::default() }
    }

    /// Shows End User Messaging requests as sent with `options` (`SMS_TTL_SECONDS`, `SMS_DRY_RUN`).
    pub fn with_text_message_options(mut self, options: TextMessageOptions) -> Self {
        self.text_message = options;
        self
    }
}

impl Publisher for Outbox {
    async fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes<'_>,
    ) -> Result<String, PublishError> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let message_id = format!("local-outbox-{n}");
        let line = match attributes.route.transport {
            TransportKind::Sns => {
                let attributes: serde_json::Map<String, serde_json::Value> = attributes
                    .route
                    .message_attributes_for(attributes.source)
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.string_value().unwrap_or_default().into()))
                    .collect();
                serde_json::json!({
                    "sns_region": sns_region,
                    "phone_number": phone.as_e164(),
                    "message": body,
                    "message_attributes": attributes,
                    "message_id": message_id,
                })
            }
            TransportKind::EndUserMessaging => serde_json::json!({
                "region": sns_region,
                "send_text_message": request_json(&text_message(phone, body, attributes, &self.text_message)),
                "message_id": message_id,
            }),
        };
        let write = |w: &mut dyn Write| writeln!(w, "{line}");
        let result = if self.target == "-" {
            write(&mut std::io::stdout().lock())
        } else {
            std::fs::OpenOptions::new().create(true).append(true).open(&self.target).and_then(|mut f| write(&mut f))
        };
        result.map_err(|e| PublishError::Unreachable(format!("LOCAL_OUTBOX not writable: {}", e.kind())))?;
        Ok(message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::attributes::SmsAttributes;
    use crate::destination::routing::Routes;
    use crate::message::event::TriggerSource;

    #[tokio::test]
    async fn end_user_messaging_routes_show_the_send_text_message_request() {
        let sms = SmsAttributes {
            transport: TransportKind::EndUserMessaging,
            origination_identity: Some("pool-abc".into()),
            configuration_set: Some("otp".into()),
            ..SmsAttributes::default()
        };
        let routes = Routes::from_attributes(&sms);
        let phone = PhoneNumber::parse(Some("+4915123456789")).unwrap();
        let attributes =
            MessageAttributes { route: routes.route_for(&phone), source: &TriggerSource::ForgotPassword, pool: "p" };
        let path = std::env::temp_dir().join(format!("outbox-{}.jsonl", fastrand::u64(..)));
        let options = TextMessageOptions { ttl: None, dry_run: true, feedback: false };
        let outbox = Outbox::new(path.to_str().unwrap()).with_text_message_options(options);
        outbox.publish("eu-central-1", &phone, "Code 1", &attributes).await.unwrap();
        let line: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).ok();
        let r = &line["send_text_message"];
        assert_eq!(
            (r["DestinationPhoneNumber"].as_str(), r["MessageBody"].as_str()),
            (Some("+4915123456789"), Some("Code 1"))
        );
        assert_eq!(
            (r["OriginationIdentity"].as_str(), r["ConfigurationSetName"].as_str()),
            (Some("pool-abc"), Some("otp"))
        );
        assert_eq!((r["TimeToLive"].as_i64(), r["DryRun"].as_bool()), (Some(3_600), Some(true)));
        assert_eq!(r["Context"]["TriggerSource"], "CustomSMSSender_ForgotPassword");
        assert_eq!(line["region"], "eu-central-1");
    }
}
