//! Carries out a plan, defensively.
//!
//! Invariants:
//! - Write-ahead: for every batch, each file's `delete` record (what, why,
//!   under which policy) is appended and the audit log fsynced *before* any
//!   file of the batch is unlinked. If the log cannot be made durable
//!   (ENOSPC, EACCES, EIO) nothing of that batch is deleted and the sweep
//!   stops with an error.
//! - Holds are re-read under the holds lock before each batch and the lock
//!   is held until the batch's unlinks are done, so a hold acknowledged
//!   before the batch began is always honoured, and one placed meanwhile
//!   waits for the batch (a few milliseconds).
//! - Each file is re-classified with [`Plan::verdict`] when its directory is
//!   read, and its identity (device, inode, size, mtime) re-checked
//!   immediately before `unlinkat`; directories are opened with
//!   `O_NOFOLLOW` from the root's descriptor and must have the inode that
//!   was scanned, so nothing outside a zone root is ever reached.
//! - After the unlinks, touched directories are fsynced and a `batch-done`
//!   record lists what was deleted, already gone, changed (kept) or failed.
//!   On start, [`recover`] closes a batch a crash left open.
//! - A dry run goes down the same path and stops short of writing records
//!   and unlinking: it reports "would delete".

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::audit::schema::{self, Action, Outcome, RecPath};
use crate::audit::{lock_audit, AuditError, AuditLog};
use crate::core::holds::HoldSet;
use crate::core::inventory::{DirRef, Inventory};
use crate::core::inventory::{FileStat, Member};
use crate::core::layout::Unit;
use crate::core::plan::{Entry, Files, Plan, Reason, Verdict};
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp};
use crate::fs::handle::DirHandle;
use crate::fs::scan;
use crate::state::holdstore::{HoldStore, Stamp, StoreError};
use nix::errno::Errno;

/// Access to the current holds, under the lock holds are added with.
pub trait HoldsGate {
    /// Runs `f` with the holds as they are now, holding the store's lock
    /// for the duration so no hold can be added or released meanwhile.
    fn with_locked(&mut self, f: &mut dyn FnMut(&HoldSet) -> Result<(), ExecError>) -> Result<(), ExecError>;
}

/// A fixed set of holds (tests, dry runs, and when no store exists yet).
pub struct StaticHolds(pub HoldSet);

impl HoldsGate for StaticHolds {
    fn with_locked(&mut self, f: &mut dyn FnMut(&HoldSet) -> Result<(), ExecError>) -> Result<(), ExecError> {
        f(&self.0)
    }
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The audit log could not be written: nothing of the batch was deleted.
    #[error("audit log not writable, nothing deleted in this batch: {0}")]
    Audit(#[from] AuditError),
    /// The holds could not be read: deleting would risk held footage.
    #[error("holds unavailable, nothing deleted: {0}")]
    Holds(String),
}

/// Where a dry run hands each file it would delete, in deletion order.
/// The listing streams through it: a plan of any length is never held in
/// memory.
pub type Listing<'a> = &'a (dyn Fn(Decided) + Sync);

/// Options of one execution.
#[derive(Clone, Default)]
pub struct ExecOptions<'a> {
    /// Report what would be deleted; write and unlink nothing.
    pub dry_run: bool,
    /// Files per durable audit batch.
    pub batch_size: usize,
    /// Dry run: each "would delete" decision goes here as it is made.
    pub list: Option<Listing<'a>>,
    /// Files (device, inode) whose unlink was refused lately (EPERM,
    /// EACCES, EROFS: immutable, permissions, read-only): not tried again
    /// (and not recorded again) until the caller forgets them.
    pub refused: HashSet<(u64, u64)>,
}

/// One file the sweep decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// Absolute path.
    pub path: PathBuf,
    /// Zone name.
    pub zone: String,
    /// Reason code.
    pub code: &'static str,
    /// Reason sentence.
    pub text: String,
    /// Apparent size.
    pub size: u64,
}

/// An unlink that failed (the audit log has its `batch-done` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Absolute path.
    pub path: PathBuf,
    /// Zone name.
    pub zone: String,
    /// Why.
    pub errno: Errno,
    /// Device and inode, for [`ExecOptions::refused`].
    pub id: (u64, u64),
}

/// What a sweep did.
#[derive(Debug, Default, Clone)]
pub struct SweepReport {
    /// Files deleted (or that would be, in a dry run) per (zone, reason code): count and bytes freed.
    pub by_reason: BTreeMap<(String, &'static str), (u64, Bytes)>,
    /// Files already gone when their turn came.
    pub vanished: u64,
    /// Files kept at execution time (changed, held meanwhile, written since the scan).
    pub kept: u64,
    /// Files whose unlink failed (EACCES, EPERM, immutable...).
    pub failed: Vec<Failure>,
    /// Due files skipped because their unlink was refused lately, per zone.
    pub skipped_refused: BTreeMap<String, u64>,
    /// Directories that could not be opened safely (replaced, symlinked, remounted).
    pub dir_errors: Vec<(PathBuf, String)>,
    /// Empty time-bucket directories removed.
    pub rmdirs: u64,
    /// The sweep stopped early on a shutdown request.
    pub interrupted: bool,
    /// Per plan entry (indexed like [`Plan::entries`]), how many of the
    /// files the guard charged to its budget were deleted: it gives back
    /// the rest.
    pub charged_deleted: Vec<u32>,
    /// Zones whose after_delete hook failed in this sweep, with why.
    pub hook_failures: BTreeMap<String, String>,
    /// Zones whose after_delete hook ran and succeeded in this sweep.
    pub hooks_ok: std::collections::BTreeSet<String>,
}

impl SweepReport {
    /// Files deleted in total.
    pub fn deleted(&self) -> u64 {
        self.by_reason.values().map(|v| v.0).sum()
    }

    /// Bytes freed in total.
    pub fn freed(&self) -> Bytes {
        self.by_reason.values().map(|v| v.1).sum()
    }

    /// "340 (max-age 300, capacity 40)".
    pub fn summary(&self) -> String {
        let mut per: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, code), (n, _)) in &self.by_reason {
            *per.entry(code).or_default() += n;
        }
        if per.is_empty() {
            return "0".into();
        }
        let parts: Vec<String> = per.iter().map(|(c, n)| format!("{c} {n}")).collect();
        format!("{} ({})", self.deleted(), parts.join(", "))
    }
}

/// A file of the current batch, decided and recorded.
struct Pending {
    entry: usize,
    name: OsString,
    stat: FileStat,
    members: Vec<Member>,
    path: PathBuf,
    seq: u64,
    code: &'static str,
    time: Timestamp,
}

/// A candidate read from disk, not yet decided.
struct Candidate {
    entry: usize,
    name: OsString,
    stat: FileStat,
    /// A unit's files (empty for a plain file).
    members: Vec<Member>,
    time: Timestamp,
    rel: Vec<u8>,
}

/// Directories (open descriptors) one batch may span: far below the usual
/// soft limit of 1024 open files, whatever the batch size.
const MAX_BATCH_DIRS: usize = 256;

/// Carries out `plan`. `audit` may be None only for a dry run.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    plan: &Plan,
    inv: &Inventory,
    policy: &Policy,
    gate: &mut dyn HoldsGate,
    audit: Option<&Mutex<AuditLog>>,
    opts: &ExecOptions,
    stop: &AtomicBool,
) -> Result<SweepReport, ExecError> {
    let mut report = SweepReport::default();
    execute_into(plan, inv, policy, gate, audit, opts, stop, &mut report)?;
    Ok(report)
}

/// [`execute`], reporting into `report`, which tells what was done
/// before an error too.
#[allow(clippy::too_many_arguments)]
pub fn execute_into(
    plan: &Plan,
    inv: &Inventory,
    policy: &Policy,
    gate: &mut dyn HoldsGate,
    audit: Option<&Mutex<AuditLog>>,
    opts: &ExecOptions,
    stop: &AtomicBool,
    report: &mut SweepReport,
) -> Result<(), ExecError> {
    report.charged_deleted = vec![0; plan.entries.len()];
    let batch = opts.batch_size.max(1);
    let mut dirs: Vec<Option<DirHandle>> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::new();
    let mut i = 0;
    while i < plan.entries.len() {
        if stop.load(Ordering::Relaxed) {
            report.interrupted = true;
            break;
        }
        // Gather whole entries until the batch is full.
        let first = i;
        cands.clear();
        dirs.clear();
        while i < plan.entries.len() && ((cands.len() < batch && dirs.len() < MAX_BATCH_DIRS) || i == first) {
            let e = &plan.entries[i];
            dirs.push(gather(e, i - first, inv, policy, &mut cands, report));
            i += 1;
        }
        // A batch's records must fit in what the log can write for sure
        // (its reserve past the end, and free space): on a full disk a
        // larger one would fail whole, every sweep, and nothing would be
        // deleted. So a big directory goes in several batches there.
        let room = audit.map_or(u64::MAX, |a| lock_audit(a).batch_room() / 4 * 3);
        let mut start = 0usize;
        loop {
            let end = start + fitting(&cands[start..], room);
            run_batch(
                plan,
                inv,
                policy,
                gate,
                audit,
                opts,
                first,
                &plan.entries[first..i],
                &dirs,
                &cands[start..end],
                end == cands.len(),
                report,
            )?;
            if end == cands.len() {
                break;
            }
            start = end;
        }
        // Between batches the disk and the CPU go to the recorders first
        // (the sweep's thread also runs at idle I/O priority).
        std::thread::yield_now();
    }
    if let Some(a) = audit {
        let mut a = lock_audit(a);
        if a.pending() > 0 {
            a.sync()?;
        }
    }
    Ok(())
}

/// Whether two deletions' records can be one grouped record: the same
/// reason but for the file's own recording time.
fn same_basis(a: &Reason, b: &Reason) -> bool {
    a.code == b.code
        && a.basis == b.basis
        && a.held == b.held
        && a.former_hold == b.former_hold
        && a.rule == b.rule
        && a.decided == b.decided
}

/// How many of `cands` (at least one) have records that fit in `room`
/// bytes: a unit's record names each of its members.
fn fitting(cands: &[Candidate], room: u64) -> usize {
    let mut used = 0u64;
    for (k, c) in cands.iter().enumerate() {
        let names: u64 = c.members.iter().map(|m| m.rel.len() as u64 + 64).sum();
        used = used.saturating_add(crate::audit::BYTES_PER_DELETION + names);
        if used > room {
            return k.max(1);
        }
    }
    cands.len()
}

/// Reads the candidates of one entry; returns the open directory.
fn gather(
    e: &Entry,
    local: usize,
    inv: &Inventory,
    policy: &Policy,
    cands: &mut Vec<Candidate>,
    report: &mut SweepReport,
) -> Option<DirHandle> {
    let dir = match scan::open_dir(inv, e.dir) {
        Ok(d) => d,
        Err(err) => {
            report
                .dir_errors
                .push((inv.root(e.dir).abs_path(e.dir.dir), err.to_string()));
            return None;
        }
    };
    let rel = inv.root(e.dir).rel_path(e.dir.dir);
    let file_rel = |name: &OsStr| {
        let mut r = rel.clone();
        if !r.is_empty() {
            r.push(b'/');
        }
        r.extend_from_slice(name.as_bytes());
        r
    };
    let zone = &policy.zones[e.dir.zone.0 as usize];
    // Units are always read afresh: the plan names them, the disk says
    // what their members are now.
    let wanted: Option<HashSet<OsString>> = match (&e.files, &zone.unit) {
        (Files::All, _) => None,
        (Files::Some(ix), Unit::Dir { .. } | Unit::Group(_)) => {
            let det = inv.detail(e.dir).map(|v| v.as_slice()).unwrap_or(&[]);
            Some(
                ix.iter()
                    .filter_map(|&k| det.get(k as usize))
                    .map(|f| f.name.clone())
                    .collect(),
            )
        }
        (Files::Some(ix), Unit::File) => {
            let det = inv.detail(e.dir).map(|v| v.as_slice()).unwrap_or(&[]);
            for &k in ix {
                if let Some(f) = det.get(k as usize) {
                    cands.push(Candidate {
                        entry: local,
                        name: f.name.clone(),
                        stat: f.stat,
                        members: Vec::new(),
                        time: f.time,
                        rel: file_rel(&f.name),
                    });
                }
            }
            return Some(dir);
        }
    };
    let mut stats = Default::default();
    let res = scan::read_dir(
        &dir,
        &rel,
        zone,
        &mut stats,
        |name, stat, time, members| {
            if wanted.as_ref().is_none_or(|w| w.contains(name)) {
                cands.push(Candidate {
                    entry: local,
                    name: name.to_os_string(),
                    stat,
                    members: members.to_vec(),
                    time,
                    rel: file_rel(name),
                })
            }
        },
        |_, _| {},
    );
    if let Err(err) = res {
        report
            .dir_errors
            .push((inv.root(e.dir).abs_path(e.dir.dir), err.to_string()));
    }
    Some(dir)
}

#[allow(clippy::too_many_arguments)]
fn run_batch(
    plan: &Plan,
    inv: &Inventory,
    policy: &Policy,
    gate: &mut dyn HoldsGate,
    audit: Option<&Mutex<AuditLog>>,
    opts: &ExecOptions,
    first: usize,
    entries: &[Entry],
    dirs: &[Option<DirHandle>],
    cands: &[Candidate],
    last: bool,
    report: &mut SweepReport,
) -> Result<(), ExecError> {
    // What the batch deleted, per zone, for the zones' after_delete hooks.
    let mut done: BTreeMap<usize, (Vec<PathBuf>, u64, u64)> = BTreeMap::new();
    let mut body = |holds: &HoldSet| -> Result<(), ExecError> {
        // Lock order: the holds lock (taken by the gate), then the audit log.
        let mut audit = audit.map(lock_audit);
        let mut pending: Vec<Pending> = Vec::new();
        // The batch's deletions, decided, before their records are written:
        // a plain file's share one grouped record per directory and reason.
        let mut decided: Vec<(&Candidate, Reason, PathBuf)> = Vec::new();
        // Candidates come directory by directory: its path is built once.
        let mut dir_path: Option<(usize, PathBuf)> = None;
        for c in cands {
            let e = &entries[c.entry];
            if dirs[c.entry].is_none() {
                continue;
            }
            let zone = &policy.zones[e.dir.zone.0 as usize];
            if opts.refused.contains(&(c.stat.dev, c.stat.ino)) {
                *report.skipped_refused.entry(zone.name.0.clone()).or_default() += 1;
                continue;
            }
            let dir_path = match &dir_path {
                Some((k, p)) if *k == c.entry => p,
                _ => &dir_path.insert((c.entry, inv.root(e.dir).abs_path(e.dir.dir))).1,
            };
            let path = dir_path.join(&c.name);
            match plan.verdict(e, zone, holds, &c.rel, c.time, c.stat.mtime) {
                Verdict::Keep(_) => report.kept += 1,
                Verdict::Delete(reason) if opts.dry_run => {
                    let t = report.by_reason.entry((zone.name.0.clone(), reason.code)).or_default();
                    t.0 += 1;
                    t.1 += Bytes(c.stat.frees());
                    if let Some(list) = opts.list {
                        list(Decided {
                            path,
                            zone: zone.name.0.clone(),
                            code: reason.code,
                            text: reason.text(),
                            size: c.stat.size,
                        });
                    }
                }
                Verdict::Delete(reason) => decided.push((c, reason, path)),
            }
        }
        if opts.dry_run || decided.is_empty() {
            return Ok(());
        }
        let audit = audit.as_deref_mut().expect("a real sweep has an audit log");
        for group in decided.chunk_by(|a, b| {
            let unit = &policy.zones[entries[a.0.entry].dir.zone.0 as usize].unit;
            matches!(unit, Unit::File) && a.0.entry == b.0.entry && same_basis(&a.1, &b.1)
        }) {
            let (c, reason, path) = &group[0];
            let zone = &policy.zones[entries[c.entry].dir.zone.0 as usize];
            let seq = if group.len() == 1 {
                audit.record(&schema::Delete {
                    zone: zone.name.0.clone(),
                    path: RecPath::from(path),
                    size: c.stat.size,
                    bytes: c.stat.frees(),
                    rec_time: c.time.rfc3339(),
                    reason: reason.code.to_string(),
                    text: reason.text(),
                    policy: plan.policy_digest.clone(),
                    former_hold: reason.former_hold.map(|h| h.0),
                    rule: reason.rule.clone(),
                    unit: (!matches!(zone.unit, Unit::File)).then(|| zone.unit.kind().to_string()),
                    members: c.members.iter().map(schema::Member::from).collect(),
                    ..Default::default()
                })?
            } else {
                let since = group.iter().map(|g| g.0.time).min().unwrap_or(c.time);
                audit.record(&schema::Delete {
                    zone: zone.name.0.clone(),
                    // The directory's path, as built for its files above.
                    path: RecPath::from(path.parent().unwrap_or(path)),
                    size: group.iter().map(|g| g.0.stat.size).sum(),
                    bytes: group.iter().map(|g| g.0.stat.frees()).sum(),
                    rec_time: since.rfc3339(),
                    reason: reason.code.to_string(),
                    text: reason.basis.clone(),
                    policy: plan.policy_digest.clone(),
                    former_hold: reason.former_hold.map(|h| h.0),
                    rule: reason.rule.clone(),
                    unit: Some(schema::GROUPED.to_string()),
                    members: Vec::new(),
                    held: reason.held.clone(),
                    decided: Some(reason.decided.rfc3339()),
                    files: group
                        .iter()
                        .map(|(c, _, _)| {
                            schema::GroupFile(RecPath::from(&c.name), c.stat.size, c.stat.frees(), c.time.0 - since.0)
                        })
                        .collect(),
                })?
            };
            pending.extend(group.iter().map(|(c, reason, path)| Pending {
                entry: c.entry,
                name: c.name.clone(),
                stat: c.stat,
                members: c.members.clone(),
                path: path.clone(),
                seq,
                code: reason.code,
                time: c.time,
            }));
        }
        // The write-ahead point: nothing is unlinked unless its record is durable.
        audit.sync()?;
        let mut deleted = 0u64;
        let mut freed = 0u64;
        let mut vanished = Vec::new();
        let mut changed = Vec::new();
        let mut failed = Vec::new();
        let mut touched = vec![false; dirs.len()];
        for p in &pending {
            let Some(dir) = &dirs[p.entry] else { continue };
            let unit = &policy.zones[entries[p.entry].dir.zone.0 as usize].unit;
            let removed = match unit {
                Unit::File => dir.unlink_if_same(&p.name, &p.stat),
                Unit::Dir { .. } => dir.remove_unit(&p.name, true, &p.stat, &p.members),
                Unit::Group(_) => dir.remove_unit(&p.name, false, &p.stat, &p.members),
            };
            match removed {
                Ok(true) => {
                    let z = entries[p.entry].dir.zone.0 as usize;
                    if policy.zones[z].after_delete.is_some() {
                        let d = done.entry(z).or_insert_with(|| (Vec::new(), p.seq, p.seq));
                        d.0.push(p.path.clone());
                        d.2 = p.seq;
                    }
                    touched[p.entry] = true;
                    deleted += 1;
                    freed += p.stat.frees();
                    let zone = &policy.zones[entries[p.entry].dir.zone.0 as usize];
                    let t = report.by_reason.entry((zone.name.0.clone(), p.code)).or_default();
                    t.0 += 1;
                    t.1 += Bytes(p.stat.frees());
                    if p.time < entries[p.entry].charged.before {
                        report.charged_deleted[first + p.entry] += 1;
                    }
                }
                Ok(false) => changed.push(Outcome::new(p.seq, &p.path)),
                Err(Errno::ENOENT) => vanished.push(Outcome::new(p.seq, &p.path)),
                Err(e) => {
                    report.failed.push(Failure {
                        path: p.path.clone(),
                        zone: policy.zones[entries[p.entry].dir.zone.0 as usize].name.0.clone(),
                        errno: e,
                        id: (p.stat.dev, p.stat.ino),
                    });
                    failed.push(Outcome {
                        error: Some(e.desc().to_string()),
                        ..Outcome::new(p.seq, &p.path)
                    });
                }
            }
        }
        let touched: Vec<&DirHandle> = dirs
            .iter()
            .zip(&touched)
            .filter_map(|(d, &t)| d.as_ref().filter(|_| t))
            .collect();
        sync_dirs(&touched);
        report.vanished += vanished.len() as u64;
        report.kept += changed.len() as u64;
        audit.record(&schema::BatchDone {
            first: pending.first().map(|p| p.seq),
            last: pending.last().map(|p| p.seq),
            deleted,
            bytes: freed,
            vanished,
            changed,
            failed,
        })?;
        Ok(())
    };
    gate.with_locked(&mut body)?;
    for (z, (paths, first, last)) in done {
        run_hook(&policy.zones[z], &paths, (first, last), audit, report)?;
    }
    if !opts.dry_run && last {
        report.rmdirs += remove_emptied(inv, policy, entries, dirs);
    }
    Ok(())
}

/// Runs a zone's after_delete hook for what one batch deleted; a failure
/// is recorded (`hook`) and reported, never retried.
fn run_hook(
    zone: &crate::core::policy::Zone,
    paths: &[PathBuf],
    (first, last): (u64, u64),
    audit: Option<&Mutex<AuditLog>>,
    report: &mut SweepReport,
) -> Result<(), ExecError> {
    let Some(hook) = &zone.after_delete else { return Ok(()) };
    match crate::sweep::hook::run(zone, hook, paths) {
        Ok(took) => {
            log::info!(retention_event = "hook", retention_zone = zone.name.0.as_str(); "after_delete of zone {} told of {} deleted recordings in {took:.1?}", zone.name, paths.len());
            report.hooks_ok.insert(zone.name.0.clone());
        }
        Err(why) => {
            let text = format!(
                "after_delete of zone {} {why} (told of {} deleted recordings, records {first}-{last}); it is not run again for them",
                zone.name,
                paths.len()
            );
            log::error!(retention_event = "hook-failed", retention_zone = zone.name.0.as_str(); "{text}");
            if let Some(a) = audit {
                let mut a = lock_audit(a);
                a.record(&schema::Hook {
                    zone: zone.name.0.clone(),
                    command: hook.command.clone(),
                    units: Some(paths.len() as u64),
                    first: Some(first),
                    last: Some(last),
                    alarm: None,
                    text: text.clone(),
                })?;
                a.sync()?;
            }
            report.hook_failures.insert(zone.name.0.clone(), text);
        }
    }
    Ok(())
}

/// Fsyncs `dirs`, several at a time, and returns when all are done. Each
/// fsync writes its directory and then asks the disk to flush its write
/// cache; flushes asked for while one is under way are merged by the
/// block layer into the next, so a batch that touched 30 directories
/// waits for a few flushes instead of 30 in a row. A failed fsync is not
/// reported: the unlinks themselves succeeded.
fn sync_dirs(dirs: &[&DirHandle]) {
    const SYNC_THREADS: usize = 8;
    if dirs.len() < 2 {
        for d in dirs {
            let _ = d.fsync();
        }
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..SYNC_THREADS.min(dirs.len()) {
            s.spawn(|| {
                while let Some(d) = dirs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let _ = d.fsync();
                }
            });
        }
    });
}

/// Removes time-bucket directories the batch emptied, climbing towards
/// (never including) the zone root. Each is removed with `unlinkat(parent,
/// name, AT_REMOVEDIR)`, which fails harmlessly if anything is in it.
fn remove_emptied(inv: &Inventory, policy: &Policy, entries: &[Entry], dirs: &[Option<DirHandle>]) -> u64 {
    // Each parent is opened once and fsynced once, after its last rmdir
    // here: one flush per parent, not one per directory removed (on a
    // filesystem without a journal each fsync is a write and a cache
    // flush). At most PARENTS_OPEN are held open at a time.
    const PARENTS_OPEN: usize = 256;
    fn flush(parents: &mut HashMap<DirRef, Option<(DirHandle, bool)>>) {
        let removed: Vec<DirHandle> = parents
            .drain()
            .filter_map(|(_, p)| p)
            .filter(|(_, rm)| *rm)
            .map(|(h, _)| h)
            .collect();
        sync_dirs(&removed.iter().collect::<Vec<_>>());
    }
    let mut removed = 0;
    let mut parents = HashMap::new();
    for (k, e) in entries.iter().enumerate() {
        // Directories above directory units hold nothing but units: they
        // are tried whatever part of them went.
        let above_units = policy.zones[e.dir.zone.0 as usize].unit.dir_depth().is_some();
        if dirs[k].is_none() || (e.files != Files::All && !above_units) {
            continue;
        }
        let root = inv.root(e.dir);
        let mut cur = e.dir.dir;
        while cur != 0 && cur != u32::MAX {
            let parent = DirRef {
                dir: root.dirs[cur as usize].parent,
                ..e.dir
            };
            if parents.len() >= PARENTS_OPEN && !parents.contains_key(&parent) {
                flush(&mut parents);
            }
            let opened = parents
                .entry(parent)
                .or_insert_with(|| scan::open_dir(inv, parent).ok().map(|h| (h, false)));
            let Some((handle, rm)) = opened else { break };
            if handle.rmdir(OsStr::from_bytes(root.dir_name(cur))).is_err() {
                break;
            }
            *rm = true;
            removed += 1;
            cur = parent.dir;
        }
    }
    flush(&mut parents);
    removed
}

/// Closes a batch a crash left open: every `delete` record after the last
/// `batch-done` (or `recovered`) record is checked on disk, and a
/// `recovered` record states which of those files are gone and which are
/// still there (the deletion did not happen). A unit the crash split (some
/// members gone, some not) is finished: its durable record decided it, and
/// a unit is never left in part. The rest are unlinked fd-relative from
/// their zone's root, each only if it is still a regular file of the
/// recorded size. Returns how many records were open.
pub fn recover(audit: &mut AuditLog, policy: &Policy) -> Result<usize, AuditError> {
    let mut open: Vec<(u64, schema::Delete)> = Vec::new();
    for rec in crate::audit::read_segment(audit.path())? {
        let rec = rec?;
        if let Some(d) = rec.fields_as::<schema::Delete>() {
            open.push((rec.seq, d));
        } else if rec.action == Action::BatchDone || rec.action == Action::Recovered {
            open.clear();
        }
    }
    if open.is_empty() {
        return Ok(0);
    }
    let exists = |p: &OsStr| !matches!(std::fs::symlink_metadata(Path::new(p)), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    let mut gone = Vec::new();
    let mut present = Vec::new();
    let mut finished = Vec::new();
    let mut split = 0;
    for (seq, d) in &open {
        let files = d.files();
        let here: Vec<bool> = files.iter().map(|f| exists(f)).collect();
        let is_split = d.is_unit() && here.iter().any(|h| *h) && here.iter().any(|h| !*h);
        if is_split {
            split += 1;
            let done = finish_unit(policy, d);
            for (f, h) in files.iter().zip(&here) {
                let v = Outcome::new(*seq, f);
                if !h {
                    gone.push(v);
                } else if done.contains(f) {
                    finished.push(v);
                } else {
                    present.push(v);
                }
            }
            continue;
        }
        for (f, h) in files.iter().zip(here) {
            let v = Outcome::new(*seq, f);
            if h {
                present.push(v)
            } else {
                gone.push(v)
            }
        }
    }
    let units = if split > 0 {
        format!(
            "; {split} unit(s) the crash split were finished ({} more files deleted)",
            finished.len()
        )
    } else {
        String::new()
    };
    audit.record(&schema::Recovered {
        text: format!(
            "the previous run stopped during a deletion batch: {} of its {} files are gone, {} are still present (not deleted){units}",
            gone.len(),
            gone.len() + present.len() + finished.len(),
            present.len()
        ),
        gone,
        present,
        finished,
    })?;
    audit.sync()?;
    Ok(open.len())
}

/// A relative path's directory part and last component.
fn split_last(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|b| *b == b'/') {
        Some(k) => (&rel[..k], &rel[k + 1..]),
        None => (b"", rel),
    }
}

/// Deletes what is left of a unit a crash split, reached from its zone's
/// root without following symlinks; returns the files deleted now.
fn finish_unit(policy: &Policy, d: &schema::Delete) -> Vec<OsString> {
    let Some(zone) = policy.zone(&d.zone) else {
        return Vec::new();
    };
    let path = Path::new(&d.path.0);
    let Some(root) = zone.roots.iter().find(|r| path.starts_with(r)) else {
        return Vec::new();
    };
    let Ok(root_h) = DirHandle::open_root(root) else {
        return Vec::new();
    };
    let rel = path.strip_prefix(root).unwrap_or(path).as_os_str().as_bytes();
    let dir_unit = d.unit.as_deref() == Some("dir");
    let base: &[u8] = if dir_unit { rel } else { split_last(rel).0 };
    let mut done = Vec::new();
    for m in &d.members {
        let mrel = [base, b"/", m.name.0.as_bytes()].concat();
        let mrel = mrel.strip_prefix(b"/").unwrap_or(&mrel);
        let (parent, name) = split_last(mrel);
        let Ok(dir) = root_h.open_rel(parent) else { continue };
        let name = OsStr::from_bytes(name);
        let same = dir
            .stat(name)
            .is_ok_and(|st| st.kind == crate::core::inventory::Kind::File && st.size == m.size);
        if same && nix::unistd::unlinkat(dir.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir).is_ok() {
            let _ = dir.fsync();
            done.push(root.join(OsStr::from_bytes(mrel)).into_os_string());
        }
    }
    if dir_unit {
        if let Ok(unit) = root_h.open_rel(rel) {
            unit.prune_empty(scan::MAX_DEPTH);
        }
        let (parent, name) = split_last(rel);
        if let Ok(p) = root_h.open_rel(parent) {
            if p.rmdir(OsStr::from_bytes(name)).is_ok() {
                let _ = p.fsync();
            }
        }
    }
    done
}

/// The sweep's view of the store: before each deletion batch, lock the
/// store and re-read it (parsing only when the file changed).
pub struct StoreGate {
    store: HoldStore,
    cache: Option<(Option<Stamp>, HoldSet)>,
}

impl StoreGate {
    /// A gate over `store`.
    pub fn new(store: HoldStore) -> StoreGate {
        StoreGate { store, cache: None }
    }
}

impl HoldsGate for StoreGate {
    fn with_locked(&mut self, f: &mut dyn FnMut(&HoldSet) -> Result<(), ExecError>) -> Result<(), ExecError> {
        let err = |e: StoreError| ExecError::Holds(e.to_string());
        let _lock = self.store.take_lock().map_err(err)?;
        let stamp = self.store.stamp().map_err(err)?;
        let fresh = matches!(&self.cache, Some((s, _)) if *s == stamp);
        if !fresh {
            let (holds, _) = self.store.read().map_err(err)?;
            self.cache = Some((stamp, holds));
        }
        let holds = &self.cache.as_ref().expect("cache filled").1;
        f(holds)
    }
}
