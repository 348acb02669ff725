//! Questions put to the audit log: `retentionctl audit show` (records by
//! time, zone, reason, action and path, across every rotated file) and the
//! records about one path (`retentionctl explain` of a file that is gone).
//!
//! Reading streams the files in order and keeps only the matches (at most
//! `limit`, the newest), so a log of millions of records costs one pass and
//! little memory.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
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

/// A query's `path` glob (`*` also matches `/`), compiled.
fn path_glob(g: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(g)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("path: bad glob {g:?}: {e}"))
}

/// Runs `q` over the audit log `log` (every segment, oldest first).
pub fn show(log: &Path, q: &Query) -> Result<Value, String> {
    let glob = q.path.as_deref().map(path_glob).transpose()?;
    let m = Matcher { q, glob };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, DEFAULT_LIMIT);
    let mut kept: VecDeque<Value> = VecDeque::new();
    let mut matched = 0u64;
    let mut scanned = 0u64;
    let records = audit::read_records(log).map_err(|e| format!("{}: {e}", log.display()))?;
    for r in records {
        let r = r.map_err(|e| format!("{}: {e}", log.display()))?;
        scanned += 1;
        // A grouped deletion record answers per file, as before grouping.
        for r in r.per_file() {
            if m.matches(&r) {
                matched += 1;
                if kept.len() == limit {
                    kept.pop_front();
                }
                kept.push_back(record_json(&r));
            }
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
        if r.is_grouped() {
            // A grouped record: the file's own record, if it names the file.
            let dir = r.fields.get("path").and_then(path_from_value);
            if dir.is_some_and(|d| path.parent() == Some(Path::new(&d))) {
                let mine = r.per_file().into_iter().find(|f| f.fields.get("path") == Some(&want));
                if let Some(f) = mine {
                    out.push(record_json(&f));
                }
            }
            continue;
        }
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

/// Most rows one `audit access` answer carries (the newest).
pub const ACCESS_LIMIT: usize = 100_000;

/// An `audit access` query: who accessed, found, exported or erased which
/// recordings, when and why, and which were deleted and on what basis —
/// the answer to a data subject's request for the log of their data. All
/// fields optional; all given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    /// Recordings of this zone.
    pub zone: Option<String>,
    /// Recordings made at or after this time.
    pub from: Option<Timestamp>,
    /// Recordings made at or before this time.
    pub to: Option<Timestamp>,
    /// A glob over the absolute paths of recordings (`*` also matches
    /// `/`): narrows the records that name files (access, delete); the
    /// records of a range (find, erase, holds, cases, exports) are matched
    /// by zone and time.
    pub path: Option<String>,
    /// Only what this user did.
    pub user: Option<String>,
    /// Records appended at or after this time.
    pub since: Option<Timestamp>,
    /// Records appended before this time.
    pub until: Option<Timestamp>,
    /// Leave out deletions.
    #[serde(default)]
    pub no_deletions: bool,
    /// At most this many rows (the newest); default and cap [`ACCESS_LIMIT`].
    pub limit: Option<usize>,
}

/// A range of recordings a record concerns (zone None: every zone).
#[derive(Clone, Debug)]
struct Span {
    zone: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    glob: Option<String>,
}

fn ts_of(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| Timestamp(t.timestamp()))
}

impl Span {
    fn of_scope(s: &schema::HoldScope) -> Span {
        Span {
            zone: s.zone.clone(),
            from: ts_of(&s.from),
            to: ts_of(&s.to),
            glob: s.glob.clone(),
        }
    }

    fn of_range(r: &schema::RangeFields) -> Span {
        Span {
            zone: Some(r.zone.clone()),
            from: ts_of(&r.from),
            to: ts_of(&r.to),
            glob: r.glob.clone(),
        }
    }

    fn text(&self) -> String {
        let t = |x: Option<Timestamp>| x.map(|t| t.rfc3339()).unwrap_or_else(|| "?".into());
        format!(
            "{} {}..{}{}",
            self.zone.as_deref().unwrap_or("every zone"),
            t(self.from),
            t(self.to),
            self.glob.as_deref().map(|g| format!(" match {g}")).unwrap_or_default()
        )
    }
}

/// The compiled form of an access query.
struct AccessMatcher<'q> {
    q: &'q AccessQuery,
    glob: Option<GlobMatcher>,
}

impl AccessMatcher<'_> {
    /// Whether a recording (zone, absolute path, time) is one asked about.
    fn file(&self, zone: &str, path: &std::ffi::OsStr, time: Option<Timestamp>) -> bool {
        let q = self.q;
        if q.zone.as_deref().is_some_and(|z| z != zone) {
            return false;
        }
        if q.from.is_some() || q.to.is_some() {
            let Some(t) = time else { return false };
            if q.from.is_some_and(|f| t < f) || q.to.is_some_and(|x| t > x) {
                return false;
            }
        }
        self.glob.as_ref().is_none_or(|g| g.is_match(Path::new(path)))
    }

    /// Whether a range of recordings overlaps the ones asked about.
    fn span(&self, s: &Span) -> bool {
        let q = self.q;
        if let (Some(want), Some(z)) = (&q.zone, &s.zone) {
            if want != z {
                return false;
            }
        }
        let before = matches!((q.to, s.from), (Some(qt), Some(sf)) if sf > qt);
        let after = matches!((q.from, s.to), (Some(qf), Some(st)) if st < qf);
        !(before || after)
    }
}

/// Runs an access query over the audit log `log` (every segment, oldest
/// first): one row per record that concerns the recordings asked about.
pub fn access_log(log: &Path, q: &AccessQuery) -> Result<Value, String> {
    let glob = q.path.as_deref().map(path_glob).transpose()?;
    let m = AccessMatcher { q, glob };
    let limit = q.limit.unwrap_or(ACCESS_LIMIT).clamp(1, ACCESS_LIMIT);
    // What earlier records said: each hold's and case's scope, and the
    // accesses shown (their outcomes follow them).
    let mut holds: BTreeMap<u64, Span> = BTreeMap::new();
    let mut cases: BTreeMap<String, Span> = BTreeMap::new();
    let mut accesses: BTreeSet<u64> = BTreeSet::new();
    let mut kept: VecDeque<Value> = VecDeque::new();
    let (mut matched, mut scanned) = (0u64, 0u64);
    for r in audit::read_records(log).map_err(|e| format!("{}: {e}", log.display()))? {
        let r = r.map_err(|e| format!("{}: {e}", log.display()))?;
        scanned += 1;
        if q.since.is_some() || q.until.is_some() {
            let t = record_time(&r);
            if q.since.is_some_and(|s| t.is_none_or(|t| t < s)) || q.until.is_some_and(|u| t.is_none_or(|t| t >= u)) {
                // Scopes still count, for the records that cite them.
                remember(&r, &mut holds, &mut cases);
                continue;
            }
        }
        remember(&r, &mut holds, &mut cases);
        // A grouped deletion record answers per file.
        for r in r.per_file() {
            let row = access_row(&r, &m, &holds, &cases, &mut accesses);
            let Some(mut row) = row else { continue };
            if q.user.as_deref().is_some_and(|u| row["by"].as_str() != Some(u)) {
                continue;
            }
            row["seq"] = r.seq.into();
            row["ts"] = r.ts.clone().into();
            row["action"] = r.action.clone().into();
            matched += 1;
            if kept.len() == limit {
                kept.pop_front();
            }
            kept.push_back(row);
        }
    }
    Ok(json!({
        "rows": Vec::from(kept),
        "matched": matched,
        "scanned": scanned,
        "truncated": matched > limit as u64,
        "query": q,
    }))
}

/// A record's fields as `T`, whatever its action (the caller matched it).
fn fields_of<T: serde::de::DeserializeOwned>(r: &Record) -> Option<T> {
    T::deserialize(&r.fields).ok()
}

/// Notes the scope of a hold or case a record opens.
fn remember(r: &Record, holds: &mut BTreeMap<u64, Span>, cases: &mut BTreeMap<String, Span>) {
    if let Some(h) = r.fields_as::<schema::HoldAdd>() {
        holds.insert(h.0.hold, Span::of_scope(&h.0.scope));
    } else if let Some(c) = r.fields_as::<schema::CaseOpen>() {
        cases.insert(c.case.clone(), Span::of_scope(&c.scope));
    }
}

/// The access-log row of one record, if it concerns the recordings asked
/// about: by, uid, zone, reason, what (in words), case, recordings.
fn access_row(
    r: &Record,
    m: &AccessMatcher,
    holds: &BTreeMap<u64, Span>,
    cases: &BTreeMap<String, Span>,
    accesses: &mut BTreeSet<u64>,
) -> Option<Value> {
    use schema::Action as A;
    let action = schema::Action::from_code(&r.action)?;
    let span_row = |s: &Span, by: &str, uid: u32, reason: &str, case: Option<&str>, what: String| {
        m.span(s).then(|| {
            json!({"by": by, "uid": uid, "zone": s.zone, "reason": reason, "case": case,
                   "what": what, "recordings": Value::Null, "paths": []})
        })
    };
    match action {
        A::Access => {
            let a = r.fields_as::<schema::Access>()?;
            let files: Vec<&schema::AccessFile> = a
                .files
                .iter()
                .filter(|f| m.file(&f.zone, &f.path.0, ts_of(&f.time)))
                .collect();
            if files.is_empty() {
                return None;
            }
            accesses.insert(r.seq);
            let zones: BTreeSet<&str> = files.iter().map(|f| f.zone.as_str()).collect();
            let what = match &a.dest {
                Some(d) => format!("opened {} of {} files to copy to {d}", files.len(), a.files.len()),
                None => format!("opened {} of {} files to play", files.len(), a.files.len()),
            };
            Some(json!({
                "by": a.by, "uid": a.uid, "zone": zones.into_iter().collect::<Vec<_>>().join(","),
                "reason": a.reason, "case": a.case, "what": what, "recordings": files.len(),
                "paths": files.iter().map(|f| audit::path_value(&f.path.0)).collect::<Vec<_>>(),
                "saved_to": a.dest,
            }))
        }
        A::AccessDone => {
            let d = r.fields_as::<schema::AccessDone>()?;
            accesses.contains(&d.access).then(|| {
                let what = match (&d.dest, &d.manifest_sha256) {
                    (Some(dest), Some(sha)) => format!(
                        "copied {} files of access {} to {dest} (manifest SHA-256 {sha})",
                        d.files, d.access
                    ),
                    _ => format!("read {} files of access {} ({} bytes)", d.files, d.access, d.bytes),
                };
                json!({"by": d.by, "uid": d.uid, "zone": Value::Null, "reason": "", "case": Value::Null,
                       "what": what, "recordings": d.files, "paths": [], "saved_to": d.dest})
            })
        }
        A::Find | A::EraseRequest => {
            let f = fields_of::<schema::RangeFields>(r)?;
            let s = Span::of_range(&f);
            let verb = if action == A::Find { "found" } else { "asked to erase" };
            span_row(
                &s,
                &f.by,
                f.uid,
                &f.reason,
                None,
                format!("{verb} {} recordings in {}", f.files, s.text()),
            )
        }
        A::HoldAdd | A::HoldRelease | A::HoldLapse | A::HoldExtend => {
            let h = fields_of::<schema::HoldFields>(r)?;
            let s = Span::of_scope(&h.scope);
            let verb = match action {
                A::HoldAdd => "placed hold",
                A::HoldRelease => "released hold",
                A::HoldExtend => "changed the expiry of hold",
                _ => "hold lapsed:",
            };
            span_row(
                &s,
                &h.by,
                h.uid,
                &h.reason,
                Some(&h.case),
                format!("{verb} {} over {}", h.hold, s.text()),
            )
        }
        A::Export => {
            let e = r.fields_as::<schema::Export>()?;
            let s = holds.get(&e.hold)?;
            span_row(
                s,
                &e.by,
                e.uid,
                &e.reason,
                Some(&e.case),
                format!("exported {} files of hold {} to {}", e.files, e.hold, e.dest),
            )
        }
        A::ExportDone => {
            let e = r.fields_as::<schema::ExportDone>()?;
            let s = holds.get(&e.hold)?;
            span_row(
                s,
                &e.by,
                e.uid,
                "",
                None,
                format!(
                    "export of hold {} written to {} (manifest SHA-256 {})",
                    e.hold, e.dest, e.manifest_sha256
                ),
            )
        }
        A::CaseOpen => {
            let c = r.fields_as::<schema::CaseOpen>()?;
            let s = Span::of_scope(&c.scope);
            span_row(
                &s,
                &c.by,
                c.uid,
                &c.reason,
                Some(&c.case),
                format!(
                    "opened {} case for {} over {}, due {}",
                    c.kind,
                    c.requested_by,
                    s.text(),
                    c.due
                ),
            )
        }
        A::CaseClose => {
            let c = r.fields_as::<schema::CaseClose>()?;
            let s = cases.get(&c.case)?;
            span_row(
                s,
                &c.by,
                c.uid,
                &c.reason,
                Some(&c.case),
                format!(
                    "closed case: {}{}",
                    c.outcome,
                    c.to.as_deref().map(|t| format!(" to {t}")).unwrap_or_default()
                ),
            )
        }
        A::Delete if !m.q.no_deletions => {
            let d = r.fields_as::<schema::Delete>()?;
            let files = d.files();
            let time = ts_of(&d.rec_time);
            let hit: Vec<&std::ffi::OsString> = files.iter().filter(|f| m.file(&d.zone, f, time)).collect();
            if hit.is_empty() && !m.file(&d.zone, &d.path.0, time) {
                return None;
            }
            Some(json!({
                "by": "retentiond", "uid": Value::Null, "zone": d.zone, "reason": d.reason, "case": Value::Null,
                "what": format!("deleted ({}): {}", d.reason, d.text), "recordings": 1,
                "paths": [audit::path_value(&d.path.0)], "rec_time": d.rec_time,
            }))
        }
        _ => None,
    }
}
