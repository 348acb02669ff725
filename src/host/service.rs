//! The service-manager edge: sd_notify(3) readiness, status text, watchdog
//! pings and the stopping/reloading states for `Type=notify` under systemd.
//!
//! Every function here does nothing when the process was not started by a
//! service manager (`NOTIFY_SOCKET` unset), so the daemon runs the same by
//! hand, in tests and under systemd. A notification that cannot be sent is
//! logged at debug level and otherwise ignored: the service manager being
//! unreachable must never stop retention.
//!
//! The status text itself is built by the pure [`status_text`], so what
//! `systemctl status` shows is tested without a service manager.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::core::plan::FsUsage;
use crate::core::units::Timestamp;
use crate::sweep::execute::SweepReport;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("cannot notify the service manager: {e}");
    }
}

/// Start-up is finished (the policy is loaded and the first inventory
/// taken): `READY=1` with the status text.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Replaces the status text shown by `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// The policy is being re-read (`RELOADING=1`, with the monotonic time
/// systemd asks for); [`reloaded`] ends that state.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(t) => send(&[NotifyState::Reloading, t]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The reload is over, whether the new policy was taken or rejected.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Shutdown has begun: the current deletion batch finishes, then the
/// process exits.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// How often to ping the watchdog: half of `WatchdogSec=`, or None when
/// the unit sets no watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| (d / 2).max(Duration::from_millis(100)))
}

/// One `WATCHDOG=1` ping.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// "1 zone", "3 zones".
pub fn zones_text(n: usize) -> String {
    format!("{n} zone{}", if n == 1 { "" } else { "s" })
}

/// A count for people: 950, 12.3k, 1.21M.
pub fn human_count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// The status line after a sweep, for example
/// "3 zones, 1.21M recordings, /srv/nvr 87.0% (high 90%), last sweep
/// 2026-11-23 12:03 UTC deleted 340 (max-age 340)", followed by the raised
/// alarms. `recordings` counts the inventory before the sweep; `usage` is
/// measured after its deletions.
pub fn status_text(
    zones: usize,
    at: Timestamp,
    recordings: u64,
    report: &SweepReport,
    usage: &[FsUsage],
    alarms: &[String],
) -> String {
    let mut parts = vec![
        zones_text(zones),
        format!(
            "{} recordings",
            human_count(recordings.saturating_sub(report.deleted()))
        ),
    ];
    parts.extend(usage.iter().map(FsUsage::describe));
    let verb = if report.interrupted {
        "interrupted after deleting"
    } else {
        "deleted"
    };
    parts.push(format!("last sweep {} UTC {verb} {}", at.short(), report.summary()));
    let mut s = parts.join(", ");
    if !alarms.is_empty() {
        s.push_str(&format!("; ALARM {}", alarms.join(", ")));
    }
    s
}

/// `body` prefixed with the error of the last reload, while it failed:
/// "RELOAD FAILED, old policy in force: FILE:LINE:COL: … | body".
pub fn with_reload_error(body: &str, reload_error: Option<&str>) -> String {
    match reload_error {
        Some(e) => format!("RELOAD FAILED, old policy in force: {e} | {body}"),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::Watermarks;
    use crate::core::units::{Bytes, Watermark};
    use std::path::PathBuf;

    fn report(deleted: &[(&'static str, u64)]) -> SweepReport {
        let mut report = SweepReport::default();
        for (code, n) in deleted {
            report.by_reason.insert(("cctv".into(), code), (*n, Bytes(*n * 1000)));
        }
        report
    }

    const AT: Timestamp = Timestamp(1_795_000_000);

    fn fs() -> FsUsage {
        FsUsage {
            dev: 1,
            mount: PathBuf::from("/srv/nvr"),
            used: Bytes(87),
            avail: Bytes(13),
            marks: Watermarks {
                high: Watermark::Percent(90.0),
                low: Watermark::Percent(85.0),
            },
            log_bytes_per_deletion: 0,
            reserve_short: Bytes(0),
        }
    }

    #[test]
    fn status_reads_at_a_glance() {
        let s = status_text(3, AT, 1_210_680, &report(&[("max-age", 340)]), &[fs()], &[]);
        assert_eq!(
            s,
            "3 zones, 1.21M recordings, /srv/nvr 87.0% (high 90%), last sweep 2026-11-18 11:06 UTC deleted 340 (max-age 340)"
        );
    }

    #[test]
    fn status_names_alarms_and_a_failed_reload() {
        let body = status_text(
            1,
            AT,
            1_210_340,
            &report(&[]),
            &[],
            &["capacity-unrelieved /srv/nvr".into()],
        );
        let s = with_reload_error(&body, Some("/etc/retentiond/retentiond.toml:3:1: bad"));
        assert!(s.starts_with("RELOAD FAILED, old policy in force: /etc/retentiond/retentiond.toml:3:1: bad | 1 zone, 1.21M recordings"), "{s}");
        assert!(s.ends_with("deleted 0; ALARM capacity-unrelieved /srv/nvr"), "{s}");
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(human_count(950), "950");
        assert_eq!(human_count(12_345), "12.3k");
        assert_eq!(human_count(1_290_240), "1.29M");
    }
}
