//! The mass-deletion guard against a real daemon, one test per trigger: a
//! reload that shortens max_age, a mis-set time pattern, and a wall clock
//! that jumps ahead (libfaketime). Each is capped at `guard_share` of the
//! zone, raises its alarm, and goes ahead only after `retentionctl
//! confirm` (supervisors), which is audited.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};

const DAY: i64 = 86_400;

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    policy: PathBuf,
    socket: PathBuf,
}

/// 4 cameras x 10 days of 10-minute segments (5,760 files) ending now.
fn env(max_age: &str, time: &str, extra: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    let state = tmp.path().join("state");
    let socket = tmp.path().join("ctl.sock");
    frigate(
        &root,
        &TreeSpec {
            cams: 4,
            days: 10.0,
            segment: 600,
            size: 0,
            end: now() - 600,
        },
    )
    .unwrap();
    let policy = tmp.path().join("policy.toml");
    let e = Env {
        root,
        state,
        policy,
        socket,
        _tmp: tmp,
    };
    write(&e, max_age, time, extra);
    e
}

fn write(e: &Env, max_age: &str, time: &str, extra: &str) {
    std::fs::write(
        &e.policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nsweep_interval = \"1s\"\nsettle_time = \"1s\"\n{extra}\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"{time}\"\nmin_age = \"1d\"\nmax_age = \"{max_age}\"\n",
            e.state.display(),
            e.socket.display(),
            e.root.display()
        ),
    )
    .unwrap();
}

const FRIGATE: &str = "%Y-%m-%d/%H/*/%M.%S.mp4";

fn ctl(e: &Env, args: &[&str]) -> std::process::Output {
    let mut a = vec!["--config", e.policy.to_str().unwrap()];
    a.extend_from_slice(args);
    retentionctl(&a)
}

fn alarms(e: &Env) -> Vec<(String, String)> {
    status_alarms(&e.policy).expect("status answers")
}

fn hup(d: &Daemon) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
}

/// Confirms (as root), then waits for the rest to go.
fn confirm_and_finish(e: &Env, d: &Daemon, expect_left: impl Fn(&Path) -> bool) {
    let o = ctl(e, &["confirm", "--zone", "cctv", "--reason", "checked with the DPO"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("confirmed zone(s) cctv"), "{}", text(&o));
    wait_until("the held-back deletions to go", 30, || {
        files(&e.root).iter().all(|p| expect_left(p))
    });
    wait_until("the alarm to clear", 30, || alarms(e).is_empty());
    let recs = audit_records(&e.state.join("audit.jsonl"));
    let c: Vec<_> = recs.iter().filter(|r| r["action"] == "confirm").collect();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0]["zones"][0], "cctv");
    assert_eq!(c[0]["reason"], "checked with the DPO");
    assert_eq!(c[0]["uid"], 0);
    // Nothing more to confirm.
    let o = ctl(e, &["confirm", "--reason", "again"]);
    assert!(
        !o.status.success() && text(&o).contains("nothing to confirm"),
        "{}",
        text(&o)
    );
    assert!(d.log().contains("confirmed"), "{}", d.log());
}

#[test]
fn a_reload_that_shortens_max_age_is_capped_until_confirmed() {
    let e = env("30d", FRIGATE, "");
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 1, 60);
    let before = files(&e.root);
    let n = before.len();
    assert!(n >= 4 * 10 * 144);
    // max_age 30d -> 5d: half the zone is past it at once.
    write(&e, "5d", FRIGATE, "");
    hup(&d);
    wait_until("the mass-deletion alarm", 30, || {
        alarms(&e).iter().any(|(k, _)| k == "mass-deletion")
    });
    std::thread::sleep(Duration::from_secs(3));
    let left = files(&e.root).len();
    let gone = n - left;
    assert!(gone <= n / 10, "{gone} of {n} deleted, more than 10%");
    assert!(
        gone >= n / 10 - 24,
        "the budget is used, oldest first: only {gone} deleted"
    );
    let (_, why) = alarms(&e).into_iter().find(|(k, _)| k == "mass-deletion").unwrap();
    assert!(
        why.contains("retentionctl confirm --zone cctv") && why.contains(&format!("of its {n} recordings")),
        "{why}"
    );
    // The oldest went first, by whole directories (one hour of one camera
    // here): nothing kept is older than what was deleted by more than a
    // directory's span.
    let after = files(&e.root);
    let newest_gone = before.difference(&after).map(|p| path_time(&e.root, p)).max().unwrap();
    let oldest_left = after.iter().map(|p| path_time(&e.root, p)).min().unwrap();
    assert!(
        newest_gone <= oldest_left + 3600,
        "not oldest first: deleted {newest_gone}, kept {oldest_left}"
    );
    // A restart does not reset the budget.
    drop(d);
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 2, 60);
    assert_eq!(files(&e.root).len(), left, "a restart deleted more");
    // Roles: an operator may not confirm.
    if let Some(u) = users() {
        let o = retentionctl_as(u["rdtest-operator"], &e.socket, &["confirm", "--reason", "x"]);
        assert!(
            !o.status.success() && text(&o).contains("confirm needs group retention-supervisors"),
            "{}",
            text(&o)
        );
    }
    let cutoff = now() - 5 * DAY - 700;
    confirm_and_finish(&e, &d, |p| path_time(&e.root, p) >= cutoff);
}

#[test]
fn a_mis_set_time_pattern_is_capped() {
    // Day and month swapped in the pattern. The box's clock is set (with
    // libfaketime) to 2026-11-12 12:00 UTC, so every day of the footage
    // (Nov 2 to 12) also reads as a valid date: 2026-11-05 as 2026-05-11,
    // months past max_age.
    if Command::new("faketime").arg("--version").output().is_err() {
        eprintln!("skipped: needs faketime (Debian package faketime; tests/run installs it)");
        return;
    }
    let fixed = 1_794_484_800; // 2026-11-12T12:00:00Z
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    frigate(
        &root,
        &TreeSpec {
            cams: 4,
            days: 10.0,
            segment: 600,
            size: 0,
            end: fixed - 3600,
        },
    )
    .unwrap();
    let e = Env {
        root,
        state: tmp.path().join("state"),
        policy: tmp.path().join("policy.toml"),
        socket: tmp.path().join("ctl.sock"),
        _tmp: tmp,
    };
    write(&e, "30d", "%Y-%d-%m/%H/*/%M.%S.mp4", "");
    let n = files(&e.root).len();
    let once = || {
        Command::new("faketime")
            .args(["-f", "@2026-11-12 12:00:00"])
            .arg(env!("CARGO_BIN_EXE_retentiond"))
            .args(["--config", e.policy.to_str().unwrap(), "--once"])
            .env("TZ", "UTC")
            .output()
            .unwrap()
    };
    let o = once();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("mass-deletion"), "{}", text(&o));
    let gone = n - files(&e.root).len();
    assert!(gone > 0 && gone <= n / 10, "{gone} of {n} deleted: not capped at 10%");
    // A second run does not take another 10%: the budget is spent.
    let o = once();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(n - files(&e.root).len(), gone, "{}", text(&o));
}

#[test]
fn a_clock_jump_is_capped_until_confirmed() {
    let lib = Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    if !lib.exists() {
        eprintln!("skipped: needs libfaketime (Debian package faketime; tests/run installs it)");
        return;
    }
    let e = env("30d", FRIGATE, "");
    let n = files(&e.root).len();
    let clock = e.state.parent().unwrap().join("faketime.rc");
    std::fs::write(&clock, "+0d\n").unwrap();
    let d = Daemon::start_with_env(
        &e.policy,
        &e.socket,
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("FAKETIME_DONT_RESET", "1"),
        ],
    );
    d.wait_for("sweep at", 2, 60);
    assert_eq!(files(&e.root).len(), n);
    // The wall clock jumps 25 days ahead: half of the footage is suddenly
    // past max_age.
    std::fs::write(&clock, "+25d\n").unwrap();
    wait_until("the clock-suspect alarm", 30, || {
        alarms(&e).iter().any(|(k, _)| k == "clock-suspect")
    });
    std::thread::sleep(Duration::from_secs(3));
    let gone = n - files(&e.root).len();
    assert!(gone <= n / 10, "{gone} of {n} deleted after the jump, more than 10%");
    let (_, why) = alarms(&e).into_iter().find(|(k, _)| k == "clock-suspect").unwrap();
    assert!(why.contains("further than the boot clock"), "{why}");
    let log = d.log();
    assert!(log.contains("clock-suspect") || log.contains("boot clock"), "{log}");
    // The clock was right after all: confirm; footage older than 30 days
    // by the new clock goes.
    let cutoff = now() + 25 * DAY - 30 * DAY - 700;
    confirm_and_finish(&e, &d, |p| path_time(&e.root, p) >= cutoff);
}
