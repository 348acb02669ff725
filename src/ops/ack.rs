//! `retentionctl alarm ack`: a supervisor acknowledges a `recording-stalled`
//! alarm because its source (a camera, a call queue) was retired on
//! purpose. Recorded in the audit log (durably) before it is kept in
//! `acks.json` ([`crate::state::ackstore`]); the next sweep raises nothing
//! for the source until it records again.
//!
//! Why a command and not a policy key: retiring a camera is an operator's
//! act at the moment it happens (like acknowledging an alarm on the NVR's
//! own screen), it needs no edit of root's policy file nor a reload, it is
//! attributed to a person with a reason in the audit log, and it ends by
//! itself when the source records again, so a camera brought back and later
//! lost again is not silenced by a line nobody remembers.

use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::schema::AlarmAck;
use crate::audit::{lock_audit, AuditLog};
use crate::core::alarm::AlarmKind;
use crate::core::inventory::Inventory;
use crate::core::policy::Policy;
use crate::core::stall::{self, Ack};
use crate::core::units::Timestamp;
use crate::ops::auth::Caller;
use crate::ops::OpError;
use crate::state::ackstore::AckStore;

/// Acknowledges the alarm `kind` about `subject`, recorded first.
#[allow(clippy::too_many_arguments)]
pub fn ack(
    policy: &Policy,
    audit: &Mutex<AuditLog>,
    inv: Option<&Inventory>,
    caller: &Caller,
    kind: &str,
    subject: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Value, OpError> {
    crate::ops::hold::text_field("reason", reason, true)?;
    if kind != AlarmKind::RecordingStalled.code() {
        return Err(OpError::BadRequest(format!(
            "{kind:?}: only recording-stalled alarms can be acknowledged (the others clear when their cause is fixed)"
        )));
    }
    let (zone_name, source) = match subject.split_once('/') {
        Some((z, s)) => (z, Some(s)),
        None => (subject, None),
    };
    let zone = policy
        .zone(zone_name)
        .ok_or_else(|| OpError::BadRequest(format!("subject {subject:?}: the policy has no zone {zone_name:?}")))?;
    match (zone.source_depth, source) {
        (0, Some(_)) => {
            return Err(OpError::BadRequest(format!(
                "subject {subject:?}: zone {zone_name} is one source as a whole (source_depth = 0): write {zone_name:?}"
            )))
        }
        (_, None) | (_, Some("")) if zone.source_depth > 0 => {
            return Err(OpError::BadRequest(format!(
            "subject {subject:?}: name the source, as in \"{zone_name}/cam07\" (retentionctl status lists the alarms)"
        )))
        }
        _ => {}
    }
    // What the inventory knows of the source: it must exist, and be silent.
    let newest = match inv {
        Some(inv) => {
            let sources = stall::sources(policy, inv);
            let Some(src) = sources.iter().find(|s| s.subject(policy) == subject) else {
                let known: Vec<String> = sources
                    .iter()
                    .filter(|s| s.zone == zone.id)
                    .map(|s| s.subject(policy))
                    .collect();
                return Err(OpError::Refused(format!(
                    "no source {subject} with recordings (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if let Some(after) = zone.stall_after {
                if src.newest.age_at(now) <= after {
                    return Err(OpError::Refused(format!(
                        "{subject} recorded at {}, within stall_after {after}: it is not stalled, and an \
                         acknowledgement would end with its next recording; acknowledge it once it has stopped",
                        src.newest.rfc3339()
                    )));
                }
            }
            Some(src.newest)
        }
        None => None,
    };
    let text = format!(
        "{} (uid {}) acknowledged recording-stalled for {subject}: {reason}; silent until it records again",
        caller.user, caller.uid
    );
    let store = AckStore::new(&policy.daemon.state_dir);
    {
        // The audit log's lock also serialises changes to acks.json.
        let mut a = lock_audit(audit);
        a.record(&AlarmAck {
            kind: kind.to_string(),
            subject: subject.to_string(),
            user: caller.user.clone(),
            uid: caller.uid,
            reason: reason.to_string(),
            newest: newest.map(|t| t.rfc3339()),
            text: text.clone(),
        })
        .and_then(|_| a.sync())
        .map_err(|e| OpError::Failed(format!("cannot record the acknowledgement, nothing acknowledged: {e}")))?;
        store
            .add(Ack {
                subject: subject.to_string(),
                at: now,
                user: caller.user.clone(),
                uid: caller.uid,
                reason: reason.to_string(),
            })
            .map_err(|e| OpError::Failed(format!("recorded in the audit log, but not kept: {e}")))?;
    }
    log::warn!(
        retention_event = "alarm-ack", retention_user = caller.user.as_str(), retention_subject = subject;
        "{text}"
    );
    Ok(json!({
        "kind": kind,
        "subject": subject,
        "newest": newest.map(|t| t.rfc3339()),
        "text": text,
    }))
}
