//! How long each filesystem can keep its floors at the current recording
//! rate, and the `capacity-forecast` alarm; arithmetic on the inventory's
//! per-directory summaries (no walk, no per-file detail).
//!
//! The model, per filesystem:
//! - the *reserve* is what can still be made room for without touching a
//!   floor: the bytes of recordings already past their floor (`min_age` of
//!   their zone or rule) that no hold may cover, plus the room left below
//!   the high watermark;
//! - the *net growth per day* is the bytes recorded during the last 24
//!   hours, less the bytes that passed their floor during the last 24 hours
//!   (what was recorded `min_age` ago: the same amount becomes deletable
//!   each day while the rate holds);
//! - the forecast is reserve / growth days, unlimited when the footage does
//!   not grow (retention is in steady state, or nothing is recorded).
//!
//! A directory's recordings are taken as spread evenly between its oldest
//! and newest recording time, as everywhere the summaries are used alone.
//! Footage a hold may cover counts as neither deletable nor ageing out.

use std::path::PathBuf;

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::holds::HoldSet;
use crate::core::inventory::Inventory;
use crate::core::plan::Usage;
use crate::core::policy::Policy;
use crate::core::units::{Age, Bytes, Timestamp};

const DAY: i64 = 86_400;

/// One filesystem's forecast.
#[derive(Clone, Debug, PartialEq)]
pub struct FsForecast {
    /// Its device.
    pub dev: u64,
    /// Its mount point (or the first zone root on it), as alarms name it.
    pub mount: PathBuf,
    /// Bytes of recordings on it.
    pub footage: u64,
    /// Bytes recorded during the last 24 hours.
    pub recorded_per_day: f64,
    /// Bytes that passed their floor during the last 24 hours.
    pub ageing_per_day: f64,
    /// Bytes past their floor that no hold may cover: deletable without
    /// touching a floor.
    pub past_floor: u64,
    /// Room below the high watermark.
    pub room: u64,
    /// Days until the floors can no longer be kept; None: unlimited (the
    /// footage does not grow).
    pub days: Option<f64>,
}

impl FsForecast {
    /// Net growth per day (negative: shrinking).
    pub fn growth_per_day(&self) -> f64 {
        self.recorded_per_day - self.ageing_per_day
    }
}

/// The share of a directory's recordings (spread evenly over
/// `[oldest, newest]`) recorded within `[from, to]`.
pub fn share(oldest: Timestamp, newest: Timestamp, from: Timestamp, to: Timestamp) -> f64 {
    if newest < from || oldest > to {
        return 0.0;
    }
    if oldest >= from && newest <= to {
        return 1.0;
    }
    let span = (newest.0 - oldest.0).max(1) as f64;
    let (lo, hi) = (oldest.max(from), newest.min(to));
    (hi.0 - lo.0) as f64 / span
}

/// The forecast of every filesystem in `usage`.
pub fn forecast(policy: &Policy, inv: &Inventory, usage: &Usage, holds: &HoldSet, now: Timestamp) -> Vec<FsForecast> {
    let day_ago = Timestamp(now.0 - DAY);
    usage
        .filesystems
        .iter()
        .map(|f| {
            let (mut footage, mut recorded, mut ageing, mut past) = (0u64, 0f64, 0f64, 0f64);
            for (zone, zinv) in policy.zones.iter().zip(&inv.zones) {
                // The largest floor among the zone's classes, for a
                // directory whose class depends on its files' names.
                let widest = (0..zone.classes())
                    .map(|c| zone.params(c).min_age)
                    .max()
                    .unwrap_or(zone.min_age);
                for root in zinv.roots.iter().filter(|r| r.dev == Some(f.dev)) {
                    for (k, d) in root.dirs.iter().enumerate().filter(|(_, d)| d.files > 0) {
                        let bytes = d.bytes as f64;
                        footage += d.bytes;
                        recorded += share(d.oldest, d.newest, day_ago, Timestamp::MAX) * bytes;
                        if holds.may_cover_range(&zone.name, d.oldest, d.newest, now) {
                            continue;
                        }
                        let floor: Age = if zone.rules.is_empty() {
                            zone.min_age
                        } else {
                            zone.dir_class(&root.rel_path(k as u32))
                                .map_or(widest, |c| zone.params(c).min_age)
                        };
                        let floor_before = now.minus(floor);
                        past += share(d.oldest, d.newest, Timestamp::MIN, floor_before) * bytes;
                        ageing += share(d.oldest, d.newest, Timestamp(floor_before.0 - DAY), floor_before) * bytes;
                    }
                }
            }
            let room = f.room(f.marks.high).0;
            let past_floor = past.round() as u64;
            let growth = recorded - ageing;
            // Less than a byte a day is no growth (rounding of the shares).
            let days = (growth >= 1.0).then(|| (past_floor + room) as f64 / growth);
            FsForecast {
                dev: f.dev,
                mount: f.mount.clone(),
                footage,
                recorded_per_day: recorded,
                ageing_per_day: ageing,
                past_floor,
                room,
                days,
            }
        })
        .collect()
}

/// `capacity-forecast` for each filesystem whose floors can be kept for
/// less than `[capacity] forecast_alarm`.
pub fn alarms(policy: &Policy, forecasts: &[FsForecast]) -> Vec<Alarm> {
    let Some(limit) = policy.forecast_alarm else {
        return Vec::new();
    };
    forecasts
        .iter()
        .filter_map(|f| {
            let days = f.days?;
            if days * DAY as f64 >= limit.secs() as f64 {
                return None;
            }
            let mount = f.mount.display().to_string();
            Some(Alarm::new(
                AlarmKind::CapacityForecast,
                &mount,
                format!(
                    "{mount}: at the current rate the floors can be kept for {days:.1} more days (below \
                     forecast_alarm {limit}): {}/day recorded, {}/day passing its floor, and {} past the floors \
                     plus {} below the high watermark left; add disk space, lower min_age, or record less \
                     (fewer cameras, a lower bitrate, recording on motion)",
                    Bytes(f.recorded_per_day.round() as u64),
                    Bytes(f.ageing_per_day.round() as u64),
                    Bytes(f.past_floor),
                    Bytes(f.room),
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::inventory::{RootInventory, ZoneInventory, NONE};
    use crate::core::plan::FsUsage;
    use std::ffi::OsStr;
    use std::path::Path;

    const GIB: u64 = 1 << 30;

    #[test]
    fn share_spreads_a_directory_over_its_span() {
        let now = Timestamp(10 * DAY);
        let since = Timestamp(9 * DAY);
        assert_eq!(
            share(Timestamp(9 * DAY + 5), Timestamp(10 * DAY), since, Timestamp::MAX),
            1.0
        );
        assert_eq!(share(Timestamp(DAY), Timestamp(2 * DAY), since, Timestamp::MAX), 0.0);
        let half = share(Timestamp(8 * DAY), now, since, Timestamp::MAX);
        assert!((half - 0.5).abs() < 1e-9, "{half}");
        let quarter = share(Timestamp(0), Timestamp(4 * DAY), Timestamp(DAY), Timestamp(2 * DAY));
        assert!((quarter - 0.25).abs() < 1e-9, "{quarter}");
        assert_eq!(share(Timestamp(5), Timestamp(5), Timestamp(5), Timestamp(5)), 1.0);
    }

    /// One zone (min_age 7d) on one filesystem: a directory per day of the
    /// last `days` days, `per_day` bytes each.
    fn setup(days: i64, per_day: u64, avail: u64, forecast: &str) -> (Policy, Inventory, Usage, Timestamp) {
        let text = format!(
            "[capacity]\nforecast_alarm = \"{forecast}\"\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"/srv/cctv\"]\nmin_age = \"7d\"\nmax_age = \"30d\"\n"
        );
        let p = Policy::from_str(Path::new("t.toml"), &text).unwrap();
        let now = Timestamp(100 * DAY);
        let mut r = RootInventory::new("/srv/cctv".into());
        r.dev = Some(7);
        let root = r.add_dir(NONE, OsStr::new(""), 1, 0);
        for k in 0..days {
            let d = r.add_dir(root, OsStr::new(&format!("d{k}")), 2, 0);
            // Day k ago: recordings from its start to its end.
            r.add_file(d, Timestamp(now.0 - (k + 1) * DAY + 1), per_day / 2, 0);
            r.add_file(d, Timestamp(now.0 - k * DAY), per_day / 2, 0);
        }
        let inv = Inventory {
            zones: vec![ZoneInventory { roots: vec![r] }],
            taken: None,
        };
        let used = days as u64 * per_day;
        let marks = p.default_marks;
        let u = Usage {
            filesystems: vec![FsUsage::new(7, "/srv".into(), Bytes(used), Bytes(avail), marks)],
        };
        (p, inv, u, now)
    }

    #[test]
    fn a_young_box_fills_at_its_recording_rate() {
        // Two days recorded at 10 GiB/day, nothing past the 7-day floor
        // yet; 100 GiB disk with 80 GiB free: 90% is 90 GiB, 70 GiB room.
        let (p, inv, u, now) = setup(2, 10 * GIB, 80 * GIB, "8d");
        let f = &forecast(&p, &inv, &u, &HoldSet::default(), now)[0];
        assert_eq!(f.footage, 20 * GIB);
        assert!((f.recorded_per_day - (10 * GIB) as f64).abs() < 1e6, "{f:?}");
        assert_eq!(f.ageing_per_day, 0.0);
        assert_eq!(f.past_floor, 0);
        assert!(f.room.abs_diff(70 * GIB) < 16, "{f:?}");
        let days = f.days.unwrap();
        assert!((days - 7.0).abs() < 0.01, "{days}");
        let a = alarms(&p, std::slice::from_ref(f));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, AlarmKind::CapacityForecast);
        assert_eq!(a[0].subject, "/srv");
        assert!(a[0].text.contains("7.0 more days"), "{}", a[0].text);
        // Default threshold (3 days): no alarm.
        let (p3, ..) = setup(2, 10 * GIB, 80 * GIB, "3d");
        assert!(alarms(&p3, std::slice::from_ref(f)).is_empty());
        let (off, ..) = setup(2, 10 * GIB, 80 * GIB, "off");
        assert!(alarms(&off, std::slice::from_ref(f)).is_empty());
    }

    #[test]
    fn a_box_in_steady_state_is_unlimited_and_holds_are_not_a_reserve() {
        // Twenty days at 10 GiB/day: as much passes the floor each day as
        // is recorded; 13 days of it are past the floor.
        let (p, inv, u, now) = setup(20, 10 * GIB, 10 * GIB, "3d");
        let f = &forecast(&p, &inv, &u, &HoldSet::default(), now)[0];
        assert!(f.growth_per_day().abs() < 1e6, "{f:?}");
        assert_eq!(f.days, None);
        assert!(alarms(&p, std::slice::from_ref(f)).is_empty());
        let past = f.past_floor as f64 / (10 * GIB) as f64;
        assert!((past - 13.0).abs() < 0.01, "{past}");
    }
}
