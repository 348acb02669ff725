//! Odd and hostile trees: names that are not UTF-8 or hold newlines (and
//! 255-byte names) are recorded losslessly; paths deeper than PATH_MAX
//! work; hard links into and out of a zone touch nothing outside it; a
//! file the daemon may not delete (immutable) is recorded once, not in a
//! hot loop; a file deleted by someone else, or still being written, is
//! handled; a directory deeper than the walk's limit is left alone.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use retentiond::demo::treegen::write_file;
use serde_json::Value;

const DAY: i64 = 86_400;

/// A zone with recording times from mtime (any file name), max_age 2 days.
fn policy(dir: &Path, state: &Path, root: &Path) -> PathBuf {
    write_policy(dir, state, "99%", "98%", &zone_toml("calls", root, "1d", "2d", ""))
}

#[test]
fn odd_names_are_deleted_and_recorded_losslessly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("calls");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    let old = now() - 5 * DAY;
    let names: Vec<Vec<u8>> = vec![
        b"caf\xe9 latin-1.wav".to_vec(),
        b"two\nlines.wav".to_vec(),
        b"tab\there \"quoted\" \\ back.wav".to_vec(),
        vec![b'x'; 255],
        "ünïcødé 通話.wav".as_bytes().to_vec(),
    ];
    for n in &names {
        write_file(&root.join(OsStr::from_bytes(n)), b"a", old).unwrap();
    }
    let p = policy(tmp.path(), &state, &root);
    let o = retentiond(&["--config", p.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(files(&root).is_empty(), "{:?}", files(&root));
    let recorded: Vec<Vec<u8>> = deletions(&state.join("audit.jsonl"))
        .into_iter()
        .map(|(p, _)| p.file_name().unwrap().as_bytes().to_vec())
        .collect();
    for n in &names {
        assert!(
            recorded.contains(n),
            "{:?} not recorded exactly: {recorded:?}",
            String::from_utf8_lossy(n)
        );
    }
    // One record per line: a newline in a name cannot split a record.
    let raw = std::fs::read(state.join("audit.jsonl")).unwrap();
    let lines = raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, raw_audit_records(&state.join("audit.jsonl")).len());
    let v = retentionctl(&["--config", p.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
    // `audit show --path` finds a non-UTF-8 one.
    let s = retentionctl(&[
        "--config",
        p.to_str().unwrap(),
        "--json",
        "audit",
        "show",
        "--path",
        "*latin-1.wav",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(v["matched"], 1, "{}", text(&s));
    let p = retentiond::audit::path_from_value(&v["records"][0]["path"]).unwrap();
    assert!(p.as_bytes().ends_with(b"caf\xe9 latin-1.wav"), "{p:?}");
}

/// mkdir + open relative to a descriptor, so the path can outgrow PATH_MAX.
fn deep_dirs(root: &Path, levels: usize, name_len: usize) -> std::os::fd::OwnedFd {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{mkdirat, Mode};
    let mut fd = nix::fcntl::open(root, OFlag::O_DIRECTORY | OFlag::O_RDONLY, Mode::empty()).unwrap();
    for i in 0..levels {
        let name = format!("{i:03}{}", "d".repeat(name_len - 3));
        mkdirat(&fd, name.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
        fd = openat(&fd, name.as_str(), OFlag::O_DIRECTORY | OFlag::O_RDONLY, Mode::empty()).unwrap();
    }
    fd
}

fn old_file_at(dir: &std::os::fd::OwnedFd, name: &str, mtime: i64) {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{utimensat, Mode, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let f = openat(
        dir,
        name,
        OFlag::O_CREAT | OFlag::O_WRONLY,
        Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    drop(f);
    let t = TimeSpec::new(mtime, 0);
    utimensat(dir, name, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
}

#[test]
fn paths_longer_than_path_max_work_and_the_depth_limit_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("calls");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    let old = now() - 5 * DAY;
    // 40 levels of 200-byte names: an 8 KB path, twice PATH_MAX.
    let deep = deep_dirs(&root.join("a"), 40, 200);
    old_file_at(&deep, "deep.wav", old);
    // 70 levels: beyond the walk's 64-level limit, never reached.
    let too_deep = deep_dirs(&root.join("b"), 70, 4);
    old_file_at(&too_deep, "too-deep.wav", old);
    let p = policy(tmp.path(), &state, &root);
    let o = retentiond(&["--config", p.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let dels = deletions(&state.join("audit.jsonl"));
    assert_eq!(dels.len(), 1, "{dels:?}");
    assert!(dels[0].0.as_os_str().len() > 8000 && dels[0].0.ends_with("deep.wav"));
    // The file past the depth limit is still there.
    use nix::sys::stat::fstatat;
    assert!(fstatat(&too_deep, "too-deep.wav", nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).is_ok());
    assert!(fstatat(&deep, "deep.wav", nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).is_err());
}

#[test]
fn hard_links_into_and_out_of_a_zone_touch_nothing_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("calls");
    let outside = tmp.path().join("outside");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let old = now() - 5 * DAY;
    // Outside -> in: an evidence file someone linked into the zone.
    write_file(&outside.join("evidence.wav"), &[7u8; 8192], old).unwrap();
    std::fs::hard_link(outside.join("evidence.wav"), root.join("linked-in.wav")).unwrap();
    // In -> outside: a recording someone linked out.
    write_file(&root.join("rec.wav"), &[8u8; 8192], old).unwrap();
    std::fs::hard_link(root.join("rec.wav"), outside.join("linked-out.wav")).unwrap();
    let p = policy(tmp.path(), &state, &root);
    let o = retentiond(&["--config", p.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(files(&root).is_empty());
    assert_eq!(std::fs::read(outside.join("evidence.wav")).unwrap(), vec![7u8; 8192]);
    assert_eq!(std::fs::read(outside.join("linked-out.wav")).unwrap(), vec![8u8; 8192]);
    // Unlinking a name with other links frees nothing: recorded as 0 bytes.
    for r in audit_records(&state.join("audit.jsonl"))
        .iter()
        .filter(|r| r["action"] == "delete")
    {
        assert_eq!(r["bytes"], 0, "{r}");
    }
}

#[test]
fn a_file_that_cannot_be_deleted_is_recorded_once_not_in_a_hot_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("calls");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    let old = now() - 5 * DAY;
    let stuck = root.join("immutable.wav");
    write_file(&stuck, b"a", old).unwrap();
    write_file(&root.join("other.wav"), b"b", old).unwrap();
    let chattr = |flag: &str| {
        Command::new("chattr")
            .arg(flag)
            .arg(&stuck)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chattr("+i") {
        eprintln!("skipped: cannot set the immutable attribute (needs root and ext4)");
        return;
    }
    struct Unfreeze<'a>(&'a Path);
    impl Drop for Unfreeze<'_> {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(self.0).status();
        }
    }
    let _unfreeze = Unfreeze(&stuck);
    let p = policy(tmp.path(), &state, &root);
    let socket = tmp.path().join("ctl.sock");
    with_control_socket(&p, &socket);
    let d = Daemon::start(&p, &socket);
    // sweep_interval is 1s: several sweeps.
    d.wait_for("sweep at", 6, 60);
    assert!(stuck.exists() && !root.join("other.wav").exists());
    let recs = audit_records(&state.join("audit.jsonl"));
    let tries = recs
        .iter()
        .filter(|r| r["action"] == "delete" && r["path"].as_str().is_some_and(|p| p.ends_with("immutable.wav")))
        .count();
    assert_eq!(tries, 1, "one attempt, recorded once");
    let failed: Vec<_> = recs
        .iter()
        .filter(|r| r["action"] == "batch-done" && r["failed"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not permitted"),
        "{:?}",
        failed[0]
    );
    assert_eq!(d.log().matches("not tried again").count(), 1, "{}", d.log());
}

#[test]
fn files_gone_or_still_being_written_are_handled() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("calls");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    let old = now() - 5 * DAY;
    for i in 0..50 {
        write_file(&root.join(format!("{i:02}.wav")), b"a", old).unwrap();
    }
    // A file being written right now: never touched.
    write_file(&root.join("writing.wav"), b"a", now()).unwrap();
    let p = policy(tmp.path(), &state, &root);
    // Scan and plan, then someone else deletes half before the executor runs.
    let policy = retentiond::core::policy::Policy::load(&p).unwrap();
    let mut inv = retentiond::fs::scan::scan(&policy);
    let usage = retentiond::sweep::usage(&policy, &inv);
    let holds = retentiond::core::holds::HoldSet::default();
    let now_t = retentiond::core::units::Timestamp(now());
    let plan = retentiond::sweep::plan_with_detail(&mut inv, &policy, &holds, &usage, now_t);
    for i in 0..25 {
        std::fs::remove_file(root.join(format!("{i:02}.wav"))).unwrap();
    }
    std::fs::create_dir_all(&state).unwrap();
    let audit = std::sync::Mutex::new(
        retentiond::audit::AuditLog::open(&state.join("audit.jsonl"), Default::default()).unwrap(),
    );
    let opts = retentiond::sweep::execute::ExecOptions {
        dry_run: false,
        batch_size: 10,
        list: None,
        refused: Default::default(),
    };
    let r = retentiond::sweep::execute::execute(
        &plan,
        &inv,
        &policy,
        &mut retentiond::sweep::execute::StaticHolds(holds),
        Some(&audit),
        &opts,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(r.deleted(), 25, "{r:?}");
    drop(audit);
    // A record written for a file someone else deleted meanwhile is
    // reconciled by its batch-done record (vanished): no record claims
    // a deletion that did not happen.
    let recs = audit_records(&state.join("audit.jsonl"));
    // (A grouped record's files share its seq: an outcome names a file by both.)
    let vanished: Vec<(u64, Value)> = recs
        .iter()
        .filter(|r| r["action"] == "batch-done")
        .flat_map(|r| r["vanished"].as_array().cloned().unwrap_or_default())
        .map(|v| (v["seq"].as_u64().unwrap(), v["path"].clone()))
        .collect();
    for r in recs.iter().filter(|r| r["action"] == "delete") {
        let p = PathBuf::from(retentiond::audit::path_from_value(&r["path"]).unwrap());
        let n: u32 = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let reconciled = vanished.contains(&(r["seq"].as_u64().unwrap(), r["path"].clone()));
        assert_eq!(
            n < 25,
            reconciled,
            "{}: deleted by someone else {}, reconciled {reconciled}",
            p.display(),
            n < 25
        );
    }
    assert_eq!(files(&root), [root.join("writing.wav")].into());
    let v = retentionctl(&["--config", p.to_str().unwrap(), "audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}
