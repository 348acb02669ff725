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
//! - Every recording listed or erased was read afresh, fd-relative, by
//!   this request. Which directories are read comes from the daemon's kept
//!   inventory only for a range that ended well before that inventory was
//!   taken ([`kept_for`]); otherwise (and offline) from a fresh walk of
//!   the zone.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use serde_json::{json, Value};

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
use crate::ops::record_durably;
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
/// covering each, and how many directories that may hold some could not be
/// read (vanished or replaced since `inv` was taken, or unreadable).
pub fn in_scope(inv: &Inventory, policy: &Policy, holds: &HoldSet, scope: &Scope, now: Timestamp) -> (Vec<Found>, u64) {
    let mut out = Vec::new();
    let skipped = scan::for_each_covered(inv, policy, scope, |d, zone, covered| {
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
    (out, skipped)
}

/// How long before the kept inventory was taken a range must end to be
/// answered from it: `settle_time` (a recorder may move a finished segment
/// into place that long after its recording time) plus one
/// `sweep_interval` (for changes still on their way from inotify to the
/// sweep that took it, and clock steps).
pub fn kept_margin(policy: &Policy) -> i64 {
    policy
        .daemon
        .settle_time
        .secs()
        .saturating_add(policy.daemon.sweep_interval.secs())
}

/// The daemon's kept inventory `kept`, when it may tell which directories
/// hold `req`'s recordings (see [`find`]); None: walk the zone.
///
/// It may when it was taken at `taken`, the clock has not gone back since
/// (`taken <= now`), the range ends before `taken - kept_margin`, and it
/// knows every root of the zone as the policy names them, each read
/// without error. A recorder writes a recording into the time bucket of
/// its recording time while that time is current, and every directory
/// created or changed before `taken` is in the inventory; so every
/// directory that can hold a recording of the range is in it, and those
/// whose summaries may cover the range are read afresh.
pub fn kept_for<'i>(
    kept: Option<&'i Inventory>,
    policy: &Policy,
    zone: &Zone,
    req: &RangeRequest,
    now: Timestamp,
) -> Option<&'i Inventory> {
    kept_for_zones(kept, policy, &[zone], req.to, now)
}

/// [`kept_for`] for recordings of `zones` made up to `to` (an export's
/// hold, which may span every zone).
pub fn kept_for_zones<'i>(
    kept: Option<&'i Inventory>,
    policy: &Policy,
    zones: &[&Zone],
    to: Timestamp,
    now: Timestamp,
) -> Option<&'i Inventory> {
    let inv = kept?;
    let taken = inv.taken?;
    if now < taken || to.0 >= taken.0.saturating_sub(kept_margin(policy)) {
        return None;
    }
    let known = |zone: &Zone| {
        inv.zones.get(zone.id.0 as usize).is_some_and(|z| {
            z.roots.len() == zone.roots.len()
                && z.roots
                    .iter()
                    .zip(&zone.roots)
                    .all(|(r, p)| r.path == *p && r.error.is_none() && !r.dirs.is_empty())
        })
    };
    zones.iter().all(|z| known(z)).then_some(inv)
}

/// What a range request covers, and what it was read from.
struct Gathered<'p, 'k> {
    zone: &'p Zone,
    scope: Scope,
    /// The kept inventory, or a walk made for this request.
    inv: Cow<'k, Inventory>,
    found: Vec<Found>,
}

/// Validates `req` and lists what it covers, read afresh: from the
/// directories of the kept inventory that may hold it when [`kept_for`]
/// allows and every one of them could still be read, else from a walk of
/// the zone.
fn gather<'p, 'k>(
    policy: &'p Policy,
    store: &HoldStore,
    kept: Option<&'k Inventory>,
    req: &RangeRequest,
    now: Timestamp,
) -> Result<Gathered<'p, 'k>, OpError> {
    let (zone, scope) = validate(policy, req)?;
    let (holds, _) = store.read()?;
    if let Some(inv) = kept_for(kept, policy, zone, req, now) {
        let (found, skipped) = in_scope(inv, policy, &holds, &scope, now);
        if skipped == 0 {
            return Ok(Gathered {
                zone,
                scope,
                inv: Cow::Borrowed(inv),
                found,
            });
        }
        log::debug!(
            "{skipped} directories of zone {} changed since the last sweep: walking the zone",
            zone.name
        );
    }
    let inv = scan::scan_zone(policy, zone.id);
    let (found, _) = in_scope(&inv, policy, &holds, &scope, now);
    Ok(Gathered {
        zone,
        scope,
        inv: Cow::Owned(inv),
        found,
    })
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
    record_durably(audit, rec, "cannot write the audit log, nothing done").map(|_| ())
}

/// `find`: the recordings in a range, audited (who, range, why) before the
/// answer is given.
///
/// Each recording listed is read afresh, fd-relative. Which directories
/// are read: with the daemon's kept inventory (`kept`), only those whose
/// summaries may cover the range, when the range ends more than
/// [`kept_margin`] (settle_time + sweep_interval) before that inventory
/// was taken and its roots are the zone's, all read ([`kept_for`]), and
/// every such directory can still be opened as the same directory;
/// otherwise (a range reaching recordings that may be newer than the
/// inventory, in a directory it may not know yet; a directory replaced
/// since; offline, where `kept` is None) the whole zone is walked, as
/// before. What the kept inventory cannot know: a recording placed by hand,
/// after it was taken, into a new or empty directory below one not
/// written lately (no inotify watch), with an old recording time; a walk
/// (the daemon's daily reconcile, or `find` offline) finds it.
pub fn find(
    policy: &Policy,
    store: &HoldStore,
    audit: &Mutex<AuditLog>,
    kept: Option<&Inventory>,
    caller: &Caller,
    req: &RangeRequest,
    now: Timestamp,
) -> Result<Value, OpError> {
    let Gathered { zone, inv, found, .. } = gather(policy, store, kept, req, now)?;
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
///
/// The range is gathered as [`find`] gathers it (from the kept inventory
/// under the same rule, else a walk). The plan names only directories;
/// the executor reads each afresh and decides every file on what it reads
/// (in scope, not held, not still being written), so the shared kept
/// inventory is only read, never changed.
pub fn erase(
    policy: &Policy,
    store: &HoldStore,
    audit: &Mutex<AuditLog>,
    kept: Option<&Inventory>,
    caller: &Caller,
    req: &RangeRequest,
    now: Timestamp,
) -> Result<Value, OpError> {
    let Gathered {
        zone,
        scope,
        inv,
        found,
    } = gather(policy, store, kept, req, now)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const HOUR: i64 = 3600;

    fn put(root: &Path, dir: &str, name: &str) {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(name), b"abc").unwrap();
    }

    fn paths(found: &[Found], root: &Path) -> Vec<String> {
        found
            .iter()
            .map(|f| f.path.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn a_past_range_is_read_from_the_kept_inventory_and_a_recent_one_walked() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        let policy = Policy::from_str(
            Path::new("t.toml"),
            &format!(
                "[daemon]\nstate_dir = \"{}\"\nsettle_time = \"2m\"\nsweep_interval = \"1m\"\n\
                 [[zone]]\nname = \"z\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"1d\"\nmax_age = \"30d\"\n",
                t.path().join("state").display(),
                root.display()
            ),
        )
        .unwrap();
        let store = HoldStore::new(&policy.daemon.state_dir);
        for d in ["2026-11-20/10/cam01", "2026-11-20/10/cam02", "2026-11-20/11/cam01"] {
            put(&root, d, "00.00.mp4");
            put(&root, d, "30.00.mp4");
        }
        let at = |s: &str| Timestamp(chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp());
        let ten = at("2026-11-20T10:00:00Z");
        let mut kept = scan::scan(&policy);
        kept.taken = Some(Timestamp(ten.0 + 5 * HOUR));
        let now = Timestamp(ten.0 + 5 * HOUR + 30);
        let req = |from: Timestamp, to: Timestamp| RangeRequest {
            zone: "z".into(),
            glob: None,
            from,
            to,
            reason: "test".into(),
        };
        let hour10 = req(ten, Timestamp(ten.0 + HOUR - 1));

        // After the inventory was taken: a file in a known directory (read
        // afresh, so found), a camera directory the inventory does not know
        // (not found: proof that only the kept directories were read), and
        // a file in hour 11 (outside the range, so its directory is not read).
        put(&root, "2026-11-20/10/cam01", "45.00.mp4");
        put(&root, "2026-11-20/10/cam03", "15.00.mp4");
        std::fs::remove_file(root.join("2026-11-20/10/cam02/30.00.mp4")).unwrap();
        let g = gather(&policy, &store, Some(&kept), &hour10, now).unwrap();
        assert!(matches!(g.inv, Cow::Borrowed(_)));
        assert_eq!(
            paths(&g.found, &root),
            [
                "2026-11-20/10/cam01/00.00.mp4",
                "2026-11-20/10/cam02/00.00.mp4",
                "2026-11-20/10/cam01/30.00.mp4",
                "2026-11-20/10/cam01/45.00.mp4",
            ]
        );

        // Offline, the zone is walked: the new directory is found.
        let walked = gather(&policy, &store, None, &hour10, now).unwrap();
        assert!(matches!(walked.inv, Cow::Owned(_)));
        assert_eq!(walked.found.len(), 5);

        // A range ending within settle_time + sweep_interval of the time the
        // inventory was taken is walked.
        let recent = req(ten, Timestamp(ten.0 + 5 * HOUR - kept_margin(&policy)));
        assert!(kept_for(Some(&kept), &policy, &policy.zones[0], &recent, now).is_none());
        let g = gather(&policy, &store, Some(&kept), &recent, now).unwrap();
        assert!(matches!(g.inv, Cow::Owned(_)));
        assert_eq!(g.found.len(), 7);
        let just_before = req(ten, Timestamp(ten.0 + 5 * HOUR - kept_margin(&policy) - 1));
        assert!(kept_for(Some(&kept), &policy, &policy.zones[0], &just_before, now).is_some());

        // So is any range when the clock went back, or the inventory is
        // undated, or one of its directories was replaced since.
        assert!(kept_for(Some(&kept), &policy, &policy.zones[0], &hour10, Timestamp(ten.0)).is_none());
        let undated = Inventory {
            taken: None,
            ..kept.clone()
        };
        assert!(kept_for(Some(&undated), &policy, &policy.zones[0], &hour10, now).is_none());
        std::fs::rename(root.join("2026-11-20/10/cam02"), root.join("old")).unwrap();
        put(&root, "2026-11-20/10/cam02", "50.00.mp4");
        let g = gather(&policy, &store, Some(&kept), &hour10, now).unwrap();
        assert!(matches!(g.inv, Cow::Owned(_)));
        assert_eq!(g.found.len(), 5);
    }
}
