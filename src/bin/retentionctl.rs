//! The retentionctl binary: argument parsing and output only; the work
//! lives in the library. Requests go to the daemon's control socket; when
//! the daemon is not running, reads are served from the state directory and
//! root may change holds directly (under the same locks the daemon takes).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use log::LevelFilter;
use retentiond::audit;
use retentiond::audit::query::AccessQuery;
use retentiond::audit::query::Query;
use retentiond::cli::{
    AlarmCommand, AuditCommand, CaseCommand, CaseKindArg, CtlArgs, CtlCommand, ExportArgs, ExportCommand, HoldAddArgs,
    HoldCommand, OutcomeArg, RangeArgs, ReportFormat, TableFormat, EXIT_FAILURE,
};
use retentiond::control::client::{self, ClientError};
use retentiond::control::{AccessRequest, AddRequest, CaseRequest, CloseRequest, RangeRequest, ReportRequest, Request};
use retentiond::core::policy::{Policy, DEFAULT_SOCKET};
use retentiond::core::units::Timestamp;
use retentiond::daemon;
use retentiond::host::logging;
use retentiond::ops::auth::Caller;
use retentiond::ops::dispatch::{dispatch, Served};
use retentiond::ops::plan::Items;
use retentiond::ops::{export, html, open, render};
use retentiond::state::holdstore::HoldStore;
use retentiond::state::lock::StateLock;
use serde_json::{json, Value};

/// How long to wait for the daemon (counting a large hold's coverage takes a while).
const TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let args = CtlArgs::parse();
    logging::init("retentionctl", LevelFilter::Warn);
    render::set_utc(args.utc);
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("retentionctl: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(args: &CtlArgs) -> anyhow::Result<ExitCode> {
    let now = Timestamp::now();
    let req = match &args.command {
        CtlCommand::Audit(AuditCommand::Verify { log }) => return audit_verify(args, log.as_deref()),
        CtlCommand::Export(x) => return export_cmd(args, x),
        CtlCommand::Cat(a) => return access_cmd(args, &a.paths, &a.reason, a.case.as_deref(), None),
        CtlCommand::Copy(a) => return access_cmd(args, &a.paths, &a.reason, a.case.as_deref(), Some(&a.to)),
        CtlCommand::Audit(AuditCommand::Access(a)) => Request::AuditAccess {
            query: AccessQuery {
                zone: a.zone.clone(),
                from: a.from,
                to: a.to,
                path: a.path.clone(),
                user: a.user.clone(),
                since: a.since,
                until: a.until,
                no_deletions: a.no_deletions,
                limit: a.limit,
            },
        },
        CtlCommand::Case(CaseCommand::List { all }) => Request::CaseList { all: *all },
        CtlCommand::Case(CaseCommand::Open(c)) => {
            let (from, to) = c.range.resolve(now);
            Request::CaseOpen {
                case: CaseRequest {
                    reference: c.reference.clone(),
                    kind: match c.kind {
                        CaseKindArg::Access => "access",
                        CaseKindArg::Erasure => "erasure",
                        CaseKindArg::Investigation => "investigation",
                    }
                    .into(),
                    requested_by: c.requested_by.clone(),
                    reason: c.reason.clone(),
                    zone: if c.all_zones { None } else { c.zone.clone() },
                    glob: c.glob.clone(),
                    from,
                    to,
                    due: c.due.or(c.due_in.map(|d| now.plus(d))),
                },
            }
        }
        CtlCommand::Case(CaseCommand::Close(c)) => Request::CaseClose {
            close: CloseRequest {
                reference: c.reference.clone(),
                outcome: match c.outcome {
                    OutcomeArg::Disclosed => "disclosed",
                    OutcomeArg::Erased => "erased",
                    OutcomeArg::Refused => "refused",
                    OutcomeArg::NoAction => "no-action",
                }
                .into(),
                to: c.to.clone(),
                reason: c.reason.clone(),
                keep_hold: c.keep_hold,
            },
        },
        CtlCommand::Report(r) => Request::Report {
            report: ReportRequest {
                since: r.since,
                // Until now, inclusive: records of this very second count.
                until: r.until.unwrap_or(Timestamp(now.0 + 1)),
            },
        },
        CtlCommand::Audit(AuditCommand::Show(a)) => Request::AuditShow {
            query: Query {
                since: a.since,
                until: a.until,
                zone: a.zone.clone(),
                reason: a.reason.clone(),
                action: a.action.clone(),
                path: a.path.clone(),
                limit: a.limit,
            },
        },
        CtlCommand::Status => Request::Status {},
        CtlCommand::Confirm(c) => Request::Confirm {
            zone: c.zone.clone(),
            reason: c.reason.clone(),
        },
        CtlCommand::Alarm(AlarmCommand::Ack(a)) => Request::AlarmAck {
            kind: a.kind.clone(),
            subject: a.subject.clone(),
            reason: a.reason.clone(),
        },
        CtlCommand::Find(r) => Request::Find {
            range: range_request(r, now),
        },
        CtlCommand::Erase(r) => Request::Erase {
            range: range_request(r, now),
        },
        CtlCommand::Explain { path } => {
            let abs = if path.is_absolute() {
                path.clone()
            } else {
                std::env::current_dir()?.join(path)
            };
            Request::Explain {
                path: audit::path_value(abs.as_os_str()),
            }
        }
        CtlCommand::Plan(p) => Request::Plan {
            summary: p.summary,
            limit: (!p.all).then_some(p.limit),
            stream: true,
        },
        CtlCommand::Hold(h) => match h {
            HoldCommand::Add(a) => Request::HoldAdd {
                hold: add_request(a, now),
            },
            HoldCommand::List { all } => Request::HoldList { all: *all },
            HoldCommand::Show { id } => Request::HoldShow { id: *id },
            HoldCommand::Release { id, reason } => Request::HoldRelease {
                id: *id,
                reason: reason.clone(),
            },
            HoldCommand::Extend {
                id,
                expires,
                for_,
                indefinite: _,
                reason,
            } => Request::HoldExtend {
                id: *id,
                expires: expires.or(for_.map(|a| now.plus(a))),
                reason: reason.clone(),
            },
        },
    };
    let policy = Policy::load(&args.config);
    let socket: PathBuf = args
        .socket
        .clone()
        .or_else(|| policy.as_ref().ok().map(|p| p.daemon.control_socket.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    // A streamed answer's items (a plan's files) are printed as they come,
    // never gathered: in text a line each, in JSON the answer's "files".
    let listed = AtomicBool::new(false);
    let out = Mutex::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()));
    let print_item = |v: Value| {
        let line = if args.json {
            let first = !listed.swap(true, Ordering::Relaxed);
            format!(
                "{}{}",
                if first { "{\n  \"files\": [\n    " } else { ",\n    " },
                serde_json::to_string(&v).unwrap_or_default()
            )
        } else {
            render::plan_file(&v)
        };
        // A closed pipe (`| head`) ends the output, not the program.
        let _ = out.lock().unwrap_or_else(|p| p.into_inner()).write_all(line.as_bytes());
    };
    let data = match client::request_items(&socket, &req, TIMEOUT, &print_item) {
        Ok(v) => v,
        Err(ClientError::NotRunning(_)) => match offline(policy?, &socket, &req, &print_item) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("retentionctl: {e:#}");
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        },
        Err(ClientError::Refused { msg, .. }) => {
            eprintln!("retentionctl: {msg}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        Err(e) => return Err(e.into()),
    };
    let _ = out.lock().unwrap_or_else(|p| p.into_inner()).flush();
    if let CtlCommand::Report(r) = &args.command {
        match (args.json, r.format) {
            (true, _) | (_, ReportFormat::Json) => println!("{}", serde_json::to_string_pretty(&data)?),
            (_, ReportFormat::Csv) => print!("{}", render::report_csv(&data)),
            (_, ReportFormat::Text) => print!("{}", render::answer(&req, &data)),
            (_, ReportFormat::Html) => print!("{}", html::report_html(&data)),
        }
    } else if let CtlCommand::Audit(AuditCommand::Access(a)) = &args.command {
        match (args.json, a.format) {
            (true, _) | (_, TableFormat::Json) => println!("{}", serde_json::to_string_pretty(&data)?),
            (_, TableFormat::Csv) => print!("{}", render::access_log_csv(&data)),
            (_, TableFormat::Text) => print!("{}", render::answer(&req, &data)),
        }
    } else if args.json {
        let body = serde_json::to_string_pretty(&data)?;
        match (&req, listed.load(Ordering::Relaxed)) {
            // The files went out first; the rest of the answer closes the object.
            (Request::Plan { summary: false, .. }, any) => println!(
                "{}{}",
                if any { "\n  ],\n" } else { "{\n  \"files\": [],\n" },
                body.strip_prefix("{\n").unwrap_or(&body)
            ),
            _ => println!("{body}"),
        }
    } else {
        print!("{}", render::answer(&req, &data));
    }
    Ok(ExitCode::SUCCESS)
}

fn range_request(a: &RangeArgs, now: Timestamp) -> RangeRequest {
    let (from, to) = a.range.resolve(now);
    RangeRequest {
        zone: a.zone.clone(),
        glob: a.glob.clone(),
        from,
        to,
        reason: a.reason.clone(),
    }
}

fn add_request(a: &HoldAddArgs, now: Timestamp) -> AddRequest {
    let (from, to) = a.range.resolve(now);
    AddRequest {
        zone: if a.all_zones { None } else { a.zone.clone() },
        glob: a.glob.clone(),
        from,
        to,
        case: a.case.clone(),
        reason: a.reason.clone(),
        expires: a.expires.or(a.for_.map(|f| now.plus(f))),
    }
}

/// Serves a request without the daemon, through the same dispatch as the
/// socket: reads from the state directory; changes only as root, under the
/// state lock (which proves the daemon is not running) and the hold
/// store's lock, audited like the daemon does.
fn offline(policy: Policy, socket: &Path, req: &Request, items: Items) -> anyhow::Result<Value> {
    let not_running = format!("retentiond is not running (no listener on {})", socket.display());
    if matches!(req, Request::Ping {}) {
        bail!("{not_running}");
    }
    if matches!(
        req,
        Request::ExportOpen { .. }
            | Request::ExportDone { .. }
            | Request::Confirm { .. }
            | Request::AlarmAck { .. }
            | Request::AccessOpen { .. }
            | Request::AccessDone { .. }
    ) {
        bail!("{not_running}; export, cat, copy, confirm and alarm ack need the daemon");
    }
    let store = HoldStore::new(&policy.daemon.state_dir);
    let caller = Caller::current();
    let changes = matches!(
        req,
        Request::HoldAdd { .. }
            | Request::HoldRelease { .. }
            | Request::HoldExtend { .. }
            | Request::Find { .. }
            | Request::Erase { .. }
            | Request::CaseOpen { .. }
            | Request::CaseClose { .. }
    );
    let read_only = format!("{not_running}; without it only root can change holds and cases, find or erase");
    if changes && caller.uid != 0 {
        bail!("{read_only}");
    }
    let (_lock, audit) = if changes {
        let lock = StateLock::acquire(&policy.daemon.state_dir)
            .context("retentiond seems to be running but its control socket is not answering")?;
        (Some(lock), Some(Mutex::new(daemon::open_audit(&policy)?)))
    } else {
        (None, None)
    };
    let served = Served {
        policy: Arc::new(policy),
        store: &store,
        audit: audit.as_ref(),
        inventory: None,
        last: None,
        guard: None,
        wake: None,
        read_only: &read_only,
        check_roles: false,
        items: Some(items),
    };
    let (v, _) = dispatch(&served, &caller, req)?;
    if matches!(
        req,
        Request::HoldAdd { .. }
            | Request::HoldRelease { .. }
            | Request::HoldExtend { .. }
            | Request::CaseOpen { .. }
            | Request::CaseClose { .. }
    ) {
        eprintln!("retentionctl: retentiond is not running; the change is in the hold store and the daemon reads it before its first sweep");
    }
    Ok(v)
}

fn socket_of(args: &CtlArgs) -> PathBuf {
    args.socket
        .clone()
        .or_else(|| Policy::load(&args.config).ok().map(|p| p.daemon.control_socket.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

fn export_cmd(args: &CtlArgs, x: &ExportArgs) -> anyhow::Result<ExitCode> {
    let socket = socket_of(args);
    if let Some(ExportCommand::Verify { dir }) = &x.verify {
        return export_verify(args, &socket, dir);
    }
    let (Some(hold), Some(to), Some(reason)) = (x.hold, &x.to, &x.reason) else {
        eprintln!("retentionctl: export needs --hold, --to and --reason (or: export verify DIR)");
        return Ok(ExitCode::from(retentiond::cli::EXIT_USAGE));
    };
    let dest = std::fs::canonicalize(to)
        .with_context(|| format!("{}: the destination must be an existing directory", to.display()))?;
    let open = Request::ExportOpen {
        export: retentiond::control::OpenRequest {
            hold,
            dest: dest.display().to_string(),
            reason: reason.clone(),
        },
    };
    let (listing, fds) = match client::request_fds(&socket, &open, TIMEOUT) {
        Ok(r) => r,
        Err(ClientError::Refused { msg, .. }) => {
            eprintln!("retentionctl: {msg}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        Err(e) => return Err(e.into()),
    };
    let w = export::copy_into(&dest, &listing, fds, reason)?;
    let done = Request::ExportDone {
        done: retentiond::control::DoneRequest {
            hold,
            dest: dest.display().to_string(),
            manifest_sha256: w.manifest_sha256.clone(),
            files: w.files,
            bytes: w.bytes,
        },
    };
    let rec = client::request(&socket, &done, TIMEOUT)?;
    let out = json!({
        "dest": dest.display().to_string(), "files": w.files, "bytes": w.bytes,
        "manifest_sha256": w.manifest_sha256, "audit_seq": rec["seq"], "unreadable": w.unreadable,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", render::exported(hold, &out));
    }
    Ok(if w.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// `cat` (dest None: to stdout) and `copy --to DIR`: the daemon records
/// the access and passes the files; they are streamed or copied with their
/// hashes, which go back to the daemon's log as `access-done`.
fn access_cmd(
    args: &CtlArgs,
    paths: &[PathBuf],
    reason: &str,
    case: Option<&str>,
    to: Option<&PathBuf>,
) -> anyhow::Result<ExitCode> {
    let socket = socket_of(args);
    let cwd = std::env::current_dir()?;
    let dest = match to {
        Some(d) => Some(
            std::fs::canonicalize(d)
                .with_context(|| format!("{}: the destination must be an existing directory", d.display()))?,
        ),
        None => None,
    };
    if let Some(d) = &dest {
        // Checked before the daemon records an access that could not be copied.
        if d.join(export::MANIFEST).exists() {
            bail!(
                "{} already holds a copy ({}); use an empty directory",
                d.display(),
                export::MANIFEST
            );
        }
    }
    let req = Request::AccessOpen {
        access: AccessRequest {
            paths: paths
                .iter()
                .map(|p| audit::path_value(if p.is_absolute() { p.clone() } else { cwd.join(p) }.as_os_str()))
                .collect(),
            reason: reason.to_string(),
            dest: dest.as_ref().map(|d| d.display().to_string()),
            case: case.map(str::to_string),
        },
    };
    let (listing, fds) = match client::request_fds(&socket, &req, TIMEOUT) {
        Ok(r) => r,
        Err(ClientError::Refused { msg, .. }) => {
            eprintln!("retentionctl: {msg}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        Err(e) => return Err(e.into()),
    };
    let seq = listing["access"].as_u64().unwrap_or(0);
    let unreadable: Vec<String> = listing["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["error"].as_str().map(|e| format!("{}: {e}", f["source"])))
        .collect();
    let done = match &dest {
        None => {
            let mut out = std::io::stdout().lock();
            let (sha256, bytes) = open::stream_into(&listing, fds, &mut out)?;
            retentiond::control::AccessDoneRequest {
                access: seq,
                dest: None,
                manifest_sha256: None,
                files: sha256.len() as u64,
                sha256,
                bytes,
            }
        }
        Some(d) => {
            let w = export::copy_into(d, &listing, fds, reason)?;
            let m: Value = serde_json::from_slice(&std::fs::read(d.join(export::MANIFEST))?)?;
            retentiond::control::AccessDoneRequest {
                access: seq,
                dest: Some(d.display().to_string()),
                manifest_sha256: Some(w.manifest_sha256.clone()),
                sha256: m["files"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["sha256"].as_str().map(str::to_string))
                    .collect(),
                files: w.files,
                bytes: w.bytes,
            }
        }
    };
    let rec = client::request(&socket, &Request::AccessDone { done: done.clone() }, TIMEOUT)?;
    for u in &unreadable {
        eprintln!("retentionctl: could not be opened: {u}");
    }
    if let Some(d) = &dest {
        let out = json!({
            "dest": d.display().to_string(), "files": done.files, "bytes": done.bytes, "access_seq": seq,
            "manifest_sha256": done.manifest_sha256, "audit_seq": rec["seq"], "unreadable": unreadable,
        });
        if args.json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "copied {} file(s) ({} bytes) to {}, verified; manifest SHA-256 {}; audit records {} and {}",
                done.files,
                done.bytes,
                d.display(),
                done.manifest_sha256.as_deref().unwrap_or(""),
                seq,
                rec["seq"]
            );
        }
    } else {
        eprintln!(
            "retentionctl: {} file(s), {} bytes, played; audit records {seq} and {}",
            done.files, done.bytes, rec["seq"]
        );
    }
    Ok(if unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

fn export_verify(args: &CtlArgs, socket: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let mut c = export::verify(dir)?;
    // The audit log's word on this manifest, if the daemon answers us: an
    // export's (export-done) or a copy's (access-done).
    let action = if c.manifest["access"].is_u64() {
        "access-done"
    } else {
        "export-done"
    };
    let q = Request::AuditShow {
        query: Query {
            action: Some(action.into()),
            ..Default::default()
        },
    };
    let audit_note = match client::request(socket, &q, TIMEOUT) {
        Ok(v) => {
            let hit = v["records"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["manifest_sha256"] == c.manifest_sha256.as_str())
                .cloned();
            match hit {
                Some(r) => render::export_recorded(&r),
                None => {
                    c.problems.push(format!(
                        "no {action} record in the audit log carries this manifest's digest"
                    ));
                    "not in the audit log".into()
                }
            }
        }
        Err(e) => format!("not checked against the audit log ({e})"),
    };
    let ok = c.problems.is_empty();
    let out = json!({
        "ok": ok, "files_ok": c.ok, "problems": c.problems, "manifest_sha256": c.manifest_sha256,
        "audit": audit_note, "hold": c.manifest["hold"], "exported_by": c.manifest["exported_by"],
        "exported_at": c.manifest["exported_at"], "reason": c.manifest["reason"],
        "access": c.manifest["access"], "case": c.manifest["case"],
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", render::export_check(dir, &out));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

fn audit_verify(args: &CtlArgs, log: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = match log {
        Some(p) => p.to_path_buf(),
        None => Policy::load(&args.config)?.daemon.audit_log.clone(),
    };
    let r = audit::verify(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if args.json {
        let v = json!({
            "ok": r.ok(),
            "files": r.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "records": r.records,
            "last_seq": r.last_seq,
            "last_hash": r.last_hash,
            "problems": r.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{r}");
    }
    Ok(if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}
