//! The Encryption SDK adapter: one ESDK client and one materials manager around a strict KMS keyring (or the
//! raw AES keyring of the public development key), all built once at init.

use std::collections::HashMap;

use aws_esdk::material_providers::client as mpl_client;
use aws_esdk::material_providers::types::cryptographic_materials_manager::CryptographicMaterialsManagerRef;
use aws_esdk::material_providers::types::keyring::KeyringRef;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::{AesWrappingAlg, EsdkCommitmentPolicy};
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;
use base64::Engine;
use zeroize::Zeroizing;

use super::header::OwnKey;
use super::{DecryptError, Decrypter, POOL_CONTEXT_KEY};
use crate::aws::{Check, ACCESS_DENIED};

/// Key namespace and name of the development keyring. Events made with it say so in their key provider info.
pub const DEV_KEY_NAMESPACE: &str = "cognito-sms-sender-local-dev";
pub const DEV_KEY_NAME: &str = "PUBLIC-TEST-KEY-NOT-SECRET";

/// The Encryption SDK client with one materials manager around one keyring, all built once at init.
#[derive(Clone)]
pub struct EsdkDecrypter {
    esdk: aws_esdk::client::Client,
    cmm: CryptographicMaterialsManagerRef,
    /// The KMS client the keyring uses and the key's ARN, for [`Decrypter::warm_up`].
    key_check: Option<(aws_sdk_kms::Client, String)>,
    /// The keyring's key, when known: a message whose data key it wrapped but that does not decrypt is
    /// damaged, not made under another key.
    own_key: Option<OwnKey>,
}

/// Why the decrypter could not be built (a configuration problem).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the AWS Encryption SDK: {0}")]
pub struct CryptoInitError(pub(crate) String);

pub(crate) fn init_err(e: impl std::fmt::Debug) -> CryptoInitError {
    CryptoInitError(format!("{e:?}"))
}

pub(crate) fn esdk_client(policy: EsdkCommitmentPolicy) -> Result<aws_esdk::client::Client, CryptoInitError> {
    let config = AwsEncryptionSdkConfig::builder().commitment_policy(policy).build().map_err(init_err)?;
    aws_esdk::client::Client::from_conf(config).map_err(init_err)
}

fn mpl() -> Result<mpl_client::Client, CryptoInitError> {
    mpl_client::Client::from_conf(MaterialProvidersConfig::builder().build().map_err(init_err)?).map_err(init_err)
}

/// A strict KMS keyring for one key. Strict keyrings only try data keys whose stored key id is this exact ARN,
/// so the ARN must be the full key ARN (checked in config).
pub async fn kms_keyring(key_arn: &str, kms: aws_sdk_kms::Client) -> Result<KeyringRef, CryptoInitError> {
    mpl()?.create_aws_kms_keyring().kms_key_id(key_arn).kms_client(kms).send().await.map_err(init_err)
}

/// A raw AES-256 keyring for the public development key: local runs and tests only.
pub async fn dev_keyring(key: &[u8; 32]) -> Result<KeyringRef, CryptoInitError> {
    mpl()?
        .create_raw_aes_keyring()
        .key_namespace(DEV_KEY_NAMESPACE)
        .key_name(DEV_KEY_NAME)
        .wrapping_key(aws_smithy_types::Blob::new(key.to_vec()))
        .wrapping_alg(AesWrappingAlg::AlgAes256GcmIv12Tag16)
        .send()
        .await
        .map_err(init_err)
}

/// Reads the development key file: 64 hex digits, `#` comments allowed.
pub fn read_dev_key(text: &str) -> Result<[u8; 32], CryptoInitError> {
    let hex: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut key = [0u8; 32];
    if hex.len() != 64 {
        return Err(CryptoInitError(format!("the development key must be 64 hex digits, found {}", hex.len())));
    }
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| CryptoInitError("the development key is not hex".into()))?;
    }
    Ok(key)
}

impl EsdkDecrypter {
    /// Cognito's codes use a non-committing suite (0x0378), so decryption must allow it:
    /// `RequireEncryptAllowDecrypt`. The SDK default refuses every real Cognito code.
    ///
    /// The default materials manager is built here, once: given a keyring, the SDK would build a new
    /// material-providers client and materials manager inside every decrypt.
    pub async fn new(keyring: KeyringRef) -> Result<Self, CryptoInitError> {
        let cmm =
            mpl()?.create_default_cryptographic_materials_manager().keyring(keyring).send().await.map_err(init_err)?;
        let esdk = esdk_client(EsdkCommitmentPolicy::RequireEncryptAllowDecrypt)?;
        Ok(EsdkDecrypter { esdk, cmm, key_check: None, own_key: None })
    }

    /// The decrypter of a deployed function: a strict keyring for `key_arn` through `kms`, checked at warm-up.
    pub async fn for_kms_key(key_arn: &str, kms: aws_sdk_kms::Client) -> Result<Self, CryptoInitError> {
        let decrypter = Self::new(kms_keyring(key_arn, kms.clone()).await?).await?;
        Ok(EsdkDecrypter { own_key: Some(OwnKey::kms(key_arn)), ..decrypter.with_key_check(kms, key_arn) })
    }

    /// The decrypter of local runs: the public development key.
    pub async fn for_dev_key(key: &[u8; 32]) -> Result<Self, CryptoInitError> {
        let decrypter = Self::new(dev_keyring(key).await?).await?;
        Ok(EsdkDecrypter { own_key: Some(OwnKey::raw_aes(DEV_KEY_NAMESPACE, DEV_KEY_NAME)), ..decrypter })
    }

    /// Warms up with `DescribeKey` on `key_arn` through `kms`, which must be the client the keyring was
    /// built with (so the connection it opens is the one decrypts use).
    pub fn with_key_check(mut self, kms: aws_sdk_kms::Client, key_arn: impl Into<String>) -> Self {
        self.key_check = Some((kms, key_arn.into()));
        self
    }
}

impl EsdkDecrypter {
    /// A message whose data key names this function's key but still does not decrypt was damaged (its
    /// wrapped key altered): bad input, not a message made under another key.
    fn reclassify(&self, error: DecryptError, ciphertext: &[u8]) -> DecryptError {
        match (&error, &self.own_key) {
            (DecryptError::WrongKey, Some(own)) if own.wrapped_a_data_key_of(ciphertext) => {
                DecryptError::InvalidMessage
            }
            _ => error,
        }
    }
}

impl Decrypter for EsdkDecrypter {
    async fn decrypt(&self, code_b64: &str, user_pool_id: &str) -> Result<Zeroizing<String>, DecryptError> {
        let ciphertext =
            base64::engine::general_purpose::STANDARD.decode(code_b64.trim()).map_err(|_| DecryptError::NotBase64)?;
        let context = HashMap::from([(POOL_CONTEXT_KEY.to_owned(), user_pool_id.to_owned())]);
        let out = self
            .esdk
            .decrypt()
            .ciphertext(ciphertext.clone())
            .materials_manager(self.cmm.clone())
            .encryption_context(context)
            .send()
            .await
            .map_err(|e| {
                let detail = format!("{e:?}");
                tracing::debug!(esdk_error = %detail, "decrypt failed");
                self.reclassify(classify(&detail), &ciphertext)
            })?;
        let plaintext = Zeroizing::new(out.plaintext.map(|b| b.into_inner()).unwrap_or_default());
        let text = std::str::from_utf8(&plaintext).map_err(|_| DecryptError::NotText)?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    async fn warm_up(&self) -> Check {
        use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
        let Some((kms, key_arn)) = &self.key_check else {
            return Check::Skipped;
        };
        let out = match kms.describe_key().key_id(key_arn).send().await {
            Ok(out) => out,
            Err(e) => return Check::from_error(&e, &["NotFoundException", "InvalidArnException"]),
        };
        let Some(key) = out.key_metadata else {
            return Check::Failed("DescribeKey returned no key metadata".into());
        };
        let state = key.key_state.unwrap_or(KeyState::Unavailable);
        if state != KeyState::Enabled {
            return Check::Unusable(format!("KMS_KEY_ARN key state is {state}, not Enabled"));
        }
        if key.key_usage.as_ref().is_some_and(|u| *u != KeyUsageType::EncryptDecrypt)
            || key.key_spec.as_ref().is_some_and(|s| *s != KeySpec::SymmetricDefault)
        {
            return Check::Unusable(
                "KMS_KEY_ARN is not a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT), which Cognito requires"
                    .into(),
            );
        }
        Check::Ready
    }
}

/// Maps the Encryption SDK's error (Dafny-generated, only its Debug text is informative) to a cause.
/// The Debug text carries SDK error codes and messages, never plaintext. KMS errors appear by the SDK's Rust
/// variant names, which spell KMS as `Kms` (`KmsInternalException` for KMS's `KMSInternalException`).
fn classify(debug: &str) -> DecryptError {
    const TRANSIENT: [&str; 9] = [
        "ThrottlingException",
        "KmsInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "DispatchFailure",
        "TimeoutError",
        "ResponseError",
        "InternalFailure",
        "ServiceUnavailable",
    ];
    // A disabled key or one pending deletion refuses like a missing permission: the operator must act.
    const KEY_STATE: [&str; 2] = ["DisabledException", "KmsInvalidStateException"];
    if let Some(code) = TRANSIENT.iter().find(|c| debug.contains(*c)) {
        return DecryptError::KmsUnavailable((*code).to_owned());
    }
    if let Some(code) = ACCESS_DENIED.iter().chain(&KEY_STATE).find(|c| debug.contains(*c)) {
        return DecryptError::KmsDenied((*code).to_owned());
    }
    if debug.contains("Encryption context does not match") || debug.contains("encryption context") {
        return DecryptError::WrongPool;
    }
    if debug.contains("IncorrectKeyException")
        || debug.contains("NotFoundException")
        || debug.contains("No Encrypted Data Keys found to match")
        || debug.contains("Unable to decrypt any data keys")
        || debug.contains("unable to decrypt any encrypted data key")
        || debug.contains("NoMatchingDataKey")
    {
        return DecryptError::WrongKey;
    }
    DecryptError::InvalidMessage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dev_key() {
        let k = read_dev_key("# comment\n0011223344556677889900112233445566778899001122334455667788990011\n").unwrap();
        assert_eq!(k[0], 0x00);
        assert_eq!(k[1], 0x11);
        assert!(read_dev_key("abcd").is_err());
        assert!(read_dev_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn classifies_sdk_errors() {
        assert_eq!(classify("… ThrottlingException …"), DecryptError::KmsUnavailable("ThrottlingException".into()));
        // As the SDK writes them (a mocked KMS answering 500 KMSInternalException, and a key pending deletion).
        let internal = "CollectionOfErrors { list: [TrentServiceError { error: KmsInternalException { error: KmsInternalException { message: Some(\"m\") } } }] }";
        assert_eq!(classify(internal), DecryptError::KmsUnavailable("KmsInternalException".into()));
        let pending = "TrentServiceError { error: KmsInvalidStateException { error: KmsInvalidStateException { message: None } } }";
        assert_eq!(classify(pending), DecryptError::KmsDenied("KmsInvalidStateException".into()));
        assert_eq!(classify("AccessDeniedException"), DecryptError::KmsDenied("AccessDeniedException".into()));
        assert_eq!(
            classify("Encryption context does not match reproduced encryption context"),
            DecryptError::WrongPool
        );
        assert_eq!(classify("something else"), DecryptError::InvalidMessage);
        assert_eq!(
            classify(
                "Unable to decrypt data key: No Encrypted Data Keys found to match. Expected: KeyProviderId: aws-kms"
            ),
            DecryptError::WrongKey
        );
        assert!(DecryptError::KmsUnavailable("x".into()).is_transient());
        assert!(!DecryptError::WrongPool.is_transient());
    }
}
