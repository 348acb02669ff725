//! The ceiling: one `retentiond --once` over a Frigate-like tree deletes
//! exactly the recordings older than max_age, each with one `max-age`
//! record, and the audit chain catches edits and removals.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};

#[test]
fn once_deletes_exactly_what_is_past_max_age_and_the_chain_catches_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    let state = tmp.path().join("state");
    let t0 = now();
    // gen_tree.py ROOT --cams 8 --days 35 (60 s segments, mtime = segment end).
    let started = std::time::Instant::now();
    let made = frigate(
        &root,
        &TreeSpec {
            cams: 8,
            days: 35.0,
            segment: 60,
            size: 0,
            end: t0,
        },
    )
    .unwrap();
    eprintln!("generated {made} files in {:.1?}", started.elapsed());
    assert!(made >= 8 * 35 * 1440);
    let before = files(&root);

    let policy = write_policy(
        tmp.path(),
        &state,
        "99%",
        "98%",
        &zone_toml(
            "cctv",
            &root,
            "14d",
            "28d",
            "include = [\"*.mp4\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"",
        ),
    );
    let cfg = policy.to_str().unwrap();
    // Start the sweep just after a segment boundary, so that unless the
    // daemon takes a minute to read its clock, no segment start falls
    // between our clock reads and its own.
    while now() % 60 > 5 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let t_before = now();
    let started = std::time::Instant::now();
    let o = retentiond(&["--config", cfg, "--once"]);
    let t_after = now();
    eprintln!("swept in {:.1?}", started.elapsed());
    assert!(o.status.success(), "{}", text(&o));

    let after = files(&root);
    let gone: Vec<PathBuf> = before.difference(&after).cloned().collect();
    let (lo, hi) = (t_before - 28 * 86_400, t_after - 28 * 86_400);
    let must_go: Vec<PathBuf> = before.iter().filter(|p| path_time(&root, p) < lo).cloned().collect();
    assert!(must_go.len() > 8 * 6 * 1440, "a week of footage is past max_age");
    for p in &after {
        assert!(path_time(&root, p) >= lo, "kept a file past max_age: {}", p.display());
    }
    for p in &gone {
        assert!(
            path_time(&root, p) <= hi,
            "deleted a file younger than max_age: {}",
            p.display()
        );
    }
    assert!(gone.len() >= must_go.len());
    let expected = gone.clone();

    let log = state.join("audit.jsonl");
    let mut per_path: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for (p, reason) in deletions(&log) {
        per_path.entry(p).or_default().push(reason);
    }
    assert_eq!(per_path.len(), expected.len());
    for p in &expected {
        assert_eq!(
            per_path.get(p).map(Vec::as_slice),
            Some(&["max-age".to_string()][..]),
            "{}",
            p.display()
        );
    }

    let log_s = log.to_str().unwrap();
    let ok = retentionctl(&["--config", cfg, "audit", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK"), "{}", text(&ok));

    // Edit one deletion record: the chain breaks at it.
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let victim = lines.iter().position(|l| l.contains("\"action\":\"delete\"")).unwrap() + 10;
    let mut edited = lines.clone();
    let changed = lines[victim].replace("max-age", "capacity");
    assert_ne!(changed, lines[victim]);
    edited[victim] = &changed;
    std::fs::write(&log, edited.join("\n") + "\n").unwrap();
    let bad = retentionctl(&["audit", "verify", "--log", log_s]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains(&format!("line {}", victim + 1)),
        "names the line: {}",
        text(&bad)
    );

    // Remove one record instead: also detected.
    let mut removed = lines.clone();
    removed.remove(victim);
    std::fs::write(&log, removed.join("\n") + "\n").unwrap();
    let bad = retentionctl(&["audit", "verify", "--log", log_s]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));

    // Remove the last record: the head anchor catches the truncation.
    std::fs::write(&log, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let bad = retentionctl(&["audit", "verify", "--log", log_s]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));

    std::fs::write(&log, original).unwrap();
    assert!(retentionctl(&["audit", "verify", "--log", log_s]).status.success());
}
