//! The one sweep pipeline: gather (inventory, root identities, holds,
//! usage) → plan (with the detail it asks for) → guard → execute → the
//! zones' after_delete hooks ([`hook`]).
//!
//! The daemon's sweeps, `retentionctl plan`, `explain` and the demo all go
//! through it; a dry run is the same pipeline with deletion switched off,
//! so what `plan` shows is what the next sweep would do, refusals included.
//!
//! May not: serve requests, talk to systemd, or keep state between sweeps
//! (the daemon's [`crate::daemon::sweeper::Sweeper`] keeps it).

pub mod execute;
pub mod hook;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::audit;
use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::guard::{self, ClockMark, GuardState};
use crate::core::holds::HoldSet;
use crate::core::inventory::Inventory;
use crate::core::plan::{plan, NeedDetail, Plan, Usage};
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp};
use crate::fs::scan::{self, load_detail};
use crate::state::guardstore::GuardStore;
use crate::state::holdstore::HoldStore;
use crate::state::roots::{check_root_identities, RootIds};
use crate::sweep::execute::{execute, ExecOptions, Listing, StaticHolds, SweepReport};

/// Plans, loading detail wherever the planner asks for it.
pub fn plan_with_detail(inv: &mut Inventory, policy: &Policy, holds: &HoldSet, usage: &Usage, now: Timestamp) -> Plan {
    loop {
        match plan(inv, policy, holds, usage, now) {
            Ok(p) => return p,
            Err(NeedDetail(dirs)) => {
                for d in dirs {
                    load_detail(inv, policy, d);
                }
            }
        }
    }
}

/// Usage of every filesystem holding a zone root ([`crate::fs::usage::measure`]),
/// with what the audit log adds where it shares one: each deletion writes
/// its records there ([`audit::BYTES_PER_DELETION`]), and what is missing of
/// the log's reserve counts as used, so a sweep on a full disk frees room
/// for it too (else releasing it would make the disk look relieved while
/// the recorders fill it again).
pub fn usage(policy: &Policy, inv: &Inventory) -> Usage {
    usage_with(policy, inv, true)
}

/// [`usage`], the filesystems named by their mount points or not (see
/// [`crate::fs::usage::measure_with`]).
pub fn usage_with(policy: &Policy, inv: &Inventory, labels: bool) -> Usage {
    let mut u = crate::fs::usage::measure_with(policy, inv, labels);
    let log_dev = policy
        .daemon
        .audit_log
        .parent()
        .and_then(|d| nix::sys::stat::stat(d).ok())
        .map(|s| s.st_dev);
    if let Some(fsu) = u.filesystems.iter_mut().find(|f| Some(f.dev) == log_dev) {
        let short = audit::reserve_short_of(&policy.daemon.audit_log);
        fsu.set_audit_log(audit::BYTES_PER_DELETION, Bytes(short));
    }
    u
}

/// What one sweep saw and did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// When it started (wall clock, the `now` of its plan).
    pub at: Timestamp,
    /// How long it took.
    pub took: Duration,
    /// Recordings in the inventory before the sweep.
    pub recordings: u64,
    /// The plan it carried out.
    pub plan: Plan,
    /// What it did.
    pub report: SweepReport,
    /// Zone roots that could not be scanned.
    pub root_errors: Vec<String>,
    /// Filesystem usage measured after the deletions.
    pub usage_after: Usage,
}

/// The last sweep, as `retentionctl status` shows it.
#[derive(Debug, Clone, Default)]
pub struct LastSweep {
    /// When it started.
    pub at: Timestamp,
    /// How long it took.
    pub took: Duration,
    /// Deleted per (zone, reason): files and bytes.
    pub by_reason: Vec<(String, &'static str, u64, Bytes)>,
    /// It stopped early (shutdown).
    pub interrupted: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Alarms raised after it.
    pub alarms: Vec<Alarm>,
}

/// Why a sweep deletes nothing at all: the alarm it raises (kind,
/// subject) and why. `plan` and `explain` report it as "refused".
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct Refused {
    /// The alarm's kind.
    pub kind: AlarmKind,
    /// What it concerns.
    pub subject: String,
    /// Why, for an admin.
    pub text: String,
}

/// What a sweep relies on, checked.
pub struct Inputs {
    /// The holds in force.
    pub holds: HoldSet,
}

/// Checks what a sweep relies on: each zone root still on the filesystem
/// it was on (one that is not becomes unavailable in `inv`: nothing there
/// is read as deleted, or deleted), the hold store readable, and no active
/// hold naming a zone the policy no longer has (it would silently stop
/// protecting its footage). `learn`: record roots seen for the first time
/// (not in a dry run, which writes nothing).
pub fn check_inputs(
    policy: &Policy,
    store: &HoldStore,
    inv: &mut Inventory,
    roots: &mut Option<RootIds>,
    learn: bool,
    now: Timestamp,
) -> Result<Inputs, Refused> {
    check_root_identities(policy, inv, learn, roots);
    let unavailable = |text: String| Refused {
        kind: AlarmKind::HoldsUnavailable,
        subject: store.path().display().to_string(),
        text,
    };
    let (holds, _) = store.read().map_err(|e| unavailable(e.to_string()))?;
    let orphans: Vec<String> = holds
        .active(now)
        .filter(|h| h.zone.as_ref().is_some_and(|z| policy.zone(&z.0).is_none()))
        .map(|h| {
            format!(
                "{} names zone {:?}",
                h.label(),
                h.zone.as_ref().map(|z| z.0.as_str()).unwrap_or("")
            )
        })
        .collect();
    if !orphans.is_empty() {
        return Err(unavailable(format!(
            "{}, which the policy does not have; nothing is deleted until the zone is restored or the hold released",
            orphans.join("; ")
        )));
    }
    Ok(Inputs { holds })
}

/// What a sweep decided, before deleting.
pub struct Decided {
    /// The plan, capped by the guard, with the guard's alarms.
    pub plan: Plan,
    /// The usage it was made for.
    pub usage: Usage,
    /// What the guard did (its alarms are in the plan's).
    pub guard: guard::Outcome,
    /// Why the wall clock is suspect, if it is.
    pub suspect: Option<String>,
}

/// Plans (loading the detail the planner asks for) and applies the
/// mass-deletion guard with `state` (the daemon's, or a copy for a dry
/// run) and this sweep's clocks (`mark`).
pub fn decide(
    policy: &Policy,
    inv: &mut Inventory,
    holds: &HoldSet,
    state: &mut GuardState,
    mark: &ClockMark,
    now: Timestamp,
) -> Decided {
    let usage = usage(policy, inv);
    decide_for(policy, inv, holds, usage, state, mark, now)
}

/// [`decide`] for a given filesystem usage (the demo's "what if the disk
/// were full").
pub fn decide_for(
    policy: &Policy,
    inv: &mut Inventory,
    holds: &HoldSet,
    usage: Usage,
    state: &mut GuardState,
    mark: &ClockMark,
    now: Timestamp,
) -> Decided {
    let mut plan = plan_with_detail(inv, policy, holds, &usage, now);
    let suspect = if policy.daemon.guard_share >= 100.0 {
        None
    } else {
        clock_suspect(state.clock.as_ref(), mark, policy, inv, now)
    };
    let zone_files: Vec<u64> = (0..policy.zones.len()).map(|z| inv.zone_totals(z).files).collect();
    let seen = guard::Seen {
        zone_files: &zone_files,
        detail: Some(inv),
        suspect: suspect.as_deref(),
        boot_id: Some(mark.boot_id.as_str()).filter(|b| !b.is_empty()),
        now,
    };
    let mut out = guard::apply(&mut plan, policy, policy.daemon.guard_share, state, &seen);
    plan.alarms.append(&mut out.alarms);
    Decided {
        plan,
        usage,
        guard: out,
        suspect,
    }
}

/// Why the wall clock is suspect, if it is: it jumped ahead of the boot
/// clock since the last sweep, or recordings being written now are stamped
/// far behind it.
fn clock_suspect(
    last: Option<&guard::ClockMark>,
    mark: &guard::ClockMark,
    policy: &Policy,
    inv: &Inventory,
    now: Timestamp,
) -> Option<String> {
    if let Some(why) = last.and_then(|l| guard::clock_jump(l, mark)) {
        return Some(why);
    }
    for (zi, z) in policy.zones.iter().enumerate() {
        if !matches!(z.time, crate::core::policy::TimeSource::Pattern(_)) {
            continue;
        }
        let roots = inv.zones.get(zi).map(|x| x.roots.as_slice()).unwrap_or(&[]);
        let newest_mtime = roots
            .iter()
            .flat_map(|r| r.dirs.iter())
            .filter(|d| d.files > 0)
            .map(|d| d.newest_mtime)
            .max();
        let newest = inv.zone_totals(zi).newest;
        if let (Some(m), Some(n)) = (newest_mtime, newest) {
            if let Some(why) = guard::clock_ahead_of_recordings(&z.name.0, n, m, now) {
                return Some(why);
            }
        }
    }
    None
}

/// What the next sweep would do, computed by the same pipeline with
/// deletion switched off: nothing is deleted, written or locked, and the
/// guard's state is a copy (`retentionctl plan`, the socket's `plan`,
/// `explain`). A sweep that would refuse (unreadable or orphaned holds) is
/// an error ([`Refused`]); roots no longer on their filesystems are in
/// `root_errors`, with nothing planned there.
///
/// It starts from `kept` (the daemon's inventory: a copy of its summaries,
/// no walk of the tree) or, without one, from a fresh scan. Each file it
/// would delete goes to `list` as it is decided, never into memory.
pub fn dry_plan(
    policy: &Policy,
    store: &HoldStore,
    kept: Option<&Inventory>,
    now: Timestamp,
    list: Option<Listing>,
) -> Result<SweepOutcome> {
    dry_run(policy, store, kept, now, list, None)
}

/// [`dry_plan`] as if the filesystems' usage were `usage` (the demo shows
/// what a full disk would add).
pub fn dry_plan_if(
    policy: &Policy,
    store: &HoldStore,
    now: Timestamp,
    usage: Usage,
    list: Option<Listing>,
) -> Result<SweepOutcome> {
    dry_run(policy, store, None, now, list, Some(usage))
}

fn dry_run(
    policy: &Policy,
    store: &HoldStore,
    kept: Option<&Inventory>,
    now: Timestamp,
    list: Option<Listing>,
    usage: Option<Usage>,
) -> Result<SweepOutcome> {
    let started = Instant::now();
    let mut inv = match kept {
        Some(k) => k.clone(),
        None => scan::scan(policy),
    };
    let inputs = check_inputs(policy, store, &mut inv, &mut None, false, now)?;
    let root_errors = inv.root_errors();
    let recordings = inv.files();
    let mut gs = GuardStore::new(&policy.daemon.state_dir).load().unwrap_or_default();
    let mark = crate::state::guardstore::clock_mark(now);
    let usage = usage.unwrap_or_else(|| self::usage(policy, &inv));
    let d = decide_for(policy, &mut inv, &inputs.holds, usage, &mut gs, &mark, now);
    let opts = ExecOptions {
        dry_run: true,
        batch_size: policy.daemon.batch_size,
        list,
        refused: Default::default(),
    };
    let report = execute(
        &d.plan,
        &inv,
        policy,
        &mut StaticHolds(inputs.holds),
        None,
        &opts,
        &AtomicBool::new(false),
    )?;
    Ok(SweepOutcome {
        at: now,
        took: started.elapsed(),
        recordings,
        plan: d.plan,
        report,
        root_errors,
        usage_after: d.usage,
    })
}
