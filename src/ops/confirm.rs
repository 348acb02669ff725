//! `retentionctl confirm`: a supervisor accepts the deletions the
//! mass-deletion guard holds back. Recorded in the audit log (durably)
//! before it is put in force.

use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::schema::{Confirm, ConfirmedEpisode};
use crate::audit::AuditLog;
use crate::core::guard::{Confirmation, GuardState};
use crate::core::units::Timestamp;
use crate::ops::auth::Caller;
use crate::ops::record_durably;
use crate::ops::OpError;
use crate::state::guardstore::GuardStore;

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
    crate::ops::hold::text_field("reason", reason, true)?;
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let open: Vec<(String, ConfirmedEpisode)> = st
        .zones
        .iter()
        .filter(|(z, ep)| zone.is_none_or(|q| q == z.as_str()) && ep.confirmed.is_none())
        .map(|(z, ep)| {
            (
                z.clone(),
                ConfirmedEpisode {
                    zone: z.clone(),
                    trigger: ep.trigger,
                    since: ep.since.rfc3339(),
                    planned: ep.planned,
                    of: ep.of,
                    budget_left: ep.budget_left,
                    clock: ep.clock.clone(),
                },
            )
        })
        .collect();
    if open.is_empty() {
        return Err(OpError::Refused(match zone {
            Some(z) => format!("nothing to confirm: zone {z} has no mass-deletion or clock-suspect alarm"),
            None => "nothing to confirm: no zone has a mass-deletion or clock-suspect alarm".into(),
        }));
    }
    let rec = Confirm {
        zones: open.iter().map(|(z, _)| z.clone()).collect(),
        user: caller.user.clone(),
        uid: caller.uid,
        reason: reason.to_string(),
        episodes: open.iter().map(|(_, e)| e.clone()).collect(),
        text: format!(
            "{} (uid {}) accepted the deletions held back in zone(s) {}: {reason}",
            caller.user,
            caller.uid,
            open.iter().map(|(z, _)| z.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    record_durably(audit, &rec, "cannot record the confirmation, nothing confirmed")?;
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
    Ok(json!({"confirmed": rec.zones, "episodes": rec.episodes}))
}
