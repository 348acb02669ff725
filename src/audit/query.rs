//! Questions put to the audit log: `retentionctl audit show` (records by
//! time, zone, reason, action and path, across every rotated file) and the
//! records about one path (`retentionctl explain` of a file that is gone).
//!
//! Reading streams the files in order and keeps only the matches (at most
//! `limit`, the newest), so a log of millions of records costs one pass and
//! little memory.

use std::collections::VecDeque;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::schema;
use crate::audit::{self, path_from_value, Record};
use crate::core::units::Timestamp;

/// Default and largest number of records one query returns.
pub const DEFAULT_LIMIT: usize = 1000;

/// An `audit show` query (all fields optional; all given must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Records appended at or after this time.
    pub since: Option<Timestamp>,
    /// Records appended before this time.
    pub until: Option<Timestamp>,
    /// The record's `zone`.
    pub zone: Option<String>,
    /// The record's `reason` code (`max-age`, `erasure`, ...).
    pub reason: Option<String>,
    /// The record's action (`delete`, `hold-add`, ...).
    pub action: Option<String>,
    /// A glob over the record's `path` (`*` also matches `/`).
    pub path: Option<String>,
    /// At most this many (the newest); default and cap [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
}

/// The compiled form of a query.
struct Matcher<'q> {
    q: &'q Query,
    glob: Option<GlobMatcher>,
}

impl Matcher<'_> {
    fn matches(&self, r: &Record) -> bool {
        let q = self.q;
        let field = |k: &str| r.fields.get(k).and_then(Value::as_str);
        if q.action.as_deref().is_some_and(|a| a != r.action)
            || q.zone.as_deref().is_some_and(|z| field("zone") != Some(z))
            || q.reason.as_deref().is_some_and(|c| field("reason") != Some(c))
        {
            return false;
        }
        if q.since.is_some() || q.until.is_some() {
            let Some(t) = record_time(r) else { return false };
            if q.since.is_some_and(|s| t < s) || q.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        if let Some(g) = &self.glob {
            let Some(p) = r.fields.get("path").and_then(path_from_value) else {
                return false;
            };
            if !g.is_match(Path::new(&p)) {
                return false;
            }
        }
        true
    }
}

/// When a record was appended.
pub fn record_time(r: &Record) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(&r.ts)
        .ok()
        .map(|t| Timestamp(t.timestamp()))
}

/// A record as JSON: seq, ts, action, then its fields, and where it is.
pub fn record_json(r: &Record) -> Value {
    let mut v = json!({"seq": r.seq, "ts": r.ts, "action": r.action});
    if let Value::Object(m) = &mut v {
        m.extend(r.fields.clone());
    }
    v["file"] = r.file.display().to_string().into();
    v["line"] = r.line.into();
    v
}

/// Runs `q` over the audit log `log` (every segment, oldest first).
pub fn show(log: &Path, q: &Query) -> Result<Value, String> {
    let glob = q
        .path
        .as_deref()
        .map(|g| {
            GlobBuilder::new(g)
                .literal_separator(false)
                .backslash_escape(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("path: bad glob {g:?}: {e}"))
        })
        .transpose()?;
    let m = Matcher { q, glob };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, DEFAULT_LIMIT);
    let mut kept: VecDeque<Value> = VecDeque::new();
    let mut matched = 0u64;
    let mut scanned = 0u64;
    let records = audit::read_records(log).map_err(|e| format!("{}: {e}", log.display()))?;
    for r in records {
        let r = r.map_err(|e| format!("{}: {e}", log.display()))?;
        scanned += 1;
        if m.matches(&r) {
            matched += 1;
            if kept.len() == limit {
                kept.pop_front();
            }
            kept.push_back(record_json(&r));
        }
    }
    Ok(json!({
        "records": Vec::from(kept),
        "matched": matched,
        "scanned": scanned,
        "truncated": matched > limit as u64,
    }))
}

/// The records naming exactly `path` (its deletion, and the batch outcome
/// that confirms it), oldest first.
pub fn about_path(log: &Path, path: &Path) -> Result<Vec<Value>, String> {
    let want = audit::path_value(path.as_os_str());
    let mut out = Vec::new();
    let mut seqs: Vec<u64> = Vec::new();
    for r in audit::read_records(log).map_err(|e| format!("{}: {e}", log.display()))? {
        let r = r.map_err(|e| format!("{}: {e}", log.display()))?;
        // A unit's record names each of its files.
        let member = r.action == schema::Action::Delete
            && r.fields.get("members").is_some()
            && r.fields_as::<schema::Delete>()
                .is_some_and(|d| d.files().iter().any(|f| f == path.as_os_str()));
        if r.fields.get("path") == Some(&want) || member {
            seqs.push(r.seq);
            out.push(record_json(&r));
        } else {
            // A batch outcome naming one of its files (vanished, changed,
            // failed; gone or present after a crash).
            let names = |o: &schema::Outcome| o.path.0 == path.as_os_str();
            let named = if let Some(b) = r.fields_as::<schema::BatchDone>() {
                b.undone().any(names)
            } else if let Some(rec) = r.fields_as::<schema::Recovered>() {
                rec.gone.iter().chain(&rec.present).chain(&rec.finished).any(names)
            } else {
                false
            };
            if named {
                out.push(record_json(&r));
            }
        }
    }
    Ok(out)
}
