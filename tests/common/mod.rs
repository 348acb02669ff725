//! Helpers shared by the integration tests: real trees, real binaries.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `retentiond` with `args`.
pub fn retentiond(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retentiond"))
        .args(args)
        .output()
        .expect("retentiond runs")
}

/// Runs `retentionctl` with `args`.
pub fn retentionctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retentionctl"))
        .args(args)
        .output()
        .expect("retentionctl runs")
}

/// stdout and stderr of `o`, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every regular file under `root` (not following symlinks).
pub fn files(root: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// A policy file with the given `[daemon]` state directory, capacity
/// watermarks and zone tables.
pub fn write_policy(dir: &Path, state: &Path, high: &str, low: &str, zones: &str) -> PathBuf {
    let p = dir.join("policy.toml");
    let text = format!(
        "[daemon]\nstate_dir = \"{s}\"\naudit_log = \"{s}/audit.jsonl\"\nsweep_interval = \"1s\"\nsettle_time = \"2m\"\n\n\
         [capacity]\nhigh_watermark = \"{high}\"\nlow_watermark = \"{low}\"\n\n{zones}",
        s = state.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Every audit record (all segments), as JSON with `seq` and `action` merged in.
pub fn audit_records(log: &Path) -> Vec<Value> {
    retentiond::audit::read_records(log)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            let mut v = Value::Object(r.fields);
            v["seq"] = r.seq.into();
            v["action"] = r.action.into();
            v
        })
        .collect()
}

/// The deletion records' paths, each with its reason code.
pub fn deletions(log: &Path) -> Vec<(PathBuf, String)> {
    audit_records(log)
        .into_iter()
        .filter(|v| v["action"] == "delete")
        .map(|v| {
            let p = retentiond::audit::path_from_value(&v["path"]).expect("path");
            (PathBuf::from(p), v["reason"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// The current Unix time.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
