//! The `plan` request's answer: what the next sweep would do, as JSON and
//! as the text the CLI and `retentiond --dry-run` print.

use serde_json::json;

use crate::ops::OpError;
use crate::sweep::{Refused, SweepOutcome};

/// A plan as JSON (`retentionctl plan --json`); without the per-file list
/// when `summary`.
pub fn plan_json(o: &SweepOutcome, summary: bool) -> serde_json::Value {
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
    let mut v = json!({
        "at": o.at.rfc3339(),
        "recordings": o.recordings,
        "delete": {"files": o.report.deleted(), "bytes": o.report.freed().0, "by_reason": by_reason},
        "held_past_max_age": held,
        "alarms": alarms,
        "root_errors": o.root_errors,
    });
    if !summary {
        v["files"] = o
            .report
            .decided
            .iter()
            .map(|d| {
                json!({"zone": d.zone, "path": crate::audit::path_value(d.path.as_os_str()), "reason": d.code, "text": d.text, "size": d.size})
            })
            .collect();
    }
    v
}

/// Prints a dry run's decisions to stdout.
pub fn print_decisions(o: &SweepOutcome) {
    print!("{}", crate::ops::render::plan(&plan_json(o, false)));
}

/// A dry run's error as the answer to `plan` or `explain`: a refusal (the
/// next sweep deletes nothing, as the sweep itself says) or a failure.
pub fn refusal(e: anyhow::Error) -> OpError {
    match e.downcast_ref::<Refused>() {
        Some(r) => OpError::Refused(format!("refused: the next sweep deletes nothing: {}", r.text)),
        None => OpError::Failed(format!("{e:#}")),
    }
}
