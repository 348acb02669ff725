//! Grouped deletion records: a sweep writes one `delete` record per
//! directory and reason, naming its files compactly, and every reader
//! still answers per file: `audit show`, `explain`, `audit access`,
//! `report`, the crash recovery; a log that older versions wrote, one
//! record per file, reads and verifies beside the grouped ones.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use retentiond::audit::schema::{self, GroupFile, RecPath};
use retentiond::audit::{AuditLog, AuditOptions};
use serde_json::Value;

fn ctl(policy: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--config", policy.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let o = retentionctl(&all);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o)))
}

/// A deletion record as a version before grouping wrote it, with its batch.
fn legacy_deletion(log: &mut AuditLog, path: &Path, rec_time: i64) -> u64 {
    let seq = log
        .record(&schema::Delete {
            zone: "cctv".into(),
            path: RecPath::from(path),
            size: 100,
            bytes: 4096,
            rec_time: rfc3339(rec_time),
            reason: "max-age".into(),
            text: "older than max_age 28d: recorded long ago, age 40d".into(),
            policy: "0".repeat(64),
            ..Default::default()
        })
        .unwrap();
    log.record(&schema::BatchDone {
        first: Some(seq),
        last: Some(seq),
        deleted: 1,
        bytes: 4096,
        ..Default::default()
    })
    .unwrap();
    log.sync().unwrap();
    seq
}

#[test]
fn a_sweep_writes_a_record_per_directory_and_every_reader_answers_per_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cctv(tmp.path(), "", "");
    let end = now();
    a_month_of_footage(&c.root, end);
    let log = c.state.join("audit.jsonl");
    std::fs::create_dir_all(&c.state).unwrap();
    // What an older version wrote: a record per file.
    let legacy = c.root.join("2020-01-01/00/cam00/00.00.mp4");
    let legacy_seq = {
        let mut l = AuditLog::open(&log, AuditOptions::default()).unwrap();
        legacy_deletion(&mut l, &legacy, 1_577_836_800)
    };
    let before = files(&c.root);
    let o = retentiond(&["--config", c.policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let gone: BTreeSet<PathBuf> = before.difference(&files(&c.root)).cloned().collect();
    // 3 days past max_age, 3 cameras, 6 segments an hour (the day at the
    // edge is cut within its hours).
    assert!(gone.len() > 1000, "{}", gone.len());

    // As written: one record per hour directory, each naming its files.
    let raw = raw_audit_records(&log);
    let grouped: Vec<&Value> = raw
        .iter()
        .filter(|r| r["action"] == "delete" && r["unit"] == "files")
        .collect();
    let singles = raw
        .iter()
        .filter(|r| r["action"] == "delete" && r["unit"].is_null())
        .count();
    let named: usize = grouped.iter().map(|r| r["files"].as_array().unwrap().len()).sum();
    assert_eq!(named + singles - 1, gone.len(), "every deleted file named once");
    let dirs: BTreeSet<&Path> = gone.iter().map(|p| p.parent().unwrap()).collect();
    assert_eq!(grouped.len() + singles - 1, dirs.len(), "a record per directory");
    let g = grouped[0];
    assert!(g["text"] == "older than max_age 28d" && g["decided"].is_string(), "{g}");
    assert!(g["files"][0].as_array().is_some_and(|f| f.len() == 4), "{g}");
    // Every file deleted was named in a durable record before it went.
    let named_paths: BTreeSet<PathBuf> = audit_records(&log)
        .iter()
        .filter(|r| r["action"] == "delete")
        .map(|r| PathBuf::from(retentiond::audit::path_from_value(&r["path"]).unwrap()))
        .collect();
    assert!(gone.is_subset(&named_paths));
    assert!(named_paths.contains(&legacy));
    let v = retentionctl(&["--config", c.policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
    let raw_bytes = std::fs::metadata(&log).unwrap().len();
    eprintln!(
        "{} files in {} grouped records, {raw_bytes} bytes of log ({:.1} B/file before compression)",
        gone.len(),
        grouped.len(),
        raw_bytes as f64 / gone.len() as f64
    );

    // audit show: the file's own record, as a record of its own said it.
    let one = gone.iter().nth(gone.len() / 2).unwrap();
    let rel = one.strip_prefix(&c.root).unwrap().to_str().unwrap();
    let shown = ctl(&c.policy, &["audit", "show", "--path", one.to_str().unwrap()]);
    let recs = shown["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{shown:#}");
    let r = &recs[0];
    assert_eq!(retentiond::audit::path_from_value(&r["path"]).unwrap(), one.as_os_str());
    assert_eq!((r["size"].as_u64(), r["reason"].as_str()), (Some(100), Some("max-age")));
    assert_eq!(
        r["rec_time"],
        retentiond::core::units::Timestamp(frigate_time(rel)).rfc3339(),
        "{r}"
    );
    let t = r["text"].as_str().unwrap();
    assert!(
        t.starts_with("older than max_age 28d: recorded ") && t.contains(", age "),
        "{t}"
    );
    assert!(r["unit"].is_null() && r["files"].is_null(), "{r}");
    // By glob and action, a file per row.
    let cam = ctl(
        &c.policy,
        &["audit", "show", "--action", "delete", "--path", "*/cam01/*"],
    );
    let n_cam01 = gone.iter().filter(|p| p.to_str().unwrap().contains("/cam01/")).count();
    assert_eq!(cam["matched"].as_u64(), Some(n_cam01 as u64), "{}", cam["matched"]);
    // The old record answers as it always did.
    let shown = ctl(&c.policy, &["audit", "show", "--path", legacy.to_str().unwrap()]);
    assert_eq!(shown["records"][0]["seq"].as_u64(), Some(legacy_seq), "{shown:#}");

    // explain: deleted, by which record and why.
    let ex = ctl(&c.policy, &["explain", one.to_str().unwrap()]);
    assert_eq!(ex["state"], "deleted", "{ex:#}");
    let lines = ex["explanation"].to_string();
    assert!(
        lines.contains(&format!("deleted: record {}", r["seq"])) && lines.contains(t),
        "{lines}"
    );
    assert_eq!(ex["records"].as_array().unwrap().len(), 1, "{ex:#}");
    let ex = ctl(&c.policy, &["explain", legacy.to_str().unwrap()]);
    assert_eq!(ex["state"], "deleted", "{ex:#}");
    // A neighbour that was kept is not said to be deleted.
    let kept = files(&c.root).into_iter().next().unwrap();
    assert_ne!(ctl(&c.policy, &["explain", kept.to_str().unwrap()])["state"], "deleted");

    // audit access: a row per file of the hour asked about.
    let hour = frigate_time(rel) / 3600 * 3600;
    let cam_of = one.parent().unwrap().file_name().unwrap().to_str().unwrap();
    let acc = ctl(
        &c.policy,
        &[
            "audit",
            "access",
            "--path",
            &format!("*/{cam_of}/*"),
            "--from",
            &rfc3339(hour),
            "--to",
            &rfc3339(hour + 3599),
            "--format",
            "json",
        ],
    );
    let rows: Vec<&Value> = acc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "delete")
        .collect();
    let in_hour = gone
        .iter()
        .filter(|p| {
            p.parent() == one.parent()
                && (hour..hour + 3600).contains(&frigate_time(p.strip_prefix(&c.root).unwrap().to_str().unwrap()))
        })
        .count();
    assert_eq!(rows.len(), in_hour, "{acc:#}");
    assert!(rows
        .iter()
        .all(|r| r["recordings"] == 1 && r["paths"].as_array().unwrap().len() == 1));

    // report: the day's deletions count files, not records (the old
    // record, appended today, among them).
    let rep = ctl(&c.policy, &["report", "--since", "1d"]);
    let counted: i64 = rep["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["zone"] == "cctv")
        .filter_map(|d| d["deleted"]["max-age"].as_i64())
        .sum();
    assert_eq!(counted as usize, gone.len() + 1, "{rep:#}");
}

#[test]
fn a_crash_after_a_grouped_record_is_recovered_per_file() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing is due: only the recovery acts.
    let c = cctv(tmp.path(), "", "");
    let dir = c.root.join("2026-01-01/00/cam00");
    std::fs::create_dir_all(&dir).unwrap();
    for n in ["00.00.mp4", "10.00.mp4"] {
        std::fs::write(dir.join(n), [0u8; 100]).unwrap();
    }
    std::fs::create_dir_all(&c.state).unwrap();
    let log = c.state.join("audit.jsonl");
    let seq = {
        let mut l = AuditLog::open(&log, AuditOptions::default()).unwrap();
        let f = |n: &str, dt| GroupFile(RecPath::from(n), 100, 4096, dt);
        let seq = l
            .record(&schema::Delete {
                zone: "cctv".into(),
                path: RecPath::from(&dir),
                size: 400,
                bytes: 4 * 4096,
                rec_time: "2026-01-01T00:00:00Z".into(),
                reason: "max-age".into(),
                text: "older than max_age 28d".into(),
                policy: "0".repeat(64),
                unit: Some(schema::GROUPED.into()),
                decided: Some("2026-02-01T00:00:00Z".into()),
                files: vec![
                    f("00.00.mp4", 0),
                    f("10.00.mp4", 600),
                    f("20.00.mp4", 1200),
                    f("30.00.mp4", 1800),
                ],
                ..Default::default()
            })
            .unwrap();
        // The crash: durable, and no batch-done.
        l.sync().unwrap();
        seq
    };
    // Kept out of the sweep by a policy whose max_age nothing reaches.
    let p = std::fs::read_to_string(&c.policy)
        .unwrap()
        .replace("max_age = \"28d\"", "max_age = \"10000d\"");
    std::fs::write(&c.policy, p).unwrap();
    let o = retentiond(&["--config", c.policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let recs = audit_records(&log);
    let rec = recs
        .iter()
        .find(|r| r["action"] == "recovered")
        .expect("a recovered record");
    let paths = |k: &str| -> BTreeSet<(u64, PathBuf)> {
        rec[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let p = retentiond::audit::path_from_value(&o["path"]).unwrap();
                (o["seq"].as_u64().unwrap(), PathBuf::from(p))
            })
            .collect()
    };
    let at = |n: &str| (seq, dir.join(n));
    assert_eq!(
        paths("gone"),
        BTreeSet::from([at("20.00.mp4"), at("30.00.mp4")]),
        "{rec}"
    );
    assert_eq!(
        paths("present"),
        BTreeSet::from([at("00.00.mp4"), at("10.00.mp4")]),
        "{rec}"
    );
    assert!(
        rec["text"].as_str().unwrap().contains("2 of its 4 files are gone"),
        "{rec}"
    );
    // The files still there were not deleted by the recovery.
    assert!(dir.join("00.00.mp4").exists() && dir.join("10.00.mp4").exists());
    // explain of a file still there says so; of one gone, the record.
    let ex = ctl(&c.policy, &["explain", dir.join("30.00.mp4").to_str().unwrap()]);
    assert_eq!(ex["state"], "deleted", "{ex:#}");
    let t = ex["explanation"].to_string();
    assert!(t.contains("recorded 2026-01-01 00:30, age 30d 23h"), "{t}");
}
