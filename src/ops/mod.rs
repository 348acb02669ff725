//! What a caller may ask of retentiond, and one dispatch of each request.
//!
//! Owns authorisation ([`auth`]), hold changes and views ([`hold`]),
//! acknowledged alarms ([`ack`]), find
//! and erase ([`access`]), audited opening of recordings ([`open`]), cases
//! with deadlines ([`case`]), export ([`export`]), explain ([`explain`]),
//! status ([`status`]) and the compliance report ([`report`]). The socket
//! server and root's offline path both call the same functions; every
//! answer is JSON, turned into text for people in one place ([`render`]),
//! and the report also into a self-contained HTML page ([`html`]).
//!
//! Invariant: authorisation happens before any work, and every change is
//! recorded in the audit log (durably) before it is acknowledged.
//! May not: run the sweep loop or touch the socket itself.

pub mod access;
pub mod ack;
pub mod auth;
pub mod case;
pub mod confirm;
pub mod dispatch;
pub mod explain;
pub mod export;
pub mod hold;
pub mod html;
pub mod open;
pub mod plan;
pub mod render;
pub mod report;
pub mod status;

use crate::state::holdstore::StoreError;

/// Appends `rec` to the audit log and makes it durable (fsync) before the
/// caller acts on it; returns its sequence number. On failure the error
/// reads "`failed`: <why>", `failed` saying what was not done.
pub(crate) fn record_durably<F: crate::audit::schema::Fields>(
    audit: &std::sync::Mutex<crate::audit::AuditLog>,
    rec: &F,
    failed: &str,
) -> Result<u64, OpError> {
    let mut a = crate::audit::lock_audit(audit);
    a.record(rec)
        .and_then(|s| a.sync().map(|_| s))
        .map_err(|e| OpError::Failed(format!("{failed}: {e}")))
}

/// Longest case reference, reason or glob accepted.
pub const MAX_TEXT: usize = 2000;

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The caller lacks the role.
    #[error("permission denied: {what} needs group {group}")]
    Denied {
        /// The operation, e.g. "hold release".
        what: String,
        /// The group granting it.
        group: String,
    },
    /// The request is invalid (names the field).
    #[error("{0}")]
    BadRequest(String),
    /// No such hold.
    #[error("no hold {0}")]
    NotFound(u64),
    /// Valid, but refused as it stands (an erasure over held footage).
    #[error("{0}")]
    Refused(String),
    /// The store or the audit log failed.
    #[error("{0}")]
    Failed(String),
}

impl OpError {
    /// A short code for scripts: denied, bad-request, not-found, refused, failed.
    pub fn kind(&self) -> &'static str {
        match self {
            OpError::Denied { .. } => "denied",
            OpError::BadRequest(_) => "bad-request",
            OpError::NotFound(_) => "not-found",
            OpError::Refused(_) => "refused",
            OpError::Failed(_) => "failed",
        }
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        OpError::Failed(e.to_string())
    }
}
