//! Hold operations — add, extend, release, list, show, lapse — shared by
//! the daemon (requests on the control socket) and by `retentionctl` when
//! the daemon is not running (root only, under the same locks).
//!
//! Invariants:
//! - The caller's identity comes from the kernel (`SO_PEERCRED`, or the
//!   CLI's own uid), never from the request.
//! - A change is committed to the store and its audit record made durable
//!   while the store lock is held, so the audit log orders hold changes
//!   and deletion batches exactly as they happened.
//! - Coverage ("covers 1,440 recordings, 2.1 GiB now") is counted before
//!   the lock is taken, so a slow count never delays a sweep.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::schema;
use crate::audit::AuditLog;
use crate::control::AddRequest;
use crate::core::holds::{Extension, Hold, HoldId, Release};
use crate::core::inventory::Inventory;
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp, ZoneName};
use crate::fs::scan;
use crate::ops::auth::Caller;
use crate::ops::record_durably;
use crate::ops::{OpError, MAX_TEXT};
use crate::state::holdstore::HoldStore;

/// What the operations work on.
pub struct Ctx<'a> {
    /// The policy in force.
    pub policy: &'a Policy,
    /// The hold store.
    pub store: &'a HoldStore,
    /// The audit log.
    pub audit: &'a Mutex<AuditLog>,
    /// The latest inventory, if any (else coverage scans the zones).
    pub inventory: Option<&'a Inventory>,
}

pub(crate) fn text_field(name: &str, v: &str, required: bool) -> Result<(), OpError> {
    if required && v.trim().is_empty() {
        return Err(OpError::BadRequest(format!("{name}: must not be empty")));
    }
    if v.len() > MAX_TEXT {
        return Err(OpError::BadRequest(format!("{name}: longer than {MAX_TEXT} bytes")));
    }
    if v.chars().any(|c| c.is_control() && c != '\t') {
        return Err(OpError::BadRequest(format!("{name}: contains control characters")));
    }
    Ok(())
}

/// How many recordings, and their bytes, `hold`'s scope covers on disk now.
pub fn coverage(policy: &Policy, inventory: Option<&Inventory>, hold: &Hold) -> (u64, Bytes) {
    let scanned;
    let inv = match inventory {
        Some(i) => i,
        None => {
            scanned = scan::scan_for(policy, hold.zone.as_ref());
            &scanned
        }
    };
    // A count of a kept inventory is reused while the summaries of every
    // directory the hold may cover are unchanged (see COVERAGE).
    let key = inventory.map(|_| {
        (
            format!("{}\0{}", policy.digest, serde_json::to_string(hold).unwrap_or_default()),
            summaries_fingerprint(policy, inv, hold),
        )
    });
    if let Some((k, fp)) = &key {
        let cache = COVERAGE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((f, hit)) = cache.get(k) {
            if f == fp {
                return *hit;
            }
        }
    }
    let (mut files, mut bytes) = (0u64, 0u64);
    scan::for_each_covered(inv, policy, hold, |_, _, covered| {
        files += covered.len() as u64;
        bytes += covered.iter().map(|(f, _)| f.stat.frees()).sum::<u64>();
    });
    let counted = (files, Bytes(bytes));
    if let Some((k, fp)) = key {
        let mut cache = COVERAGE.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(k, (fp, counted));
    }
    counted
}

/// Coverage counts by (policy digest and hold) with the fingerprint of the
/// summaries they were counted from. A count reads the detail of every
/// directory a hold may cover (a stat per file); the fingerprint reads only
/// summaries in memory. The metrics after every sweep and `status` on
/// every request so cost no I/O while the held footage is unchanged.
static COVERAGE: Mutex<BTreeMap<String, CachedCount>> = Mutex::new(BTreeMap::new());

/// A summaries fingerprint and the (files, bytes) counted from them.
type CachedCount = (u64, (u64, Bytes));

/// A hash of the summaries of every directory `hold` may cover.
fn summaries_fingerprint(policy: &Policy, inv: &Inventory, hold: &Hold) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for d in inv.dirs() {
        let zone = &policy.zones[d.zone.0 as usize];
        let n = inv.dir(d);
        if !hold.may_cover_range(&zone.name, n.oldest, n.newest) {
            continue;
        }
        (d, n.ino, n.files, n.bytes, n.oldest.0, n.newest.0, n.newest_mtime).hash(&mut h);
    }
    for r in inv.zones.iter().flat_map(|z| &z.roots) {
        r.path.hash(&mut h);
    }
    h.finish()
}

/// A hold as shown to people and scripts.
pub fn view(h: &Hold, now: Timestamp, covered: Option<(u64, Bytes)>) -> Value {
    let state = if h.released.is_some() {
        "released"
    } else if h.active_at(now) {
        "active"
    } else {
        "lapsed"
    };
    let mut v = json!({
        "id": h.id.0,
        "state": state,
        "zone": h.zone.as_ref().map(|z| z.0.clone()),
        "match": h.glob,
        "from": h.from.rfc3339(),
        "to": h.to.rfc3339(),
        "case": h.case,
        "reason": h.reason,
        "created_by": h.created_by,
        "created_uid": h.created_uid,
        "created_at": h.created_at.rfc3339(),
        "expires": h.expires.map(|t| t.rfc3339()),
        "released": h.released.as_ref().map(|r| json!({"by": r.by, "uid": r.uid, "at": r.at.rfc3339(), "reason": r.reason})),
        "extensions": h.extensions.iter().map(|e| json!({
            "by": e.by, "uid": e.uid, "at": e.at.rfc3339(),
            "old": e.old.map(|t| t.rfc3339()), "new": e.new.map(|t| t.rfc3339()), "reason": e.reason,
        })).collect::<Vec<_>>(),
    });
    if let Some((files, bytes)) = covered {
        v["covered"] = json!({"files": files, "bytes": bytes.0});
    }
    v
}

/// The fields every record about hold `h` carries.
pub(crate) fn hold_fields(h: &Hold, by: &Caller, reason: &str, covered: (u64, Bytes)) -> schema::HoldFields {
    schema::HoldFields {
        hold: h.id.0,
        case: h.case.clone(),
        reason: reason.to_string(),
        by: by.user.clone(),
        uid: by.uid,
        scope: schema::HoldScope {
            zone: h.zone.as_ref().map(|z| z.0.clone()),
            glob: h.glob.clone(),
            from: h.from.rfc3339(),
            to: h.to.rfc3339(),
        },
        expires: h.expires.map(|t| t.rfc3339()),
        covered_files: covered.0,
        covered_bytes: covered.1 .0,
    }
}

/// Appends one hold record and makes it durable.
pub(crate) fn audit_hold<F: schema::Fields>(ctx: &Ctx, h: &Hold, rec: &F) -> Result<(), OpError> {
    let failed = format!("hold {} is in force but its audit record failed", h.id);
    record_durably(ctx.audit, rec, &failed).map(|_| ())
}

/// A hold checked and built from `req` (id 0, not yet stored), with what
/// it covers now (counted before any lock is taken).
pub(crate) fn prepare(
    ctx: &Ctx,
    caller: &Caller,
    req: &AddRequest,
    now: Timestamp,
) -> Result<(Hold, (u64, Bytes)), OpError> {
    let zone = match &req.zone {
        Some(z) => {
            if ctx.policy.zone(z).is_none() {
                let names: Vec<&str> = ctx.policy.zones.iter().map(|z| z.name.0.as_str()).collect();
                return Err(OpError::BadRequest(format!(
                    "zone: no zone {z:?} (zones: {})",
                    names.join(", ")
                )));
            }
            Some(ZoneName(z.clone()))
        }
        None => None,
    };
    text_field("case", &req.case, true)?;
    text_field("reason", &req.reason, true)?;
    if let Some(g) = &req.glob {
        text_field("match", g, true)?;
    }
    if req.from > req.to {
        return Err(OpError::BadRequest(format!(
            "from: {} is after to: {}",
            req.from.rfc3339(),
            req.to.rfc3339()
        )));
    }
    if let Some(e) = req.expires {
        if e <= now {
            return Err(OpError::BadRequest(format!(
                "expires: {} is not in the future",
                e.rfc3339()
            )));
        }
    }
    let hold = Hold::new(
        HoldId(0),
        zone,
        req.glob.clone(),
        req.from,
        req.to,
        req.case.clone(),
        req.reason.clone(),
        caller.user.clone(),
        caller.uid,
        now,
        req.expires,
    )
    .map_err(|m| OpError::BadRequest(format!("match: {m}")))?;
    let covered = coverage(ctx.policy, ctx.inventory, &hold);
    Ok((hold, covered))
}

/// Places a hold; returns its view with what it covers now.
pub fn add(ctx: &Ctx, caller: &Caller, req: &AddRequest, now: Timestamp) -> Result<Value, OpError> {
    let (mut hold, covered) = prepare(ctx, caller, req, now)?;
    let mut locked = ctx.store.lock()?;
    hold.id = locked.allocate_id();
    locked.holds.holds.push(hold.clone());
    locked.commit()?;
    audit_hold(
        ctx,
        &hold,
        &schema::HoldAdd(hold_fields(&hold, caller, &hold.reason, covered)),
    )?;
    drop(locked);
    log::info!(
        retention_event = "hold-add", retention_hold = hold.id.0, retention_case = hold.case.as_str(), retention_user = caller.user.as_str();
        "hold {} placed by {} (case {}): {} recordings, {}", hold.id, caller.user, hold.case, covered.0, covered.1
    );
    Ok(view(&hold, now, Some(covered)))
}

/// Releases an active hold (supervisors).
pub fn release(ctx: &Ctx, caller: &Caller, id: u64, reason: &str, now: Timestamp) -> Result<Value, OpError> {
    text_field("reason", reason, true)?;
    let (set, _) = ctx.store.read()?;
    let h = set.holds.iter().find(|h| h.id.0 == id).ok_or(OpError::NotFound(id))?;
    let covered = coverage(ctx.policy, ctx.inventory, h);
    let mut locked = ctx.store.lock()?;
    let h = locked.get_mut(HoldId(id)).ok_or(OpError::NotFound(id))?;
    if let Some(r) = &h.released {
        return Err(OpError::BadRequest(format!(
            "hold {id} was already released by {} at {}",
            r.by,
            r.at.rfc3339()
        )));
    }
    h.released = Some(Release {
        by: caller.user.clone(),
        uid: caller.uid,
        at: now,
        reason: reason.to_string(),
    });
    let hold = h.clone();
    locked.commit()?;
    audit_hold(
        ctx,
        &hold,
        &schema::HoldRelease(hold_fields(&hold, caller, reason, covered)),
    )?;
    drop(locked);
    log::info!(
        retention_event = "hold-release", retention_hold = id, retention_case = hold.case.as_str(), retention_user = caller.user.as_str();
        "hold {id} (case {}) released by {}: {reason}", hold.case, caller.user
    );
    Ok(view(&hold, now, Some(covered)))
}

/// Changes an active hold's expiry (operators).
pub fn extend(
    ctx: &Ctx,
    caller: &Caller,
    id: u64,
    expires: Option<Timestamp>,
    reason: &str,
    now: Timestamp,
) -> Result<Value, OpError> {
    text_field("reason", reason, true)?;
    if let Some(e) = expires {
        if e <= now {
            return Err(OpError::BadRequest(format!(
                "expires: {} is not in the future",
                e.rfc3339()
            )));
        }
    }
    let (set, _) = ctx.store.read()?;
    let current = set.holds.iter().find(|h| h.id.0 == id).ok_or(OpError::NotFound(id))?;
    let covered = coverage(ctx.policy, ctx.inventory, current);
    let mut locked = ctx.store.lock()?;
    let h = locked.get_mut(HoldId(id)).ok_or(OpError::NotFound(id))?;
    if h.released.is_some() {
        return Err(OpError::BadRequest(format!("hold {id} is released; place a new hold")));
    }
    if !h.active_at(now) {
        return Err(OpError::BadRequest(format!(
            "hold {id} lapsed at {}; its footage may already be gone: place a new hold",
            h.expires.map(|t| t.rfc3339()).unwrap_or_default()
        )));
    }
    let old = h.expires;
    h.expires = expires;
    h.extensions.push(Extension {
        by: caller.user.clone(),
        uid: caller.uid,
        at: now,
        old,
        new: expires,
        reason: reason.to_string(),
    });
    let hold = h.clone();
    locked.commit()?;
    audit_hold(
        ctx,
        &hold,
        &schema::HoldExtend {
            hold: hold_fields(&hold, caller, reason, covered),
            old_expires: old.map(|t| t.rfc3339()),
        },
    )?;
    drop(locked);
    log::info!(
        retention_event = "hold-extend", retention_hold = id, retention_user = caller.user.as_str();
        "hold {id} (case {}) now expires {} (was {}), by {}: {reason}",
        hold.case,
        expires.map(|t| t.rfc3339()).unwrap_or("never".into()),
        old.map(|t| t.rfc3339()).unwrap_or("never".into()),
        caller.user
    );
    Ok(view(&hold, now, Some(covered)))
}

/// Every hold (active only unless `all`), without coverage.
pub fn list(store: &HoldStore, all: bool, now: Timestamp) -> Result<Value, OpError> {
    let (set, _) = store.read()?;
    Ok(Value::Array(
        set.holds
            .iter()
            .filter(|h| all || h.active_at(now))
            .map(|h| view(h, now, None))
            .collect(),
    ))
}

/// One hold with what it covers now.
pub fn show(
    policy: &Policy,
    store: &HoldStore,
    inventory: Option<&Inventory>,
    id: u64,
    now: Timestamp,
) -> Result<Value, OpError> {
    let (set, _) = store.read()?;
    let h = set.holds.iter().find(|h| h.id.0 == id).ok_or(OpError::NotFound(id))?;
    Ok(view(h, now, Some(coverage(policy, inventory, h))))
}

/// Records holds that lapsed since the last call (an audit record and a
/// journal entry each). Returns their ids.
pub fn record_lapses(ctx: &Ctx, now: Timestamp) -> Result<Vec<u64>, OpError> {
    let due = |h: &Hold| h.released.is_none() && !h.lapse_recorded && !h.active_at(now);
    let (set, _) = ctx.store.read()?;
    let lapsed: Vec<(Hold, (u64, Bytes))> = set
        .holds
        .iter()
        .filter(|h| due(h))
        .map(|h| (h.clone(), coverage(ctx.policy, ctx.inventory, h)))
        .collect();
    if lapsed.is_empty() {
        return Ok(Vec::new());
    }
    let daemon = Caller {
        uid: nix::unistd::getuid().as_raw(),
        user: "retentiond (expiry)".into(),
    };
    let mut locked = ctx.store.lock()?;
    let mut ids = Vec::new();
    for (h, covered) in &lapsed {
        let Some(cur) = locked.get_mut(h.id) else { continue };
        if !due(cur) {
            continue;
        }
        cur.lapse_recorded = true;
        ids.push((cur.clone(), *covered));
    }
    locked.commit()?;
    for (h, covered) in &ids {
        let reason = format!("expired at {}", h.expires.map(|t| t.rfc3339()).unwrap_or_default());
        audit_hold(ctx, h, &schema::HoldLapse(hold_fields(h, &daemon, &reason, *covered)))?;
        log::info!(
            retention_event = "hold-lapse", retention_hold = h.id.0, retention_case = h.case.as_str();
            "hold {} (case {}) lapsed: {reason}; its {} recordings are ordinary again", h.id, h.case, covered.0
        );
    }
    Ok(ids.iter().map(|(h, _)| h.id.0).collect())
}
