//! The shipped Prometheus rules (`packaging/prometheus/retentiond.rules.yml`)
//! and Grafana dashboard (`packaging/grafana/retentiond-dashboard.json`)
//! against the daemon's real metrics file.
//!
//! One real daemon runs through four stages, and its metrics file is read
//! at the end of each: A healthy (one hold lapsing in 30 days); B a hold
//! lapsing in 2 days, a case past its due date, and a reload that shortens
//! max_age (the mass-deletion guard holds the surge back); C the surge
//! confirmed, and a watermark no disk can meet (capacity stays unrelieved);
//! D a corrupt hold store (every sweep fails, none completes).
//!
//! - Every metric the rules and the dashboard name is one the daemon
//!   writes, every alarm kind they name is one the daemon has, and every
//!   metric the daemon writes is on the dashboard and in retentiond(8).
//! - `promtool check rules` accepts the rules and every dashboard query.
//! - `promtool test rules` runs the rules over series built from the four
//!   snapshots (each stage 60 minutes of 1-minute samples, as if scraped),
//!   and checks every alert at the start and the end of each stage: what
//!   fires, with which labels and annotations, and that nothing else
//!   does. The expected alerts come from a small model of each rule
//!   evaluated over the same samples; the model asserts the rule's
//!   expression is the one it models.
//!
//! promtool comes from the Debian package `prometheus` (tests/run
//! installs it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};
use serde_json::{json, Value};

const DAY: i64 = 86_400;

/// Alarm kinds with a rule of their own that this test does not provoke:
/// the promtool test gives them a series of the same shape as the real
/// alarms' (stage C). recording-stalled and capacity-forecast are tested
/// against the daemon with their feature; audit-unwritable needs an
/// immutable file (tests/capacity.rs, tests/full_disk.rs).
const NOT_PROVOKED: &[&str] = &["recording-stalled", "capacity-forecast", "audit-unwritable"];

/// Minutes of samples per snapshot.
const STAGE: i64 = 60;

/// The labels a scrape of node_exporter adds.
const SCRAPE: [(&str, &str); 2] = [("instance", "nvr1:9100"), ("job", "node")];

/// The daemon's own clock reading: it moves on while sweeps complete.
const CLOCK: &str = "retentiond_last_success_timestamp_seconds";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// One time series: a metric name and its labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

impl Series {
    /// As PromQL writes it: `name{a="b",…}`.
    fn selector(&self) -> String {
        let l: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
                )
            })
            .collect();
        format!("{}{{{}}}", self.name, l.join(","))
    }
}

/// The metrics file as read once.
#[derive(Clone, Debug)]
struct Snapshot {
    /// When the daemon wrote it (the file's mtime, Unix seconds).
    at: i64,
    values: BTreeMap<Series, f64>,
    /// Metric name to its TYPE.
    types: BTreeMap<String, String>,
    /// No sweep failed between this read and the next write of the file:
    /// sweeps complete, and the daemon's [`CLOCK`] moves on.
    completing: bool,
}

impl Snapshot {
    fn has_alarm(&self, kind: &str) -> bool {
        self.values
            .keys()
            .any(|s| s.name == "retentiond_alarm" && s.labels.get("kind").is_some_and(|k| k == kind))
    }

    fn value(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(s, _)| s.name == name).map(|(_, v)| *v)
    }

    fn has_hold(&self, case: &str) -> bool {
        self.values.keys().any(|s| {
            s.name == "retentiond_hold_expiry_timestamp_seconds" && s.labels.get("case").is_some_and(|c| c == case)
        })
    }
}

/// Parses the Prometheus text format (0.0.4), scrape labels added.
fn parse(text: &str) -> (BTreeMap<Series, f64>, BTreeMap<String, String>) {
    let mut values = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, ty) = t.split_once(' ').expect("# TYPE name type");
            types.insert(name.to_string(), ty.to_string());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("a sample line");
        let name = line[..name_end].to_string();
        let mut labels: BTreeMap<String, String> = SCRAPE.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end = loop {
                let (i, c) = chars.next().expect("labels close");
                if c == '}' {
                    break i + 1;
                }
                if c == ',' {
                    continue;
                }
                let eq = r[i..].find('=').expect("label=value") + i;
                let key = r[i..eq].to_string();
                while chars.peek().is_some_and(|(j, _)| *j <= eq + 1) {
                    chars.next();
                }
                let mut value = String::new();
                loop {
                    let (_, c) = chars.next().expect("a closing quote");
                    match c {
                        '"' => break,
                        '\\' => match chars.next().expect("an escape").1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        other => value.push(other),
                    }
                }
                labels.insert(key, value);
            };
            rest = &r[end..];
        }
        let v: f64 = rest.trim().parse().unwrap_or_else(|_| panic!("a value in {line:?}"));
        values.insert(Series { name, labels }, v);
    }
    (values, types)
}

/// Reads the metrics file whole (it is replaced by rename) with the time
/// the daemon wrote it.
fn read_snapshot(prom: &Path) -> Option<Snapshot> {
    let t1 = std::fs::metadata(prom).ok()?.modified().ok()?;
    let text = std::fs::read_to_string(prom).ok()?;
    let t2 = std::fs::metadata(prom).ok()?.modified().ok()?;
    if t1 != t2 {
        return None;
    }
    let at = t1.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    let (values, types) = parse(&text);
    Some(Snapshot {
        at,
        values,
        types,
        completing: true,
    })
}

/// Waits until the metrics file shows `ok`; that snapshot.
fn snapshot_when(prom: &Path, what: &str, d: &Daemon, ok: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(mut s) = read_snapshot(prom).filter(|s| ok(s)) {
            // Whether sweeps complete: the next sweep's write, and whether
            // a sweep failed in between.
            let count = |s: &Snapshot, n: &str| s.value(n).unwrap_or(0.0);
            let sweeps = count(&s, "retentiond_sweeps_total");
            loop {
                if let Some(next) = read_snapshot(prom).filter(|n| count(n, "retentiond_sweeps_total") > sweeps) {
                    let failed = "retentiond_sweep_failures_total";
                    s.completing = count(&next, failed) == count(&s, failed);
                    return s;
                }
                assert!(t0.elapsed().as_secs() < 60, "no sweep after {what}: {}", d.log());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        assert!(t0.elapsed().as_secs() < 60, "timed out waiting for {what}: {}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The four snapshots of one daemon's run (shared by this file's tests).
fn snapshots() -> &'static [Snapshot] {
    static RUN: OnceLock<Vec<Snapshot>> = OnceLock::new();
    RUN.get_or_init(run_daemon)
}

fn run_daemon() -> Vec<Snapshot> {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cctv");
    let state = tmp.path().join("state");
    let socket = tmp.path().join("ctl.sock");
    let prom = tmp.path().join("textfile/retentiond.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let policy = tmp.path().join("policy.toml");
    let write = |max_age: &str, high: &str, low: &str| {
        std::fs::write(
            &policy,
            format!(
                "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nsweep_interval = \"1s\"\nsettle_time = \"1s\"\n\
                 metrics_file = \"{}\"\n\n[capacity]\nhigh_watermark = \"{high}\"\nlow_watermark = \"{low}\"\n\n\
                 [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\n\
                 min_age = \"1d\"\nmax_age = \"{max_age}\"\n",
                state.display(),
                socket.display(),
                prom.display(),
                root.display()
            ),
        )
        .unwrap();
    };
    // 4 cameras x 10 days of 10-minute segments (5,760 files) ending now:
    // no source looks stalled.
    let end = now();
    frigate(
        &root,
        &TreeSpec {
            cams: 4,
            days: 10.0,
            segment: 600,
            size: 100,
            end,
        },
    )
    .unwrap();
    // A: healthy, no disk can be above 100%.
    write("30d", "100%", "99%");
    let d = Daemon::start(&policy, &socket);
    let ctl = |args: &[&str]| {
        let mut a = vec!["--config", policy.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = retentionctl(&a);
        assert!(o.status.success(), "{}", text(&o));
    };
    let hour = |days: i64| (end - days * DAY) / 3600 * 3600;
    let hold = |case: &str, days_ago: i64, lapse: &str| {
        let from = hour(days_ago);
        ctl(&[
            "hold",
            "add",
            "--zone",
            "cctv",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(from + 3599),
            "--case",
            case,
            "--reason",
            "alerts test",
            "--for",
            lapse,
        ]);
    };
    hold("INC-30D", 8, "30d");
    let a = snapshot_when(&prom, "stage A", &d, |s| s.has_hold("INC-30D"));
    // B: a hold that lapses in 2 days, a case due in 2 seconds, and a
    // reload that puts half the zone past max_age at once.
    hold("INC-2D", 7, "2d");
    ctl(&[
        "case",
        "open",
        "DSR-2026-9",
        "--kind",
        "access",
        "--requested-by",
        "a data subject",
        "--zone",
        "cctv",
        "--match",
        "*/cam01/*",
        "--from",
        &rfc3339(hour(2)),
        "--to",
        &rfc3339(hour(2) + 3599),
        "--due",
        &rfc3339(now() + 2),
        "--reason",
        "alerts test",
    ]);
    write("5d", "100%", "99%");
    hup(&d);
    let b = snapshot_when(&prom, "stage B", &d, |s| {
        s.has_hold("INC-2D") && s.has_alarm("mass-deletion") && s.has_alarm("case-overdue")
    });
    // C: a supervisor lets the held-back deletions go (the guard's alarm
    // clears), and no disk can get under 1%: capacity stays unrelieved.
    ctl(&["confirm", "--zone", "cctv", "--reason", "alerts test"]);
    write("5d", "1%", "0%");
    hup(&d);
    let c = snapshot_when(&prom, "stage C", &d, |s| {
        s.has_alarm("capacity-unrelieved") && !s.has_alarm("mass-deletion")
    });
    // D: a corrupt hold store: every sweep stops, nothing completes.
    std::fs::write(state.join("holds.json"), "{\"version\":1,\"holds\":[{\"id\":1,").unwrap();
    let failures = c.value("retentiond_sweep_failures_total").unwrap_or(0.0);
    let dd = snapshot_when(&prom, "stage D", &d, |s| {
        s.has_alarm("holds-unavailable") && s.value("retentiond_sweep_failures_total").unwrap_or(0.0) >= failures + 2.0
    });
    drop(d);
    vec![a, b, c, dd]
}

fn hup(d: &Daemon) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
}

/// `retentiond_…` names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("retentiond_") {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric() && rest.as_bytes()[i - 1] != b'_';
        let tail = &rest[i..];
        let n = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        if before_ok && !tail[..n].ends_with('_') {
            out.insert(tail[..n].to_string());
        }
        rest = &tail[n.max(1)..];
    }
    out
}

/// One alerting rule of the rules file.
#[derive(Clone, Debug)]
struct Rule {
    alert: String,
    expr: String,
    for_mins: i64,
    severity: String,
    summary: String,
    description: String,
}

/// The rules file's alerting rules. A line reader for the file's own
/// regular shape (one key per line, double-quoted annotations without
/// escapes); it fails on anything else rather than guess.
fn rules() -> Vec<Rule> {
    let text = std::fs::read_to_string(repo("packaging/prometheus/retentiond.rules.yml")).unwrap();
    let mut out: Vec<Rule> = Vec::new();
    for line in text.lines().map(str::trim) {
        let quoted = |v: &str| -> String {
            let v = v.trim();
            assert!(
                v.starts_with('"') && v.ends_with('"') && !v[1..v.len() - 1].contains(['"', '\\']),
                "annotations are double-quoted without escapes: {v}"
            );
            v[1..v.len() - 1].to_string()
        };
        if let Some(a) = line.strip_prefix("- alert: ") {
            out.push(Rule {
                alert: a.to_string(),
                expr: String::new(),
                for_mins: -1,
                severity: String::new(),
                summary: String::new(),
                description: String::new(),
            });
        } else if let Some(r) = out.last_mut() {
            if let Some(e) = line.strip_prefix("expr: ") {
                r.expr = e.to_string();
            } else if let Some(f) = line.strip_prefix("for: ") {
                r.for_mins = f.strip_suffix('m').expect("for: in minutes").parse().unwrap();
            } else if let Some(s) = line.strip_prefix("severity: ") {
                r.severity = s.to_string();
            } else if let Some(s) = line.strip_prefix("summary: ") {
                r.summary = quoted(s);
            } else if let Some(s) = line.strip_prefix("description: ") {
                r.description = quoted(s);
            }
        }
    }
    for r in &out {
        assert!(
            !r.expr.is_empty()
                && r.for_mins > 0
                && !r.severity.is_empty()
                && !r.summary.is_empty()
                && !r.description.is_empty(),
            "every rule has expr, for, severity, summary and description: {r:?}"
        );
        assert!(r.for_mins < 30 + 1, "the stages outlast every for: {r:?}");
    }
    out
}

/// The alarm kinds a rule's expression names (`kind="…"` or `kind!~"…|…"`).
fn kinds_in(expr: &str) -> (Option<String>, Vec<String>) {
    let own = expr
        .split("kind=\"")
        .nth(1)
        .map(|r| r[..r.find('"').unwrap()].to_string());
    let others = expr
        .split("kind!~\"")
        .nth(1)
        .map(|r| r[..r.find('"').unwrap()].split('|').map(str::to_string).collect())
        .unwrap_or_default();
    (own, others)
}

/// Every query of the dashboard, with where it is.
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!(
                    "panel {:?} {}",
                    p["title"].as_str().unwrap(),
                    t["refId"].as_str().unwrap()
                ),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        out.push((
            format!("variable {}", v["name"].as_str().unwrap()),
            v["definition"].as_str().unwrap().to_string(),
        ));
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("packaging/grafana/retentiond-dashboard.json")).unwrap())
        .expect("the dashboard is JSON")
}

#[test]
fn rules_and_dashboard_name_only_what_the_daemon_writes() {
    let snaps = snapshots();
    let written: BTreeSet<String> = snaps.iter().flat_map(|s| s.types.keys().cloned()).collect();
    let rules_text = std::fs::read_to_string(repo("packaging/prometheus/retentiond.rules.yml")).unwrap();
    let dash = dashboard();
    let dash_names: BTreeSet<String> = dashboard_queries(&dash)
        .iter()
        .flat_map(|(_, q)| metric_names(q))
        .collect();
    let rule_names = metric_names(&rules_text);
    let kinds: BTreeSet<&str> = retentiond::core::alarm::AlarmKind::ALL
        .iter()
        .map(|k| k.code())
        .collect();
    let mut rule_kinds = BTreeSet::new();
    for r in rules() {
        let (own, others) = kinds_in(&r.expr);
        rule_kinds.extend(own);
        rule_kinds.extend(others);
    }
    let mut missing: Vec<String> = rule_names
        .union(&dash_names)
        .filter(|n| !written.contains(*n))
        .cloned()
        .collect();
    missing.extend(rule_kinds.iter().filter(|k| !kinds.contains(k.as_str())).cloned());
    // The other way: everything the daemon writes is on the dashboard and
    // documented.
    let man = std::fs::read_to_string(repo("man/retentiond.8")).unwrap();
    let not_shown: Vec<&String> = written.iter().filter(|n| !dash_names.contains(*n)).collect();
    let undocumented: Vec<&String> = written
        .iter()
        .filter(|n| !man.contains(&n.replace('-', "\\-")))
        .collect();
    assert!(
        missing.is_empty(),
        "the rules or the dashboard name metrics or alarm kinds the daemon does not write: {missing:?}"
    );
    assert!(not_shown.is_empty(), "not on the dashboard: {not_shown:?}");
    assert!(
        undocumented.is_empty(),
        "not in retentiond(8) METRICS: {undocumented:?}"
    );
}

#[test]
fn the_dashboard_imports_with_a_prometheus_input() {
    let d = dashboard();
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    assert!(d["id"].is_null(), "an import gets a new id");
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel ids are unique: {p}");
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_u64(), "{p}");
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}");
    }
    // The .deb installs both files.
    let cargo = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    for asset in [
        "[\"packaging/prometheus/retentiond.rules.yml\", \"usr/share/retentiond/prometheus/\", \"644\"]",
        "[\"packaging/grafana/retentiond-dashboard.json\", \"usr/share/retentiond/grafana/\", \"644\"]",
    ] {
        assert!(cargo.contains(asset), "Cargo.toml's deb assets lack {asset}");
    }
}

fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs (Debian package prometheus; tests/run installs it)")
}

#[test]
fn promtool_checks_the_rules_and_the_dashboard_queries() {
    let rules_file = repo("packaging/prometheus/retentiond.rules.yml");
    let o = promtool(&["check", "rules", rules_file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // Each dashboard query as a recording rule, Grafana's variables filled in.
    let tmp = tempfile::tempdir().unwrap();
    let recs: Vec<Value> = dashboard_queries(&dashboard())
        .iter()
        .enumerate()
        .filter(|(_, (_, q))| !q.starts_with("label_values("))
        .map(|(i, (_, q))| {
            let q = q
                .replace("$instance", ".+")
                .replace("$zone", ".+")
                .replace("$__rate_interval", "5m");
            json!({"record": format!("dashboard:query_{i}"), "expr": q})
        })
        .collect();
    assert!(recs.len() >= 20, "{recs:?}");
    let f = tmp.path().join("dashboard.rules.yml");
    std::fs::write(
        &f,
        json!({"groups": [{"name": "dashboard", "rules": recs}]}).to_string(),
    )
    .unwrap();
    let o = promtool(&["check", "rules", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Each series' samples, one a minute, `None` where it is absent.
type Timeline = BTreeMap<Series, Vec<Option<f64>>>;

/// The snapshots as scraped series, [`STAGE`] minutes each: a gauge keeps
/// its value through its stage; a counter grows evenly through the stage
/// by what it grew since the previous snapshot; a timestamp is moved to
/// the test's clock (the stage starts when the daemon wrote the file) and
/// stays there while its value does; the daemon's [`CLOCK`] moves on with
/// the test's clock while sweeps complete (one at every scrape), and stops
/// where the file left it when they do not.
fn timeline(snaps: &[Snapshot]) -> Timeline {
    let all: BTreeSet<&Series> = snaps.iter().flat_map(|s| s.values.keys()).collect();
    let mut out = Timeline::new();
    for series in all {
        let mut samples = Vec::new();
        let mut prev: Option<f64> = None;
        let mut last: Option<f64> = None;
        for (k, snap) in snaps.iter().enumerate() {
            let start = k as i64 * STAGE;
            let Some(&v) = snap.values.get(series) else {
                samples.extend(std::iter::repeat_n(None, STAGE as usize));
                (prev, last) = (None, None);
                continue;
            };
            let ty = snap.types.get(&series.name).map(String::as_str);
            for m in 0..STAGE {
                let rebased = v - snap.at as f64 + (start * 60) as f64;
                let x = if series.name == CLOCK && snap.completing {
                    // A sweep completes at every scrape.
                    ((start + m) * 60) as f64
                } else if series.name == CLOCK {
                    // Where the file left it, however late that is.
                    rebased
                } else if series.name.ends_with("_timestamp_seconds") {
                    match last {
                        Some(l) if prev == Some(v) => l,
                        _ => rebased,
                    }
                } else if ty == Some("counter") {
                    match (prev, last) {
                        (Some(p), Some(l)) if v > p => l + (v - p) * (m + 1) as f64 / STAGE as f64,
                        (Some(_), Some(l)) => l,
                        _ => v,
                    }
                } else {
                    v
                };
                samples.push(Some(x));
                if m == STAGE - 1 {
                    last = Some(x);
                }
            }
            prev = Some(v);
        }
        out.insert(series.clone(), samples);
    }
    out
}

/// The value of `s` at minute `u`, looking back as Prometheus does (4
/// minutes here: the test never asks at the 5th, where Prometheus
/// versions differ).
fn at(t: &Timeline, s: &Series, u: i64) -> Option<f64> {
    let v = t.get(s)?;
    (u.saturating_sub(4).max(0)..=u)
        .rev()
        .find_map(|i| v.get(i as usize).copied().flatten())
}

/// The label sets for which `rule`'s expression holds at minute `u`.
fn holds(rule: &Rule, dedicated: &[String], t: &Timeline, u: i64) -> BTreeSet<BTreeMap<String, String>> {
    let labels = |s: &Series| s.labels.clone();
    let of = |name: &'static str| t.keys().filter(move |s| s.name == name);
    let mut out = BTreeSet::new();
    match rule.alert.as_str() {
        "RetentiondSweepFailing" => {
            assert_eq!(rule.expr, "increase(retentiond_sweep_failures_total[5m]) > 0");
            for s in of("retentiond_sweep_failures_total") {
                let w: Vec<f64> = (u - 4..=u)
                    .filter_map(|i| t[s].get(i as usize).copied().flatten())
                    .collect();
                if w.len() >= 2 && w[w.len() - 1] > w[0] {
                    out.insert(labels(s));
                }
            }
        }
        "RetentiondSweepLate" => {
            assert_eq!(
                rule.expr,
                "time() - retentiond_last_success_timestamp_seconds > 3 * retentiond_sweep_interval_seconds"
            );
            for s in of(CLOCK) {
                let iv = Series {
                    name: "retentiond_sweep_interval_seconds".into(),
                    labels: s.labels.clone(),
                };
                if let (Some(ls), Some(i)) = (at(t, s, u), at(t, &iv, u)) {
                    if (u * 60) as f64 - ls > 3.0 * i {
                        out.insert(labels(s));
                    }
                }
            }
        }
        "RetentiondHoldExpiringSoon" => {
            assert_eq!(
                rule.expr,
                "retentiond_hold_expiry_timestamp_seconds - time() < 7 * 86400"
            );
            for s in of("retentiond_hold_expiry_timestamp_seconds") {
                if at(t, s, u).is_some_and(|e| e - ((u * 60) as f64) < (7 * DAY) as f64) {
                    out.insert(labels(s));
                }
            }
        }
        _ => {
            let (own, others) = kinds_in(&rule.expr);
            match &own {
                Some(k) => assert_eq!(rule.expr, format!("retentiond_alarm{{kind=\"{k}\"}} == 1")),
                None => {
                    assert_eq!(
                        others, dedicated,
                        "the catch-all leaves out exactly the kinds with a rule"
                    );
                    assert_eq!(
                        rule.expr,
                        format!("retentiond_alarm{{kind!~\"{}\"}} == 1", others.join("|"))
                    );
                }
            }
            for s in of("retentiond_alarm") {
                let kind = &s.labels["kind"];
                let mine = match &own {
                    Some(k) => k == kind,
                    None => !others.contains(kind),
                };
                if mine && at(t, s, u) == Some(1.0) {
                    out.insert(labels(s));
                }
            }
        }
    }
    out
}

/// `{{ $labels.x }}` filled in (the only template the rules use).
fn render(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    assert!(!out.contains("{{"), "a template the test does not render: {template}");
    out
}

#[test]
fn promtool_tests_the_rules_on_the_daemons_own_series() {
    let snaps = snapshots();
    let rules = rules();
    // Alarms of a kind with its own rule that the run did not raise get a
    // series of the same shape in stage C.
    let dedicated: Vec<String> = rules.iter().filter_map(|r| kinds_in(&r.expr).0).collect();
    let seen: BTreeSet<&str> = snaps
        .iter()
        .flat_map(|s| s.values.keys())
        .filter(|s| s.name == "retentiond_alarm")
        .map(|s| s.labels["kind"].as_str())
        .collect();
    let mut snaps = snaps.to_vec();
    let shape = snaps[2]
        .values
        .keys()
        .find(|s| s.name == "retentiond_alarm")
        .expect("stage C has alarms")
        .clone();
    let mut synthesized = Vec::new();
    for kind in dedicated.iter().filter(|k| !seen.contains(k.as_str())) {
        let mut s = shape.clone();
        s.labels.insert("kind".into(), kind.clone());
        s.labels.insert("subject".into(), format!("{kind} subject"));
        snaps[2].values.insert(s, 1.0);
        synthesized.push(kind.as_str());
    }
    assert!(
        synthesized.iter().all(|k| NOT_PROVOKED.contains(k)),
        "the run should have raised {synthesized:?}"
    );
    // What the run provoked reaches the rules.
    for kind in [
        "mass-deletion",
        "case-overdue",
        "capacity-unrelieved",
        "holds-unavailable",
    ] {
        assert!(seen.contains(kind), "{kind} not raised: {seen:?}");
    }
    let t = timeline(&snaps);
    let end = snaps.len() as i64 * STAGE;
    // Checked at the start of every stage after the first (what was
    // raised just now is pending, not firing) and at its end.
    let mut evals: Vec<i64> = (0..snaps.len() as i64)
        .flat_map(|k| [k * STAGE, k * STAGE + STAGE - 1])
        .filter(|&m| m > 0)
        .collect();
    evals.sort();
    let mut cases = Vec::new();
    let mut fired: BTreeMap<String, usize> = BTreeMap::new();
    for &e in &evals {
        for r in &rules {
            let mut firing: Option<BTreeSet<BTreeMap<String, String>>> = None;
            // Firing: the expression held at every evaluation for `for`.
            assert!(e >= r.for_mins);
            for u in e - r.for_mins..=e {
                let h = holds(r, &dedicated, &t, u);
                firing = Some(match firing {
                    None => h,
                    Some(f) => f.intersection(&h).cloned().collect(),
                });
            }
            let firing = firing.unwrap_or_default();
            if e == STAGE - 1 {
                assert!(
                    firing.is_empty(),
                    "stage A is healthy, yet {} fires: {firing:?}",
                    r.alert
                );
            }
            *fired.entry(r.alert.clone()).or_default() += firing.len();
            let exp: Vec<Value> = firing
                .iter()
                .map(|l| {
                    let mut labels = l.clone();
                    labels.insert("severity".into(), r.severity.clone());
                    json!({
                        "exp_labels": labels,
                        "exp_annotations": {
                            "summary": render(&r.summary, l),
                            "description": render(&r.description, l),
                        },
                    })
                })
                .collect();
            cases.push(json!({"eval_time": format!("{e}m"), "alertname": r.alert, "exp_alerts": exp}));
        }
    }
    // Every rule fires somewhere (and none in stage A).
    for r in &rules {
        assert!(fired[&r.alert] > 0, "{} never fires in the test", r.alert);
    }
    let input: Vec<Value> = t
        .iter()
        .map(|(s, v)| {
            let values: Vec<String> = v.iter().map(|x| x.map_or("_".into(), |x| format!("{x}"))).collect();
            json!({"series": s.selector(), "values": values.join(" ")})
        })
        .collect();
    assert_eq!(t.values().next().unwrap().len() as i64, end);
    let test = json!({
        "rule_files": [repo("packaging/prometheus/retentiond.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input, "alert_rule_test": cases}],
    });
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("retentiond.test.yml");
    std::fs::write(&f, serde_json::to_string_pretty(&test).unwrap()).unwrap();
    let o = promtool(&["test", "rules", f.to_str().unwrap()]);
    if !o.status.success() {
        let keep = std::env::temp_dir().join("retentiond-promtool-test.yml");
        let _ = std::fs::copy(&f, &keep);
        panic!(
            "promtool test rules failed (test file kept in {}): {}",
            keep.display(),
            text(&o)
        );
    }
}
