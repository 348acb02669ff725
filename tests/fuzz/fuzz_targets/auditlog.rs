//! The audit log reader, verifier and opener (torn-tail repair) on any
//! file content: errors, never a panic; opening (and appending) never
//! breaks a log that verified before. (Open checks the tail and the head
//! anchor, not the whole chain: an edit in the middle is for `verify`.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use retentiond::audit::{read_segment, verify, AuditLog, AuditOptions};
use std::sync::OnceLock;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        tempfile::tempdir_in(base).unwrap()
    })
    .path()
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    for e in std::fs::read_dir(d).unwrap() {
        let _ = std::fs::remove_file(e.unwrap().path());
    }
    let log = d.join("audit.jsonl");
    std::fs::write(&log, data).unwrap();
    if let Ok(records) = read_segment(&log) {
        for r in records {
            if r.is_err() {
                break;
            }
        }
    }
    let was_ok = verify(&log).is_ok_and(|r| r.ok());
    if let Ok(mut a) = AuditLog::open(&log, AuditOptions::default()) {
        a.append("fuzz", &serde_json::json!({"text": "after open"})).unwrap();
        a.sync().unwrap();
        drop(a);
        if was_ok {
            let report = verify(&log).expect("an opened log verifies");
            assert!(report.ok(), "{report}");
        }
    }
});
