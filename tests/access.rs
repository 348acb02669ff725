//! Who watched, who listened, and why, against a running daemon on real
//! files: `cat` and `copy` (audited access, refused without a reason or
//! the zone's group, recorded before any byte), the access log across
//! rotated files, and cases whose holds outlast capacity pressure and
//! whose deadlines raise an alarm.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use serde_json::Value;

const DAY: i64 = 86_400;

struct Env {
    tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    socket: PathBuf,
    policy: PathBuf,
    end: i64,
}

/// Zone `cctv` (Frigate's layout, min 14d, max 28d, 3 cameras x 31 days
/// of 10-minute segments) plus a zone `calls` (Asterisk's layout), with
/// `daemon` lines and `extra` tables in the policy.
fn env(daemon: &str, extra: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let calls = tmp.path().join("calls");
    let extra = format!(
        "{extra}\n{}",
        zone_toml(
            "calls",
            &calls,
            "1d",
            "60d",
            "layout = \"asterisk\"\ntime_zone = \"utc\""
        )
    );
    let Cctv {
        root,
        state,
        socket,
        policy,
    } = cctv(tmp.path(), daemon, "");
    // The zone tables go after cctv's own (a table written before
    // `[[zone]]` would end the [daemon] table early).
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, format!("{text}\n{extra}")).unwrap();
    std::fs::create_dir_all(&calls).unwrap();
    let end = now();
    a_month_of_footage(&root, end);
    Env {
        tmp,
        root,
        state,
        socket,
        policy,
        end,
    }
}

impl Env {
    fn ctl(&self, args: &[&str]) -> Output {
        let mut a = vec!["--config", self.policy.to_str().unwrap()];
        a.extend_from_slice(args);
        retentionctl(&a)
    }

    fn audit(&self) -> Vec<Value> {
        audit_records(&self.state.join("audit.jsonl"))
    }

    /// The files of camera `cam` recorded in [from, to].
    fn on_disk(&self, from: i64, to: i64, cam: &str) -> Vec<PathBuf> {
        files(&self.root)
            .into_iter()
            .filter(|p| {
                let t = path_time(&self.root, p);
                t >= from && t <= to && p.to_str().unwrap().contains(cam)
            })
            .collect()
    }

    /// One recording of camera `cam` about `ago` seconds old, with its own content.
    fn one(&self, cam: &str, ago: i64, content: &[u8]) -> PathBuf {
        let t = (self.end - ago) / 3600 * 3600;
        let p = self.on_disk(t, t + 3599, cam).into_iter().next().expect("a recording");
        std::fs::write(&p, content).unwrap();
        let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs((path_time(&self.root, &p) + 600) as u64);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        p
    }
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn records<'a>(recs: &'a [Value], action: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["action"] == action).collect()
}

fn paths_of(rec: &Value) -> Vec<PathBuf> {
    rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(retentiond::audit::path_from_value(&f["path"]).unwrap()))
        .collect()
}

/// An Asterisk call with both legs under `root` (UTC time in the name).
fn call(root: &Path, at: i64, id: &str) -> (PathBuf, PathBuf) {
    let t = chrono::DateTime::from_timestamp(at, 0).unwrap();
    let dir = root.join(t.format("%Y/%m/%d").to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let stem = format!("in-201-5551234-{}-{at}.{id}", t.format("%Y%m%d-%H%M%S"));
    let legs = (dir.join(format!("{stem}-in.wav")), dir.join(format!("{stem}-out.wav")));
    std::fs::write(&legs.0, format!("caller side of {id}")).unwrap();
    std::fs::write(&legs.1, format!("agent side of {id}")).unwrap();
    for l in [&legs.0, &legs.1] {
        let m = std::time::UNIX_EPOCH + std::time::Duration::from_secs((at + 120) as u64);
        std::fs::File::options()
            .write(true)
            .open(l)
            .unwrap()
            .set_modified(m)
            .unwrap();
    }
    legs
}

#[test]
fn access_needs_a_reason_and_the_zones_group_and_is_recorded_with_the_files() {
    let Some(users) = users() else { return };
    // Listening to calls is the operators' group's, not the supervisors':
    // a group of its own, not a rank.
    let e = env(
        "sweep_interval = \"1h\"",
        "[roles]\nviewers = \"rdtest-viewers\"\noperators = \"rdtest-operators\"\nsupervisors = \"rdtest-supervisors\"\naccess = \"rdtest-supervisors\"",
    );
    let text_now = std::fs::read_to_string(&e.policy).unwrap();
    std::fs::write(
        &e.policy,
        text_now.replace(
            "layout = \"asterisk\"",
            "layout = \"asterisk\"\naccess_group = \"rdtest-operators\"",
        ),
    )
    .unwrap();
    let calls = e.tmp.path().join("calls");
    let (leg_in, leg_out) = call(&calls, e.end - 2 * DAY, "17");
    let clip = e.one("cam01", 3 * DAY, b"cam01 footage of the entrance");
    // Nobody but root can read the recordings themselves.
    use std::os::unix::fs::PermissionsExt;
    for d in [&e.root, &calls] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 1, 60);
    let (op, sup, viewer) = (users["rdtest-operator"], users["rdtest-super"], users["rdtest-viewer"]);
    let leg = leg_in.to_str().unwrap();

    // No reason: refused, nothing recorded.
    let o = retentionctl_as(op, &e.socket, &["cat", "--reason", " ", leg]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("reason: must not be empty"), "{}", text(&o));
    assert!(o.stdout.is_empty());
    let o = retentionctl_as(op, &e.socket, &["cat", leg]);
    assert_eq!(o.status.code(), Some(2), "clap wants --reason: {}", text(&o));
    // Not in the zone's group (a viewer; a supervisor of retention, too).
    for who in [viewer, sup] {
        let o = retentionctl_as(who, &e.socket, &["cat", "--reason", "curious", leg]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("permission denied: opening recordings of zone calls needs group rdtest-operators"),
            "{}",
            text(&o)
        );
        assert!(o.stdout.is_empty());
    }
    assert!(records(&e.audit(), "access").is_empty(), "refusals record nothing");

    // In the group, with a reason: the whole call (both legs), and the
    // record names both, before the bytes.
    let o = retentionctl_as(
        op,
        &e.socket,
        &["cat", "--reason", "complaint 2026-17", "--case", "C-17", leg],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "caller side of 17agent side of 17",
        "both legs, in order"
    );
    let recs = e.audit();
    let acc = records(&recs, "access");
    assert_eq!(acc.len(), 1);
    let a = acc[0];
    assert_eq!(a["by"], "rdtest-operator");
    assert_eq!(a["uid"], op);
    assert_eq!(a["reason"], "complaint 2026-17");
    assert_eq!(a["case"], "C-17");
    assert!(a["dest"].is_null(), "played, not saved: {a}");
    assert_eq!(paths_of(a), vec![leg_in.clone(), leg_out.clone()]);
    for f in a["files"].as_array().unwrap() {
        assert_eq!(f["zone"], "calls");
        assert!(f["ino"].as_u64().unwrap() > 0 && f["size"].as_u64().unwrap() > 0, "{f}");
    }
    let done = records(&recs, "access-done");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["access"], a["seq"]);
    use sha2::{Digest, Sha256};
    let want: Vec<String> = [&leg_in, &leg_out]
        .iter()
        .map(|p| hex::encode(Sha256::digest(std::fs::read(p).unwrap())))
        .collect();
    assert_eq!(done[0]["sha256"], serde_json::json!(want));
    // Nobody else can write (or rewrite) that access's outcome.
    let forged = retentiond::control::Request::AccessDone {
        done: retentiond::control::AccessDoneRequest {
            access: a["seq"].as_u64().unwrap(),
            dest: None,
            manifest_sha256: None,
            sha256: vec!["0".repeat(64)],
            files: 1,
            bytes: 1,
        },
    };
    let r = retentiond::control::client::request(&e.socket, &forged, std::time::Duration::from_secs(10));
    assert!(
        matches!(&r, Err(retentiond::control::client::ClientError::Refused { msg, .. }) if msg.contains("no access")),
        "{r:?}"
    );
    assert_eq!(records(&e.audit(), "access-done").len(), 1);

    // A supervisor of the cctv zone (its default group: [roles] access)
    // copies a clip to a medium: a manifest, verifiable, recorded as saved there.
    let media = e.tmp.path().join("usb");
    std::fs::create_dir(&media).unwrap();
    nix::unistd::chown(&media, Some(nix::unistd::Uid::from_raw(sup)), None).unwrap();
    let o = retentionctl_as(
        op,
        &e.socket,
        &[
            "copy",
            "--to",
            media.to_str().unwrap(),
            "--reason",
            "x",
            clip.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "operators may not open cctv: {}", text(&o));
    let o = retentionctl_as(
        sup,
        &e.socket,
        &[
            "copy",
            "--to",
            media.to_str().unwrap(),
            "--reason",
            "access request DSR-9, disclosed to the data subject",
            clip.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let copied = files(&media);
    assert_eq!(copied.len(), 3, "the clip, MANIFEST.json and its digest: {copied:?}");
    let rel = clip.strip_prefix(&e.root).unwrap();
    assert_eq!(
        std::fs::read(media.join("cctv").join(rel)).unwrap(),
        b"cam01 footage of the entrance"
    );
    let o = retentionctl_as(sup, &e.socket, &["export", "verify", media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let recs = e.audit();
    let acc = records(&recs, "access");
    assert_eq!(acc.len(), 2);
    assert_eq!(acc[1]["dest"], media.canonicalize().unwrap().to_str().unwrap());
    let done = records(&recs, "access-done");
    assert_eq!(done[1]["access"], acc[1]["seq"]);
    assert_eq!(done[1]["manifest_sha256"].as_str().unwrap().len(), 64);

    // A path that is not a recording opens nothing and records nothing.
    let o = e.ctl(&["cat", "--reason", "r", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("/etc/passwd: is in no zone; nothing opened"),
        "{}",
        text(&o)
    );
    assert_eq!(records(&e.audit(), "access").len(), 2);
    drop(d);
}

/// The record is durable before any byte: strace kills the daemon at the
/// `sendmsg` that would pass the files; the record is in the log, the
/// chain verifies, and the caller got nothing.
#[test]
fn the_access_record_is_durable_before_the_files_are_passed() {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "tests/run installs strace");
        eprintln!("skipped: no strace");
        return;
    }
    let e = env("sweep_interval = \"1h\"", "");
    let clip = e.one("cam02", 2 * DAY, b"cam02 secret");
    let mut child = std::process::Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "-e",
            "trace=sendmsg",
            "-e",
            "inject=sendmsg:signal=SIGKILL:when=1",
        ])
        .arg(env!("CARGO_BIN_EXE_retentiond"))
        .args(["--config", e.policy.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the daemon's socket", 60, || {
        retentiond::control::client::request(
            &e.socket,
            &retentiond::control::Request::Ping {},
            std::time::Duration::from_secs(5),
        )
        .is_ok()
    });
    let o = e.ctl(&["cat", "--reason", "investigation 4711", clip.to_str().unwrap()]);
    assert!(!o.status.success(), "the files never came: {}", text(&o));
    assert!(o.stdout.is_empty(), "not a byte: {:?}", o.stdout);
    let status = child.wait().unwrap();
    assert!(!status.success(), "the daemon was killed at sendmsg");
    let recs = e.audit();
    let acc = records(&recs, "access");
    assert_eq!(acc.len(), 1, "the record made it: {recs:?}");
    assert_eq!(acc[0]["reason"], "investigation 4711");
    assert_eq!(paths_of(acc[0]), vec![clip]);
    assert!(records(&recs, "access-done").is_empty(), "nothing was read");
    let v = e.ctl(&["audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}

/// The access log answers a data subject: every access, find, hold, case
/// and deletion of one camera's hour, across rotated files, in text, JSON
/// and CSV, and nothing about other hours.
#[test]
fn the_access_log_names_every_access_of_a_range_after_rotation() {
    let e = env("sweep_interval = \"1s\"\naudit_rotate_size = \"4KiB\"", "");
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 1, 60);
    let hour = (e.end - 5 * DAY) / 3600 * 3600;
    let (from, to) = (rfc3339(hour), rfc3339(hour + 3599));
    let mine = e.on_disk(hour, hour + 3599, "cam01");
    let other = e.on_disk(hour + 2 * 3600, hour + 3 * 3600 - 1, "cam01");
    assert_eq!(mine.len(), 6);
    let mut seqs = Vec::new();
    for (i, p) in mine.iter().enumerate().take(4) {
        let o = e.ctl(&["cat", "--reason", &format!("review {i}"), p.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        seqs.push(records(&e.audit(), "access").last().unwrap()["seq"].clone());
        // Between accesses the log rotates (a sweep a second, 4 KiB files).
        std::thread::sleep(std::time::Duration::from_millis(1200));
    }
    let o = e.ctl(&["cat", "--reason", "another hour", other[0].to_str().unwrap()]);
    assert!(o.status.success());
    json(&e.ctl(&[
        "--json",
        "find",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--from",
        &from,
        "--to",
        &to,
        "--reason",
        "DSR-3 lookup",
    ]));
    json(&e.ctl(&[
        "--json",
        "case",
        "open",
        "DSR-3",
        "--kind",
        "access",
        "--requested-by",
        "J. Doe",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--from",
        &from,
        "--to",
        &to,
        "--reason",
        "her own footage",
    ]));
    // Wait for the log to have rotated past the first access.
    wait_until("a rotation", 30, || {
        std::fs::read_dir(&e.state)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|f| f.file_name().to_string_lossy().starts_with("audit.jsonl."))
            .count()
            >= 2
    });
    let v = json(&e.ctl(&[
        "audit",
        "access",
        "--zone",
        "cctv",
        "--path",
        "*/cam01/*",
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "json",
    ]));
    let rows = v["rows"].as_array().unwrap();
    let accesses: Vec<&Value> = rows.iter().filter(|r| r["action"] == "access").collect();
    assert_eq!(
        accesses.iter().map(|r| r["seq"].clone()).collect::<Vec<_>>(),
        seqs,
        "every access of the hour, none of another: {v:#}"
    );
    for (i, r) in accesses.iter().enumerate() {
        assert_eq!(r["reason"], format!("review {i}"));
        assert_eq!(r["by"], "root");
        assert_eq!(r["paths"][0], mine[i].to_str().unwrap());
    }
    assert_eq!(rows.iter().filter(|r| r["action"] == "access-done").count(), 4);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "find" && r["reason"] == "DSR-3 lookup"));
    assert!(rows.iter().any(|r| r["action"] == "case-open" && r["case"] == "DSR-3"));
    assert!(rows.iter().any(|r| r["action"] == "hold-add" && r["case"] == "DSR-3"));
    assert!(!rows.iter().any(|r| r["reason"] == "another hour"), "{v:#}");
    // The records it cites are in the chain, which verifies.
    assert!(e.ctl(&["audit", "verify"]).status.success());
    // CSV: a header and one row per record.
    let o = e.ctl(&[
        "audit",
        "access",
        "--zone",
        "cctv",
        "--path",
        "*/cam01/*",
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "seq,ts,action,by,uid,zone,case,reason,what,recordings,saved_to,paths"
    );
    assert_eq!(lines.len(), rows.len() + 1, "{csv}");
    assert!(csv.contains("review 3"), "{csv}");
    // The compliance report's sections: who accessed how much, and the cases.
    let r = json(&e.ctl(&["report", "--since", "1h", "--format", "json"]));
    let root = r["access"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"] == "root")
        .cloned()
        .unwrap();
    assert_eq!(root["played_files"], 5, "{r:#}");
    assert_eq!(root["finds"], 1, "{r:#}");
    let case = &r["cases"][0];
    assert_eq!(case["reference"], "DSR-3");
    assert!(case["closed"].is_null() && case["late"] == false, "{case}");
    let o = e.ctl(&["report", "--since", "1h"]);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(t.contains("root: played 5 files, copied 0, 1 finds"), "{t}");
    assert!(t.contains("DSR-3 (access request by J. Doe): opened"), "{t}");
    // By user: root did it all; nobody else did anything.
    let v = json(&e.ctl(&["audit", "access", "--user", "mallory", "--format", "json"]));
    assert_eq!(v["rows"].as_array().unwrap().len(), 0);
    // Deletions are part of the answer: the same camera's hour past max_age.
    let old = (e.end - 30 * DAY) / 3600 * 3600;
    let v = json(&e.ctl(&[
        "audit",
        "access",
        "--path",
        "*/cam01/*",
        "--from",
        &rfc3339(old),
        "--to",
        &rfc3339(old + 3599),
        "--format",
        "json",
    ]));
    let dels: Vec<&Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "delete")
        .collect();
    assert_eq!(dels.len(), 6, "{v:#}");
    assert!(
        dels.iter().all(|r| r["reason"] == "max-age" && r["by"] == "retentiond"),
        "{v:#}"
    );
    drop(d);
}

/// A case's hold keeps its footage through capacity pressure that takes
/// everything else, its deadline raises `case-overdue` (status, alarm
/// record, metrics), and closing it clears the alarm and releases the hold.
#[test]
fn a_case_holds_its_footage_through_capacity_pressure_and_its_deadline_raises_an_alarm() {
    let e = env("sweep_interval = \"1s\"", "");
    let metrics = e.tmp.path().join("retentiond.prom");
    // A watermark no tree can get under: capacity deletion takes every
    // recording it may, floors too (override-floor).
    let text_now = std::fs::read_to_string(&e.policy).unwrap();
    let text_now = text_now.replacen(
        "[daemon]\n",
        &format!(
            "[daemon]\nmetrics_file = \"{}\"\nguard_share = \"100%\"\n",
            metrics.display()
        ),
        1,
    );
    let text_now = text_now.replacen(
        "max_age = \"28d\"\n",
        "max_age = \"28d\"\nwhen_full = \"override-floor\"\n",
        1,
    );
    let policy_under_pressure = text_now.replacen(
        "[[zone]]",
        "[capacity]\nhigh_watermark = \"2%\"\nlow_watermark = \"1%\"\n\n[[zone]]",
        1,
    );
    // The case first, with the daemon not yet under pressure.
    let hour = (e.end - 20 * DAY) / 3600 * 3600;
    let held = e.on_disk(hour, hour + 3599, "cam02");
    assert_eq!(held.len(), 6);
    std::fs::write(&e.policy, &text_now).unwrap();
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 1, 60);
    let due = rfc3339(now() + 4);
    let v = json(&e.ctl(&[
        "--json",
        "case",
        "open",
        "POL-2026-77",
        "--kind",
        "investigation",
        "--requested-by",
        "police, officer 4711",
        "--zone",
        "cctv",
        "--match",
        "*/cam02/*",
        "--from",
        &rfc3339(hour),
        "--to",
        &rfc3339(hour + 3599),
        "--due",
        &due,
        "--reason",
        "bicycle theft at the entrance",
    ]));
    assert_eq!(v["state"], "open");
    assert_eq!(v["hold"]["covered"]["files"], 6, "{v:#}");
    let hold_id = v["hold"]["id"].as_u64().unwrap();
    drop(d);
    // Now the disk is "full" for good.
    std::fs::write(&e.policy, &policy_under_pressure).unwrap();
    let d = Daemon::start(&e.policy, &e.socket);
    // Everything goes but the case's hour and the segments still being
    // written (within settle_time: the newest of each camera).
    let recent = |p: &PathBuf| path_time(&e.root, p) > e.end - 3600;
    let t0 = std::time::Instant::now();
    loop {
        let left = files(&e.root);
        if left.iter().all(|p| held.contains(p) || recent(p)) {
            assert!(
                held.iter().all(|p| left.contains(p)),
                "the held hour is whole: {left:?}"
            );
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 120,
            "capacity deletion: {} files left; {}",
            left.len(),
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The capacity alarm names the case's hold as what keeps the disk full.
    d.wait_for("holds protect 24.0 KiB (hold 1 (case POL-2026-77))", 1, 60);
    // Its deadline passes: the alarm, in status, the log and the metrics.
    let why = wait_for_alarm(&e.policy, "case-overdue", 30);
    assert!(
        why.contains("case POL-2026-77 (investigation request by police, officer 4711) was due"),
        "{why}"
    );
    let st = json(&e.ctl(&["--json", "status"]));
    assert_eq!(st["cases"]["open"], 1);
    assert_eq!(st["cases"]["overdue"], 1);
    assert_eq!(st["cases"]["overdue_cases"][0]["reference"], "POL-2026-77");
    wait_until("the overdue metric", 30, || {
        std::fs::read_to_string(&metrics)
            .unwrap_or_default()
            .contains("retentiond_cases_overdue 1")
    });
    let list = json(&e.ctl(&["--json", "case", "list"]));
    assert_eq!(list["cases"][0]["state"], "overdue");
    // Closing: outcome recorded, the hold released, the alarm cleared, and
    // the footage goes to the pressure.
    let o = e.ctl(&[
        "case",
        "close",
        "POL-2026-77",
        "--outcome",
        "disclosed",
        "--reason",
        "copied for the police",
    ]);
    assert_eq!(o.status.code(), Some(1), "a disclosure names to whom: {}", text(&o));
    let v = json(&e.ctl(&[
        "--json",
        "case",
        "close",
        "POL-2026-77",
        "--outcome",
        "disclosed",
        "--to",
        "police, officer 4711",
        "--reason",
        "copy handed over on USB",
    ]));
    assert_eq!(v["state"], "closed");
    assert_eq!(v["closed"]["outcome"], "disclosed");
    wait_for_alarm_cleared(&e.policy, "case-overdue", 30);
    wait_until("the released hour deleted", 60, || held.iter().all(|p| !p.exists()));
    let recs = e.audit();
    let close = records(&recs, "case-close");
    assert_eq!(close.len(), 1);
    assert_eq!(close[0]["to"], "police, officer 4711");
    assert!(records(&recs, "hold-release").iter().any(|r| r["hold"] == hold_id));
    let alarms = records(&recs, "alarm");
    assert!(
        alarms
            .iter()
            .any(|a| a["kind"] == "case-overdue" && a["state"] == "raised"),
        "{alarms:?}"
    );
    assert!(
        alarms
            .iter()
            .any(|a| a["kind"] == "case-overdue" && a["state"] == "cleared"),
        "{alarms:?}"
    );
    for p in &held {
        assert!(
            deletions(&e.state.join("audit.jsonl"))
                .iter()
                .any(|(q, r)| q == p && r.starts_with("capacity")),
            "{} deleted for capacity once released",
            p.display()
        );
    }
    drop(d);
}

/// An erasure request as a case: closing it `erased` releases its hold and
/// erases its range (each deletion recorded with reason `erasure`); a case
/// reference is unique, and a closed case stays closed.
#[test]
fn an_erasure_case_erases_its_range_when_closed() {
    let e = env("sweep_interval = \"1h\"", "");
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 1, 60);
    let hour = (e.end - 3 * DAY) / 3600 * 3600;
    let mine = e.on_disk(hour, hour + 3599, "cam00");
    let args = [
        "--json",
        "case",
        "open",
        "DSR-5",
        "--kind",
        "erasure",
        "--requested-by",
        "A. Person",
        "--zone",
        "cctv",
        "--match",
        "*/cam00/*",
        "--from",
        &rfc3339(hour),
        "--to",
        &rfc3339(hour + 3599),
        "--due-in",
        "30d",
        "--reason",
        "asks for erasure of her footage",
    ];
    let v = json(&e.ctl(&args));
    let due = chrono::DateTime::parse_from_rfc3339(v["due"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!((due - now() - 30 * DAY).abs() < 60, "{v:#}");
    let o = e.ctl(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("case DSR-5 exists already"), "{}", text(&o));
    // Held meanwhile: a plain erase is refused.
    let o = e.ctl(&[
        "erase",
        "--zone",
        "cctv",
        "--match",
        "*/cam00/*",
        "--from",
        &rfc3339(hour),
        "--to",
        &rfc3339(hour + 3599),
        "--reason",
        "r",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(mine.iter().all(|p| p.exists()));
    let v = json(&e.ctl(&[
        "--json",
        "case",
        "close",
        "DSR-5",
        "--outcome",
        "erased",
        "--reason",
        "erased as asked, letter sent 2 Dec",
    ]));
    assert_eq!(v["erasure"]["deleted"], 6, "{v:#}");
    assert!(mine.iter().all(|p| !p.exists()));
    let dels = deletions(&e.state.join("audit.jsonl"));
    for p in &mine {
        assert!(dels.iter().any(|(q, r)| q == p && r == "erasure"), "{}", p.display());
    }
    let o = e.ctl(&["case", "close", "DSR-5", "--outcome", "no-action", "--reason", "again"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("was closed already"), "{}", text(&o));
    let list = json(&e.ctl(&["--json", "case", "list", "--all"]));
    assert_eq!(list["cases"][0]["closed"]["outcome"], "erased");
    assert_eq!(list["open"], 0);
    drop(d);
}
