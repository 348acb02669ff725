//! `recording-stalled` against a running daemon: simulated cameras write a
//! Frigate segment every second into a real tree; one stops, and the alarm
//! must be raised within one sweep of `stall_after` (in `status`, the audit
//! log and the metrics file), naming the camera and since when, then clear
//! when it records again. A camera retired on purpose is acknowledged
//! (audited, kept across a restart) and raises nothing until it records
//! again.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const STALL_AFTER: i64 = 3;
const SWEEP: i64 = 1;

/// A camera writing a 10-second Frigate segment's name every second while
/// `on`; the last file it wrote.
struct Camera {
    on: Arc<AtomicBool>,
    last: Arc<Mutex<Option<PathBuf>>>,
}

impl Camera {
    fn start(root: &Path, name: &str, quit: Arc<AtomicBool>) -> Camera {
        let on = Arc::new(AtomicBool::new(true));
        let last = Arc::new(Mutex::new(None));
        let (root, name, on2, last2) = (root.to_path_buf(), name.to_string(), on.clone(), last.clone());
        write_segment(&root, &name, &last2);
        std::thread::spawn(move || {
            while !quit.load(Ordering::Relaxed) {
                if on2.load(Ordering::Relaxed) {
                    write_segment(&root, &name, &last2);
                }
                std::thread::sleep(Duration::from_millis(1000));
            }
        });
        Camera { on, last }
    }

    /// Stops writing; the newest time the daemon can know of it (the last
    /// file's mtime, which is not before the time in its name).
    fn stop(&self) -> i64 {
        self.on.store(false, Ordering::Relaxed);
        // A write under way finishes first.
        std::thread::sleep(Duration::from_millis(50));
        let p = self.last.lock().unwrap().clone().unwrap();
        let m = std::fs::metadata(&p).unwrap();
        use std::os::unix::fs::MetadataExt;
        m.mtime()
    }

    fn resume(&self) {
        self.on.store(true, Ordering::Relaxed);
    }
}

fn write_segment(root: &Path, cam: &str, last: &Mutex<Option<PathBuf>>) {
    let t = chrono::Utc::now();
    let dir = root.join(t.format("%Y-%m-%d/%H").to_string()).join(cam);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(t.format("%M.%S.mp4").to_string());
    std::fs::write(&p, vec![7u8; 4096]).unwrap();
    *last.lock().unwrap() = Some(p);
}

/// The raised alarms (kind, subject, text) in `status --json`.
fn alarms(policy: &Path) -> Vec<(String, String, String)> {
    let o = retentionctl(&["--config", policy.to_str().unwrap(), "--json", "status"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["alarms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let f = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (f("kind"), f("subject"), f("text"))
        })
        .collect()
}

fn stalled(policy: &Path, subject: &str) -> Option<String> {
    alarms(policy)
        .into_iter()
        .find(|(k, s, _)| k == "recording-stalled" && s == subject)
        .map(|(_, _, t)| t)
}

/// Waits for the alarm on `subject`; its text and when it was first seen.
fn wait_stalled(policy: &Path, subject: &str, secs: u64) -> (String, f64) {
    let mut text = None;
    wait_until(&format!("recording-stalled for {subject}"), secs, || {
        text = stalled(policy, subject);
        text.is_some()
    });
    (text.unwrap(), now_f())
}

fn now_f() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The value of the metric line starting `name{` that carries every label of `labels`.
fn metric(file: &Path, name: &str, labels: &[&str]) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string)
}

#[test]
fn a_stopped_camera_raises_recording_stalled_within_one_sweep_and_clears_when_it_records() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("frigate");
    let state = dir.path().join("state");
    let socket = dir.path().join("control.sock");
    let prom = dir.path().join("retentiond.prom");
    std::fs::create_dir_all(&root).unwrap();
    let policy = dir.path().join("policy.toml");
    // The alarm hook: a real script appending what it was told.
    let told = dir.path().join("told.log");
    let hook = dir.path().join("alarm-hook");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$RETENTIOND_ALARM_KIND\" \"$RETENTIOND_ALARM_SUBJECT\" \"$RETENTIOND_ALARM_STATE\" >> '{}'\n",
            told.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        &policy,
        format!(
            "[daemon]\nstate_dir = \"{s}\"\naudit_log = \"{s}/audit.jsonl\"\ncontrol_socket = \"{}\"\n\
             sweep_interval = \"{SWEEP}s\"\nmetrics_file = \"{}\"\n\n\
             [alarms]\ncommand = \"{}\"\n\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\nlayout = \"frigate\"\nmin_age = \"1d\"\nmax_age = \"7d\"\n\
             stall_after = \"{STALL_AFTER}s\"\n",
            socket.display(),
            prom.display(),
            hook.display(),
            root.display(),
            s = state.display(),
        ),
    )
    .unwrap();
    let quit = Arc::new(AtomicBool::new(false));
    let cam01 = Camera::start(&root, "cam01", quit.clone());
    let _cam02 = Camera::start(&root, "cam02", quit.clone());
    let mut daemon = Daemon::start(&policy, &socket);
    let p = policy.as_path();

    // Both record: the metric follows each camera, no alarm.
    wait_until("the sources' metrics", 15, || {
        metric(
            &prom,
            "retentiond_source_newest_timestamp_seconds",
            &["source=\"cam02\"", "zone=\"cctv\""],
        )
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|t| t >= now() - 3)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        alarms(p).iter().all(|(k, ..)| k != "recording-stalled"),
        "{:?}",
        alarms(p)
    );

    // cam01 stops: raised within one sweep of stall_after, not before.
    let last = cam01.stop();
    let stopped = Instant::now();
    let (why, seen) = wait_stalled(p, "cctv/cam01", 20);
    let after = seen - last as f64;
    // Stalled once older than stall_after (whole seconds); seen at the
    // first sweep after that, give or take the status request's latency.
    assert!(after > STALL_AFTER as f64, "raised {after:.1}s after the last segment");
    assert!(
        after <= (STALL_AFTER + 1 + SWEEP) as f64 + 1.0,
        "raised {after:.1}s after the last segment, stall_after {STALL_AFTER}s, sweeps every {SWEEP}s"
    );
    eprintln!(
        "recording-stalled seen {after:.1}s after the last segment ({:.1}s after the camera stopped)",
        stopped.elapsed().as_secs_f64()
    );
    assert!(why.contains("source cam01 of zone cctv"), "{why}");
    assert!(why.contains(&format!("since {}", utc(last))), "{why}");
    assert!(stalled(p, "cctv/cam02").is_none(), "{:?}", alarms(p));
    let raised = audit_records(&state.join("audit.jsonl"))
        .into_iter()
        .find(|r| r["action"] == "alarm" && r["kind"] == "recording-stalled" && r["subject"] == "cctv/cam01")
        .expect("an alarm record");
    assert_eq!(raised["state"], "raised");
    assert!(raised["text"].as_str().unwrap().contains(&utc(last)), "{raised}");
    wait_until("the alarm in the metrics", 5, || {
        metric(
            &prom,
            "retentiond_alarm",
            &["kind=\"recording-stalled\"", "subject=\"cctv/cam01\""],
        )
        .as_deref()
            == Some("1")
    });
    assert_eq!(
        metric(
            &prom,
            "retentiond_source_newest_timestamp_seconds",
            &["source=\"cam01\""]
        ),
        Some(last.to_string())
    );

    // The alarm hook ran on the raise.
    wait_until("the alarm hook on the raise", 10, || {
        std::fs::read_to_string(&told)
            .unwrap_or_default()
            .contains("recording-stalled|cctv/cam01|raised")
    });

    // It records again: cleared, in status and the audit log, and the hook told.
    cam01.resume();
    wait_until("recording-stalled to clear", 10, || stalled(p, "cctv/cam01").is_none());
    assert!(audit_records(&state.join("audit.jsonl"))
        .iter()
        .any(|r| r["action"] == "alarm" && r["subject"] == "cctv/cam01" && r["state"] == "cleared"));
    wait_until("the alarm hook on the clear", 10, || {
        std::fs::read_to_string(&told)
            .unwrap_or_default()
            .contains("recording-stalled|cctv/cam01|cleared")
    });

    // A recording camera cannot be acknowledged; nor a source that is not there.
    let ctl = |args: &[&str]| {
        let mut a = vec!["--config", p.to_str().unwrap()];
        a.extend_from_slice(args);
        retentionctl(&a)
    };
    let o = ctl(&["alarm", "ack", "recording-stalled", "cctv/cam02", "--reason", "x"]);
    assert!(
        !o.status.success() && text_of(&o).contains("not stalled"),
        "{}",
        text(&o)
    );
    let o = ctl(&["alarm", "ack", "recording-stalled", "cctv/cam99", "--reason", "x"]);
    assert!(
        !o.status.success() && text_of(&o).contains("cctv/cam01, cctv/cam02"),
        "{}",
        text(&o)
    );

    // Retired on purpose: acknowledged, silent across a restart.
    cam01.stop();
    wait_stalled(p, "cctv/cam01", 20);
    let o = ctl(&[
        "alarm",
        "ack",
        "recording-stalled",
        "cctv/cam01",
        "--reason",
        "camera removed, ticket 112",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    wait_until("the acknowledged alarm to clear", 5, || {
        stalled(p, "cctv/cam01").is_none()
    });
    let ack = audit_records(&state.join("audit.jsonl"))
        .into_iter()
        .find(|r| r["action"] == "alarm-ack")
        .expect("an alarm-ack record");
    assert_eq!(ack["subject"], "cctv/cam01");
    assert_eq!(ack["reason"], "camera removed, ticket 112");
    assert_eq!(ack["uid"], nix::unistd::getuid().as_raw());
    daemon.stop_in_place();
    daemon = Daemon::start(&policy, &socket);
    std::thread::sleep(Duration::from_secs((STALL_AFTER + 2 * SWEEP) as u64));
    assert!(stalled(p, "cctv/cam01").is_none(), "{:?}", alarms(p));

    // It records again: the acknowledgement ends; stopped again, raised again.
    cam01.resume();
    std::thread::sleep(Duration::from_millis(2500));
    cam01.stop();
    wait_stalled(p, "cctv/cam01", 20);
    quit.store(true, Ordering::Relaxed);
    daemon.stop();
}

/// A Unix time as the daemon writes it: "2026-12-02T17:02:31Z".
fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn text_of(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A daemon stopped where it is kept (`Daemon::stop` consumes it).
trait StopInPlace {
    fn stop_in_place(&mut self);
}

impl StopInPlace for Daemon {
    fn stop_in_place(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}
