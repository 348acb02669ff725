//! `retentionctl status`: the state of each zone and filesystem, and the
//! last sweep, computed from the daemon's inventory (no new scan), the
//! holds, a fresh `statvfs` of each filesystem and the last sweep's outcome.
//!
//! The projection of how many days of footage fit is arithmetic on the
//! inventory: the bytes recorded during the last 24 hours (by recording
//! time) on a filesystem are its daily rate; the footage already there plus
//! the room left below the high watermark, divided by that rate, is the
//! number of days the filesystem holds before capacity deletion begins to
//! shorten retention. The forecast of how long the floors can be kept
//! ([`crate::core::forecast`]) comes from the same arithmetic.

use serde_json::{json, Value};

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::holds::HoldSet;
use crate::core::inventory::{Inventory, ZoneTotals};
use crate::core::plan::Usage;
use crate::core::policy::Policy;
use crate::core::units::{Age, Timestamp};
use crate::ops::hold;
use crate::state::floors::{FloorMarks, Floors};
use crate::sweep::LastSweep;

const DAY: i64 = 86_400;

/// A zone's retention against its floor and ceiling: `empty`, `above-max`,
/// `within`, `below-min` (its oldest recording is younger than the floor
/// and footage younger than the floor was deleted within the last floor's
/// length: the promise broken) or `filling` (younger than the floor, and
/// the zone has not yet held anything as old as its floor since it began
/// recording). A zone whose oldest recording is a little younger than its
/// floor for no such reason is `within`: with floor = ceiling (calls kept
/// exactly 60 days) that is every sweep's result.
pub fn floor_state(
    retention: Option<Age>,
    min_age: Age,
    max_age: Age,
    marks: Option<&FloorMarks>,
    now: Timestamp,
) -> &'static str {
    let Some(a) = retention else { return "empty" };
    if a > max_age {
        return "above-max";
    }
    if a >= min_age {
        return "within";
    }
    let m = marks.copied().unwrap_or_default();
    if m.young_deleted.is_some_and(|t| t.age_at(now) < min_age) {
        "below-min"
    } else if m.reached.is_none() {
        "filling"
    } else {
        "within"
    }
}

/// The status as JSON (the text form is [`crate::ops::render::status`]).
pub fn status(
    policy: &Policy,
    inv: &Inventory,
    usage: &Usage,
    holds: &HoldSet,
    floors: &Floors,
    last: Option<&LastSweep>,
    now: Timestamp,
) -> Value {
    let mut zones = Vec::new();
    for (zi, z) in policy.zones.iter().enumerate() {
        let ZoneTotals {
            files,
            bytes,
            oldest,
            newest,
        } = inv.zone_totals(zi);
        let held: Vec<Value> = holds
            .active(now)
            .filter(|h| h.zone.as_ref().is_none_or(|hz| *hz == z.name))
            .map(|h| {
                let (f, b) = hold::coverage(policy, Some(inv), h);
                json!({"id": h.id.0, "label": h.label(), "files": f, "bytes": b.0})
            })
            .filter(|v| v["files"] != 0)
            .collect();
        let retention = oldest.map(|o| o.age_at(now));
        let state = floor_state(retention, z.min_age, z.max_age, floors.get(&z.name.0), now);
        zones.push(json!({
            "name": z.name.0,
            "recordings": files,
            "bytes": bytes,
            "oldest": oldest.map(|t| t.rfc3339()),
            "newest": newest.map(|t| t.rfc3339()),
            "retention_secs": retention.map(|a| a.secs()),
            "retention": retention.map(|a| a.to_string()),
            "min_age": z.min_age.to_string(),
            "max_age": z.max_age.to_string(),
            "retention_state": state,
            "held_files": held.iter().map(|h| h["files"].as_u64().unwrap_or(0)).sum::<u64>(),
            "held_bytes": held.iter().map(|h| h["bytes"].as_u64().unwrap_or(0)).sum::<u64>(),
            "holds": held,
        }));
    }
    let alarms: Vec<&Alarm> = last.map(|l| l.alarms.iter().collect()).unwrap_or_default();
    let mut filesystems = Vec::new();
    let forecasts = crate::core::forecast::forecast(policy, inv, usage, holds, now);
    for (f, fc) in usage.filesystems.iter().zip(&forecasts) {
        let (footage, day) = (fc.footage, fc.recorded_per_day);
        let room = f.room(f.marks.high);
        let days_fit = (day > 0.0).then(|| (footage + room.0) as f64 / day);
        let alarm = alarms
            .iter()
            .find(|a| a.kind == AlarmKind::CapacityUnrelieved && a.subject == f.mount.display().to_string())
            .map(|a| json!({"kind": a.kind, "text": a.text}));
        filesystems.push(json!({
            "mount": f.mount.display().to_string(),
            "used": f.used.0,
            "avail": f.avail.0,
            "used_pct": (f.used_pct() * 10.0).round() / 10.0,
            "high_watermark": f.marks.high.to_string(),
            "low_watermark": f.marks.low.to_string(),
            "above_high": f.excess(f.marks.high).0 > 0,
            "footage_bytes": footage,
            "recorded_last_24h": day.round() as u64,
            "days_fit": days_fit.map(|d| (d * 10.0).round() / 10.0),
            "alarm": alarm,
            "forecast": forecast_json(policy, fc, &alarms),
        }));
    }
    let last_sweep = last.map(|l| {
        json!({
            "at": l.at.rfc3339(),
            "took_secs": (l.took.as_secs_f64() * 10.0).round() / 10.0,
            "deleted": l.by_reason.iter().map(|r| r.2).sum::<u64>(),
            "bytes": l.by_reason.iter().map(|r| r.3 .0).sum::<u64>(),
            "by_reason": l.by_reason.iter().map(|(z, c, n, b)| json!({"zone": z, "reason": c, "files": n, "bytes": b.0})).collect::<Vec<_>>(),
            "interrupted": l.interrupted,
            "error": l.error,
        })
    });
    json!({
        "at": now.rfc3339(),
        "policy": policy.digest,
        "zones": zones,
        "filesystems": filesystems,
        "last_sweep": last_sweep,
        "alarms": alarms.iter().map(|a| json!({"kind": a.kind, "subject": a.subject, "text": a.text})).collect::<Vec<_>>(),
    })
}

/// A filesystem's forecast: days the floors can be kept (null and
/// `unlimited` when the footage does not grow) and what they come from.
fn forecast_json(policy: &Policy, fc: &crate::core::forecast::FsForecast, alarms: &[&Alarm]) -> Value {
    let mount = fc.mount.display().to_string();
    let alarm = alarms
        .iter()
        .find(|a| a.kind == AlarmKind::CapacityForecast && a.subject == mount)
        .map(|a| a.text.clone());
    json!({
        "days": fc.days.map(|d| (d * 10.0).round() / 10.0),
        "unlimited": fc.days.is_none(),
        "recorded_per_day": fc.recorded_per_day.round() as u64,
        "passing_floor_per_day": fc.ageing_per_day.round() as u64,
        "past_floor_bytes": fc.past_floor,
        "room_bytes": fc.room,
        "alarm_below_days": policy.forecast_alarm.map(|a| a.secs() as f64 / DAY as f64),
        "alarm": alarm,
    })
}

/// `status`, from the daemon's inventory (or a fresh scan without one).
pub fn answer(
    policy: &Policy,
    store: &crate::state::holdstore::HoldStore,
    inv: Option<&Inventory>,
    last: Option<&LastSweep>,
    now: Timestamp,
) -> Result<Value, crate::ops::OpError> {
    let scanned;
    let inv = match inv {
        Some(i) => i,
        None => {
            scanned = crate::fs::scan::scan(policy);
            &scanned
        }
    };
    let (holds, _, cases) = store.read_all()?;
    let usage = crate::sweep::usage(policy, inv);
    let floors = crate::state::floors::read(&policy.daemon.state_dir);
    let mut v = status(policy, inv, &usage, &holds, &floors, last, now);
    let (open, overdue) = crate::core::cases::counts(&cases, now);
    v["cases"] = json!({
        "open": open,
        "overdue": overdue,
        "overdue_cases": cases.iter().filter(|c| c.overdue_at(now)).map(|c| json!({
            "reference": c.reference, "kind": c.kind.code(), "due": c.due.rfc3339(),
        })).collect::<Vec<_>>(),
    });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_is_flagged_only_on_evidence() {
        let d = |n: u64| Age::from_secs(n * 86_400);
        let now = Timestamp(1000 * DAY);
        let marks = |reached: Option<i64>, young: Option<i64>| FloorMarks {
            reached: reached.map(|x| Timestamp(x * DAY)),
            young_deleted: young.map(|x| Timestamp(x * DAY)),
        };
        // Floor = ceiling = 60d: 59d 23h after a sweep is the promise kept.
        let ret = Some(Age::from_secs(60 * 86_400 - 3600));
        assert_eq!(
            floor_state(ret, d(60), d(60), Some(&marks(Some(900), None)), now),
            "within"
        );
        // Never yet at its floor: filling.
        assert_eq!(floor_state(ret, d(60), d(60), None, now), "filling");
        // Footage younger than the floor deleted within the floor: broken.
        assert_eq!(
            floor_state(ret, d(60), d(60), Some(&marks(Some(900), Some(990))), now),
            "below-min"
        );
        // ... long ago, and the zone has recovered since: within.
        assert_eq!(
            floor_state(ret, d(60), d(60), Some(&marks(Some(900), Some(900))), now),
            "within"
        );
        assert_eq!(floor_state(Some(d(61)), d(60), d(60), None, now), "above-max");
        assert_eq!(floor_state(None, d(60), d(60), None, now), "empty");
    }
}
