//! Crash safety: `kill -9` at random moments during large sweeps, many
//! times over. After every restart: each file that is gone has exactly one
//! deletion record that took effect; no record claims a deletion of a file
//! that still exists unless a later record reconciles it (`batch-done`
//! lists it as changed or failed, or `recovered` as present); the hash
//! chain verifies (a torn last line is cut and recorded as `repair`); the
//! holds are intact and every held file is still there.
//!
//! Every tenth kill also leaves half a record at the end of the log, as a
//! crash inside `write(2)` would; the restart must cut it and say so.
//!
//! `RETENTIOND_CRASH_ROUNDS` sets the number of kills (default 50; the
//! README's long mode runs 1000). The random seed is printed, and
//! `RETENTIOND_CRASH_SEED` replays a run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};

const DAY: i64 = 86_400;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn policy(dir: &Path, name: &str, state: &Path, root: &Path, max_age: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "[daemon]\nstate_dir = \"{s}\"\ncontrol_socket = \"{s}/ctl.sock\"\nbatch_size = 100\nsettle_time = \"1s\"\n\
             audit_rotate_size = \"4MiB\"\nguard_share = \"100%\"\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{r}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"1h\"\nmax_age = \"{max_age}\"\n",
            s = state.display(),
            r = root.display()
        ),
    )
    .unwrap();
    p
}

/// Seqs of delete records that did not take effect, by what reconciled them.
/// The deletions a batch did not carry out, by their record's seq and
/// path (a grouped record's files share its seq).
fn not_done(records: &[serde_json::Value]) -> BTreeSet<(u64, PathBuf)> {
    let mut out = BTreeSet::new();
    for r in records {
        let lists: &[&str] = match r["action"].as_str() {
            Some("batch-done") => &["changed", "failed", "vanished"],
            Some("recovered") => &["present"],
            _ => continue,
        };
        for l in lists {
            for item in r[*l].as_array().into_iter().flatten() {
                let p = retentiond::audit::path_from_value(&item["path"]).unwrap();
                out.insert((item["seq"].as_u64().unwrap(), PathBuf::from(p)));
            }
        }
    }
    out
}

#[test]
fn kill_9_during_sweeps_loses_nothing_and_leaves_a_true_record() {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: needs root (holds are placed offline, as root)");
        return;
    }
    let rounds: usize = std::env::var("RETENTIOND_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("RETENTIOND_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| (now() as u64).wrapping_mul(2654435761) | 1);
    eprintln!("crash test: {rounds} rounds, RETENTIOND_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    let state = tmp.path().join("state");
    let sweep = policy(tmp.path(), "sweep.toml", &state, &root, "1d");
    // Same state, nothing due: the restart that recovers, then exits.
    let idle = policy(tmp.path(), "idle.toml", &state, &root, "3650d");
    let log = state.join("audit.jsonl");

    // Footage of 2 cameras, and a hold over part of it.
    let t0 = now();
    // Each top-up ends an hour before the previous one starts, so no path
    // is ever made twice.
    let mut oldest = t0 - 2 * DAY - 3 * DAY;
    let top_up = |end: i64| {
        frigate(
            &root,
            &TreeSpec {
                cams: 2,
                days: 3.0,
                segment: 120,
                size: 0,
                end,
            },
        )
        .unwrap()
    };
    top_up(t0 - 2 * DAY);
    let held_from = t0 - 4 * DAY;
    let held_to = held_from + 6 * 3600;
    let o = retentionctl(&[
        "--config",
        sweep.to_str().unwrap(),
        "hold",
        "add",
        "--zone",
        "cctv",
        "--from",
        &rfc3339(held_from),
        "--to",
        &rfc3339(held_to),
        "--case",
        "CRASH-1",
        "--reason",
        "crash test",
        "--indefinite",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let holds_before = std::fs::read(state.join("holds.json")).unwrap();
    let held: BTreeSet<PathBuf> = files(&root)
        .into_iter()
        .filter(|p| (held_from..=held_to).contains(&path_time(&root, p)))
        .collect();
    assert!(!held.is_empty());

    let mut ever: BTreeSet<PathBuf> = files(&root);
    let mut repairs_seen = 0;
    let mut torn = 0;
    let mut recovered_seen = 0;
    for round in 0..rounds {
        // Keep enough footage due for the sweeps to be large.
        let present = files(&root);
        let due = present
            .iter()
            .filter(|p| path_time(&root, p) < now() - DAY - 60)
            .count();
        if due < held.len() + 1500 {
            top_up(oldest - 3600);
            oldest -= 3600 + 3 * DAY;
            ever.extend(files(&root));
        }
        // A sweep, killed at a random moment (scan, batches, between them).
        let mut child = Command::new(env!("CARGO_BIN_EXE_retentiond"))
            .args(["--config", sweep.to_str().unwrap(), "--once"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next() % 700));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Every tenth round the kill also tears the last line (as a crash
        // in the middle of write(2) would): half a record at the end.
        if round % 10 == 5 {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            f.write_all(b"{\"seq\":99999999,\"ts\":\"2026-11-2").unwrap();
            torn += 1;
        }

        // The restart: recovery, repair, nothing due.
        let o = retentiond(&["--config", idle.to_str().unwrap(), "--once"]);
        assert!(o.status.success(), "round {round}: restart failed: {}", text(&o));
        let v = retentionctl(&["--config", idle.to_str().unwrap(), "audit", "verify"]);
        assert!(v.status.success(), "round {round}: chain broken: {}", text(&v));

        let records = audit_records(&log);
        let undone = not_done(&records);
        let mut effective: BTreeMap<PathBuf, u32> = BTreeMap::new();
        let mut claimed: BTreeMap<PathBuf, Vec<u64>> = BTreeMap::new();
        for r in records.iter().filter(|r| r["action"] == "delete") {
            let p = PathBuf::from(retentiond::audit::path_from_value(&r["path"]).unwrap());
            let seq = r["seq"].as_u64().unwrap();
            claimed.entry(p.clone()).or_default().push(seq);
            if !undone.contains(&(seq, p.clone())) {
                *effective.entry(p).or_default() += 1;
            }
        }
        repairs_seen = records.iter().filter(|r| r["action"] == "repair").count();
        recovered_seen = records.iter().filter(|r| r["action"] == "recovered").count();
        let now_present = files(&root);
        for p in ever.difference(&now_present) {
            assert_eq!(
                effective.get(p).copied().unwrap_or(0),
                1,
                "round {round}: {} is gone with {:?} delete records (seqs {:?})",
                p.display(),
                effective.get(p),
                claimed.get(p)
            );
        }
        for p in &now_present {
            assert_eq!(
                effective.get(p).copied().unwrap_or(0),
                0,
                "round {round}: {} still exists but a record claims its deletion (seqs {:?})",
                p.display(),
                claimed.get(p)
            );
        }
        for p in &held {
            assert!(p.exists(), "round {round}: held file deleted: {}", p.display());
        }
        assert_eq!(
            std::fs::read(state.join("holds.json")).unwrap(),
            holds_before,
            "round {round}: hold store changed"
        );
    }
    eprintln!("crash test: {rounds} kills; {recovered_seen} interrupted batches recovered, {repairs_seen} torn tails repaired");
    // Finally a sweep runs to the end: what is due is gone, held files stay.
    let o = retentiond(&["--config", sweep.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let left = files(&root);
    for p in &left {
        let t = path_time(&root, p);
        assert!(
            t >= now() - DAY - 120 || held.contains(p),
            "{} is due but still here",
            p.display()
        );
    }
    assert!(
        recovered_seen > 0,
        "no kill landed inside a batch in {rounds} rounds (seed {seed})"
    );
    assert!(repairs_seen >= torn, "{torn} torn tails, {repairs_seen} repair records");
}
