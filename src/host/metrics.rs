//! Metrics for Prometheus, written after each sweep to the policy's
//! `daemon.metrics_file` for node_exporter's textfile collector (off by
//! default). The exposition comes from the `prometheus` crate's text
//! encoder: the classic text format (0.0.4), the one the textfile
//! collector parses (it does not read OpenMetrics).
//!
//! The file is replaced atomically (a temporary file in the same directory,
//! then `rename`), so the collector never reads half a file. Counters count
//! since the daemon started, as Prometheus counters do.

use std::io::Write;
use std::path::Path;

use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::core::alarm::Alarm;
use crate::core::holds::HoldSet;
use crate::core::inventory::Inventory;
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp, Watermark};
use crate::ops::hold;
use crate::sweep::SweepOutcome;

/// `mark` as a used share (0..1) of a filesystem with `used` and `avail`
/// bytes, comparable with `filesystem_used_ratio`: a free-space watermark
/// ("50GiB free") is the share at which that much is left.
fn mark_ratio(mark: Watermark, used: Bytes, avail: Bytes) -> f64 {
    let cap = used.0 as f64 + avail.0 as f64;
    if cap == 0.0 {
        return 0.0;
    }
    // One of room and excess is 0: the used bytes at which the mark is met.
    let at = used.0 as f64 + mark.room(used, avail).0 as f64 - mark.excess(used, avail).0 as f64;
    at / cap
}

/// The metrics the daemon keeps between sweeps.
pub struct Metrics {
    registry: Registry,
    zone_files: IntGaugeVec,
    zone_bytes: IntGaugeVec,
    zone_oldest_age: GaugeVec,
    zone_held_bytes: IntGaugeVec,
    zone_min_age: IntGaugeVec,
    zone_max_age: IntGaugeVec,
    fs_used: IntGaugeVec,
    fs_avail: IntGaugeVec,
    fs_used_ratio: GaugeVec,
    source_newest: IntGaugeVec,
    forecast_days: GaugeVec,
    fs_high_ratio: GaugeVec,
    fs_low_ratio: GaugeVec,
    deleted_files: IntCounterVec,
    deleted_bytes: IntCounterVec,
    holds_active: IntGauge,
    hold_expiry: IntGaugeVec,
    cases_open: IntGauge,
    cases_overdue: IntGauge,
    alarm: IntGaugeVec,
    sweep_seconds: Gauge,
    last_success: IntGauge,
    sweep_interval: IntGauge,
    sweeps: IntCounter,
    failures: IntCounter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    r.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let r = Registry::new_custom(Some("retentiond".into()), None).expect("valid prefix");
        let ig = |n: &str, h: &str, l: &[&str]| reg(&r, IntGaugeVec::new(Opts::new(n, h), l).expect("valid metric"));
        let fg = |n: &str, h: &str, l: &[&str]| reg(&r, GaugeVec::new(Opts::new(n, h), l).expect("valid metric"));
        let ic = |n: &str, h: &str, l: &[&str]| reg(&r, IntCounterVec::new(Opts::new(n, h), l).expect("valid metric"));
        Metrics {
            zone_files: ig("zone_recordings", "Recordings in the zone", &["zone"]),
            zone_bytes: ig("zone_bytes", "Bytes the zone's recordings occupy", &["zone"]),
            zone_oldest_age: fg(
                "zone_oldest_age_seconds",
                "Age of the zone's oldest recording: the retention achieved",
                &["zone"],
            ),
            zone_held_bytes: ig(
                "zone_held_bytes",
                "Bytes of the zone's recordings under legal holds",
                &["zone"],
            ),
            zone_min_age: ig(
                "zone_min_age_seconds",
                "The zone's floor (min_age): never deleted for space while younger",
                &["zone"],
            ),
            zone_max_age: ig(
                "zone_max_age_seconds",
                "The zone's ceiling (max_age): deleted once older, unless held",
                &["zone"],
            ),
            fs_used: ig(
                "filesystem_used_bytes",
                "Used bytes of a filesystem holding zones",
                &["mount"],
            ),
            fs_avail: ig(
                "filesystem_avail_bytes",
                "Bytes available to unprivileged users",
                &["mount"],
            ),
            fs_used_ratio: fg(
                "filesystem_used_ratio",
                "Used share, as df computes it (0..1)",
                &["mount"],
            ),
            // Rules alert on `time() - this > ...`; the name is a contract
            // with packaging/prometheus.
            source_newest: ig(
                "source_newest_timestamp_seconds",
                "Unix time a recording source (a camera, a call queue) last recorded",
                &["zone", "source"],
            ),
            forecast_days: fg(
                "capacity_forecast_days",
                "Days the filesystem can keep its floors at the current recording rate (+Inf: the footage does not grow)",
                &["mount"],
            ),
            fs_high_ratio: fg(
                "filesystem_high_watermark_ratio",
                "The used share above which capacity deletion starts (a free-space watermark as a share)",
                &["mount"],
            ),
            fs_low_ratio: fg(
                "filesystem_low_watermark_ratio",
                "The used share capacity deletion brings the filesystem down to",
                &["mount"],
            ),
            deleted_files: ic(
                "deleted_recordings_total",
                "Recordings deleted, by zone and reason",
                &["zone", "reason"],
            ),
            deleted_bytes: ic(
                "deleted_bytes_total",
                "Bytes freed, by zone and reason",
                &["zone", "reason"],
            ),
            holds_active: reg(
                &r,
                IntGauge::new("holds_active", "Legal holds in force").expect("valid metric"),
            ),
            hold_expiry: ig(
                "hold_expiry_timestamp_seconds",
                "Unix time at which a hold in force lapses by itself (holds without an expiry are absent)",
                &["hold", "case", "zone"],
            ),
            cases_open: reg(
                &r,
                IntGauge::new("cases_open", "Cases (data subjects' requests, investigations) open")
                    .expect("valid metric"),
            ),
            cases_overdue: reg(
                &r,
                IntGauge::new("cases_overdue", "Cases open past their due date").expect("valid metric"),
            ),
            alarm: ig("alarm", "1 while an alarm is raised", &["kind", "subject"]),
            sweep_seconds: reg(
                &r,
                Gauge::new("sweep_duration_seconds", "How long the last sweep took").expect("valid metric"),
            ),
            last_success: reg(
                &r,
                IntGauge::new(
                    "last_success_timestamp_seconds",
                    "Unix time of the last sweep that completed",
                )
                .expect("valid metric"),
            ),
            sweep_interval: reg(
                &r,
                IntGauge::new(
                    "sweep_interval_seconds",
                    "The policy's sweep_interval: a sweep is late once 3 intervals pass without one",
                )
                .expect("valid metric"),
            ),
            sweeps: reg(&r, IntCounter::new("sweeps_total", "Sweeps run").expect("valid metric")),
            failures: reg(
                &r,
                IntCounter::new("sweep_failures_total", "Sweeps that stopped on an error").expect("valid metric"),
            ),
            registry: r,
        }
    }

    /// Takes in a completed sweep: the inventory after it, the holds and
    /// the alarms raised.
    pub fn sweep_done(
        &self,
        policy: &Policy,
        inv: &Inventory,
        holds: &HoldSet,
        outcome: &SweepOutcome,
        alarms: &[Alarm],
        now: Timestamp,
    ) {
        self.sweeps.inc();
        for (zi, z) in policy.zones.iter().enumerate() {
            let l = [z.name.0.as_str()];
            let t = inv.zone_totals(zi);
            self.zone_files.with_label_values(&l).set(t.files as i64);
            self.zone_bytes.with_label_values(&l).set(t.bytes as i64);
            self.zone_oldest_age
                .with_label_values(&l)
                .set(t.oldest.map_or(0.0, |o| (now.0 - o.0).max(0) as f64));
            let held: u64 = holds
                .active(now)
                .filter(|h| h.zone.as_ref().is_none_or(|hz| *hz == z.name))
                .map(|h| {
                    let mut one = h.clone();
                    one.zone = Some(z.name.clone());
                    hold::coverage(policy, Some(inv), &one).1 .0
                })
                .sum();
            self.zone_held_bytes.with_label_values(&l).set(held as i64);
            self.zone_min_age.with_label_values(&l).set(z.min_age.secs());
            self.zone_max_age.with_label_values(&l).set(z.max_age.secs());
        }
        self.fs_used.reset();
        self.fs_avail.reset();
        self.fs_used_ratio.reset();
        self.fs_high_ratio.reset();
        self.fs_low_ratio.reset();
        for f in &outcome.usage_after.filesystems {
            let mount = f.mount.display().to_string();
            let l = [mount.as_str()];
            self.fs_used.with_label_values(&l).set(f.used.0 as i64);
            self.fs_avail.with_label_values(&l).set(f.avail.0 as i64);
            self.fs_used_ratio.with_label_values(&l).set(f.used_pct() / 100.0);
            self.fs_high_ratio
                .with_label_values(&l)
                .set(mark_ratio(f.marks.high, f.used, f.avail));
            self.fs_low_ratio
                .with_label_values(&l)
                .set(mark_ratio(f.marks.low, f.used, f.avail));
        }
        // Sources and filesystems that went away leave no stale series.
        self.source_newest.reset();
        for s in crate::core::stall::sources(policy, inv) {
            let zone = &policy.zones[s.zone.0 as usize].name.0;
            self.source_newest
                .with_label_values(&[zone.as_str(), s.name.as_str()])
                .set(s.newest.0);
        }
        self.forecast_days.reset();
        for f in crate::core::forecast::forecast(policy, inv, &outcome.usage_after, holds, now) {
            let mount = f.mount.display().to_string();
            // Unlimited is +Inf rather than no series: an absent series
            // would read as "not measured", and `< 3` stays a plain rule.
            self.forecast_days
                .with_label_values(&[mount.as_str()])
                .set(f.days.unwrap_or(f64::INFINITY));
        }
        for ((zone, reason), (n, b)) in &outcome.report.by_reason {
            let l = [zone.as_str(), *reason];
            self.deleted_files.with_label_values(&l).inc_by(*n);
            self.deleted_bytes.with_label_values(&l).inc_by(b.0);
        }
        self.holds_active.set(holds.active(now).count() as i64);
        self.hold_expiry.reset();
        for h in holds.active(now) {
            if let Some(t) = h.expires {
                let id = h.id.to_string();
                let zone = h.zone.as_ref().map_or("*", |z| z.0.as_str());
                self.hold_expiry
                    .with_label_values(&[id.as_str(), h.case.as_str(), zone])
                    .set(t.0);
            }
        }
        self.set_alarms(alarms);
        self.sweep_seconds.set(outcome.took.as_secs_f64());
        self.last_success.set(now.0);
        self.sweep_interval.set(policy.daemon.sweep_interval.secs());
    }

    /// Takes in the cases: (open, overdue).
    pub fn set_cases(&self, open: u64, overdue: u64) {
        self.cases_open.set(open as i64);
        self.cases_overdue.set(overdue as i64);
    }

    /// Takes in a sweep that failed, with the alarms now raised.
    pub fn sweep_failed(&self, alarms: &[Alarm]) {
        self.sweeps.inc();
        self.failures.inc();
        self.set_alarms(alarms);
    }

    fn set_alarms(&self, alarms: &[Alarm]) {
        self.alarm.reset();
        for a in alarms {
            self.alarm
                .with_label_values(&[a.kind.code(), a.subject.as_str()])
                .set(1);
        }
    }

    /// The exposition text.
    pub fn text(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// Replaces `path` atomically with the exposition text.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut tmp = tempfile::Builder::new()
            .prefix(".retentiond-metrics")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        tmp.write_all(self.text().as_bytes())?;
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_are_shares_comparable_with_the_used_ratio() {
        const GIB: u64 = 1 << 30;
        // 100 GiB, 60 used: a percentage is itself; 10 GiB free is 90%.
        let (used, avail) = (Bytes(60 * GIB), Bytes(40 * GIB));
        let pct = mark_ratio(Watermark::Percent(90.0), used, avail);
        assert!((pct - 0.9).abs() < 1e-9, "{pct}");
        let free = mark_ratio(Watermark::Free(Bytes(10 * GIB)), used, avail);
        assert!((free - 0.9).abs() < 1e-9, "{free}");
        // Above the mark, the same share.
        let (used, avail) = (Bytes(95 * GIB), Bytes(5 * GIB));
        let free = mark_ratio(Watermark::Free(Bytes(10 * GIB)), used, avail);
        assert!((free - 0.9).abs() < 1e-9, "{free}");
        assert_eq!(mark_ratio(Watermark::Percent(90.0), Bytes(0), Bytes(0)), 0.0);
    }
}
