//! Reading who wrapped the data key from an Encryption SDK message's header, to tell a damaged message for
//! this function's key (bad input) from a message made under another key (a setup mistake). The header layout
//! is the SDK's message format
//! (<https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html>): version 1
//! (Cognito's) and version 2 (committing suites).

/// The key that wraps data keys for this decrypter, as it appears in a message's encrypted data keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnKey {
    /// The key provider ID: `aws-kms`, or a raw keyring's namespace.
    provider_id: String,
    /// The key provider info: the KMS key ARN, or a raw keyring's key name.
    key_name: Vec<u8>,
    /// What follows the key name in the provider info: nothing for KMS; a raw AES keyring adds the tag length,
    /// IV length (4 bytes each) and its 12-byte IV.
    suffix_len: usize,
}

impl OwnKey {
    /// A KMS key, by its full ARN.
    pub fn kms(key_arn: &str) -> Self {
        OwnKey { provider_id: "aws-kms".into(), key_name: key_arn.as_bytes().to_vec(), suffix_len: 0 }
    }

    /// A raw AES-GCM keyring (IV of 12 bytes), by namespace and key name.
    pub fn raw_aes(namespace: &str, key_name: &str) -> Self {
        OwnKey { provider_id: namespace.into(), key_name: key_name.as_bytes().to_vec(), suffix_len: 4 + 4 + 12 }
    }

    /// Whether `message` has an encrypted data key wrapped by this key. `false` when the header cannot be read.
    pub fn wrapped_a_data_key_of(&self, message: &[u8]) -> bool {
        data_key_providers(message).is_some_and(|keys| {
            keys.iter().any(|(id, info)| {
                *id == self.provider_id.as_bytes()
                    && info.len() == self.key_name.len() + self.suffix_len
                    && info.starts_with(&self.key_name)
            })
        })
    }
}

/// The (provider ID, provider info) of each encrypted data key in `message`'s header, or `None` when the
/// header is not one the SDK writes.
pub fn data_key_providers(message: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut r = Reader(message);
    let message_id_len = match r.take(1)?[0] {
        1 => {
            // Version 1: the type (0x80, customer authenticated encrypted data) comes next.
            (r.take(1)?[0] == 0x80).then_some(())?;
            16
        }
        2 => 32,
        _ => return None,
    };
    r.take(2 + message_id_len)?; // algorithm suite ID, message ID
    let context_len = r.u16()?;
    r.take(context_len)?;
    let count = r.u16()?;
    (0..count)
        .map(|_| {
            let id = r.field()?;
            let info = r.field()?;
            r.field()?; // the wrapped key itself
            Some((id, info))
        })
        .collect()
}

/// A cursor over big-endian, length-prefixed header fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let len = self.u16()?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 header with one data key from (`id`, `info`).
    fn v1_header(id: &[u8], info: &[u8]) -> Vec<u8> {
        let mut h = vec![1, 0x80, 0x03, 0x78];
        h.extend([9; 16]);
        h.extend([0, 4, 0, 0, 0, 0]); // a 4-byte context: no pairs (enough for the reader)
        h.extend([0, 1]);
        for field in [id, info, b"wrapped".as_slice()] {
            h.extend((field.len() as u16).to_be_bytes());
            h.extend(field);
        }
        h.extend([2, 0, 0, 0, 0]); // content type and the rest, not read
        h
    }

    #[test]
    fn reads_the_data_key_providers_of_a_header() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let header = v1_header(b"aws-kms", arn.as_bytes());
        assert_eq!(data_key_providers(&header), Some(vec![(b"aws-kms".as_slice(), arn.as_bytes())]));
        assert!(OwnKey::kms(arn).wrapped_a_data_key_of(&header));
        assert!(!OwnKey::kms("arn:aws:kms:us-east-1:111122223333:key/other").wrapped_a_data_key_of(&header));
        assert!(!OwnKey::kms(&arn[..arn.len() - 1]).wrapped_a_data_key_of(&header), "a prefix is not the key");
        let raw = v1_header(b"ns", &[b"name".as_slice(), &[0; 20]].concat());
        assert!(OwnKey::raw_aes("ns", "name").wrapped_a_data_key_of(&raw));
        assert!(!OwnKey::raw_aes("ns", "nam").wrapped_a_data_key_of(&raw));
    }

    #[test]
    fn an_unreadable_header_names_no_key() {
        let header = v1_header(b"aws-kms", b"arn");
        for cut in 0..header.len() - 5 {
            assert_eq!(data_key_providers(&header[..cut]), None, "cut at {cut}");
        }
        assert_eq!(data_key_providers(&[3, 0x80]), None);
        assert_eq!(data_key_providers(&[1, 0x81]), None);
    }
}
