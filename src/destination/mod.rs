//! Where a message goes and how it is sent there: the phone number and its country, the SNS Region, the
//! SMS attributes and their checks, and the routing table per country. Plain code: it imports only the
//! trigger source ([`crate::message::event::TriggerSource`], for India's per-message DLT template ids) and
//! [`crate::toml_file`].

pub mod attributes;
pub mod phone;
pub mod region;
pub mod routing;
