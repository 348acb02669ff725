//! Symlinks and swapped directories never lead the sweep outside a root.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use retentiond::audit::{AuditLog, AuditOptions};
use retentiond::core::holds::HoldSet;
use retentiond::core::policy::Policy;
use retentiond::core::units::Timestamp;
use retentiond::demo::treegen::{frigate, TreeSpec};
use retentiond::fs::scan;
use retentiond::sweep::execute::{execute, ExecOptions, StaticHolds};

const DAY: i64 = 86_400;

fn zone(root: &Path) -> String {
    format!(
        "[[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"1d\"\nmax_age = \"2d\"\n",
        root.display()
    )
}

/// An "outside" directory holding old files with the same names as the
/// footage: if anything followed a symlink, these would be deleted.
fn outside_copy(outside: &Path, end: i64) -> std::collections::BTreeSet<PathBuf> {
    frigate(
        outside,
        &TreeSpec {
            cams: 2,
            days: 5.0,
            segment: 600,
            size: 1,
            end,
        },
    )
    .unwrap();
    files(outside)
}

#[test]
fn symlinks_inside_a_zone_pointing_outside_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, outside, state) = (
        tmp.path().join("cctv"),
        tmp.path().join("outside"),
        tmp.path().join("state"),
    );
    let end = now() - 5 * DAY;
    let outside_files = outside_copy(&outside, end);
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 5.0,
            segment: 600,
            size: 1,
            end: now(),
        },
    )
    .unwrap();
    // A whole old day, an hour and a single file inside the zone are symlinks out.
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let old_day = day(end - 2 * DAY);
    symlink(outside.join(&old_day), root.join(&old_day)).unwrap();
    let other_day = day(end - 3 * DAY);
    std::fs::create_dir_all(root.join(&other_day)).unwrap();
    symlink(outside.join(&other_day).join("05"), root.join(&other_day).join("05")).unwrap();
    std::fs::create_dir_all(root.join(&other_day).join("06/cam00")).unwrap();
    symlink(
        outside.join(&other_day).join("06/cam00/10.00.mp4"),
        root.join(&other_day).join("06/cam00/10.00.mp4"),
    )
    .unwrap();
    // A symlink to the outside as the whole zone would be refused at load
    // (resolved roots are checked); inside, they are simply not followed.
    let policy = write_policy(tmp.path(), &state, "99%", "98%", &zone(&root));
    let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&outside), outside_files, "nothing outside the root was deleted");
    let deleted = deletions(&state.join("audit.jsonl"));
    assert!(!deleted.is_empty());
    for (p, _) in &deleted {
        assert!(p.starts_with(&root) && !p.exists(), "{}", p.display());
    }
    // The zone's own old footage is gone; the symlinks are still there.
    assert!(std::fs::symlink_metadata(root.join(&old_day))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// Scan and plan, then replace directories the plan wants by symlinks to
/// the outside copy before executing: the executor re-opens each path
/// component with O_NOFOLLOW and checks inodes, so it skips them.
#[test]
fn directories_swapped_for_symlinks_after_planning_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, outside, state) = (
        tmp.path().join("cctv"),
        tmp.path().join("outside"),
        tmp.path().join("state"),
    );
    let t = now();
    let outside_files = outside_copy(&outside, t);
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 5.0,
            segment: 600,
            size: 1,
            end: t,
        },
    )
    .unwrap();
    let policy_path = write_policy(tmp.path(), &state, "99%", "98%", &zone(&root));
    let policy = Policy::load(&policy_path).unwrap();
    let mut inv = scan::scan(&policy);
    let usage = retentiond::sweep::usage(&policy, &inv);
    let plan = retentiond::sweep::plan_with_detail(&mut inv, &policy, &HoldSet::default(), &usage, Timestamp(t));
    assert!(!plan.entries.is_empty());

    // Swap a day directory, an hour directory and a camera directory.
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let swaps = [
        day(t - 4 * DAY),
        format!("{}/07", day(t - 3 * DAY)),
        format!("{}/08/cam01", day(t - 3 * DAY)),
    ];
    for rel in &swaps {
        std::fs::rename(root.join(rel), root.join(format!("{rel}.moved"))).unwrap();
        symlink(outside.join(rel), root.join(rel)).unwrap();
    }
    std::fs::create_dir_all(&state).unwrap();
    let audit = std::sync::Mutex::new(
        AuditLog::open(&state.join("audit.jsonl"), AuditOptions { rotate_bytes: 1 << 30 }).unwrap(),
    );
    let opts = ExecOptions {
        dry_run: false,
        batch_size: 100,
        list: None,
        refused: Default::default(),
    };
    let report = execute(
        &plan,
        &inv,
        &policy,
        &mut StaticHolds(HoldSet::default()),
        Some(&audit),
        &opts,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(files(&outside), outside_files, "nothing outside the root was deleted");
    assert!(report.deleted() > 0);
    assert!(report.dir_errors.len() >= swaps.len(), "{:?}", report.dir_errors);
    // The moved directories (still inside the root) were not touched either:
    // the plan named other paths.
    for rel in &swaps {
        assert!(!files(&root.join(format!("{rel}.moved"))).is_empty());
    }
}

/// A real sweep while another thread keeps swapping a directory with a
/// symlink to the outside and back, many times.
#[test]
fn racing_directory_swaps_during_real_sweeps_never_escape_the_root() {
    for round in 0..8 {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside, state) = (
            tmp.path().join("cctv"),
            tmp.path().join("outside"),
            tmp.path().join("state"),
        );
        let t = now();
        let outside_files = outside_copy(&outside, t);
        frigate(
            &root,
            &TreeSpec {
                cams: 2,
                days: 5.0,
                segment: 120,
                size: 1,
                end: t,
            },
        )
        .unwrap();
        let policy = write_policy(tmp.path(), &state, "99%", "98%", &zone(&root));
        let day = chrono::DateTime::from_timestamp(t - (3 + round % 2) * DAY, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let target = if round % 3 == 0 {
            day.clone()
        } else {
            format!("{day}/{:02}", round * 3)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (root, outside, stop, target) = (root.clone(), outside.clone(), stop.clone(), target.clone());
            std::thread::spawn(move || {
                let (real, moved, link) = (
                    root.join(&target),
                    root.join(format!("{target}.moved")),
                    outside.join(&target),
                );
                let mut swaps = 0;
                while !stop.load(Ordering::Relaxed) {
                    if std::fs::rename(&real, &moved).is_ok() {
                        let _ = symlink(&link, &real);
                        std::thread::yield_now();
                        let _ = std::fs::remove_file(&real);
                        let _ = std::fs::rename(&moved, &real);
                        swaps += 1;
                    }
                }
                swaps
            })
        };
        let o = retentiond(&["--config", policy.to_str().unwrap(), "--once"]);
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(swaps > 0);
        assert_eq!(
            files(&outside),
            outside_files,
            "round {round}: nothing outside the root was deleted"
        );
        for (p, _) in deletions(&state.join("audit.jsonl")) {
            assert!(p.starts_with(&root), "{}", p.display());
        }
    }
}
