//! `retentionctl status`: the state of each zone and filesystem, and the
//! last sweep, computed from the daemon's inventory (no new scan), the
//! holds, a fresh `statvfs` of each filesystem and the last sweep's outcome.
//!
//! The projection of how many days of footage fit is arithmetic on the
//! inventory: the bytes recorded during the last 24 hours (by recording
//! time) on a filesystem are its daily rate; the footage already there plus
//! the room left below the high watermark, divided by that rate, is the
//! number of days the filesystem holds before capacity deletion begins to
//! shorten retention.

use serde_json::{json, Value};

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::holds::HoldSet;
use crate::core::inventory::{Inventory, ZoneTotals};
use crate::core::plan::Usage;
use crate::core::policy::Policy;
use crate::core::units::{Age, Bytes, Timestamp};
use crate::ops::hold;
use crate::sweep::LastSweep;

const DAY: i64 = 86_400;

/// The status as JSON (the text form is [`text`]).
pub fn status(
    policy: &Policy,
    inv: &Inventory,
    usage: &Usage,
    holds: &HoldSet,
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
        let state = match retention {
            None => "empty",
            Some(a) if a < z.min_age => "below-min",
            Some(a) if a > z.max_age => "above-max",
            Some(_) => "within",
        };
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
    for f in &usage.filesystems {
        let (mut footage, mut day) = (0u64, 0f64);
        for zinv in &inv.zones {
            for root in zinv.roots.iter().filter(|r| r.dev == Some(f.dev)) {
                for d in root.dirs.iter().filter(|d| d.files > 0) {
                    footage += d.bytes;
                    day += recent_share(d.oldest, d.newest, now) * d.bytes as f64;
                }
            }
        }
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

/// The share of a directory's recordings (spread evenly over
/// `[oldest, newest]`) recorded during the last 24 hours.
fn recent_share(oldest: Timestamp, newest: Timestamp, now: Timestamp) -> f64 {
    let since = now.0 - DAY;
    if oldest.0 >= since {
        return 1.0;
    }
    if newest.0 < since {
        return 0.0;
    }
    let span = (newest.0 - oldest.0).max(1) as f64;
    (newest.0 - since) as f64 / span
}

/// A JSON count of seconds as an age for a table cell ("27d 23h"), "-" when absent.
pub(crate) fn age_cell(v: &Value) -> String {
    v.as_i64()
        .map(|s| Age::from_secs(s.max(0) as u64).to_string())
        .unwrap_or_else(|| "-".into())
}

fn b(v: &Value) -> String {
    Bytes(v.as_u64().unwrap_or(0)).to_string()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// The status as an aligned table for a terminal.
pub fn text(v: &Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let empty = Vec::new();
    let _ = writeln!(
        o,
        "{:<14} {:>10} {:>10}  {:<17} {:<17} {:>11}  {:<15} {:>16}",
        "ZONE", "FILES", "SIZE", "OLDEST", "NEWEST", "RETENTION", "MIN..MAX", "HELD"
    );
    for z in v["zones"].as_array().unwrap_or(&empty) {
        let short = |t: &Value| {
            t.as_str()
                .map(|t| t.replace('T', " ").chars().take(16).collect())
                .unwrap_or_else(|| "-".to_string())
        };
        let flag = match s(&z["retention_state"]) {
            "below-min" => " <min",
            "above-max" => " >max",
            _ => "",
        };
        let _ = writeln!(
            o,
            "{:<14} {:>10} {:>10}  {:<17} {:<17} {:>11}  {:<15} {:>16}{flag}",
            s(&z["name"]),
            z["recordings"].as_u64().unwrap_or(0),
            b(&z["bytes"]),
            short(&z["oldest"]),
            short(&z["newest"]),
            age_cell(&z["retention_secs"]),
            format!("{}..{}", s(&z["min_age"]), s(&z["max_age"])),
            format!("{} ({})", z["held_files"].as_u64().unwrap_or(0), b(&z["held_bytes"])),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<24} {:>7} {:>10} {:>10}  {:>9}  {:>12}  RECORDING RATE",
        "FILESYSTEM", "USED", "HIGH", "LOW", "FREE", "FITS"
    );
    for f in v["filesystems"].as_array().unwrap_or(&empty) {
        let fits = f["days_fit"]
            .as_f64()
            .map(|d| format!("{d:.1} days"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "{:<24} {:>6.1}% {:>10} {:>10}  {:>9}  {:>12}  {}/day{}",
            s(&f["mount"]),
            f["used_pct"].as_f64().unwrap_or(0.0),
            s(&f["high_watermark"]),
            s(&f["low_watermark"]),
            b(&f["avail"]),
            fits,
            b(&f["recorded_last_24h"]),
            if f["above_high"] == true {
                "  ABOVE HIGH WATERMARK"
            } else {
                ""
            }
        );
        if let Some(a) = f["alarm"].as_object() {
            let _ = writeln!(o, "  alarm {}: {}", s(&a["kind"]), s(&a["text"]));
        }
    }
    let _ = writeln!(o);
    match v["last_sweep"].as_object() {
        None => {
            let _ = writeln!(o, "last sweep: none yet");
        }
        Some(l) => {
            let reasons: Vec<String> = l["by_reason"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} ({})",
                        s(&r["zone"]),
                        s(&r["reason"]),
                        r["files"],
                        b(&r["bytes"])
                    )
                })
                .collect();
            let _ = writeln!(
                o,
                "last sweep: {} UTC, took {}s, deleted {} ({}){}{}",
                s(&l["at"]).replace('T', " ").trim_end_matches('Z'),
                l["took_secs"],
                l["deleted"],
                b(&l["bytes"]),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reasons.join(", "))
                },
                l["error"]
                    .as_str()
                    .map(|e| format!("; FAILED: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    for a in v["alarms"].as_array().unwrap_or(&empty) {
        let _ = writeln!(o, "ALARM {} {}: {}", s(&a["kind"]), s(&a["subject"]), s(&a["text"]));
    }
    o
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
    let (holds, _) = store.read()?;
    let usage = crate::sweep::usage(policy, inv);
    Ok(status(policy, inv, &usage, &holds, last, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_share_spreads_a_directory_over_its_span() {
        let now = Timestamp(10 * DAY);
        assert_eq!(recent_share(Timestamp(9 * DAY + 5), Timestamp(10 * DAY), now), 1.0);
        assert_eq!(recent_share(Timestamp(DAY), Timestamp(2 * DAY), now), 0.0);
        let half = recent_share(Timestamp(8 * DAY), Timestamp(10 * DAY), now);
        assert!((half - 0.5).abs() < 1e-9, "{half}");
    }
}
