//! The audit log's schema: every record's action with its code, and the
//! fields each action's records carry, as one type per action. Writers
//! build the type and hand it to [`AuditLog::record`](crate::audit::AuditLog::record);
//! readers get it back with [`Record::fields_as`](crate::audit::Record::fields_as).
//! Alarm kinds live in [`crate::core::alarm`], reason codes in
//! [`crate::core::plan::Cause`]; `tests/docs_in_sync.rs` checks the manual
//! pages against [`Action::ALL`] and those.
//!
//! Readers are lenient the way an auditor needs: a field a record lacks
//! (an older version wrote it) reads as empty, never as a lost record.

use std::ffi::OsString;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::audit::{path_from_value, path_value};
use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::guard::Trigger;
use crate::core::plan::reason_text;
use crate::core::units::Timestamp;

/// What a record says happened (its `action` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// A policy was loaded (at start and on reload), with its digest.
    PolicyLoad,
    /// A recording is about to be deleted, and why (written ahead).
    Delete,
    /// A deletion batch's outcome: deleted, vanished, changed, failed.
    BatchDone,
    /// A batch a crash left open, closed at the next start.
    Recovered,
    /// A torn tail cut off the log at open.
    Repair,
    /// The live file ends here; the next one continues the chain.
    Rotate,
    /// The first record of a live file after a rotation.
    Continue,
    /// An alarm raised or cleared.
    Alarm,
    /// A hold placed.
    HoldAdd,
    /// A hold's expiry changed.
    HoldExtend,
    /// A hold released.
    HoldRelease,
    /// A hold's expiry passed.
    HoldLapse,
    /// A supervisor's erasure request.
    EraseRequest,
    /// A `find` of recordings by range.
    Find,
    /// A hold's recordings handed out for export.
    Export,
    /// An export's outcome, as the client reports it.
    ExportDone,
    /// Hourly retention figures per zone.
    Sample,
    /// A supervisor accepted deletions the guard held back.
    Confirm,
    /// A zone's after_delete hook failed or timed out.
    Hook,
    /// Recordings opened for a caller (`cat`, `copy`), before the bytes.
    Access,
    /// An access's outcome, as the client reports it (hashes, manifest).
    AccessDone,
    /// A case opened (a data subject's request, an investigation).
    CaseOpen,
    /// A case closed, with its outcome.
    CaseClose,
    /// A supervisor acknowledged an alarm (a recording source retired on purpose).
    AlarmAck,
}

impl Action {
    /// Every action, in the order the manual lists them.
    pub const ALL: [Action; 24] = [
        Action::PolicyLoad,
        Action::Delete,
        Action::BatchDone,
        Action::Recovered,
        Action::Repair,
        Action::Rotate,
        Action::Continue,
        Action::Alarm,
        Action::HoldAdd,
        Action::HoldExtend,
        Action::HoldRelease,
        Action::HoldLapse,
        Action::EraseRequest,
        Action::Find,
        Action::Export,
        Action::ExportDone,
        Action::Sample,
        Action::Confirm,
        Action::Hook,
        Action::Access,
        Action::AccessDone,
        Action::CaseOpen,
        Action::CaseClose,
        Action::AlarmAck,
    ];

    /// Its code in the log.
    pub const fn code(self) -> &'static str {
        match self {
            Action::PolicyLoad => "policy-load",
            Action::Delete => "delete",
            Action::BatchDone => "batch-done",
            Action::Recovered => "recovered",
            Action::Repair => "repair",
            Action::Rotate => "rotate",
            Action::Continue => "continue",
            Action::Alarm => "alarm",
            Action::HoldAdd => "hold-add",
            Action::HoldExtend => "hold-extend",
            Action::HoldRelease => "hold-release",
            Action::HoldLapse => "hold-lapse",
            Action::EraseRequest => "erase-request",
            Action::Find => "find",
            Action::Export => "export",
            Action::ExportDone => "export-done",
            Action::Sample => "sample",
            Action::Confirm => "confirm",
            Action::Hook => "hook",
            Action::Access => "access",
            Action::AccessDone => "access-done",
            Action::CaseOpen => "case-open",
            Action::CaseClose => "case-close",
            Action::AlarmAck => "alarm-ack",
        }
    }

    /// The action with this code.
    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl PartialEq<Action> for str {
    fn eq(&self, a: &Action) -> bool {
        self == a.code()
    }
}

impl PartialEq<Action> for String {
    fn eq(&self, a: &Action) -> bool {
        self == a.code()
    }
}

impl PartialEq<Action> for serde_json::Value {
    fn eq(&self, a: &Action) -> bool {
        self.as_str() == Some(a.code())
    }
}

/// The fields of one action's records.
pub trait Fields: Serialize + DeserializeOwned {
    /// The action whose records these are.
    const ACTION: Action;
}

macro_rules! fields {
    ($($t:ty => $a:ident),* $(,)?) => {
        $(impl Fields for $t {
            const ACTION: Action = Action::$a;
        })*
    };
}

fields! {
    PolicyLoad => PolicyLoad,
    Delete => Delete,
    BatchDone => BatchDone,
    Recovered => Recovered,
    Repair => Repair,
    Rotate => Rotate,
    Continue => Continue,
    AlarmRecord => Alarm,
    HoldAdd => HoldAdd,
    HoldExtend => HoldExtend,
    HoldRelease => HoldRelease,
    HoldLapse => HoldLapse,
    EraseRequest => EraseRequest,
    Find => Find,
    Export => Export,
    ExportDone => ExportDone,
    Sample => Sample,
    Confirm => Confirm,
    Hook => Hook,
    Access => Access,
    AccessDone => AccessDone,
    CaseOpen => CaseOpen,
    CaseClose => CaseClose,
    AlarmAck => AlarmAck,
}

/// A file path in a record, lossless: a JSON string when its bytes are
/// UTF-8, else `{"hex": "..."}` ([`path_value`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecPath(pub OsString);

impl<P: AsRef<std::ffi::OsStr>> From<P> for RecPath {
    fn from(p: P) -> RecPath {
        RecPath(p.as_ref().to_os_string())
    }
}

impl Serialize for RecPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        path_value(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RecPath, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        path_from_value(&v)
            .map(RecPath)
            .ok_or_else(|| serde::de::Error::custom("not a path: neither a string nor {\"hex\": ...}"))
    }
}

/// `policy-load`: a policy put in force, with its digest and zones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyLoad {
    /// The policy file.
    pub file: String,
    /// Its SHA-256.
    pub policy: String,
    /// Its zones.
    pub zones: Vec<ZoneLoaded>,
}

/// One zone of a `policy-load` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ZoneLoaded {
    /// Its name.
    pub name: String,
    /// Its roots.
    pub paths: Vec<String>,
    /// Its floor ("14d").
    pub min_age: String,
    /// Its ceiling.
    pub max_age: String,
    /// What a full disk does to it.
    pub when_full: String,
}

/// `delete`: a recording about to be deleted, and why (written ahead).
///
/// One record names one of three things, told by `unit`:
/// - absent: one file, `path`;
/// - "dir" or "group": one unit of several files deleted together
///   (`path` is its directory, or its directory and key), its `members`;
/// - "files": the files of one directory deleted for the same reason in
///   one batch (a grouped record): `path` is the directory, `files` its
///   files, each `[name, size, bytes, seconds after rec_time]`; `text` is
///   the sentence's shared part, completed per file from its recording
///   time, `decided` and `held` ([`Delete::each`]).
///
/// Grouped records (since 0.20) cost a few bytes per file where a record
/// of its own cost a line and a hash; readers answer per file either way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Delete {
    /// Its zone.
    pub zone: String,
    /// Its absolute path (a grouped record's: the directory).
    pub path: RecPath,
    /// Its size (a unit's or a grouped record's: the sum).
    pub size: u64,
    /// The bytes its deletion frees (allocated blocks).
    pub bytes: u64,
    /// Its recording time, RFC 3339 (a grouped record's: the earliest).
    pub rec_time: String,
    /// The reason code ([`crate::core::plan::Cause`]).
    pub reason: String,
    /// The reason in words (a grouped record's: the shared part).
    pub text: String,
    /// The digest of the policy that decided it.
    pub policy: String,
    /// The hold that kept it past max_age, released or lapsed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub former_hold: Option<u64>,
    /// The zone's rule whose floor and ceiling applied, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What the record names when it is more than one file: "dir" (the
    /// path is a unit's directory), "group" (the path is a unit's
    /// directory and its key), "files" (a grouped record). Absent for a
    /// single file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A unit's files, as deleted together; `size` and `bytes` are their sums.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// A grouped record's former hold part of each file's sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// A grouped record's decision time, RFC 3339: each file's age is from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided: Option<String>,
    /// A grouped record's files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<GroupFile>,
}

/// One file of a grouped `delete` record, written as a JSON array:
/// `[name, size, bytes, seconds after the record's rec_time]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupFile(pub RecPath, pub u64, pub u64, pub i64);

/// What a grouped record's kind (`unit`) is.
pub const GROUPED: &str = "files";

impl Delete {
    /// Whether this is a grouped record (several files of one directory).
    pub fn is_grouped(&self) -> bool {
        self.unit.as_deref() == Some(GROUPED)
    }

    /// Whether this is a unit's record (several files as one recording).
    pub fn is_unit(&self) -> bool {
        self.unit.is_some() && !self.is_grouped()
    }

    /// How many recordings it names: a grouped record's files, else one.
    pub fn recordings(&self) -> u64 {
        if self.is_grouped() {
            self.files.len() as u64
        } else {
            1
        }
    }

    /// The absolute paths of the files this record deletes: the path
    /// itself for a single file, each member's for a unit, each file's
    /// for a grouped record.
    pub fn files(&self) -> Vec<std::ffi::OsString> {
        use std::path::Path;
        let path = Path::new(&self.path.0);
        match self.unit.as_deref() {
            None => vec![self.path.0.clone()],
            Some(GROUPED) => self.files.iter().map(|f| path.join(&f.0 .0).into_os_string()).collect(),
            Some(kind) => {
                let base = if kind == "dir" {
                    path
                } else {
                    path.parent().unwrap_or(path)
                };
                self.members
                    .iter()
                    .map(|m| base.join(&m.name.0).into_os_string())
                    .collect()
            }
        }
    }

    /// The record per recording, as a record of its own would have said
    /// it: a grouped record's files each with its path, size, recording
    /// time and whole sentence; any other record as it is.
    pub fn each(&self) -> Vec<Delete> {
        if !self.is_grouped() {
            return vec![self.clone()];
        }
        let base = Timestamp::parse_rfc3339(&self.rec_time).unwrap_or_default();
        let decided = self.decided.as_deref().and_then(Timestamp::parse_rfc3339);
        let dir = std::path::Path::new(&self.path.0);
        self.files
            .iter()
            .map(|f| {
                let t = Timestamp(base.0.saturating_add(f.3));
                Delete {
                    path: RecPath(dir.join(&f.0 .0).into_os_string()),
                    size: f.1,
                    bytes: f.2,
                    rec_time: t.rfc3339(),
                    text: match decided {
                        Some(d) => reason_text(&self.text, t, d, self.held.as_deref()),
                        None => self.text.clone(),
                    },
                    unit: None,
                    held: None,
                    decided: None,
                    files: Vec::new(),
                    ..self.clone_head()
                }
            })
            .collect()
    }

    /// The fields a grouped record's files share.
    fn clone_head(&self) -> Delete {
        Delete {
            zone: self.zone.clone(),
            reason: self.reason.clone(),
            policy: self.policy.clone(),
            former_hold: self.former_hold,
            rule: self.rule.clone(),
            ..Delete::default()
        }
    }
}

/// `hook`: a site command failed (exit status, signal, timeout, cannot
/// start): a zone's `after_delete` for a batch whose deletions are durable
/// (`zone`, `units`, `first`, `last`), or an alarm command for one alarm
/// raised or cleared (`alarm`). It is not run again for them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hook {
    /// The zone (after_delete only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub zone: String,
    /// The command as configured.
    pub command: String,
    /// How many deleted recordings it was given (after_delete only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<u64>,
    /// The `delete` records of the batch: first and last seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// The last one's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<u64>,
    /// The alarm an alarm command was told of (alarm commands only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<HookAlarm>,
    /// What went wrong, with the end of its output.
    pub text: String,
}

/// The alarm of a failed alarm command's `hook` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HookAlarm {
    /// Its kind's code.
    pub kind: String,
    /// What it concerns.
    pub subject: String,
    /// Raised or cleared.
    pub state: AlarmState,
    /// The policy key the command comes from (`alarms.command`, or
    /// `alarms.command_for.<kind>`).
    pub key: String,
}

/// One file of a unit's `delete` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// Relative to the unit's directory.
    pub name: RecPath,
    /// Its size.
    pub size: u64,
    /// The bytes its deletion frees.
    pub bytes: u64,
}

impl From<&crate::core::inventory::Member> for Member {
    fn from(m: &crate::core::inventory::Member) -> Member {
        Member {
            name: RecPath(m.rel.clone()),
            size: m.stat.size,
            bytes: m.stat.frees(),
        }
    }
}

/// `batch-done`: what became of a batch's `delete` records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchDone {
    /// The first `delete` record's seq.
    pub first: Option<u64>,
    /// The last one's.
    pub last: Option<u64>,
    /// How many were deleted.
    pub deleted: u64,
    /// The bytes that freed.
    pub bytes: u64,
    /// Gone before the unlink (someone else deleted them).
    pub vanished: Vec<Outcome>,
    /// Replaced or changed since the decision: kept.
    pub changed: Vec<Outcome>,
    /// The unlink failed: kept.
    pub failed: Vec<Outcome>,
}

/// One file a batch did not delete as planned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// Its `delete` record's seq.
    pub seq: u64,
    /// Its path.
    pub path: RecPath,
    /// Why the unlink failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    /// The outcome of `delete` record `seq` for `path`.
    pub fn new(seq: u64, path: impl Into<RecPath>) -> Outcome {
        Outcome {
            seq,
            path: path.into(),
            error: None,
        }
    }
}

impl BatchDone {
    /// Every file of the batch that is still there or was never ours to delete.
    pub fn undone(&self) -> impl Iterator<Item = &Outcome> {
        self.vanished.iter().chain(&self.changed).chain(&self.failed)
    }
}

/// `recovered`: a batch a crash left open, checked on disk at the next start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recovered {
    /// What happened, in words.
    pub text: String,
    /// Files that are gone.
    pub gone: Vec<Outcome>,
    /// Files still present: not deleted.
    pub present: Vec<Outcome>,
    /// Files of units the crash split, deleted now to finish them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finished: Vec<Outcome>,
}

/// `repair`: a torn tail cut off the log at open.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Repair {
    /// What happened, in words.
    pub text: String,
    /// How many bytes were cut.
    pub torn_bytes: u64,
    /// The first of them, in hex.
    pub torn_hex: String,
}

/// `rotate`: the live file ends here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rotate {
    /// The file the chain continues in.
    pub next_file: RecPath,
}

/// `continue`: the first record of a live file after a rotation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Continue {
    /// The rotated file the chain comes from.
    pub from: RecPath,
}

/// Whether an `alarm` record raises or clears.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmState {
    /// Raised.
    Raised,
    /// Cleared.
    #[default]
    Cleared,
}

/// `alarm`: an alarm raised or cleared. The kind is kept as its code, so a
/// log from another version still reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlarmRecord {
    /// Its kind's code ([`AlarmKind::code`]).
    pub kind: String,
    /// What it concerns.
    pub subject: String,
    /// Raised or cleared.
    pub state: AlarmState,
    /// Why (raised only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl AlarmRecord {
    /// The record of `alarm` being raised.
    pub fn raised(alarm: &Alarm) -> AlarmRecord {
        AlarmRecord {
            kind: alarm.kind.code().to_string(),
            subject: alarm.subject.clone(),
            state: AlarmState::Raised,
            text: Some(alarm.text.clone()),
        }
    }

    /// The record of the alarm `kind` about `subject` being cleared.
    pub fn cleared(kind: AlarmKind, subject: &str) -> AlarmRecord {
        AlarmRecord {
            kind: kind.code().to_string(),
            subject: subject.to_string(),
            state: AlarmState::Cleared,
            text: None,
        }
    }
}

/// What a hold covers, in its records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldScope {
    /// Its zone; none for every zone.
    pub zone: Option<String>,
    /// Its path glob.
    #[serde(rename = "match")]
    pub glob: Option<String>,
    /// Earliest recording time, RFC 3339.
    pub from: String,
    /// Latest.
    pub to: String,
}

/// The fields every hold record carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldFields {
    /// The hold's number.
    pub hold: u64,
    /// Its case reference.
    pub case: String,
    /// Why this happened (placed, extended, released, lapsed).
    pub reason: String,
    /// Who did it.
    pub by: String,
    /// Their uid.
    pub uid: u32,
    /// What it covers.
    pub scope: HoldScope,
    /// When it lapses, RFC 3339; none when indefinite.
    pub expires: Option<String>,
    /// How many recordings it covers now.
    pub covered_files: u64,
    /// Their bytes.
    pub covered_bytes: u64,
}

/// `hold-add`: a hold placed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HoldAdd(pub HoldFields);

/// `hold-extend`: a hold's expiry changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldExtend {
    /// The hold as it is now.
    #[serde(flatten)]
    pub hold: HoldFields,
    /// Its expiry before, RFC 3339; none when it was indefinite.
    pub old_expires: Option<String>,
}

/// `hold-release`: a hold released.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HoldRelease(pub HoldFields);

/// `hold-lapse`: a hold's expiry passed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HoldLapse(pub HoldFields);

/// The fields of `find` and `erase-request`: who asked, for which range, why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RangeFields {
    /// The zone.
    pub zone: String,
    /// The path glob.
    #[serde(rename = "match")]
    pub glob: Option<String>,
    /// Earliest recording time, RFC 3339.
    pub from: String,
    /// Latest.
    pub to: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// Their uid.
    pub uid: u32,
    /// How many recordings the range holds.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// `find`: recordings looked up by range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Find(pub RangeFields);

/// `erase-request`: a supervisor's erasure, before its deletions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EraseRequest(pub RangeFields);

/// `export`: a hold's recordings handed out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Export {
    /// The hold.
    pub hold: u64,
    /// Its case reference.
    pub case: String,
    /// Where they go, as the client says.
    pub dest: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// Their uid.
    pub uid: u32,
    /// How many files were opened for the client.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// How many could not be opened.
    pub unreadable: u64,
}

/// `export-done`: an export's outcome, as the client reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportDone {
    /// The hold.
    pub hold: u64,
    /// Where they went.
    pub dest: String,
    /// The SHA-256 of the manifest written beside them.
    pub manifest_sha256: String,
    /// How many files were copied.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Who.
    pub by: String,
    /// Their uid.
    pub uid: u32,
}

/// One file of an `access` record: enough to name the very file read
/// (its inode, size and modification time identify its content as it was
/// when opened; the client's `access-done` adds its SHA-256).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessFile {
    /// Its zone.
    pub zone: String,
    /// Its absolute path.
    pub path: RecPath,
    /// Its recording time, RFC 3339.
    pub time: String,
    /// Its size.
    pub size: u64,
    /// Its inode.
    pub ino: u64,
    /// Its modification time, seconds.
    pub mtime: i64,
    /// And nanoseconds.
    pub mtime_nsec: i64,
}

/// `access`: recordings opened for a caller, written before the caller
/// gets a byte.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Access {
    /// Why (required).
    pub reason: String,
    /// Who.
    pub by: String,
    /// Their uid.
    pub uid: u32,
    /// Where the caller copies them (`copy --to`: external media, a
    /// handover); none when they are streamed to the caller (`cat`).
    pub dest: Option<String>,
    /// The case this access serves, if the caller named one.
    pub case: Option<String>,
    /// The files handed to the caller (a unit's every member).
    pub files: Vec<AccessFile>,
    /// Their bytes.
    pub bytes: u64,
    /// Files that could not be opened.
    pub unreadable: u64,
}

/// `access-done`: what the caller's client read, as it reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessDone {
    /// The `access` record's sequence number.
    pub access: u64,
    /// Where the copies went (none: streamed).
    pub dest: Option<String>,
    /// The SHA-256 of the manifest written beside the copies (`copy`).
    pub manifest_sha256: Option<String>,
    /// Each file's SHA-256, in the access record's order.
    pub sha256: Vec<String>,
    /// How many files were read.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Who.
    pub by: String,
    /// Their uid.
    pub uid: u32,
}

/// `case-open`: a case opened, with the hold freezing its recordings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseOpen {
    /// Its reference.
    pub case: String,
    /// access, erasure or investigation.
    pub kind: String,
    /// Who asked.
    pub requested_by: String,
    /// What is asked.
    pub reason: String,
    /// The recordings it concerns (its hold's scope).
    pub scope: HoldScope,
    /// The hold placed with it.
    pub hold: Option<u64>,
    /// When the answer is due, RFC 3339.
    pub due: String,
    /// Who opened it.
    pub by: String,
    /// Their uid.
    pub uid: u32,
}

/// `case-close`: a case closed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseClose {
    /// Its reference.
    pub case: String,
    /// disclosed, erased, refused or no-action.
    pub outcome: String,
    /// Disclosed to whom.
    pub to: Option<String>,
    /// Why, what was done.
    pub reason: String,
    /// Its hold.
    pub hold: Option<u64>,
    /// The hold was kept in force (else released with the case).
    pub hold_kept: bool,
    /// When it was due, RFC 3339.
    pub due: String,
    /// Who closed it.
    pub by: String,
    /// Their uid.
    pub uid: u32,
}

/// `sample`: a zone's retention figures (hourly).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// The zone.
    pub zone: String,
    /// When, RFC 3339.
    pub at: String,
    /// How many recordings it holds.
    pub recordings: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The oldest one's time.
    pub oldest: Option<String>,
    /// The newest one's.
    pub newest: Option<String>,
    /// The retention achieved: the oldest one's age, in seconds.
    pub retention_secs: Option<i64>,
    /// The zone's min_age, in seconds.
    pub min_age_secs: Option<i64>,
    /// Its max_age, in seconds.
    pub max_age_secs: Option<i64>,
    /// Days its filesystem can keep the floors at the current recording
    /// rate (the lowest, for a zone on several); absent when the footage
    /// does not grow, or from a version before the forecast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_days: Option<f64>,
}

/// `alarm-ack`: a supervisor acknowledged an alarm about a subject (a
/// recording source retired on purpose); it stays silent until the source
/// records again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlarmAck {
    /// The alarm kind's code.
    pub kind: String,
    /// What it concerns ("cctv/cam07").
    pub subject: String,
    /// Who.
    pub user: String,
    /// Their uid.
    pub uid: u32,
    /// Why.
    pub reason: String,
    /// The source's newest recording when acknowledged, RFC 3339, if known.
    pub newest: Option<String>,
    /// What happened, in words.
    pub text: String,
}

/// `confirm`: a supervisor accepted the deletions the guard held back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Confirm {
    /// The zones confirmed.
    pub zones: Vec<String>,
    /// Who.
    pub user: String,
    /// Their uid.
    pub uid: u32,
    /// Why.
    pub reason: String,
    /// The episodes confirmed.
    pub episodes: Vec<ConfirmedEpisode>,
    /// What happened, in words.
    pub text: String,
}

/// One episode of the mass-deletion guard, as confirmed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfirmedEpisode {
    /// Its zone.
    pub zone: String,
    /// What opened it.
    pub trigger: Trigger,
    /// When, RFC 3339.
    pub since: String,
    /// The deletions for age the sweep that opened it planned.
    pub planned: u64,
    /// Of how many recordings in the zone.
    pub of: u64,
    /// The budget left unspent.
    pub budget_left: u64,
    /// Why the clock was suspect, for a clock episode.
    pub clock: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_code(a.code()), Some(a));
        }
        let mut codes: Vec<&str> = Action::ALL.iter().map(|a| a.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Action::ALL.len());
    }

    fn round_trip<F: Fields + PartialEq + std::fmt::Debug>(f: F) {
        let v = serde_json::to_value(&f).unwrap();
        assert!(v.is_object(), "{} fields are an object", F::ACTION);
        assert_eq!(serde_json::from_value::<F>(v).unwrap(), f);
    }

    #[test]
    fn records_round_trip_and_paths_stay_lossless() {
        use std::os::unix::ffi::OsStringExt;
        let odd = RecPath(OsString::from_vec(b"/rec/cam\xff/01.mp4".to_vec()));
        round_trip(Delete {
            zone: "cams".into(),
            path: odd.clone(),
            former_hold: Some(3),
            ..Default::default()
        });
        round_trip(BatchDone {
            first: Some(1),
            failed: vec![Outcome {
                error: Some("Permission denied".into()),
                ..Outcome::new(2, "/rec/a.mp4")
            }],
            vanished: vec![Outcome::new(1, odd.0.clone())],
            ..Default::default()
        });
        round_trip(HoldExtend {
            hold: HoldFields {
                hold: 7,
                scope: HoldScope {
                    glob: Some("cam1/*".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            old_expires: Some("2026-01-01T00:00:00Z".into()),
        });
        round_trip(Find(RangeFields {
            glob: None,
            files: 3,
            ..Default::default()
        }));
        round_trip(AlarmRecord::raised(&Alarm::new(AlarmKind::MassDeletion, "cams", "why")));
        round_trip(Hook {
            command: "/hooks/alarm-mail".into(),
            alarm: Some(HookAlarm {
                kind: "root-unavailable".into(),
                subject: "/srv/a b".into(),
                state: AlarmState::Raised,
                key: "alarms.command".into(),
            }),
            text: "exited with status 1".into(),
            ..Default::default()
        });
        let v = serde_json::to_value(AlarmRecord::cleared(AlarmKind::MassDeletion, "cams")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "mass-deletion", "subject": "cams", "state": "cleared"})
        );
        let v = serde_json::to_value(&odd).unwrap();
        assert_eq!(v, serde_json::json!({"hex": hex::encode(b"/rec/cam\xff/01.mp4")}));
        // The wire names: a scope's glob is "match", a hold's fields are flat.
        let v = serde_json::to_value(HoldAdd(HoldFields::default())).unwrap();
        assert!(v["scope"].get("match").is_some() && v.get("hold").is_some());
    }

    #[test]
    fn a_record_lacking_fields_still_reads() {
        let d: Delete = serde_json::from_value(serde_json::json!({"zone": "cams", "reason": "max-age"})).unwrap();
        assert_eq!((d.zone.as_str(), d.reason.as_str(), d.size), ("cams", "max-age", 0));
        let s: Sample = serde_json::from_value(serde_json::json!({"zone": "cams"})).unwrap();
        assert_eq!(s.retention_secs, None);
    }
}
