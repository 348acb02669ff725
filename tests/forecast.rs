//! `capacity-forecast` against a running daemon on two small real
//! filesystems (tmpfs, root only): on one, footage grows faster than it
//! passes its floor and the floors last under 3 days; on the other,
//! as much passes the floor each day as is recorded, and the forecast is
//! unlimited. Checked in `status` (JSON and text), the metrics file, the
//! audit log's alarm and sample records, and the report.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const MIB: usize = 1 << 20;
const H: i64 = 3600;

/// One 1 MiB recording per age (seconds), each in a directory of its
/// own, so that every directory summary is exact.
fn record(root: &Path, ages: &[i64]) {
    let now = now();
    for (k, age) in ages.iter().enumerate() {
        let dir = root.join(format!("d{k:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("seg.mp4");
        std::fs::write(&f, vec![1u8; MIB]).unwrap();
        filetime::set_file_mtime(&f, filetime::FileTime::from_unix_time(now - age, 0)).unwrap();
    }
}

#[test]
fn the_forecast_alarms_where_footage_outgrows_its_floors_and_not_where_it_is_steady() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fast_fs) = Mount::tmpfs(&dir.path().join("fast"), "64m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let Some(steady_fs) = Mount::tmpfs(&dir.path().join("steady"), "64m") else {
        return;
    };
    let (fast, steady) = (fast_fs.dir.join("rec"), steady_fs.dir.join("rec"));
    // 20 MiB recorded in the last day, none of it past the 7-day floor:
    // 64 MiB at 90% leaves about 37 MiB of room, under two days.
    record(&fast, &(0..20).map(|k| k * H + 60).collect::<Vec<_>>());
    // 4 MiB recorded in the last day, and the 4 MiB recorded the day
    // before passed the 1-day floor during it.
    record(
        &steady,
        &[60, 5 * H, 10 * H, 15 * H, 24 * H + 60, 29 * H, 34 * H, 39 * H],
    );
    let state = dir.path().join("state");
    let socket = dir.path().join("control.sock");
    let prom = dir.path().join("retentiond.prom");
    let zones = zone_toml("fast", &fast, "7d", "30d", "") + &zone_toml("steady", &steady, "1d", "30d", "");
    let policy = write_policy(dir.path(), &state, "90%", "80%", &zones);
    with_control_socket(&policy, &socket);
    let with_metrics = std::fs::read_to_string(&policy).unwrap().replace(
        "[daemon]\n",
        &format!("[daemon]\nmetrics_file = \"{}\"\n", prom.display()),
    );
    std::fs::write(&policy, with_metrics).unwrap();
    let daemon = Daemon::start(&policy, &socket);
    let p = policy.to_str().unwrap();

    let why = wait_for_alarm(&policy, "capacity-forecast", 15);
    assert!(
        why.contains("more days") && why.contains("below forecast_alarm 3d"),
        "{why}"
    );
    let o = retentionctl(&["--config", p, "--json", "status"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fs_of = |root: &Path| -> Value {
        v["filesystems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| root.starts_with(f["mount"].as_str().unwrap()))
            .cloned()
            .unwrap_or_else(|| panic!("no filesystem for {} in {v}", root.display()))
    };
    let (ff, sf) = (fs_of(&fast), fs_of(&steady));
    let days = ff["forecast"]["days"].as_f64().unwrap();
    assert!((1.5..2.0).contains(&days), "{ff}");
    assert_eq!(ff["forecast"]["recorded_per_day"], 20 * MIB);
    assert_eq!(ff["forecast"]["passing_floor_per_day"], 0);
    assert!(ff["forecast"]["alarm"].as_str().unwrap().contains("more days"), "{ff}");
    assert_eq!(sf["forecast"]["days"], Value::Null, "{sf}");
    assert_eq!(sf["forecast"]["unlimited"], true);
    assert_eq!(sf["forecast"]["recorded_per_day"], 4 * MIB);
    assert_eq!(sf["forecast"]["passing_floor_per_day"], 4 * MIB);
    assert_eq!(sf["forecast"]["past_floor_bytes"], 4 * MIB);
    // Only the fast filesystem raises it.
    let raised: Vec<Value> = v["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "capacity-forecast")
        .cloned()
        .collect();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["subject"], ff["mount"]);

    let o = retentionctl(&["--config", p, "status"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains(&format!(
            "forecast: floors kept {days:.1} more days (BELOW forecast_alarm)"
        )),
        "{t}"
    );
    assert!(t.contains("forecast: floors kept indefinitely"), "{t}");

    let metrics = std::fs::read_to_string(&prom).unwrap();
    let line = |mount: &Value| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("retentiond_capacity_forecast_days{")
                    && l.contains(&format!("mount=\"{}\"", mount.as_str().unwrap()))
            })
            .unwrap_or_else(|| panic!("no forecast metric for {mount} in {metrics}"))
            .to_string()
    };
    let fast_days: f64 = line(&ff["mount"]).rsplit(' ').next().unwrap().parse().unwrap();
    assert!((fast_days - days).abs() < 0.1, "{fast_days} vs {days}");
    // +Inf, which the prometheus crate writes as `inf` (Prometheus's
    // parser, Go's ParseFloat, reads either).
    let steady_days: f64 = line(&sf["mount"]).rsplit(' ').next().unwrap().parse().unwrap();
    assert!(steady_days.is_infinite() && steady_days > 0.0, "{}", line(&sf["mount"]));

    // The audit log: the alarm, and the hourly samples carry the forecast.
    let log = state.join("audit.jsonl");
    let recs = audit_records(&log);
    assert!(recs
        .iter()
        .any(|r| r["action"] == "alarm" && r["kind"] == "capacity-forecast" && r["subject"] == ff["mount"]));
    let sample = |zone: &str| {
        recs.iter()
            .find(|r| r["action"] == "sample" && r["zone"] == zone)
            .cloned()
            .unwrap()
    };
    let sampled = sample("fast")["forecast_days"].as_f64().unwrap();
    assert!((sampled - days).abs() < 0.2, "{sampled} vs {days}");
    assert!(sample("steady").get("forecast_days").is_none());

    // The report shows the day's lowest forecast per zone, and the alarm.
    let o = retentionctl(&["--config", p, "--json", "report", "--since", "1d"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let day = r["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["zone"] == "fast")
        .cloned()
        .unwrap();
    assert!(day["forecast_min_days"].as_f64().unwrap() < 3.0, "{day}");
    assert!(r["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "capacity-forecast"));
    daemon.stop();
}
