//! Cases with deadlines: `retentionctl case open|close|list`.
//!
//! Opening a case (a data subject's access or erasure request, an
//! investigation) places a hold on the recordings it concerns, so nothing
//! is overwritten while it is handled, and sets its due date (default a
//! month, the GDPR's answer time). Closing records the outcome (disclosed
//! to whom, erased, refused and why, no action) and releases the hold
//! unless told to keep it; an `erased` outcome erases the case's
//! recordings once its hold is released, through the same `erase` path
//! (refused while another hold covers any of them).
//!
//! Invariants: the case and its hold are committed together (one store,
//! one rename, under the store lock), and their audit records are durable
//! before the store lock is dropped, as for every hold change.

use serde_json::{json, Value};

use crate::audit::schema;
use crate::control::{AddRequest, CaseRequest, CloseRequest, RangeRequest};
use crate::core::cases::{check_reference, Case, CaseKind, Closure, Outcome, DEFAULT_DUE};
use crate::core::holds::{Hold, Release};
use crate::core::units::Timestamp;
use crate::ops::auth::Caller;
use crate::ops::hold::{audit_hold, coverage, hold_fields, prepare, text_field, view as hold_view, Ctx};
use crate::ops::{access, OpError};
use crate::state::holdstore::HoldStore;

/// A case as shown to people and scripts.
pub fn view(c: &Case, hold: Option<&Hold>, now: Timestamp) -> Value {
    json!({
        "reference": c.reference,
        "kind": c.kind.code(),
        "state": c.state(now),
        "requested_by": c.requested_by,
        "reason": c.reason,
        "opened_by": c.opened_by,
        "opened_at": c.opened_at.rfc3339(),
        "due": c.due.rfc3339(),
        "overdue_by": c.overdue_at(now).then(|| crate::core::units::Age::from_secs((now.0 - c.due.0).max(0) as u64).to_string()),
        "hold": hold.map(|h| hold_view(h, now, None)),
        "closed": c.closed.as_ref().map(|x| json!({
            "by": x.by, "at": x.at.rfc3339(), "outcome": x.outcome.code(), "to": x.to,
            "reason": x.reason, "hold_kept": x.hold_kept,
        })),
    })
}

fn scope_of(h: &Hold) -> schema::HoldScope {
    schema::HoldScope {
        zone: h.zone.as_ref().map(|z| z.0.clone()),
        glob: h.glob.clone(),
        from: h.from.rfc3339(),
        to: h.to.rfc3339(),
    }
}

/// Opens a case and the hold on its recordings (operators).
pub fn open(ctx: &Ctx, caller: &Caller, req: &CaseRequest, now: Timestamp) -> Result<Value, OpError> {
    check_reference(&req.reference).map_err(|m| OpError::BadRequest(format!("reference: {m}")))?;
    let kind = CaseKind::from_code(&req.kind).ok_or_else(|| {
        OpError::BadRequest(format!(
            "kind: {:?} is not one of access, erasure, investigation",
            req.kind
        ))
    })?;
    text_field("requested_by", &req.requested_by, true)?;
    text_field("reason", &req.reason, true)?;
    let due = req.due.unwrap_or_else(|| now.plus(DEFAULT_DUE));
    if due <= now {
        return Err(OpError::BadRequest(format!(
            "due: {} is not in the future",
            due.rfc3339()
        )));
    }
    let add = AddRequest {
        zone: req.zone.clone(),
        glob: req.glob.clone(),
        from: req.from,
        to: req.to,
        case: req.reference.clone(),
        reason: format!(
            "{} case {} ({}): {}",
            kind.code(),
            req.reference,
            req.requested_by,
            req.reason
        ),
        expires: None,
    };
    let (mut hold, covered) = prepare(ctx, caller, &add, now)?;
    let mut locked = ctx.store.lock()?;
    if let Some(c) = locked.cases.iter().find(|c| c.reference == req.reference) {
        return Err(OpError::BadRequest(format!(
            "reference: case {} exists already (opened by {} at {})",
            c.reference,
            c.opened_by,
            c.opened_at.rfc3339()
        )));
    }
    hold.id = locked.allocate_id();
    let case = Case {
        reference: req.reference.clone(),
        kind,
        requested_by: req.requested_by.clone(),
        reason: req.reason.clone(),
        hold: Some(hold.id),
        opened_by: caller.user.clone(),
        opened_uid: caller.uid,
        opened_at: now,
        due,
        closed: None,
    };
    locked.holds.holds.push(hold.clone());
    locked.cases.push(case.clone());
    locked.commit()?;
    audit_hold(
        ctx,
        &hold,
        &schema::HoldAdd(hold_fields(&hold, caller, &hold.reason, covered)),
    )?;
    audit_hold(
        ctx,
        &hold,
        &schema::CaseOpen {
            case: case.reference.clone(),
            kind: kind.code().into(),
            requested_by: case.requested_by.clone(),
            reason: case.reason.clone(),
            scope: scope_of(&hold),
            hold: Some(hold.id.0),
            due: due.rfc3339(),
            by: caller.user.clone(),
            uid: caller.uid,
        },
    )?;
    drop(locked);
    log::info!(
        retention_event = "case-open", retention_case = case.reference.as_str(), retention_hold = hold.id.0, retention_user = caller.user.as_str();
        "case {} ({} request by {}) opened by {}, due {} UTC: hold {} on {} recordings, {}",
        case.reference, kind.code(), case.requested_by, caller.user, due.short(), hold.id, covered.0, covered.1
    );
    let mut v = view(&case, Some(&hold), now);
    v["hold"] = hold_view(&hold, now, Some(covered));
    Ok(v)
}

/// Closes a case with its outcome (supervisors): releases its hold unless
/// `keep_hold`, and for `erased` erases its recordings.
pub fn close(ctx: &Ctx, caller: &Caller, req: &CloseRequest, now: Timestamp) -> Result<Value, OpError> {
    let outcome = Outcome::from_code(&req.outcome).ok_or_else(|| {
        OpError::BadRequest(format!(
            "outcome: {:?} is not one of disclosed, erased, refused, no-action",
            req.outcome
        ))
    })?;
    text_field("reason", &req.reason, true)?;
    if let Some(t) = &req.to {
        text_field("to", t, true)?;
    }
    if outcome == Outcome::Disclosed && req.to.is_none() {
        return Err(OpError::BadRequest(
            "to: a disclosure names whom it was disclosed to".into(),
        ));
    }
    if outcome == Outcome::Erased && req.keep_hold {
        return Err(OpError::BadRequest(
            "keep_hold: an erasure cannot keep the hold that protects what it erases".into(),
        ));
    }
    let (set, _, cases) = ctx.store.read_all()?;
    let case = cases
        .iter()
        .find(|c| c.reference == req.reference)
        .ok_or_else(|| OpError::BadRequest(format!("reference: no case {:?}", req.reference)))?;
    let hold = case.hold.and_then(|id| set.holds.iter().find(|h| h.id == id)).cloned();
    if outcome == Outcome::Erased && hold.as_ref().is_none_or(|h| h.zone.is_none()) {
        return Err(OpError::BadRequest(
            "outcome: erased needs a case over one zone; erase each zone with retentionctl erase and close the case as no-action".into(),
        ));
    }
    let covered = hold.as_ref().map(|h| coverage(ctx.policy, ctx.inventory, h));
    let mut locked = ctx.store.lock()?;
    let Some(cur) = locked.cases.iter_mut().find(|c| c.reference == req.reference) else {
        return Err(OpError::BadRequest(format!("reference: no case {:?}", req.reference)));
    };
    if let Some(x) = &cur.closed {
        return Err(OpError::BadRequest(format!(
            "case {} was closed already by {} at {} ({})",
            cur.reference,
            x.by,
            x.at.rfc3339(),
            x.outcome.code()
        )));
    }
    cur.closed = Some(Closure {
        by: caller.user.clone(),
        uid: caller.uid,
        at: now,
        outcome,
        to: req.to.clone(),
        reason: req.reason.clone(),
        hold_kept: req.keep_hold,
    });
    let case = cur.clone();
    let release_reason = format!("case {} closed: {}: {}", case.reference, outcome.code(), req.reason);
    let mut released = None;
    if let (Some(id), false) = (case.hold, req.keep_hold) {
        if let Some(h) = locked.get_mut(id).filter(|h| h.released.is_none()) {
            h.released = Some(Release {
                by: caller.user.clone(),
                uid: caller.uid,
                at: now,
                reason: release_reason.clone(),
            });
            released = Some(h.clone());
        }
    }
    locked.commit()?;
    let anchor = hold.clone().unwrap_or_else(|| {
        Hold::new(
            crate::core::holds::HoldId(0),
            None,
            None,
            now,
            now,
            case.reference.clone(),
            String::new(),
            String::new(),
            0,
            now,
            None,
        )
        .expect("no glob")
    });
    audit_hold(
        ctx,
        &anchor,
        &schema::CaseClose {
            case: case.reference.clone(),
            outcome: outcome.code().into(),
            to: req.to.clone(),
            reason: req.reason.clone(),
            hold: case.hold.map(|h| h.0),
            hold_kept: req.keep_hold,
            due: case.due.rfc3339(),
            by: caller.user.clone(),
            uid: caller.uid,
        },
    )?;
    if let Some(h) = &released {
        audit_hold(
            ctx,
            h,
            &schema::HoldRelease(hold_fields(h, caller, &release_reason, covered.unwrap_or_default())),
        )?;
    }
    drop(locked);
    log::info!(
        retention_event = "case-close", retention_case = case.reference.as_str(), retention_user = caller.user.as_str();
        "case {} closed by {}: {}{}: {}", case.reference, caller.user, outcome.code(),
        req.to.as_deref().map(|t| format!(" to {t}")).unwrap_or_default(), req.reason
    );
    let mut v = view(&case, released.as_ref().or(hold.as_ref()), now);
    if outcome == Outcome::Erased {
        let h = hold.as_ref().expect("checked: an erased case has a one-zone hold");
        let range = RangeRequest {
            zone: h.zone.as_ref().expect("checked").0.clone(),
            glob: h.glob.clone(),
            from: h.from,
            to: h.to,
            reason: format!("case {}: {}", case.reference, req.reason),
        };
        // The case is closed and its hold released (both recorded) either
        // way; an erasure refused (another hold) or failed is the caller's
        // error to act on, with the command that finishes it.
        v["erasure"] =
            access::erase(ctx.policy, ctx.store, ctx.audit, ctx.inventory, caller, &range, now).map_err(|e| {
                OpError::Refused(format!(
                    "case {} is closed and its hold released, but its recordings were not erased: {e}; \
                 erase them with retentionctl erase --zone {} --from {} --to {}{} --reason ...",
                    case.reference,
                    range.zone,
                    range.from.rfc3339(),
                    range.to.rfc3339(),
                    range
                        .glob
                        .as_deref()
                        .map(|g| format!(" --match '{g}'"))
                        .unwrap_or_default()
                ))
            })?;
    }
    Ok(v)
}

/// The cases (open ones, or all), with their holds.
pub fn list(store: &HoldStore, all: bool, now: Timestamp) -> Result<Value, OpError> {
    let (set, _, cases) = store.read_all()?;
    let (open, overdue) = crate::core::cases::counts(&cases, now);
    let shown: Vec<Value> = cases
        .iter()
        .filter(|c| all || c.is_open())
        .map(|c| view(c, c.hold.and_then(|id| set.holds.iter().find(|h| h.id == id)), now))
        .collect();
    Ok(json!({"cases": shown, "open": open, "overdue": overdue}))
}
