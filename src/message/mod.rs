//! What is sent: the Cognito event, message templates, the catalogue of templates per trigger source and
//! locale, and how many SMS parts a text takes. Plain code: it imports only [`crate::toml_file`].

pub mod catalogue;
pub mod code;
pub mod event;
pub mod sms_parts;
pub mod template;
