use super::*;
use nix::errno::Errno;
use serde_json::json;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::process::Command;
use std::time::Instant;

fn rec_fields(n: u64) -> Value {
    json!({
        "path": format!("/srv/nvr/cam{:02}/2026-11-23/15/{:02}.{:02}.mp4", n % 16, n % 60, n % 59),
        "bytes": 104_857_600 + n,
        "n": n,
    })
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("audit.jsonl")
}

fn small() -> AuditOptions {
    AuditOptions::default()
}

/// Appends `count` records and syncs.
fn fill(log: &mut AuditLog, count: u64) {
    for _ in 0..count {
        let n = log.seq + 1;
        log.append("delete", &rec_fields(n)).unwrap();
    }
    log.sync().unwrap();
}

fn is_zst(p: &Path) -> bool {
    p.as_os_str().as_bytes().ends_with(b".zst")
}

/// A segment's bytes, decompressed if it is a `.zst` one.
fn plain_bytes(p: &Path) -> Vec<u8> {
    let b = fs::read(p).unwrap();
    if is_zst(p) {
        zstd::decode_all(&b[..]).unwrap()
    } else {
        b
    }
}

fn file_lines(p: &Path) -> Vec<Vec<u8>> {
    plain_bytes(p)
        .split_inclusive(|&c| c == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Rewrites a segment (compressed again if it is a `.zst` one): what a
/// tamperer with root would do.
fn write_lines(p: &Path, lines: &[Vec<u8>]) {
    let b = lines.concat();
    if is_zst(p) {
        fs::write(p, zstd::encode_all(&b[..], 3).unwrap()).unwrap();
    } else {
        fs::write(p, b).unwrap();
    }
}

fn all_records(p: &Path) -> Vec<Record> {
    read_records(p).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

fn assert_chain(records: &[Record]) {
    let mut prev = hex::encode(ZERO_HASH);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "seq of {r:?}");
        assert_eq!(r.prev, prev, "prev of record {}", r.seq);
        prev = r.hash.clone();
    }
}

fn assert_ok(p: &Path) -> VerifyReport {
    let rep = verify(p).unwrap();
    assert!(rep.ok(), "{rep}");
    rep
}

#[test]
fn append_sync_reopen_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head(), (0, "0".repeat(64)));
    assert_eq!(log.append("delete", &rec_fields(1)).unwrap(), 1);
    assert_eq!(log.append("delete", &rec_fields(2)).unwrap(), 2);
    assert_eq!(log.pending(), 2);
    assert_eq!(log.head().0, 0, "not durable before sync");
    log.sync().unwrap();
    assert_eq!(log.pending(), 0);
    let head = log.head();
    assert_eq!(head.0, 2);
    assert_eq!(log.path(), p);
    drop(log);

    let mut log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head(), head);
    fill(&mut log, 3);
    assert_eq!(log.head().0, 5);
    let head = log.head();
    drop(log);

    let recs = all_records(&p);
    assert_eq!(recs.len(), 5);
    assert_chain(&recs);
    assert_eq!(recs[4].hash, head.1);
    assert_eq!(recs[0].action, "delete");
    assert_eq!(recs[0].fields, *rec_fields(1).as_object().unwrap());
    assert_eq!(recs[3].line, 4);
    assert_eq!(recs[3].file, p);
    // ts: RFC 3339 UTC with milliseconds.
    let ts = &recs[0].ts;
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    // Key order on the line: seq, ts, action, fields..., prev.
    let first = &file_lines(&p)[0];
    assert!(first.starts_with(b"{\"seq\":1,\"ts\":\""));
    let s = std::str::from_utf8(first).unwrap();
    assert!(s.contains("\",\"action\":\"delete\",\"bytes\":"), "{s}");
    assert!(s.ends_with(&format!(",\"prev\":\"{}\"}}\n", "0".repeat(64))), "{s}");

    let rep = assert_ok(&p);
    assert_eq!(rep.records, 5);
    assert_eq!(rep.last_seq, 5);
    assert_eq!(rep.last_hash, head.1);
    assert_eq!(rep.files, vec![p.clone()]);
    // The anchor names the last record and the live file.
    let a: Value = serde_json::from_slice(&fs::read(sibling(&p, ".head")).unwrap()).unwrap();
    assert_eq!(a, json!({"seq": 5, "hash": head.1, "file": "audit.jsonl"}));
}

#[test]
fn empty_log_verifies_and_unsynced_records_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    log.append("delete", &rec_fields(1)).unwrap();
    drop(log); // never synced
    assert_eq!(fs::metadata(&p).unwrap().len(), 0);
    let rep = assert_ok(&p);
    assert_eq!((rep.records, rep.last_seq), (0, 0));
    let log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head().0, 0);
}

#[test]
fn edited_middle_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 10);
    drop(log);
    let mut lines = file_lines(&p);
    let s = String::from_utf8(lines[4].clone()).unwrap();
    assert!(s.contains("\"n\":5,"));
    lines[4] = s.replace("\"n\":5,", "\"n\":7,").into_bytes(); // one byte
    write_lines(&p, &lines);

    let rep = verify(&p).unwrap();
    assert!(!rep.ok());
    let first = &rep.problems[0];
    assert_eq!(first.seq, Some(6), "{rep}");
    assert_eq!(first.line, 6);
    assert!(
        first.what.starts_with(
            "record 6's prev does not match the hash of record 5: record 5 (audit.jsonl line 5) was edited"
        ),
        "{}",
        first.what
    );
    assert_eq!(rep.problems.len(), 1, "{rep}");
    assert!(rep.to_string().contains("the first: "), "{rep}");
}

#[test]
fn line_broken_by_an_edit_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 10);
    drop(log);
    let mut lines = file_lines(&p);
    lines[2][0] = b'['; // no longer JSON
    write_lines(&p, &lines);
    let rep = verify(&p).unwrap();
    assert_eq!(rep.problems.len(), 1, "{rep}");
    assert_eq!(rep.problems[0].line, 3);
    assert!(rep.problems[0].what.contains("not a valid audit record"), "{rep}");
    // read_records reports the line and goes on.
    let all: Vec<_> = read_records(&p).unwrap().collect();
    assert_eq!(all.len(), 10);
    assert!(matches!(all[2], Err(AuditError::Corrupt { line: 3, .. })));
    assert!(all.iter().filter(|r| r.is_ok()).count() == 9);
}

#[test]
fn removed_middle_line_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 10);
    drop(log);
    let mut lines = file_lines(&p);
    lines.remove(4);
    write_lines(&p, &lines);
    let rep = verify(&p).unwrap();
    assert_eq!(rep.problems.len(), 1, "{rep}");
    assert_eq!(rep.problems[0].seq, Some(6));
    assert_eq!(rep.problems[0].what, "seq 6 follows 4: record 5 is missing");
    // Removing several.
    lines.drain(3..6);
    write_lines(&p, &lines);
    let rep = verify(&p).unwrap();
    assert_eq!(rep.problems[0].what, "seq 8 follows 3: records 4 to 7 are missing");
}

#[test]
fn removed_last_line_is_reported_and_open_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 10);
    drop(log);
    let mut lines = file_lines(&p);
    lines.pop();
    write_lines(&p, &lines);
    let rep = verify(&p).unwrap();
    assert_eq!(rep.problems.len(), 1, "{rep}");
    assert_eq!(
        rep.problems[0].what,
        "the log ends at seq 9 but its anchor says 10: records were removed from the end"
    );
    let before = fs::read(&p).unwrap();
    match AuditLog::open(&p, small()) {
        Err(AuditError::Inconsistent { what, .. }) => {
            assert!(what.contains("ends at seq 9 but its head anchor says 10"), "{what}");
            assert!(what.contains("retentionctl audit verify"), "{what}");
        }
        other => panic!("expected Inconsistent, got {other:?}"),
    }
    assert_eq!(fs::read(&p).unwrap(), before, "open must not modify");
    // Emptying the log entirely is caught too.
    fs::write(&p, b"").unwrap();
    assert!(matches!(
        AuditLog::open(&p, small()),
        Err(AuditError::Inconsistent { .. })
    ));
    assert!(!verify(&p).unwrap().ok());
}

#[test]
fn altered_last_record_or_anchor_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 4);
    drop(log);
    let mut lines = file_lines(&p);
    let s = String::from_utf8(lines[3].clone()).unwrap();
    lines[3] = s.replace("\"n\":4,", "\"n\":8,").into_bytes();
    write_lines(&p, &lines);
    let rep = verify(&p).unwrap();
    assert_eq!(rep.problems.len(), 1, "{rep}");
    assert!(rep.problems[0]
        .what
        .contains("record 4's hash does not match the head anchor"));
    let err = AuditLog::open(&p, small()).unwrap_err();
    assert!(
        err.to_string()
            .contains("record 4 does not match the hash in the head anchor"),
        "{err}"
    );

    // A missing anchor while records exist.
    fs::remove_file(sibling(&p, ".head")).unwrap();
    let rep = verify(&p).unwrap();
    assert!(
        rep.problems[0].what.contains("head anchor audit.jsonl.head is missing"),
        "{rep}"
    );
}

#[test]
fn torn_tail_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 5);
    drop(log);
    let torn = b"{\"seq\":6,\"ts\":\"2026-11-23T15:20:01.123Z\",\"action\":\"del";
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(torn).unwrap();
    drop(f);
    assert!(!verify(&p).unwrap().ok());

    let mut log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head().0, 6);
    let recs = all_records(&p);
    assert_chain(&recs);
    let r = &recs[5];
    assert_eq!(r.action, "repair");
    assert_eq!(r.fields["torn_bytes"], json!(torn.len()));
    assert_eq!(r.fields["torn_hex"], json!(hex::encode(torn)));
    assert!(r.fields["text"].as_str().unwrap().contains("crash"));
    assert_ok(&p);
    fill(&mut log, 2);
    drop(log);
    assert_ok(&p);

    // A complete but garbage last line (e.g. zeros from a lost write).
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"\0\0\0\0\0\0\n").unwrap();
    drop(f);
    let log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head().0, 9);
    let recs = all_records(&p);
    assert_chain(&recs);
    assert_eq!(recs[8].action, "repair");
    assert_eq!(recs[8].fields["torn_bytes"], json!(7));
    drop(log);
    assert_ok(&p);
}

#[test]
fn torn_first_write_of_a_new_log_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    fs::write(&p, b"{\"seq\":1,\"ts\"").unwrap();
    let log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head().0, 1);
    drop(log);
    let recs = all_records(&p);
    assert_eq!(recs[0].action, "repair");
    assert_eq!(recs[0].prev, "0".repeat(64));
    assert_ok(&p);
}

#[test]
fn unanchored_records_that_do_not_chain_are_cut() {
    // A crash can leave whole lines of a batch that never made it past
    // fdatasync; lines after the anchored record must chain or be cut.
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 3);
    drop(log);
    let good = fs::read(&p).unwrap();
    let mut lines = file_lines(&p);
    // A record that looks like seq 5 but does not chain after 3.
    let fake = String::from_utf8(lines[1].clone())
        .unwrap()
        .replace("{\"seq\":2,", "{\"seq\":5,")
        .into_bytes();
    lines.push(b"\0\0\0\0\n".to_vec());
    lines.push(fake);
    write_lines(&p, &lines);
    let log = AuditLog::open(&p, small()).unwrap();
    assert_eq!(log.head().0, 4);
    drop(log);
    let recs = all_records(&p);
    assert_chain(&recs);
    assert_eq!(recs[3].action, "repair");
    assert!(fs::read(&p).unwrap().starts_with(&good));
    assert_ok(&p);
}

fn rotate_many(p: &Path, total: u64, opts: AuditOptions) -> (AuditLog, Vec<PathBuf>) {
    let mut log = AuditLog::open(p, opts).unwrap();
    let mut rotated = Vec::new();
    while log.head().0 < total {
        fill(&mut log, 7);
        if let Some(r) = log.maybe_rotate().unwrap() {
            rotated.push(r);
        }
    }
    (log, rotated)
}

#[test]
fn rotation_keeps_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let opts = AuditOptions { rotate_bytes: 4096 };
    let (mut log, rotated) = rotate_many(&p, 150, opts);
    assert!(rotated.len() >= 3, "{rotated:?}");
    // Nothing rotates while records are pending.
    log.append("delete", &rec_fields(0)).unwrap();
    assert_eq!(log.maybe_rotate().unwrap(), None);
    log.sync().unwrap();
    let head = log.head();
    drop(log);

    let segs = segments(&p).unwrap();
    assert_eq!(segs.len(), rotated.len() + 1);
    assert_eq!(&segs[..rotated.len()], &rotated[..]);
    assert_eq!(segs.last().unwrap(), &p);
    let rep = assert_ok(&p);
    assert_eq!(rep.last_seq, head.0);
    assert_eq!(rep.files, segs);

    let recs = all_records(&p);
    assert_eq!(recs.len() as u64, head.0);
    assert_chain(&recs);
    // Rotated names carry their first seq; each file after the first
    // starts with "continue", each rotated one ends with "rotate".
    for (i, seg) in rotated.iter().enumerate() {
        let in_seg: Vec<Record> = read_segment(seg).unwrap().map(Result::unwrap).collect();
        let name = seg.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, format!("audit.jsonl.{:020}.zst", in_seg[0].seq));
        assert_eq!(in_seg.last().unwrap().action, "rotate");
        assert_eq!(in_seg.last().unwrap().fields["next_file"], json!("audit.jsonl"));
        if i > 0 {
            assert_eq!(in_seg[0].action, "continue");
        }
        assert!(in_seg.iter().all(|r| r.file == *seg));
    }
    let live: Vec<Record> = read_segment(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(live[0].action, "continue");
    // "from" names the file as rotated, before it was compressed.
    assert_eq!(
        format!("{}.zst", live[0].fields["from"].as_str().unwrap()),
        rotated.last().unwrap().file_name().unwrap().to_str().unwrap()
    );

    // Reopen continues after rotation.
    let mut log = AuditLog::open(&p, opts).unwrap();
    assert_eq!(log.head(), head);
    fill(&mut log, 3);
    drop(log);
    assert_ok(&p);
}

#[test]
fn tampering_inside_a_rotated_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let (log, rotated) = rotate_many(&p, 80, AuditOptions { rotate_bytes: 4096 });
    drop(log);
    assert!(rotated.len() >= 2);
    let seg = &rotated[0];
    let mut lines = file_lines(seg);
    let s = String::from_utf8(lines[2].clone()).unwrap();
    lines[2] = s.replace("\"n\":3,", "\"n\":4,").into_bytes();
    write_lines(seg, &lines);
    let rep = verify(&p).unwrap();
    assert_eq!(rep.problems.len(), 1, "{rep}");
    assert_eq!(rep.problems[0].file, *seg);
    assert!(
        rep.problems[0]
            .what
            .contains("record 3 (audit.jsonl.00000000000000000001.zst line 3) was edited"),
        "{rep}"
    );

    // Removing a whole rotated file in the middle breaks the chain between files.
    write_lines(seg, &file_lines(seg)); // (unchanged content)
    fs::remove_file(&rotated[1]).unwrap();
    let rep = verify(&p).unwrap();
    assert!(
        rep.problems.iter().any(|pr| pr
            .what
            .contains("does not chain to the end of audit.jsonl.00000000000000000001")),
        "{rep}"
    );
    // Removing the first rotated file: the log no longer starts at 1.
    fs::remove_file(seg).unwrap();
    let rep = verify(&p).unwrap();
    assert!(rep.problems[0].what.contains("the log starts at seq"), "{rep}");
}

/// Writes an anchor naming `seq` with its true hash.
fn set_anchor(p: &Path, seq: u64) {
    let r = all_records(p).into_iter().find(|r| r.seq == seq).unwrap();
    let a = json!({"seq": seq, "hash": r.hash, "file": "audit.jsonl"});
    fs::write(sibling(p, ".head"), a.to_string()).unwrap();
}

#[test]
fn rotated_files_are_compressed_and_crash_leftovers_tidied() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let opts = AuditOptions { rotate_bytes: 4096 };
    let (log, rotated) = rotate_many(&p, 80, opts);
    drop(log);
    assert!(rotated.len() >= 2 && rotated.iter().all(|r| is_zst(r)));
    let before = all_records(&p);
    // A crash after the .zst was renamed, before the plain file went: both.
    let plain0 = PathBuf::from(rotated[0].to_str().unwrap().trim_end_matches(".zst"));
    fs::write(&plain0, plain_bytes(&rotated[0])).unwrap();
    assert_eq!(segments(&p).unwrap()[0], rotated[0], "the complete .zst is read");
    // A crash between the rename and the compression: plain only.
    let plain1 = PathBuf::from(rotated[1].to_str().unwrap().trim_end_matches(".zst"));
    fs::write(&plain1, plain_bytes(&rotated[1])).unwrap();
    fs::remove_file(&rotated[1]).unwrap();
    assert_eq!(segments(&p).unwrap()[1], plain1);
    assert_eq!(
        all_records(&p),
        before
            .iter()
            .map(|r| Record {
                file: if r.file == rotated[1] {
                    plain1.clone()
                } else {
                    r.file.clone()
                },
                ..r.clone()
            })
            .collect::<Vec<_>>()
    );
    // The next open tidies both.
    drop(AuditLog::open(&p, opts).unwrap());
    assert!(!plain0.exists() && !plain1.exists() && rotated[1].exists());
    assert_eq!(all_records(&p).len(), before.len());
    assert_ok(&p);
}

#[test]
fn interrupted_rotation_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let opts = AuditOptions { rotate_bytes: 1000 };
    let mut log = AuditLog::open(&p, opts).unwrap();
    fill(&mut log, 10);
    let rotated = log.maybe_rotate().unwrap().unwrap();
    let head = log.head();
    drop(log);
    let rotate_seq = head.0 - 1;

    // Crash after the rename, before the new live file had its "continue".
    fs::remove_file(&p).unwrap();
    set_anchor(&p, rotate_seq);
    let log = AuditLog::open(&p, opts).unwrap();
    assert_eq!(log.head().0, rotate_seq + 1);
    drop(log);
    assert_ok(&p);
    assert_eq!(all_records(&p).len() as u64, rotate_seq + 1);

    // Crash after the "rotate" record was synced, before the rename.
    fs::remove_file(&p).unwrap();
    fs::write(&p, plain_bytes(&rotated)).unwrap();
    fs::remove_file(&rotated).unwrap();
    set_anchor(&p, rotate_seq);
    let log = AuditLog::open(&p, opts).unwrap();
    assert_eq!(log.head().0, rotate_seq + 1);
    drop(log);
    assert!(rotated.exists());
    assert_ok(&p);
    let live: Vec<Record> = read_segment(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].action, "continue");

    // But a live file removed after its records were anchored is tampering.
    fs::remove_file(&p).unwrap();
    let err = AuditLog::open(&p, opts).unwrap_err();
    assert!(matches!(err, AuditError::Inconsistent { .. }), "{err}");
}

#[test]
fn path_value_round_trips() {
    let odd = OsStr::from_bytes(b"cam\xff\xfe/01.mp4");
    let v = path_value(odd);
    assert_eq!(v, json!({"hex": hex::encode(b"cam\xff\xfe/01.mp4")}));
    assert_eq!(path_from_value(&v).unwrap(), odd);
    let nl = OsStr::new("cam1/evil\nname\".mp4");
    let v = path_value(nl);
    assert_eq!(v, json!("cam1/evil\nname\".mp4"));
    assert_eq!(path_from_value(&v).unwrap(), nl);
    assert_eq!(path_from_value(&json!(3)), None);
    assert_eq!(path_from_value(&json!({"hex": "zz"})), None);

    // Through the log, one line per record.
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    log.append("delete", &json!({"path": path_value(odd)})).unwrap();
    log.append("delete", &json!({"path": path_value(nl)})).unwrap();
    log.sync().unwrap();
    drop(log);
    assert_eq!(file_lines(&p).len(), 2);
    let recs = all_records(&p);
    assert_eq!(path_from_value(&recs[0].fields["path"]).unwrap(), odd);
    assert_eq!(path_from_value(&recs[1].fields["path"]).unwrap(), nl);
    assert_ok(&p);
}

#[test]
fn reserved_or_non_object_fields_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    for k in ["seq", "ts", "action", "prev"] {
        let err = log.append("delete", &json!({"path": "a", k: 1})).unwrap_err();
        assert!(matches!(err, AuditError::BadFields(_)), "{err}");
        assert!(err.to_string().contains(&format!("{k:?}")), "{err}");
    }
    assert!(matches!(
        log.append("delete", &json!(["a"])),
        Err(AuditError::BadFields(_))
    ));
    assert!(matches!(log.append("", &json!({})), Err(AuditError::BadFields(_))));
    assert_eq!(log.pending(), 0);
    assert_eq!(log.append("delete", &json!({})).unwrap(), 1);
}

#[test]
fn second_open_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let log = AuditLog::open(&p, small()).unwrap();
    let err = AuditLog::open(&p, small()).unwrap_err();
    match &err {
        AuditError::Busy { path } => assert_eq!(path, &p),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(err.to_string().contains("audit.jsonl.lock"), "{err}");
    drop(log);
    AuditLog::open(&p, small()).unwrap();
}

#[test]
fn failed_anchor_update_rolls_the_batch_back() {
    // The data write and fdatasync succeed, the anchor cannot be written:
    // the batch must still vanish entirely.
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 3);
    let head = log.head();
    let len = fs::metadata(&p).unwrap().len();
    fs::create_dir(sibling(&p, ".head.tmp")).unwrap();
    log.append("delete", &rec_fields(4)).unwrap();
    log.append("delete", &rec_fields(5)).unwrap();
    let err = log.sync().unwrap_err();
    assert!(matches!(err, AuditError::Io { op: "create", .. }), "{err}");
    assert_eq!(fs::metadata(&p).unwrap().len(), len);
    assert_eq!(log.head(), head);
    assert_eq!(log.pending(), 0);
    fs::remove_dir(sibling(&p, ".head.tmp")).unwrap();
    assert_eq!(log.append("delete", &rec_fields(4)).unwrap(), 4);
    log.sync().unwrap();
    drop(log);
    let recs = all_records(&p);
    assert_eq!(recs.len(), 4);
    assert_chain(&recs);
    assert_ok(&p);
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn sync_failure_on_a_full_disk_rolls_back() {
    if !nix::unistd::Uid::effective().is_root() {
        println!("note: skipping sync_failure_on_a_full_disk_rolls_back: needs root to mount a tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        println!("note: skipping sync_failure_on_a_full_disk_rolls_back: cannot mount a tmpfs here");
        return;
    }
    let _unmount = Unmount(mnt.clone());
    let p = mnt.join("audit.jsonl");
    let mut log = AuditLog::open(&p, small()).unwrap();
    fill(&mut log, 10);
    let head = log.head();
    let len = fs::metadata(&p).unwrap().len();

    // Fill the filesystem.
    let filler_path = mnt.join("filler");
    let mut filler = File::create(&filler_path).unwrap();
    let chunk = vec![0x55u8; 4096];
    let full = loop {
        if let Err(e) = filler.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(libc_enospc()), "{full}");

    for _ in 0..400 {
        log.append("delete", &rec_fields(0)).unwrap();
    }
    let err = log.sync().unwrap_err();
    println!("sync on a full disk: {err}");
    assert!(matches!(err, AuditError::Io { .. }), "{err}");
    let bytes = fs::read(&p).unwrap();
    assert_eq!(bytes.len() as u64, len, "the failed batch left bytes behind");
    assert_eq!(bytes.last(), Some(&b'\n'));
    assert_eq!(log.head(), head);
    assert_eq!(log.pending(), 0);
    assert_ok(&p);

    drop(filler);
    fs::remove_file(&filler_path).unwrap();
    fill(&mut log, 5);
    assert_eq!(log.head().0, head.0 + 5);
    drop(log);
    let recs = all_records(&p);
    assert_eq!(recs.len(), 15);
    assert_chain(&recs);
    assert_ok(&p);
}

fn libc_enospc() -> i32 {
    Errno::ENOSPC as i32
}

/// 300k appends of ~300-byte records with a sync every 2000.
/// Run with `cargo test --release --lib audit -- --ignored --nocapture`.
#[test]
#[ignore = "performance check; run in release mode"]
fn perf_300k_appends() {
    let dir = tempfile::tempdir().unwrap();
    let p = log_path(&dir);
    let mut log = AuditLog::open(&p, small()).unwrap();
    let fields: Vec<Value> = (0..16)
        .map(|i| {
            json!({
                "path": format!("/srv/nvr/recordings/zone-a/camera-{i:02}/2026-11-23/15/20.01.mp4"),
                "bytes": 104857600u64 + i,
                "mtime": "2026-11-09T15:20:01Z",
                "reason": "age: older than 14d in zone zone-a (policy rule 3)",
                "zone": "zone-a",
                "plan": 1234,
            })
        })
        .collect();
    let t = Instant::now();
    let mut in_sync = std::time::Duration::ZERO;
    for i in 0..300_000u64 {
        log.append("delete", &fields[(i % 16) as usize]).unwrap();
        if i % 2000 == 1999 {
            let s = Instant::now();
            log.sync().unwrap();
            in_sync += s.elapsed();
        }
    }
    log.sync().unwrap();
    let took = t.elapsed();
    let size = fs::metadata(&p).unwrap().len();
    println!(
        "300k appends + 150 syncs: {took:?}, of which {in_sync:?} in sync ({} bytes/record)",
        size / 300_000
    );
    drop(log);
    let t = Instant::now();
    let rep = verify(&p).unwrap();
    println!("verify of {} records: {:?}", rep.records, t.elapsed());
    assert!(rep.ok(), "{rep}");
    if !cfg!(debug_assertions) {
        assert!(took.as_secs_f64() < 1.0, "{took:?}");
    }
}
