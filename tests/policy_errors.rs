//! A malformed policy: a non-zero exit, a message naming file, line:column
//! and key, and nothing deleted.

mod common;

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};

const ZONE: &str = "[[zone]]\nname = \"cctv\"\npaths = [\"ROOT\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"1d\"\nmax_age = \"2d\"\n";

/// (what to break, the zone text with the fault, expected line:col, expected key).
fn cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        (
            "unknown key",
            ZONE.replace("max_age = \"2d\"", "max_age = \"2d\"\nmax_agee = \"3d\""),
            ":17:1",
            "max_agee",
        ),
        (
            "bad duration",
            ZONE.replace("max_age = \"2d\"", "max_age = \"2 fortnights\""),
            ":16:11",
            "max_age",
        ),
        (
            "min above max",
            ZONE.replace("min_age = \"1d\"", "min_age = \"9d\""),
            ":15:",
            "min_age",
        ),
        ("bad pattern", ZONE.replace("%M.%S", "%Q.%S"), ":14:", "time"),
        ("root is /", ZONE.replace("\"ROOT\"", "\"/\""), ":13:", "paths"),
        (
            "not an alarm kind",
            format!("{ZONE}[alarms.command_for]\n\"recording-stale\" = \"/bin/true\"\n"),
            ":18:21",
            "alarms.command_for.recording-stale: \"recording-stale\" is not an alarm kind",
        ),
        (
            "not TOML",
            ZONE.replace("min_age = \"1d\"", "min_age = \"1d"),
            ":15:",
            "",
        ),
    ]
}

#[test]
fn malformed_policies_name_file_line_column_and_key_and_delete_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 4.0,
            segment: 1800,
            size: 0,
            end: now(),
        },
    )
    .unwrap();
    let before = files(&root);
    let state = tmp.path().join("state");
    for (what, zone, linecol, key) in cases() {
        let zone = zone.replace("ROOT", root.to_str().unwrap());
        let policy = write_policy(tmp.path(), &state, "99%", "98%", &zone);
        let cfg = policy.to_str().unwrap();
        for args in [
            vec!["--config", cfg, "--once"],
            vec!["--check-config", "--config", cfg],
            vec!["--config", cfg, "--dry-run", "--once"],
        ] {
            let o = retentiond(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
            assert!(
                err.contains(&format!("{cfg}{linecol}")),
                "{what}: wants {cfg}{linecol}: {}",
                text(&o)
            );
            assert!(err.contains(key), "{what}: wants key {key}: {}", text(&o));
        }
        let o = retentionctl(&["--config", cfg, "plan"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert_eq!(files(&root), before, "{what}: nothing deleted");
        assert!(!state.join("audit.jsonl").exists(), "{what}: nothing written");
    }
    // The same tree under a valid policy: 2 days are past max_age.
    let policy = write_policy(
        tmp.path(),
        &state,
        "99%",
        "98%",
        &ZONE.replace("ROOT", root.to_str().unwrap()),
    );
    let cfg = policy.to_str().unwrap();
    let o = retentiond(&["--check-config", "--config", cfg]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for key in [
        "sweep_interval = ",
        "settle_time = ",
        "high_watermark = \"99%\"",
        "min_age = \"1d\"",
        "when_full = \"keep-floor\"",
    ] {
        assert!(out.contains(key), "effective policy shows {key}: {out}");
    }
    assert!(retentiond(&["--config", cfg, "--once"]).status.success());
    assert!(files(&root).len() < before.len());
}

#[test]
fn missing_policy_file_and_bad_arguments() {
    let o = retentiond(&["--config", "/nonexistent/retentiond.toml", "--once"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent/retentiond.toml"),
        "{}",
        text(&o)
    );
    let o = retentiond(&["--bogus"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--bogus"));
    let o = retentionctl(&["plan", "--bogus"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
