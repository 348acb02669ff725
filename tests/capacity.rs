//! Capacity on a real, small filesystem (a size-limited tmpfs; needs root
//! to mount it, skipped otherwise): oldest first down to the low watermark,
//! never below a floor; when floors prevent relief, the alarm is raised.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use retentiond::treegen::{frigate, write_file, TreeSpec};

const DAY: i64 = 86_400;
const FILE: usize = 32 * 1024;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn used_pct(&self) -> f64 {
        let s = nix::sys::statvfs::statvfs(&self.0).unwrap();
        let total = s.blocks() as f64;
        100.0 * (total - s.blocks_free() as f64) / total
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// 4 cameras x 4 days of 30-minute segments of 32 KiB (24 MiB) plus 5 MiB
/// no zone claims, on a 32 MiB filesystem: about 91% full.
fn fill(fs: &Path, end: i64) -> (PathBuf, PathBuf) {
    let root = fs.join("cctv");
    frigate(
        &root,
        &TreeSpec {
            cams: 4,
            days: 4.0,
            segment: 1800,
            size: FILE,
            end,
        },
    )
    .unwrap();
    let other = fs.join("other");
    std::fs::create_dir_all(&other).unwrap();
    write_file(&other.join("export.bin"), &vec![7u8; 5 << 20], end).unwrap();
    (root, other)
}

fn zone(root: &Path, min_age: &str) -> String {
    format!(
        "[[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"{min_age}\"\nmax_age = \"30d\"\n",
        root.display()
    )
}

#[test]
fn above_high_watermark_deletes_oldest_first_down_to_low_and_floors_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = tmp.path().join("state");
    let end = now() - 600;
    let (root, other) = fill(&fs.0, end);
    let before = files(&root);
    let full = fs.used_pct();
    assert!(full > 88.0, "filled to {full:.1}%");

    let policy = write_policy(tmp.path(), &state, "85%", "60%", &zone(&root, "1d"));
    let t_before = now();
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    let t_after = now();
    assert!(o.status.success(), "{}", text(&o));
    let after = files(&root);
    let gone: Vec<&PathBuf> = before.difference(&after).collect();
    let used = fs.used_pct();
    eprintln!("{full:.1}% -> {used:.1}%, deleted {} of {}", gone.len(), before.len());
    assert!(used <= 60.0, "down to the low watermark: {used:.1}%");
    assert!(used > 55.0, "no overshoot: {used:.1}%");
    // Oldest first: every deleted recording is older than every kept one.
    let newest_gone = gone.iter().map(|p| path_time(&root, p)).max().unwrap();
    let oldest_kept = after.iter().map(|p| path_time(&root, p)).min().unwrap();
    assert!(newest_gone <= oldest_kept);
    assert!(newest_gone < t_after - DAY, "nothing younger than min_age");
    let _ = t_before;
    assert!(
        other.join("export.bin").exists(),
        "files no zone claims are never deleted"
    );
    let dels = deletions(&state.join("audit.jsonl"));
    assert_eq!(dels.len(), gone.len());
    assert!(dels.iter().all(|(_, r)| r == "capacity"), "{dels:?}");
    let rec = audit_records(&state.join("audit.jsonl"))
        .into_iter()
        .find(|v| v["action"] == "delete")
        .unwrap();
    let why = rec["text"].as_str().unwrap();
    assert!(
        why.contains("high watermark 85%") && why.contains("low watermark 60%"),
        "{why}"
    );
}

#[test]
fn when_floors_prevent_relief_the_alarm_is_raised_and_floors_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = tmp.path().join("state");
    let end = now() - 600;
    let (root, _) = fill(&fs.0, end);
    let before = files(&root);
    let policy = write_policy(tmp.path(), &state, "85%", "60%", &zone(&root, "3d12h"));
    // A hold over one camera's oldest day: held bytes count, and the alarm names it.
    let socket = tmp.path().join("none.sock");
    let hold = retentionctl(&[
        "--config",
        policy.to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam00/*",
        "--from",
        "2000-01-01 00:00",
        "--to",
        &rfc3339(end - 3 * DAY),
        "--case",
        "CAP-1",
        "--reason",
        "test",
        "--indefinite",
    ]);
    assert!(hold.status.success(), "{}", text(&hold));
    let t_before = now();
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = files(&root);
    for p in before.difference(&after) {
        assert!(
            path_time(&root, p) < now() - (3 * DAY + DAY / 2),
            "deleted below the floor: {}",
            p.display()
        );
    }
    let held = |p: &Path| p.to_str().unwrap().contains("/cam00/") && path_time(&root, p) <= end - 3 * DAY;
    for p in &after {
        assert!(
            held(p) || path_time(&root, p) >= t_before - (3 * DAY + DAY / 2),
            "kept a file past the floor: {}",
            p.display()
        );
    }
    assert!(fs.used_pct() > 60.0);
    let alarm = audit_records(&state.join("audit.jsonl"))
        .into_iter()
        .find(|v| v["action"] == "alarm" && v["kind"] == "capacity-unrelieved")
        .expect("capacity-unrelieved alarm recorded");
    let why = alarm["text"].as_str().unwrap();
    assert!(why.contains("floor"), "{why}");
    assert!(why.contains("hold 1 (case CAP-1)"), "names the hold: {why}");
    let held_files: Vec<&PathBuf> = before.iter().filter(|p| held(p)).collect();
    assert!(
        !held_files.is_empty() && held_files.iter().all(|p| after.contains(*p)),
        "held footage kept"
    );
    assert!(
        why.contains("not recordings") || why.contains("no zone"),
        "names unclaimed bytes: {why}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("capacity-unrelieved"),
        "{}",
        text(&o)
    );
}

/// New recordings that push a filesystem over its high watermark start a
/// sweep at once (inotify), not at the next sweep_interval.
#[test]
fn new_recordings_over_the_high_watermark_trigger_an_early_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = tmp.path().join("state");
    let end = now() - 600;
    let (root, other) = fill(&fs.0, end);
    std::fs::remove_file(other.join("export.bin")).unwrap();
    let start = fs.used_pct();
    assert!(start < 85.0, "{start:.1}%");
    let socket = tmp.path().join("ctl.sock");
    let text = format!(
        "[daemon]\nstate_dir = \"{s}\"\ncontrol_socket = \"{c}\"\nsweep_interval = \"1h\"\nsettle_time = \"1s\"\n\n\
         [capacity]\nhigh_watermark = \"85%\"\nlow_watermark = \"60%\"\n\n{z}",
        s = state.display(),
        c = socket.display(),
        z = zone(&root, "1d")
    );
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, text).unwrap();
    let d = Daemon::start(&policy, &socket);
    d.wait_for("sweep at", 1, 30);
    assert_eq!(deletions(&state.join("audit.jsonl")).len(), 0);
    // A camera writes into the newest directory until the disk is above 85%.
    let newest = files(&root).into_iter().max_by_key(|p| path_time(&root, p)).unwrap();
    let dir = newest.parent().unwrap().to_path_buf();
    let mut k = 0;
    while fs.used_pct() <= 88.0 {
        write_file(&dir.join(format!("59.{k:02}.mp4")), &vec![1u8; FILE], now() - 60).unwrap();
        k += 1;
    }
    d.wait_for("sweeping now", 1, 20);
    d.wait_for("sweep at", 2, 30);
    let used = fs.used_pct();
    eprintln!("{start:.1}% -> filled with {k} files -> {used:.1}% after the early sweep");
    assert!(used <= 60.0, "relieved by the early sweep: {used:.1}%");
    assert!(deletions(&state.join("audit.jsonl"))
        .iter()
        .all(|(_, r)| r == "capacity"));
    drop(d);
}
