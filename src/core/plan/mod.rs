//! The decision: `plan(inventory, policy, holds, usage, now)`.
//!
//! Pure: no I/O, no clock reads; `now` is an argument. The result is an
//! ordered list of [`Entry`]s (a whole directory, or named files of one),
//! each with a [`Cause`], plus the per-zone cutoffs the executor re-applies
//! to every file with [`Plan::verdict`] just before unlinking it.
//!
//! Rules, in order:
//! 1. A file modified within the settle time is still being written: kept.
//! 2. A file covered by an active hold is kept (held files are removed from
//!    consideration before any capacity arithmetic).
//! 3. Older than `max_age`: deleted, cause `max-age`.
//! 4. A zone over its `max_bytes` quota: its oldest files above the floor
//!    go until it fits (`quota`); with `when_full = "override-floor"` then
//!    its files below the floor (`quota-override-floor`).
//! 5. A filesystem above its high watermark: oldest first across every zone
//!    on it, never younger than the zone's floor, until the *projected*
//!    usage is at the low watermark (`capacity`). The budget is the bytes
//!    each deletion frees (allocated blocks; nothing for hard-linked
//!    files), so a sweep neither overshoots nor loops. If floors and holds
//!    prevent relief, zones with `override-floor` lose footage below their
//!    floor, lowest `priority` first, oldest first
//!    (`capacity-override-floor`), and a `capacity-unrelieved` alarm says
//!    how many bytes floors, holds, settling files and non-recordings keep.
//!
//! The inventory holds per-directory summaries; where a summary cannot
//! decide (a directory straddles a cutoff, overlaps a hold, or sits at the
//! capacity boundary) the planner returns [`NeedDetail`] and the caller
//! loads those directories' files and asks again. With every directory in
//! detail the plan is exact per file; the planner never asks twice for the
//! same directory, so the loop ends.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::holds::{HoldId, HoldSet, Scope};
use crate::core::inventory::{DirNode, DirRef, FileRec, Inventory, RootInventory};
use crate::core::policy::{Policy, Watermarks, WhenFull, Zone};
use crate::core::units::{Age, Bytes, Timestamp, Watermark, ZoneId};

/// Usage of one filesystem holding zone roots, as measured by the edge.
#[derive(Clone, Debug, PartialEq)]
pub struct FsUsage {
    /// Device number (matches [`crate::core::inventory::RootInventory::dev`]).
    pub dev: u64,
    /// A name for messages: the mount point or the first zone root on it.
    pub mount: PathBuf,
    /// Used bytes.
    pub used: Bytes,
    /// Bytes available to unprivileged users.
    pub avail: Bytes,
    /// The watermarks in force for it (override or default).
    pub marks: Watermarks,
    /// Audit log bytes each deletion writes on this filesystem (0 when the
    /// log lives elsewhere): capacity deletion frees that much less.
    pub log_bytes_per_deletion: u64,
    /// What is missing of the audit log's reserve on this filesystem: the
    /// watermarks count it as used ([`FsUsage::excess`]), so the sweep
    /// frees room for it and sets it aside again.
    pub reserve_short: Bytes,
}

impl FsUsage {
    /// Usage as measured, with no audit log on the filesystem.
    pub fn new(dev: u64, mount: PathBuf, used: Bytes, avail: Bytes, marks: Watermarks) -> FsUsage {
        FsUsage {
            dev,
            mount,
            used,
            avail,
            marks,
            log_bytes_per_deletion: 0,
            reserve_short: Bytes(0),
        }
    }

    /// With the audit log on this filesystem: each deletion writes
    /// `per_deletion` bytes of records, and `reserve_short` of its reserve
    /// is missing.
    pub fn set_audit_log(&mut self, per_deletion: u64, reserve_short: Bytes) {
        self.log_bytes_per_deletion = per_deletion;
        self.reserve_short = reserve_short;
    }

    /// Bytes that must be freed so that `mark` holds with the audit log's
    /// reserve set aside (its missing part counted as used, and what of it
    /// the free space cannot hold counted on top).
    pub fn excess(&self, mark: Watermark) -> Bytes {
        let inside = self.reserve_short.min(self.avail);
        mark.excess(self.used + inside, self.avail.saturating_sub(inside)) + self.reserve_short.saturating_sub(inside)
    }

    /// Bytes that can still be written before `mark` is crossed, the
    /// reserve set aside.
    pub fn room(&self, mark: Watermark) -> Bytes {
        let inside = self.reserve_short.min(self.avail);
        mark.room(self.used + inside, self.avail.saturating_sub(inside))
            .saturating_sub(self.reserve_short.saturating_sub(inside))
    }
    /// Used share in percent, as `df` shows it.
    pub fn used_pct(&self) -> f64 {
        let cap = self.used.0 as f64 + self.avail.0 as f64;
        if cap == 0.0 {
            0.0
        } else {
            self.used.0 as f64 * 100.0 / cap
        }
    }

    /// "/srv/nvr 93.1% (high 90%)", and the audit log's reserve when part
    /// of that is space it still has to set aside.
    pub fn describe(&self) -> String {
        let reserve = if self.reserve_short.0 > 0 {
            format!(", counting {} for the audit log's reserve", self.reserve_short)
        } else {
            String::new()
        };
        format!(
            "{} {:.1}% (high {}{reserve})",
            self.mount.display(),
            self.used_pct(),
            self.marks.high
        )
    }
}

/// Usage of every filesystem holding zone roots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// One per device.
    pub filesystems: Vec<FsUsage>,
}

/// Why a file is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// Older than the zone's max_age.
    MaxAge,
    /// The zone is over its max_bytes quota.
    Quota {
        /// Below the floor, allowed by `when_full = "override-floor"`.
        override_floor: bool,
    },
    /// The filesystem is above its high watermark.
    Capacity {
        /// Index into [`Plan::filesystems`].
        fs: usize,
        /// Below the floor, allowed by `when_full = "override-floor"`.
        override_floor: bool,
    },
    /// A supervisor's erasure request ([`Plan::erasure`]): ahead of time,
    /// whatever the floor, never what is held.
    Erasure,
}

impl Cause {
    /// The reason code in audit records and the journal.
    pub const fn code(self) -> &'static str {
        match self {
            Cause::MaxAge => "max-age",
            Cause::Quota { override_floor: false } => "quota",
            Cause::Quota { override_floor: true } => "quota-override-floor",
            Cause::Capacity {
                override_floor: false, ..
            } => "capacity",
            Cause::Capacity {
                override_floor: true, ..
            } => "capacity-override-floor",
            Cause::Erasure => "erasure",
        }
    }

    /// One cause of each reason code, in the order the manual lists them.
    pub const ALL: [Cause; 6] = [
        Cause::MaxAge,
        Cause::Quota { override_floor: false },
        Cause::Quota { override_floor: true },
        Cause::Capacity {
            fs: 0,
            override_floor: false,
        },
        Cause::Capacity {
            fs: 0,
            override_floor: true,
        },
        Cause::Erasure,
    ];

    /// Every reason code, for documentation and summaries.
    pub const CODES: [&'static str; 6] = [
        Cause::ALL[0].code(),
        Cause::ALL[1].code(),
        Cause::ALL[2].code(),
        Cause::ALL[3].code(),
        Cause::ALL[4].code(),
        Cause::ALL[5].code(),
    ];
}

/// A reason code with its plain sentence, kept in parts: the basis every
/// file of a decision shares, and what is the file's own (its recording
/// time, its age, a former hold). The audit log's grouped deletion records
/// write the shared part once per directory ([`reason_text`] puts them
/// back together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// Machine code, e.g. `max-age`.
    pub code: &'static str,
    /// For people, the shared part, e.g. "older than max_age 28d".
    pub basis: String,
    /// The former hold's part, e.g. "was held by hold 3 (case C-9), released ...".
    pub held: Option<String>,
    /// When the file was recorded.
    pub recorded: Timestamp,
    /// When it was decided (the plan's now), for its age.
    pub decided: Timestamp,
    /// A released or lapsed hold that covered the file, cited by its record.
    pub former_hold: Option<HoldId>,
    /// The zone's rule that set its floor and ceiling, if one did.
    pub rule: Option<String>,
}

impl Reason {
    /// The whole sentence, e.g. "older than max_age 28d: recorded
    /// 2026-10-20 14:00, age 29d 3h".
    pub fn text(&self) -> String {
        reason_text(&self.basis, self.recorded, self.decided, self.held.as_deref())
    }
}

/// A deletion's sentence from its parts: "{basis}: recorded {time}, age
/// {age}", then "; {held}" when a former hold covered it.
pub fn reason_text(basis: &str, recorded: Timestamp, decided: Timestamp, held: Option<&str>) -> String {
    let held = held.map(|h| format!("; {h}")).unwrap_or_default();
    format!(
        "{basis}: recorded {}, age {}{held}",
        recorded.short(),
        recorded.age_at(decided)
    )
}

/// Which files of a directory an entry deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Files {
    /// Every recording in it that still qualifies when it is read.
    All,
    /// These files of the directory's loaded detail (indices).
    Some(Vec<u32>),
}

/// One step of the plan: files of one directory, for one cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The directory.
    pub dir: DirRef,
    /// Why.
    pub cause: Cause,
    /// Which files.
    pub files: Files,
    /// How many files are expected to go.
    pub count: u32,
    /// Bytes they are expected to free.
    pub bytes: u64,
    /// Newest recording time planned in this entry: a file found newer
    /// at execution time (written since the scan) is not deleted for capacity.
    pub newest: Timestamp,
    /// Oldest recording time planned in this entry (the mass-deletion
    /// guard tells footage that aged since the last sweep by it).
    pub oldest: Timestamp,
    /// What the mass-deletion guard charged to its zone's budget (nothing
    /// outside an episode); what is not deleted of it is given back after
    /// the sweep (the guard's `refund`).
    pub charged: Charge,
}

/// The deletions of an [`Entry`] charged to its zone's guard budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Charge {
    /// How many.
    pub files: u32,
    /// Which: the entry's files recorded before this (the others aged
    /// past max_age since the guard's mark and cost nothing).
    pub before: Timestamp,
}

/// Per-zone cutoffs, fixed for the whole sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePlan {
    /// Recordings older than this (strictly) are past max_age.
    pub expire_before: Timestamp,
    /// Recordings older than this (strictly) are past the floor.
    pub floor_before: Timestamp,
    /// Files with an mtime after this are still being written.
    pub settled_by: i64,
}

/// Held recordings that are past max_age, by hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldPastMax {
    /// The zone.
    pub zone: ZoneId,
    /// The hold keeping them (the lowest-numbered active one).
    pub hold: HoldId,
    /// "hold 7 (case POL-2026-1142)".
    pub label: String,
    /// How many.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The capacity picture of one filesystem.
#[derive(Clone, Debug, PartialEq)]
pub struct FsPlan {
    /// What the edge measured.
    pub usage: FsUsage,
    /// Bytes that must go to reach the low watermark (0 below the high watermark).
    pub need: Bytes,
    /// Bytes the plan frees on it, all causes.
    pub planned: Bytes,
    /// Bytes of recordings on it, before the plan.
    pub recordings: Bytes,
}

/// The outcome of planning.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The time the plan was made for.
    pub now: Timestamp,
    /// Digest of the policy it was made under.
    pub policy_digest: String,
    /// Per zone, indexed by [`ZoneId`]: the zone's own cutoffs.
    pub zones: Vec<ZonePlan>,
    /// Per zone and class (0: the zone's own, k: its rule k-1; see
    /// [`Zone::class_of`]): each class's cutoffs.
    pub classes: Vec<Vec<ZonePlan>>,
    /// Ordered steps.
    pub entries: Vec<Entry>,
    /// Per filesystem.
    pub filesystems: Vec<FsPlan>,
    /// Alarms raised.
    pub alarms: Vec<Alarm>,
    /// Held past max_age.
    pub held_past_max: Vec<HeldPastMax>,
    /// For an erasure plan ([`erasure_plan`]): what was asked for, by whom.
    pub erasure: Option<Erasure>,
}

/// An erasure request: what it covers and the sentence its records carry.
#[derive(Clone, Debug)]
pub struct Erasure {
    /// What to erase.
    pub scope: Scope,
    /// "erasure requested by alice (uid 1001): `<their reason>`".
    pub text: String,
}

/// The planner needs per-file detail of these directories first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeedDetail(pub Vec<DirRef>);

/// What the rules say about one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// Modified within the settle time.
    Settling,
    /// Covered by an active hold.
    Held(HoldId),
    /// Past max_age.
    Expired,
    /// Past the floor: may go for capacity or quota.
    Eligible,
    /// Younger than the floor.
    BelowFloor,
}

/// Classifies one file. Pure; shared by the planner and the executor.
pub fn classify(
    zp: &ZonePlan,
    zone: &Zone,
    holds: &HoldSet,
    rel: &[u8],
    time: Timestamp,
    mtime: i64,
    now: Timestamp,
) -> Class {
    if mtime > zp.settled_by || time > now {
        return Class::Settling;
    }
    if let Some(h) = holds.covering(&zone.name, rel, time, now) {
        return Class::Held(h.id);
    }
    if time < zp.expire_before {
        Class::Expired
    } else if time < zp.floor_before {
        Class::Eligible
    } else {
        Class::BelowFloor
    }
}

/// What the executor should do with one file of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delete it, for this reason.
    Delete(Reason),
    /// Keep it, because…
    Keep(String),
}

/// A candidate for a quota or capacity walk: a whole summarised directory,
/// or one file of a directory in detail.
#[derive(Clone, Debug)]
struct Item {
    dir: DirRef,
    /// Index into the detail, or u32::MAX for the whole directory.
    file: u32,
    start: Timestamp,
    end: Timestamp,
    bytes: u64,
    count: u32,
    dev: u64,
    /// A summary whose files the rules would not treat alike: needs detail if reached.
    lazy: bool,
    below_floor: bool,
    taken: Option<Cause>,
    /// Tie-break for a deterministic order: path relative to the root
    /// (a whole directory's is built by `walk_order`).
    key: Vec<u8>,
    /// The zone's class (rule) of its recordings.
    class: u16,
}

impl Item {
    fn exact(&self) -> bool {
        self.file != u32::MAX || self.count <= 1
    }
}

/// The planner's working state, shared by its rules in turn.
struct Work<'a> {
    /// The inventory: the items' paths, for their order.
    inv: &'a Inventory,
    /// Per-zone cutoffs (the zone's own class).
    zones: Vec<ZonePlan>,
    /// Per zone and class cutoffs.
    classes: Vec<Vec<ZonePlan>>,
    /// Recording bytes per zone and class, and those already planned.
    class_bytes: Vec<Vec<u64>>,
    class_freed: Vec<Vec<u64>>,
    /// Directories whose per-file detail the rules need first.
    need_detail: Vec<DirRef>,
    /// Max-age entries, with their sort keys.
    expired: Vec<(Timestamp, Vec<u8>, Entry)>,
    /// Everything else a quota or capacity may take: files, or whole
    /// directories whose summary decides.
    items: Vec<Item>,
    /// Held recordings past max_age, by zone and hold: count, bytes.
    held: HashMap<(ZoneId, HoldId), (u64, u64)>,
    /// Recording bytes per zone.
    zone_bytes: Vec<u64>,
    /// Recording bytes and files per filesystem.
    fs_recordings: HashMap<u64, u64>,
    fs_files: HashMap<u64, u64>,
    /// Bytes already planned per filesystem and per zone.
    fs_freed: HashMap<u64, u64>,
    zone_freed: Vec<u64>,
    /// The items' walk order: oldest first, then zone, root, path. Made
    /// by the first walk: without a quota or capacity to meet, a sweep
    /// neither sorts the items nor builds their paths.
    order: Option<Vec<usize>>,
    /// Items taken, in the order they were.
    taken_order: Vec<usize>,
    /// Alarms raised.
    alarms: Vec<Alarm>,
}

impl Work<'_> {
    /// Takes the items `pick` selects, in walk order, until `need` bytes
    /// are freed, marking them taken for `cause`. Returns the bytes freed;
    /// pushes onto `need_detail` the summaries it cannot decide: lazy ones
    /// it reached, and every summary around the boundary where the need was
    /// met (so that the boundary is exact per file, oldest first).
    fn walk(&mut self, pick: impl Fn(&Item) -> bool, need: u64, cause: Cause) -> u64 {
        let order = self.order.get_or_insert_with(|| walk_order(self.inv, &mut self.items));
        let cands: Vec<usize> = order.iter().copied().filter(|&i| pick(&self.items[i])).collect();
        let mut freed = 0u64;
        let mut last: Option<usize> = None;
        let mut max_end = Timestamp::MIN;
        for &i in &cands {
            if freed >= need {
                break;
            }
            let it = &mut self.items[i];
            if it.taken.is_some() {
                continue;
            }
            if it.lazy {
                self.need_detail.push(it.dir);
                continue;
            }
            it.taken = Some(cause);
            self.taken_order.push(i);
            freed += it.bytes;
            max_end = max_end.max(it.end);
            last = Some(i);
        }
        if freed >= need {
            if let Some(x) = last {
                let s = self.items[x].start;
                for &i in &cands {
                    let it = &self.items[i];
                    let mine = it.taken.is_none() || it.taken == Some(cause);
                    if mine && !it.exact() && it.end >= s && it.start <= max_end {
                        self.need_detail.push(it.dir);
                    }
                }
            }
        }
        freed
    }
}

/// Makes the plan, or says which directories need detail first: the
/// max-age rule (which also sorts every other recording into the items
/// the next rules may take), then quotas, then capacity, then the merge of
/// what they took into entries.
pub fn plan(
    inv: &Inventory,
    policy: &Policy,
    holds: &HoldSet,
    usage: &Usage,
    now: Timestamp,
) -> Result<Plan, NeedDetail> {
    let classes = class_plans(policy, now);
    let mut w = Work {
        inv,
        zones: classes.iter().map(|c| c[0].clone()).collect(),
        class_bytes: classes.iter().map(|c| vec![0; c.len()]).collect(),
        class_freed: classes.iter().map(|c| vec![0; c.len()]).collect(),
        classes,
        need_detail: Vec::new(),
        expired: Vec::new(),
        items: Vec::new(),
        held: HashMap::new(),
        zone_bytes: vec![0; policy.zones.len()],
        fs_recordings: HashMap::new(),
        fs_files: HashMap::new(),
        fs_freed: HashMap::new(),
        zone_freed: vec![0; policy.zones.len()],
        order: None,
        taken_order: Vec::new(),
        alarms: Vec::new(),
    };
    max_age(&mut w, inv, policy, holds, now);
    if !w.need_detail.is_empty() {
        return Err(NeedDetail(w.need_detail));
    }
    let mut entries = expired_in_order(&mut w);
    quotas(&mut w, policy);
    let filesystems = capacity(&mut w, inv, policy, holds, usage, now);
    if !w.need_detail.is_empty() {
        w.need_detail.sort();
        w.need_detail.dedup();
        return Err(NeedDetail(w.need_detail));
    }
    entries.extend(merge_taken(&w));
    let held_past_max = held_past_max(&w, holds);
    w.alarms.extend(layout_alarms(inv, policy));
    Ok(Plan {
        now,
        policy_digest: policy.digest.clone(),
        zones: w.zones,
        classes: w.classes,
        entries,
        filesystems,
        alarms: w.alarms,
        held_past_max,
        erasure: None,
    })
}

/// `layout-mismatch`: a zone whose preset finds nothing it can read on a
/// root that was walked (no recording, but files that are not included or
/// carry no time), or units whose time its pattern cannot read: such
/// footage is never deleted, and an admin must hear of it.
fn layout_alarms(inv: &Inventory, policy: &Policy) -> Vec<Alarm> {
    let mut out = Vec::new();
    for (z, zone) in policy.zones.iter().enumerate() {
        let Some(layout) = zone.layout else { continue };
        for root in inv.zones.get(z).map(|zi| zi.roots.as_slice()).unwrap_or(&[]) {
            if root.error.is_some() || root.dev.is_none() {
                continue;
            }
            let s = &root.stats;
            let recordings: u64 = root.dirs.iter().map(|d| u64::from(d.files)).sum();
            let text = if recordings == 0 && s.not_included + s.untimed > 0 {
                format!(
                    "no recording under {} has the shape of layout {layout:?}: {} files are not included and {} have no time in their path; nothing there is deleted",
                    root.path.display(),
                    s.not_included,
                    s.untimed
                )
            } else if s.untimed > 0 {
                format!(
                    "{} files under {} do not carry a time where layout {layout:?} expects one; they are never deleted",
                    s.untimed,
                    root.path.display()
                )
            } else {
                continue;
            };
            out.push(Alarm::new(
                AlarmKind::LayoutMismatch,
                root.path.display().to_string(),
                text,
            ));
        }
    }
    out
}

/// The max-age rule, and the survey the other rules start from: every
/// recording (or whole directory, where its summary decides) is past
/// max_age (an entry), held, settling, or an item quota and capacity may
/// take; directories the summaries cannot decide are named for detail.
fn max_age(w: &mut Work, inv: &Inventory, policy: &Policy, holds: &HoldSet, now: Timestamp) {
    for d in inv.dirs() {
        let zone = &policy.zones[d.zone.0 as usize];
        let root = inv.root(d);
        let Some(dev) = root.dev else { continue };
        let node = inv.dir(d);
        w.zone_bytes[d.zone.0 as usize] += node.bytes;
        *w.fs_recordings.entry(dev).or_default() += node.bytes;
        *w.fs_files.entry(dev).or_default() += u64::from(node.files);
        match inv.detail(d) {
            Some(files) => expire_files(w, d, dev, root.rel_path(d.dir), files, zone, holds, now),
            None => expire_dir(w, d, dev, root, node, zone, holds, now),
        }
    }
}

/// Max-age for a directory with per-file detail: each file expired, held,
/// settling, or an item for the space rules.
#[allow(clippy::too_many_arguments)]
fn expire_files(
    w: &mut Work,
    d: DirRef,
    dev: u64,
    rel: Vec<u8>,
    files: &[FileRec],
    zone: &Zone,
    holds: &HoldSet,
    now: Timestamp,
) {
    let zi = d.zone.0 as usize;
    let mut exp: Vec<u32> = Vec::new();
    let (mut exp_bytes, mut exp_newest) = (0u64, Timestamp::MIN);
    for (i, f) in files.iter().enumerate() {
        let mut frel = rel.clone();
        if !frel.is_empty() {
            frel.push(b'/');
        }
        frel.extend_from_slice(f.name.as_bytes());
        let bytes = f.stat.frees();
        let class = zone.class_of(&rel, f.name.as_bytes());
        let zp = &w.classes[zi][class];
        w.class_bytes[zi][class] += bytes;
        match classify(zp, zone, holds, &frel, f.time, f.stat.mtime, now) {
            Class::Settling => {}
            Class::Held(h) => {
                if f.time < zp.expire_before {
                    let e = w.held.entry((d.zone, h)).or_default();
                    e.0 += 1;
                    e.1 += bytes;
                }
            }
            Class::Expired => {
                exp.push(i as u32);
                exp_bytes += bytes;
                exp_newest = exp_newest.max(f.time);
                w.class_freed[zi][class] += bytes;
            }
            c @ (Class::Eligible | Class::BelowFloor) => {
                let mut key = rel.clone();
                key.push(b'/');
                key.extend_from_slice(f.name.as_bytes());
                w.items.push(Item {
                    dir: d,
                    file: i as u32,
                    start: f.time,
                    end: f.time,
                    bytes,
                    count: 1,
                    dev,
                    lazy: false,
                    below_floor: c == Class::BelowFloor,
                    taken: None,
                    key,
                    class: class as u16,
                });
            }
        }
    }
    if !exp.is_empty() {
        *w.fs_freed.entry(dev).or_default() += exp_bytes;
        w.zone_freed[d.zone.0 as usize] += exp_bytes;
        let start = exp.iter().map(|&k| files[k as usize].time).min().unwrap_or(exp_newest);
        w.expired.push((
            start,
            rel,
            Entry {
                dir: d,
                cause: Cause::MaxAge,
                count: exp.len() as u32,
                files: Files::Some(exp),
                bytes: exp_bytes,
                newest: exp_newest,
                oldest: start,
                charged: Charge::default(),
            },
        ));
    }
}

/// Max-age for a directory known by its summary only: the whole directory
/// expires, or becomes one item for the space rules, where the rules agree
/// on all of it; otherwise its detail is asked for.
#[allow(clippy::too_many_arguments)]
fn expire_dir(
    w: &mut Work,
    d: DirRef,
    dev: u64,
    root: &RootInventory,
    node: &DirNode,
    zone: &Zone,
    holds: &HoldSet,
    now: Timestamp,
) {
    let zi = d.zone.0 as usize;
    // The path is built only where it is used (rules, an expired entry):
    // not for each of the tens of thousands of directories at every sweep.
    let rel = (!zone.rules.is_empty()).then(|| root.rel_path(d.dir));
    // Where a rule by name could set some of its recordings apart, the
    // summary cannot decide: detail.
    let Some(class) = rel.as_deref().map_or(Some(0), |r| zone.dir_class(r)) else {
        if node.files > 0 {
            w.need_detail.push(d);
        }
        return;
    };
    w.class_bytes[zi][class] += node.bytes;
    let zp = &w.classes[zi][class];
    let settling = node.newest_mtime > zp.settled_by || node.newest > now;
    let maybe_held = holds.may_cover_range(&zone.name, node.oldest, node.newest, now);
    let straddles_expiry = node.oldest < zp.expire_before && node.newest >= zp.expire_before;
    if node.oldest < zp.expire_before && (settling || maybe_held || straddles_expiry) {
        w.need_detail.push(d);
        return;
    }
    if node.newest < zp.expire_before {
        *w.fs_freed.entry(dev).or_default() += node.bytes;
        w.zone_freed[zi] += node.bytes;
        w.class_freed[zi][class] += node.bytes;
        w.expired.push((
            node.oldest,
            rel.unwrap_or_else(|| root.rel_path(d.dir)),
            Entry {
                dir: d,
                cause: Cause::MaxAge,
                files: Files::All,
                count: node.files,
                bytes: node.bytes,
                newest: node.newest,
                oldest: node.oldest,
                charged: Charge::default(),
            },
        ));
        return;
    }
    let uniform = !settling && !maybe_held;
    let all_below = node.oldest >= zp.floor_before;
    let all_above = node.newest < zp.floor_before;
    w.items.push(Item {
        dir: d,
        file: u32::MAX,
        start: node.oldest,
        end: node.newest,
        bytes: node.bytes,
        count: node.files,
        dev,
        lazy: !(uniform && (all_below || all_above)),
        below_floor: all_below,
        taken: None,
        // Built when the items are ordered (`walk_order`).
        key: Vec::new(),
        class: class as u16,
    });
}

/// The max-age entries, oldest first (then zone, root, path).
fn expired_in_order(w: &mut Work) -> Vec<Entry> {
    w.expired
        .sort_by(|a, b| (a.0, a.2.dir.zone, a.2.dir.root, &a.1).cmp(&(b.0, b.2.dir.zone, b.2.dir.root, &b.1)));
    std::mem::take(&mut w.expired).into_iter().map(|(_, _, e)| e).collect()
}

/// The items' walk order, in the max-age entries' terms: oldest first,
/// then zone, root, path. A whole directory's path is built here.
fn walk_order(inv: &Inventory, items: &mut [Item]) -> Vec<usize> {
    for it in items.iter_mut().filter(|it| it.file == u32::MAX) {
        it.key = inv.root(it.dir).rel_path(it.dir.dir);
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&items[a], &items[b]);
        (x.start, x.end, x.dir.zone, x.dir.root, &x.key).cmp(&(y.start, y.end, y.dir.zone, y.dir.root, &y.key))
    });
    order
}

/// The quota rule: per zone over its max_bytes, the oldest items past the
/// floor, then (override-floor) below it, until the zone fits; then the
/// same per rule with a max_bytes of its own, within its recordings.
fn quotas(w: &mut Work, policy: &Policy) {
    zone_quotas(w, policy);
    for zone in &policy.zones {
        let zi = zone.id.0 as usize;
        for class in 1..zone.classes() {
            let p = zone.params(class);
            let Some(max) = p.max_bytes else { continue };
            let mut need = w.class_bytes[zi][class]
                .saturating_sub(w.class_freed[zi][class])
                .saturating_sub(max.0);
            for override_floor in [false, true] {
                if need == 0 || (override_floor && zone.when_full != WhenFull::OverrideFloor) {
                    break;
                }
                let first = w.taken_order.len();
                let freed = w.walk(
                    |it| it.dir.zone == zone.id && it.class as usize == class && it.below_floor == override_floor,
                    need,
                    Cause::Quota { override_floor },
                );
                for &i in &w.taken_order[first..] {
                    *w.fs_freed.entry(w.items[i].dev).or_default() += w.items[i].bytes;
                }
                w.zone_freed[zi] += freed;
                w.class_freed[zi][class] += freed;
                need = need.saturating_sub(freed);
            }
            if need > 0 {
                w.alarms.push(Alarm::new(
                    AlarmKind::QuotaUnrelieved,
                    format!("{}/{}", zone.name, p.rule.unwrap_or_default()),
                    format!(
                        "rule {} of zone {} holds {}, above its max_bytes {}; {} more cannot be freed within its floor ({}) and holds (when_full = {})",
                        p.rule.unwrap_or_default(),
                        zone.name,
                        Bytes(w.class_bytes[zi][class]),
                        max,
                        Bytes(need),
                        p.min_age,
                        zone.when_full.as_str()
                    ),
                ));
            }
        }
    }
}

/// The zones' own quotas.
fn zone_quotas(w: &mut Work, policy: &Policy) {
    // Quotas, per zone.
    for zone in &policy.zones {
        let Some(max) = zone.max_bytes else { continue };
        let zi = zone.id.0 as usize;
        let mut need = w.zone_bytes[zi].saturating_sub(w.zone_freed[zi]).saturating_sub(max.0);
        if need == 0 {
            continue;
        }
        for override_floor in [false, true] {
            if override_floor && zone.when_full != WhenFull::OverrideFloor {
                break;
            }
            let first = w.taken_order.len();
            let freed = w.walk(
                |it| it.dir.zone == zone.id && it.below_floor == override_floor,
                need,
                Cause::Quota { override_floor },
            );
            for &i in &w.taken_order[first..] {
                let it = &w.items[i];
                *w.fs_freed.entry(it.dev).or_default() += it.bytes;
                w.class_freed[zi][it.class as usize] += it.bytes;
            }
            w.zone_freed[zi] += freed;
            need = need.saturating_sub(freed);
            if need == 0 {
                break;
            }
        }
        if need > 0 {
            w.alarms.push(Alarm {
                kind: AlarmKind::QuotaUnrelieved,
                subject: zone.name.0.clone(),
                text: format!(
                    "zone {} holds {}, above its max_bytes {}; {} more cannot be freed within its floor ({}) and holds (when_full = {})",
                    zone.name,
                    Bytes(w.zone_bytes[zi]),
                    max,
                    Bytes(need),
                    zone.min_age,
                    zone.when_full.as_str()
                ),
            });
        }
    }
}

/// The capacity rule: per filesystem above its high watermark, down to
/// the low one (the audit log's records and reserve counted), oldest first
/// past the floors, then override-floor zones by priority.
fn capacity(
    w: &mut Work,
    inv: &Inventory,
    policy: &Policy,
    holds: &HoldSet,
    usage: &Usage,
    now: Timestamp,
) -> Vec<FsPlan> {
    let mut filesystems = Vec::new();
    for (fi, fsu) in usage.filesystems.iter().enumerate() {
        let recordings = w.fs_recordings.get(&fsu.dev).copied().unwrap_or(0);
        let to_low = if fsu.excess(fsu.marks.high).0 > 0 {
            fsu.excess(fsu.marks.low).0
        } else {
            0
        };
        let need = capacity_need(w, fsu, to_low, recordings);
        let need = free_for_capacity(w, policy, fi, fsu, need);
        let planned_here = w.fs_freed.get(&fsu.dev).copied().unwrap_or(0)
            + w.items
                .iter()
                .filter(|i| i.dev == fsu.dev && matches!(i.taken, Some(Cause::Capacity { .. })))
                .map(|i| i.bytes)
                .sum::<u64>();
        if need > 0 && w.need_detail.is_empty() {
            let alarm = capacity_alarm(w, inv, policy, holds, fsu, need, recordings, now);
            w.alarms.push(alarm);
        }
        filesystems.push(FsPlan {
            usage: fsu.clone(),
            need: Bytes(to_low),
            planned: Bytes(planned_here),
            recordings: Bytes(recordings),
        });
    }
    filesystems
}

/// What capacity must still free on `fsu` to reach `to_low`, after the
/// max-age and quota deletions. With the audit log on this filesystem each
/// deletion also writes its record here: freeing `need` net takes
/// `need * a / (a - o)` bytes of recordings of average size `a`, `o` bytes
/// of log each.
fn capacity_need(w: &Work, fsu: &FsUsage, to_low: u64, recordings: u64) -> u64 {
    let mut need = to_low.saturating_sub(w.fs_freed.get(&fsu.dev).copied().unwrap_or(0));
    let files_here = w.fs_files.get(&fsu.dev).copied().unwrap_or(0);
    if need > 0 && fsu.log_bytes_per_deletion > 0 && files_here > 0 {
        let avg = (recordings / files_here).max(1);
        let net = avg.saturating_sub(fsu.log_bytes_per_deletion).max(1);
        need = need.saturating_add(need.saturating_mul(fsu.log_bytes_per_deletion) / net);
    }
    need
}

/// Takes items on `fsu` for capacity until `need` is freed: oldest first
/// past the floors, then the override-floor zones, lowest priority first
/// and oldest first within a priority. Returns what is still needed.
fn free_for_capacity(w: &mut Work, policy: &Policy, fi: usize, fsu: &FsUsage, mut need: u64) -> u64 {
    if need == 0 {
        return 0;
    }
    let cause = |override_floor| Cause::Capacity { fs: fi, override_floor };
    need = need.saturating_sub(w.walk(|it| it.dev == fsu.dev && !it.below_floor, need, cause(false)));
    let overriding = |z: &&Zone| z.when_full == WhenFull::OverrideFloor;
    let mut prios: Vec<i32> = policy
        .zones
        .iter()
        .filter(overriding)
        .flat_map(|z| (0..z.classes()).map(|c| z.params(c).priority))
        .collect();
    prios.sort();
    prios.dedup();
    for p in prios {
        if need == 0 {
            break;
        }
        let in_tier = |it: &Item| {
            let z = &policy.zones[it.dir.zone.0 as usize];
            it.dev == fsu.dev && z.when_full == WhenFull::OverrideFloor && z.params(it.class as usize).priority == p
        };
        need = need.saturating_sub(w.walk(in_tier, need, cause(true)));
    }
    need
}

/// The `capacity-unrelieved` alarm for `fsu`, `need` bytes short: what
/// floors, holds and other files protect.
#[allow(clippy::too_many_arguments)]
fn capacity_alarm(
    w: &Work,
    inv: &Inventory,
    policy: &Policy,
    holds: &HoldSet,
    fsu: &FsUsage,
    need: u64,
    recordings: u64,
    now: Timestamp,
) -> Alarm {
    let zones_here: Vec<&Zone> = policy
        .zones
        .iter()
        .filter(|z| inv.zones[z.id.0 as usize].roots.iter().any(|r| r.dev == Some(fsu.dev)))
        .collect();
    let floors: u64 = w
        .items
        .iter()
        .filter(|i| i.dev == fsu.dev && i.taken.is_none() && i.below_floor)
        .map(|i| i.bytes)
        .sum();
    let held_bytes: u64 = held_bytes_on(inv, holds, policy, &w.classes, fsu.dev, now);
    let unclaimed = fsu.used.0.saturating_sub(recordings);
    Alarm::new(
        AlarmKind::CapacityUnrelieved,
        fsu.mount.display().to_string(),
        format!(
            "{} is above its high watermark and {} more must go to reach the low watermark {}, but floors protect {}, holds protect {}{}, and {} of the filesystem is not recordings of any zone (never deleted)",
            fsu.describe(),
            Bytes(need),
            fsu.marks.low,
            Bytes(floors),
            Bytes(held_bytes),
            held_labels(holds, policy, &zones_here, now),
            Bytes(unclaimed)
        ),
    )
}

/// What quotas and capacity took, as entries in walk order, merged per
/// directory and cause.
fn merge_taken(w: &Work) -> Vec<Entry> {
    // Entries for quota and capacity, in walk w.order, merged per directory and cause.
    let mut merged: Vec<Entry> = Vec::new();
    let mut index: HashMap<(DirRef, Cause), usize> = HashMap::new();
    for &i in &w.taken_order {
        let it = &w.items[i];
        let cause = it.taken.expect("taken");
        if it.file == u32::MAX {
            merged.push(Entry {
                dir: it.dir,
                cause,
                files: Files::All,
                count: it.count,
                bytes: it.bytes,
                newest: it.end,
                oldest: it.start,
                charged: Charge::default(),
            });
            continue;
        }
        match index.get(&(it.dir, cause)) {
            Some(&k) => {
                let e = &mut merged[k];
                if let Files::Some(v) = &mut e.files {
                    v.push(it.file);
                }
                e.count += 1;
                e.bytes += it.bytes;
                e.newest = e.newest.max(it.end);
                e.oldest = e.oldest.min(it.start);
            }
            None => {
                index.insert((it.dir, cause), merged.len());
                merged.push(Entry {
                    dir: it.dir,
                    cause,
                    files: Files::Some(vec![it.file]),
                    count: 1,
                    bytes: it.bytes,
                    newest: it.end,
                    oldest: it.start,
                    charged: Charge::default(),
                });
            }
        }
    }
    merged
}

/// Held recordings past max_age, per zone and hold.
fn held_past_max(w: &Work, holds: &HoldSet) -> Vec<HeldPastMax> {
    let mut held_past_max: Vec<HeldPastMax> = w
        .held
        .iter()
        .map(|(&(zone, hold), &(files, bytes))| HeldPastMax {
            zone,
            hold,
            label: holds
                .holds
                .iter()
                .find(|h| h.id == hold)
                .map(|h| h.label())
                .unwrap_or_default(),
            files,
            bytes,
        })
        .collect();
    held_past_max.sort_by_key(|h| (h.zone, h.hold));
    held_past_max
}

/// Each zone's own cutoffs at `now` (max-age, floor, still being written).
pub(crate) fn zone_plans(policy: &Policy, now: Timestamp) -> Vec<ZonePlan> {
    class_plans(policy, now)
        .into_iter()
        .map(|mut c| c.swap_remove(0))
        .collect()
}

/// Each zone's cutoffs per class at `now`: its own, then each rule's.
pub(crate) fn class_plans(policy: &Policy, now: Timestamp) -> Vec<Vec<ZonePlan>> {
    let settle = policy.daemon.settle_time;
    policy
        .zones
        .iter()
        .map(|z| {
            (0..z.classes())
                .map(|c| {
                    let p = z.params(c);
                    ZonePlan {
                        expire_before: now.minus(p.max_age),
                        floor_before: now.minus(p.min_age),
                        settled_by: now.minus(settle).0,
                    }
                })
                .collect()
        })
        .collect()
}

/// The plan of an erasure: every directory of the scope's zone whose
/// recordings may fall in it, oldest first, each read in full at execution
/// time and decided file by file ([`Plan::verdict`]: in scope, not held,
/// not still being written). Pure.
pub fn erasure_plan(inv: &Inventory, policy: &Policy, erasure: Erasure, now: Timestamp) -> Plan {
    let mut entries: Vec<(Timestamp, Vec<u8>, Entry)> = Vec::new();
    for d in inv.dirs() {
        let zone = &policy.zones[d.zone.0 as usize];
        let node = inv.dir(d);
        if node.files == 0 || !erasure.scope.may_cover_range(&zone.name, node.oldest, node.newest) {
            continue;
        }
        entries.push((
            node.oldest,
            inv.root(d).rel_path(d.dir),
            Entry {
                dir: d,
                cause: Cause::Erasure,
                files: Files::All,
                count: node.files,
                bytes: node.bytes,
                newest: node.newest,
                oldest: node.oldest,
                charged: Charge::default(),
            },
        ));
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Plan {
        now,
        policy_digest: policy.digest.clone(),
        zones: zone_plans(policy, now),
        classes: class_plans(policy, now),
        entries: entries.into_iter().map(|e| e.2).collect(),
        filesystems: Vec::new(),
        alarms: Vec::new(),
        held_past_max: Vec::new(),
        erasure: Some(erasure),
    }
}

/// Bytes of held recordings on a filesystem, as far as detail tells.
fn held_bytes_on(
    inv: &Inventory,
    holds: &HoldSet,
    policy: &Policy,
    classes: &[Vec<ZonePlan>],
    dev: u64,
    now: Timestamp,
) -> u64 {
    let mut total = 0;
    for d in inv.dirs() {
        if inv.root(d).dev != Some(dev) {
            continue;
        }
        let Some(files) = inv.detail(d) else { continue };
        let zone = &policy.zones[d.zone.0 as usize];
        for f in files {
            let rel = inv.file_rel(d, &f.name);
            let zp = &classes[d.zone.0 as usize][zone.class_of_rel(&rel)];
            if let Class::Held(_) = classify(zp, zone, holds, &rel, f.time, f.stat.mtime, now) {
                total += f.stat.frees();
            }
        }
    }
    total
}

fn held_labels(holds: &HoldSet, policy: &Policy, zones: &[&Zone], now: Timestamp) -> String {
    let labels: Vec<String> = holds
        .active(now)
        .filter(|h| h.zone.as_ref().is_none_or(|z| zones.iter().any(|zz| &zz.name == z)))
        .map(|h| h.label())
        .collect();
    let _ = policy;
    if labels.is_empty() {
        String::new()
    } else {
        format!(" ({})", labels.join(", "))
    }
}

impl Plan {
    /// Decides one file of an entry at execution time, with the holds as
    /// they are now (re-read under the holds lock). Pure.
    pub fn verdict(
        &self,
        entry: &Entry,
        zone: &Zone,
        holds: &HoldSet,
        rel: &[u8],
        time: Timestamp,
        mtime: i64,
    ) -> Verdict {
        let zclass = zone.class_of_rel(rel);
        let zp = self
            .classes
            .get(zone.id.0 as usize)
            .and_then(|c| c.get(zclass))
            .unwrap_or(&self.zones[zone.id.0 as usize]);
        let class = classify(zp, zone, holds, rel, time, mtime, self.now);
        let due = match (class.clone(), entry.cause) {
            (Class::Settling, _) => return Verdict::Keep("still being written (modified within settle_time)".into()),
            (Class::Held(id), _) => {
                let label = holds
                    .holds
                    .iter()
                    .find(|h| h.id == id)
                    .map(|h| h.label())
                    .unwrap_or_default();
                return Verdict::Keep(format!("held by {label}"));
            }
            (_, Cause::Erasure) => {
                return match &self.erasure {
                    Some(er) if er.scope.covers(&zone.name, rel, time) => Verdict::Delete(Reason {
                        code: Cause::Erasure.code(),
                        basis: er.text.clone(),
                        held: None,
                        recorded: time,
                        decided: self.now,
                        former_hold: None,
                        rule: None,
                    }),
                    _ => Verdict::Keep("outside the erasure request".into()),
                };
            }
            (Class::Expired, _) => true,
            (Class::Eligible, Cause::Quota { .. } | Cause::Capacity { .. }) => time <= entry.newest,
            (
                Class::BelowFloor,
                Cause::Quota { override_floor: true }
                | Cause::Capacity {
                    override_floor: true, ..
                },
            ) => time <= entry.newest,
            _ => false,
        };
        if !due {
            return Verdict::Keep("not due any more (recorded later than planned)".into());
        }
        // A file past max_age goes for max-age even in a capacity entry.
        let cause = if class == Class::Expired {
            Cause::MaxAge
        } else {
            entry.cause
        };
        let mut reason = self.reason(cause, zone, zclass, time);
        if let Some(h) = holds.former(&zone.name, rel, time, self.now) {
            let how = match &h.released {
                Some(r) => format!("released {} by {}: {}", r.at.short(), r.by, r.reason),
                None => format!("lapsed {}", h.expires.map(|e| e.short()).unwrap_or_default()),
            };
            reason.held = Some(format!("was held by {}, {how}", h.label()));
            reason.former_hold = Some(h.id);
        }
        Verdict::Delete(reason)
    }

    /// The reason for deleting a recording of `zone`'s class `class` (see
    /// [`Zone::class_of`]) recorded at `time` for `cause`.
    pub fn reason(&self, cause: Cause, zone: &Zone, class: usize, time: Timestamp) -> Reason {
        let p = zone.params(class);
        let of_rule = p.rule.map(|r| format!(" (rule {r})")).unwrap_or_default();
        let basis = match cause {
            Cause::MaxAge => format!("older than max_age {}{of_rule}", p.max_age),
            // A rule's own quota, or the zone's.
            Cause::Quota { override_floor } => format!(
                "{} is over its max_bytes {}; oldest first{}",
                match p.rule {
                    Some(r) if p.max_bytes.is_some() => format!("rule {r} of zone {}", zone.name),
                    _ => format!("zone {}", zone.name),
                },
                p.max_bytes.or(zone.max_bytes).unwrap_or_default(),
                if override_floor {
                    format!(", below its floor {}{of_rule} (when_full = override-floor)", p.min_age)
                } else {
                    String::new()
                }
            ),
            Cause::Capacity { fs, override_floor } => {
                let f = &self.filesystems[fs];
                let base = format!(
                    "{} is at {:.1}%, above its high watermark {}; oldest first down to the low watermark {}",
                    f.usage.mount.display(),
                    f.usage.used_pct(),
                    f.usage.marks.high,
                    f.usage.marks.low
                );
                if override_floor {
                    format!(
                        "{base}; floors could not relieve it, and zone {} (priority {}) allows deleting below its floor {}{of_rule} (when_full = override-floor)",
                        zone.name, p.priority, p.min_age
                    )
                } else {
                    format!("{base}, never younger than the floor {}{of_rule}", p.min_age)
                }
            }
            Cause::Erasure => match &self.erasure {
                Some(er) => er.text.clone(),
                None => "erasure".to_string(),
            },
        };
        Reason {
            code: cause.code(),
            basis,
            held: None,
            recorded: time,
            decided: self.now,
            former_hold: None,
            rule: p.rule.map(str::to_string),
        }
    }

    /// Files and bytes the plan expects to delete, per reason code.
    pub fn totals(&self) -> Vec<(&'static str, u64, Bytes)> {
        let mut out: Vec<(&'static str, u64, Bytes)> = Vec::new();
        for e in &self.entries {
            let code = e.cause.code();
            match out.iter_mut().find(|(c, _, _)| *c == code) {
                Some(t) => {
                    t.1 += e.count as u64;
                    t.2 += Bytes(e.bytes);
                }
                None => out.push((code, e.count as u64, Bytes(e.bytes))),
            }
        }
        out
    }
}

/// "29d 3h" for the age of something at `time` seen at `now`.
pub fn age_text(time: Timestamp, now: Timestamp) -> Age {
    time.age_at(now)
}

/// A name for a file in messages.
pub fn display_name(name: &OsStr) -> String {
    name.to_string_lossy().into_owned()
}

/// Cases per property test: `PROPTEST_CASES`, else 2,000 (the long
/// mode in the README runs 100,000).
#[cfg(test)]
pub(crate) fn test_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[cfg(test)]
mod tests;
