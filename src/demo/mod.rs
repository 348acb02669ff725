//! The demo room: `retentiond --demo`, and the synthetic Frigate-like trees
//! ([`treegen`]) the demo, the tests and the benchmark build.
//!
//! `retentiond --demo`: builds a synthetic recording tree in a temporary
//! directory, sweeps it for real under the example policy
//! (`config/retentiond.toml`, paths moved into the tree), and shows what was
//! deleted and why, the audit trail, and what a full disk would add.
//!
//! The tree has Frigate's layout (`YYYY-MM-DD/HH/camNN/MM.SS.mp4`, UTC,
//! mtime = segment end) for the CCTV zone, and one `.wav` per call, dated by
//! mtime, for the call-recording zone.

pub mod treegen;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use anyhow::{Context, Result};
use chrono::DateTime;

use crate::audit;
use crate::audit::schema::Delete;
use crate::core::plan::Usage;
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp};
use crate::daemon::sweeper::Sweeper;
use crate::fs::scan;
use crate::sweep::execute::Decided;
use treegen::TreeSpec;

/// The example policy shipped in `config/`.
pub const EXAMPLE_POLICY: &str = include_str!("../../config/retentiond.toml");

const CAMERAS: u32 = 4;
const CCTV_DAYS: i64 = 35;
const SEGMENT_SECS: i64 = 15 * 60;
const CALL_DAYS: i64 = 70;
const CALLS_PER_DAY: i64 = 6;
const MONITORS: u32 = 2;
const EVENTS_PER_DAY: i64 = 4;
const FRAMES_PER_EVENT: u32 = 10;
/// Bytes written into each file (they occupy one filesystem block each).
const FILE_BYTES: usize = 512;

/// Shape of the tree the demo built.
struct Tree {
    cctv_files: u64,
    call_files: u64,
    calls: u64,
    event_files: u64,
    events: u64,
}

/// Runs the demo, writing its account to `out`. The tree is removed at the
/// end unless `RETENTIOND_DEMO_KEEP` is set.
pub fn run(out: &mut dyn Write) -> Result<()> {
    // The sweep's journal summaries would interleave with the account below.
    log::set_max_level(log::LevelFilter::Warn);
    let dir = tempfile::Builder::new()
        .prefix("retentiond-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let root = dir.path();
    let now = Timestamp::now();
    writeln!(
        out,
        "retentiond demo: building a synthetic recording tree in {}",
        root.display()
    )?;
    let tree = build_tree(root, now)?;
    writeln!(
        out,
        "  cctv:  {CAMERAS} cameras x {CCTV_DAYS} days of {}-minute segments = {} files (Frigate layout, time from the path)",
        SEGMENT_SECS / 60,
        tree.cctv_files
    )?;
    writeln!(
        out,
        "  calls: {CALL_DAYS} days x {CALLS_PER_DAY} calls = {} calls in {} files (Asterisk layout, a call's legs are one recording)",
        tree.calls, tree.call_files
    )?;
    writeln!(
        out,
        "  events: {MONITORS} monitors x {CCTV_DAYS} days x {EVENTS_PER_DAY} events = {} event directories of {} files (ZoneMinder, an event is one recording)",
        tree.events, tree.event_files
    )?;

    let config = root.join("retentiond.toml");
    let text = demo_policy(root);
    std::fs::write(&config, &text)?;
    let policy = Policy::load(&config)?;
    writeln!(
        out,
        "\nPolicy: config/retentiond.toml with its paths moved into the tree ({})",
        config.display()
    )?;
    for z in &policy.zones {
        writeln!(
            out,
            "  zone {:<6} floor (min_age) {:<4} ceiling (max_age) {:<4} when_full {}",
            z.name,
            z.min_age,
            z.max_age,
            z.when_full.as_str()
        )?;
    }

    writeln!(
        out,
        "\nSweep (the disk is not under pressure, so only max_age applies):"
    )?;
    let audit_log = policy.daemon.audit_log.clone();
    let mut sweeper = Sweeper::open(policy.clone(), false)?;
    let mut o = sweeper.sweep(now, &AtomicBool::new(false), None)?;
    print_sweep(out, &o)?;
    let guarded: Vec<&crate::core::alarm::Alarm> = o.plan.alarms.iter().filter(|a| a.kind == "mass-deletion").collect();
    if !guarded.is_empty() {
        for a in guarded {
            writeln!(out, "  alarm {}: {}", a.kind, a.text)?;
        }
        writeln!(
            out,
            "\nA first start meets the whole backlog past max_age at once, more than the mass-deletion\n\
             guard lets go without a supervisor (guard_share, 10% of a zone). The supervisor accepts it:\n  \
             retentionctl confirm --reason 'first start: the backlog past max_age is expected'\n\
             and the next sweep deletes the rest:"
        )?;
        let audit = sweeper.shared.audit.as_ref().expect("not a dry run");
        let caller = crate::ops::auth::Caller {
            uid: 0,
            user: "demo".into(),
        };
        crate::ops::confirm::confirm(
            &sweeper.shared.guard,
            &sweeper.shared.guard_store,
            audit,
            &caller,
            None,
            "first start: the backlog past max_age is expected",
            now,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        o = sweeper.sweep(now, &AtomicBool::new(false), None)?;
        print_sweep(out, &o)?;
    }
    let audit = sweeper.shared.audit.as_ref().expect("not a dry run");
    who_watched(out, &policy, audit, now)?;
    drop(sweeper);
    if let Ok(told) = std::fs::read_to_string(root.join("zoneminder-hook.log")) {
        writeln!(
            out,
            "  zone events' after_delete hook was told of {} deleted event directories, as ZoneMinder's database would be",
            told.lines().count()
        )?;
    }
    let inv = scan::scan(&policy);
    for (z, zi) in policy.zones.iter().zip(&inv.zones) {
        let oldest = zi
            .roots
            .iter()
            .flat_map(|r| r.dirs.iter())
            .filter(|d| d.files > 0)
            .map(|d| d.oldest)
            .min();
        if let Some(t) = oldest {
            writeln!(
                out,
                "  zone {:<6} now keeps {} recordings; the oldest is {} old",
                z.name,
                zi.roots.iter().map(|r| r.files()).sum::<u64>(),
                t.age_at(now)
            )?;
        }
    }

    writeln!(
        out,
        "\nAudit log {} (hash-chained, written before each unlink). A record per zone:",
        audit_log.display()
    )?;
    let mut shown: Vec<String> = Vec::new();
    for r in audit::read_records(&audit_log)? {
        let r = r?;
        let Some(zone) = r.fields_as::<Delete>().map(|d| d.zone) else {
            continue;
        };
        if !shown.contains(&zone) {
            // A grouped record (a directory's files) shows its first file.
            let grouped = r
                .is_grouped()
                .then(|| r.fields.get("files").and_then(|f| f.as_array()).map_or(0, Vec::len));
            let first = r.per_file().swap_remove(0);
            let mut v = serde_json::Value::Object(first.fields);
            v["seq"] = first.seq.into();
            v["ts"] = first.ts.into();
            writeln!(out, "  {}", serde_json::to_string(&v)?)?;
            if let Some(n) = grouped {
                writeln!(
                    out,
                    "    (the first of the {n} files of its directory that this one record names)"
                )?;
            }
            shown.push(zone);
            if shown.len() == policy.zones.len() {
                break;
            }
        }
    }
    let report = audit::verify(&audit_log)?;
    writeln!(out, "  retentionctl audit verify: {report}")?;

    what_if_full(out, &policy, now)?;

    if std::env::var_os("RETENTIOND_DEMO_KEEP").is_some() {
        let kept = dir.keep();
        writeln!(out, "\nThe tree is kept at {}. Try:", kept.display())?;
        writeln!(out, "  retentionctl --config {} plan", config.display())?;
        writeln!(out, "  retentionctl --config {} audit verify", config.display())?;
    } else {
        writeln!(
            out,
            "\n(The tree is removed now; set RETENTIOND_DEMO_KEEP=1 to keep it and explore with retentionctl.)"
        )?;
    }
    Ok(())
}

/// A data subject's access request, handled as a case: the hold, a
/// supervisor playing the footage (recorded first), the access log that
/// answers the request, and the case closed.
fn who_watched(
    out: &mut dyn Write,
    policy: &Policy,
    audit: &Mutex<crate::audit::AuditLog>,
    now: Timestamp,
) -> Result<()> {
    use crate::ops::{case, hold, open, render};
    let op = |e: crate::ops::OpError| anyhow::anyhow!("{e}");
    let caller = crate::ops::auth::Caller {
        uid: 0,
        user: "demo".into(),
    };
    let store = crate::state::holdstore::HoldStore::new(&policy.daemon.state_dir);
    let ctx = hold::Ctx {
        policy,
        store: &store,
        audit,
        inventory: None,
    };
    // Two days ago, 14:00-15:00 UTC, camera 1.
    let day = (now.0 - 2 * 86_400).div_euclid(86_400) * 86_400;
    let (from, to) = (Timestamp(day + 14 * 3600), Timestamp(day + 15 * 3600 - 1));
    writeln!(
        out,
        "\nWho watched, and why. A visitor asks for the footage of herself at the entrance (cam01, {} 14:00-15:00 UTC):",
        &from.rfc3339()[..10]
    )?;
    writeln!(
        out,
        "  retentionctl case open DSR-2026-014 --kind access --requested-by 'J. Doe' --zone cctv --match '*/cam01/*' ..."
    )?;
    let c = case::open(
        &ctx,
        &caller,
        &crate::control::CaseRequest {
            reference: "DSR-2026-014".into(),
            kind: "access".into(),
            requested_by: "J. Doe (letter of today)".into(),
            reason: "her own footage at the entrance".into(),
            zone: Some("cctv".into()),
            glob: Some("*/cam01/*".into()),
            from,
            to,
            due: None,
        },
        now,
    )
    .map_err(op)?;
    writeln!(
        out,
        "  case DSR-2026-014 opened, due {}: hold {} keeps its {} recordings until it is closed",
        c["due"].as_str().unwrap_or(""),
        c["hold"]["id"],
        c["hold"]["covered"]["files"]
    )?;
    let cctv = policy.zone("cctv").context("the example policy has a cctv zone")?;
    let first = crate::core::inventory::join_rel(
        &cctv.roots[0],
        format!("{}/14/cam01/00.00.mp4", &from.rfc3339()[..10]).as_bytes(),
    );
    writeln!(
        out,
        "  retentionctl cat --reason 'DSR-2026-014: checking what the visitor asks for' {} | mpv -",
        first.display()
    )?;
    let req = crate::control::AccessRequest {
        paths: vec![audit::path_value(first.as_os_str())],
        reason: "DSR-2026-014: checking what the visitor asks for".into(),
        dest: None,
        case: Some("DSR-2026-014".into()),
    };
    let (listing, fds) = open::open(policy, audit, &caller, &req, now).map_err(op)?;
    let (sha256, bytes) = open::stream_into(&listing, fds, &mut std::io::sink())?;
    open::done(
        audit,
        &caller,
        &crate::control::AccessDoneRequest {
            access: listing["access"].as_u64().unwrap_or(0),
            dest: None,
            manifest_sha256: None,
            files: sha256.len() as u64,
            sha256,
            bytes,
        },
    )
    .map_err(op)?;
    writeln!(
        out,
        "  played {bytes} bytes; the access record (who, why, which file, its inode and size) was written before the first byte"
    )?;
    let q = crate::audit::query::AccessQuery {
        zone: Some("cctv".into()),
        from: Some(from),
        to: Some(to),
        path: Some("*/cam01/*".into()),
        ..Default::default()
    };
    writeln!(
        out,
        "  retentionctl audit access --zone cctv --path '*/cam01/*' --from ... --to ...   (the answer to her request)"
    )?;
    let log = crate::audit::query::access_log(&policy.daemon.audit_log, &q).map_err(anyhow::Error::msg)?;
    for line in render::access_log_text(&log).lines() {
        writeln!(out, "    {line}")?;
    }
    case::close(
        &ctx,
        &caller,
        &crate::control::CloseRequest {
            reference: "DSR-2026-014".into(),
            outcome: "disclosed".into(),
            to: Some("J. Doe, by registered letter".into()),
            reason: "footage and the access log sent".into(),
            keep_hold: false,
        },
        now,
    )
    .map_err(op)?;
    writeln!(
        out,
        "  retentionctl case close DSR-2026-014 --outcome disclosed --to 'J. Doe, by registered letter' ...: the hold is released"
    )?;
    Ok(())
}

fn print_sweep(out: &mut dyn Write, o: &crate::sweep::SweepOutcome) -> Result<()> {
    for ((zone, code), (n, b)) in &o.report.by_reason {
        writeln!(out, "  deleted {n:>5} recordings ({b}) from zone {zone}, reason {code}")?;
    }
    writeln!(
        out,
        "  {} recordings scanned; deleted {}; {} emptied time-bucket directories removed",
        o.recordings,
        o.report.summary(),
        o.report.rmdirs
    )?;
    Ok(())
}

/// The example policy with its paths moved under `root`.
fn demo_policy(root: &Path) -> String {
    let r = root.display().to_string();
    EXAMPLE_POLICY
        .replace("/srv/nvr/cctv", &format!("{r}/cctv"))
        .replace("/srv/nvr/calls", &format!("{r}/calls"))
        .replace("/srv/nvr/zoneminder/events", &format!("{r}/events"))
        // ZoneMinder's database is not here: the demo's hook lists what
        // it would be told.
        .replace(
            "/usr/share/retentiond/hooks/zoneminder-db-sync",
            &format!("tr '\\\\0' '\\\\n' >> {r}/zoneminder-hook.log"),
        )
        .replace("/var/lib/retentiond", &format!("{r}/state"))
}

/// Plans (without deleting) against a made-up filesystem 95% full whose
/// recordings are 93% of its size, to show capacity deletion and floors.
fn what_if_full(out: &mut dyn Write, policy: &Policy, now: Timestamp) -> Result<()> {
    let inv = scan::scan(policy);
    let recorded = inv
        .zones
        .iter()
        .flat_map(|z| &z.roots)
        .map(|r| r.bytes().0)
        .sum::<u64>();
    let Some(dev) = inv.zones.iter().flat_map(|z| &z.roots).find_map(|r| r.dev) else {
        return Ok(());
    };
    let size = recorded * 100 / 93;
    let used = size * 95 / 100;
    let usage = Usage {
        filesystems: vec![crate::core::plan::FsUsage {
            dev,
            mount: policy.zones[0].roots[0].clone(),
            used: Bytes(used),
            avail: Bytes(size - used),
            marks: policy.default_marks,
            log_bytes_per_deletion: 0,
            reserve_short: Bytes(0),
        }],
    };
    writeln!(
        out,
        "\nWhat if this disk were 95% full ({} of {}, high watermark {}, low {})? `retentionctl plan` would say:",
        Bytes(used),
        Bytes(size),
        policy.default_marks.high,
        policy.default_marks.low
    )?;
    // The sweep's own pipeline with deletion switched off, as `plan` runs it.
    let store = crate::state::holdstore::HoldStore::new(&policy.daemon.state_dir);
    // The first and the last file it would delete (in deletion order).
    let ends: Mutex<(Option<Decided>, Option<Decided>)> = Mutex::new((None, None));
    let note = |d: Decided| {
        let mut e = ends.lock().unwrap_or_else(|p| p.into_inner());
        if e.0.is_none() {
            e.0 = Some(d);
        } else {
            e.1 = Some(d);
        }
    };
    let o = crate::sweep::dry_plan_if(policy, &store, now, usage, Some(&note))?;
    let (plan, r) = (o.plan, o.report);
    let (first, last) = ends.into_inner().unwrap_or_else(|p| p.into_inner());
    let last = last.or_else(|| first.clone());
    for ((zone, code), (n, b)) in &r.by_reason {
        writeln!(
            out,
            "  would delete {n:>5} recordings ({b}) from zone {zone}, reason {code}"
        )?;
    }
    if let (Some(first), Some(last)) = (first, last) {
        writeln!(
            out,
            "  oldest first: from {}",
            first
                .path
                .strip_prefix(policy.zones[0].roots[0].parent().unwrap_or(Path::new("/")))
                .unwrap_or(&first.path)
                .display()
        )?;
        writeln!(
            out,
            "               to   {}",
            last.path
                .strip_prefix(policy.zones[0].roots[0].parent().unwrap_or(Path::new("/")))
                .unwrap_or(&last.path)
                .display()
        )?;
        writeln!(out, "  e.g. [{}] {}", last.code, last.text)?;
    }
    for a in &plan.alarms {
        writeln!(out, "  alarm {}: {}", a.kind, a.text)?;
    }
    if let Some(z) = policy.zones.get(1) {
        writeln!(
            out,
            "  zone {} loses nothing early: its floor ({}) equals its ceiling.",
            z.name, z.min_age
        )?;
    }
    Ok(())
}

fn build_tree(root: &Path, now: Timestamp) -> Result<Tree> {
    let payload = vec![0x42u8; FILE_BYTES];
    // Segments on the segment grid, the newest one ending a few minutes ago.
    let end = (now.0 - 300) / SEGMENT_SECS * SEGMENT_SECS;
    let spec = TreeSpec {
        cams: CAMERAS,
        days: CCTV_DAYS as f64,
        segment: SEGMENT_SECS,
        size: FILE_BYTES,
        end,
    };
    let cctv_files = treegen::frigate(&root.join("cctv"), &spec).context("cannot build the CCTV tree")?;
    // Asterisk writes local time; every third call has one file per leg.
    let (mut call_files, mut calls) = (0, 0);
    for day in 0..CALL_DAYS {
        for k in 0..CALLS_PER_DAY {
            let t = now.0 - day * 86_400 - k * 3_600 * 2 - 600;
            let dt = DateTime::from_timestamp(t, 0)
                .context("time out of range")?
                .with_timezone(&chrono::Local);
            let d = root.join("calls").join(dt.format("%Y/%m/%d").to_string());
            std::fs::create_dir_all(&d)?;
            let call = format!("out-5551234-201-{}-{t}.{k}", dt.format("%Y%m%d-%H%M%S"));
            let legs: &[&str] = if k % 3 == 0 { &["-in", "-out"] } else { &[""] };
            for leg in legs {
                treegen::write_file(&d.join(format!("{call}{leg}.wav")), &payload, t)?;
                call_files += 1;
            }
            calls += 1;
        }
    }
    // ZoneMinder's medium scheme: monitor/date/event/, frames and a video.
    let (mut event_files, mut events) = (0, 0);
    for day in 0..CCTV_DAYS {
        for mon in 1..=MONITORS {
            for k in 0..EVENTS_PER_DAY {
                let t = now.0 - day * 86_400 - k * 5_400 - 900;
                let id = 1000 + events;
                let dt = DateTime::from_timestamp(t, 0)
                    .context("time out of range")?
                    .with_timezone(&chrono::Local);
                let d = root.join(format!("events/{mon}/{}/{id}", dt.format("%Y-%m-%d")));
                std::fs::create_dir_all(&d)?;
                for f in 1..=FRAMES_PER_EVENT {
                    treegen::write_file(&d.join(format!("{f:05}-capture.jpg")), &payload, t)?;
                }
                treegen::write_file(&d.join(format!("{id}-video.mp4")), &payload, t)?;
                event_files += u64::from(FRAMES_PER_EVENT) + 1;
                events += 1;
            }
        }
    }
    Ok(Tree {
        cctv_files,
        call_files,
        calls,
        event_files,
        events: events as u64,
    })
}
