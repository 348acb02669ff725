//! The guard's I/O edge: its state file in the state directory, the
//! clocks it compares, and `retentionctl confirm`.
//!
//! Invariants:
//! - `guard.json` is replaced atomically (write, fsync, rename, fsync the
//!   directory): a crash leaves the old or the new state, never a torn one.
//! - A confirmation is recorded in the audit log (durably) before it is
//!   put in force.

use std::path::{Path, PathBuf};

use crate::core::guard::{ClockMark, GuardState};
use crate::core::units::Timestamp;

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
        crate::fs::handle::replace_file(&self.path, &body)
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
