//! What a decrypted `request.code` may be before it goes into a message, so a code Cognito would never send
//! (empty, or anything else a broken or hostile producer made) is refused instead of sent as
//! "Your verification code is .".
//!
//! The rule: a verification or MFA code is 1 to [`MAX_CODE_CHARS`] ASCII letters or digits (Cognito sends
//! six digits; letters are let through because the trigger's documentation does not promise digits, and
//! refusing a changed format would stop every sign-in); a temporary password (AdminCreateUser, after
//! unescaping) is 1 to [`MAX_PASSWORD_CHARS`] characters, none of them a control character (Cognito's
//! passwords are printable text, spaces allowed).

use super::event::TriggerSource;

/// The longest verification or MFA code accepted.
pub const MAX_CODE_CHARS: usize = 16;
/// The longest temporary password accepted (Cognito's password policy allows at most 256 characters).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a decrypted code is not one Cognito sends. Texts never carry the code or its length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the decrypted code is empty; Cognito always sends one for {0}")]
    Empty(String),
    #[error("the decrypted code is not 1 to {max} ASCII letters or digits, which Cognito sends for {0}", max = MAX_CODE_CHARS)]
    NotACode(String),
    #[error("the decrypted temporary password is too long or holds control characters")]
    NotAPassword,
}

/// Checks the decrypted (and, for AdminCreateUser, unescaped) `code` of a `source` event against the rule.
pub fn check_code(source: &TriggerSource, code: &str) -> Result<(), CodeError> {
    if code.is_empty() {
        return Err(CodeError::Empty(source.to_string()));
    }
    if *source == TriggerSource::AdminCreateUser {
        let printable = code.chars().take(MAX_PASSWORD_CHARS + 1).all(|c| !c.is_control());
        return match printable && code.chars().count() <= MAX_PASSWORD_CHARS {
            true => Ok(()),
            false => Err(CodeError::NotAPassword),
        };
    }
    match code.len() <= MAX_CODE_CHARS && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => Ok(()),
        false => Err(CodeError::NotACode(source.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ascii_letters_or_digits_up_to_the_limit() {
        let sign_up = TriggerSource::SignUp;
        for good in ["123456", "0", "ZXQ123456", &"9".repeat(MAX_CODE_CHARS)] {
            assert_eq!(check_code(&sign_up, good), Ok(()), "{good}");
        }
        assert_eq!(check_code(&sign_up, ""), Err(CodeError::Empty("CustomSMSSender_SignUp".into())));
        for bad in ["12 456", "123456\n", "１２３４５６", "12-456", "<b>", &"9".repeat(MAX_CODE_CHARS + 1)] {
            assert_eq!(check_code(&sign_up, bad), Err(CodeError::NotACode("CustomSMSSender_SignUp".into())), "{bad}");
        }
    }

    #[test]
    fn temporary_passwords_are_printable_text_up_to_the_limit() {
        let admin = TriggerSource::AdminCreateUser;
        for good in ["Tmp<Pass&1", "pass word", "pässwörd€", &"x".repeat(MAX_PASSWORD_CHARS)] {
            assert_eq!(check_code(&admin, good), Ok(()), "{good}");
        }
        assert!(matches!(check_code(&admin, ""), Err(CodeError::Empty(_))));
        for bad in ["tab\there", "nul\0", "bell\u{7}", "\u{85}next-line", &"x".repeat(MAX_PASSWORD_CHARS + 1)] {
            assert_eq!(check_code(&admin, bad), Err(CodeError::NotAPassword), "{bad:?}");
        }
    }
}
