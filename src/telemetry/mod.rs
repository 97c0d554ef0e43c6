//! What the function tells its operators: structured JSON logs ([`logging`]) and CloudWatch metrics in
//! Embedded Metric Format ([`metrics`]). Imports only the configuration's environment lookup and the fixed
//! vocabularies metrics dimensions are checked against (trigger sources, Region names).

pub mod logging;
pub mod metrics;
