//! The control socket's wire protocol, and its client ([`client`]): one
//! JSON request per connection, one JSON reply (and, for `export-open`,
//! the files passed after it).
//!
//! Owns the requests and their payloads, the role each needs, their
//! decoding (the fuzzing entry point) and the protocol's limits. A leaf:
//! it knows the core's types and the audit query, and nothing of how a
//! request is served ([`crate::ops::dispatch`]) or of the server
//! ([`crate::daemon::server`]).
//!
//! Invariant: no request field names a user; who asks is the kernel's word
//! (`SO_PEERCRED`), read by the server.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::query::{AccessQuery, Query};
use crate::core::roles::Role;
use crate::core::units::Timestamp;

pub mod client;

/// Largest request accepted.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Time a client has to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once, in all: beyond it, new ones are told "busy".
pub const MAX_CLIENTS: usize = 256;
/// Connections one user (other than root) may have open at once, so a
/// flood from one account cannot lock the others out.
pub const MAX_PER_USER: usize = 16;
/// Requests that read the tree or the whole audit log (plan, explain,
/// find, erase, export, report, audit show) carried out at once; the
/// others wait their turn.
pub const MAX_HEAVY: usize = 2;
/// How long a heavy request waits for its turn before it is told "busy".
pub const HEAVY_WAIT: Duration = Duration::from_secs(30);
/// Files passed per message after a reply (each message carries one
/// byte of data and its `SCM_RIGHTS`).
pub const FDS_PER_MSG: usize = 32;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Is the daemon there? (anyone)
    Ping {},
    /// Place a hold (operators).
    HoldAdd {
        /// The hold.
        hold: AddRequest,
    },
    /// List holds (viewers).
    HoldList {
        /// Include released and lapsed holds.
        #[serde(default)]
        all: bool,
    },
    /// One hold with its coverage (viewers).
    HoldShow {
        /// Its id.
        id: u64,
    },
    /// Release a hold (supervisors).
    HoldRelease {
        /// Its id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// Change a hold's expiry (operators).
    HoldExtend {
        /// Its id.
        id: u64,
        /// New expiry; None: indefinite.
        expires: Option<Timestamp>,
        /// Why.
        reason: String,
    },
    /// What the next sweep would delete (viewers).
    Plan {
        /// Totals only.
        #[serde(default)]
        summary: bool,
        /// List at most this many files (none: all when streamed, else
        /// [`crate::ops::plan::MAX_LISTED`]).
        #[serde(default)]
        limit: Option<u64>,
        /// The client reads the files as they stream (`{"item": …}` lines
        /// before the reply).
        #[serde(default)]
        stream: bool,
    },
    /// Zones, filesystems, the last sweep (viewers).
    Status {},
    /// The recordings in a range, audited (viewers).
    Find {
        /// The range and why.
        range: RangeRequest,
    },
    /// Delete a range ahead of its time (supervisors).
    Erase {
        /// The range and why.
        range: RangeRequest,
    },
    /// Why a recording is kept or due, or what removed it (viewers).
    Explain {
        /// The path (as the audit log encodes paths: a string, or bytes
        /// for a name that is not UTF-8).
        path: Value,
    },
    /// Query the audit log (viewers).
    AuditShow {
        /// The filters.
        query: Query,
    },
    /// Open a hold's recordings for export (supervisors); the reply is
    /// followed by the open files (`SCM_RIGHTS`).
    ExportOpen {
        /// Which hold, where to, why.
        export: OpenRequest,
    },
    /// Record a finished export's manifest digest (supervisors).
    ExportDone {
        /// What was written.
        done: DoneRequest,
    },
    /// The compliance report over a period (viewers).
    Report {
        /// The period.
        report: ReportRequest,
    },
    /// Open recordings for the caller, audited before the bytes
    /// (members of each zone's `access_group`); the reply is followed by
    /// the open files (`SCM_RIGHTS`).
    AccessOpen {
        /// Which recordings, why, where to.
        access: AccessRequest,
    },
    /// Record what the client read of an access (members of an access group).
    AccessDone {
        /// The hashes, the manifest.
        done: AccessDoneRequest,
    },
    /// Who accessed, found, exported or erased what, and what was deleted
    /// on what basis: the access log (viewers).
    AuditAccess {
        /// The filters.
        query: AccessQuery,
    },
    /// Open a case with a hold on its recordings (operators).
    CaseOpen {
        /// The case.
        case: CaseRequest,
    },
    /// Close a case with its outcome (supervisors).
    CaseClose {
        /// The outcome.
        close: CloseRequest,
    },
    /// The cases (viewers).
    CaseList {
        /// Include closed cases.
        #[serde(default)]
        all: bool,
    },
    /// Accept the deletions the mass-deletion guard holds back (supervisors).
    Confirm {
        /// Only this zone (else every zone with an open episode).
        #[serde(default)]
        zone: Option<String>,
        /// Why (recorded).
        reason: String,
    },
    /// Acknowledge an alarm about a subject (supervisors): a recording
    /// source retired on purpose.
    AlarmAck {
        /// The alarm kind's code ("recording-stalled").
        kind: String,
        /// Its subject ("cctv/cam07").
        subject: String,
        /// Why (recorded).
        reason: String,
    },
}

impl Request {
    /// Whether it reads the tree or the whole audit log (and so takes a
    /// turn among [`MAX_HEAVY`]); hold changes, status and lists do not.
    pub fn is_heavy(&self) -> bool {
        matches!(
            self,
            Request::Plan { .. }
                | Request::Explain { .. }
                | Request::Find { .. }
                | Request::Erase { .. }
                | Request::ExportOpen { .. }
                | Request::Report { .. }
                | Request::AuditShow { .. }
                | Request::AccessOpen { .. }
                | Request::AuditAccess { .. }
                | Request::CaseOpen { .. }
                | Request::CaseClose { .. }
        )
    }

    /// Whether it is answered from the daemon's inventory (which it waits
    /// for at start rather than walk the tree; `find` and `erase` read the
    /// directories it names for a past range).
    pub fn needs_inventory(&self) -> bool {
        matches!(
            self,
            Request::Status {}
                | Request::Plan { .. }
                | Request::Explain { .. }
                | Request::Find { .. }
                | Request::Erase { .. }
                | Request::HoldAdd { .. }
                | Request::HoldRelease { .. }
                | Request::HoldExtend { .. }
                | Request::HoldShow { .. }
                | Request::CaseOpen { .. }
                | Request::CaseClose { .. }
                | Request::AlarmAck { .. }
        )
    }

    /// The role it needs and its name for messages.
    pub fn needs(&self) -> (Role, &'static str) {
        match self {
            Request::Ping {} => (Role::Anyone, "ping"),
            Request::HoldAdd { .. } => (Role::Operator, "hold add"),
            Request::HoldList { .. } => (Role::Viewer, "hold list"),
            Request::HoldShow { .. } => (Role::Viewer, "hold show"),
            Request::HoldRelease { .. } => (Role::Supervisor, "hold release"),
            Request::HoldExtend { .. } => (Role::Operator, "hold extend"),
            Request::Plan { .. } => (Role::Viewer, "plan"),
            Request::Status {} => (Role::Viewer, "status"),
            Request::Find { .. } => (Role::Viewer, "find"),
            Request::Erase { .. } => (Role::Supervisor, "erase"),
            Request::Explain { .. } => (Role::Viewer, "explain"),
            Request::AuditShow { .. } => (Role::Viewer, "audit show"),
            Request::ExportOpen { .. } | Request::ExportDone { .. } => (Role::Supervisor, "export"),
            Request::Report { .. } => (Role::Viewer, "report"),
            Request::Confirm { .. } => (Role::Supervisor, "confirm"),
            Request::AlarmAck { .. } => (Role::Supervisor, "alarm ack"),
            // Each zone's access_group decides (crate::ops::open).
            Request::AccessOpen { .. } | Request::AccessDone { .. } => (Role::Anyone, "access"),
            Request::AuditAccess { .. } => (Role::Viewer, "audit access"),
            Request::CaseOpen { .. } => (Role::Operator, "case open"),
            Request::CaseClose { .. } => (Role::Supervisor, "case close"),
            Request::CaseList { .. } => (Role::Viewer, "case list"),
        }
    }
}

/// Parses a request line. Pure: also the fuzzing entry point.
pub fn decode(bytes: &[u8]) -> Result<Request, String> {
    if bytes.len() > MAX_REQUEST {
        return Err(format!("request larger than {MAX_REQUEST} bytes"));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("malformed request: {e}"))
}

/// `hold add`, as sent on the socket (times already absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    /// The zone; None for every zone.
    pub zone: Option<String>,
    /// Optional path glob inside the zone (`*/cam07/*`).
    #[serde(rename = "match")]
    pub glob: Option<String>,
    /// Earliest recording time covered (inclusive).
    pub from: Timestamp,
    /// Latest recording time covered (inclusive).
    pub to: Timestamp,
    /// Case reference.
    pub case: String,
    /// Why.
    pub reason: String,
    /// When it lapses; None: indefinite (must be explicit on the CLI).
    pub expires: Option<Timestamp>,
}

/// A `find` or `erase` request as sent on the socket (times absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeRequest {
    /// The zone.
    pub zone: String,
    /// Optional path glob inside the zone (`*/cam07/*`; `*` also matches `/`).
    #[serde(rename = "match")]
    pub glob: Option<String>,
    /// Earliest recording time (inclusive).
    pub from: Timestamp,
    /// Latest recording time (inclusive).
    pub to: Timestamp,
    /// Why (recorded in the audit log; required).
    pub reason: String,
}
/// `export-open`, as sent on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// The hold whose recordings to export.
    pub hold: u64,
    /// Where the caller copies them (recorded, not touched by the daemon).
    pub dest: String,
    /// Why (recorded; required).
    pub reason: String,
}

/// `export-done`, as sent on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneRequest {
    /// The hold.
    pub hold: u64,
    /// The destination.
    pub dest: String,
    /// SHA-256 of `MANIFEST.json`.
    pub manifest_sha256: String,
    /// Files copied and verified.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}
/// `access-open`, as sent on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    /// The recordings (absolute paths, as the audit log encodes paths); a
    /// path inside a unit (a frame of an event, a leg of a call) opens the
    /// whole unit.
    pub paths: Vec<Value>,
    /// Why (recorded; required).
    pub reason: String,
    /// Where the caller copies them (`copy --to`); None: streamed (`cat`).
    #[serde(default)]
    pub dest: Option<String>,
    /// The case this access serves (recorded).
    #[serde(default)]
    pub case: Option<String>,
}

/// Most recordings one `access-open` names.
pub const MAX_ACCESS_PATHS: usize = 1000;

/// `access-done`, as sent on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDoneRequest {
    /// The `access` record's sequence number (from the open's reply).
    pub access: u64,
    /// Where the copies went (None: streamed).
    #[serde(default)]
    pub dest: Option<String>,
    /// SHA-256 of the manifest (`copy`).
    #[serde(default)]
    pub manifest_sha256: Option<String>,
    /// Each file's SHA-256, in the listing's order.
    pub sha256: Vec<String>,
    /// Files read.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// `case-open`, as sent on the socket (times absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// Its reference (unique).
    pub reference: String,
    /// access, erasure or investigation.
    pub kind: String,
    /// Who asked.
    pub requested_by: String,
    /// What is asked.
    pub reason: String,
    /// The zone; None for every zone.
    pub zone: Option<String>,
    /// Optional path glob inside the zone (the camera).
    #[serde(rename = "match")]
    pub glob: Option<String>,
    /// Earliest recording time concerned (inclusive).
    pub from: Timestamp,
    /// Latest (inclusive).
    pub to: Timestamp,
    /// When the answer is due (None: a month from now).
    #[serde(default)]
    pub due: Option<Timestamp>,
}

/// `case-close`, as sent on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// The case's reference.
    pub reference: String,
    /// disclosed, erased, refused or no-action.
    pub outcome: String,
    /// Disclosed to whom (required with `disclosed`).
    #[serde(default)]
    pub to: Option<String>,
    /// Why, what was done (required).
    pub reason: String,
    /// Keep the case's hold in force (else it is released).
    #[serde(default)]
    pub keep_hold: bool,
}

/// A `report` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// From this time.
    pub since: Timestamp,
    /// Until this time (exclusive).
    pub until: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_accepts_requests_and_rejects_garbage() {
        assert_eq!(decode(br#"{"op":"ping"}"#).unwrap(), Request::Ping {});
        assert_eq!(
            decode(br#"{"op":"hold-list","all":true}"#).unwrap(),
            Request::HoldList { all: true }
        );
        let add = br#"{"op":"hold-add","hold":{"zone":"cctv","match":"*/cam07/*","from":1,"to":2,"case":"C","reason":"R","expires":null}}"#;
        assert!(matches!(decode(add).unwrap(), Request::HoldAdd { .. }));
        for bad in [
            &br#"{"op":"hold-release","id":1}"#[..],
            br#"{"op":"rm -rf"}"#,
            b"\xff\xfe",
            br#"{"op":"ping","user":"root"}"#,
            b"",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(decode(&vec![b' '; MAX_REQUEST + 1]).is_err());
    }
}
