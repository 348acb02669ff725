//! The retentionctl binary: argument parsing and output only; the work
//! lives in the library.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use log::LevelFilter;
use retentiond::cli::{AuditCommand, CtlArgs, CtlCommand, PlanArgs, EXIT_FAILURE};
use retentiond::daemon::{self, Sweeper};
use retentiond::policy::Policy;
use retentiond::units::Timestamp;
use retentiond::{audit, logging};
use serde_json::json;

fn main() -> ExitCode {
    let args = CtlArgs::parse();
    logging::init("retentionctl", LevelFilter::Warn);
    let r = match &args.command {
        CtlCommand::Plan(p) => plan(&args, p),
        CtlCommand::Audit(AuditCommand::Verify { log }) => audit_verify(&args, log.as_deref()),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("retentionctl: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn plan(args: &CtlArgs, p: &PlanArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(&args.config)?;
    let mut s = Sweeper::open(policy, true)?;
    let o = s.sweep(Timestamp::now(), &AtomicBool::new(false), !p.summary)?;
    if args.json {
        let by_reason: Vec<_> = o
            .report
            .by_reason
            .iter()
            .map(|((zone, code), (n, b))| json!({"zone": zone, "reason": code, "files": n, "bytes": b.0}))
            .collect();
        let files: Vec<_> = o
            .report
            .decided
            .iter()
            .map(|d| {
                json!({"zone": d.zone, "path": audit::path_value(d.path.as_os_str()), "reason": d.code, "text": d.text, "size": d.size})
            })
            .collect();
        let held: Vec<_> = o
            .plan
            .held_past_max
            .iter()
            .map(|h| json!({"files": h.files, "bytes": h.bytes, "hold": h.label}))
            .collect();
        let alarms: Vec<_> = o
            .plan
            .alarms
            .iter()
            .map(|a| json!({"kind": a.kind.to_string(), "subject": a.subject, "text": a.text}))
            .collect();
        let mut v = json!({
            "recordings": o.recordings,
            "delete": {"files": o.report.deleted(), "bytes": o.report.freed().0, "by_reason": by_reason},
            "held_past_max_age": held,
            "alarms": alarms,
            "root_errors": o.root_errors,
        });
        if !p.summary {
            v["files"] = json!(files);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if p.summary {
        for ((zone, code), (n, b)) in &o.report.by_reason {
            println!("{zone:<16} {code:<24} {n:>9} files {b:>10}");
        }
        println!(
            "{} recordings; the next sweep would delete {}, freeing {}",
            o.recordings,
            o.report.summary(),
            o.report.freed()
        );
    } else {
        daemon::print_decisions(&o);
    }
    Ok(ExitCode::SUCCESS)
}

fn audit_verify(args: &CtlArgs, log: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
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
