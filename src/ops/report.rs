//! `retentionctl report`: the compliance report a data-protection officer
//! files, computed from the audit log alone (one streaming pass over every
//! rotated file), so it proves past days' retention, not only today's.
//!
//! Per zone and UTC day: the retention achieved (the age of the oldest
//! recording, from the daemon's hourly `sample` records: its least and
//! greatest value that day) against the zone's min_age and max_age; the
//! recordings deleted by reason (each `delete` record, less those its batch
//! reported changed, vanished or failed); holds placed, released and
//! lapsed. Then every alarm raised in the period with when it cleared and
//! how long it lasted; every hold in force at some time in the period with
//! when it was placed and released, lapsed or expires; per user, the
//! recordings played, copied (and to where), found, exported and erased;
//! and every case open in the period with its due date, outcome, and
//! whether it was answered late.
//!
//! A day is `within` when its greatest retention is at most max_age plus a
//! tolerance of one hour (the sampling and sweep granularity); it is
//! flagged below min_age only on evidence: footage younger than the floor
//! was deleted (an override-floor reason) within the floor's length before.
//! A zone that has not yet held a recording as old as its floor since its
//! samples began is `filling`, not flagged.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{json, Value};

use crate::audit;
use crate::audit::query::record_time;
use crate::audit::schema::{self, Action, AlarmState};
use crate::control::ReportRequest;
use crate::core::units::{Age, Timestamp};

const DAY: i64 = 86_400;
/// Slack on max_age for sampling and sweep granularity.
const TOLERANCE: i64 = 3600;

#[derive(Default)]
struct Day {
    ret_min: Option<i64>,
    ret_max: Option<i64>,
    min_age: Option<i64>,
    max_age: Option<i64>,
    samples: u64,
    deleted: BTreeMap<String, i64>,
    holds_placed: u64,
    holds_released: u64,
    holds_lapsed: u64,
    /// The lowest capacity forecast of the day's samples (days the floors
    /// can be kept on the zone's filesystem).
    forecast_min: Option<f64>,
}

/// What one user did with recordings in the period.
#[derive(Default)]
struct Access {
    /// Files played (`cat`).
    played: u64,
    /// Files copied to other media (`copy`), and where.
    copied: u64,
    saved_to: std::collections::BTreeSet<String>,
    /// `find` requests.
    finds: u64,
    /// Hold exports, and their files.
    exports: u64,
    exported: u64,
    /// Erasure requests.
    erasures: u64,
}

/// A case as its records tell it.
struct CaseSpan {
    reference: String,
    kind: String,
    requested_by: String,
    opened: Timestamp,
    due: Option<Timestamp>,
    closed: Option<(Timestamp, String, Option<String>)>,
}

/// A hold as its records tell it.
struct HoldSpan {
    id: u64,
    case: String,
    zone: Option<String>,
    /// None when the log holds its end but not its placing.
    placed: Option<Timestamp>,
    /// Its expiry as last set, RFC 3339; none when indefinite.
    expires: Option<String>,
    released: Option<Timestamp>,
    lapsed: Option<Timestamp>,
}

struct AlarmSpan {
    kind: String,
    subject: String,
    text: String,
    raised: Timestamp,
    cleared: Option<Timestamp>,
}

fn day_of(t: Timestamp) -> i64 {
    t.0.div_euclid(DAY)
}

fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * DAY, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[derive(Clone, Copy)]
enum HoldEvent {
    Placed,
    Released,
    Lapsed,
}

/// A hold placed, released or lapsed, with the hold's fields.
fn hold_event(r: &audit::Record) -> Option<(schema::HoldFields, HoldEvent)> {
    if let Some(h) = r.fields_as::<schema::HoldAdd>() {
        Some((h.0, HoldEvent::Placed))
    } else if let Some(h) = r.fields_as::<schema::HoldRelease>() {
        Some((h.0, HoldEvent::Released))
    } else {
        r.fields_as::<schema::HoldLapse>().map(|h| (h.0, HoldEvent::Lapsed))
    }
}

/// Computes the report over `[since, until)` from the audit log `log`.
pub fn report(log: &Path, req: &ReportRequest) -> Result<Value, String> {
    let mut days: BTreeMap<(String, i64), Day> = BTreeMap::new();
    let mut alarms: Vec<AlarmSpan> = Vec::new();
    let mut open_alarms: HashMap<(String, String), usize> = HashMap::new();
    // Deletions of the batch not yet closed: seq -> (zone, day, reason).
    let mut batch: HashMap<u64, (String, i64, String)> = HashMap::new();
    // Zones that held a recording as old as their floor before the period.
    let mut reached_before: std::collections::HashSet<String> = Default::default();
    let mut access: BTreeMap<String, Access> = BTreeMap::new();
    let mut cases: Vec<CaseSpan> = Vec::new();
    let mut holds: Vec<HoldSpan> = Vec::new();
    let mut hold_index: HashMap<u64, usize> = HashMap::new();
    let in_range = |t: Timestamp| t >= req.since && t < req.until;
    let records = audit::read_records(log).map_err(|e| format!("{}: {e}", log.display()))?;
    for r in records {
        let r = r.map_err(|e| format!("{}: {e}", log.display()))?;
        let Some(t) = record_time(&r) else { continue };
        if let Some(a) = r.fields_as::<schema::AlarmRecord>() {
            let key = (a.kind, a.subject);
            if a.state == AlarmState::Raised {
                // Raised again after a restart while still open: one span.
                if open_alarms.contains_key(&key) {
                    continue;
                }
                open_alarms.insert(key.clone(), alarms.len());
                alarms.push(AlarmSpan {
                    kind: key.0,
                    subject: key.1,
                    text: a.text.unwrap_or_default(),
                    raised: t,
                    cleared: None,
                });
            } else if let Some(i) = open_alarms.remove(&key) {
                alarms[i].cleared = Some(t);
            }
            continue;
        }
        // Cases span the period whenever they were opened.
        if let Some(c) = r.fields_as::<schema::CaseOpen>() {
            cases.push(CaseSpan {
                reference: c.case,
                kind: c.kind,
                requested_by: c.requested_by,
                opened: t,
                due: chrono::DateTime::parse_from_rfc3339(&c.due)
                    .ok()
                    .map(|d| Timestamp(d.timestamp())),
                closed: None,
            });
            continue;
        }
        if let Some(c) = r.fields_as::<schema::CaseClose>() {
            if let Some(span) = cases.iter_mut().rev().find(|s| s.reference == c.case) {
                span.closed = Some((t, c.outcome, c.to));
            }
            continue;
        }
        // Holds, like cases, span the period whenever they were placed;
        // their events are also counted on their day.
        if let Some(x) = r.fields_as::<schema::HoldExtend>() {
            if let Some(&i) = hold_index.get(&x.hold.hold) {
                holds[i].expires = x.hold.expires;
            }
            continue;
        }
        if let Some((h, event)) = hold_event(&r) {
            let i = *hold_index.entry(h.hold).or_insert_with(|| {
                holds.push(HoldSpan {
                    id: h.hold,
                    case: h.case.clone(),
                    zone: h.scope.zone.clone(),
                    placed: None,
                    expires: None,
                    released: None,
                    lapsed: None,
                });
                holds.len() - 1
            });
            let span = &mut holds[i];
            span.expires = h.expires;
            match event {
                HoldEvent::Placed => span.placed = Some(t),
                HoldEvent::Released => span.released = Some(t),
                HoldEvent::Lapsed => span.lapsed = Some(t),
            }
            if in_range(t) {
                let z = h.scope.zone.unwrap_or_else(|| "(all zones)".to_string());
                let e = days.entry((z, day_of(t))).or_default();
                match event {
                    HoldEvent::Placed => e.holds_placed += 1,
                    HoldEvent::Released => e.holds_released += 1,
                    HoldEvent::Lapsed => e.holds_lapsed += 1,
                }
            }
            continue;
        }
        if in_range(t) {
            if let Some(a) = r.fields_as::<schema::Access>() {
                let e = access.entry(a.by).or_default();
                match a.dest {
                    Some(d) => {
                        e.copied += a.files.len() as u64;
                        e.saved_to.insert(d);
                    }
                    None => e.played += a.files.len() as u64,
                }
                continue;
            }
            if let Some(f) = r.fields_as::<schema::Find>() {
                access.entry(f.0.by).or_default().finds += 1;
                continue;
            }
            if let Some(f) = r.fields_as::<schema::EraseRequest>() {
                access.entry(f.0.by).or_default().erasures += 1;
                continue;
            }
            if let Some(x) = r.fields_as::<schema::Export>() {
                let e = access.entry(x.by).or_default();
                e.exports += 1;
                e.exported += x.files;
                continue;
            }
        }
        if t < req.since {
            if let Some(smp) = r.fields_as::<schema::Sample>() {
                if let (Some(ret), Some(min)) = (smp.retention_secs, smp.min_age_secs) {
                    if ret >= min {
                        reached_before.insert(smp.zone);
                    }
                }
            }
        }
        if !in_range(t) {
            if r.action == Action::BatchDone {
                batch.clear();
            }
            continue;
        }
        let d = day_of(t);
        if let Some(s) = r.fields_as::<schema::Sample>() {
            let e = days.entry((s.zone, d)).or_default();
            if let Some(ret) = s.retention_secs {
                e.ret_min = Some(e.ret_min.map_or(ret, |m| m.min(ret)));
                e.ret_max = Some(e.ret_max.map_or(ret, |m| m.max(ret)));
            }
            e.min_age = s.min_age_secs;
            e.max_age = s.max_age_secs;
            e.samples += 1;
            if let Some(f) = s.forecast_days {
                e.forecast_min = Some(e.forecast_min.map_or(f, |m| m.min(f)));
            }
        } else if let Some(del) = r.fields_as::<schema::Delete>() {
            *days
                .entry((del.zone.clone(), d))
                .or_default()
                .deleted
                .entry(del.reason.clone())
                .or_default() += del.recordings() as i64;
            batch.insert(r.seq, (del.zone, d, del.reason));
        } else if r.action == Action::BatchDone || r.action == Action::Recovered {
            let undone: Vec<u64> = if let Some(b) = r.fields_as::<schema::BatchDone>() {
                b.undone().map(|o| o.seq).collect()
            } else if let Some(rec) = r.fields_as::<schema::Recovered>() {
                rec.present.iter().map(|o| o.seq).collect()
            } else {
                Vec::new()
            };
            for seq in undone {
                if let Some((z, dd, reason)) = batch.get(&seq) {
                    if let Some(n) = days.get_mut(&(z.clone(), *dd)).and_then(|e| e.deleted.get_mut(reason)) {
                        *n -= 1;
                    }
                }
            }
            batch.clear();
        }
    }
    // A floor is flagged only on evidence (as `status` does): footage
    // younger than the floor deleted within the floor's length before, or
    // a zone that has not yet held anything as old as its floor (filling).
    // A zone whose floor equals its ceiling is otherwise always a little
    // younger than its floor after a sweep, and that is the promise kept.
    let mut reached = reached_before;
    let mut young_at: HashMap<String, i64> = HashMap::new();
    let rows: Vec<Value> = days
        .iter()
        .map(|((zone, d), e)| {
            let young_today = e
                .deleted
                .iter()
                .any(|(reason, n)| reason.ends_with("override-floor") && *n > 0);
            if young_today {
                young_at.insert(zone.clone(), *d);
            }
            let young = young_at
                .get(zone)
                .is_some_and(|y| (d - y) * DAY <= e.min_age.unwrap_or(0));
            let filling = !reached.contains(zone);
            if let (Some(max), Some(lim)) = (e.ret_max, e.min_age) {
                if max >= lim {
                    reached.insert(zone.clone());
                }
            }
            let mut flags = Vec::new();
            if let (Some(max), Some(lim)) = (e.ret_max, e.max_age) {
                if max > lim + TOLERANCE {
                    flags.push(format!(
                        "kept past max_age: oldest recording {} old, max_age {}",
                        Age::from_secs(max.max(0) as u64),
                        Age::from_secs(lim.max(0) as u64)
                    ));
                }
            }
            if let (Some(min), Some(lim)) = (e.ret_min, e.min_age) {
                if min < lim && young {
                    flags.push(format!(
                        "below min_age: oldest recording only {} old, min_age {}, after footage younger than the floor was deleted",
                        Age::from_secs(min.max(0) as u64),
                        Age::from_secs(lim.max(0) as u64)
                    ));
                }
            }
            let status = if e.samples == 0 {
                "no-samples"
            } else if e.ret_max.is_none() {
                "empty"
            } else if !flags.is_empty() {
                "flagged"
            } else if filling && e.ret_max.zip(e.min_age).is_some_and(|(m, l)| m < l) {
                "filling"
            } else {
                "within"
            };
            json!({
                "date": date(*d),
                "zone": zone,
                "retention_min_secs": e.ret_min,
                "retention_max_secs": e.ret_max,
                "min_age_secs": e.min_age,
                "max_age_secs": e.max_age,
                "samples": e.samples,
                "status": status,
                "flags": flags,
                "deleted": e.deleted,
                "holds_placed": e.holds_placed,
                "holds_released": e.holds_released,
                "holds_lapsed": e.holds_lapsed,
                "forecast_min_days": e.forecast_min,
            })
        })
        .collect();
    let alarm_rows: Vec<Value> = alarms
        .iter()
        .filter(|a| a.raised < req.until && a.cleared.is_none_or(|c| c >= req.since))
        .map(|a| {
            let end = a.cleared.unwrap_or(req.until.min(Timestamp::now()));
            json!({
                "kind": a.kind,
                "subject": a.subject,
                "text": a.text,
                "raised": a.raised.rfc3339(),
                "cleared": a.cleared.map(|c| c.rfc3339()),
                "duration_secs": (end.0 - a.raised.0).max(0),
            })
        })
        .collect();
    let hold_rows: Vec<Value> = holds
        .iter()
        .filter(|h| h.placed.is_none_or(|p| p < req.until) && h.released.or(h.lapsed).is_none_or(|e| e >= req.since))
        .map(|h| {
            json!({
                "hold": h.id, "case": h.case, "zone": h.zone,
                "placed": h.placed.map(|t| t.rfc3339()), "expires": h.expires,
                "released": h.released.map(|t| t.rfc3339()), "lapsed": h.lapsed.map(|t| t.rfc3339()),
            })
        })
        .collect();
    let access_rows: Vec<Value> = access
        .into_iter()
        .map(|(user, a)| {
            json!({
                "user": user, "played_files": a.played, "copied_files": a.copied,
                "saved_to": a.saved_to.into_iter().collect::<Vec<_>>(), "finds": a.finds,
                "exports": a.exports, "exported_files": a.exported, "erasures": a.erasures,
            })
        })
        .collect();
    let end = req.until.min(Timestamp::now());
    let case_rows: Vec<Value> = cases
        .iter()
        .filter(|c| c.opened < req.until && c.closed.as_ref().is_none_or(|(t, _, _)| *t >= req.since))
        .map(|c| {
            let answered = c.closed.as_ref().map(|(t, _, _)| *t);
            let late = match (c.due, answered) {
                (Some(d), Some(a)) => a > d,
                (Some(d), None) => end > d,
                _ => false,
            };
            json!({
                "reference": c.reference, "kind": c.kind, "requested_by": c.requested_by,
                "opened": c.opened.rfc3339(), "due": c.due.map(|d| d.rfc3339()),
                "closed": answered.map(|t| t.rfc3339()),
                "outcome": c.closed.as_ref().map(|(_, o, _)| o.clone()),
                "disclosed_to": c.closed.as_ref().and_then(|(_, _, to)| to.clone()),
                "late": late,
            })
        })
        .collect();
    Ok(json!({
        "since": req.since.rfc3339(),
        "until": req.until.rfc3339(),
        "days": rows,
        "alarms": alarm_rows,
        "holds": hold_rows,
        "access": access_rows,
        "cases": case_rows,
    }))
}
