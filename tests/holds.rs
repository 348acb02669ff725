//! Legal holds end to end: every command, roles, lapse, restart, a corrupt
//! store, and holds placed while a sweep runs.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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
}

/// A zone `cctv` (Frigate layout, min 14d, max 28d) and a control socket,
/// in a directory other users may enter (for the role tests).
fn env(extra_daemon: &str, roles: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (root, state, socket) = (dir.join("cctv"), dir.join("state"), dir.join("run/control.sock"));
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nsweep_interval = \"1h\"\n{extra_daemon}\n{roles}\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"14d\"\nmax_age = \"28d\"\n",
            state.display(),
            socket.display(),
            root.display()
        ),
    )
    .unwrap();
    Env {
        _tmp: tmp,
        root,
        state,
        socket,
        policy,
    }
}

impl Env {
    fn ctl(&self, args: &[&str]) -> Output {
        let mut a = vec!["--config", self.policy.to_str().unwrap()];
        a.extend_from_slice(args);
        retentionctl(&a)
    }

    fn ctl_as(&self, uid: u32, args: &[&str]) -> Output {
        retentionctl_as(uid, &self.socket, args)
    }

    fn once(&self) -> Output {
        retentiond(&["--config", self.policy.to_str().unwrap(), "--once"])
    }

    fn audit(&self) -> Vec<Value> {
        audit_records(&self.state.join("audit.jsonl"))
    }
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// A 30-day-old hour of one camera, as (`--from`, `--to`, its files' rel prefix).
fn old_hour(end: i64, cam: u32, days_ago: i64) -> (String, String, String, i64) {
    let t = (end - days_ago * DAY) / 3600 * 3600;
    let d = chrono::DateTime::from_timestamp(t, 0).unwrap();
    (
        rfc3339(t),
        rfc3339(t + 3599),
        format!("{}/cam{cam:02}/", d.format("%Y-%m-%d/%H")),
        t,
    )
}

fn count_prefix(root: &Path, prefix: &str) -> usize {
    files(root)
        .iter()
        .filter(|p| p.strip_prefix(root).unwrap().to_str().unwrap().starts_with(prefix))
        .count()
}

#[test]
fn a_hold_keeps_its_footage_past_max_age_across_restarts_until_released_or_lapsed() {
    let e = env("", "");
    let end = now();
    frigate(
        &e.root,
        &TreeSpec {
            cams: 4,
            days: 31.0,
            segment: 600,
            size: 1,
            end,
        },
    )
    .unwrap();
    let (from, to, prefix, _) = old_hour(end, 3, 30);
    let (from2, to2, prefix2, _) = old_hour(end, 2, 30);
    assert_eq!(count_prefix(&e.root, &prefix), 6);

    // The daemon is not running: root writes the store directly, audited.
    let add = json(&e.ctl(&[
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam03/*",
        "--from",
        &from,
        "--to",
        &to,
        "--case",
        "POL-2026-1142",
        "--reason",
        "police request: incident at the entrance",
        "--for",
        "90d",
    ]));
    assert_eq!(add["id"], 1);
    assert_eq!(add["covered"]["files"], 6);
    let expires_at = now() + 15;
    let expires_soon = rfc3339(expires_at);
    let add2 = json(&e.ctl(&[
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam02/*",
        "--from",
        &from2,
        "--to",
        &to2,
        "--case",
        "C-2",
        "--reason",
        "complaint",
        "--expires",
        &expires_soon,
    ]));
    assert_eq!(add2["id"], 2);
    let o = e.ctl(&[
        "hold", "add", "--zone", "cctv", "--last", "2h", "--case", "X", "--reason", "r",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an expiry or --indefinite is required: {}",
        text(&o)
    );
    let o = e.ctl(&[
        "hold",
        "add",
        "--zone",
        "nope",
        "--last",
        "2h",
        "--case",
        "X",
        "--reason",
        "r",
        "--indefinite",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no zone \"nope\""),
        "{}",
        text(&o)
    );

    // The plan shows the held footage; a sweep keeps exactly it.
    let plan = e.ctl(&["plan", "--summary"]);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("held past max_age by hold 1 (case POL-2026-1142)"),
        "{}",
        text(&plan)
    );
    for _ in 0..2 {
        // Twice: a restart changes nothing.
        let o = e.once();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(count_prefix(&e.root, &prefix), 6);
        if now() < expires_at {
            assert_eq!(count_prefix(&e.root, &prefix2), 6);
        }
        for p in files(&e.root) {
            let rel = p.strip_prefix(&e.root).unwrap().to_str().unwrap().to_string();
            assert!(
                frigate_time(&rel) >= now() - 28 * DAY - 60 || rel.starts_with(&prefix) || rel.starts_with(&prefix2),
                "{rel}"
            );
        }
    }
    // Hold 2 lapses: the next sweep records it and deletes its footage, citing it.
    while now() <= expires_at {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let all = json(&e.ctl(&["--json", "hold", "list", "--all"]));
    assert_eq!(all.as_array().unwrap().len(), 2);
    let active = json(&e.ctl(&["--json", "hold", "list"]));
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert!(e.once().status.success());
    assert_eq!(count_prefix(&e.root, &prefix2), 0);
    assert_eq!(count_prefix(&e.root, &prefix), 6);
    let recs = e.audit();
    let lapse = recs
        .iter()
        .find(|r| r["action"] == "hold-lapse")
        .expect("lapse recorded");
    assert_eq!(lapse["hold"], 2);
    let cited: Vec<&Value> = recs
        .iter()
        .filter(|r| r["action"] == "delete" && r["former_hold"] == 2)
        .collect();
    assert_eq!(cited.len(), 6);
    assert!(cited[0]["text"]
        .as_str()
        .unwrap()
        .contains("was held by hold 2 (case C-2), lapsed"));

    // Extend, show, release (still without the daemon, as root).
    let ext = json(&e.ctl(&[
        "--json",
        "hold",
        "extend",
        "1",
        "--indefinite",
        "--reason",
        "investigation continues",
    ]));
    assert_eq!(ext["expires"], Value::Null);
    let show = e.ctl(&["hold", "show", "1"]);
    let out = String::from_utf8_lossy(&show.stdout);
    for want in [
        "POL-2026-1142",
        "police request",
        "*/cam03/*",
        "6 recordings",
        "by root",
        "indefinite",
        "investigation continues",
    ] {
        assert!(out.contains(want), "show has {want:?}: {out}");
    }
    json(&e.ctl(&["--json", "hold", "release", "1", "--reason", "case closed"]));
    let o = e.ctl(&["hold", "release", "1", "--reason", "again"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(e.once().status.success());
    assert_eq!(count_prefix(&e.root, &prefix), 0);
    let recs = e.audit();
    let cited: Vec<&Value> = recs
        .iter()
        .filter(|r| r["action"] == "delete" && r["former_hold"] == 1)
        .collect();
    assert_eq!(cited.len(), 6);
    assert!(
        cited[0]["text"].as_str().unwrap().contains("released")
            && cited[0]["text"].as_str().unwrap().contains("case closed")
    );
    for action in ["hold-add", "hold-extend", "hold-release", "hold-lapse"] {
        let r = recs
            .iter()
            .find(|r| r["action"] == action)
            .unwrap_or_else(|| panic!("{action} recorded"));
        for key in [
            "hold",
            "case",
            "reason",
            "by",
            "uid",
            "scope",
            "covered_files",
            "covered_bytes",
        ] {
            assert!(r.get(key).is_some(), "{action} has {key}: {r}");
        }
    }
    let v = e.ctl(&["audit", "verify"]);
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn a_corrupt_store_stops_all_deletion_and_is_reported() {
    let e = env("", "");
    frigate(
        &e.root,
        &TreeSpec {
            cams: 2,
            days: 30.0,
            segment: 1800,
            size: 1,
            end: now(),
        },
    )
    .unwrap();
    let before = files(&e.root);
    std::fs::create_dir_all(&e.state).unwrap();
    std::fs::write(
        e.state.join("holds.json"),
        "{\"version\":1,\"next_id\":3,\"holds\":[{\"id\":1,\"zone\"",
    )
    .unwrap();
    let o = e.once();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("holds.json:1:") && err.contains("corrupt") && err.contains("nothing"),
        "{err}"
    );
    assert_eq!(files(&e.root), before, "nothing deleted");
    let alarm = e
        .audit()
        .into_iter()
        .find(|r| r["action"] == "alarm" && r["kind"] == "holds-unavailable");
    assert!(alarm.is_some());
    for args in [
        &["hold", "list"][..],
        &[
            "hold",
            "add",
            "--zone",
            "cctv",
            "--last",
            "1h",
            "--case",
            "c",
            "--reason",
            "r",
            "--indefinite",
        ],
    ] {
        let o = e.ctl(args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("corrupt"), "{}", text(&o));
    }
    // The daemon starts, serves, and refuses to delete until the store is repaired.
    let d = Daemon::start(&e.policy, &e.socket);
    d.wait_for("hold store is corrupt", 2, 30);
    assert_eq!(files(&e.root), before);
    drop(d);
    std::fs::remove_file(e.state.join("holds.json")).unwrap();
    assert!(e.once().status.success());
    assert!(files(&e.root).len() < before.len());
}

#[test]
fn each_role_is_allowed_its_commands_and_denied_the_others() {
    let Some(users) = users() else { return };
    let roles = "[roles]\nviewers = \"rdtest-viewers\"\noperators = \"rdtest-operators\"\nsupervisors = \"rdtest-supervisors\"\n";
    let e = env("", roles);
    frigate(
        &e.root,
        &TreeSpec {
            cams: 2,
            days: 20.0,
            segment: 1800,
            size: 1,
            end: now(),
        },
    )
    .unwrap();
    let d = Daemon::start(&e.policy, &e.socket);
    let (viewer, operator, sup, nobody) = (
        users["rdtest-viewer"],
        users["rdtest-operator"],
        users["rdtest-super"],
        users["rdtest-nobody"],
    );
    let add = [
        "--json",
        "hold",
        "add",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--last",
        "3d",
        "--case",
        "POL-7",
        "--reason",
        "theft",
        "--for",
        "30d",
    ];
    let denied = |o: &Output, what: &str, group: &str| {
        assert_eq!(o.status.code(), Some(1), "{}", text(o));
        let want = format!("permission denied: {what} needs group {group}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&want),
            "wants {want:?}: {}",
            text(o)
        );
    };
    denied(&e.ctl_as(nobody, &["hold", "list"]), "hold list", "rdtest-viewers");
    denied(&e.ctl_as(nobody, &["plan"]), "plan", "rdtest-viewers");
    denied(&e.ctl_as(viewer, &add), "hold add", "rdtest-operators");
    assert_eq!(
        json(&e.ctl_as(viewer, &["--json", "hold", "list"])),
        Value::Array(vec![])
    );
    let h = json(&e.ctl_as(operator, &add));
    assert_eq!(h["id"], 1);
    assert_eq!(h["created_by"], "rdtest-operator");
    assert_eq!(h["created_uid"], operator);
    assert_eq!(h["covered"]["files"], 144);
    let shown = json(&e.ctl_as(viewer, &["--json", "hold", "show", "1"]));
    assert_eq!(shown["case"], "POL-7");
    assert!(e.ctl_as(viewer, &["plan", "--summary"]).status.success());
    denied(
        &e.ctl_as(viewer, &["hold", "extend", "1", "--for", "60d", "--reason", "x"]),
        "hold extend",
        "rdtest-operators",
    );
    let ext = json(&e.ctl_as(
        operator,
        &["--json", "hold", "extend", "1", "--for", "60d", "--reason", "more time"],
    ));
    assert_eq!(ext["extensions"][0]["by"], "rdtest-operator");
    denied(
        &e.ctl_as(operator, &["hold", "release", "1", "--reason", "x"]),
        "hold release",
        "rdtest-supervisors",
    );
    denied(
        &e.ctl_as(viewer, &["hold", "release", "1", "--reason", "x"]),
        "hold release",
        "rdtest-supervisors",
    );
    // Nothing changed by the denials.
    assert_eq!(
        json(&e.ctl_as(viewer, &["--json", "hold", "list"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let rel = json(&e.ctl_as(sup, &["--json", "hold", "release", "1", "--reason", "case closed"]));
    assert_eq!(rel["released"]["by"], "rdtest-super");
    // Supervisors can do what operators can; root everything.
    assert_eq!(json(&e.ctl_as(sup, &add))["id"], 2);
    assert_eq!(
        json(&e.ctl(&[
            "--json",
            "--socket",
            e.socket.to_str().unwrap(),
            "hold",
            "release",
            "2",
            "--reason",
            "r"
        ]))["released"]["by"],
        "root"
    );
    assert!(
        d.log().contains("hold release by rdtest-operator"),
        "denials are logged: {}",
        d.log()
    );
    // A non-root user cannot bypass the daemon.
    drop(d);
    let o = e.ctl_as(operator, &add);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let recs = e.audit();
    let by: Vec<(&str, &str)> = recs
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("hold-"))
        .map(|r| (r["action"].as_str().unwrap(), r["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by,
        [
            ("hold-add", "rdtest-operator"),
            ("hold-extend", "rdtest-operator"),
            ("hold-release", "rdtest-super"),
            ("hold-add", "rdtest-super"),
            ("hold-release", "root")
        ]
    );
}

#[test]
fn malformed_oversized_and_stuck_clients_do_not_hurt_the_daemon() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let e = env("", "");
    frigate(
        &e.root,
        &TreeSpec {
            cams: 1,
            days: 2.0,
            segment: 3600,
            size: 1,
            end: now(),
        },
    )
    .unwrap();
    let d = Daemon::start(&e.policy, &e.socket);
    // Stuck clients: connected, sending nothing.
    let stuck: Vec<UnixStream> = (0..5).map(|_| UnixStream::connect(&e.socket).unwrap()).collect();
    let ask = |body: &[u8]| -> Value {
        let mut s = UnixStream::connect(&e.socket).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        let _ = s.write_all(body);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("reply: {out:?}"))
    };
    for bad in [
        &b"not json\n"[..],
        b"{\"op\":\"hold-add\"}\n",
        b"{\"op\":\"ping\",\"uid\":0}\n",
        b"\xff\xff\n",
        b"[1,2,3]\n",
    ] {
        let r = ask(bad);
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["kind"], "bad-request", "{r}");
    }
    let big = vec![b'x'; 200 * 1024];
    let r = ask(&big);
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap().contains("larger"), "{r}");
    // Others are served while the stuck ones hang on.
    let t0 = std::time::Instant::now();
    assert!(e
        .ctl(&["--socket", e.socket.to_str().unwrap(), "hold", "list"])
        .status
        .success());
    assert!(t0.elapsed().as_secs() < 5);
    drop(stuck);
    assert!(d.child.id() > 0);
    let status = d.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

/// Sweeps that want to delete everything, while holds are added through the
/// socket: the audit log orders both, and no file a hold covers is deleted
/// after that hold's record; every covered file without a deletion record
/// is still on disk.
#[test]
fn holds_added_during_a_sweep_are_never_violated() {
    for round in 0..3 {
        let e = env("batch_size = 16\n", "");
        let end = now() - 2 * 3600;
        // Everything is past max_age.
        std::fs::write(
            &e.policy,
            std::fs::read_to_string(&e.policy)
                .unwrap()
                .replace("min_age = \"14d\"", "min_age = \"1h\"")
                .replace("max_age = \"28d\"", "max_age = \"1h\""),
        )
        .unwrap();
        frigate(
            &e.root,
            &TreeSpec {
                cams: 6,
                days: 2.0,
                segment: 120,
                size: 1,
                end,
            },
        )
        .unwrap();
        let all: BTreeSet<PathBuf> = files(&e.root);
        let d = Daemon::start(&e.policy, &e.socket);
        let mut acked = 0;
        let mut k = 0u64;
        while !d.log().contains("sweep at") {
            k += 1;
            let cam = (k * 7 + round) % 6;
            let start = end - 2 * DAY + ((k * 3571 + round * 977) % (2 * DAY as u64 - 7200)) as i64;
            let o = e.ctl(&[
                "--socket",
                e.socket.to_str().unwrap(),
                "hold",
                "add",
                "--zone",
                "cctv",
                "--match",
                &format!("*/cam{cam:02}/*"),
                "--from",
                &rfc3339(start),
                "--to",
                &rfc3339(start + 1800),
                "--case",
                &format!("R{round}-{k}"),
                "--reason",
                "race",
                "--indefinite",
            ]);
            assert!(o.status.success(), "{}", text(&o));
            acked += 1;
        }
        assert!(d.stop().success());
        assert!(
            acked >= 3,
            "round {round}: only {acked} holds were placed during the sweep"
        );
        // Replay the audit log in order.
        let mut holds: Vec<(String, i64, i64)> = Vec::new();
        let mut deleted: BTreeSet<PathBuf> = BTreeSet::new();
        for r in e.audit() {
            match r["action"].as_str().unwrap() {
                "hold-add" => {
                    let s = &r["scope"];
                    let t = |v: &Value| {
                        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
                            .unwrap()
                            .timestamp()
                    };
                    let cam = s["match"]
                        .as_str()
                        .unwrap()
                        .trim_matches('*')
                        .trim_matches('/')
                        .to_string();
                    holds.push((cam, t(&s["from"]), t(&s["to"])));
                }
                "delete" => {
                    let p = PathBuf::from(retentiond::audit::path_from_value(&r["path"]).unwrap());
                    let rel = p.strip_prefix(&e.root).unwrap().to_str().unwrap().to_string();
                    let time = frigate_time(&rel);
                    for (cam, from, to) in &holds {
                        assert!(
                            !(rel.contains(&format!("/{cam}/")) && (*from..=*to).contains(&time)),
                            "round {round}: {rel} deleted after a hold over {cam} {from}..{to} was acknowledged"
                        );
                    }
                    deleted.insert(p);
                }
                _ => {}
            }
        }
        assert!(!deleted.is_empty());
        let now_there = files(&e.root);
        for p in &all {
            assert!(
                deleted.contains(p) || now_there.contains(p),
                "round {round}: {} vanished without a record",
                p.display()
            );
            assert!(
                !(deleted.contains(p) && now_there.contains(p)),
                "{} recorded as deleted but present",
                p.display()
            );
        }
        eprintln!(
            "round {round}: {acked} holds placed during a sweep that deleted {}",
            deleted.len()
        );
    }
}

#[test]
fn a_hold_on_a_renamed_zone_stops_deletion_until_resolved() {
    let e = env("", "");
    frigate(
        &e.root,
        &TreeSpec {
            cams: 2,
            days: 30.0,
            segment: 1800,
            size: 1,
            end: now(),
        },
    )
    .unwrap();
    let before = files(&e.root);
    let o = e.ctl(&[
        "hold",
        "add",
        "--zone",
        "cctv",
        "--last",
        "40d",
        "--case",
        "Z-1",
        "--reason",
        "r",
        "--indefinite",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let text_before = std::fs::read_to_string(&e.policy).unwrap();
    std::fs::write(&e.policy, text_before.replace("name = \"cctv\"", "name = \"cameras\"")).unwrap();
    let o = e.once();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hold 1 (case Z-1) names zone \"cctv\""),
        "{}",
        text(&o)
    );
    assert_eq!(files(&e.root), before, "nothing deleted");
    assert!(e
        .ctl(&["hold", "release", "1", "--reason", "zone renamed"])
        .status
        .success());
    assert!(e.once().status.success());
    assert!(files(&e.root).len() < before.len());
}
