//! The retentionctl binary: argument parsing and output only; the work
//! lives in the library. Requests go to the daemon's control socket; when
//! the daemon is not running, reads are served from the state directory and
//! root may change holds directly (under the same locks the daemon takes).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use log::LevelFilter;
use retentiond::cli::{AuditCommand, CtlArgs, CtlCommand, HoldAddArgs, HoldCommand, EXIT_FAILURE};
use retentiond::control::{self, ClientError, Request};
use retentiond::daemon::{self, StateLock};
use retentiond::holdops::{self, AddRequest, Caller, Ctx, OpError};
use retentiond::holdstore::HoldStore;
use retentiond::policy::{Policy, DEFAULT_SOCKET};
use retentiond::units::{Bytes, Timestamp};
use retentiond::{audit, logging};
use serde_json::{json, Value};

/// How long to wait for the daemon (counting a large hold's coverage takes a while).
const TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let args = CtlArgs::parse();
    logging::init("retentionctl", LevelFilter::Warn);
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
        CtlCommand::Plan(p) => Request::Plan { summary: p.summary },
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
    let data = match control::request(&socket, &req, TIMEOUT) {
        Ok(v) => v,
        Err(ClientError::NotRunning(_)) => match offline(policy?, &socket, &req, now) {
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&data)?);
    } else {
        print!("{}", render(&req, &data));
    }
    Ok(ExitCode::SUCCESS)
}

fn add_request(a: &HoldAddArgs, now: Timestamp) -> AddRequest {
    let (from, to) = match (a.from, a.to, a.last) {
        (Some(f), Some(t), _) => (f, t),
        (_, _, Some(l)) => (now.minus(l), now),
        _ => unreachable!("clap requires --from/--to or --last"),
    };
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

/// Serves a request without the daemon: reads from the state directory;
/// changes only as root, under the state lock (which proves the daemon is
/// not running) and the hold store's lock, audited like the daemon does.
fn offline(policy: Policy, socket: &Path, req: &Request, now: Timestamp) -> anyhow::Result<Value> {
    let store = HoldStore::new(&policy.daemon.state_dir);
    let op = |r: Result<Value, OpError>| r.map_err(anyhow::Error::from);
    match req {
        Request::Ping {} => bail!("retentiond is not running (no listener on {})", socket.display()),
        Request::Plan { summary } => {
            let o = daemon::dry_plan(&policy, &store, now, !*summary)?;
            Ok(daemon::plan_json(&o, *summary))
        }
        Request::HoldList { all } => op(holdops::list(&store, *all, now)),
        Request::HoldShow { id } => op(holdops::show(&policy, &store, None, *id, now)),
        Request::HoldAdd { .. } | Request::HoldRelease { .. } | Request::HoldExtend { .. } => {
            let caller = Caller::current();
            if caller.uid != 0 {
                bail!(
                    "retentiond is not running (no listener on {}); without it only root can change holds",
                    socket.display()
                );
            }
            let _lock = StateLock::acquire(&policy.daemon.state_dir)
                .context("retentiond seems to be running but its control socket is not answering")?;
            let audit = Mutex::new(daemon::open_audit(&policy)?);
            let ctx = Ctx {
                policy: &policy,
                store: &store,
                audit: &audit,
                inventory: None,
            };
            let v = op(match req {
                Request::HoldAdd { hold } => holdops::add(&ctx, &caller, hold, now),
                Request::HoldRelease { id, reason } => holdops::release(&ctx, &caller, *id, reason, now),
                Request::HoldExtend { id, expires, reason } => {
                    holdops::extend(&ctx, &caller, *id, *expires, reason, now)
                }
                _ => unreachable!("matched above"),
            })?;
            eprintln!("retentionctl: retentiond is not running; the change is in the hold store and the daemon reads it before its first sweep");
            Ok(v)
        }
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn covered(v: &Value) -> String {
    let c = &v["covered"];
    format!(
        "{} recordings ({})",
        c["files"].as_u64().unwrap_or(0),
        Bytes(c["bytes"].as_u64().unwrap_or(0))
    )
}

fn expiry(v: &Value) -> String {
    v["expires"]
        .as_str()
        .map(|t| format!("expires {t}"))
        .unwrap_or_else(|| "indefinite".into())
}

fn render(req: &Request, v: &Value) -> String {
    match req {
        Request::Ping {} => format!("retentiond is running (pid {})\n", v["pid"]),
        Request::Plan { .. } => daemon::plan_text(v),
        Request::HoldAdd { .. } => format!(
            "hold {} placed (case {}): covers {} now; {}\n",
            v["id"],
            s(&v["case"]),
            covered(v),
            expiry(v)
        ),
        Request::HoldRelease { id, .. } => {
            format!("hold {id} released; its {} are ordinary footage again\n", covered(v))
        }
        Request::HoldExtend { id, .. } => format!("hold {id} {}\n", expiry(v)),
        Request::HoldShow { .. } => show_text(v),
        Request::HoldList { .. } => list_text(v),
    }
}

fn scope_text(v: &Value) -> String {
    format!(
        "{}{} {} .. {}",
        v["zone"]
            .as_str()
            .map(|z| format!("zone {z}"))
            .unwrap_or_else(|| "all zones".into()),
        v["match"]
            .as_str()
            .map(|m| format!(" matching {m}"))
            .unwrap_or_default(),
        s(&v["from"]),
        s(&v["to"])
    )
}

fn show_text(v: &Value) -> String {
    let mut out = format!(
        "hold {} ({})\n  case:     {}\n  reason:   {}\n  scope:    {}\n  placed:   {} by {} (uid {})\n  expiry:   {}\n  covers:   {}\n",
        v["id"],
        s(&v["state"]),
        s(&v["case"]),
        s(&v["reason"]),
        scope_text(v),
        s(&v["created_at"]),
        s(&v["created_by"]),
        v["created_uid"],
        expiry(v),
        covered(v)
    );
    for e in v["extensions"].as_array().into_iter().flatten() {
        out += &format!(
            "  extended: {} by {}: {} -> {} ({})\n",
            s(&e["at"]),
            s(&e["by"]),
            e["old"].as_str().unwrap_or("indefinite"),
            e["new"].as_str().unwrap_or("indefinite"),
            s(&e["reason"])
        );
    }
    if let Some(r) = v["released"].as_object() {
        out += &format!("  released: {} by {}: {}\n", s(&r["at"]), s(&r["by"]), s(&r["reason"]));
    }
    out
}

fn list_text(v: &Value) -> String {
    let rows = v.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no holds\n".into();
    }
    let mut out = format!(
        "{:>4}  {:<8}  {:<18}  {:<24}  {:<20}  {}\n",
        "ID", "STATE", "CASE", "EXPIRES", "PLACED BY", "SCOPE"
    );
    for h in rows {
        out += &format!(
            "{:>4}  {:<8}  {:<18}  {:<24}  {:<20}  {}\n",
            h["id"].as_u64().unwrap_or(0),
            s(&h["state"]),
            s(&h["case"]),
            h["expires"].as_str().unwrap_or("indefinite"),
            s(&h["created_by"]),
            scope_text(&h)
        );
    }
    out
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
