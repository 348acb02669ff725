//! What people read: floors flagged only on evidence (a zone whose floor
//! equals its ceiling is not "<min" after every sweep; a new zone is
//! "filling"), times in the box's local time zone with their offset (or
//! UTC with `--utc`), and how long footage fits said sensibly.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const DAY: i64 = 86_400;

/// Calls (Asterisk layout, UTC) of the last `days` days, `per_day` a day.
fn calls(root: &Path, end: i64, days: i64, per_day: i64) {
    for k in 0..days * per_day {
        let at = end - k * DAY / per_day - 600;
        let t = chrono::DateTime::from_timestamp(at, 0).unwrap();
        let dir = root.join(t.format("%Y/%m/%d").to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("out-5551234-201-{}-{at}.{k}.wav", t.format("%Y%m%d-%H%M%S")));
        std::fs::write(&p, b"RIFF").unwrap();
        let m = std::time::UNIX_EPOCH + std::time::Duration::from_secs((at + 120) as u64);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(m)
            .unwrap();
    }
}

fn ctl(policy: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_retentionctl"))
        .args(["--config", policy.to_str().unwrap()])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn floors_are_flagged_on_evidence_and_times_are_local_with_their_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let Cctv {
        root,
        state,
        socket,
        policy,
    } = cctv(tmp.path(), "sweep_interval = \"1h\"\nguard_share = \"100%\"", "");
    let calls_root = tmp.path().join("calls");
    let end = now();
    calls(&calls_root, end, 70, 4);
    // The CCTV zone is new: three days of footage against a 14-day floor.
    retentiond::demo::treegen::frigate(
        &root,
        &retentiond::demo::treegen::TreeSpec {
            cams: 2,
            days: 3.0,
            segment: 600,
            size: 100,
            end,
        },
    )
    .unwrap();
    let base = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!(
            "{base}\n{}",
            zone_toml(
                "calls",
                &calls_root,
                "60d",
                "60d",
                "layout = \"asterisk\"\ntime_zone = \"utc\""
            )
        ),
    )
    .unwrap();
    let d = Daemon::start(&policy, &socket);
    d.wait_for("sweep at", 1, 60);
    let st: Value = serde_json::from_slice(&ctl(&policy, &[], &["--json", "status"]).stdout).unwrap();
    let zone = |n: &str| {
        st["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["name"] == n)
            .cloned()
            .unwrap()
    };
    // Calls kept exactly 60 days: the oldest is a little younger than 60
    // days after the sweep deleted the rest, and that is the promise kept.
    let c = zone("calls");
    assert!(c["retention_secs"].as_i64().unwrap() < 60 * DAY, "{c:#}");
    assert_eq!(c["retention_state"], "within", "{c:#}");
    assert_eq!(zone("cctv")["retention_state"], "filling", "{st:#}");
    let marks: Value = serde_json::from_slice(&std::fs::read(state.join("floors.json")).unwrap()).unwrap();
    assert!(marks["calls"]["reached"].is_i64(), "{marks:#}");
    assert!(marks["cctv"]["reached"].is_null(), "{marks:#}");

    // Local time with its offset; --utc in UTC; JSON stays RFC 3339 UTC.
    let local = ctl(&policy, &[("TZ", "Europe/Helsinki")], &["status"]);
    assert!(local.status.success(), "{}", text(&local));
    let out = String::from_utf8_lossy(&local.stdout).to_string();
    let winter = chrono::DateTime::from_timestamp(end, 0)
        .unwrap()
        .format("%m")
        .to_string();
    let offset = if ["11", "12", "01", "02", "03"].contains(&winter.as_str()) {
        "+02:00"
    } else {
        "+03:00"
    };
    assert!(out.contains(offset), "{out}");
    assert!(out.contains(" filling"), "{out}");
    assert!(!out.contains("<min"), "{out}");
    let utc = ctl(&policy, &[("TZ", "Europe/Helsinki")], &["--utc", "status"]);
    let out_utc = String::from_utf8_lossy(&utc.stdout).to_string();
    assert!(out_utc.contains("+00:00") && !out_utc.contains(offset), "{out_utc}");
    // How long footage fits: days, or "> 1 year", never 47768.6 days.
    for line in out.lines().filter(|l| l.contains("/day")) {
        let days: Vec<f64> = line
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1] == "days")
            .filter_map(|w| w[0].parse().ok())
            .collect();
        assert!(days.iter().all(|d| *d < 365.0), "{line}");
    }
    // The report agrees: no calls day is flagged below its floor.
    let rep: Value = serde_json::from_slice(&ctl(&policy, &[], &["--json", "report", "--since", "1d"]).stdout).unwrap();
    for row in rep["days"].as_array().unwrap() {
        assert_ne!(row["status"], "flagged", "{row:#}");
        if row["zone"] == "cctv" {
            assert_eq!(row["status"], "filling", "{row:#}");
        }
    }
    // Hold times shown locally too.
    let o = ctl(
        &policy,
        &[("TZ", "Europe/Helsinki")],
        &[
            "hold", "add", "--zone", "calls", "--last", "1d", "--case", "C-1", "--reason", "r", "--for", "30d",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let l = ctl(&policy, &[("TZ", "Europe/Helsinki")], &["hold", "list"]);
    assert!(String::from_utf8_lossy(&l.stdout).contains(offset), "{}", text(&l));
    drop(d);
}
