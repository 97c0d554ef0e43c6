//! Turning `request.code` back into the code: the [`Decrypter`] port and its errors. Its adapter is [`esdk`]
//! (the AWS Encryption SDK with a KMS keyring, or the public development key for local runs).
//!
//! Cognito encrypts each code with the AWS Encryption SDK under the pool's KMS key, with the encryption context
//! `userpool-id` = the pool's id, and sends it base64-encoded
//! (<https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-lambda-custom-sms-sender.html>).

pub mod esdk;
pub mod header;

use std::future::Future;

use zeroize::Zeroizing;

use crate::aws::Check;

/// The encryption context key Cognito binds each code to.
pub const POOL_CONTEXT_KEY: &str = "userpool-id";

/// Turns `request.code` into the plaintext code.
pub trait Decrypter: Send + Sync {
    /// Decrypts the base64 `code` of an event from `user_pool_id`. The plaintext is zeroized on drop.
    fn decrypt(
        &self,
        code_b64: &str,
        user_pool_id: &str,
    ) -> impl Future<Output = Result<Zeroizing<String>, DecryptError>> + Send;

    /// Opens the connection to the key service during init and checks the key can decrypt
    /// ([`crate::sender::warmup`]). Nothing to do by default.
    fn warm_up(&self) -> impl Future<Output = Check> + Send {
        async { Check::Skipped }
    }
}

/// Why a code could not be decrypted. Texts name the cause, never the ciphertext or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("request.code is not standard base64")]
    NotBase64,
    #[error("request.code is not an AWS Encryption SDK message, or it was truncated or altered")]
    InvalidMessage,
    #[error("the code was encrypted for another user pool (encryption context userpool-id does not match the event's userPoolId)")]
    WrongPool,
    #[error("the code was not encrypted under this function's KMS key (KMS_KEY_ARN); check the pool's LambdaConfig.KMSKeyID")]
    WrongKey,
    #[error("KMS refused to decrypt: {0}; the function's role needs kms:Decrypt on KMS_KEY_ARN with the userpool-id context")]
    KmsDenied(String),
    #[error("KMS is unavailable or throttling: {0}")]
    KmsUnavailable(String),
    #[error("the decrypted code is not UTF-8 text")]
    NotText,
}

impl DecryptError {
    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DecryptError::KmsUnavailable(_))
    }
}
