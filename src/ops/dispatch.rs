//! One dispatch of every request, whether it arrives on the control socket
//! (served from the daemon's state) or runs in `retentionctl` as root while
//! the daemon is stopped (served from the state directory).
//!
//! Invariant: on the socket, authorisation happens before any work; a
//! change is only made where an audit log can record it first.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::audit::AuditLog;
use crate::control::Request;
use crate::core::guard::GuardState;
use crate::core::inventory::Inventory;
use crate::core::policy::Policy;
use crate::core::units::Timestamp;
use crate::ops::auth::{authorize, Caller};
use crate::ops::{access, ack, case, confirm, explain, export, hold, open, plan, report, status, OpError};
use crate::state::guardstore::GuardStore;
use crate::state::holdstore::HoldStore;
use crate::sweep::LastSweep;

/// Why a daemon started with `--dry-run` refuses what would write.
pub const DRY_RUN: &str = "the daemon runs in dry-run mode: it writes no audit log";

/// What requests are served from.
pub struct Served<'a> {
    /// The policy in force.
    pub policy: Arc<Policy>,
    /// The hold store.
    pub store: &'a HoldStore,
    /// The audit log; None where nothing may be written (a dry-run daemon,
    /// or a reading request offline).
    pub audit: Option<&'a Mutex<AuditLog>>,
    /// The daemon's kept inventory (None: the requests that need one take
    /// their own).
    pub inventory: Option<Arc<Inventory>>,
    /// The daemon's last sweep.
    pub last: Option<LastSweep>,
    /// The guard's state and its store (`confirm`; the daemon only).
    pub guard: Option<(&'a Mutex<GuardState>, &'a GuardStore)>,
    /// Wakes the sweep loop (after a confirm).
    pub wake: Option<&'a tokio::sync::Notify>,
    /// Why nothing may be written here, when `audit` is None.
    pub read_only: &'a str,
    /// Check the caller's role (the socket); offline, the state
    /// directory's permissions decide, and changes are root's alone.
    pub check_roles: bool,
    /// Where a streamed answer's items go as they are made (the socket's
    /// writer, or the CLI's printer offline); None: answers carry them.
    pub items: Option<plan::Items<'a>>,
}

/// Carries out `req` for `caller`: the answer, and the files an
/// `export-open` passes along.
pub fn dispatch(s: &Served, caller: &Caller, req: &Request) -> Result<(Value, Vec<OwnedFd>), OpError> {
    let policy = &*s.policy;
    let (need, what) = req.needs();
    if s.check_roles {
        if let Err(e) = authorize(caller, policy, need, what) {
            log::warn!(retention_event = "denied", retention_user = caller.user.as_str(); "{what} by {} (uid {}) refused: {e}", caller.user, caller.uid);
            return Err(e);
        }
    }
    let now = Timestamp::now();
    let inv = s.inventory.as_deref();
    let audit = || s.audit.ok_or_else(|| OpError::Failed(s.read_only.to_string()));
    let v = match req {
        Request::Ping {} => json!({"pid": std::process::id(), "policy": policy.digest}),
        Request::ExportOpen { export } => {
            return export::open(policy, s.store, audit()?, inv, caller, export, now);
        }
        Request::AccessOpen { access } => {
            return open::open(policy, audit()?, caller, access, now);
        }
        Request::AccessDone { done } => open::done(audit()?, caller, done)?,
        Request::AuditAccess { query } => {
            crate::audit::query::access_log(&policy.daemon.audit_log, query).map_err(OpError::BadRequest)?
        }
        Request::CaseList { all } => case::list(s.store, *all, now)?,
        Request::HoldList { all } => hold::list(s.store, *all, now)?,
        Request::HoldShow { id } => hold::show(policy, s.store, inv, *id, now)?,
        Request::Plan { summary, limit, stream } => {
            let items = s.items.filter(|_| *stream);
            plan::answer(policy, s.store, inv, *summary, *limit, items, now)?
        }
        Request::Status {} => status::answer(policy, s.store, inv, s.last.as_ref(), now)?,
        Request::Explain { path } => match crate::audit::path_from_value(path) {
            Some(p) => explain::explain(policy, s.store, inv, Path::new(&p), now)?,
            None => return Err(OpError::BadRequest("path: not a path".into())),
        },
        Request::AuditShow { query } => {
            crate::audit::query::show(&policy.daemon.audit_log, query).map_err(OpError::BadRequest)?
        }
        Request::Report { report } => report::report(&policy.daemon.audit_log, report).map_err(OpError::Failed)?,
        Request::Confirm { zone, reason } => {
            let Some((state, store)) = s.guard else {
                return Err(OpError::Failed(s.read_only.to_string()));
            };
            let v = confirm::confirm(state, store, audit()?, caller, zone.as_deref(), reason, now)?;
            if let Some(w) = s.wake {
                w.notify_one();
            }
            v
        }
        Request::AlarmAck { kind, subject, reason } => {
            let v = ack::ack(policy, audit()?, inv, caller, kind, subject, reason, now)?;
            if let Some(w) = s.wake {
                w.notify_one();
            }
            v
        }
        Request::ExportDone { done } => export::done(audit()?, caller, done)?,
        Request::Find { range } => access::find(policy, s.store, audit()?, inv, caller, range, now)?,
        Request::Erase { range } => access::erase(policy, s.store, audit()?, inv, caller, range, now)?,
        Request::HoldAdd { .. }
        | Request::HoldRelease { .. }
        | Request::HoldExtend { .. }
        | Request::CaseOpen { .. }
        | Request::CaseClose { .. } => {
            let ctx = hold::Ctx {
                policy,
                store: s.store,
                audit: audit()?,
                inventory: inv,
            };
            match req {
                Request::HoldAdd { hold } => hold::add(&ctx, caller, hold, now)?,
                Request::HoldRelease { id, reason } => hold::release(&ctx, caller, *id, reason, now)?,
                Request::HoldExtend { id, expires, reason } => hold::extend(&ctx, caller, *id, *expires, reason, now)?,
                Request::CaseOpen { case } => case::open(&ctx, caller, case, now)?,
                Request::CaseClose { close } => case::close(&ctx, caller, close, now)?,
                _ => unreachable!("matched above"),
            }
        }
    };
    Ok((v, Vec::new()))
}

/// The socket's reply for a dispatch: `{"ok": true, "data": …}` or
/// `{"ok": false, "kind": …, "error": …}`, with the files to pass.
pub fn reply(r: Result<(Value, Vec<OwnedFd>), OpError>) -> (Value, Vec<OwnedFd>) {
    match r {
        Ok((v, fds)) => (json!({"ok": true, "data": v}), fds),
        Err(e) => (reply_err(e.kind(), &e.to_string()), Vec::new()),
    }
}

/// An error reply.
pub fn reply_err(kind: &str, msg: &str) -> Value {
    json!({"ok": false, "kind": kind, "error": msg})
}
