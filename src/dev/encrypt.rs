//! Encrypting codes as Cognito does, for sample events (`make-event`) and tests.

use std::collections::HashMap;

use aws_esdk::material_providers::types::keyring::KeyringRef;
use aws_esdk::material_providers::types::{EsdkAlgorithmSuiteId, EsdkCommitmentPolicy};
use base64::Engine;

use crate::decrypt::esdk::{esdk_client, init_err, CryptoInitError};
use crate::decrypt::POOL_CONTEXT_KEY;

/// Which algorithm suite an encrypted sample uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// What Cognito uses: 0x0378 (AES-256-GCM, HKDF-SHA384, ECDSA P-384), not key-committing.
    Cognito,
    /// The SDK's default committing suite (0x0578), which Cognito does not use: for tests showing such a
    /// message still decrypts under `RequireEncryptAllowDecrypt`.
    Committing,
}

/// Encrypts `plaintext` as Cognito would for `user_pool_id` (message format 1, encryption context
/// `userpool-id`) and returns standard base64, as in `request.code`.
pub async fn encrypt_code(
    keyring: &KeyringRef,
    user_pool_id: &str,
    plaintext: &[u8],
    suite: Suite,
) -> Result<String, CryptoInitError> {
    let (policy, suite_id) = match suite {
        Suite::Cognito => (
            EsdkCommitmentPolicy::ForbidEncryptAllowDecrypt,
            EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16HkdfSha384EcdsaP384,
        ),
        Suite::Committing => (
            EsdkCommitmentPolicy::RequireEncryptAllowDecrypt,
            EsdkAlgorithmSuiteId::AlgAes256GcmHkdfSha512CommitKeyEcdsaP384,
        ),
    };
    let out = esdk_client(policy)?
        .encrypt()
        .plaintext(aws_smithy_types::Blob::new(plaintext.to_vec()))
        .keyring(keyring.clone())
        .encryption_context(HashMap::from([(POOL_CONTEXT_KEY.to_owned(), user_pool_id.to_owned())]))
        .algorithm_suite_id(suite_id)
        .send()
        .await
        .map_err(init_err)?;
    let bytes = out.ciphertext.ok_or_else(|| CryptoInitError("no ciphertext".into()))?.into_inner();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}
