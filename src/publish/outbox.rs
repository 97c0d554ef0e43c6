//! The local adapter: writes each message to a file or stdout instead of sending it. Local runs only: the
//! configuration refuses it without the public development key.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{MessageAttributes, PublishError, Publisher};
use crate::destination::phone::PhoneNumber;

/// Writes each message to a file (or stdout for `-`) instead of sending it: for local runs, never deployed.
pub struct Outbox {
    target: String,
    count: AtomicU64,
}

impl Outbox {
    /// Writes to the file `target`, or stdout for `-`.
    pub fn new(target: impl Into<String>) -> Self {
        Outbox { target: target.into(), count: Default::default() }
    }
}

impl Publisher for Outbox {
    async fn publish(
        &self,
        sns_region: &str,
        phone: &PhoneNumber,
        body: &str,
        attributes: &MessageAttributes,
    ) -> Result<String, PublishError> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let message_id = format!("local-outbox-{n}");
        let attributes: serde_json::Map<String, serde_json::Value> =
            attributes.iter().map(|(k, v)| ((*k).to_owned(), v.string_value().unwrap_or_default().into())).collect();
        let line = serde_json::json!({
            "sns_region": sns_region,
            "phone_number": phone.as_e164(),
            "message": body,
            "message_attributes": attributes,
            "message_id": message_id,
        });
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
