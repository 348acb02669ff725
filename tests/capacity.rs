//! Capacity on a real, small filesystem (a size-limited tmpfs; needs root
//! to mount it, skipped otherwise): oldest first down to the low watermark,
//! never below a floor; when floors prevent relief, the alarm is raised.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use retentiond::demo::treegen::{frigate, write_file, TreeSpec};

const DAY: i64 = 86_400;
const FILE: usize = 32 * 1024;

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
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = tmp.path().join("state");
    let end = now() - 600;
    let (root, other) = fill(&fs.dir, end);
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
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = tmp.path().join("state");
    let end = now() - 600;
    let (root, _) = fill(&fs.dir, end);
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
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "32m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = tmp.path().join("state");
    let end = now() - 600;
    let (root, other) = fill(&fs.dir, end);
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
    // A camera writes segments until the disk is above 85% (in a cache
    // directory, then moved into the newest recording directory, as
    // Frigate does: the disk is full before the first one arrives).
    let newest = files(&root).into_iter().max_by_key(|p| path_time(&root, p)).unwrap();
    let dir = newest.parent().unwrap().to_path_buf();
    let cache = fs.dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let mut k = 0;
    while fs.used_pct() <= 88.0 {
        write_file(&cache.join(format!("59.{k:02}.mp4")), &vec![1u8; FILE], now() - 60).unwrap();
        k += 1;
    }
    for i in 0..k {
        let name = format!("59.{i:02}.mp4");
        std::fs::rename(cache.join(&name), dir.join(&name)).unwrap();
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

/// Recordings and the audit log on one filesystem at 100%: the space set
/// aside for the log lets the sweep record and delete down to the low
/// watermark, and set it aside again; with the reserve used up, small
/// batches still work their way down; when the log truly cannot be
/// written, nothing is deleted and the alarm says why.
#[test]
fn a_full_disk_still_records_and_deletes_and_an_unwritable_log_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "48m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let state = fs.dir.join("state");
    let end = now() - 600;
    let (root, other) = fill(&fs.dir, end);
    // A first run with room to spare sets the log's reserve aside.
    let roomy = write_policy(tmp.path(), &state, "99%", "98%", &zone(&root, "1d"));
    let o = retentiond(&["--config", roomy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        reserve_held(&state.join("audit.jsonl")) >= RESERVE,
        "the log's reserve is set aside"
    );
    fill_up(&other.join("filler"));
    assert!(fs.used_pct() > 99.9, "{}", fs.used_pct());
    let before = files(&root);

    // A floor of 6 hours: the reserve is set aside again within the low
    // watermark, so more must go than without it.
    let policy = write_policy(tmp.path(), &state, "75%", "60%", &zone(&root, "6h"));
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "at 100% the sweep runs: {}", text(&o));
    assert!(
        reserve_held(&state.join("audit.jsonl")) >= RESERVE,
        "set aside again in the same sweep: {}",
        text(&o)
    );
    let after = files(&root);
    let gone = before.len() - after.len();
    // Below the low watermark, the sweep's own audit records (on the same
    // filesystem) included.
    assert!(
        gone > 0 && fs.used_pct() <= 60.0,
        "deleted {gone}, now {:.1}%: {}",
        fs.used_pct(),
        text(&o)
    );
    let dels = deletions(&state.join("audit.jsonl"));
    assert_eq!(dels.len(), gone, "one record per deletion");
    let v = retentionctl(&["--config", policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));

    // Now the reserve is gone too (used up) and the disk full again: the
    // log's last page and its head anchor, written in place, hold a batch
    // of one record, and each deletion frees more than its record, so the
    // running daemon works its way down, every deletion recorded.
    // (The disk is mostly other files by now: it cannot get under its low
    // watermark, but every recording past the floor goes.)
    let socket = tmp.path().join("ctl.sock");
    // A floor of an hour: there is always footage the sweep would delete.
    let policy = write_policy(tmp.path(), &state, "75%", "60%", &zone(&root, "1h"));
    with_control_socket(&policy, &socket);
    let log = state.join("audit.jsonl");
    let d = Daemon::start(&policy, &socket);
    d.wait_for("sweep at", 1, 60);
    // Paused while the disk fills (else it would make room meanwhile).
    let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    drop_reserve(&log);
    fill_up(&other.join("filler2"));
    assert!(fs.used_pct() > 99.9);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let floor = now() - 3600 - 120;
    let t0 = std::time::Instant::now();
    while files(&root).iter().any(|p| path_time(&root, p) < floor) {
        assert!(
            t0.elapsed().as_secs() < 60,
            "the daemon does not delete without a reserve ({:.1}%): {}",
            fs.used_pct(),
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(d);
    assert_eq!(
        deletions(&log).len(),
        before.len() - files(&root).len(),
        "one record per deletion"
    );
    let v = retentionctl(&["--config", policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));

    // A log that truly cannot be written (immutable; on ext4, in the test's
    // own directory): a running daemon deletes nothing and says why, and
    // resumes once it can write again.
    let state = tmp.path().join("state2");
    let log = state.join("audit.jsonl");
    let policy = write_policy(tmp.path(), &state, "75%", "60%", &zone(&root, "1h"));
    with_control_socket(&policy, &socket);
    let d = Daemon::start(&policy, &socket);
    d.wait_for("sweep at", 1, 60);
    let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    // Footage past the floor again, and a full disk.
    frigate(
        &root,
        &TreeSpec {
            cams: 1,
            days: 0.1,
            segment: 600,
            size: FILE,
            end: now() - 7200,
        },
    )
    .unwrap();
    fill_up(&other.join("filler3"));
    let frozen = sh("chattr", &["+i", log.to_str().unwrap()]);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    if !frozen {
        eprintln!("skipped the unwritable log: cannot set the immutable attribute");
        return;
    }
    struct Unfreeze<'a>(&'a Path);
    impl Drop for Unfreeze<'_> {
        fn drop(&mut self) {
            let _ = sh("chattr", &["-i", self.0.to_str().unwrap()]);
        }
    }
    let unfreeze = Unfreeze(&log);
    let before = files(&root);
    let why = wait_for_alarm(&policy, "audit-unwritable", 30);
    assert!(
        why.contains("Operation not permitted") && why.contains("nothing deleted"),
        "{why}"
    );
    assert_eq!(files(&root), before, "nothing deleted without a record");
    // Writable again: the sweeps resume and the alarm clears.
    drop(unfreeze);
    wait_for_alarm_cleared(&policy, "audit-unwritable", 30);
    drop(d);
    let v = retentionctl(&["--config", policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}
