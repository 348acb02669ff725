//! The mass-deletion guard: a sweep may not remove a large share of a zone
//! at once for any reason other than capacity, without a supervisor's
//! confirmation.
//!
//! A policy reload that shortens `max_age`, a wall clock that jumped ahead
//! (a dead RTC at boot, then NTP; or a wrong clock), or a mis-set time
//! pattern all look alike to the planner: a large part of a zone is
//! suddenly past its ceiling. Deleting is irreversible; waiting is not.
//!
//! Rules, per zone, applied to a plan before it is executed:
//! - Deletions "for age" are those for `max-age` and `quota`; capacity and
//!   erasure are never capped (capacity keeps the recorders running, and
//!   its floors already protect young footage; an erasure is a
//!   supervisor's explicit request).
//! - Ageing is not a surge. Each zone has a *mark* ([`ZoneMark`]): its
//!   max-age cutoff at its last sweep (after a restart, the last one
//!   saved). A recording that crossed `max_age` after the mark did so
//!   through the passage of time, which the boot clock vouches for, and
//!   its deletion is never capped nor counted, whatever the zone's size
//!   (a quiet camera, a stopped recorder). What counts is what became due
//!   all at once: a backlog at first start, a shorter `max_age` or a
//!   changed time pattern, include list or root (the mark vouches for
//!   nothing then), a suspect clock (likewise, and a new mark is taken),
//!   more than an hour across a reboot (no boot clock vouches for it), and
//!   quota deletions, always.
//! - When a sweep plans more than `share` of the zone's recordings for age
//!   (what counts of them), or the clock is suspect, an *episode* opens
//!   with a budget of `share` of the zone's recordings, and an alarm
//!   (`mass-deletion` or `clock-suspect`) is raised. Each sweep of the
//!   episode deletes, oldest first by whole directory (plan entries are
//!   not split, except that what aged since the mark still goes), only
//!   what fits in what is left of the budget; once it is spent, nothing
//!   more that counts is deleted for age in that zone.
//! - The budget is charged when the plan is capped (a crash cannot reset
//!   it) and what was not deleted (failed, refused, vanished, kept, not
//!   reached) is given back after the sweep ([`refund`]): a deletion that
//!   fails never spends it.
//! - The episode ends when a supervisor confirms it (`retentionctl
//!   confirm`; the next sweep deletes without the cap), or by itself: a
//!   mass episode when what a sweep plans fits in the budget left (the
//!   cause went away, e.g. the policy was reverted), a clock episode when
//!   the clock is consistent again and the plan is within `share`.
//! - The state (episodes, marks and the last clock reading) is kept in the
//!   state directory, so a restart (or a crash loop) does not reset a
//!   budget, nor turn ageing into a surge.
//!
//! Nothing here performs I/O or reads a clock: the daemon measures the
//! clocks ([`ClockMark`]) and persists [`GuardState`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::inventory::Inventory;
use crate::core::plan::{Cause, Charge, Entry, Files, Plan, ZonePlan};
use crate::core::policy::Policy;
use crate::core::units::Timestamp;

/// What opened an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A sweep planned more than the share.
    Mass,
    /// The wall clock was suspect.
    Clock,
}

/// A supervisor's acceptance of an episode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// User name.
    pub by: String,
    /// User id.
    pub uid: u32,
    /// When.
    pub at: Timestamp,
    /// Why (recorded in the audit log too).
    pub reason: String,
}

/// An open episode of one zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// When it opened.
    pub since: Timestamp,
    /// Why.
    pub trigger: Trigger,
    /// Deletions for age still allowed without confirmation.
    pub budget_left: u64,
    /// Deletions for age the opening sweep planned.
    pub planned: u64,
    /// The zone's recordings then.
    pub of: u64,
    /// Why the clock was suspect (clock episodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// Set by `retentionctl confirm`; the next sweep is not capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<Confirmation>,
}

/// The wall and boot clocks at a sweep, to tell a jump of the wall clock
/// from time passing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockMark {
    /// Wall clock (Unix seconds).
    pub wall: i64,
    /// `CLOCK_BOOTTIME` seconds (counts suspend, never jumps).
    pub boot: i64,
    /// The kernel's boot id: boot clocks of different boots do not compare.
    pub boot_id: String,
}

/// Everything the guard remembers between sweeps (and restarts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardState {
    /// Open episodes by zone name.
    #[serde(default)]
    pub zones: BTreeMap<String, Episode>,
    /// The clocks at the last sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockMark>,
    /// Per zone name: where its footage stood at the first sweep of this
    /// boot and policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub marks: BTreeMap<String, ZoneMark>,
}

/// The wall clock moved this much further than the boot clock between two
/// sweeps: suspect (NTP corrections are seconds; a dead RTC is years).
pub const CLOCK_TOLERANCE_SECS: i64 = 600;

/// Whether the wall clock jumped ahead between `last` and `now` (same
/// boot): `Some(why)` if so.
pub fn clock_jump(last: &ClockMark, now: &ClockMark) -> Option<String> {
    // Boot clocks of different (or unknown) boots do not compare.
    if last.boot_id != now.boot_id || now.boot_id.is_empty() {
        return None;
    }
    let wall = now.wall - last.wall;
    let boot = now.boot - last.boot;
    let ahead = wall - boot;
    (ahead > CLOCK_TOLERANCE_SECS).then(|| {
        format!(
            "the wall clock moved {} further than the boot clock since the last sweep ({} -> {})",
            crate::core::units::Age(std::time::Duration::from_secs(ahead as u64)),
            Timestamp(last.wall).short(),
            Timestamp(now.wall).short()
        )
    })
}

/// Whether recordings being written now are stamped far behind the wall
/// clock: `newest` is the newest recording time of a zone whose newest
/// file was modified at `newest_mtime`. `Some(why)` when the files are
/// being written (modified within 10 minutes) but stamped more than an
/// hour earlier: the wall clock is ahead of the recorders'.
pub fn clock_ahead_of_recordings(zone: &str, newest: Timestamp, newest_mtime: i64, now: Timestamp) -> Option<String> {
    let writing = newest_mtime >= now.0 - 600 && newest_mtime <= now.0 + 60;
    let behind = now.0 - newest.0;
    (writing && behind > 3600).then(|| {
        format!(
            "zone {zone}: recordings being written now are stamped {} behind the wall clock (newest {})",
            crate::core::units::Age(std::time::Duration::from_secs(behind as u64)),
            newest.short()
        )
    })
}

/// Where a zone's footage stood at its last sweep: what crossed `max_age`
/// after that did so through the passage of time (the boot clock vouches
/// for it), not all at once. Kept current in memory at every sweep, and
/// saved with the guard's state (at least when its rules or the boot
/// change), so after a restart it is the last one saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMark {
    /// That sweep's time.
    pub at: Timestamp,
    /// Its max-age cutoff: recordings older than this were due then.
    pub expire_before: Timestamp,
    /// The zone's `max_age` then, in seconds: a shorter one makes
    /// recordings due at once.
    pub max_age: u64,
    /// The rest of what decides a recording's time then ([`rule_of`]).
    pub rule: String,
    /// The boot it was taken in.
    pub boot_id: String,
}

/// What, besides `max_age`, decides when a zone's recordings are due:
/// its roots, include list and time source, as the effective policy
/// writes them (a fingerprint).
pub fn rule_of(zone: &crate::core::policy::Zone) -> String {
    use sha2::{Digest, Sha256};
    let time = match &zone.time {
        crate::core::policy::TimeSource::Mtime => "mtime".to_string(),
        crate::core::policy::TimeSource::Pattern(p) => format!("{} {}", p.as_str(), p.zone()),
    };
    let roots: Vec<String> = zone.roots.iter().map(|r| r.display().to_string()).collect();
    let text = format!("{}\n{}\n{time}", roots.join("\n"), zone.include.globs.join("\n"));
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// What the daemon saw at this sweep, beside the plan.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    /// Recordings per zone (indexed like [`Policy::zones`]).
    pub zone_files: &'a [u64],
    /// The inventory with the detail the plan used: the recording time of
    /// each planned file, to tell ageing from backlog within a directory.
    pub detail: Option<&'a Inventory>,
    /// Why the wall clock is suspect, if it is.
    pub suspect: Option<&'a str>,
    /// The kernel's boot id; `None`: time since the last sweep cannot be
    /// vouched for, and every deletion for age counts against the share.
    pub boot_id: Option<&'a str>,
    /// The plan's time.
    pub now: Timestamp,
}

/// What the guard did to a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Alarms for open episodes (raised every sweep while open).
    pub alarms: Vec<Alarm>,
    /// Per zone name: deletions for age dropped from the plan this sweep.
    pub held_back: BTreeMap<String, u64>,
    /// Zones whose confirmed episode this sweep consumed, with who confirmed.
    pub confirmed: Vec<(String, Confirmation)>,
    /// Zones whose episode ended by itself.
    pub resolved: Vec<String>,
    /// Whether `state` changed (and must be persisted).
    pub changed: bool,
}

/// Applies the guard to `plan`: `share` is the percentage of a zone
/// allowed at once. Deletions of recordings that aged past `max_age` since
/// the zone's mark (same policy, a clock the boot clock vouches for) are
/// never capped, nor counted; the others (a backlog at first start, a
/// shorter `max_age`, a changed pattern, a clock jump) count against the
/// share, and beyond it against an episode's budget, oldest first. Sets
/// each kept entry's `charged` (what it took of the budget, taken now so
/// that a crash cannot reset it; [`refund`] gives back what was not
/// deleted) and updates `state`.
pub fn apply(plan: &mut Plan, policy: &Policy, share: f64, state: &mut GuardState, seen: &Seen) -> Outcome {
    let mut out = Outcome::default();
    if plan.erasure.is_some() {
        return out;
    }
    let before = state.marks.len();
    state.marks.retain(|z, _| policy.zone(z).is_some());
    out.changed |= state.marks.len() != before;
    // Where each zone stood before this sweep, then where it stands now
    // (kept even while the guard is off, so turning it on trips nothing).
    let since: Vec<Option<Timestamp>> = policy
        .zones
        .iter()
        .map(|z| ageing_since(state.marks.get(&z.name.0), state.clock.as_ref(), z, seen))
        .collect();
    for (zi, zone) in policy.zones.iter().enumerate() {
        renew_mark(state, &zone.name.0, zone, plan.zones.get(zi), seen, &mut out);
    }
    if share >= 100.0 {
        // The guard is off: nothing is capped, no episode stays open.
        out.resolved = std::mem::take(&mut state.zones).into_keys().collect();
        out.changed |= !out.resolved.is_empty();
        return out;
    }
    let now = seen.now;
    let mut drop = vec![false; plan.entries.len()];
    for (zi, zone) in policy.zones.iter().enumerate() {
        let name = zone.name.0.clone();
        let since = since[zi];
        // Deletions for age, each with how many of its files count (did
        // not just age past max_age); entries of ageing alone go ahead.
        let mut aged: Vec<(usize, Charge)> = (0..plan.entries.len())
            .filter(|&i| {
                let e = &plan.entries[i];
                e.dir.zone.0 as usize == zi && matches!(e.cause, Cause::MaxAge | Cause::Quota { .. })
            })
            .map(|i| (i, surge_of(&plan.entries[i], since, seen.detail)))
            .filter(|(_, c)| c.files > 0)
            .collect();
        let planned: u64 = aged.iter().map(|(_, c)| u64::from(c.files)).sum();
        let n = seen.zone_files.get(zi).copied().unwrap_or(0);
        let limit = share_of(n, share);
        let cap = match state.zones.get(&name) {
            Some(ep) if ep.confirmed.is_some() => {
                let ep = state.zones.remove(&name).expect("present");
                out.confirmed.push((name, ep.confirmed.expect("confirmed")));
                out.changed = true;
                continue;
            }
            Some(ep) => {
                let resolved = match ep.trigger {
                    Trigger::Mass => planned <= ep.budget_left && planned <= limit,
                    Trigger::Clock => seen.suspect.is_none() && planned <= limit,
                };
                if resolved {
                    state.zones.remove(&name);
                    out.resolved.push(name);
                    out.changed = true;
                    continue;
                }
                ep.budget_left
            }
            None if planned > limit || (seen.suspect.is_some() && planned > 0) => {
                state.zones.insert(
                    name.clone(),
                    Episode {
                        since: now,
                        trigger: if seen.suspect.is_some() {
                            Trigger::Clock
                        } else {
                            Trigger::Mass
                        },
                        budget_left: limit,
                        planned,
                        of: n,
                        clock: seen.suspect.map(str::to_string),
                        confirmed: None,
                    },
                );
                out.changed = true;
                limit
            }
            None => continue,
        };
        // Strictly oldest first within the budget, whole entries only (an
        // entry is one directory's files for one cause): the first entry
        // that does not fit ends it. What aged within a held-back entry
        // still goes, where the detail tells it apart.
        aged.sort_by_key(|&(i, _)| (plan.entries[i].newest, i));
        let mut kept = 0u64;
        let mut held_back = 0u64;
        for (i, c) in aged {
            let n = u64::from(c.files);
            if held_back == 0 && kept + n <= cap {
                kept += n;
                plan.entries[i].charged = c;
            } else {
                held_back += n;
                if !keep_ageing_only(&mut plan.entries[i], since, seen.detail) {
                    drop[i] = true;
                }
            }
        }
        let ep = state.zones.get_mut(&name).expect("episode open");
        if kept > 0 {
            ep.budget_left -= kept;
            out.changed = true;
        }
        if held_back > 0 {
            out.held_back.insert(name.clone(), held_back);
        }
        out.alarms.push(alarm(&name, ep, planned, n, held_back, share));
    }
    let mut i = 0;
    plan.entries.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    out
}

/// Gives back to each open episode the budget its plan's entries were
/// charged for deletions that did not happen (refused, failed, vanished,
/// kept, or not reached): `deleted[i]` is how many of entry `i`'s charged
/// files (those recorded before its `charged.before`) were deleted.
/// Returns whether `state` changed.
pub fn refund(state: &mut GuardState, policy: &Policy, plan: &Plan, deleted: &[u32]) -> bool {
    let mut back: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, e) in plan.entries.iter().enumerate() {
        let done = deleted.get(i).copied().unwrap_or(0);
        let missed = e.charged.files.saturating_sub(done);
        if missed > 0 {
            *back.entry(&policy.zones[e.dir.zone.0 as usize].name.0).or_default() += u64::from(missed);
        }
    }
    let mut changed = false;
    for (z, n) in back {
        if let Some(ep) = state.zones.get_mut(z) {
            ep.budget_left += n;
            changed = true;
        }
    }
    changed
}

/// Recordings older than this in `zone` were already due at its last
/// sweep; younger ones aged past `max_age` since, with time vouched for.
/// `None`: no mark (a first start: everything due counts), a changed rule
/// or a shorter `max_age`, or a clock that cannot be trusted now. Without
/// a mark of its own a zone goes by the guard's last clock reading (state
/// saved before zone marks existed, or a zone added by a reload).
fn ageing_since(
    mark: Option<&ZoneMark>,
    last_clock: Option<&ClockMark>,
    zone: &crate::core::policy::Zone,
    seen: &Seen,
) -> Option<Timestamp> {
    let boot = seen.boot_id?;
    if seen.suspect.is_some() {
        return None;
    }
    let max_age = zone.max_age.0.as_secs();
    let (at, cutoff, same_boot) = match mark {
        Some(m) if m.rule != rule_of(zone) || max_age < m.max_age => return None,
        Some(m) => (m.at, m.expire_before, m.boot_id == boot),
        None => {
            let c = last_clock.filter(|c| !c.boot_id.is_empty())?;
            (Timestamp(c.wall), Timestamp(c.wall - max_age as i64), c.boot_id == boot)
        }
    };
    if at > seen.now {
        return None;
    }
    if same_boot {
        return Some(cutoff);
    }
    // Across a reboot the boot clock cannot vouch for the wall clock (a
    // dead RTC set by NTP later): an hour of it is trusted, no more.
    Some(cutoff.max(Timestamp(seen.now.0 - max_age as i64 - REBOOT_TRUST_SECS)))
}

/// Time across a reboot that counts as ageing without the boot clock's word.
pub const REBOOT_TRUST_SECS: i64 = 3600;

/// Moves `zone`'s mark to this sweep; the state is to be saved (`changed`)
/// when its rule, `max_age` or boot changed, or the clock is suspect.
fn renew_mark(
    state: &mut GuardState,
    name: &str,
    zone: &crate::core::policy::Zone,
    zp: Option<&ZonePlan>,
    seen: &Seen,
    out: &mut Outcome,
) {
    let (Some(boot), Some(zp)) = (seen.boot_id, zp) else {
        return;
    };
    let mark = ZoneMark {
        at: seen.now,
        expire_before: zp.expire_before,
        max_age: zone.max_age.0.as_secs(),
        rule: rule_of(zone),
        boot_id: boot.to_string(),
    };
    let same = state
        .marks
        .get(name)
        .is_some_and(|m| m.rule == mark.rule && m.max_age == mark.max_age && m.boot_id == boot && m.at <= seen.now);
    if !same || seen.suspect.is_some() {
        out.changed = true;
    }
    state.marks.insert(name.to_string(), mark);
}

/// Which of an entry's deletions count against the share: all, unless
/// they aged since the last sweep (`since`), per file where the detail is
/// known (by its oldest recording otherwise). Quota deletions always count.
fn surge_of(e: &Entry, since: Option<Timestamp>, detail: Option<&Inventory>) -> Charge {
    let all = Charge {
        files: e.count,
        before: Timestamp::MAX,
    };
    let Some(since) = since else { return all };
    match e.cause {
        Cause::MaxAge if e.oldest >= since => Charge::default(),
        Cause::MaxAge => match (&e.files, detail.and_then(|inv| inv.detail(e.dir))) {
            (Files::Some(ix), Some(files)) => Charge {
                files: ix
                    .iter()
                    .filter(|&&k| files.get(k as usize).is_none_or(|f| f.time < since))
                    .count() as u32,
                before: since,
            },
            _ => all,
        },
        _ => all,
    }
}

/// Narrows a held-back entry to its files that aged since the mark; false
/// when none did (or they cannot be told apart: the entry is dropped).
fn keep_ageing_only(e: &mut Entry, since: Option<Timestamp>, detail: Option<&Inventory>) -> bool {
    let (Some(since), Cause::MaxAge, Files::Some(ix), Some(files)) =
        (since, e.cause, &e.files, detail.and_then(|inv| inv.detail(e.dir)))
    else {
        return false;
    };
    let keep: Vec<u32> = ix
        .iter()
        .copied()
        .filter(|&k| files.get(k as usize).is_some_and(|f| f.time >= since))
        .collect();
    if keep.is_empty() {
        return false;
    }
    let of = |k: &u32| &files[*k as usize];
    e.count = keep.len() as u32;
    e.bytes = keep.iter().map(|k| of(k).stat.frees()).sum();
    e.oldest = keep.iter().map(|k| of(k).time).min().unwrap_or(e.oldest);
    e.newest = keep.iter().map(|k| of(k).time).max().unwrap_or(e.newest);
    e.files = Files::Some(keep);
    true
}

/// `share` percent of `n`, rounded down, in integers (a share has at most
/// three decimals that count).
pub fn share_of(n: u64, share: f64) -> u64 {
    let milli = (share * 1000.0).round().clamp(0.0, 100_000.0) as u128;
    (u128::from(n) * milli / 100_000) as u64
}

fn alarm(zone: &str, ep: &Episode, planned: u64, n: u64, held_back: u64, share: f64) -> Alarm {
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let why = match ep.trigger {
        Trigger::Mass => format!(
            "zone {zone}: a sweep at {} UTC planned to delete {} of its {} recordings ({:.1}%) for age, more than the {share}% allowed at once",
            ep.since.short(),
            ep.planned,
            ep.of,
            pct(ep.planned, ep.of)
        ),
        Trigger::Clock => format!(
            "zone {zone}: the clock is suspect since {} UTC ({}); deletions for age are capped at {share}% of the zone",
            ep.since.short(),
            ep.clock.as_deref().unwrap_or("")
        ),
    };
    Alarm {
        kind: match ep.trigger {
            Trigger::Mass => AlarmKind::MassDeletion,
            Trigger::Clock => AlarmKind::ClockSuspect,
        },
        subject: zone.to_string(),
        text: format!(
            "{why}; now {planned} of {n} are due, {held_back} held back this sweep, {} more may go before a supervisor runs `retentionctl confirm --zone {zone}`; capacity deletions go on",
            ep.budget_left
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::inventory::DirRef;
    use crate::core::plan::{Entry, Files};
    use crate::core::units::ZoneId;
    use std::path::Path;

    fn policy() -> Policy {
        Policy::from_str(
            Path::new("t.toml"),
            "[daemon]\nstate_dir = \"/nonexistent-state\"\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"/srv/cctv\"]\nmin_age = \"1d\"\nmax_age = \"7d\"\n\
             [[zone]]\nname = \"calls\"\npaths = [\"/srv/calls\"]\nmin_age = \"1d\"\nmax_age = \"60d\"\n",
        )
        .unwrap()
    }

    fn entry(zone: u16, dir: u32, cause: Cause, count: u32, newest: i64) -> Entry {
        Entry {
            dir: DirRef {
                zone: ZoneId(zone),
                root: 0,
                dir,
            },
            cause,
            files: Files::All,
            count,
            bytes: u64::from(count) * 1000,
            newest: Timestamp(newest),
            oldest: Timestamp(newest),
            charged: Charge::default(),
        }
    }

    fn seen<'a>(zone_files: &'a [u64], suspect: Option<&'a str>) -> Seen<'a> {
        Seen {
            zone_files,
            detail: None,
            suspect,
            boot_id: None,
            now: NOW,
        }
    }

    /// Zone cctv: six directories of 5 expired recordings (30), one
    /// capacity entry; zone calls: 2 expired.
    fn plan() -> Plan {
        let p = policy();
        let mut plan = Plan {
            now: NOW,
            policy_digest: p.digest.clone(),
            zones: Vec::new(),
            classes: Vec::new(),
            entries: Vec::new(),
            filesystems: Vec::new(),
            alarms: Vec::new(),
            held_past_max: Vec::new(),
            erasure: None,
        };
        for d in 0..6 {
            plan.entries
                .push(entry(0, d + 1, Cause::MaxAge, 5, 1000 - i64::from(d)));
        }
        plan.entries.push(entry(
            0,
            20,
            Cause::Capacity {
                fs: 0,
                override_floor: false,
            },
            40,
            5000,
        ));
        plan.entries.push(entry(1, 1, Cause::MaxAge, 2, 100));
        plan
    }

    fn aged(plan: &Plan, zone: u16) -> u64 {
        plan.entries
            .iter()
            .filter(|e| e.dir.zone.0 == zone && e.cause == Cause::MaxAge)
            .map(|e| u64::from(e.count))
            .sum()
    }

    const NOW: Timestamp = Timestamp(1_000_000);

    #[test]
    fn within_the_share_nothing_changes() {
        let p = policy();
        let mut pl = plan();
        let mut st = GuardState::default();
        // 30 of 300 is exactly 10%.
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[300, 100], None));
        assert_eq!(aged(&pl, 0), 30);
        assert!(out.alarms.is_empty() && st.zones.is_empty() && !out.changed);
    }

    #[test]
    fn a_surge_is_capped_oldest_first_until_confirmed() {
        let p = policy();
        let mut st = GuardState::default();
        // 30 of 100: the budget is 10, two directories of 5 (the oldest).
        let mut pl = plan();
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[100, 100], None));
        assert_eq!(aged(&pl, 0), 10);
        let kept: Vec<u32> = pl
            .entries
            .iter()
            .filter(|e| e.dir.zone.0 == 0 && e.cause == Cause::MaxAge)
            .map(|e| e.dir.dir)
            .collect();
        assert_eq!(kept, vec![5, 6], "the oldest two directories");
        assert!(
            pl.entries.iter().any(|e| matches!(e.cause, Cause::Capacity { .. })),
            "capacity goes on"
        );
        assert_eq!(aged(&pl, 1), 2, "the other zone is within its share");
        assert_eq!(out.held_back["cctv"], 20);
        assert_eq!(out.alarms.len(), 1);
        assert_eq!(out.alarms[0].kind, "mass-deletion");
        assert!(
            out.alarms[0].text.contains("retentionctl confirm --zone cctv"),
            "{}",
            out.alarms[0].text
        );
        let ep = &st.zones["cctv"];
        assert_eq!(
            (ep.trigger, ep.budget_left, ep.planned, ep.of),
            (Trigger::Mass, 0, 30, 100)
        );

        // The budget is spent: the next sweeps delete nothing for age.
        let mut pl = plan();
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[90, 100], None));
        assert_eq!(aged(&pl, 0), 0);
        assert_eq!(out.alarms.len(), 1);
        // Even a trickle waits while the episode is open.
        let mut small = plan();
        small.entries.retain(|e| e.dir.dir == 1 || e.dir.zone.0 == 1);
        apply(&mut small, &p, 10.0, &mut st, &seen(&[90, 100], None));
        assert_eq!(aged(&small, 0), 0);

        // A restart keeps the episode (the state round-trips).
        let mut st: GuardState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        st.zones.get_mut("cctv").unwrap().confirmed = Some(Confirmation {
            by: "sup".into(),
            uid: 1001,
            at: NOW,
            reason: "policy change approved".into(),
        });
        let mut pl = plan();
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[90, 100], None));
        assert_eq!(aged(&pl, 0), 30, "confirmed: uncapped");
        assert_eq!(out.confirmed.len(), 1);
        assert!(out.alarms.is_empty() && st.zones.is_empty());
    }

    #[test]
    fn a_mass_episode_ends_when_the_plan_fits_the_budget_left() {
        let p = policy();
        let mut st = GuardState::default();
        // 30 of 200: budget 20, four directories go, 10 held back.
        let mut pl = plan();
        apply(&mut pl, &p, 10.0, &mut st, &seen(&[200, 100], None));
        assert_eq!(aged(&pl, 0), 20);
        assert_eq!(st.zones["cctv"].budget_left, 0);
        // The policy was reverted: nothing is due for age any more.
        let mut pl = plan();
        pl.entries.retain(|e| e.dir.zone.0 != 0 || e.cause != Cause::MaxAge);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[180, 100], None));
        assert_eq!(out.resolved, vec!["cctv".to_string()]);
        assert!(st.zones.is_empty() && out.alarms.is_empty());
    }

    #[test]
    fn a_suspect_clock_caps_and_clears_when_the_clock_is_consistent() {
        let p = policy();
        let mut st = GuardState::default();
        let mut pl = plan();
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[1000, 100], Some("jumped")));
        // Within the share (30 of 1000), but the clock is suspect: an
        // episode with a budget of 100 for cctv, 10 for calls.
        assert_eq!(aged(&pl, 0), 30);
        assert_eq!(out.alarms.iter().filter(|a| a.kind == "clock-suspect").count(), 2);
        assert_eq!(st.zones["cctv"].budget_left, 70);
        assert_eq!(st.zones["calls"].budget_left, 8);
        // The clock is consistent again and the plan within the share.
        let mut pl = plan();
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[1000, 100], None));
        assert_eq!(out.resolved.len(), 2);
        assert_eq!(aged(&pl, 0), 30);
        assert!(st.zones.is_empty());
    }

    #[test]
    fn an_erasure_plan_is_never_capped() {
        let p = policy();
        let mut st = GuardState::default();
        let mut pl = plan();
        pl.erasure = Some(crate::core::plan::Erasure {
            scope: crate::core::holds::Scope::new(crate::core::units::ZoneName("cctv".into()), None, Timestamp(0), NOW)
                .unwrap(),
            text: "erasure requested".into(),
        });
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen(&[10, 10], None));
        assert_eq!(aged(&pl, 0), 30);
        assert_eq!(out, Outcome::default());
    }

    #[test]
    fn clock_checks() {
        let m = |wall: i64, boot: i64, id: &str| ClockMark {
            wall,
            boot,
            boot_id: id.into(),
        };
        let a = m(1_000_000, 100, "x");
        assert_eq!(clock_jump(&a, &m(1_000_060, 160, "x")), None);
        assert_eq!(
            clock_jump(&a, &m(1_000_560, 160, "x")),
            None,
            "NTP slew and small steps pass"
        );
        let j = clock_jump(&a, &m(1_000_000 + 30 * 86_400, 160, "x")).unwrap();
        assert!(j.contains("further than the boot clock"), "{j}");
        assert_eq!(
            clock_jump(&a, &m(1_000_000 + 30 * 86_400, 160, "y")),
            None,
            "another boot"
        );
        assert_eq!(clock_jump(&a, &m(900_000, 160, "x")), None, "backwards deletes nothing");
        let now = Timestamp(2_000_000);
        assert!(clock_ahead_of_recordings("cctv", Timestamp(now.0 - 7200), now.0 - 30, now).is_some());
        assert!(clock_ahead_of_recordings("cctv", Timestamp(now.0 - 120), now.0 - 30, now).is_none());
        assert!(
            clock_ahead_of_recordings("cctv", Timestamp(now.0 - 7200), now.0 - 7200, now).is_none(),
            "nothing is being written"
        );
    }

    fn seen_at<'a>(zone_files: &'a [u64], boot: &'a str, suspect: Option<&'a str>, now: Timestamp) -> Seen<'a> {
        Seen {
            zone_files,
            detail: None,
            suspect,
            boot_id: Some(boot),
            now,
        }
    }

    /// A plan for zone cctv (max_age 7 d) at `now`: one directory of `n`
    /// recordings per entry, whose oldest recording is `oldest`.
    fn aged_plan(now: Timestamp, entries: &[(u32, i64)]) -> Plan {
        let mut pl = plan();
        pl.now = now;
        pl.zones = crate::core::plan::zone_plans(&policy(), now);
        pl.entries = entries
            .iter()
            .enumerate()
            .map(|(k, &(n, oldest))| Entry {
                oldest: Timestamp(oldest),
                ..entry(0, k as u32 + 1, Cause::MaxAge, n, oldest + 10)
            })
            .collect();
        pl
    }

    const WEEK: i64 = 7 * 86_400;

    #[test]
    fn what_aged_since_the_last_sweep_is_never_capped_whatever_the_zones_size() {
        let p = policy();
        let mut st = GuardState::default();
        let t0 = Timestamp(10_000_000);
        // First sweep of this boot: nothing due; the mark is taken.
        let mut pl = aged_plan(t0, &[]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[4, 4], "b1", None, t0));
        assert!(out.changed && out.alarms.is_empty());
        assert_eq!(st.marks["cctv"].expire_before, Timestamp(t0.0 - WEEK));
        // A zone of 4 files whose 4 files aged past max_age since: all go.
        let t1 = Timestamp(t0.0 + 30);
        let mut pl = aged_plan(t1, &[(2, t0.0 - WEEK + 1), (2, t0.0 - WEEK + 20)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[4, 4], "b1", None, t1));
        assert_eq!(aged(&pl, 0), 4);
        assert!(out.alarms.is_empty() && st.zones.is_empty(), "{out:?}");
        assert!(pl.entries.iter().all(|e| e.charged.files == 0));
        // After a restart (the state round-trips), the same.
        let mut st: GuardState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        let t2 = Timestamp(t0.0 + 3600);
        let mut pl = aged_plan(t2, &[(3, t0.0 - WEEK + 100)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[4, 4], "b1", None, t2));
        assert_eq!((aged(&pl, 0), out.alarms.len()), (3, 0));
    }

    #[test]
    fn a_backlog_a_changed_rule_and_a_suspect_clock_still_count() {
        let p = policy();
        let t0 = Timestamp(10_000_000);
        // No mark (a first start): the backlog counts, 30 of 100.
        let mut st = GuardState::default();
        let mut pl = aged_plan(t0, &[(10, t0.0 - WEEK - 300), (20, t0.0 - WEEK - 200)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, t0));
        assert_eq!(out.alarms[0].kind, "mass-deletion");
        assert_eq!(aged(&pl, 0), 10, "the oldest directory fits the budget");
        // What was due at the mark stays capped at the next sweep.
        let t1 = Timestamp(t0.0 + 60);
        let mut pl = aged_plan(t1, &[(20, t0.0 - WEEK - 200), (5, t0.0 - WEEK + 10)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[90, 100], "b1", None, t1));
        assert_eq!(aged(&pl, 0), 5, "the backlog waits, what aged since goes");
        assert_eq!(out.held_back["cctv"], 20);

        // A shorter max_age (a changed rule): the mark does not vouch.
        let shorter = Policy::from_str(
            Path::new("t.toml"),
            "[daemon]\nstate_dir = \"/nonexistent-state\"\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"/srv/cctv\"]\nmin_age = \"1d\"\nmax_age = \"6d\"\n\
             [[zone]]\nname = \"calls\"\npaths = [\"/srv/calls\"]\nmin_age = \"1d\"\nmax_age = \"60d\"\n",
        )
        .unwrap();
        let mut st = GuardState::default();
        let mut pl = aged_plan(t0, &[]);
        apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, t0));
        let mut pl = aged_plan(t1, &[(30, t0.0 - WEEK + 30)]);
        let out = apply(&mut pl, &shorter, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, t1));
        assert_eq!(out.alarms.len(), 1, "a shorter max_age counts: {out:?}");

        // A suspect clock: nothing is vouched for, and the mark moves on.
        let mut st = GuardState::default();
        let mut pl = aged_plan(t0, &[]);
        apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, t0));
        let jumped = Timestamp(t0.0 + 30 * 86_400);
        let mut pl = aged_plan(jumped, &[(30, t0.0 - WEEK + 30)]);
        let out = apply(
            &mut pl,
            &p,
            10.0,
            &mut st,
            &seen_at(&[100, 100], "b1", Some("jumped"), jumped),
        );
        assert_eq!(out.alarms[0].kind, "clock-suspect");
        assert_eq!(st.marks["cctv"].at, jumped);
        // Once the clock is consistent again, what was due at the jump still counts.
        let later = Timestamp(jumped.0 + 60);
        let mut pl = aged_plan(later, &[(30, t0.0 - WEEK + 30)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, later));
        assert!(!out.alarms.is_empty() && aged(&pl, 0) < 30, "{out:?}");

        // Another boot: only as much time as the share lets go is vouched for.
        let mut st = GuardState::default();
        let mut pl = aged_plan(t0, &[]);
        apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, t0));
        let year = Timestamp(t0.0 + 365 * 86_400);
        let mut pl = aged_plan(year, &[(30, t0.0 - WEEK + 30)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b2", None, year));
        assert_eq!(out.alarms.len(), 1, "a year since the mark, across a reboot: {out:?}");
        let mut st = GuardState::default();
        let mut pl = aged_plan(t0, &[]);
        apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b1", None, t0));
        let soon = Timestamp(t0.0 + 600);
        let mut pl = aged_plan(soon, &[(30, t0.0 - WEEK + 30)]);
        let out = apply(&mut pl, &p, 10.0, &mut st, &seen_at(&[100, 100], "b2", None, soon));
        assert!(out.alarms.is_empty(), "a reboot of ten minutes: {out:?}");
    }

    #[test]
    fn a_longer_max_age_a_guard_turned_on_and_an_upgrade_keep_ageing_normal() {
        let p = policy();
        let t0 = Timestamp(10_000_000);
        let t1 = Timestamp(t0.0 + 60);
        let ageing = |now: Timestamp| aged_plan(now, &[(3, t0.0 - WEEK + 30)]);
        // A longer max_age (8 d) since the last sweep: what is due under
        // it aged since, nothing came due at once.
        let longer = Policy::from_str(
            Path::new("t.toml"),
            "[daemon]\nstate_dir = \"/nonexistent-state\"\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"/srv/cctv\"]\nmin_age = \"1d\"\nmax_age = \"8d\"\n\
             [[zone]]\nname = \"calls\"\npaths = [\"/srv/calls\"]\nmin_age = \"1d\"\nmax_age = \"60d\"\n",
        )
        .unwrap();
        let mut st = GuardState::default();
        apply(
            &mut aged_plan(t0, &[]),
            &p,
            10.0,
            &mut st,
            &seen_at(&[4, 4], "b1", None, t0),
        );
        let day = 86_400;
        let mut pl = aged_plan(Timestamp(t0.0 + day), &[(3, t0.0 - WEEK + 30)]);
        let out = apply(
            &mut pl,
            &longer,
            10.0,
            &mut st,
            &seen_at(&[4, 4], "b1", None, Timestamp(t0.0 + day)),
        );
        assert!(out.alarms.is_empty(), "{out:?}");
        assert_eq!(st.marks["cctv"].max_age, 8 * 86_400, "the new max_age is the mark's");
        // The guard was off (100%) and is turned on: the marks were kept.
        let mut st = GuardState::default();
        apply(
            &mut aged_plan(t0, &[]),
            &p,
            100.0,
            &mut st,
            &seen_at(&[4, 4], "b1", None, t0),
        );
        let out = apply(&mut ageing(t1), &p, 10.0, &mut st, &seen_at(&[4, 4], "b1", None, t1));
        assert!(out.alarms.is_empty(), "{out:?}");
        // State from before zone marks: the last clock reading vouches.
        let mut st = GuardState {
            clock: Some(ClockMark {
                wall: t0.0,
                boot: 100,
                boot_id: "b1".into(),
            }),
            ..GuardState::default()
        };
        let out = apply(&mut ageing(t1), &p, 10.0, &mut st, &seen_at(&[4, 4], "b1", None, t1));
        assert!(out.alarms.is_empty(), "{out:?}");
        // An unknown boot id vouches for nothing.
        let mut st = GuardState::default();
        apply(&mut aged_plan(t0, &[]), &p, 10.0, &mut st, &seen(&[4, 4], None));
        let out = apply(&mut ageing(t1), &p, 10.0, &mut st, &seen(&[4, 4], None));
        assert_eq!(out.alarms.len(), 1, "{out:?}");
    }

    #[test]
    fn deletions_that_did_not_happen_are_given_back() {
        let p = policy();
        let mut st = GuardState::default();
        // 30 of 100: budget 10, two directories of 5 charged.
        let mut pl = plan();
        apply(&mut pl, &p, 10.0, &mut st, &seen(&[100, 100], None));
        assert_eq!(st.zones["cctv"].budget_left, 0);
        let charged: Vec<u32> = pl.entries.iter().map(|e| e.charged.files).collect();
        assert_eq!(charged.iter().sum::<u32>(), 10);
        // Every unlink failed (EACCES): the budget is whole again.
        let none = vec![0; pl.entries.len()];
        assert!(refund(&mut st, &p, &pl, &none));
        assert_eq!(st.zones["cctv"].budget_left, 10);
        // Charged again; this time one directory went, one file of the other.
        let mut pl = plan();
        apply(&mut pl, &p, 10.0, &mut st, &seen(&[100, 100], None));
        let done: Vec<u32> = pl
            .entries
            .iter()
            .scan(0, |k, e| {
                Some(if e.charged.files > 0 {
                    *k += 1;
                    if *k == 1 {
                        e.count
                    } else {
                        1
                    }
                } else {
                    e.count
                })
            })
            .collect();
        refund(&mut st, &p, &pl, &done);
        assert_eq!(st.zones["cctv"].budget_left, 4);
    }

    use proptest::prelude::*;

    /// A recording of the model world: its directory (one level below the
    /// root) and its time (= its mtime).
    type Rec = (String, i64);

    /// The inventory of `recs` (summaries), with the detail a plan asks
    /// for loaded until it is made: the daemon's own loop, on a model.
    fn plan_at(recs: &[Rec], p: &Policy, now: i64) -> (Plan, Inventory) {
        use crate::core::inventory::{FileRec, RootInventory, ZoneInventory};
        use std::collections::BTreeMap;
        use std::ffi::OsStr;
        let mut root = RootInventory::new(p.zones[0].roots[0].clone());
        root.dev = Some(1);
        root.add_dir(u32::MAX, OsStr::new(""), 1, 0);
        let mut dirs: BTreeMap<&str, (u32, Vec<i64>)> = BTreeMap::new();
        for (d, t) in recs {
            if !dirs.contains_key(d.as_str()) {
                let id = root.add_dir(0, OsStr::new(d), 0, 0);
                dirs.insert(d, (id, Vec::new()));
            }
            let e = dirs.get_mut(d.as_str()).unwrap();
            root.add_file(e.0, Timestamp(*t), 1000, *t);
            e.1.push(*t);
        }
        let mut inv = Inventory::default();
        inv.zones.push(ZoneInventory { roots: vec![root] });
        let usage = crate::core::plan::Usage::default();
        loop {
            match crate::core::plan::plan(&inv, p, &crate::core::holds::HoldSet::default(), &usage, Timestamp(now)) {
                Ok(pl) => return (pl, inv),
                Err(crate::core::plan::NeedDetail(need)) => {
                    for d in need {
                        let (_, times) = dirs.values().find(|(id, _)| *id == d.dir).unwrap();
                        let files = times
                            .iter()
                            .map(|&t| FileRec {
                                name: format!("{t}.mp4").into(),
                                time: Timestamp(t),
                                stat: crate::core::inventory::FileStat {
                                    dev: 1,
                                    ino: t as u64,
                                    kind: crate::core::inventory::Kind::File,
                                    nlink: 1,
                                    size: 1000,
                                    alloc: 1000,
                                    mtime: t,
                                    mtime_nsec: 0,
                                },
                            })
                            .collect();
                        inv.root_mut(d).set_detail(d.dir, files);
                    }
                }
            }
        }
    }

    /// The recordings a plan's entries name (all are past max_age here).
    fn planned(pl: &Plan, inv: &Inventory, recs: &[Rec]) -> Vec<Rec> {
        let mut out = Vec::new();
        for e in &pl.entries {
            let root = inv.root(e.dir);
            let dir = String::from_utf8(root.dir_name(e.dir.dir).to_vec()).unwrap();
            match &e.files {
                Files::All => out.extend(recs.iter().filter(|r| r.0 == dir).cloned()),
                Files::Some(ix) => {
                    let det = inv.detail(e.dir).unwrap();
                    out.extend(ix.iter().map(|&k| (dir.clone(), det[k as usize].time.0)));
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::core::plan::test_cases() / 10 + 10, ..ProptestConfig::default() })]

        /// Over real plans: with a steady clock and an unchanged policy, a
        /// recorder that writes, pauses or stops, sweeps at any interval and
        /// restarts of the daemon never raise `mass-deletion`, whatever the
        /// zone's size, and everything past max_age goes at each sweep.
        #[test]
        fn steady_ageing_never_raises_the_guard(
            max_age in 20i64..400,
            seg in 2i64..10,
            cams in 1u32..4,
            share in 1u32..40,
            steps in proptest::collection::vec((1i64..300, any::<bool>()), 1..25),
            restart_at in 0usize..25,
        ) {
            let p = Policy::from_str(
                Path::new("test.toml"),
                &format!(
                    "[daemon]\nsettle_time = \"1s\"\nguard_share = \"{share}%\"\n\
                     [[zone]]\nname = \"cctv\"\npaths = [\"/srv/cctv\"]\nmin_age = \"1s\"\nmax_age = \"{max_age}s\"\n"
                ),
            )
            .unwrap();
            let record = |recs: &mut Vec<Rec>, from: i64, to: i64| {
                let mut t = from - from.rem_euclid(seg) + seg;
                while t <= to {
                    for c in 0..cams {
                        recs.push((format!("{}-cam{c}", t / 60), t));
                    }
                    t += seg;
                }
            };
            let mut now = 1_800_000_000;
            let mut recs = Vec::new();
            record(&mut recs, now - max_age + 1, now);
            let mut st = GuardState::default();
            for (k, &(dt, recording)) in std::iter::once(&(0, true)).chain(&steps).enumerate() {
                let before = now;
                now += dt;
                if recording {
                    record(&mut recs, before, now);
                }
                if k == restart_at {
                    st = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
                }
                let (mut pl, inv) = plan_at(&recs, &p, now);
                let due = pl.entries.clone();
                let seen = Seen {
                    zone_files: &[recs.len() as u64],
                    detail: Some(&inv),
                    suspect: None,
                    boot_id: Some("boot"),
                    now: Timestamp(now),
                };
                let out = apply(&mut pl, &p, f64::from(share), &mut st, &seen);
                prop_assert!(out.alarms.is_empty(), "sweep {}: {:?}", k, out.alarms);
                prop_assert_eq!(&pl.entries, &due);
                let gone = planned(&pl, &inv, &recs);
                recs.retain(|r| !gone.contains(r));
                prop_assert!(recs.iter().all(|r| r.1 >= now - max_age), "something past max_age stayed");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::core::plan::test_cases(), ..ProptestConfig::default() })]

        /// Whatever the plan: capacity is never touched; an episode opens
        /// exactly when the share is exceeded; what is kept for age fits
        /// the budget and is the oldest; nothing is added.
        #[test]
        fn the_guard_only_ever_removes_the_youngest_deletions_for_age(
            raw in proptest::collection::vec((0u16..2, any::<bool>(), 1u32..40, 0i64..10_000), 0..60),
            n in 1u64..2000,
            share in 1u32..100,
        ) {
            let p = policy();
            let mut pl = plan();
            pl.entries.clear();
            for (k, (zone, cap, count, newest)) in raw.iter().enumerate() {
                let cause = if *cap { Cause::Capacity { fs: 0, override_floor: false } } else { Cause::MaxAge };
                pl.entries.push(entry(*zone, k as u32, cause, *count, *newest));
            }
            let before = pl.entries.clone();
            let mut st = GuardState::default();
            apply(&mut pl, &p, f64::from(share), &mut st, &seen(&[n, n], None));
            let limit = n * u64::from(share) / 100;
            let uncharged = |e: &Entry| Entry { charged: Charge::default(), ..e.clone() };
            prop_assert!(pl.entries.iter().all(|e| before.contains(&uncharged(e))));
            prop_assert_eq!(
                pl.entries.iter().filter(|e| e.cause != Cause::MaxAge).count(),
                before.iter().filter(|e| e.cause != Cause::MaxAge).count()
            );
            for z in 0..2u16 {
                let name = &p.zones[z as usize].name.0;
                let planned: u64 = before.iter().filter(|e| e.dir.zone.0 == z && e.cause == Cause::MaxAge).map(|e| u64::from(e.count)).sum();
                let kept: Vec<Entry> = pl.entries.iter().filter(|e| e.dir.zone.0 == z && e.cause == Cause::MaxAge).map(uncharged).collect();
                let kept_n: u64 = kept.iter().map(|e| u64::from(e.count)).sum();
                let charged: u64 = pl.entries.iter().filter(|e| e.dir.zone.0 == z).map(|e| u64::from(e.charged.files)).sum();
                prop_assert_eq!(charged, if planned > limit { kept_n } else { 0 });
                prop_assert_eq!(st.zones.contains_key(name), planned > limit);
                if planned > limit {
                    prop_assert!(kept_n <= limit);
                    prop_assert_eq!(st.zones[name].budget_left, limit - kept_n);
                    let youngest_kept = kept.iter().map(|e| (e.newest, e.dir.dir)).max();
                    for e in before.iter().filter(|e| e.dir.zone.0 == z && e.cause == Cause::MaxAge && !kept.contains(e)) {
                        prop_assert!(youngest_kept.is_none_or(|y| (e.newest, e.dir.dir) > y), "an older deletion was held back while a younger one went");
                    }
                } else {
                    prop_assert_eq!(kept_n, planned);
                }
            }
        }
    }
}
