//! The host around the daemon: systemd's notification protocol
//! ([`service`]), logging to the journal or standard error ([`logging`]),
//! and the Prometheus metrics file ([`metrics`]).
//!
//! May not: decide anything; these only report what the sweep and the
//! requests did.

pub mod logging;
pub mod metrics;
pub mod service;
