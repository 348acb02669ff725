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
//! - When a sweep plans more than `share` of the zone's recordings for age,
//!   or the clock is suspect, an *episode* opens with a budget of `share`
//!   of the zone's recordings, and an alarm (`mass-deletion` or
//!   `clock-suspect`) is raised. Each sweep of the episode deletes, oldest
//!   first by whole directory (plan entries are not split), only what fits
//!   in what is left of the budget; once it is spent, nothing more is
//!   deleted for age in that zone.
//! - The episode ends when a supervisor confirms it (`retentionctl
//!   confirm`; the next sweep deletes without the cap), or by itself: a
//!   mass episode when what a sweep plans fits in the budget left (the
//!   cause went away, e.g. the policy was reverted), a clock episode when
//!   the clock is consistent again and the plan is within `share`.
//! - The state (episodes and the last clock reading) is kept in the state
//!   directory, so a restart (or a crash loop) does not reset a budget.
//!
//! Nothing here performs I/O or reads a clock: the daemon measures the
//! clocks ([`ClockMark`]) and persists [`GuardState`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Alarm, Cause, Plan};
use crate::policy::Policy;
use crate::units::Timestamp;

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
}

/// The wall clock moved this much further than the boot clock between two
/// sweeps: suspect (NTP corrections are seconds; a dead RTC is years).
pub const CLOCK_TOLERANCE_SECS: i64 = 600;

/// Whether the wall clock jumped ahead between `last` and `now` (same
/// boot): `Some(why)` if so.
pub fn clock_jump(last: &ClockMark, now: &ClockMark) -> Option<String> {
    if last.boot_id != now.boot_id {
        return None;
    }
    let wall = now.wall - last.wall;
    let boot = now.boot - last.boot;
    let ahead = wall - boot;
    (ahead > CLOCK_TOLERANCE_SECS).then(|| {
        format!(
            "the wall clock moved {} further than the boot clock since the last sweep ({} -> {})",
            crate::units::Age(std::time::Duration::from_secs(ahead as u64)),
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
            crate::units::Age(std::time::Duration::from_secs(behind as u64)),
            newest.short()
        )
    })
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

/// Applies the guard to `plan`: `zone_files[z]` is zone `z`'s recordings,
/// `share` the percentage allowed at once, `clock` why the clock is
/// suspect (if it is). Drops deletions for age beyond the budgets from
/// the plan (oldest kept first) and updates `state`.
pub fn apply(
    plan: &mut Plan,
    zone_files: &[u64],
    policy: &Policy,
    share: f64,
    state: &mut GuardState,
    clock: Option<&str>,
    now: Timestamp,
) -> Outcome {
    let mut out = Outcome::default();
    if plan.erasure.is_some() {
        return out;
    }
    if share >= 100.0 {
        // The guard is off: nothing is capped, no episode stays open.
        out.resolved = std::mem::take(&mut state.zones).into_keys().collect();
        out.changed = !out.resolved.is_empty();
        return out;
    }
    let mut drop = vec![false; plan.entries.len()];
    for (zi, zone) in policy.zones.iter().enumerate() {
        let name = zone.name.0.clone();
        let mut aged: Vec<usize> = (0..plan.entries.len())
            .filter(|&i| {
                let e = &plan.entries[i];
                e.dir.zone.0 as usize == zi && matches!(e.cause, Cause::MaxAge | Cause::Quota { .. })
            })
            .collect();
        let planned: u64 = aged.iter().map(|&i| u64::from(plan.entries[i].count)).sum();
        let n = zone_files.get(zi).copied().unwrap_or(0);
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
                    Trigger::Clock => clock.is_none() && planned <= limit,
                };
                if resolved {
                    state.zones.remove(&name);
                    out.resolved.push(name);
                    out.changed = true;
                    continue;
                }
                ep.budget_left
            }
            None if planned > limit || (clock.is_some() && planned > 0) => {
                state.zones.insert(
                    name.clone(),
                    Episode {
                        since: now,
                        trigger: if clock.is_some() { Trigger::Clock } else { Trigger::Mass },
                        budget_left: limit,
                        planned,
                        of: n,
                        clock: clock.map(str::to_string),
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
        // that does not fit ends it.
        aged.sort_by_key(|&i| (plan.entries[i].newest, i));
        let mut kept = 0u64;
        let mut held_back = 0u64;
        for i in aged {
            let c = u64::from(plan.entries[i].count);
            if held_back == 0 && kept + c <= cap {
                kept += c;
            } else {
                drop[i] = true;
                held_back += c;
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
            Trigger::Mass => "mass-deletion",
            Trigger::Clock => "clock-suspect",
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
    use crate::inventory::DirRef;
    use crate::plan::{Entry, Files};
    use crate::units::ZoneId;
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
        let out = apply(&mut pl, &[300, 100], &p, 10.0, &mut st, None, NOW);
        assert_eq!(aged(&pl, 0), 30);
        assert!(out.alarms.is_empty() && st.zones.is_empty() && !out.changed);
    }

    #[test]
    fn a_surge_is_capped_oldest_first_until_confirmed() {
        let p = policy();
        let mut st = GuardState::default();
        // 30 of 100: the budget is 10, two directories of 5 (the oldest).
        let mut pl = plan();
        let out = apply(&mut pl, &[100, 100], &p, 10.0, &mut st, None, NOW);
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
        let out = apply(&mut pl, &[90, 100], &p, 10.0, &mut st, None, NOW);
        assert_eq!(aged(&pl, 0), 0);
        assert_eq!(out.alarms.len(), 1);
        // Even a trickle waits while the episode is open.
        let mut small = plan();
        small.entries.retain(|e| e.dir.dir == 1 || e.dir.zone.0 == 1);
        apply(&mut small, &[90, 100], &p, 10.0, &mut st, None, NOW);
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
        let out = apply(&mut pl, &[90, 100], &p, 10.0, &mut st, None, NOW);
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
        apply(&mut pl, &[200, 100], &p, 10.0, &mut st, None, NOW);
        assert_eq!(aged(&pl, 0), 20);
        assert_eq!(st.zones["cctv"].budget_left, 0);
        // The policy was reverted: nothing is due for age any more.
        let mut pl = plan();
        pl.entries.retain(|e| e.dir.zone.0 != 0 || e.cause != Cause::MaxAge);
        let out = apply(&mut pl, &[180, 100], &p, 10.0, &mut st, None, NOW);
        assert_eq!(out.resolved, vec!["cctv".to_string()]);
        assert!(st.zones.is_empty() && out.alarms.is_empty());
    }

    #[test]
    fn a_suspect_clock_caps_and_clears_when_the_clock_is_consistent() {
        let p = policy();
        let mut st = GuardState::default();
        let mut pl = plan();
        let out = apply(&mut pl, &[1000, 100], &p, 10.0, &mut st, Some("jumped"), NOW);
        // Within the share (30 of 1000), but the clock is suspect: an
        // episode with a budget of 100 for cctv, 10 for calls.
        assert_eq!(aged(&pl, 0), 30);
        assert_eq!(out.alarms.iter().filter(|a| a.kind == "clock-suspect").count(), 2);
        assert_eq!(st.zones["cctv"].budget_left, 70);
        assert_eq!(st.zones["calls"].budget_left, 8);
        // The clock is consistent again and the plan within the share.
        let mut pl = plan();
        let out = apply(&mut pl, &[1000, 100], &p, 10.0, &mut st, None, NOW);
        assert_eq!(out.resolved.len(), 2);
        assert_eq!(aged(&pl, 0), 30);
        assert!(st.zones.is_empty());
    }

    #[test]
    fn an_erasure_plan_is_never_capped() {
        let p = policy();
        let mut st = GuardState::default();
        let mut pl = plan();
        pl.erasure = Some(crate::plan::Erasure {
            scope: crate::holds::Scope::new(crate::units::ZoneName("cctv".into()), None, Timestamp(0), NOW).unwrap(),
            text: "erasure requested".into(),
        });
        let out = apply(&mut pl, &[10, 10], &p, 10.0, &mut st, None, NOW);
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

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::plan::test_cases(), ..ProptestConfig::default() })]

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
            apply(&mut pl, &[n, n], &p, f64::from(share), &mut st, None, NOW);
            let limit = n * u64::from(share) / 100;
            prop_assert!(pl.entries.iter().all(|e| before.contains(e)));
            prop_assert_eq!(
                pl.entries.iter().filter(|e| e.cause != Cause::MaxAge).count(),
                before.iter().filter(|e| e.cause != Cause::MaxAge).count()
            );
            for z in 0..2u16 {
                let name = &p.zones[z as usize].name.0;
                let planned: u64 = before.iter().filter(|e| e.dir.zone.0 == z && e.cause == Cause::MaxAge).map(|e| u64::from(e.count)).sum();
                let kept: Vec<&Entry> = pl.entries.iter().filter(|e| e.dir.zone.0 == z && e.cause == Cause::MaxAge).collect();
                let kept_n: u64 = kept.iter().map(|e| u64::from(e.count)).sum();
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
