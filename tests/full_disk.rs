//! Retention that keeps working on a real box: recordings and the state
//! directory on one small filesystem at 100% (a restart, repeated refills,
//! a first start with no reserve, ext4's reserved blocks granted to the
//! service's group), deletions that fail for permissions, and the
//! mass-deletion guard in steady state (a small zone ageing out, a
//! recorder that stops). Needs root (tmpfs and loop mounts, test users);
//! skipped otherwise.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use retentiond::demo::treegen::{frigate, write_file, TreeSpec};

/// 5 cameras x 4 days of 30-minute segments of 48 KiB: 45 MiB.
fn tree(root: &Path) {
    frigate(
        root,
        &TreeSpec {
            cams: 5,
            days: 4.0,
            segment: 1800,
            size: 48 * 1024,
            end: now() - 600,
        },
    )
    .unwrap();
}

fn zone(root: &Path) -> String {
    format!(
        "[[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"1h\"\nmax_age = \"30d\"\n",
        root.display()
    )
}

/// Every deletion has its record, the log verifies, and the reserve is set
/// aside again.
fn check_records(policy: &Path, log: &Path, gone: usize) {
    assert_eq!(deletions(log).len(), gone, "one record per deletion");
    let v = retentionctl(&["--config", policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
    let held = reserve_held(log);
    assert!(held >= RESERVE, "the log's reserve is set aside again: {held} bytes");
}

#[test]
fn restarts_at_100_percent_and_repeated_refills_end_under_the_low_watermark() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "64m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let (state, root, other) = (fs.dir.join("state"), fs.dir.join("cctv"), fs.dir.join("other"));
    let log = state.join("audit.jsonl");
    tree(&root);
    std::fs::create_dir_all(&other).unwrap();
    let all = files(&root).len();
    // The daemon ran before with room: its reserve is set aside.
    let roomy = write_policy(tmp.path(), &state, "99%", "98%", &zone(&root));
    let o = retentiond(&["--config", roomy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(reserve_held(&log) >= RESERVE);
    let policy = write_policy(tmp.path(), &state, "90%", "85%", &zone(&root));

    // The recorder fills the disk while the daemon is stopped, twice in a row.
    for round in 0..2 {
        fill_up(&other.join(format!("filler{round}")));
        let full = fs.used_pct();
        assert!(full > 99.9, "{full}");
        let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
        assert!(o.status.success(), "round {round}: {}", text(&o));
        let used = fs.used_pct();
        eprintln!(
            "restart {round}: {full:.1}% -> {used:.1}%, {} recordings left",
            files(&root).len()
        );
        assert!(used <= 85.0, "round {round}: {used:.1}%: {}", text(&o));
        check_records(&policy, &log, all - files(&root).len());
    }

    // The long-running daemon, started on a full disk, then the recorder
    // fills it again while it runs.
    fill_up(&other.join("filler2"));
    let socket = tmp.path().join("ctl.sock");
    with_control_socket(&policy, &socket);
    let d = Daemon::start(&policy, &socket);
    let relieved = || fs.used_pct() <= 85.0 && reserve_held(&log) >= RESERVE;
    wait_until("the daemon brings the disk under its low watermark", 60, relieved);
    // Paused while the recorder fills the disk (else it would make room
    // meanwhile), as a recorder faster than one sweep would.
    let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    fill_up(&other.join("filler3"));
    let full = fs.used_pct();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(full > 99.9, "{full}");
    wait_until("the daemon relieves the disk again", 60, relieved);
    let used = fs.used_pct();
    let alarms = status_alarms(&policy).unwrap_or_default();
    assert!(
        alarms.iter().all(|(k, _)| k != "audit-unwritable"),
        "{alarms:?}: {}",
        d.log()
    );
    drop(d);
    eprintln!("daemon: {used:.1}%, {} of {all} recordings left", files(&root).len());
    check_records(&policy, &log, all - files(&root).len());
}

#[test]
fn a_first_start_on_a_full_disk_says_why_and_recovers_once_there_is_room() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "64m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let (state, root, other) = (fs.dir.join("state"), fs.dir.join("cctv"), fs.dir.join("other"));
    let log = state.join("audit.jsonl");
    tree(&root);
    std::fs::create_dir_all(&other).unwrap();
    let filler = other.join("filler");
    fill_up(&filler);
    let all = files(&root);
    let policy = write_policy(tmp.path(), &state, "90%", "85%", &zone(&root));

    let c = retentiond(&["--config", policy.to_str().unwrap(), "--check-config"]);
    assert!(
        text(&c).contains("which is not ext4"),
        "--check-config warns: {}",
        text(&c)
    );

    // No reserve and no room: nothing is deleted, and it says why and what to do.
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(!o.status.success(), "{}", text(&o));
    for what in ["No space left on device", "resgid=", "SMALL BOXES"] {
        assert!(text(&o).contains(what), "{what}: {}", text(&o));
    }
    assert_eq!(files(&root), all, "nothing deleted without a record");

    // The daemon starts all the same, with the alarm, and waits.
    let socket = tmp.path().join("ctl.sock");
    with_control_socket(&policy, &socket);
    let d = Daemon::start(&policy, &socket);
    let why = wait_for_alarm(&policy, "audit-unwritable", 30);
    assert!(why.contains("resgid=") && why.contains("nothing is deleted"), "{why}");
    assert_eq!(files(&root), all);

    // The admin frees 2 MiB by hand: the daemon records, deletes down to
    // the low watermark with its reserve counted, and sets it aside.
    let f = std::fs::OpenOptions::new().write(true).open(&filler).unwrap();
    f.set_len(f.metadata().unwrap().len() - (2 << 20)).unwrap();
    drop(f);
    wait_until("the daemon relieves the disk", 60, || {
        fs.used_pct() <= 85.0 && reserve_held(&log) >= RESERVE
    });
    wait_for_alarm_cleared(&policy, "audit-unwritable", 30);
    drop(d);
    let recs = audit_records(&log);
    assert!(
        recs.iter().any(|r| r["action"] == "policy-load"),
        "the policy load is recorded"
    );
    check_records(&policy, &log, all.len() - files(&root).len());
}

#[test]
fn a_first_start_on_a_full_ext4_writes_into_the_blocks_reserved_for_the_service() {
    let Some(u) = users() else { return };
    let (svc, recorder) = (u["rdtest-nobody"], u["rdtest-viewer"]);
    let (svc_gid, rec_gid) = (gid_of(svc), gid_of(recorder));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let Some(fs) = Mount::ext4(&tmp.path().join("img"), &tmp.path().join("fs"), 64, svc_gid) else {
        eprintln!("skipped: cannot make a loop-mounted ext4");
        return;
    };
    let (state, root, other) = (fs.dir.join("state"), fs.dir.join("cctv"), fs.dir.join("other"));
    let log = state.join("audit.jsonl");
    tree(&root);
    // The service owns its state directory (StateDirectory=) and may
    // delete the recordings; the recorder is another user.
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    assert!(sh(
        "chown",
        &[
            "-R",
            &format!("{svc}:{svc_gid}"),
            root.to_str().unwrap(),
            state.to_str().unwrap()
        ]
    ));
    assert!(sh(
        "chown",
        &[&format!("{recorder}:{rec_gid}"), other.to_str().unwrap()]
    ));
    let o = Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", other.join("filler").display()),
            "bs=4k",
        ])
        .uid(recorder)
        .gid(rec_gid)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("No space left"), "{o:?}");
    let full = fs.used_pct();
    assert!(full > 99.9, "{full}");
    let all = files(&root).len();
    let policy = write_policy(tmp.path(), &state, "90%", "85%", &zone(&root));
    let c = retentiond(&["--config", policy.to_str().unwrap(), "--check-config"]);
    assert!(
        text(&c).contains(&format!("are granted to group {svc_gid}")),
        "--check-config tells: {}",
        text(&c)
    );

    let o = Command::new(env!("CARGO_BIN_EXE_retentiond"))
        .args(["--config", policy.to_str().unwrap(), "--once"])
        .uid(svc)
        .gid(svc_gid)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let used = fs.used_pct();
    eprintln!("first start on ext4: {full:.1}% -> {used:.1}%");
    assert!(used <= 85.0, "{used:.1}%: {}", text(&o));
    check_records(&policy, &log, all - files(&root).len());
}

#[test]
fn deletions_refused_for_permissions_are_summarised_and_spend_no_guard_budget() {
    let Some(u) = users() else { return };
    let svc = u["rdtest-nobody"];
    let svc_gid = gid_of(svc);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    assert!(sh("chown", &[&format!("{svc}:{svc_gid}"), state.to_str().unwrap()]));
    // Two zones of 50 directories of 10 recordings; 20 directories of
    // each are past max_age (40%, beyond the guard's 10%: a first start
    // with a backlog). The recordings belong to root: the service may not
    // delete them yet.
    let mut zones = String::new();
    for z in ["cctv", "calls"] {
        let root = tmp.path().join(z);
        for d in 0..50i64 {
            let dir = root.join(format!("d{d:02}"));
            std::fs::create_dir_all(&dir).unwrap();
            let t = now()
                - if d < 20 {
                    40 * 86_400 - d * 3600
                } else {
                    86_400 + d * 60
                };
            for f in 0..10 {
                write_file(&dir.join(format!("{f}.wav")), b"x", t + f).unwrap();
            }
        }
        zones.push_str(&format!(
            "[[zone]]\nname = \"{z}\"\npaths = [\"{}\"]\nmin_age = \"1d\"\nmax_age = \"30d\"\n",
            root.display()
        ));
    }
    let policy = write_policy(tmp.path(), &state, "99%", "98%", &zones);
    let text_of = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("guard_share = \"100%\"", "guard_share = \"10%\"");
    std::fs::write(&policy, text_of).unwrap();
    let as_service = || {
        Command::new(env!("CARGO_BIN_EXE_retentiond"))
            .args(["--config", policy.to_str().unwrap(), "--once"])
            .uid(svc)
            .gid(svc_gid)
            .output()
            .unwrap()
    };
    let budget = |zone: &str| -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(state.join("guard.json")).unwrap()).unwrap();
        v["zones"][zone]["budget_left"].as_u64().unwrap()
    };

    let o = as_service();
    let out = text(&o);
    let before_fix: usize = ["cctv", "calls"].iter().map(|z| files(&tmp.path().join(z)).len()).sum();
    assert_eq!(before_fix, 1000, "nothing deleted: {out}");
    // One journal line per zone and cause, naming the fix.
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("retention_event=delete-failed"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    for l in &lines {
        assert!(
            l.contains("50 recordings could not be deleted: Permission denied") && l.contains("SupplementaryGroups="),
            "{l}"
        );
    }
    assert!(out.contains("alarm delete-failed"), "{out}");
    // The audit log has each file's failure.
    let failed: usize = audit_records(&state.join("audit.jsonl"))
        .iter()
        .filter(|r| r["action"] == "batch-done")
        .map(|r| r["failed"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(failed, 100);
    assert_eq!(
        (budget("cctv"), budget("calls")),
        (50, 50),
        "failed deletions spend no budget"
    );

    // The permissions are fixed, the service restarted: the guard's share
    // goes (5 whole directories per zone, the oldest), no more.
    for z in ["cctv", "calls"] {
        assert!(sh(
            "chown",
            &["-R", &format!("{svc}:{svc_gid}"), tmp.path().join(z).to_str().unwrap()]
        ));
    }
    let o = as_service();
    assert!(o.status.success(), "{}", text(&o));
    for z in ["cctv", "calls"] {
        let left = files(&tmp.path().join(z));
        assert_eq!(left.len(), 450, "{z}: {}", text(&o));
        for d in 0..5 {
            assert!(!tmp.path().join(z).join(format!("d{d:02}")).join("0.wav").exists());
        }
        assert_eq!(budget(z), 0);
    }
    assert!(!text(&o).contains("retention_event=delete-failed"), "{}", text(&o));
}

/// A recorder writing 2-second segments for two cameras into a small zone
/// (max_age 10 s), swept every second, then stopping: everything ages out
/// on time, each deletion recorded, and the guard never trips.
#[test]
fn a_small_zone_ages_out_and_a_stopped_recorder_never_trips_the_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    let state = tmp.path().join("state");
    for c in ["cam0", "cam1"] {
        std::fs::create_dir_all(root.join(c)).unwrap();
    }
    let zone = format!(
        "[[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\nmin_age = \"1s\"\nmax_age = \"10s\"\n",
        root.display()
    );
    let policy = write_policy(tmp.path(), &state, "99%", "98%", &zone);
    let text_of = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("guard_share = \"100%\"", "guard_share = \"10%\"")
        .replace("settle_time = \"2m\"", "settle_time = \"2s\"");
    std::fs::write(&policy, text_of).unwrap();
    let socket = tmp.path().join("ctl.sock");
    with_control_socket(&policy, &socket);
    let d = Daemon::start(&policy, &socket);

    let t0 = Instant::now();
    let mut written = 0;
    while t0.elapsed() < Duration::from_secs(24) {
        let t = now();
        for c in ["cam0", "cam1"] {
            write_file(&root.join(c).join(format!("{t}.mp4")), &[0u8; 4096], t).unwrap();
            written += 1;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    wait_until("every segment ages out", 60, || files(&root).is_empty());
    let log = state.join("audit.jsonl");
    let recs = audit_records(&log);
    let guard_alarms: Vec<_> = recs
        .iter()
        .filter(|r| r["action"] == "alarm" && (r["kind"] == "mass-deletion" || r["kind"] == "clock-suspect"))
        .collect();
    assert!(guard_alarms.is_empty(), "{guard_alarms:?}: {}", d.log());
    assert_eq!(deletions(&log).len(), written, "one record per segment");
    // Each segment went within a few sweeps of its max_age (sweeps every
    // second; generous for a loaded machine).
    let t = |r: &serde_json::Value, k: &str| {
        chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let late = recs
        .iter()
        .filter(|r| r["action"] == "delete")
        .map(|r| t(r, "ts") - t(r, "rec_time") - 10_000)
        .max()
        .unwrap();
    eprintln!("{written} segments, each deleted at most {late} ms after its max_age, no guard alarm");
    assert!(late <= 15_000, "a segment stayed {late} ms past its max_age");
    drop(d);
}

/// On a full disk, one directory whose records outgrow the audit log's
/// reserve (20,000 recordings, about 10 MB of records against 8 MiB) goes
/// in several batches, each within what the log can write, instead of
/// failing whole at every sweep.
#[test]
fn a_directory_whose_records_outgrow_the_reserve_goes_in_several_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Mount::tmpfs(&tmp.path().join("fs"), "160m") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let (state, root, other) = (fs.dir.join("state"), fs.dir.join("calls"), fs.dir.join("other"));
    let log = state.join("audit.jsonl");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let old = now() - 90 * 86_400;
    for i in 0..20_000 {
        write_file(&root.join(format!("call-{i:05}.wav")), b"x", old + i).unwrap();
    }
    let zone = format!(
        "[[zone]]\nname = \"calls\"\npaths = [\"{}\"]\nmin_age = \"1d\"\nmax_age = \"60d\"\n",
        root.display()
    );
    // A first run with room sets the reserve aside (nothing is due yet
    // under a max_age of a year).
    let roomy = write_policy(tmp.path(), &state, "99%", "98%", &zone.replace("\"60d\"", "\"365d\""));
    let o = retentiond(&["--config", roomy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(reserve_held(&log) >= RESERVE);
    fill_up(&other.join("filler"));
    assert!(fs.used_pct() > 99.9);
    let policy = write_policy(tmp.path(), &state, "99%", "98%", &zone);
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(files(&root).is_empty(), "{}", text(&o));
    let batches = audit_records(&log)
        .iter()
        .filter(|r| r["action"] == "batch-done")
        .count();
    eprintln!("20000 deletions on a full disk in {batches} batches");
    assert!(batches >= 2, "{batches}");
    check_records(&policy, &log, 20_000);
}
