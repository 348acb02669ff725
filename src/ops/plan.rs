//! The `plan` request: what the next sweep would do. The totals are one
//! JSON answer; the files it would delete stream, one JSON object each,
//! through the caller's listing as the dry run decides them (the socket
//! writes each as it comes, the CLI prints each as it arrives), so a plan
//! of any length costs no more memory than a short one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::core::inventory::Inventory;
use crate::core::policy::Policy;
use crate::core::units::Timestamp;
use crate::ops::OpError;
use crate::state::holdstore::HoldStore;
use crate::sweep::execute::Decided;
use crate::sweep::{Refused, SweepOutcome};

/// Files a plan's answer carries when it cannot stream them (a client
/// that reads one reply): the rest are counted, not listed.
pub const MAX_LISTED: u64 = 10_000;

/// Where the files of a streamed answer go, one JSON object each.
pub type Items<'a> = &'a (dyn Fn(Value) + Sync);

/// A plan's totals as JSON: per zone and reason, holds keeping footage
/// past max_age, alarms, skipped roots.
pub fn plan_json(o: &SweepOutcome) -> Value {
    let by_reason: Vec<_> = o
        .report
        .by_reason
        .iter()
        .map(|((zone, code), (n, b))| json!({"zone": zone, "reason": code, "files": n, "bytes": b.0}))
        .collect();
    let held: Vec<_> = o
        .plan
        .held_past_max
        .iter()
        .map(|h| json!({"hold": h.hold.0, "label": h.label, "files": h.files, "bytes": h.bytes}))
        .collect();
    let alarms: Vec<_> = o
        .plan
        .alarms
        .iter()
        .map(|a| json!({"kind": a.kind, "subject": a.subject, "text": a.text}))
        .collect();
    json!({
        "at": o.at.rfc3339(),
        "recordings": o.recordings,
        "delete": {"files": o.report.deleted(), "bytes": o.report.freed().0, "by_reason": by_reason},
        "held_past_max_age": held,
        "alarms": alarms,
        "root_errors": o.root_errors,
    })
}

/// One file a plan would delete, as JSON.
pub fn file_json(d: &Decided) -> Value {
    json!({"zone": d.zone, "path": crate::audit::path_value(d.path.as_os_str()), "reason": d.code, "text": d.text, "size": d.size})
}

/// Standard output, buffered: a listing is 300k lines at times.
static OUT: Mutex<Option<std::io::BufWriter<std::io::Stdout>>> = Mutex::new(None);

/// Prints one decision of a dry-run sweep to stdout (`retentiond
/// --dry-run`), buffered until [`flush_decisions`].
pub fn print_decision(d: Decided) {
    use std::io::Write;
    let mut out = OUT.lock().unwrap_or_else(|p| p.into_inner());
    let w = out.get_or_insert_with(|| std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()));
    // A closed pipe ends the listing, not the sweep.
    let _ = w.write_all(crate::ops::render::plan_file(&file_json(&d)).as_bytes());
}

/// Writes out what [`print_decision`] buffered.
pub fn flush_decisions() {
    use std::io::Write;
    if let Some(w) = OUT.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        let _ = w.flush();
    }
}

/// `plan`: the dry run from `kept` (the daemon's inventory; none: a scan),
/// its totals as the answer. Unless `summary`, the first `limit` files it
/// would delete go to `items` as they are decided; without `items` they are
/// carried in the answer, at most [`MAX_LISTED`]. `listed` says how many
/// were listed, against the plan's `delete.files`.
pub fn answer(
    policy: &Policy,
    store: &HoldStore,
    kept: Option<&Inventory>,
    summary: bool,
    limit: Option<u64>,
    items: Option<Items>,
    now: Timestamp,
) -> Result<Value, OpError> {
    let limit = match (summary, items) {
        (true, _) => 0,
        (false, Some(_)) => limit.unwrap_or(u64::MAX),
        (false, None) => limit.unwrap_or(MAX_LISTED).min(MAX_LISTED),
    };
    let seen = AtomicU64::new(0);
    let carried = Mutex::new(Vec::new());
    let sink = |d: Decided| {
        if seen.fetch_add(1, Ordering::Relaxed) >= limit {
            return;
        }
        let v = file_json(&d);
        match items {
            Some(out) => out(v),
            None => carried.lock().unwrap_or_else(|p| p.into_inner()).push(v),
        }
    };
    let list: Option<crate::sweep::execute::Listing> = (limit > 0).then_some(&sink);
    let o = crate::sweep::dry_plan(policy, store, kept, now, list).map_err(refusal)?;
    let mut v = plan_json(&o);
    if !summary {
        v["listed"] = seen.load(Ordering::Relaxed).min(limit).into();
        if items.is_none() {
            v["files"] = carried.into_inner().unwrap_or_else(|p| p.into_inner()).into();
        }
    }
    Ok(v)
}

/// A dry run's error as the answer to `plan` or `explain`: a refusal (the
/// next sweep deletes nothing, as the sweep itself says) or a failure.
pub fn refusal(e: anyhow::Error) -> OpError {
    match e.downcast_ref::<Refused>() {
        Some(r) => OpError::Refused(format!("refused: the next sweep deletes nothing: {}", r.text)),
        None => OpError::Failed(format!("{e:#}")),
    }
}
