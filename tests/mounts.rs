//! A zone root on a mount that disappears, or gets another filesystem
//! mounted on it, is neither read as "everything was deleted" nor deleted
//! in: the daemon raises an alarm and resumes when the mount returns.
//! Needs root (a loop-mounted ext4 image); skipped otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use retentiond::demo::treegen::write_file;

const DAY: i64 = 86_400;

struct Loop {
    dev: String,
    mnt: PathBuf,
}

impl Loop {
    fn new(image: &Path, mnt: &Path) -> Option<Loop> {
        let dev = ext4_loop(image, 16, &[])?;
        std::fs::create_dir_all(mnt).ok()?;
        let l = Loop {
            dev,
            mnt: mnt.to_path_buf(),
        };
        l.mount().then_some(l)
    }

    fn mount(&self) -> bool {
        sh("mount", &[&self.dev, self.mnt.to_str().unwrap()])
    }

    fn umount(&self) -> bool {
        for _ in 0..50 {
            if sh("umount", &[self.mnt.to_str().unwrap()]) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = sh("umount", &["-l", self.mnt.to_str().unwrap()]);
        let _ = sh("losetup", &["-d", &self.dev]);
    }
}

fn alarm_text(policy: &Path) -> Option<String> {
    status_alarms(policy)?
        .into_iter()
        .find(|(kind, _)| kind == "root-unavailable")
        .map(|(_, text)| text)
}

#[test]
fn a_vanished_mount_is_not_read_as_deleted_nor_deleted_in_and_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("calls");
    let Some(disk) = Loop::new(&tmp.path().join("disk.img"), &root) else {
        eprintln!("skipped: needs root, mkfs.ext4 and a loop device");
        return;
    };
    let state = tmp.path().join("state");
    let socket = tmp.path().join("ctl.sock");
    let old = now() - 5 * DAY;
    for i in 0..10 {
        write_file(&root.join(format!("new-{i}.wav")), b"a", now() - 3600).unwrap();
    }
    let policy = write_policy(
        tmp.path(),
        &state,
        "99%",
        "98%",
        &zone_toml("calls", &root, "1d", "2d", ""),
    );
    with_control_socket(&policy, &socket);
    let d = Daemon::start(&policy, &socket);
    d.wait_for("sweep at", 1, 60);
    assert!(state.join("roots.json").exists());

    // The disk goes away; the recorder (or anyone) writes old-looking files
    // into the bare mount point, on the parent filesystem.
    assert!(disk.umount(), "cannot unmount");
    for i in 0..5 {
        write_file(&root.join(format!("stray-{i}.wav")), b"b", old).unwrap();
    }
    wait_until("the root-unavailable alarm", 30, || {
        alarm_text(&policy).is_some_and(|t| t.contains("is not the filesystem it was"))
    });
    let n = d.log().matches("sweep at").count();
    d.wait_for("sweep at", n + 3, 30);
    for i in 0..5 {
        assert!(
            root.join(format!("stray-{i}.wav")).exists(),
            "deleted on the wrong filesystem"
        );
    }
    assert!(deletions(&state.join("audit.jsonl")).is_empty());
    let o = retentionctl(&["--config", policy.to_str().unwrap(), "--json", "status"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not the filesystem it was"),
        "{}",
        text(&o)
    );

    // The disk comes back: the alarm clears and retention resumes there.
    for i in 0..5 {
        std::fs::remove_file(root.join(format!("stray-{i}.wav"))).unwrap();
    }
    assert!(disk.mount(), "cannot mount again");
    write_file(&root.join("due.wav"), b"c", old).unwrap();
    wait_until("the alarm to clear", 30, || alarm_text(&policy).is_none());
    wait_until("due.wav to go", 30, || !root.join("due.wav").exists());
    assert_eq!(files(&root).len(), 10, "the mount's own recordings are all there");
    let dels = deletions(&state.join("audit.jsonl"));
    assert_eq!(dels.len(), 1, "{dels:?}");

    // Another filesystem mounted over the root (a swapped disk): the same.
    assert!(sh(
        "mount",
        &["-t", "tmpfs", "-o", "size=4m", "tmpfs", root.to_str().unwrap()]
    ));
    write_file(&root.join("other-disk.wav"), b"d", old).unwrap();
    wait_until("the root-unavailable alarm for another filesystem", 30, || {
        alarm_text(&policy).is_some()
    });
    let n = d.log().matches("sweep at").count();
    d.wait_for("sweep at", n + 2, 30);
    assert!(root.join("other-disk.wav").exists(), "deleted on another filesystem");
    assert!(sh("umount", &[root.to_str().unwrap()]));
    wait_until("the alarm to clear again", 30, || alarm_text(&policy).is_none());
    assert_eq!(deletions(&state.join("audit.jsonl")).len(), 1);
    drop(d);
}
