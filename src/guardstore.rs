//! The guard's I/O edge: its state file in the state directory, the
//! clocks it compares, and `retentionctl confirm`.
//!
//! Invariants:
//! - `guard.json` is replaced atomically (write, fsync, rename, fsync the
//!   directory): a crash leaves the old or the new state, never a torn one.
//! - A confirmation is recorded in the audit log (durably) before it is
//!   put in force.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::AuditLog;
use crate::execute::lock_audit;
use crate::guard::{ClockMark, Confirmation, GuardState};
use crate::holdops::{Caller, OpError};
use crate::units::Timestamp;

/// Where the guard's state lives.
#[derive(Clone, Debug)]
pub struct GuardStore {
    path: PathBuf,
}

impl GuardStore {
    /// The store of a state directory.
    pub fn new(state_dir: &Path) -> GuardStore {
        GuardStore {
            path: state_dir.join("guard.json"),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state (empty when there is no file yet).
    pub fn load(&self) -> Result<GuardState, String> {
        match std::fs::read(&self.path) {
            Ok(b) => parse(&b).map_err(|e| format!("{}: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GuardState::default()),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// Replaces the state durably.
    pub fn save(&self, state: &GuardState) -> std::io::Result<()> {
        let mut body = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        body.push(b'\n');
        crate::fsops::replace_file(&self.path, &body)
    }
}

/// Parses a state file.
pub fn parse(bytes: &[u8]) -> Result<GuardState, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Where the kernel's boot id comes from when /proc/sys is hidden (the
/// unit sets it to systemd's `%b`).
pub const BOOT_ID_ENV: &str = "RETENTIOND_BOOT_ID";

/// The wall clock (`now`) with the boot clock and boot id beside it.
pub fn clock_mark(now: Timestamp) -> ClockMark {
    let boot = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec())
        .unwrap_or(0);
    // Fixed for the life of the process: read once. The unit's
    // ProcSubset=pid hides /proc/sys; it passes systemd's %b instead.
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let boot_id = BOOT_ID
        .get_or_init(|| {
            let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().replace('-', ""))
                .ok()
                .filter(|s| !s.is_empty())
                .or_else(|| std::env::var(BOOT_ID_ENV).ok().map(|s| s.trim().replace('-', "")))
                .unwrap_or_default();
            if id.is_empty() {
                log::warn!(
                    "the kernel's boot id is unknown (neither /proc/sys/kernel/random/boot_id nor ${BOOT_ID_ENV}): \
                     wall clock jumps cannot be told, and the mass-deletion guard counts every deletion for age"
                );
            }
            id
        })
        .clone();
    ClockMark {
        wall: now.0,
        boot,
        boot_id,
    }
}

/// `retentionctl confirm`: accepts the open episodes (of `zone`, or all),
/// so that the next sweep deletes without the cap. Recorded first.
pub fn confirm(
    state: &Mutex<GuardState>,
    store: &GuardStore,
    audit: &Mutex<AuditLog>,
    caller: &Caller,
    zone: Option<&str>,
    reason: &str,
    now: Timestamp,
) -> Result<Value, OpError> {
    crate::holdops::text_field("reason", reason, true)?;
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let open: Vec<(String, Value)> = st
        .zones
        .iter()
        .filter(|(z, ep)| zone.is_none_or(|q| q == z.as_str()) && ep.confirmed.is_none())
        .map(|(z, ep)| {
            (
                z.clone(),
                json!({
                    "zone": z,
                    "trigger": ep.trigger,
                    "since": ep.since.rfc3339(),
                    "planned": ep.planned,
                    "of": ep.of,
                    "budget_left": ep.budget_left,
                    "clock": ep.clock,
                }),
            )
        })
        .collect();
    if open.is_empty() {
        return Err(OpError::Refused(match zone {
            Some(z) => format!("nothing to confirm: zone {z} has no mass-deletion or clock-suspect alarm"),
            None => "nothing to confirm: no zone has a mass-deletion or clock-suspect alarm".into(),
        }));
    }
    let zones: Vec<&String> = open.iter().map(|(z, _)| z).collect();
    let episodes: Vec<&Value> = open.iter().map(|(_, v)| v).collect();
    {
        let mut a = lock_audit(audit);
        a.append(
            "confirm",
            &json!({
                "zones": zones,
                "user": caller.user,
                "uid": caller.uid,
                "reason": reason,
                "episodes": episodes,
                "text": format!(
                    "{} (uid {}) accepted the deletions held back in zone(s) {}: {reason}",
                    caller.user,
                    caller.uid,
                    open.iter().map(|(z, _)| z.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }),
        )
        .and_then(|_| a.sync())
        .map_err(|e| OpError::Failed(format!("cannot record the confirmation, nothing confirmed: {e}")))?;
    }
    for (z, _) in &open {
        if let Some(ep) = st.zones.get_mut(z) {
            ep.confirmed = Some(Confirmation {
                by: caller.user.clone(),
                uid: caller.uid,
                at: now,
                reason: reason.to_string(),
            });
        }
    }
    if let Err(e) = store.save(&st) {
        log::error!(
            "cannot save {}: {e}; the confirmation holds until a restart",
            store.path().display()
        );
    }
    log::warn!(
        retention_event = "confirm", retention_user = caller.user.as_str();
        "{} (uid {}) confirmed the held-back deletions of zone(s) {}: {reason}",
        caller.user, caller.uid, open.iter().map(|(z, _)| z.as_str()).collect::<Vec<_>>().join(", ")
    );
    Ok(json!({"confirmed": zones, "episodes": episodes}))
}
