//! Operator and auditor tools against a running daemon on a real tree:
//! status, find, erase, explain, audit show, with their roles.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};
use serde_json::Value;

const DAY: i64 = 86_400;

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    socket: PathBuf,
    policy: PathBuf,
    end: i64,
}

/// Zone `cctv` (Frigate layout, min 14d, max 28d) with 3 cameras x 31 days
/// of 10-minute segments, in a directory other users may enter.
fn env(roles: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let Cctv {
        root,
        state,
        socket,
        policy,
    } = cctv(tmp.path(), "sweep_interval = \"1h\"", roles);
    let end = now();
    a_month_of_footage(&root, end);
    Env {
        _tmp: tmp,
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

    /// Files on disk whose recording time is in [from, to] and whose path matches `cam`.
    fn on_disk(&self, from: i64, to: i64, cam: &str) -> Vec<PathBuf> {
        files(&self.root)
            .into_iter()
            .filter(|p| {
                let t = path_time(&self.root, p);
                t >= from && t <= to && p.to_str().unwrap().contains(cam)
            })
            .collect()
    }
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn start(e: &Env) -> Daemon {
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("sweep at", 1, 60);
    d
}

#[test]
fn status_shows_zones_filesystems_and_the_last_sweep() {
    let e = env("");
    let d = start(&e);
    let st = json(&e.ctl(&["--json", "status"]));
    let on_disk = files(&e.root);
    let z = &st["zones"][0];
    assert_eq!(z["name"], "cctv");
    assert_eq!(z["recordings"], on_disk.len() as u64, "{st:#}");
    assert_eq!(z["retention_state"], "within", "{st:#}");
    let ret = z["retention_secs"].as_i64().unwrap();
    assert!((27 * DAY..=28 * DAY).contains(&ret), "retention {ret}");
    let oldest_on_disk = on_disk.iter().map(|p| path_time(&e.root, p)).min().unwrap();
    assert_eq!(z["oldest"], rfc3339(oldest_on_disk).replace("+00:00", "Z"));
    let deleted = deletions(&e.state.join("audit.jsonl")).len() as u64;
    assert!(deleted > 0);
    assert_eq!(st["last_sweep"]["deleted"], deleted, "{st:#}");
    assert_eq!(st["last_sweep"]["by_reason"][0]["reason"], "max-age");
    let fs = &st["filesystems"][0];
    // 3 cameras x 144 segments x 4 KiB blocks a day.
    assert!(fs["recorded_last_24h"].as_u64().unwrap() > 0, "{fs:#}");
    assert!(fs["days_fit"].as_f64().unwrap() > 28.0, "{fs:#}");

    let t = e.ctl(&["status"]);
    let out = String::from_utf8_lossy(&t.stdout);
    assert!(t.status.success(), "{}", text(&t));
    assert!(out.starts_with("ZONE "), "{out}");
    assert!(
        out.contains("cctv") && out.contains("14d..28d") && out.contains("last sweep: "),
        "{out}"
    );
    // Days, or "> 1 year" on this test box's large disk: never 47768.6 days.
    assert!(
        out.contains("FITS") && (out.contains(" days") || out.contains("> 1 year")),
        "{out}"
    );
    drop(d);
}

#[test]
fn find_lists_a_range_with_its_holds_and_is_audited() {
    let e = env("");
    let d = start(&e);
    let from = (e.end - 3 * DAY) / 3600 * 3600;
    let to = from + 2 * 3600 - 1;
    let hold = json(&e.ctl(&[
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(from + 3599),
        "--case",
        "C-1",
        "--reason",
        "incident",
        "--for",
        "30d",
    ]));
    let found = json(&e.ctl(&[
        "--json",
        "find",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--reason",
        "access request DSAR-7",
    ]));
    let want = e.on_disk(from, to, "/cam01/");
    assert_eq!(want.len(), 12);
    let got: Vec<PathBuf> = found["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f["path"].as_str().unwrap()))
        .collect();
    let mut sorted = want.clone();
    sorted.sort_by_key(|p| path_time(&e.root, p));
    assert_eq!(got, sorted);
    let held: Vec<bool> = found["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["held_by"][0].as_str().is_some())
        .collect();
    assert_eq!(held.iter().filter(|h| **h).count(), 6, "the first hour is held");
    assert_eq!(
        found["files"][0]["held_by"][0],
        format!("hold {} (case C-1)", hold["id"]).as_str()
    );
    let rec = e
        .audit()
        .into_iter()
        .rfind(|r| r["action"] == "find")
        .expect("find audited");
    assert_eq!(rec["by"], "root");
    assert_eq!(rec["reason"], "access request DSAR-7");
    assert_eq!(rec["files"], 12);
    assert_eq!(rec["match"], "*/cam01/*");

    // --reason is required, a bad zone is named.
    let o = e.ctl(&["find", "--zone", "cctv", "--last", "1h"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = e.ctl(&["find", "--zone", "lobby", "--last", "1h", "--reason", "x"]);
    assert!(
        !o.status.success() && text(&o).contains("no zone \"lobby\""),
        "{}",
        text(&o)
    );
    drop(d);
}

#[test]
fn erase_refuses_held_ranges_and_records_each_deletion() {
    let e = env("");
    let d = start(&e);
    let from = (e.end - 5 * DAY) / 3600 * 3600;
    let to = from + 3599;
    json(&e.ctl(&[
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam02/*",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--case",
        "C-9",
        "--reason",
        "held",
        "--indefinite",
    ]));
    let before = files(&e.root).len();
    let o = e.ctl(&[
        "erase",
        "--zone",
        "cctv",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--reason",
        "recorded by mistake",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("nothing erased: 6 of the 18 recordings in range are held")
            && msg.contains("hold 1 (case C-9): 6 recordings"),
        "{msg}"
    );
    assert_eq!(files(&e.root).len(), before, "a refused erasure deletes nothing");

    // Without the held camera: erased, each file recorded with the request.
    let victims = e.on_disk(from, to, "/cam00/");
    assert_eq!(victims.len(), 6);
    let out = json(&e.ctl(&[
        "--json",
        "erase",
        "--zone",
        "cctv",
        "--match",
        "*/cam00/*",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--reason",
        "right to erasure, request E-42",
    ]));
    assert_eq!(out["deleted"], 6, "{out:#}");
    assert!(victims.iter().all(|p| !p.exists()));
    assert_eq!(files(&e.root).len(), before - 6);
    let recs = e.audit();
    let req = recs.iter().rfind(|r| r["action"] == "erase-request").unwrap();
    assert_eq!((req["by"].as_str(), req["files"].as_u64()), (Some("root"), Some(6)));
    let erased: Vec<&Value> = recs
        .iter()
        .filter(|r| r["action"] == "delete" && r["reason"] == "erasure")
        .collect();
    assert_eq!(erased.len(), 6);
    for r in &erased {
        assert!(
            r["text"]
                .as_str()
                .unwrap()
                .starts_with("erasure requested by root (uid 0): right to erasure, request E-42"),
            "{r}"
        );
        assert!(r["seq"].as_u64() > req["seq"].as_u64());
    }
    let v = retentiond::audit::verify(&e.state.join("audit.jsonl")).unwrap();
    assert!(v.ok(), "{v}");
    drop(d);
}

#[test]
fn explain_says_why_a_file_is_kept_due_or_gone() {
    let e = env("");
    let d = start(&e);
    let all = files(&e.root);
    let young = all.iter().find(|p| e.end - path_time(&e.root, p) < 2 * DAY).unwrap();
    let mid = all
        .iter()
        .find(|p| (20 * DAY..21 * DAY).contains(&(e.end - path_time(&e.root, p))))
        .unwrap();
    let out = json(&e.ctl(&["--json", "explain", young.to_str().unwrap()]));
    assert_eq!(out["state"], "kept", "{out:#}");
    let lines = out["explanation"].to_string();
    assert!(lines.contains("younger than the floor (min_age 14d)"), "{lines}");
    assert!(lines.contains("the next sweep keeps it"), "{lines}");
    let out = json(&e.ctl(&["--json", "explain", mid.to_str().unwrap()]));
    let lines = out["explanation"].to_string();
    assert!(
        lines.contains("past the floor (min_age 14d), before the ceiling (max_age 28d)"),
        "{lines}"
    );
    assert!(lines.contains("capacity queue: "), "{lines}");
    // Gone: the record that removed it.
    let (gone, _) = deletions(&e.state.join("audit.jsonl")).into_iter().next().unwrap();
    let t = e.ctl(&["explain", gone.to_str().unwrap()]);
    let txt = String::from_utf8_lossy(&t.stdout);
    assert!(t.status.success(), "{}", text(&t));
    assert!(
        txt.contains("deleted: record ") && txt.contains("reason max-age: older than max_age 28d"),
        "{txt}"
    );
    // Outside every zone.
    let o = e.ctl(&["explain", "/etc/passwd"]);
    assert!(
        !o.status.success() && text(&o).contains("is in no zone"),
        "{}",
        text(&o)
    );
    drop(d);
}

#[test]
fn audit_show_answers_why_footage_is_gone() {
    let e = env("");
    let d = start(&e);
    let (gone, _) = deletions(&e.state.join("audit.jsonl")).into_iter().next().unwrap();
    let rel = gone.strip_prefix(&e.root).unwrap().to_str().unwrap().to_string();
    let day_cam: Vec<&str> = rel.split('/').collect();
    let glob = format!("*/{}/*/{}/*", day_cam[0], day_cam[2]);
    let out = json(&e.ctl(&["--json", "audit", "show", "--action", "delete", "--path", &glob]));
    let recs = out["records"].as_array().unwrap();
    let want = deletions(&e.state.join("audit.jsonl"))
        .into_iter()
        .filter(|(p, _)| {
            let r = p.strip_prefix(&e.root).unwrap().to_str().unwrap().to_string();
            r.starts_with(day_cam[0]) && r.contains(&format!("/{}/", day_cam[2]))
        })
        .count();
    assert_eq!(recs.len(), want, "{out:#}");
    assert!(recs
        .iter()
        .all(|r| r["action"] == "delete" && r["reason"] == "max-age" && r["zone"] == "cctv"));
    let out = json(&e.ctl(&["--json", "audit", "show", "--action", "policy-load", "--since", "1h"]));
    assert_eq!(out["matched"], 1, "{out:#}");
    let out = json(&e.ctl(&["--json", "audit", "show", "--reason", "capacity"]));
    assert_eq!(out["matched"], 0);
    let out = json(&e.ctl(&["--json", "audit", "show", "--action", "delete", "--limit", "5"]));
    assert_eq!(out["records"].as_array().unwrap().len(), 5);
    assert_eq!(out["truncated"], true);
    let t = e.ctl(&["audit", "show", "--action", "policy-load"]);
    let txt = String::from_utf8_lossy(&t.stdout);
    assert!(
        txt.starts_with("#1 ") && txt.contains(" policy-load ") && txt.contains("1 of "),
        "{txt}"
    );
    drop(d);
}

#[test]
fn roles_gate_the_operator_tools() {
    let Some(users) = users() else { return };
    let roles = "[roles]\nviewers = \"rdtest-viewers\"\noperators = \"rdtest-operators\"\nsupervisors = \"rdtest-supervisors\"\n";
    let e = env(roles);
    let d = start(&e);
    let (viewer, operator, sup, nobody) = (
        users["rdtest-viewer"],
        users["rdtest-operator"],
        users["rdtest-super"],
        users["rdtest-nobody"],
    );
    let as_ = |uid: u32, args: &[&str]| retentionctl_as(uid, &e.socket, args);
    let denied = |o: Output, what: &str, group: &str| {
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let want = format!("permission denied: {what} needs group {group}");
        assert!(text(&o).contains(&want), "want {want:?} in {}", text(&o));
    };
    let any = files(&e.root).into_iter().next().unwrap();
    let range = ["--zone", "cctv", "--last", "2h", "--reason", "test"];
    let cmd = |c: &'static str| -> Vec<&str> {
        let mut v = vec![c];
        v.extend_from_slice(&range);
        v
    };
    // Nobody: nothing.
    denied(as_(nobody, &["status"]), "status", "rdtest-viewers");
    denied(as_(nobody, &cmd("find")), "find", "rdtest-viewers");
    denied(
        as_(nobody, &["explain", any.to_str().unwrap()]),
        "explain",
        "rdtest-viewers",
    );
    denied(as_(nobody, &["audit", "show"]), "audit show", "rdtest-viewers");
    denied(as_(nobody, &["report"]), "report", "rdtest-viewers");
    // Viewers: status, find, explain, audit show; not erase.
    for args in [
        vec!["status"],
        cmd("find"),
        vec!["explain", any.to_str().unwrap()],
        vec!["audit", "show", "--limit", "3"],
        vec!["report", "--since", "1d"],
    ] {
        let o = as_(viewer, &args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    denied(as_(viewer, &cmd("erase")), "erase", "rdtest-supervisors");
    denied(as_(operator, &cmd("erase")), "erase", "rdtest-supervisors");
    let before = files(&e.root).len();
    let o = as_(sup, &cmd("erase"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(files(&e.root).len() < before);
    let finds = e.audit().into_iter().filter(|r| r["action"] == "find").count();
    assert_eq!(finds, 1, "only the viewer's find ran and was audited");
    let req = e.audit().into_iter().rfind(|r| r["action"] == "erase-request").unwrap();
    assert_eq!(req["by"], "rdtest-super");
    drop(d);
}

#[test]
fn export_copies_a_hold_with_a_manifest_and_verify_catches_tampering() {
    let e = env("");
    let d = start(&e);
    let from = (e.end - 4 * DAY) / 3600 * 3600;
    let hold = json(&e.ctl(&[
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(from + 3599),
        "--case",
        "POL-77",
        "--reason",
        "theft",
        "--for",
        "30d",
    ]));
    let id = hold["id"].to_string();
    let media = e._tmp.path().join("usb");
    std::fs::create_dir(&media).unwrap();
    let out = json(&e.ctl(&[
        "--json",
        "export",
        "--hold",
        &id,
        "--to",
        media.to_str().unwrap(),
        "--reason",
        "handed to officer 4711",
    ]));
    assert_eq!(out["files"], 6, "{out:#}");
    let sources = e.on_disk(from, from + 3599, "/cam01/");
    for src in &sources {
        let copy = media.join("cctv").join(src.strip_prefix(&e.root).unwrap());
        assert_eq!(std::fs::read(src).unwrap(), std::fs::read(&copy).unwrap());
        let (a, b) = (std::fs::metadata(src).unwrap(), std::fs::metadata(&copy).unwrap());
        assert_eq!(a.modified().unwrap(), b.modified().unwrap(), "times kept");
    }
    let manifest: Value = serde_json::from_slice(&std::fs::read(media.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["hold"]["case"], "POL-77");
    assert_eq!(manifest["exported_by"], "root");
    assert_eq!(manifest["reason"], "handed to officer 4711");
    assert_eq!(manifest["files"].as_array().unwrap().len(), 6);
    assert_eq!(manifest["files"][0]["sha256"].as_str().unwrap().len(), 64);
    let recs = e.audit();
    let open = recs.iter().find(|r| r["action"] == "export").unwrap();
    assert_eq!((open["by"].as_str(), open["files"].as_u64()), (Some("root"), Some(6)));
    let done = recs.iter().find(|r| r["action"] == "export-done").unwrap();
    assert_eq!(done["manifest_sha256"], out["manifest_sha256"]);
    // `sha256sum -c` agrees with the manifest digest file.
    let c = std::process::Command::new("sha256sum")
        .arg("-c")
        .arg("MANIFEST.json.sha256")
        .current_dir(&media)
        .output()
        .unwrap();
    assert!(c.status.success(), "{c:?}");

    let verify = |m: &std::path::Path| e.ctl(&["export", "verify", m.to_str().unwrap()]);
    let ok = verify(&media);
    assert!(ok.status.success(), "{}", text(&ok));
    let t = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        t.contains(": OK (6 files match") && t.contains("recorded in the audit log: record"),
        "{t}"
    );
    // A refused second export into the same directory.
    let again = e.ctl(&[
        "export",
        "--hold",
        &id,
        "--to",
        media.to_str().unwrap(),
        "--reason",
        "again",
    ]);
    assert!(
        !again.status.success() && text(&again).contains("already holds an export"),
        "{}",
        text(&again)
    );

    // Tamper with one copied byte: caught, named.
    let victim = media.join("cctv").join(sources[2].strip_prefix(&e.root).unwrap());
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();
    let bad = verify(&media);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let t = String::from_utf8_lossy(&bad.stdout).to_string();
    let rel = victim.strip_prefix(&media).unwrap().display().to_string();
    assert!(
        t.contains("BROKEN") && t.contains(&format!("{rel}: content differs from the manifest")),
        "{t}"
    );
    bytes[0] ^= 1;
    std::fs::write(&victim, &bytes).unwrap();
    assert!(verify(&media).status.success());
    // A forged manifest with a matching digest file: not in the audit log.
    let mut m = manifest.clone();
    m["reason"] = "something else".into();
    let text_m = serde_json::to_vec_pretty(&m).unwrap();
    std::fs::write(media.join("MANIFEST.json"), &text_m).unwrap();
    let bad = verify(&media);
    assert_eq!(bad.status.code(), Some(1));
    let t = String::from_utf8_lossy(&bad.stdout).to_string();
    assert!(t.contains("MANIFEST.json does not match MANIFEST.json.sha256"), "{t}");
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(&text_m));
    std::fs::write(media.join("MANIFEST.json.sha256"), format!("{digest}  MANIFEST.json\n")).unwrap();
    let bad = verify(&media);
    assert_eq!(bad.status.code(), Some(1));
    let t = String::from_utf8_lossy(&bad.stdout).to_string();
    assert!(
        t.contains("no export-done record in the audit log carries this manifest's digest"),
        "{t}"
    );
    // The original manifest back, and an extra file slipped in.
    let mut orig = serde_json::to_vec_pretty(&manifest).unwrap();
    orig.push(b'\n');
    std::fs::write(media.join("MANIFEST.json"), &orig).unwrap();
    std::fs::write(
        media.join("MANIFEST.json.sha256"),
        format!("{}  MANIFEST.json\n", out["manifest_sha256"].as_str().unwrap()),
    )
    .unwrap();
    assert!(verify(&media).status.success(), "{}", text(&verify(&media)));
    std::fs::write(media.join("cctv/planted.mp4"), b"x").unwrap();
    let bad = verify(&media);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("cctv/planted.mp4: not in the manifest"));
    drop(d);
}

#[test]
fn export_needs_supervisors_and_passes_files_the_caller_cannot_read() {
    let Some(users) = users() else { return };
    let roles = "[roles]\nviewers = \"rdtest-viewers\"\noperators = \"rdtest-operators\"\nsupervisors = \"rdtest-supervisors\"\n";
    let e = env(roles);
    let d = start(&e);
    let from = (e.end - 2 * DAY) / 3600 * 3600;
    json(&e.ctl(&[
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam00/*",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(from + 3599),
        "--case",
        "C-3",
        "--reason",
        "r",
        "--for",
        "30d",
    ]));
    // Only root may read the recordings; the supervisor gets them from the daemon.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&e.root, std::fs::Permissions::from_mode(0o700)).unwrap();
    let media = e._tmp.path().join("usb");
    std::fs::create_dir(&media).unwrap();
    let sup = users["rdtest-super"];
    nix::unistd::chown(&media, Some(nix::unistd::Uid::from_raw(sup)), None).unwrap();
    let args = [
        "export",
        "--hold",
        "1",
        "--to",
        media.to_str().unwrap(),
        "--reason",
        "police",
    ];
    for who in ["rdtest-viewer", "rdtest-operator"] {
        let o = retentionctl_as(users[who], &e.socket, &args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("permission denied: export needs group rdtest-supervisors"),
            "{}",
            text(&o)
        );
    }
    let o = retentionctl_as(sup, &e.socket, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("exported 6 recordings"),
        "{}",
        text(&o)
    );
    let o = retentionctl_as(sup, &e.socket, &["export", "verify", media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    drop(d);
}

/// Runs `retentiond --once` with the wall clock at `at` (libfaketime).
fn once_at(policy: &std::path::Path, at: i64) -> Output {
    let stamp = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .format("@%Y-%m-%d %H:%M:%S")
        .to_string();
    std::process::Command::new("faketime")
        .arg("-f")
        .arg(&stamp)
        .arg(env!("CARGO_BIN_EXE_retentiond"))
        .args(["--config", policy.to_str().unwrap(), "--once"])
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

#[test]
fn report_proves_past_days_retention_from_the_audit_log() {
    if std::process::Command::new("faketime")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: needs faketime (Debian package faketime; tests/run installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (root, state) = (tmp.path().join("cctv"), tmp.path().join("state"));
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nguard_share = \"100%\"\n\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"14d\"\nmax_age = \"28d\"\n\n\
             [[zone]]\nname = \"calls\"\npaths = [\"{}\"]\nmin_age = \"60d\"\nmax_age = \"60d\"\n",
            state.display(),
            tmp.path().join("ctl.sock").display(),
            root.display(),
            tmp.path().join("calls-unmounted").display()
        ),
    )
    .unwrap();
    // Footage up to ten days ago; the daemon then runs on three past days.
    let day0 = (now() - 10 * DAY) / DAY * DAY + 12 * 3600;
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 35.0,
            segment: 600,
            size: 10,
            end: day0,
        },
    )
    .unwrap();
    for k in 0..3 {
        let o = once_at(&policy, day0 + k * DAY);
        assert!(o.status.success(), "{}", text(&o));
    }
    // Day 3: a hold keeps footage past max_age; the report flags that day.
    let held_from = day0 - 26 * DAY + 3600; // kept by day 2 (max_age), past it by day 3
    let o = retentionctl(&[
        "--config",
        policy.to_str().unwrap(),
        "hold",
        "add",
        "--zone",
        "cctv",
        "--from",
        &rfc3339(held_from),
        "--to",
        &rfc3339(held_from + 1800),
        "--case",
        "K-1",
        "--reason",
        "inquiry",
        "--indefinite",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = once_at(&policy, day0 + 3 * DAY);
    assert!(o.status.success(), "{}", text(&o));

    let since = rfc3339(day0 - 3600);
    let until = rfc3339(day0 + 4 * DAY);
    // Asked of the running daemon (which sweeps today, outside the period).
    let d = Daemon::start(&policy, &tmp.path().join("ctl.sock"));
    d.wait_for("sweep at", 1, 60);
    let rep = json(&retentionctl(&[
        "--config",
        policy.to_str().unwrap(),
        "--json",
        "report",
        "--since",
        &since,
        "--until",
        &until,
    ]));
    let days = rep["days"].as_array().unwrap();
    let cctv: Vec<&Value> = days.iter().filter(|d| d["zone"] == "cctv").collect();
    assert_eq!(cctv.len(), 4, "{rep:#}");
    // Deletions per day, as the audit log's delete records say.
    let recs = audit_records(&state.join("audit.jsonl"));
    for (k, row) in cctv.iter().enumerate() {
        let day = (day0 + k as i64 * DAY) / DAY;
        let want = recs
            .iter()
            .filter(|r| r["action"] == "delete")
            .filter(|r| {
                let ts = chrono::DateTime::parse_from_rfc3339(r["ts"].as_str().unwrap())
                    .unwrap()
                    .timestamp();
                ts.div_euclid(DAY) == day
            })
            .count() as i64;
        assert!(want > 0);
        assert_eq!(row["deleted"]["max-age"].as_i64(), Some(want), "day {k}: {row:#}");
        assert_eq!(row["samples"], 1);
        assert_eq!(row["max_age_secs"], 28 * DAY);
    }
    for row in &cctv[..3] {
        assert_eq!(row["status"], "within", "{row:#}");
        let max = row["retention_max_secs"].as_i64().unwrap();
        assert!((28 * DAY - 3600..=28 * DAY).contains(&max), "{row:#}");
    }
    assert_eq!(cctv[3]["status"], "flagged", "{:#}", cctv[3]);
    assert!(
        cctv[3]["flags"][0].as_str().unwrap().starts_with("kept past max_age"),
        "{:#}",
        cctv[3]
    );
    assert_eq!(cctv[3]["holds_placed"], 0, "the hold was placed on the real today");
    // The calls zone's root is missing: empty days, and its alarm with its duration.
    let calls: Vec<&Value> = days.iter().filter(|d| d["zone"] == "calls").collect();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|d| d["status"] == "empty"), "{rep:#}");
    let alarm = &rep["alarms"][0];
    assert_eq!(alarm["kind"], "root-unavailable", "{rep:#}");
    let raised = chrono::DateTime::parse_from_rfc3339(alarm["raised"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!(
        (day0..day0 + 120).contains(&raised),
        "raised by the first run: {alarm:#}"
    );
    assert!(
        alarm["cleared"].is_null() && alarm["duration_secs"].as_i64().unwrap() >= 4 * DAY - 3600,
        "{alarm:#}"
    );

    // Text and CSV forms.
    let t = retentionctl(&[
        "--config",
        policy.to_str().unwrap(),
        "report",
        "--since",
        &since,
        "--until",
        &until,
    ]);
    let txt = String::from_utf8_lossy(&t.stdout).to_string();
    assert!(
        txt.contains("DATE") && txt.contains("within") && txt.contains("! kept past max_age"),
        "{txt}"
    );
    let c = retentionctl(&[
        "--config",
        policy.to_str().unwrap(),
        "report",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "csv",
    ]);
    let csv = String::from_utf8_lossy(&c.stdout).to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with(
            "date,zone,retention_min_secs,retention_max_secs,min_age_secs,max_age_secs,samples,status,deleted_max_age"
        ),
        "{csv}"
    );
    assert_eq!(lines.len(), 9, "{csv}");
    assert!(
        lines.iter().any(|l| l.contains(",cctv,") && l.contains(",within,")),
        "{csv}"
    );
    drop(d);
}

#[test]
fn metrics_file_for_node_exporter() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, state, socket) = (
        tmp.path().join("cctv"),
        tmp.path().join("state"),
        tmp.path().join("ctl.sock"),
    );
    let prom = tmp.path().join("textfile/retentiond.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nsweep_interval = \"1h\"\nmetrics_file = \"{}\"\n\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"14d\"\nmax_age = \"28d\"\n\n\
             [[zone]]\nname = \"calls\"\npaths = [\"{}\"]\nmin_age = \"60d\"\nmax_age = \"60d\"\n",
            state.display(),
            socket.display(),
            prom.display(),
            root.display(),
            tmp.path().join("calls-missing").display()
        ),
    )
    .unwrap();
    let end = now();
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 30.0,
            segment: 600,
            size: 100,
            end,
        },
    )
    .unwrap();
    let from = (end - 29 * DAY) / 3600 * 3600;
    let o = retentionctl(&[
        "--config",
        policy.to_str().unwrap(),
        "hold",
        "add",
        "--zone",
        "cctv",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(from + 3599),
        "--case",
        "M-1",
        "--reason",
        "r",
        "--for",
        "30d",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let d = Daemon::start(&policy, &socket);
    d.wait_for("sweep at", 1, 60);
    let t0 = std::time::Instant::now();
    while !prom.exists() {
        assert!(t0.elapsed().as_secs() < 10, "no metrics file");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&prom).unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let left = files(&root).len() as f64;
    assert_eq!(value("retentiond_zone_recordings{zone=\"cctv\"}"), left);
    let deleted = deletions(&state.join("audit.jsonl")).len() as f64;
    assert!(deleted > 0.0);
    assert_eq!(
        value("retentiond_deleted_recordings_total{reason=\"max-age\",zone=\"cctv\"}"),
        deleted
    );
    assert_eq!(value("retentiond_holds_active"), 1.0);
    // The hold keeps its hour (12 segments of 4 KiB blocks) past max_age.
    assert_eq!(value("retentiond_zone_held_bytes{zone=\"cctv\"}"), 12.0 * 4096.0);
    let age = value("retentiond_zone_oldest_age_seconds{zone=\"cctv\"}");
    assert!(age > 28.0 * DAY as f64, "the held hour is the oldest: {age}");
    assert!(text.contains("retentiond_alarm{kind=\"root-unavailable\""), "{text}");
    assert!((value("retentiond_last_success_timestamp_seconds") - now() as f64).abs() < 120.0);
    assert!(
        text.contains("# TYPE retentiond_deleted_recordings_total counter"),
        "{text}"
    );
    assert!(text.contains("# TYPE retentiond_filesystem_used_ratio gauge"), "{text}");
    assert!(!text.contains("# EOF"), "classic text format, not OpenMetrics");
    // No temporary files left beside it.
    assert_eq!(std::fs::read_dir(prom.parent().unwrap()).unwrap().count(), 1);
    drop(d);
}

#[test]
fn without_the_daemon_root_finds_and_anyone_reads_status() {
    let e = env("");
    // No daemon: served from the state directory.
    let st = json(&e.ctl(&["--json", "status"]));
    assert_eq!(st["zones"][0]["recordings"], files(&e.root).len() as u64, "{st:#}");
    assert!(st["last_sweep"].is_null());
    let from = (e.end - 3 * DAY) / 3600 * 3600;
    let found = json(&e.ctl(&[
        "--json",
        "find",
        "--zone",
        "cctv",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(from + 3599),
        "--reason",
        "offline request",
    ]));
    assert_eq!(found["count"], 18);
    let rec = e
        .audit()
        .into_iter()
        .rfind(|r| r["action"] == "find")
        .expect("audited offline too");
    assert_eq!(rec["reason"], "offline request");
    let media = e._tmp.path().join("usb");
    std::fs::create_dir(&media).unwrap();
    let o = e.ctl(&[
        "export",
        "--hold",
        "1",
        "--to",
        media.to_str().unwrap(),
        "--reason",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// `plan` and `explain` run the sweep's own pipeline with deletion switched
/// off, so they refuse what the sweep refuses: a hold naming a zone the
/// policy no longer has, and a root that is not on the filesystem it was.
#[test]
fn plan_and_explain_refuse_what_the_sweep_refuses() {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: changing holds without the daemon needs root");
        return;
    }
    let e = env("");
    // A first sweep learns the root's filesystem; 3 days are past max_age.
    let o = retentiond(&["--config", e.policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    // Make more footage due: the sweep deleted what was past 28 days.
    let text_of = std::fs::read_to_string(&e.policy)
        .unwrap()
        .replace("max_age = \"28d\"", "max_age = \"20d\"");
    std::fs::write(&e.policy, text_of).unwrap();
    let due = files(&e.root)
        .into_iter()
        .find(|p| e.end - path_time(&e.root, p) > 25 * DAY)
        .unwrap();
    let out = json(&e.ctl(&["--json", "explain", due.to_str().unwrap()]));
    assert_eq!(out["state"], "due", "{out:#}");

    // 1. The root is no longer the filesystem it was (a swapped mount).
    let roots = e.state.join("roots.json");
    let mut ids: Value = serde_json::from_slice(&std::fs::read(&roots).unwrap()).unwrap();
    for (_, id) in ids.as_object_mut().unwrap() {
        id["fsid"] = Value::from(id["fsid"].as_u64().unwrap() ^ 1);
    }
    std::fs::write(&roots, serde_json::to_vec(&ids).unwrap()).unwrap();
    let plan = json(&e.ctl(&["--json", "plan", "--summary"]));
    assert_eq!(plan["delete"]["files"], 0, "{plan:#}");
    assert!(
        plan["root_errors"][0]
            .as_str()
            .unwrap()
            .contains("is not the filesystem it was"),
        "{plan:#}"
    );
    let t = e.ctl(&["plan"]);
    assert!(
        String::from_utf8_lossy(&t.stdout).contains("refused, root skipped"),
        "{}",
        text(&t)
    );
    let out = json(&e.ctl(&["--json", "explain", due.to_str().unwrap()]));
    assert_eq!(out["state"], "refused", "{out:#}");
    assert!(
        out["refused"].as_str().unwrap().contains("its root is skipped"),
        "{out:#}"
    );
    let before = files(&e.root).len();
    let o = retentiond(&["--config", e.policy.to_str().unwrap(), "--once"]);
    assert_eq!(
        files(&e.root).len(),
        before,
        "the sweep deletes nothing there either: {}",
        text(&o)
    );
    std::fs::remove_file(&roots).unwrap();

    // 2. A hold names a zone the policy no longer has.
    let o = e.ctl(&[
        "hold",
        "add",
        "--zone",
        "cctv",
        "--case",
        "C-1",
        "--reason",
        "investigation",
        "--from",
        "2020-01-01T00:00:00Z",
        "--to",
        "2020-01-02T00:00:00Z",
        "--indefinite",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let text_of = std::fs::read_to_string(&e.policy)
        .unwrap()
        .replace("name = \"cctv\"", "name = \"lobby\"");
    std::fs::write(&e.policy, text_of).unwrap();
    let p = e.ctl(&["plan"]);
    assert!(!p.status.success(), "{}", text(&p));
    assert!(
        text(&p).contains("refused") && text(&p).contains("names zone \"cctv\""),
        "{}",
        text(&p)
    );
    let out = json(&e.ctl(&["--json", "explain", due.to_str().unwrap()]));
    assert_eq!(out["state"], "refused", "{out:#}");
    let o = retentiond(&["--config", e.policy.to_str().unwrap(), "--once"]);
    assert!(
        !o.status.success() && text(&o).contains("names zone \"cctv\""),
        "{}",
        text(&o)
    );
    assert_eq!(files(&e.root).len(), before, "the sweep refuses too");
}

/// Syscalls `pid` (and its threads) makes while `f` runs, as strace
/// prints them (`-e trace=…`); None without strace or ptrace rights.
fn traced<T>(pid: u32, calls: &str, f: impl FnOnce() -> T) -> Option<(T, String)> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace");
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-e", &format!("trace={calls}"), "-o"])
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    // strace reports each thread it attaches to on stderr ("Process N
    // attached"): the first says it is tracing.
    let mut err = std::io::BufReader::new(strace.stderr.take().unwrap());
    let mut first = String::new();
    let _ = std::io::BufRead::read_line(&mut err, &mut first);
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    std::thread::sleep(std::time::Duration::from_millis(300));
    if strace.try_wait().ok().flatten().is_some() {
        return None;
    }
    let r = f();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(strace.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = strace.wait();
    Some((r, std::fs::read_to_string(&out).unwrap_or_default()))
}

#[test]
fn plan_streams_every_file_and_the_daemon_takes_no_walk_for_it() {
    let e = env("");
    // The daemon's first sweep keeps everything (held); then the hold goes,
    // and the plan is made from the inventory that sweep took.
    let o = e.ctl(&[
        "hold",
        "add",
        "--zone",
        "cctv",
        "--case",
        "C-1",
        "--reason",
        "keep it all for now",
        "--from",
        "2000-01-01T00:00:00Z",
        "--to",
        "2100-01-01T00:00:00Z",
        "--indefinite",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let d = start(&e);
    let o = e.ctl(&["hold", "release", "1", "--reason", "done"]);
    assert!(o.status.success(), "{}", text(&o));
    let total = json(&e.ctl(&["--json", "plan", "--summary"]))["delete"]["files"]
        .as_u64()
        .unwrap();
    assert!(total > 1000, "3 days past max_age: {total}");
    let lines = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("would delete "))
            .count() as u64
    };

    // By default the first 1000, and it says so; --limit N the first N.
    let o = e.ctl(&["plan"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lines(&o), 1000);
    assert!(
        text(&o).contains(&format!("1000 of the {total} files listed")),
        "{}",
        text(&o)
    );
    assert_eq!(lines(&e.ctl(&["plan", "--limit", "7"])), 7);

    // --all: every file, in text and (as one JSON object) in JSON.
    assert_eq!(lines(&e.ctl(&["plan", "--all"])), total);
    let all = json(&e.ctl(&["--json", "plan", "--all"]));
    let listed = all["files"].as_array().unwrap();
    assert_eq!((listed.len() as u64, all["listed"].as_u64()), (total, Some(total)));
    let paths: std::collections::BTreeSet<&str> = listed.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len() as u64, total, "each file once");
    assert!(paths.iter().all(|p| std::path::Path::new(p).exists()));
    let empty = json(&e.ctl(&["--json", "plan", "--limit", "0"]));
    assert_eq!(empty["files"].as_array().map(Vec::len), Some(0), "{empty:#}");

    // The daemon plans from the inventory it keeps: it reads the
    // directories of the due files (to re-check each), not the whole tree.
    let dirs = walkdir::WalkDir::new(&e.root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|x| x.file_type().is_dir())
        .count();
    let Some((o, trace)) = traced(d.child.id(), "getdents64", || e.ctl(&["plan", "--summary"])) else {
        eprintln!("skipped: strace cannot attach here");
        return;
    };
    assert!(o.status.success(), "{}", text(&o));
    let reads = trace.lines().filter(|l| l.contains("getdents64(")).count();
    eprintln!("plan in the daemon: {reads} getdents64 calls; the tree has {dirs} directories");
    assert!(
        reads < dirs / 2,
        "{reads} directory reads for a plan of a {dirs}-directory tree: a walk"
    );
    // Offline (the daemon stopped), retentionctl scans: the same answer.
    d.stop();
    let offline = json(&e.ctl(&["--json", "plan", "--summary"]));
    assert_eq!(offline["delete"]["files"].as_u64(), Some(total));
}

#[test]
fn find_answers_a_past_range_from_the_daemons_inventory_and_walks_for_a_recent_one() {
    let e = env("");
    let d = start(&e);
    let find = |from: i64, to: i64| {
        json(&e.ctl(&[
            "--json",
            "find",
            "--zone",
            "cctv",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--reason",
            "access request",
        ]))
    };
    let paths = |v: &Value| -> Vec<PathBuf> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| PathBuf::from(f["path"].as_str().unwrap()))
            .collect()
    };
    let sorted = |mut v: Vec<PathBuf>| {
        v.sort_by_key(|p| (path_time(&e.root, p), p.clone()));
        v
    };

    // A past hour (well before the first sweep's inventory): the files on
    // disk, and the daemon reads only that hour's directories.
    let from = (e.end - 5 * DAY) / 3600 * 3600;
    let to = from + 3599;
    let want = sorted(e.on_disk(from, to, ""));
    assert_eq!(want.len(), 18, "3 cameras x 6 segments");
    let dirs = walkdir::WalkDir::new(&e.root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|x| x.file_type().is_dir())
        .count();
    match traced(d.child.id(), "getdents64", || find(from, to)) {
        Some((found, trace)) => {
            assert_eq!(paths(&found), want);
            let reads = trace.lines().filter(|l| l.contains("getdents64(")).count();
            eprintln!("find of one past hour in the daemon: {reads} getdents64 calls; the tree has {dirs} directories");
            assert!(
                reads <= 4 * 3,
                "{reads} directory reads for one hour of 3 cameras in a {dirs}-directory tree: a walk"
            );
        }
        None => {
            eprintln!("strace cannot attach here: directory reads not counted");
            assert_eq!(paths(&find(from, to)), want);
        }
    }

    // A recording in a new camera directory, written after the last sweep:
    // a range that reaches it is walked, so it is found.
    let t = now() - 60;
    let day_hour = chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d/%H");
    let name = chrono::DateTime::from_timestamp(t, 0).unwrap().format("%M.%S.mp4");
    let new_dir = e.root.join(format!("{day_hour}/cam09"));
    std::fs::create_dir_all(&new_dir).unwrap();
    std::fs::write(new_dir.join(name.to_string()), b"late").unwrap();
    let recent = find(t - 1800, t + 1);
    let got = paths(&recent);
    assert!(got.contains(&new_dir.join(name.to_string())), "{recent:#}");
    assert_eq!(got, sorted(e.on_disk(t - 1800, t + 1, "")));

    // Offline, as root, the zone is walked: the same past hour.
    d.stop();
    if nix::unistd::getuid().is_root() {
        assert_eq!(paths(&find(from, to)), want);
    }
}
