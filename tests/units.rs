//! Recording units and the layouts of real recorders: a ZoneMinder event
//! directory, a call's legs, a clip and its thumbnail are each planned,
//! held, audited and deleted as one, and never split, not by a file still
//! being written, a hold, nor a `kill -9` in the middle of a unit.
//!
//! Each preset is tried on a tree of its recorder's shape (the preset's own
//! sample paths, once old and once of today), with `retentiond --once`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use proptest::prelude::*;
use retentiond::core::layout::PRESETS;

const DAY: i64 = 86_400;

fn touch(p: &Path, body: &[u8], mtime: i64) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
    let t = filetime::FileTime::from_unix_time(mtime, 0);
    filetime::set_file_mtime(p, t).unwrap();
}

fn zone_policy(dir: &Path, state: &Path, root: &Path, keys: &str) -> PathBuf {
    write_policy(dir, state, "99%", "98%", &zone_toml("rec", root, "0s", "7d", keys))
}

/// `retentiond --once`; its log.
fn once(policy: &Path) -> String {
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A ZoneMinder "medium" event: `frames` JPEGs and a video, all `mtime`.
fn zm_event(root: &Path, mon: u32, day: &str, id: u32, frames: u32, mtime: i64) -> PathBuf {
    let dir = root.join(format!("{mon}/{day}/{id}"));
    for f in 1..=frames {
        touch(&dir.join(format!("{f:05}-capture.jpg")), &[0xff; 300], mtime);
    }
    touch(&dir.join(format!("{id}-video.mp4")), &[0; 2000], mtime);
    dir
}

#[test]
fn zoneminder_events_go_whole_and_a_held_or_growing_event_stays_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("events");
    let state = tmp.path().join("state");
    let t0 = now();
    let old = t0 - 10 * DAY;
    let gone1 = zm_event(&root, 1, "2026-11-20", 101, 40, old);
    let gone2 = zm_event(&root, 1, "2026-11-20", 102, 5, old);
    let held = zm_event(&root, 2, "2026-11-20", 103, 7, old);
    let growing = zm_event(&root, 1, "2026-11-21", 104, 6, old);
    touch(&growing.join("00007-capture.jpg"), &[1; 300], t0);
    let young = zm_event(&root, 1, "2026-12-01", 105, 3, t0 - DAY);
    // Not a recording: a file above the unit depth.
    touch(&root.join("1/notes.txt"), b"x", old);
    let policy = zone_policy(
        tmp.path(),
        &state,
        &root,
        "layout = \"zoneminder-medium\"\nafter_delete = \"tr '\\\\0' '\\\\n' >> HOOK\"\n"
            .replace("HOOK", &tmp.path().join("hook.out").display().to_string())
            .as_str(),
    );
    let cfg = policy.to_str().unwrap();
    let o = retentionctl(&[
        "--config",
        cfg,
        "hold",
        "add",
        "--zone",
        "rec",
        "--match",
        "2/*",
        "--from",
        "2026-01-01",
        "--to",
        "2027-01-01",
        "--case",
        "C-1",
        "--reason",
        "complaint",
        "--indefinite",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let before = files(&root);
    once(&policy);
    let after = files(&root);

    for gone in [&gone1, &gone2] {
        assert!(!gone.exists(), "{} went whole, directory and all", gone.display());
    }
    assert!(
        !root.join("1/2026-11-20").exists(),
        "the emptied day directory is removed"
    );
    for kept in [&held, &growing, &young] {
        let n = before.iter().filter(|p| p.starts_with(kept)).count();
        assert_eq!(
            after.iter().filter(|p| p.starts_with(kept)).count(),
            n,
            "{} kept whole",
            kept.display()
        );
    }
    assert!(root.join("1/notes.txt").exists());

    // One record per event, naming each of its files.
    let recs: Vec<_> = audit_records(&state.join("audit.jsonl"))
        .into_iter()
        .filter(|r| r["action"] == "delete")
        .collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
    for (r, dir, n) in [(&recs[0], &gone1, 41), (&recs[1], &gone2, 6)] {
        assert_eq!(r["path"], dir.display().to_string());
        assert_eq!(r["unit"], "dir");
        assert_eq!(r["reason"], "max-age");
        let members = r["members"].as_array().unwrap();
        assert_eq!(members.len(), n);
        let named: BTreeSet<PathBuf> = members.iter().map(|m| dir.join(m["name"].as_str().unwrap())).collect();
        let were: BTreeSet<PathBuf> = before.iter().filter(|p| p.starts_with(dir)).cloned().collect();
        assert_eq!(named, were, "every member recoverable from the record");
        let size: u64 = members.iter().map(|m| m["size"].as_u64().unwrap()).sum();
        assert_eq!(r["size"].as_u64().unwrap(), size);
    }
    // `explain` of a deleted frame finds its event's record.
    let frame = gone1.join("00003-capture.jpg");
    let o = retentionctl(&["--config", cfg, "--json", "explain", frame.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(v["state"], "deleted", "{}", text(&o));
    // The hook was told of both events, once.
    let told = std::fs::read_to_string(tmp.path().join("hook.out")).unwrap();
    assert_eq!(
        told.lines().collect::<Vec<_>>(),
        vec![gone1.to_str().unwrap(), gone2.to_str().unwrap()]
    );
    // The held event exports whole: every frame, at its path below the root.
    let usb = tmp.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let socket = tmp.path().join("ctl.sock");
    with_control_socket(&policy, &socket);
    let daemon = Daemon::start(&policy, &socket);
    let o = retentionctl(&[
        "--config",
        cfg,
        "export",
        "--hold",
        "1",
        "--to",
        usb.to_str().unwrap(),
        "--reason",
        "to the complainant",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let copied: BTreeSet<PathBuf> = files(&usb)
        .into_iter()
        .filter_map(|p| p.strip_prefix(&usb).ok().map(Path::to_path_buf))
        .filter(|p| p.starts_with("rec"))
        .collect();
    let held_files: BTreeSet<PathBuf> = before
        .iter()
        .filter(|p| p.starts_with(&held))
        .map(|p| Path::new("rec").join(p.strip_prefix(&root).unwrap()))
        .collect();
    assert_eq!(copied, held_files, "{}", text(&o));
    let o = retentionctl(&["--config", cfg, "export", "verify", usb.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(daemon.stop().success());
    let v = retentionctl(&["--config", cfg, "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}

/// Today's form of a sample path: its dates replaced by today's.
fn today(sample: &str, t: i64) -> String {
    let d = chrono::DateTime::from_timestamp(t, 0).unwrap();
    sample
        .replace("2026-11-20", &d.format("%Y-%m-%d").to_string())
        .replace("20261120", &d.format("%Y%m%d").to_string())
        .replace("2026/11/20", &d.format("%Y/%m/%d").to_string())
        .replace("/26/11/20/", &d.format("/%y/%m/%d/").to_string())
        // Hours in the past, whatever the time of day: 00:05.
        .replace("/14/05/00/", "/00/05/00/")
        .replace("140500", "000500")
        .replace("141000", "001000")
        .replace("T14-05-00", "T00-05-00")
        .replace("/14/", "/00/")
        .replace("/14-05-00", "/00-05-00")
        // Names without a date: another event.
        .replace("4711", "4712")
        .replace("k3x9ab", "k3x9ac")
}

#[test]
fn every_preset_deletes_its_recorders_old_units_whole_and_keeps_todays() {
    let t0 = now();
    // Units in each preset's sample tree (files sharing a unit count once).
    let expect: BTreeMap<&str, usize> = [
        ("frigate", 2),
        ("frigate-clips", 1),
        ("zoneminder-medium", 1),
        ("zoneminder-deep", 1),
        ("zoneminder-shallow", 1),
        ("asterisk", 2),
        ("motioneye", 1),
        ("motion", 2),
        ("shinobi", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        expect.keys().copied().collect::<BTreeSet<_>>(),
        PRESETS.iter().map(|p| p.name).collect::<BTreeSet<_>>(),
        "every preset is tried"
    );
    for p in PRESETS {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let root = tmp.path().join("rec");
        let old = t0 - 12 * DAY;
        let mut olds = BTreeSet::new();
        let mut news = BTreeSet::new();
        for s in p.sample {
            let o = root.join(s);
            touch(&o, b"old", old);
            olds.insert(o);
            let n = root.join(today(s, t0));
            touch(&n, b"new", t0 - 60);
            news.insert(n);
        }
        assert_eq!(olds.len(), news.len(), "{}: today's tree differs", p.name);
        let policy = zone_policy(tmp.path(), &state, &root, &format!("layout = \"{}\"", p.name));
        let log = once(&policy);
        assert!(!log.contains("layout-mismatch"), "{}: {log}", p.name);
        let left = files(&root);
        assert!(olds.is_disjoint(&left), "{}: old units gone: {left:?}", p.name);
        assert!(news.is_subset(&left), "{}: today's kept: {left:?}", p.name);
        let recs: Vec<_> = audit_records(&state.join("audit.jsonl"))
            .into_iter()
            .filter(|r| r["action"] == "delete")
            .collect();
        assert_eq!(recs.len(), expect[p.name], "{}: one record per unit: {recs:?}", p.name);
        let named: BTreeSet<PathBuf> = recs
            .iter()
            .flat_map(|r| {
                let path = PathBuf::from(r["path"].as_str().unwrap());
                match r["unit"].as_str() {
                    None => vec![path],
                    Some(kind) => {
                        let base = if kind == "dir" {
                            path
                        } else {
                            path.parent().unwrap().to_path_buf()
                        };
                        r["members"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|m| base.join(m["name"].as_str().unwrap()))
                            .collect()
                    }
                }
            })
            .collect();
        assert_eq!(named, olds, "{}: the records name every deleted file", p.name);
    }
}

#[test]
fn a_layout_that_matches_nothing_on_disk_is_an_alarm() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rec");
    let state = tmp.path().join("state");
    // Frigate's preset over a ZoneMinder tree.
    zm_event(&root, 1, "2026-11-20", 7, 3, now() - 30 * DAY);
    let policy = zone_policy(tmp.path(), &state, &root, "layout = \"frigate\"");
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("layout-mismatch") && log.contains("has the shape of layout \"frigate\""),
        "{log}"
    );
    assert_eq!(files(&root).len(), 4, "nothing deleted");
}

#[test]
fn check_config_shows_what_a_preset_expands_to_and_bad_keys_name_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rec");
    std::fs::create_dir_all(&root).unwrap();
    let state = tmp.path().join("state");
    let policy = zone_policy(tmp.path(), &state, &root, "layout = \"asterisk\"");
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--check-config"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    for want in [
        "unit = \"group\"",
        "group = [\"{call}-in.*\", \"{call}-out.*\", \"{call}.*\"]",
        "time = \"*/*/*/*-%Y%m%d-%H%M%S-*\"",
        "time_zone = \"local\"",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    for (keys, key, msg) in [
        ("layout = \"nvr9000\"", "layout", "not a known layout"),
        ("unit = \"dir\"", "unit_depth", "missing"),
        ("unit = \"group\"\ngroup = \"{a}-{b}\"", "group", "exactly once"),
        (
            "unit = \"file\"\nunit_depth = 2",
            "unit_depth",
            "applies to unit = \"dir\"",
        ),
        (
            "after_delete_timeout = \"5s\"",
            "after_delete_timeout",
            "without after_delete",
        ),
    ] {
        let policy = zone_policy(tmp.path(), &state, &root, keys);
        let o = retentiond(&["--config", policy.to_str().unwrap(), "--check-config"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{keys}: {}", text(&o));
        assert!(err.contains(key) && err.contains(msg), "{keys}: {err}");
        assert!(err.contains("policy.toml:"), "names the file and line: {err}");
    }
}

/// `kill -9` at random moments while events go: after the restart, every
/// event is whole or gone, each gone one has its record, and the chain verifies.
#[test]
fn kill_9_in_the_middle_of_units_never_leaves_one_split() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("events");
    let state = tmp.path().join("state");
    let old = now() - 10 * DAY;
    let mut events = Vec::new();
    for id in 0..150u32 {
        events.push(zm_event(
            &root,
            1 + id % 3,
            "2026-11-20",
            1000 + id,
            120,
            old + i64::from(id),
        ));
    }
    let counts: BTreeMap<PathBuf, usize> = {
        let all = files(&root);
        events
            .iter()
            .map(|e| (e.clone(), all.iter().filter(|p| p.starts_with(e)).count()))
            .collect()
    };
    let policy = zone_policy(tmp.path(), &state, &root, "layout = \"zoneminder-medium\"");
    // Small batches, so a kill lands between and inside them.
    let text0 = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text0.replace("[capacity]", "batch_size = 7\n[capacity]")).unwrap();
    let seed = now() as u64;
    eprintln!("seed {seed}");
    let mut rng = seed;
    for round in 0..4 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_retentiond"))
            .args(["--config", policy.to_str().unwrap(), "--once"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30 + rng % 400));
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("round {round}: killed");
        // Split units may only be those of the batch the kill left open:
        // the next start finishes them.
        let recs = audit_records(&state.join("audit.jsonl"));
        let left = files(&root);
        let open: BTreeSet<String> = {
            let mut open = BTreeSet::new();
            for r in &recs {
                match r["action"].as_str() {
                    Some("delete") => {
                        open.insert(r["path"].as_str().unwrap().to_string());
                    }
                    Some("batch-done") | Some("recovered") => open.clear(),
                    _ => {}
                }
            }
            open
        };
        for (e, n) in &counts {
            let here = left.iter().filter(|p| p.starts_with(e)).count();
            if here != 0 && here != *n {
                assert!(
                    open.contains(e.to_str().unwrap()),
                    "round {round}: {} split ({here} of {n}) outside the open batch",
                    e.display()
                );
            }
        }
    }
    // The last start recovers and finishes; then every event is whole or gone.
    once(&policy);
    let left = files(&root);
    let recs = audit_records(&state.join("audit.jsonl"));
    let recorded: BTreeSet<String> = recs
        .iter()
        .filter(|r| r["action"] == "delete")
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    for (e, n) in &counts {
        let here = left.iter().filter(|p| p.starts_with(e)).count();
        assert!(here == 0 || here == *n, "{} split: {here} of {n}", e.display());
        if here == 0 {
            assert!(
                recorded.contains(e.to_str().unwrap()),
                "{} gone without a record",
                e.display()
            );
        }
    }
    assert!(left.is_empty(), "every event past max_age is gone in the end");
    let recovered: Vec<_> = recs.iter().filter(|r| r["action"] == "recovered").collect();
    let finished: usize = recovered
        .iter()
        .map(|r| r["finished"].as_array().map_or(0, |a| a.len()))
        .sum();
    eprintln!(
        "{} interrupted batches recovered, {finished} files of split units finished",
        recovered.len()
    );
    let v = retentionctl(&["--config", policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}

/// A crash exactly inside a unit (strace kills the daemon at its 20th
/// `unlinkat`): the event is split on disk, and the next start finishes
/// it from its durable record, saying so.
#[test]
fn a_unit_split_by_a_crash_is_finished_at_the_next_start() {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "tests/run installs strace");
        eprintln!("skipped: no strace");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("events");
    let state = tmp.path().join("state");
    let event = zm_event(&root, 1, "2026-11-20", 77, 60, now() - 9 * DAY);
    let policy = zone_policy(tmp.path(), &state, &root, "layout = \"zoneminder-medium\"");
    let o = std::process::Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", "trace=unlinkat", "-e"])
        .arg("inject=unlinkat:signal=SIGKILL:when=20")
        .arg(env!("CARGO_BIN_EXE_retentiond"))
        .args(["--config", policy.to_str().unwrap(), "--once"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "killed: {}", text(&o));
    let left = files(&event).len();
    assert!(left > 0 && left < 61, "split by the crash: {left} of 61 left");
    let log = once(&policy);
    assert!(log.contains("closed an interrupted deletion batch"), "{log}");
    assert!(!event.exists(), "finished: {:?}", files(&event));
    let recs = audit_records(&state.join("audit.jsonl"));
    let rec = recs
        .iter()
        .find(|r| r["action"] == "recovered")
        .expect("a recovered record");
    assert_eq!(rec["finished"].as_array().unwrap().len(), left, "{rec}");
    assert!(
        rec["text"]
            .as_str()
            .unwrap()
            .contains("1 unit(s) the crash split were finished"),
        "{rec}"
    );
    assert_eq!(
        recs.iter().filter(|r| r["action"] == "delete").count(),
        1,
        "one record for the unit"
    );
    let v = retentionctl(&["--config", policy.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}

/// Per-camera retention in Frigate's layout, where the camera is a middle
/// path component: the entrance camera kept 30 days, the rest 7, and a
/// quota of its own for one camera; each deletion record names its rule.
#[test]
fn per_source_rules_keep_each_camera_its_own_time() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("recordings");
    let state = tmp.path().join("state");
    let t0 = now();
    let spec = retentiond::demo::treegen::TreeSpec {
        cams: 3,
        days: 40.0,
        segment: 3 * 3600,
        size: 10,
        end: t0,
    };
    retentiond::demo::treegen::frigate(&root, &spec).unwrap();
    let policy = zone_policy(
        tmp.path(),
        &state,
        &root,
        "layout = \"frigate\"\n\
         [[zone.rule]]\nname = \"entrance\"\nsource = \"cam00\"\nmin_age = \"30d\"\nmax_age = \"30d\"\n\
         [[zone.rule]]\nname = \"yard\"\nsource = \"cam02\"\nmax_age = \"40d\"\nmax_bytes = \"20KiB\"\n",
    );
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--check-config"]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && shown.contains("[[zone.rule]]\nname = \"entrance\"\nsource = \"cam00\""),
        "{shown}"
    );
    once(&policy);
    let age = |p: &Path| t0 - path_time(&root, p);
    let left = files(&root);
    let cam = |c: &'static str| left.iter().filter(move |p| p.to_str().unwrap().contains(c));
    assert!(
        cam("/cam00/").all(|p| age(p) <= 30 * DAY + 3 * 3600),
        "entrance: 30 days"
    );
    assert!(
        cam("/cam00/").any(|p| age(p) > 20 * DAY),
        "entrance keeps more than 7 days"
    );
    assert!(cam("/cam01/").all(|p| age(p) <= 7 * DAY + 3 * 3600), "others: 7 days");
    // The yard's own quota: 20 KiB of 4 KiB blocks is 5 segments.
    assert!(
        cam("/cam02/").count() <= 5,
        "yard within its quota: {}",
        cam("/cam02/").count()
    );
    let recs = audit_records(&state.join("audit.jsonl"));
    let dels: Vec<_> = recs.iter().filter(|r| r["action"] == "delete").collect();
    for r in &dels {
        let p = r["path"].as_str().unwrap();
        let (want_rule, want_reason) = if p.contains("/cam00/") {
            (Some("entrance"), "max-age")
        } else if p.contains("/cam02/") {
            (Some("yard"), "")
        } else {
            (None, "max-age")
        };
        assert_eq!(r["rule"].as_str(), want_rule, "{r}");
        if !want_reason.is_empty() {
            assert_eq!(r["reason"], want_reason, "{r}");
        }
    }
    let quota: Vec<_> = dels.iter().filter(|r| r["reason"] == "quota").collect();
    assert!(
        quota.iter().any(|r| r["rule"] == "yard"
            && r["text"]
                .as_str()
                .unwrap()
                .contains("rule yard of zone rec is over its max_bytes 20.0 KiB")),
        "{quota:?}"
    );
}

fn sql(db: &Path, script: &str) -> String {
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,sys\ncon=sqlite3.connect(sys.argv[1])\ncur=con.cursor()\n{script}\ncon.commit()"
        ))
        .arg(db)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The Frigate recipe: the rows of deleted segments leave frigate.db (its
/// paths as Frigate sees them in its container), the others stay; a hook
/// that fails is recorded and alarmed, and deletion goes on regardless.
#[test]
fn the_frigate_recipe_keeps_frigate_db_true_to_the_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("recordings");
    let state = tmp.path().join("state");
    let spec = retentiond::demo::treegen::TreeSpec {
        cams: 2,
        days: 9.0,
        segment: 3600,
        size: 10,
        end: now(),
    };
    retentiond::demo::treegen::frigate(&root, &spec).unwrap();
    let db = tmp.path().join("frigate.db");
    let container = |p: &Path| {
        Path::new("/media/frigate/recordings")
            .join(p.strip_prefix(&root).unwrap())
            .display()
            .to_string()
    };
    let rows: Vec<String> = files(&root)
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().to_str().unwrap().to_string();
            let cam = rel.split('/').nth(2).unwrap().to_string();
            format!("('{}','{cam}','{}',0,0,10)", rel.replace(['/', '.'], "-"), container(p))
        })
        .collect();
    sql(
        &db,
        &format!(
            "cur.execute('CREATE TABLE recordings (id VARCHAR(30) PRIMARY KEY, camera VARCHAR(20), path VARCHAR(255), start_time DATETIME, end_time DATETIME, duration REAL)')\n\
             cur.execute(\"INSERT INTO recordings VALUES {}\")",
            rows.join(",")
        ),
    );
    let hook = format!(
        "{}/packaging/hooks/frigate-db-sync {} {}=/media/frigate/recordings",
        env!("CARGO_MANIFEST_DIR"),
        db.display(),
        root.display()
    );
    let policy = zone_policy(
        tmp.path(),
        &state,
        &root,
        &format!("layout = \"frigate\"\nafter_delete = \"{hook}\""),
    );
    let before = files(&root).len();
    let log = once(&policy);
    let left = files(&root);
    assert!(left.len() < before, "some segments went");
    let in_db: BTreeSet<String> = sql(&db, "for (p,) in cur.execute('SELECT path FROM recordings'): print(p)")
        .lines()
        .map(str::to_string)
        .collect();
    let on_disk: BTreeSet<String> = left.iter().map(|p| container(p)).collect();
    assert_eq!(in_db, on_disk, "frigate.db lists exactly what is on disk: {log}");

    // A hook that fails: recorded, alarmed, and the deletions stand.
    std::fs::write(&db, b"not a database").unwrap();
    let spec = retentiond::demo::treegen::TreeSpec { days: 12.0, ..spec };
    retentiond::demo::treegen::frigate(&root, &spec).unwrap();
    let log = once(&policy);
    assert!(log.contains("hook-failed"), "{log}");
    assert!(files(&root).len() <= left.len(), "deleted regardless");
    let recs = audit_records(&state.join("audit.jsonl"));
    let hook_rec = recs.iter().find(|r| r["action"] == "hook").expect("a hook record");
    assert!(
        hook_rec["text"].as_str().unwrap().contains("exited with status 1"),
        "{hook_rec}"
    );
    assert_eq!(hook_rec["zone"], "rec");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Groups of sidecars sharing a stem, each member old, young or being
    /// written: a group goes whole when its newest member is past max_age
    /// and none is still being written, and otherwise stays whole.
    #[test]
    fn groups_are_never_split(groups in prop::collection::vec(prop::collection::vec(0u8..3, 1..4), 1..8)) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rec");
        let state = tmp.path().join("state");
        let t0 = now();
        let ages = [10 * DAY, DAY, 0];
        let exts = ["mp4", "jpg", "json", "mp4.thumb"];
        let mut expect_gone = BTreeSet::new();
        for (g, members) in groups.iter().enumerate() {
            for (k, a) in members.iter().enumerate() {
                touch(&root.join(format!("cam1/clip{g}.{}", exts[k])), b"x", t0 - ages[*a as usize]);
            }
            if members.iter().all(|a| *a == 0) {
                expect_gone.insert(g);
            }
        }
        let policy = zone_policy(tmp.path(), &state, &root, "unit = \"group\"\ngroup = \"stem\"");
        once(&policy);
        let left = files(&root);
        for (g, members) in groups.iter().enumerate() {
            let here = (0..members.len())
                .filter(|k| left.contains(&root.join(format!("cam1/clip{g}.{}", exts[*k]))))
                .count();
            if expect_gone.contains(&g) {
                prop_assert_eq!(here, 0, "group {} should be gone", g);
            } else {
                prop_assert_eq!(here, members.len(), "group {} should be whole", g);
            }
        }
    }
}
