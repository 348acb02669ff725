//! The daemon keeps its inventory current between sweeps without walking
//! the tree again: new recordings, new time buckets, footage removed by
//! hand and footage past max_age that appears later are all seen through
//! inotify (or polling) and the sweep's own deletions.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use retentiond::demo::treegen::{frigate, write_file, TreeSpec};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn frigate_dir(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%d/%H")
        .to_string()
}

fn frigate_name(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%M.%S.mp4")
        .to_string()
}

/// A recording at time `t` for camera `cam`.
fn record(root: &Path, cam: &str, t: i64) {
    let p = root.join(frigate_dir(t)).join(cam).join(frigate_name(t));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    write_file(&p, b"segment", t + 60).unwrap();
}

/// A figure of the first zone in `retentionctl status`.
fn zone_figure(policy: &Path, key: &str) -> u64 {
    let o = retentionctl(&["--config", policy.to_str().unwrap(), "--json", "status"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["zones"][0][key].as_u64().unwrap()
}

fn recordings(policy: &Path) -> u64 {
    zone_figure(policy, "recordings")
}

fn setup(
    extra_daemon: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    let state = tmp.path().join("state");
    let socket = tmp.path().join("ctl.sock");
    let end = now() - 600;
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 2.0,
            segment: 600,
            size: 0,
            end,
        },
    )
    .unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nsweep_interval = \"1s\"\nsettle_time = \"1s\"\n{extra_daemon}\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"1h\"\nmax_age = \"7d\"\n",
            state.display(),
            socket.display(),
            root.display()
        ),
    )
    .unwrap();
    (tmp, root, state, policy)
}

#[test]
fn new_and_removed_recordings_are_seen_without_walking_the_tree_again() {
    seen_without_walking("", false);
}

#[test]
fn beyond_the_watch_limit_recent_directories_are_polled() {
    seen_without_walking("max_watches = 3", true);
}

#[test]
fn without_inotify_recent_directories_are_polled() {
    seen_without_walking("max_watches = 0", false);
}

fn seen_without_walking(extra: &str, limit: bool) {
    let (tmp, root, state, policy) = setup(extra);
    let socket = tmp.path().join("ctl.sock");
    let d = Daemon::start_with(&policy, &socket, &[], &["--verbose"]);
    d.wait_for("recordings walked", 1, 60);
    d.wait_for("directories re-read", 2, 60);
    let n0 = files(&root).len() as u64;
    assert_eq!(recordings(&policy), n0);

    // A camera writes on in its current directory, and a new camera starts
    // in a new hour directory (below directories the daemon does not know).
    let t = now();
    record(&root, "cam00", t - 120);
    record(&root, "cam07", t + HOUR);
    record(&root, "cam07", t + HOUR + 600);
    wait_until("3 new recordings", 20, || recordings(&policy) == n0 + 3);
    if extra.is_empty() {
        // Once cam00's directory is watched and was read whole, a new
        // segment in it is read alone, by name (one fstatat, not the
        // directory again). Whether t - 120 fell in a directory that
        // existed depends on the clock, so cam00 writes on until it shows.
        let hot = |l: &str| {
            l.split(" changed directories and ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        };
        for k in 0..6 {
            if d.log().lines().any(hot) {
                break;
            }
            let n = recordings(&policy);
            record(&root, "cam00", t - 100 + 10 * k);
            wait_until("cam00's segment counted", 20, || recordings(&policy) == n + 1);
        }
        assert!(d.log().lines().any(hot), "{}", d.log());
    }

    // Someone removes the oldest day by hand.
    let oldest_day = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::remove_dir_all(&oldest_day).unwrap();
    let n1 = files(&root).len() as u64;
    wait_until("the removed day gone from the inventory", 20, || {
        recordings(&policy) == n1
    });

    // Footage past max_age copied in later is found and deleted, with its
    // audit records.
    let old = now() - 10 * DAY;
    record(&root, "cam01", old);
    record(&root, "cam01", old + 600);
    wait_until("the late old footage deleted", 20, || {
        !root
            .join(frigate_dir(old))
            .join("cam01")
            .join(frigate_name(old))
            .exists()
    });
    // (Both records, whatever hour directories the two segments fell in.)
    let late: Vec<PathBuf> = [old, old + 600]
        .iter()
        .map(|&t| root.join(frigate_dir(t)).join("cam01").join(frigate_name(t)))
        .collect();
    wait_until("the second late segment deleted too", 20, || !late[1].exists());
    let dels = deletions(&state.join("audit.jsonl"));
    assert_eq!(
        dels.iter().filter(|(p, r)| late.contains(p) && r == "max-age").count(),
        2,
        "{dels:?}"
    );
    wait_until("inventory back to the tree", 20, || {
        recordings(&policy) == files(&root).len() as u64
    });
    // All of that without a second walk of the tree.
    assert_eq!(d.log().matches("recordings walked").count(), 1, "{}", d.log());
    assert!(!d.log().contains("taking a full inventory"), "{}", d.log());
    assert_eq!(
        d.log().matches("watch limit is reached").count(),
        usize::from(limit),
        "{}",
        d.log()
    );
    d.stop();
}

/// The reconcile re-reads the tree in slices, a share of it per sweep, so
/// that a whole round takes `reconcile_interval`: what no watch reports (a
/// recording copied by hand into an old directory, an old hour removed)
/// is found without a second walk of the tree.
#[test]
fn a_short_reconcile_interval_rereads_the_tree_in_slices() {
    let (tmp, root, _state, policy) = setup("reconcile_interval = \"10s\"");
    let socket = tmp.path().join("ctl.sock");
    let d = Daemon::start_with(&policy, &socket, &[], &["--verbose"]);
    d.wait_for("recordings walked", 1, 60);
    wait_until("first sweep", 20, || d.log().contains("sweep at"));
    let before = recordings(&policy);
    let old = now() - 30 * HOUR;
    record(&root, "cam01", old + 120);
    record(&root, "cam02", old + 180);
    let gone = root.join(frigate_dir(now() - 40 * HOUR));
    let removed = files(&gone).len() as u64;
    assert!(removed > 0);
    std::fs::remove_dir_all(&gone).unwrap();
    let rounds = d.log().matches("reconciled: ").count();
    d.wait_for("reconciled: ", rounds + 2, 40);
    assert_eq!(recordings(&policy), before + 2 - removed);
    assert_eq!(recordings(&policy), files(&root).len() as u64);
    let log = d.log();
    assert_eq!(log.matches("recordings walked").count(), 1, "{log}");
    assert!(!log.contains("taking a full inventory"), "{log}");
    // No sweep read the whole tree: each slice is a share of it.
    let known = log
        .lines()
        .filter_map(|l| l.split("reconciled: ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let most = log
        .lines()
        .filter_map(|l| l.split(" files of hot ones, ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .max()
        .unwrap();
    assert!(most * 4 <= known, "slices of at most {most} of {known} directories");
    d.stop();
}

fn zone_bytes(policy: &Path) -> u64 {
    zone_figure(policy, "bytes")
}

/// Between full rounds (`reconcile_full_interval`) a reconcile round reads
/// again only the directories that gained or lost an entry since they were
/// read (their inode and mtime tell); the others cost an open. So a file
/// rewritten in place in an old directory is found by the next full
/// round, while a file added by hand is found by any round.
#[test]
fn rounds_between_full_ones_read_only_changed_directories() {
    let (tmp, root, _state, policy) = setup("reconcile_interval = \"10s\"\nreconcile_full_interval = \"30s\"");
    // Directories last changed seconds before the daemon reads them, as on
    // a box that has recorded for a while: read then, they are settled
    // (their ctime, which no one can set back, is old enough).
    std::thread::sleep(std::time::Duration::from_secs(5));
    let socket = tmp.path().join("ctl.sock");
    let d = Daemon::start_with(&policy, &socket, &[], &["--verbose"]);
    d.wait_for("recordings walked", 1, 60);
    wait_until("first sweep", 20, || d.log().contains("sweep at"));
    let bytes0 = zone_bytes(&policy);
    // A day-old segment rewritten in place, longer (no entry changes), and
    // one copied in by hand beside another day-old one.
    let old = now() - 30 * HOUR;
    let rewritten = files(&root.join(frigate_dir(old))).into_iter().min().unwrap();
    std::fs::write(&rewritten, vec![7u8; 200_000]).unwrap();
    let n0 = recordings(&policy);
    record(&root, "cam01", now() - 40 * HOUR + 120);
    // The first rounds only check: the copy is found, the rewrite is not.
    d.wait_for("reconciled: ", 1, 40);
    let first = d
        .log()
        .lines()
        .find(|l| l.contains("reconciled: "))
        .unwrap()
        .to_string();
    assert!(first.contains(" checked, "), "{first}");
    wait_until("the copied segment counted", 40, || recordings(&policy) == n0 + 1);
    assert_eq!(zone_bytes(&policy), bytes0 + 4096, "only the copy");
    // A full round comes within reconcile_full_interval of the walk.
    d.wait_for("re-read whole", 1, 90);
    let log = d.log();
    let changed: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split(" checked, ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    let known: u64 = first
        .split("reconciled: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        changed.iter().all(|&c| c * 4 <= known),
        "few directories re-read: {changed:?} of {known}"
    );
    wait_until("the rewrite counted", 20, || zone_bytes(&policy) > bytes0 + 4096);
    assert_eq!(log.matches("recordings walked").count(), 1, "{log}");
    d.stop();
}
