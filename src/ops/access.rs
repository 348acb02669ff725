//! Operator access to recordings by range: `find` (what was recorded, for
//! data-subject access requests and investigators) and `erase` (a range
//! deleted ahead of its time, on a supervisor's request).
//!
//! Invariants:
//! - Both are audited before they act: `find` with who asked, the range and
//!   why; `erase` with an `erase-request` record, then one `delete` record
//!   per file (reason `erasure`, the request's text and the caller), written
//!   ahead of each unlink by the same executor the sweeps use.
//! - An erasure that would touch held footage is refused before anything is
//!   deleted, naming the holds; a hold placed while it runs is honoured
//!   (each batch re-reads the holds under their lock).
//! - Ranges are read with a fresh, fd-relative scan of the zone, never from
//!   a stale inventory.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::lock_audit;
use crate::audit::schema;
use crate::audit::{path_value, AuditLog};
use crate::control::RangeRequest;
use crate::core::holds::{HoldSet, Scope};
use crate::core::inventory::Inventory;
use crate::core::plan::{erasure_plan, Erasure};
use crate::core::policy::{Policy, Zone};
use crate::core::units::{Bytes, Timestamp, ZoneName};
use crate::fs::scan;
use crate::ops::auth::Caller;
use crate::ops::hold::text_field;
use crate::ops::OpError;
use crate::state::holdstore::HoldStore;
use crate::sweep::execute::{execute, ExecOptions, StoreGate};

/// One recording in a range.
#[derive(Debug, Clone)]
pub struct Found {
    /// Absolute path.
    pub path: PathBuf,
    /// Recording time.
    pub time: Timestamp,
    /// Size in bytes.
    pub size: u64,
    /// Bytes deleting it would free.
    pub frees: u64,
    /// Labels of the active holds covering it.
    pub held_by: Vec<String>,
}

/// Checks a range request against the policy; returns its zone and scope.
pub fn validate<'p>(policy: &'p Policy, req: &RangeRequest) -> Result<(&'p Zone, Scope), OpError> {
    let zone = policy.zone(&req.zone).ok_or_else(|| {
        let names: Vec<&str> = policy.zones.iter().map(|z| z.name.0.as_str()).collect();
        OpError::BadRequest(format!("zone: no zone {:?} (zones: {})", req.zone, names.join(", ")))
    })?;
    text_field("reason", &req.reason, true)?;
    if let Some(g) = &req.glob {
        text_field("match", g, true)?;
    }
    let scope =
        Scope::new(ZoneName(req.zone.clone()), req.glob.clone(), req.from, req.to).map_err(OpError::BadRequest)?;
    Ok((zone, scope))
}

/// Every recording of `inv` in `scope`, oldest first, with the active holds
/// covering each.
pub fn in_scope(inv: &Inventory, policy: &Policy, holds: &HoldSet, scope: &Scope, now: Timestamp) -> Vec<Found> {
    let mut out = Vec::new();
    scan::for_each_covered(inv, policy, scope, |d, zone, covered| {
        for (f, rel) in covered {
            out.push(Found {
                path: inv.file_path(d, &f.name),
                time: f.time,
                size: f.stat.size,
                frees: f.stat.frees(),
                held_by: holds
                    .active(now)
                    .filter(|h| h.covers(&zone.name, &rel, f.time))
                    .map(|h| h.label())
                    .collect(),
            });
        }
    });
    out.sort_by(|a, b| (a.time, &a.path).cmp(&(b.time, &b.path)));
    out
}

/// Validates `req`, scans its zone afresh and lists what it covers.
fn gather<'p>(
    policy: &'p Policy,
    store: &HoldStore,
    req: &RangeRequest,
    now: Timestamp,
) -> Result<(&'p Zone, Scope, Inventory, Vec<Found>), OpError> {
    let (zone, scope) = validate(policy, req)?;
    let (holds, _) = store.read()?;
    let inv = scan::scan_zone(policy, zone.id);
    let found = in_scope(&inv, policy, &holds, &scope, now);
    Ok((zone, scope, inv, found))
}

/// Who asked for `req`, why, and what is in its range.
fn range_fields(req: &RangeRequest, caller: &Caller, files: usize, bytes: u64) -> schema::RangeFields {
    schema::RangeFields {
        zone: req.zone.clone(),
        glob: req.glob.clone(),
        from: req.from.rfc3339(),
        to: req.to.rfc3339(),
        reason: req.reason.clone(),
        by: caller.user.clone(),
        uid: caller.uid,
        files: files as u64,
        bytes,
    }
}

fn audited<F: schema::Fields>(audit: &Mutex<AuditLog>, rec: &F) -> Result<(), OpError> {
    let mut a = lock_audit(audit);
    a.record(rec)
        .and_then(|_| a.sync())
        .map_err(|e| OpError::Failed(format!("cannot write the audit log, nothing done: {e}")))?;
    Ok(())
}

/// `find`: the recordings in a range, audited (who, range, why) before the
/// answer is given.
pub fn find(
    policy: &Policy,
    store: &HoldStore,
    audit: &Mutex<AuditLog>,
    caller: &Caller,
    req: &RangeRequest,
    now: Timestamp,
) -> Result<Value, OpError> {
    let (zone, _, inv, found) = gather(policy, store, req, now)?;
    let bytes: u64 = found.iter().map(|f| f.size).sum();
    audited(audit, &schema::Find(range_fields(req, caller, found.len(), bytes)))?;
    log::info!(
        retention_event = "find", retention_zone = zone.name.0.as_str(), retention_user = caller.user.as_str();
        "find by {} in zone {}: {} recordings ({})", caller.user, zone.name, found.len(), Bytes(bytes)
    );
    Ok(json!({
        "zone": zone.name.0,
        "files": found.iter().map(|f| json!({
            "path": path_value(f.path.as_os_str()),
            "time": f.time.rfc3339(),
            "size": f.size,
            "held_by": f.held_by,
        })).collect::<Vec<_>>(),
        "count": found.len(),
        "bytes": bytes,
        "root_errors": inv.root_errors(),
    }))
}

/// `erase`: deletes a range ahead of its time. Refused, listing the holds,
/// if anything in it is held; otherwise recorded as an `erase-request`, then
/// deleted file by file with reason `erasure`.
pub fn erase(
    policy: &Policy,
    store: &HoldStore,
    audit: &Mutex<AuditLog>,
    caller: &Caller,
    req: &RangeRequest,
    now: Timestamp,
) -> Result<Value, OpError> {
    let (zone, scope, inv, found) = gather(policy, store, req, now)?;
    let mut held: std::collections::BTreeMap<&str, u64> = Default::default();
    for f in &found {
        for h in &f.held_by {
            *held.entry(h).or_default() += 1;
        }
    }
    if !held.is_empty() {
        let n = found.iter().filter(|f| !f.held_by.is_empty()).count();
        let list: Vec<String> = held.iter().map(|(h, c)| format!("{h}: {c} recordings")).collect();
        return Err(OpError::Refused(format!(
            "nothing erased: {n} of the {} recordings in range are held ({}); narrow the range or have the hold released",
            found.len(),
            list.join("; ")
        )));
    }
    let bytes: u64 = found.iter().map(|f| f.frees).sum();
    audited(
        audit,
        &schema::EraseRequest(range_fields(req, caller, found.len(), bytes)),
    )?;
    let text = format!(
        "erasure requested by {} (uid {}): {}",
        caller.user, caller.uid, req.reason
    );
    let plan = erasure_plan(&inv, policy, Erasure { scope, text }, now);
    let opts = ExecOptions {
        dry_run: false,
        batch_size: policy.daemon.batch_size,
        list: None,
        refused: Default::default(),
    };
    let mut gate = StoreGate::new(store.clone());
    let report = execute(
        &plan,
        &inv,
        policy,
        &mut gate,
        Some(audit),
        &opts,
        &AtomicBool::new(false),
    )
    .map_err(|e| OpError::Failed(format!("erasure stopped: {e}")))?;
    log::info!(
        retention_event = "erase", retention_zone = zone.name.0.as_str(), retention_user = caller.user.as_str(),
        retention_count = report.deleted(), retention_bytes = report.freed().0;
        "erasure by {} in zone {}: deleted {} recordings ({}): {}", caller.user, zone.name, report.deleted(), report.freed(), req.reason
    );
    Ok(json!({
        "zone": zone.name.0,
        "in_range": found.len(),
        "deleted": report.deleted(),
        "bytes": report.freed().0,
        "kept": report.kept,
        "vanished": report.vanished,
        "failed": report.failed.iter().map(|f| json!({"path": path_value(f.path.as_os_str()), "error": f.errno.desc()})).collect::<Vec<_>>(),
    }))
}
