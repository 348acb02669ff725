//! The sweeper: everything a sweep needs that is kept between sweeps (the
//! incremental inventory and its pending changes, raised alarms, refused
//! files, root identities, the service status), and one sweep at a time
//! through [`crate::sweep`]: inventory, inputs checked, plan and guard,
//! execution, then alarms, samples, the service status and metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::alarm_hooks::AlarmHooks;
use super::{open_log, Shared};
use crate::audit::lock_audit;
use crate::audit::schema::{self, AlarmState};
use crate::audit::AuditLog;
use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::forecast::FsForecast;
use crate::core::guard::{self, GuardState};
use crate::core::holds::HoldSet;
use crate::core::inventory::Inventory;
use crate::core::plan::Plan;
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp};
use crate::fs::scan;
use crate::fs::watch::Changes;
use crate::host::service;
use crate::ops::hold;
use crate::state::guardstore::GuardStore;
use crate::state::holdstore::HoldStore;
use crate::state::lock::StateLock;
use crate::state::roots::RootIds;
use crate::sweep;
use crate::sweep::execute::{
    execute_into, recover, ExecError, ExecOptions, HoldsGate, Listing, StaticHolds, StoreGate, SweepReport,
};
use crate::sweep::{LastSweep, SweepOutcome};

/// Closes the batch a crash left open, if any ([`recover`]).
pub(crate) fn recover_batch(audit: &mut AuditLog, policy: &Policy) -> Result<()> {
    let n = recover(audit, policy).context("cannot close the batch a previous run left open")?;
    if n > 0 {
        log::warn!(retention_event = "recovered"; "closed an interrupted deletion batch of {n} recordings (see the audit log)");
    }
    Ok(())
}

/// Whether `e` comes from a full filesystem (ENOSPC, EDQUOT).
fn is_no_space(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::audit::AuditError>()
            .is_some_and(|a| a.is_no_space())
            || c.downcast_ref::<ExecError>()
                .is_some_and(|x| matches!(x, ExecError::Audit(a) if a.is_no_space()))
    })
}

/// Everything a sweep needs, kept between sweeps.
pub struct Sweeper {
    /// Shared with the control socket.
    pub shared: Arc<Shared>,
    /// Alarms raised and not yet cleared, by (kind, subject), with why
    /// (the latest text).
    alarms: BTreeMap<(AlarmKind, String), String>,
    /// `READY=1` has been sent (after the first inventory).
    ready: bool,
    /// What the last sweep did, for the service status.
    status: String,
    /// Why the last reload was rejected, until a reload succeeds.
    pub(crate) reload_error: Option<String>,
    /// The UTC hour (Unix time / 3600) of the last retention sample.
    sampled_hour: Option<i64>,
    /// Prometheus metrics (written only with `daemon.metrics_file`).
    metrics: crate::host::metrics::Metrics,
    /// The last metrics write failed (logged once until it works again).
    metrics_failing: bool,
    /// The inventory, kept current between sweeps (None: take a full one).
    inv: Option<Inventory>,
    /// When the last full inventory was taken (monotonic: immune to clock jumps).
    scanned_at: Option<Instant>,
    /// The rolling reconcile: the next directory to re-read, when the last
    /// slice was read, the round under way, and when the last read of
    /// every directory whole (a full walk or a full round) began.
    slice: scan::SliceCursor,
    sliced_at: Option<Instant>,
    round: Round,
    full_at: Option<Instant>,
    /// Directories that changed since the last sweep (from inotify).
    pending: Changes,
    /// Files whose unlink was refused (immutable, permissions), by (device,
    /// inode), with when: not tried (nor recorded) again for an hour.
    refused: std::collections::HashMap<(u64, u64), Instant>,
    /// `state_dir/roots.json` as last read or written (None: read it at
    /// the next sweep; after a reload, so an entry removed by hand counts).
    roots: Option<RootIds>,
    /// `state_dir/floors.json` as last read or written (None: read it at
    /// the next sweep).
    floors: Option<crate::state::floors::Floors>,
    /// The start's records (a recovered batch, the policy load) are not
    /// written yet (the log was full at start): the next sweep writes them
    /// before anything else.
    startup_pending: bool,
    /// The `[alarms]` commands' queue and worker (None in dry-run mode:
    /// a dry run tells no one).
    hooks: Option<AlarmHooks>,
    _lock: Option<StateLock>,
}

impl Sweeper {
    /// Takes the state lock, opens the audit log, closes any batch a crash
    /// left open, checks the hold store and records the policy load. With
    /// `dry_run`, none of that: nothing is locked or written.
    pub fn open(policy: Policy, dry_run: bool) -> Result<Sweeper> {
        let (lock, audit) = if dry_run {
            (None, None)
        } else {
            let lock = StateLock::acquire(&policy.daemon.state_dir)?;
            (Some(lock), Some(Mutex::new(open_log(&policy)?)))
        };
        let store = HoldStore::new(&policy.daemon.state_dir);
        match store.read() {
            Ok((h, _)) => {
                let n = h.active(Timestamp::now()).count();
                log::info!(retention_event = "holds-loaded"; "{n} active holds in {}", store.path().display());
            }
            Err(e) => log::error!(retention_event = "holds-unavailable"; "{e}"),
        }
        let guard_store = GuardStore::new(&policy.daemon.state_dir);
        let guard_state = guard_store.load().unwrap_or_else(|e| {
            log::error!("the mass-deletion guard starts afresh: {e}");
            GuardState::default()
        });
        for (z, ep) in &guard_state.zones {
            log::warn!(retention_event = "guard"; "zone {z}: deletions for age are capped since {} UTC ({} may still go) until `retentionctl confirm --zone {z}`", ep.since.short(), ep.budget_left);
        }
        let mut s = Sweeper {
            shared: Arc::new(Shared {
                policy: RwLock::new(Arc::new(policy)),
                last: Mutex::new(None),
                audit,
                store,
                inventory: Mutex::new(None),
                inventory_ready: std::sync::Condvar::new(),
                guard: Mutex::new(guard_state),
                guard_store,
                wake: tokio::sync::Notify::new(),
            }),
            alarms: BTreeMap::new(),
            ready: false,
            status: String::new(),
            reload_error: None,
            sampled_hour: None,
            metrics: crate::host::metrics::Metrics::new(),
            metrics_failing: false,
            inv: None,
            scanned_at: None,
            slice: scan::SliceCursor::default(),
            sliced_at: None,
            round: Round::default(),
            full_at: None,
            pending: Changes::default(),
            refused: Default::default(),
            roots: None,
            floors: None,
            startup_pending: false,
            hooks: None,
            _lock: lock,
        };
        if !dry_run {
            s.hooks = Some(AlarmHooks::start(s.shared.clone()).context("cannot start the alarm hooks' thread")?);
        }
        s.startup_records_or_defer()?;
        Ok(s)
    }

    /// Writes the records a start begins with: the close of a batch a
    /// crash left open, then the policy load. On a full filesystem (a first
    /// start with no space set aside for the log) the daemon starts all the
    /// same, and each sweep tries again before it deletes anything.
    fn startup_records_or_defer(&mut self) -> Result<()> {
        match self.startup_records() {
            Ok(()) => Ok(()),
            Err(e) if is_no_space(&e) => {
                log::error!(retention_event = "audit-unwritable"; "the start cannot be recorded yet, nothing is deleted until it is: {e:#}");
                self.startup_pending = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn startup_records(&mut self) -> Result<()> {
        if let Some(a) = &self.shared.audit {
            recover_batch(&mut lock_audit(a), &self.policy())?;
        }
        self.record_policy_load()?;
        self.startup_pending = false;
        Ok(())
    }

    /// Lets the alarm commands' worker tell what is queued: all of it
    /// (`all`: `--once`), or at a shutdown what the run in progress needs
    /// (its timeout and a second; the rest is dropped, with a log line).
    pub fn finish_hooks(&mut self, all: bool) {
        if let Some(h) = self.hooks.take() {
            let timeout = self.policy().alarms.timeout.secs().max(1) as u64;
            h.finish((!all).then(|| Duration::from_secs(timeout + 1)));
        }
    }

    /// The service status: the last sweep, its alarms, a failed reload.
    pub fn status(&self) -> String {
        service::with_reload_error(&self.status, self.reload_error.as_deref())
    }

    fn set_status(&mut self, body: String) {
        self.status = body;
        service::status(&self.status());
    }

    /// Re-reads the policy file (SIGHUP). A valid policy takes effect at
    /// once and is audited with its digest; an invalid one is logged and
    /// shown in the service status, and the old one stays in force.
    pub fn reload(&mut self) {
        service::reloading();
        let current = self.policy();
        match Policy::load(&current.source) {
            Ok(p) => {
                let digest = p.digest.clone();
                let (old, new) = (&current.daemon, &p.daemon);
                if old.state_dir != new.state_dir
                    || old.audit_log != new.audit_log
                    || old.control_socket != new.control_socket
                {
                    log::warn!("state_dir, audit_log and control_socket changes take effect at the next restart");
                }
                self.reload_error = None;
                match self.set_policy(p) {
                    Ok(()) => {
                        log::info!(retention_event = "reload", retention_policy = digest.as_str(); "policy reloaded (sha256 {})", &digest[..12])
                    }
                    Err(e) => log::error!("policy reloaded but not audited: {e:#}"),
                }
            }
            Err(e) => {
                log::error!(retention_event = "reload-rejected"; "new policy rejected, the old one stays in force: {e}");
                self.reload_error = Some(e.to_string());
            }
        }
        service::reloaded(&self.status());
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.shared.policy()
    }

    fn record_policy_load(&self) -> Result<()> {
        let p = self.policy();
        log::info!(
            retention_event = "policy-load", retention_policy = p.digest.as_str();
            "policy {} loaded (sha256 {}): {} zones", p.source.display(), &p.digest[..12], p.zones.len()
        );
        self.shared.record(&schema::PolicyLoad {
            file: p.source.display().to_string(),
            policy: p.digest.clone(),
            zones: p
                .zones
                .iter()
                .map(|z| schema::ZoneLoaded {
                    name: z.name.0.clone(),
                    paths: z.roots.iter().map(|r| r.display().to_string()).collect(),
                    min_age: z.min_age.to_string(),
                    max_age: z.max_age.to_string(),
                    when_full: z.when_full.as_str().to_string(),
                })
                .collect(),
        })?;
        Ok(())
    }

    /// Puts a new, already validated policy in force.
    pub fn set_policy(&mut self, policy: Policy) -> Result<()> {
        check_roots_writable(&policy);
        *self.shared.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
        // Roots and zones may differ: the next sweep walks the tree anew
        // and reads the root identities again; until then `plan` and
        // `explain` take their own inventory under the new policy.
        self.inv = None;
        self.roots = None;
        self.shared.set_inventory(None);
        if self.startup_pending {
            return Ok(());
        }
        self.startup_records_or_defer()
    }

    /// Directories that changed since the last sweep (inotify, or polled):
    /// the next sweep re-reads them.
    pub fn note_changes(&mut self, changes: Changes) {
        self.pending.merge(changes);
    }

    /// The directories the daemon should watch: the zone roots and the
    /// directories written within two sweep intervals (at least two hours),
    /// with their ancestors. The others are no longer kept file by file
    /// (their events no longer come).
    pub fn wanted_watches(&mut self, now: Timestamp) -> BTreeSet<PathBuf> {
        let policy = self.policy();
        let window = policy.daemon.sweep_interval.0.as_secs().max(3600) as i64 * 2;
        let mut want: BTreeSet<PathBuf> = policy.zones.iter().flat_map(|z| z.roots.iter().cloned()).collect();
        if let Some(inv) = &mut self.inv {
            for root in inv.zones.iter_mut().flat_map(|z| &mut z.roots) {
                let recent = root.recent_dirs(now.0 - window);
                want.extend(recent.iter().map(|&d| root.abs_path(d)));
                root.retain_hot(|d| recent.binary_search(&d).is_ok());
            }
        }
        want
    }

    /// The inventory for this sweep: the kept one brought up to date by
    /// re-reading the directories that changed (and re-scanning roots that
    /// could not be read), or a full walk of the tree when there is none,
    /// `reconcile_interval` has passed, the inotify reader failed, or a root
    /// changed.
    fn current_inventory(&mut self, policy: &Policy) -> Inventory {
        let pending = std::mem::take(&mut self.pending);
        let mut why_full = match (&self.inv, &pending.lost) {
            (Some(_), Some(lost)) => Some(format!("{lost}: taking a full inventory")),
            _ => None,
        };
        if let (Some(inv), None) = (&mut self.inv, &why_full) {
            if pending.overflows > 0 {
                log::info!(
                    retention_event = "watch-overflow";
                    "the inotify queue overflowed: re-reading the {} directories being written, not the whole tree",
                    pending.dirs.len()
                );
            }
            let started = Instant::now();
            let quota = slice_quota(inv, self.sliced_at.or(self.scanned_at).map(|t| t.elapsed()), policy);
            if self.round.started.is_none() {
                self.round.full = full_round_due(self.full_at.map(|t| t.elapsed()), policy);
            }
            let kind = if self.round.full {
                scan::Round::Full
            } else {
                scan::Round::Changed
            };
            let refreshed = scan::refresh_changes(inv, policy, &pending.dirs).and_then(|n| {
                let s = scan::reconcile_slice(inv, policy, &mut self.slice, quota, kind)?;
                Ok((n, s))
            });
            match refreshed {
                Ok((n, s)) => {
                    log::debug!(
                        "inventory: {} changed directories and {} files of hot ones, {} reconciled directories re-read ({} more unchanged, not read) in {:?}",
                        n.dirs,
                        n.files,
                        s.checked - s.unchanged,
                        s.unchanged,
                        started.elapsed()
                    );
                    self.sliced_at = Some(Instant::now());
                    if self.round.started.is_none() {
                        self.round.started = Some(started);
                        if self.round.full {
                            self.full_at = Some(started);
                        }
                    }
                    self.round.checked += s.checked;
                    self.round.unchanged += s.unchanged;
                    if s.round_done {
                        let r = std::mem::take(&mut self.round);
                        let took = humantime::format_duration(Duration::from_secs(
                            r.started.map_or(0, |t| t.elapsed().as_secs()),
                        ));
                        let what = if r.full {
                            "re-read whole".to_string()
                        } else {
                            format!("checked, {} of them changed and re-read,", r.checked - r.unchanged)
                        };
                        log::info!(
                            retention_event = "reconcile";
                            "reconciled: {} known directories {what} in slices over {took}, {} vanished ones forgotten",
                            r.checked,
                            s.compacted
                        );
                    }
                    scan::rescan_failed_roots(inv, policy);
                    return self.inv.take().expect("present");
                }
                Err(e) => why_full = Some(format!("{e}: taking a full inventory")),
            }
        }
        if let Some(why) = why_full {
            log::info!(retention_event = "reconcile"; "{why}");
        }
        let started = Instant::now();
        // The first walk uses every core (the daemon is not ready before
        // it); later ones run beside the recorders, on one.
        let threads = if self.scanned_at.is_none() {
            scan::default_threads()
        } else {
            1
        };
        let inv = scan::scan_with(policy, threads);
        self.scanned_at = Some(Instant::now());
        self.full_at = Some(started);
        (self.slice, self.sliced_at, self.round) = (scan::SliceCursor::default(), None, Round::default());
        log::debug!(
            "inventory: {} recordings walked in {:?}",
            inv.files(),
            started.elapsed()
        );
        inv
    }

    /// One sweep: record lapsed holds, scan, plan, execute, report. `stop`
    /// ends it after the current batch. The service status follows it.
    pub fn sweep(&mut self, now: Timestamp, stop: &AtomicBool, list: Option<Listing>) -> Result<SweepOutcome> {
        // The sweep's thread deletes at idle I/O priority.
        if let Err(e) = crate::fs::handle::idle_io_priority() {
            log::debug!("cannot set the idle I/O class: {e}");
        }
        // READY=1 goes out from inside, once the first inventory is taken
        // (every sweep takes one before anything can fail).
        let r = self.sweep_inner(now, stop, list);
        let alarms = self.raised();
        let last = match &r {
            Ok(o) => LastSweep {
                at: o.at,
                took: o.took,
                by_reason: o
                    .report
                    .by_reason
                    .iter()
                    .map(|((z, c), (n, b))| (z.clone(), *c, *n, *b))
                    .collect(),
                interrupted: o.report.interrupted,
                error: None,
                alarms,
            },
            Err(e) => LastSweep {
                at: now,
                error: Some(format!("{e:#}")),
                alarms,
                ..Default::default()
            },
        };
        *self.shared.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(last);
        self.write_metrics(&r, now);
        match &r {
            Ok(o) => {
                let alarms: Vec<String> = self.alarms.keys().map(|(k, s)| format!("{k} {s}")).collect();
                let body = service::status_text(
                    self.policy().zones.len(),
                    o.at,
                    o.recordings,
                    &o.report,
                    &o.usage_after.filesystems,
                    &alarms,
                );
                self.set_status(body);
            }
            Err(e) => self.set_status(format!(
                "last sweep {} UTC failed, nothing deleted after the error: {e:#}",
                now.short()
            )),
        }
        r
    }

    fn sweep_inner(&mut self, now: Timestamp, stop: &AtomicBool, list: Option<Listing>) -> Result<SweepOutcome> {
        let started = Instant::now();
        let policy = self.policy();
        let shared = self.shared.clone();
        if let Some(audit) = &shared.audit {
            let inv = shared.inventory();
            let ctx = hold::Ctx {
                policy: &policy,
                store: &shared.store,
                audit,
                inventory: inv.as_deref(),
            };
            if let Err(e) = hold::record_lapses(&ctx, now) {
                log::error!("cannot record lapsed holds: {e}");
            }
        }
        let mut inv = self.current_inventory(&policy);
        // The caller read `now` before it handed over what inotify reported.
        inv.taken = Some(now);
        // Roots still on their filesystems, holds readable, none orphaned:
        // the same checks as `plan` and `explain` make (crate::sweep).
        let checked = sweep::check_inputs(
            &policy,
            &shared.store,
            &mut inv,
            &mut self.roots,
            shared.audit.is_some(),
            now,
        );
        let root_errors = inv.root_errors();
        for e in &root_errors {
            log::error!(retention_event = "root-error"; "{e}; that root is skipped this sweep");
        }
        let recordings = inv.files();
        if shared.inventory().is_none() {
            // The first inventory, for requests (a hold's coverage, status,
            // plan) during this sweep's deletions: none of them walks the tree.
            shared.set_inventory(Some(inv.clone()));
        }
        if !self.ready {
            self.ready = true;
            self.status = format!(
                "first sweep running: {}, {} recordings",
                service::zones_text(policy.zones.len()),
                service::human_count(recordings)
            );
            service::ready(&self.status());
        }
        let holds = match checked {
            Ok(i) => i.holds,
            Err(r) => {
                log::error!(retention_event = "holds-unavailable"; "nothing is deleted: {}", r.text);
                self.raise_with_current(Alarm::new(r.kind, &r.subject, &r.text));
                self.inv = Some(inv);
                return Err(r.into());
            }
        };
        if let Some(a) = &shared.audit {
            // Space for the log on a full disk, set aside again where there
            // is room; what is still missing, capacity planning counts as
            // used (scan::usage), so the sweep frees room for it.
            lock_audit(a).restore_reserve();
        }
        if self.startup_pending {
            if let Err(e) = self.startup_records() {
                let text = unwritable_text(&policy, &e);
                self.raise_with_current(Alarm::new(
                    AlarmKind::AuditUnwritable,
                    policy.daemon.audit_log.display().to_string(),
                    &text,
                ));
                self.inv = Some(inv);
                anyhow::bail!(text);
            }
        }
        let plan = self.decide(&policy, &mut inv, &holds, now);
        let (watched, forecasts) = watch_alarms(&policy, &inv, &plan, &holds, now);
        let planned: u64 = plan.entries.iter().map(|e| u64::from(e.count)).sum();
        if planned > 0 && shared.audit.is_some() {
            service::status(&service::with_reload_error(
                &format!(
                    "sweeping since {} UTC: {} recordings to consider | {}",
                    now.short(),
                    service::human_count(planned),
                    self.status
                ),
                self.reload_error.as_deref(),
            ));
        }
        let opts = ExecOptions {
            dry_run: shared.audit.is_none(),
            batch_size: policy.daemon.batch_size,
            list,
            refused: self.refused.keys().copied().collect(),
        };
        let mut report = SweepReport::default();
        // A real sweep re-reads the holds under their lock before each
        // batch; a dry one keeps the ones it planned with.
        let (mut store_gate, mut static_gate);
        let gate: &mut dyn HoldsGate = if shared.audit.is_some() {
            store_gate = StoreGate::new(shared.store.clone());
            &mut store_gate
        } else {
            static_gate = StaticHolds(holds);
            &mut static_gate
        };
        let result = execute_into(
            &plan,
            &inv,
            &policy,
            gate,
            shared.audit.as_ref(),
            &opts,
            stop,
            &mut report,
        );
        // The guard's budget pays only for deletions that happened.
        self.refund_guard(&policy, &plan, &report);
        self.refused.retain(|_, at| at.elapsed() < REFUSED_RETRY);
        for f in &report.failed {
            self.refused.insert(f.id, Instant::now());
        }
        let failures = failure_alarms(&report, &self.alarms);
        let report = match result {
            Ok(()) => report,
            Err(e) => {
                log::error!(retention_event = "sweep-failed"; "sweep stopped: {e}");
                let e = anyhow::Error::from(e);
                let alarm = match e.downcast_ref::<ExecError>() {
                    Some(ExecError::Holds(_)) => Alarm::new(
                        AlarmKind::HoldsUnavailable,
                        shared.store.path().display().to_string(),
                        e.to_string(),
                    ),
                    _ => Alarm::new(
                        AlarmKind::AuditUnwritable,
                        policy.daemon.audit_log.display().to_string(),
                        unwritable_text(&policy, &e),
                    ),
                };
                self.raise_with_current(alarm);
                // Keep the inventory, true again where the sweep deleted.
                if scan::refresh(&mut inv, &policy, plan.entries.iter().map(|e| e.dir)).is_ok() {
                    inv.drop_detail();
                    self.inv = Some(inv);
                }
                return Err(e);
            }
        };
        let mut raised: Vec<Alarm> = plan.alarms.clone();
        for e in &root_errors {
            raised.push(Alarm::new(AlarmKind::RootUnavailable, e, e));
        }
        raised.extend(failures);
        raised.extend(hook_alarms(&policy, &report, &self.alarms));
        if let Some(h) = &self.hooks {
            raised.extend(h.failure_alarms(&policy));
        }
        // Cases open past their due date (the store was readable above).
        if let Ok((_, _, cases)) = shared.store.read_all() {
            raised.extend(crate::core::cases::overdue_alarms(&cases, now));
        }
        raised.extend(watched);
        self.alarm_state(&raised);
        if let Some(a) = &shared.audit {
            let mut log = lock_audit(a);
            if let Err(e) = log.maybe_rotate() {
                log::error!(retention_event = "audit-rotate"; "cannot rotate the audit log: {e}");
            }
        }
        let mut keep = true;
        if report.deleted() > 0 || report.vanished > 0 {
            // The summaries of the directories deleted in (or removed) are
            // brought up to date, without a walk of the tree.
            let touched = plan.entries.iter().map(|e| e.dir);
            if let Err(e) = scan::refresh(&mut inv, &policy, touched) {
                log::info!(retention_event = "reconcile"; "{e}: the next sweep takes a full inventory");
                keep = false;
            }
        }
        if let Some(a) = &shared.audit {
            // In the same sweep that used it: the deletions made the room.
            lock_audit(a).restore_reserve();
        }
        let usage_after = crate::sweep::usage(&policy, &inv);
        if shared.audit.is_some() {
            self.mark_floors(&policy, &inv, &report, now);
        }
        if self.sampled_hour != Some(now.0.div_euclid(3600)) {
            if let Some(a) = &shared.audit {
                match record_samples(a, &policy, &inv, &forecasts, now) {
                    Ok(()) => self.sampled_hour = Some(now.0.div_euclid(3600)),
                    Err(e) => log::error!("cannot record the retention samples: {e}"),
                }
            }
        }
        inv.drop_detail();
        shared.set_inventory(Some(inv.clone()));
        self.inv = keep.then_some(inv);
        let outcome = SweepOutcome {
            at: now,
            took: started.elapsed(),
            recordings,
            plan,
            report,
            root_errors,
            usage_after,
        };
        self.log_summary(&outcome);
        Ok(outcome)
    }

    /// Notes, per zone, when it first reached its floor and when it last
    /// lost footage younger than its floor (`status` flags a floor on that
    /// evidence only: [`crate::state::floors`]).
    fn mark_floors(&mut self, policy: &Policy, inv: &Inventory, report: &SweepReport, now: Timestamp) {
        use crate::state::floors;
        let marks = self
            .floors
            .get_or_insert_with(|| floors::read(&policy.daemon.state_dir));
        let mut changed = false;
        for (zi, z) in policy.zones.iter().enumerate() {
            // At its floor: it holds a recording that old now, or this sweep
            // deleted one past its floor (max-age, capacity, quota: every
            // reason but the override-floor ones and an erasure).
            let mine = || report.by_reason.keys().filter(|(zone, _)| *zone == z.name.0);
            let at_floor = inv.zone_totals(zi).oldest.is_some_and(|o| o.age_at(now) >= z.min_age)
                || mine().any(|(_, code)| !code.ends_with("override-floor") && *code != "erasure");
            let young = mine().any(|(_, code)| code.ends_with("override-floor"));
            changed |= floors::mark(marks, &z.name.0, at_floor, young, now);
        }
        if changed {
            if let Err(e) = floors::write(&policy.daemon.state_dir, marks) {
                log::warn!(
                    "cannot write {}: {e}",
                    policy.daemon.state_dir.join(floors::FILE).display()
                );
            }
        }
    }

    /// Plans and applies the mass-deletion guard ([`sweep::decide`]),
    /// then logs what the guard did and persists its state.
    fn decide(&mut self, policy: &Policy, inv: &mut Inventory, holds: &HoldSet, now: Timestamp) -> Plan {
        let mark = crate::state::guardstore::clock_mark(now);
        let mut st = self.shared.guard.lock().unwrap_or_else(|p| p.into_inner());
        let d = sweep::decide(policy, inv, holds, &mut st, &mark, now);
        if let Some(why) = &d.suspect {
            log::warn!(retention_event = "clock-suspect"; "{why}");
        }
        let out = d.guard;
        // The clock reading is persisted when the boot changes (or with an
        // episode): a reading from earlier in the same boot compares just
        // as well, wall against boot clock.
        let new_boot = st.clock.as_ref().is_none_or(|c| c.boot_id != mark.boot_id);
        st.clock = Some(mark);
        for (z, c) in &out.confirmed {
            log::warn!(retention_event = "guard"; "zone {z}: the deletions held back go ahead, as {} (uid {}) confirmed at {} UTC: {}", c.by, c.uid, c.at.short(), c.reason);
        }
        for z in &out.resolved {
            log::info!(retention_event = "guard"; "zone {z}: deletions for age are back within the guard's share");
        }
        for (z, n) in &out.held_back {
            log::warn!(retention_event = "guard"; "zone {z}: {n} deletions for age held back by the mass-deletion guard");
        }
        if self.shared.audit.is_some() && (out.changed || new_boot) {
            if let Err(e) = self.shared.guard_store.save(&st) {
                log::error!("cannot save {}: {e}", self.shared.guard_store.path().display());
            }
        }
        drop(st);
        d.plan
    }

    /// Gives the guard's episodes back what this sweep's charged entries
    /// did not delete, and persists the state if that changed it.
    fn refund_guard(&self, policy: &Policy, plan: &Plan, report: &SweepReport) {
        let mut st = self.shared.guard.lock().unwrap_or_else(|p| p.into_inner());
        if guard::refund(&mut st, policy, plan, &report.charged_deleted) && self.shared.audit.is_some() {
            if let Err(e) = self.shared.guard_store.save(&st) {
                log::error!("cannot save {}: {e}", self.shared.guard_store.path().display());
            }
        }
    }

    fn write_metrics(&mut self, r: &Result<SweepOutcome>, now: Timestamp) {
        let policy = self.policy();
        let Some(path) = &policy.daemon.metrics_file else {
            return;
        };
        let alarms = self.raised();
        if let Ok((_, _, cases)) = self.shared.store.read_all() {
            let (open, overdue) = crate::core::cases::counts(&cases, now);
            self.metrics.set_cases(open, overdue);
        }
        match (r, self.shared.inventory()) {
            (Ok(o), Some(inv)) => {
                let holds = self.shared.store.read().map(|(h, _)| h).unwrap_or_default();
                self.metrics.sweep_done(&policy, &inv, &holds, o, &alarms, now);
            }
            _ => self.metrics.sweep_failed(&alarms),
        }
        match self.metrics.write(path) {
            Ok(()) => {
                if self.metrics_failing {
                    log::info!("metrics written to {} again", path.display());
                }
                self.metrics_failing = false;
            }
            Err(e) => {
                if !self.metrics_failing {
                    log::error!(
                        retention_event = "metrics-unwritable";
                        "cannot write the metrics file {} ({e}); under systemd add its directory to ReadWritePaths=", path.display()
                    );
                }
                self.metrics_failing = true;
            }
        }
    }

    /// The alarms raised now.
    fn raised(&self) -> Vec<Alarm> {
        self.alarms.iter().map(|((k, s), t)| Alarm::new(*k, s, t)).collect()
    }

    /// Raises `alarm`, keeping every alarm already raised.
    fn raise_with_current(&mut self, alarm: Alarm) {
        let mut raised = self.raised();
        raised.push(alarm);
        self.alarm_state(&raised);
    }

    /// Raises new alarms and clears those no longer present, auditing both.
    fn alarm_state(&mut self, now_raised: &[Alarm]) {
        let current: BTreeSet<(AlarmKind, &str)> = now_raised.iter().map(|a| (a.kind, a.subject.as_str())).collect();
        for a in now_raised {
            let (kind, subject, text) = (a.kind.code(), a.subject.as_str(), &a.text);
            if !self.alarms.contains_key(&(a.kind, a.subject.clone())) {
                log::warn!(retention_alarm = kind, retention_subject = subject; "alarm {kind}: {text}");
                if let Some(log) = &self.shared.audit {
                    let _ = lock_audit(log).record(&schema::AlarmRecord::raised(a));
                }
                if let Some(h) = &self.hooks {
                    h.tell(&self.shared, a, AlarmState::Raised);
                }
            } else {
                log::warn!(retention_alarm = kind, retention_subject = subject; "alarm {kind} persists: {text}");
            }
        }
        for ((kind, subject), text) in self
            .alarms
            .iter()
            .filter(|((k, s), _)| !current.contains(&(*k, s.as_str())))
        {
            log::info!(retention_alarm = kind.code(), retention_subject = subject.as_str(); "alarm {kind} cleared for {subject}");
            if let Some(a) = &self.shared.audit {
                let _ = lock_audit(a).record(&schema::AlarmRecord::cleared(*kind, subject));
            }
            if let Some(h) = &self.hooks {
                h.tell(&self.shared, &Alarm::new(*kind, subject, text), AlarmState::Cleared);
            }
        }
        if let Some(a) = &self.shared.audit {
            let mut a = lock_audit(a);
            if a.pending() > 0 {
                if let Err(e) = a.sync() {
                    log::error!("cannot write alarm records to the audit log: {e}");
                }
            }
        }
        self.alarms = now_raised
            .iter()
            .map(|a| ((a.kind, a.subject.clone()), a.text.clone()))
            .collect();
    }

    /// One journal entry per (zone, reason), never one per file.
    fn log_summary(&self, o: &SweepOutcome) {
        let verb = if self.shared.audit.is_none() {
            "would delete"
        } else {
            "deleted"
        };
        for ((zone, code), (n, bytes)) in &o.report.by_reason {
            log::info!(
                retention_event = "sweep-deleted",
                retention_zone = zone.as_str(),
                retention_reason = *code,
                retention_count = *n,
                retention_bytes = bytes.0;
                "{verb} {n} recordings ({bytes}) from zone {zone}, reason {code}"
            );
        }
        for h in &o.plan.held_past_max {
            let zone = &self.policy().zones[h.zone.0 as usize].name;
            log::info!(
                retention_event = "held-past-max-age",
                retention_zone = zone.0.as_str(),
                retention_hold = h.hold.0;
                "{} recordings ({}) of zone {zone} held past max_age by {}", h.files, Bytes(h.bytes), h.label
            );
        }
        // One line per zone and cause (the audit log has every file):
        // thousands of lines at once would be dropped by journald anyway.
        for ((zone, errno), (n, example)) in failures_by_cause(&o.report) {
            log::warn!(
                retention_event = "delete-failed", retention_zone = zone.as_str(), retention_count = n;
                "zone {zone}: {n} recordings could not be deleted: {} ({errno}), e.g. {}; {}; each is in the audit log and not tried again for {}",
                errno.desc(), example.display(), failure_fix(errno), humantime::format_duration(REFUSED_RETRY)
            );
        }
        for (p, e) in &o.report.dir_errors {
            log::warn!(retention_event = "dir-skipped"; "skipped directory {}: {e}", p.display());
        }
        let head = self.shared.audit.as_ref().map(|a| lock_audit(a).head());
        let (seq, hash) = head.unwrap_or((0, String::new()));
        log::info!(
            retention_event = "sweep",
            retention_deleted = o.report.deleted(),
            retention_audit_seq = seq,
            retention_audit_hash = hash.as_str();
            "sweep at {} took {:.1}s: {} recordings, {verb} {}, freed {}{}",
            o.at.short(),
            o.took.as_secs_f64(),
            o.recordings,
            o.report.summary(),
            o.report.freed(),
            if o.report.interrupted { " (interrupted by shutdown)" } else { "" }
        );
    }
}

/// A round of the rolling reconcile under way.
#[derive(Debug, Default)]
struct Round {
    /// When its first slice began (None: the next slice begins a round).
    started: Option<Instant>,
    /// It re-reads every directory whole ([`scan::Round::Full`]).
    full: bool,
    /// Directories its slices covered, and of them those found unchanged.
    checked: u64,
    unchanged: u64,
}

/// Whether the reconcile round about to begin re-reads every directory
/// whole: it would end `reconcile_full_interval` or later after the last
/// full read began (`since_full`; None: never), so something changed in
/// place (a file's size or `mtime`, no entry added or removed) is found
/// within that interval. The rounds in between read only the directories
/// that changed ([`scan::Round::Changed`]).
fn full_round_due(since_full: Option<Duration>, policy: &Policy) -> bool {
    let d = &policy.daemon;
    since_full.is_none_or(|t| t.saturating_add(d.reconcile_interval.0) >= d.reconcile_full_interval.0)
}

/// How many known directories this sweep's slice of the rolling reconcile
/// covers: the share of the tree that the time since the last slice is
/// of `reconcile_interval` (so a round takes about that long whatever the
/// sweeps' rhythm), counting at most two sweep intervals (a suspended box
/// does not make one sweep read the whole tree), and at least one.
fn slice_quota(inv: &Inventory, since_last: Option<Duration>, policy: &Policy) -> u64 {
    let known: u64 = inv
        .zones
        .iter()
        .flat_map(|z| &z.roots)
        .map(|r| r.dirs.len() as u64)
        .sum();
    let cap = policy.daemon.sweep_interval.0 * 2;
    let elapsed = since_last.unwrap_or(cap).min(cap).as_secs_f64();
    let round = policy.daemon.reconcile_interval.0.as_secs_f64().max(1.0);
    ((known as f64 * elapsed / round).ceil() as u64).max(1)
}

/// What the alarms watch besides the plan, from the directory summaries
/// (no walk): sources that stopped recording (less the acknowledged ones)
/// and filesystems that can keep their floors for only a few more days, with
/// the usage measured for the plan.
fn watch_alarms(
    policy: &Policy,
    inv: &Inventory,
    plan: &Plan,
    holds: &HoldSet,
    now: Timestamp,
) -> (Vec<Alarm>, Vec<FsForecast>) {
    use crate::core::{forecast, stall};
    let store = crate::state::ackstore::AckStore::new(&policy.daemon.state_dir);
    let acks = store.read().unwrap_or_else(|e| {
        log::error!("acknowledged sources unknown, every stalled source raises its alarm: {e}");
        Vec::new()
    });
    let mut out = stall::alarms(policy, &stall::sources(policy, inv), &acks, now);
    let usage = crate::core::plan::Usage {
        filesystems: plan.filesystems.iter().map(|f| f.usage.clone()).collect(),
    };
    let forecasts = forecast::forecast(policy, inv, &usage, holds, now);
    out.extend(forecast::alarms(policy, &forecasts));
    (out, forecasts)
}

/// One `sample` record per zone (hourly, after a sweep): what the zone
/// holds and the retention it achieves, so that `retentionctl report` can
/// prove past days' retention from the tamper-evident log.
fn record_samples(
    audit: &Mutex<AuditLog>,
    policy: &Policy,
    inv: &Inventory,
    forecasts: &[FsForecast],
    now: Timestamp,
) -> Result<(), crate::audit::AuditError> {
    let mut a = lock_audit(audit);
    for (zi, z) in policy.zones.iter().enumerate() {
        let crate::core::inventory::ZoneTotals {
            files,
            bytes,
            oldest,
            newest,
        } = inv.zone_totals(zi);
        a.record(&schema::Sample {
            zone: z.name.0.clone(),
            at: now.rfc3339(),
            recordings: files,
            bytes,
            oldest: oldest.map(|t| t.rfc3339()),
            newest: newest.map(|t| t.rfc3339()),
            retention_secs: oldest.map(|o| o.age_at(now).secs()),
            min_age_secs: Some(z.min_age.secs()),
            max_age_secs: Some(z.max_age.secs()),
            forecast_days: forecasts
                .iter()
                .filter(|f| {
                    inv.zones
                        .get(zi)
                        .is_some_and(|zn| zn.roots.iter().any(|r| r.dev == Some(f.dev)))
                })
                .filter_map(|f| f.days)
                .min_by(f64::total_cmp)
                .map(|d| (d * 10.0).round() / 10.0),
        })?;
    }
    a.sync()
}

/// A sweep's failed unlinks per (zone, cause): how many, and one path.
fn failures_by_cause(report: &SweepReport) -> Vec<((String, nix::errno::Errno), (u64, PathBuf))> {
    let mut by: BTreeMap<(String, i32), (u64, PathBuf)> = BTreeMap::new();
    for f in &report.failed {
        by.entry((f.zone.clone(), f.errno as i32))
            .or_insert_with(|| (0, f.path.clone()))
            .0 += 1;
    }
    by.into_iter()
        .map(|((z, e), v)| ((z, nix::errno::Errno::from_raw(e)), v))
        .collect()
}

/// What to do about an unlink that fails with `errno`.
fn failure_fix(errno: nix::errno::Errno) -> &'static str {
    use nix::errno::Errno;
    match errno {
        Errno::EACCES => {
            "the service may not delete in these directories: give it the recorder's group and the \
             zone's root in a drop-in (SupplementaryGroups=, ReadWritePaths=; README, \"Installing\"), \
             or an ACL, then restart it"
        }
        Errno::EROFS => {
            "the filesystem is read-only to the service: list the zone's root in ReadWritePaths= \
             (a drop-in, README \"Installing\"), or remount it read-write"
        }
        Errno::EPERM => {
            "the files are immutable or append-only (`lsattr` shows the i or a flag), or the directory \
             is sticky and owned by another user"
        }
        _ => "see the error; the files stay until it is fixed",
    }
}

/// `delete-failed` alarms, one per zone whose unlinks failed in this sweep
/// or whose refused recordings were skipped (the alarm already raised
/// stays until the deletions succeed).
fn failure_alarms(report: &SweepReport, current: &BTreeMap<(AlarmKind, String), String>) -> Vec<Alarm> {
    let mut text: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((zone, errno), (n, example)) in failures_by_cause(report) {
        text.entry(zone.clone()).or_default().push(format!(
            "{n} recordings of zone {zone} could not be deleted: {} ({errno}), e.g. {}; {}",
            errno.desc(),
            example.display(),
            failure_fix(errno)
        ));
    }
    let mut out: Vec<Alarm> = text
        .into_iter()
        .map(|(zone, t)| Alarm::new(AlarmKind::DeleteFailed, zone, t.join("; ")))
        .collect();
    for zone in report.skipped_refused.keys() {
        if out.iter().any(|a| a.subject == *zone) {
            continue;
        }
        if let Some(t) = current.get(&(AlarmKind::DeleteFailed, zone.clone())) {
            out.push(Alarm::new(AlarmKind::DeleteFailed, zone, t));
        }
    }
    out
}

/// `hook-failed` alarms: one per zone whose after_delete hook failed in
/// this sweep; one raised earlier stays until the hook succeeds again.
/// (The alarm commands' own `hook-failed` alarms come from
/// [`AlarmHooks::failure_alarms`].)
fn hook_alarms(policy: &Policy, report: &SweepReport, current: &BTreeMap<(AlarmKind, String), String>) -> Vec<Alarm> {
    let mut out: Vec<Alarm> = report
        .hook_failures
        .iter()
        .map(|(zone, text)| Alarm::new(AlarmKind::HookFailed, zone, text))
        .collect();
    for ((kind, zone), text) in current {
        if *kind == AlarmKind::HookFailed
            && policy.zone(zone).is_some_and(|z| z.after_delete.is_some())
            && !report.hooks_ok.contains(zone)
            && !report.hook_failures.contains_key(zone)
        {
            out.push(Alarm::new(AlarmKind::HookFailed, zone, text));
        }
    }
    out
}

/// The `audit-unwritable` alarm's text: the error, and on a full
/// filesystem what the admin can do about it.
fn unwritable_text(policy: &Policy, e: &anyhow::Error) -> String {
    if !is_no_space(e) {
        return format!("{e:#}");
    }
    let dir = policy.daemon.audit_log.parent().unwrap_or(Path::new("/"));
    format!(
        "{e:#}. The filesystem of the audit log ({}) is full and the {} set aside for its records is used \
         up, or was never set aside (a first start on a full disk): nothing is deleted until a record can \
         be written. Free a few MiB on it by hand, or let the service write into the filesystem's reserved \
         blocks (ext4: mount it with resgid= the retentiond group's id); see retentiond(8), SMALL BOXES",
        dir.display(),
        Bytes(crate::audit::RESERVE_BYTES)
    )
}

/// How long a file whose unlink was refused is left alone.
const REFUSED_RETRY: Duration = Duration::from_secs(3600);

/// Logs every zone root the daemon could not delete in: not writable by its
/// user, or on a read-only mount (under systemd: missing from the unit's
/// `ReadWritePaths=`). Such a root is still scanned and planned; its
/// deletions fail and are reported each sweep.
pub(crate) fn check_roots_writable(policy: &Policy) {
    use nix::unistd::{access, AccessFlags};
    for z in &policy.zones {
        for r in &z.roots {
            if !r.exists() {
                continue;
            }
            if let Err(e) = access(r, AccessFlags::R_OK | AccessFlags::W_OK | AccessFlags::X_OK) {
                let hint = if e == nix::errno::Errno::EROFS {
                    "it is on a read-only mount; under systemd add it to ReadWritePaths= (systemctl edit retentiond)"
                } else {
                    "grant the daemon's user write access (a group in SupplementaryGroups=, or an ACL)"
                };
                log::error!(
                    retention_event = "root-unwritable", retention_zone = z.name.0.as_str();
                    "zone {}: cannot delete in {} ({e}): {hint}", z.name, r.display()
                );
            }
        }
    }
}
