//! Every answer as text for people, in one place: the requests' JSON
//! answers (what `--json` prints) turned into the tables and sentences
//! `retentionctl` and `retentiond --dry-run` print. Nothing here reads the
//! disk or the clock; each function takes the answer's JSON only.

use std::fmt::Write;
use std::path::PathBuf;

use serde_json::Value;

use crate::audit;
use crate::control::Request;
use crate::core::units::{Age, Bytes};

/// Any answer as text for people, by the request it answers.
pub fn answer(req: &Request, v: &Value) -> String {
    match req {
        Request::Ping {} => format!("retentiond is running (pid {})\n", v["pid"]),
        Request::Plan { .. } => plan(v),
        Request::HoldAdd { .. } => format!(
            "hold {} placed (case {}): covers {} now; {}\n",
            v["id"],
            s(&v["case"]),
            covered(v),
            expiry(v)
        ),
        Request::HoldRelease { id, .. } => {
            format!("hold {id} released; its {} are ordinary footage again\n", covered(v))
        }
        Request::HoldExtend { id, .. } => format!("hold {id} {}\n", expiry(v)),
        Request::HoldShow { .. } => show_text(v),
        Request::HoldList { .. } => list_text(v),
        Request::Status {} => status(v),
        Request::Find { .. } => find_text(v),
        Request::Erase { .. } => format!(
            "erased {} of {} recordings in range ({}) from zone {}{}{}\n",
            v["deleted"],
            v["in_range"],
            Bytes(v["bytes"].as_u64().unwrap_or(0)),
            s(&v["zone"]),
            match v["kept"].as_u64().unwrap_or(0) + v["vanished"].as_u64().unwrap_or(0) {
                0 => String::new(),
                n => format!("; {n} kept or already gone (being written, held meanwhile, or deleted by someone else)"),
            },
            match v["failed"].as_array().map_or(0, |a| a.len()) {
                0 => String::new(),
                n => format!("; {n} could not be deleted (see --json)"),
            }
        ),
        Request::Explain { .. } => {
            let mut o = format!("{} (zone {})\n", s(&v["path"]), s(&v["zone"]));
            for l in v["explanation"].as_array().into_iter().flatten() {
                o += &format!("  {}\n", s(l));
            }
            o
        }
        Request::AuditShow { .. } => audit_text(v),
        Request::Report { .. } => report_text(v),
        Request::ExportOpen { .. }
        | Request::ExportDone { .. }
        | Request::AccessOpen { .. }
        | Request::AccessDone { .. } => {
            format!("{v}\n")
        }
        Request::AuditAccess { .. } => access_log_text(v),
        Request::CaseOpen { .. } => format!(
            "case {} opened ({} request by {}), due {}: hold {} covers {} now\n",
            s(&v["reference"]),
            s(&v["kind"]),
            s(&v["requested_by"]),
            t(&v["due"]),
            v["hold"]["id"],
            covered(&v["hold"])
        ),
        Request::CaseClose { .. } => {
            let c = &v["closed"];
            let mut o = format!(
                "case {} closed: {}{}; its hold {}\n",
                s(&v["reference"]),
                s(&c["outcome"]),
                c["to"].as_str().map(|t| format!(" to {t}")).unwrap_or_default(),
                if c["hold_kept"] == true {
                    "stays in force"
                } else {
                    "is released"
                }
            );
            let e = &v["erasure"];
            if let Some(err) = e["error"].as_str() {
                o += &format!("{err}\n");
            } else if !e.is_null() {
                o += &format!("erased {} of {} recordings in its range\n", e["deleted"], e["in_range"]);
            }
            o
        }
        Request::CaseList { .. } => case_list_text(v),
        Request::AlarmAck { .. } => format!("{}\n", s(&v["text"])),
        Request::Confirm { .. } => format!(
            "confirmed zone(s) {}: the next sweep deletes what the guard held back\n",
            v["confirmed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|z| z.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `case list`: one line per case, then the counts.
fn case_list_text(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<20} {:<13} {:<8} {:<23} {:<23} {:>5}  REQUESTED BY",
        "CASE", "KIND", "STATE", "DUE", "OPENED", "HOLD"
    );
    for c in v["cases"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:<20} {:<13} {:<8} {:<23} {:<23} {:>5}  {}{}",
            s(&c["reference"]),
            s(&c["kind"]),
            s(&c["state"]),
            t(&c["due"]),
            t(&c["opened_at"]),
            c["hold"]["id"]
                .as_u64()
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into()),
            s(&c["requested_by"]),
            c["closed"]["outcome"]
                .as_str()
                .map(|x| format!(" (closed: {x})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(o, "{} open, {} overdue", v["open"], v["overdue"]);
    o
}

/// `audit access`: one line per record, the paths below it.
pub fn access_log_text(v: &Value) -> String {
    let mut o = String::new();
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    for r in &rows {
        let _ = writeln!(
            o,
            "{}  #{:<7} {:<13} {:<22} {}{}{}",
            ts(&r["ts"]),
            r["seq"],
            s(&r["action"]),
            s(&r["by"]),
            s(&r["what"]),
            r["case"].as_str().map(|c| format!(" [case {c}]")).unwrap_or_default(),
            match s(&r["reason"]) {
                "" => String::new(),
                why => format!(": {why}"),
            }
        );
        for p in r["paths"].as_array().into_iter().flatten().take(20) {
            let _ = writeln!(o, "      {}", path_text(p));
        }
        let n = r["paths"].as_array().map_or(0, |a| a.len());
        if n > 20 {
            let _ = writeln!(o, "      ... and {} more (see --format json)", n - 20);
        }
    }
    let _ = writeln!(
        o,
        "{} records of {} read{}",
        v["matched"],
        v["scanned"],
        if v["truncated"] == true {
            " (the newest shown; narrow the query)"
        } else {
            ""
        }
    );
    o
}

/// `audit access` as CSV: one row per record (paths joined by '|').
pub fn access_log_csv(v: &Value) -> String {
    let mut o = String::from("seq,ts,action,by,uid,zone,case,reason,what,recordings,saved_to,paths\n");
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let quote = |s: String| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    for r in v["rows"].as_array().into_iter().flatten() {
        let paths: Vec<String> = r["paths"].as_array().into_iter().flatten().map(path_text).collect();
        let row: Vec<String> = [
            "seq",
            "ts",
            "action",
            "by",
            "uid",
            "zone",
            "case",
            "reason",
            "what",
            "recordings",
            "saved_to",
        ]
        .iter()
        .map(|k| quote(cell(&r[*k])))
        .chain([quote(paths.join("|"))])
        .collect();
        o += &row.join(",");
        o.push('\n');
    }
    o
}

/// `status`: an aligned table for a terminal.
pub fn status(v: &Value) -> String {
    let mut o = String::new();
    let empty = Vec::new();
    let _ = writeln!(
        o,
        "{:<14} {:>10} {:>10}  {:<23} {:<23} {:>11}  {:<15} {:>16}",
        "ZONE", "FILES", "SIZE", "OLDEST", "NEWEST", "RETENTION", "MIN..MAX", "HELD"
    );
    for z in v["zones"].as_array().unwrap_or(&empty) {
        let flag = match s(&z["retention_state"]) {
            "below-min" => " <min",
            "above-max" => " >max",
            "filling" => " filling",
            _ => "",
        };
        let _ = writeln!(
            o,
            "{:<14} {:>10} {:>10}  {:<23} {:<23} {:>11}  {:<15} {:>16}{flag}",
            s(&z["name"]),
            z["recordings"].as_u64().unwrap_or(0),
            b(&z["bytes"]),
            t(&z["oldest"]),
            t(&z["newest"]),
            age_cell(&z["retention_secs"]),
            format!("{}..{}", s(&z["min_age"]), s(&z["max_age"])),
            format!("{} ({})", z["held_files"].as_u64().unwrap_or(0), b(&z["held_bytes"])),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<24} {:>7} {:>10} {:>10}  {:>9}  {:>12}  RECORDING RATE",
        "FILESYSTEM", "USED", "HIGH", "LOW", "FREE", "FITS"
    );
    for f in v["filesystems"].as_array().unwrap_or(&empty) {
        let fits = f["days_fit"].as_f64().map(days_fit_text).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "{:<24} {:>6.1}% {:>10} {:>10}  {:>9}  {:>12}  {}/day{}",
            s(&f["mount"]),
            f["used_pct"].as_f64().unwrap_or(0.0),
            s(&f["high_watermark"]),
            s(&f["low_watermark"]),
            b(&f["avail"]),
            fits,
            b(&f["recorded_last_24h"]),
            if f["above_high"] == true {
                "  ABOVE HIGH WATERMARK"
            } else {
                ""
            }
        );
        if let Some(a) = f["alarm"].as_object() {
            let _ = writeln!(o, "  alarm {}: {}", s(&a["kind"]), s(&a["text"]));
        }
        o += &forecast_line(&f["forecast"]);
    }
    let _ = writeln!(o);
    match v["last_sweep"].as_object() {
        None => {
            let _ = writeln!(o, "last sweep: none yet");
        }
        Some(l) => {
            let reasons: Vec<String> = l["by_reason"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} ({})",
                        s(&r["zone"]),
                        s(&r["reason"]),
                        r["files"],
                        b(&r["bytes"])
                    )
                })
                .collect();
            let _ = writeln!(
                o,
                "last sweep: {}, took {}s, deleted {} ({}){}{}",
                ts(&l["at"]),
                l["took_secs"],
                l["deleted"],
                b(&l["bytes"]),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reasons.join(", "))
                },
                l["error"]
                    .as_str()
                    .map(|e| format!("; FAILED: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    let cases = &v["cases"];
    if cases["open"].as_u64().unwrap_or(0) > 0 {
        let late: Vec<String> = cases["overdue_cases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} (due {})", s(&c["reference"]), t(&c["due"])))
            .collect();
        let _ = writeln!(
            o,
            "cases: {} open, {} overdue{}",
            cases["open"],
            cases["overdue"],
            if late.is_empty() {
                String::new()
            } else {
                format!(": {}", late.join(", "))
            }
        );
    }
    for a in v["alarms"].as_array().unwrap_or(&empty) {
        let _ = writeln!(o, "ALARM {} {}: {}", s(&a["kind"]), s(&a["subject"]), s(&a["text"]));
    }
    o
}

/// One file of a plan ([`crate::ops::plan::file_json`]), as its line.
pub fn plan_file(f: &Value) -> String {
    format!(
        "would delete {} [{}] {}\n",
        path_text(&f["path"]),
        f["reason"].as_str().unwrap_or(""),
        f["text"].as_str().unwrap_or("")
    )
}

/// `plan` ([`crate::ops::plan::plan_json`]): the files it carries (a
/// streamed plan's came before), then the totals, and how many files were
/// not listed.
pub fn plan(v: &Value) -> String {
    let mut s = String::new();
    let empty = Vec::new();
    for f in v["files"].as_array().unwrap_or(&empty) {
        s += &plan_file(f);
    }
    for r in v["delete"]["by_reason"].as_array().unwrap_or(&empty) {
        let _ = writeln!(
            s,
            "{:<16} {:<24} {:>9} files {:>10}",
            r["zone"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or(""),
            r["files"],
            Bytes(r["bytes"].as_u64().unwrap_or(0)).to_string()
        );
    }
    for h in v["held_past_max_age"].as_array().unwrap_or(&empty) {
        let _ = writeln!(
            s,
            "kept: {} recordings ({}) held past max_age by {}",
            h["files"],
            Bytes(h["bytes"].as_u64().unwrap_or(0)),
            h["label"].as_str().unwrap_or("")
        );
    }
    for a in v["alarms"].as_array().unwrap_or(&empty) {
        let _ = writeln!(
            s,
            "alarm {}: {}",
            a["kind"].as_str().unwrap_or(""),
            a["text"].as_str().unwrap_or("")
        );
    }
    for e in v["root_errors"].as_array().unwrap_or(&empty) {
        let _ = writeln!(s, "refused, root skipped: {}", e.as_str().unwrap_or(""));
    }
    let _ = writeln!(
        s,
        "{} recordings; the next sweep would delete {} files, freeing {}",
        v["recordings"],
        v["delete"]["files"],
        Bytes(v["delete"]["bytes"].as_u64().unwrap_or(0))
    );
    let total = v["delete"]["files"].as_u64().unwrap_or(0);
    if let Some(listed) = v["listed"].as_u64().filter(|n| *n < total) {
        let _ = writeln!(
            s,
            "{listed} of the {total} files listed (--all lists every one, --limit N the first N, --summary none)"
        );
    }
    s
}

/// `report`: one table, then the alarms.
pub fn report_text(v: &Value) -> String {
    let mut o = format!(
        "retention report {} .. {}\n\n{:<10}  {:<14} {:>11} {:>11}  {:<15} {:<10} {:<28} {:<16} {}\n",
        t(&v["since"]),
        t(&v["until"]),
        "DATE (UTC)",
        "ZONE",
        "RET. MIN",
        "RET. MAX",
        "MIN..MAX",
        "STATUS",
        "DELETED",
        "HOLDS +/-/lapsed",
        "FORECAST"
    );
    for r in v["days"].as_array().into_iter().flatten() {
        let deleted: Vec<String> = r["deleted"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_i64().unwrap_or(0) != 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            o,
            "{:<10}  {:<14} {:>11} {:>11}  {:<15} {:<10} {:<28} {:<16} {}",
            r["date"].as_str().unwrap_or(""),
            r["zone"].as_str().unwrap_or(""),
            age_cell(&r["retention_min_secs"]),
            age_cell(&r["retention_max_secs"]),
            format!("{}..{}", age_cell(&r["min_age_secs"]), age_cell(&r["max_age_secs"])),
            r["status"].as_str().unwrap_or(""),
            if deleted.is_empty() {
                "-".to_string()
            } else {
                deleted.join(", ")
            },
            format!("{}/{}/{}", r["holds_placed"], r["holds_released"], r["holds_lapsed"]),
            forecast_cell(&r["forecast_min_days"])
        );
        for f in r["flags"].as_array().into_iter().flatten() {
            let _ = writeln!(o, "            ! {}", f.as_str().unwrap_or(""));
        }
    }
    let alarms = v["alarms"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\nalarms: {}", if alarms.is_empty() { "none" } else { "" });
    for a in alarms {
        let _ = writeln!(
            o,
            "  {} {}: raised {}, {} ({}): {}",
            a["kind"].as_str().unwrap_or(""),
            a["subject"].as_str().unwrap_or(""),
            t(&a["raised"]),
            a["cleared"]
                .as_str()
                .map(|_| format!("cleared {}", t(&a["cleared"])))
                .unwrap_or_else(|| "still raised".into()),
            age_cell(&a["duration_secs"]),
            a["text"].as_str().unwrap_or("")
        );
    }
    let holds = v["holds"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\nholds: {}", if holds.is_empty() { "none" } else { "" });
    for h in holds {
        let _ = writeln!(
            o,
            "  hold {} (case {}), {}: placed {}, {}",
            h["hold"],
            s(&h["case"]),
            h["zone"]
                .as_str()
                .map_or("all zones".to_string(), |z| format!("zone {z}")),
            h["placed"].as_str().unwrap_or("before the audit log"),
            hold_end(&h)
        );
    }
    let access = v["access"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        o,
        "\naccess to recordings: {}",
        if access.is_empty() { "none" } else { "" }
    );
    for a in access {
        let saved: Vec<&str> = a["saved_to"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .collect();
        let _ = writeln!(
            o,
            "  {}: played {} files, copied {}{}, {} finds, {} exports ({} files), {} erasures",
            s(&a["user"]),
            a["played_files"],
            a["copied_files"],
            if saved.is_empty() {
                String::new()
            } else {
                format!(" (to {})", saved.join(", "))
            },
            a["finds"],
            a["exports"],
            a["exported_files"],
            a["erasures"]
        );
    }
    let cases = v["cases"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\ncases: {}", if cases.is_empty() { "none" } else { "" });
    for c in cases {
        let _ = writeln!(
            o,
            "  {} ({} request by {}): opened {}, due {}, {}{}",
            s(&c["reference"]),
            s(&c["kind"]),
            s(&c["requested_by"]),
            t(&c["opened"]),
            t(&c["due"]),
            match c["closed"].as_str() {
                Some(_) => format!(
                    "closed {}: {}{}",
                    t(&c["closed"]),
                    s(&c["outcome"]),
                    c["disclosed_to"]
                        .as_str()
                        .map(|w| format!(" to {w}"))
                        .unwrap_or_default()
                ),
                None => "open".to_string(),
            },
            if c["late"] == true { " ! LATE" } else { "" }
        );
    }
    o
}

/// How a hold of the report ended, or when it lapses.
fn hold_end(h: &Value) -> String {
    match (h["released"].as_str(), h["lapsed"].as_str(), h["expires"].as_str()) {
        (Some(t), _, _) => format!("released {t}"),
        (_, Some(t), _) => format!("lapsed {t}"),
        (_, _, Some(t)) => format!("in force, expires {t}"),
        _ => "in force, indefinite".to_string(),
    }
}

/// `report --format csv`: one row per zone and day.
pub fn report_csv(v: &Value) -> String {
    let mut reasons: Vec<String> = crate::core::plan::Cause::CODES.iter().map(|c| c.to_string()).collect();
    for r in v["days"].as_array().into_iter().flatten() {
        for k in r["deleted"].as_object().into_iter().flatten().map(|(k, _)| k) {
            if !reasons.contains(k) {
                reasons.push(k.clone());
            }
        }
    }
    let mut o =
        String::from("date,zone,retention_min_secs,retention_max_secs,min_age_secs,max_age_secs,samples,status");
    for r in &reasons {
        o.push_str(&format!(",deleted_{}", r.replace('-', "_")));
    }
    o.push_str(",holds_placed,holds_released,holds_lapsed,flags\n");
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for r in v["days"].as_array().into_iter().flatten() {
        let mut row: Vec<String> = [
            "date",
            "zone",
            "retention_min_secs",
            "retention_max_secs",
            "min_age_secs",
            "max_age_secs",
            "samples",
            "status",
        ]
        .iter()
        .map(|k| quote(&cell(&r[*k])))
        .collect();
        for reason in &reasons {
            row.push(r["deleted"][reason].as_i64().unwrap_or(0).to_string());
        }
        for k in ["holds_placed", "holds_released", "holds_lapsed"] {
            row.push(cell(&r[k]));
        }
        let flags: Vec<&str> = r["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        row.push(quote(&flags.join("; ")));
        o.push_str(&row.join(","));
        o.push('\n');
    }
    o
}

fn find_text(v: &Value) -> String {
    let mut o = format!("{:<23}  {:>10}  {:<22}  {}\n", "RECORDED", "SIZE", "HELD BY", "PATH");
    for f in v["files"].as_array().into_iter().flatten() {
        let held: Vec<&str> = f["held_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        o += &format!(
            "{:<23}  {:>10}  {:<22}  {}\n",
            t(&f["time"]),
            Bytes(f["size"].as_u64().unwrap_or(0)).to_string(),
            if held.is_empty() {
                "-".to_string()
            } else {
                held.join(", ")
            },
            path_text(&f["path"])
        );
    }
    o += &format!(
        "{} recordings, {}\n",
        v["count"],
        Bytes(v["bytes"].as_u64().unwrap_or(0))
    );
    o
}

fn audit_text(v: &Value) -> String {
    let mut o = String::new();
    for r in v["records"].as_array().into_iter().flatten() {
        let mut line = format!("#{} {} {}", r["seq"], ts(&r["ts"]), s(&r["action"]));
        if let Some(m) = r.as_object() {
            for (k, x) in m {
                if matches!(k.as_str(), "seq" | "ts" | "action" | "prev" | "file" | "line") {
                    continue;
                }
                let val = match k.as_str() {
                    "path" => path_text(x),
                    _ => match x {
                        Value::String(t) => t.clone(),
                        other => other.to_string(),
                    },
                };
                line += &format!(" {k}={}", if val.contains(' ') { format!("{val:?}") } else { val });
            }
        }
        o += &line;
        o.push('\n');
    }
    o += &format!(
        "{} of {} records matched{}\n",
        v["matched"],
        v["scanned"],
        if v["truncated"] == true {
            format!(
                "; showing the newest {} (raise --limit, at most 1000, or narrow the filters)",
                v["records"].as_array().map_or(0, |r| r.len())
            )
        } else {
            String::new()
        }
    );
    o
}

fn show_text(v: &Value) -> String {
    let mut out = format!(
        "hold {} ({})\n  case:     {}\n  reason:   {}\n  scope:    {}\n  placed:   {} by {} (uid {})\n  expiry:   {}\n  covers:   {}\n",
        v["id"],
        s(&v["state"]),
        s(&v["case"]),
        s(&v["reason"]),
        scope_text(v),
        t(&v["created_at"]),
        s(&v["created_by"]),
        v["created_uid"],
        expiry(v),
        covered(v)
    );
    for e in v["extensions"].as_array().into_iter().flatten() {
        out += &format!(
            "  extended: {} by {}: {} -> {} ({})\n",
            t(&e["at"]),
            s(&e["by"]),
            if e["old"].is_null() {
                "indefinite".into()
            } else {
                t(&e["old"])
            },
            if e["new"].is_null() {
                "indefinite".into()
            } else {
                t(&e["new"])
            },
            s(&e["reason"])
        );
    }
    if let Some(r) = v["released"].as_object() {
        out += &format!("  released: {} by {}: {}\n", t(&r["at"]), s(&r["by"]), s(&r["reason"]));
    }
    out
}

fn list_text(v: &Value) -> String {
    let rows = v.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no holds\n".into();
    }
    let mut out = format!(
        "{:>4}  {:<8}  {:<18}  {:<24}  {:<20}  {}\n",
        "ID", "STATE", "CASE", "EXPIRES", "PLACED BY", "SCOPE"
    );
    for h in rows {
        out += &format!(
            "{:>4}  {:<8}  {:<18}  {:<24}  {:<20}  {}\n",
            h["id"].as_u64().unwrap_or(0),
            s(&h["state"]),
            s(&h["case"]),
            if h["expires"].is_null() {
                "indefinite".into()
            } else {
                t(&h["expires"])
            },
            s(&h["created_by"]),
            scope_text(&h)
        );
    }
    out
}

/// `export`: what was copied where, and the manifest's digest (the
/// client's own summary, `--json`'s fields).
pub fn exported(hold: u64, v: &Value) -> String {
    let mut o = format!(
        "exported {} recordings ({}) of hold {hold} to {}, each verified by re-reading;\nmanifest {}/{} sha256 {} (audit record {})\n",
        v["files"],
        Bytes(v["bytes"].as_u64().unwrap_or(0)),
        s(&v["dest"]),
        s(&v["dest"]),
        crate::ops::export::MANIFEST,
        s(&v["manifest_sha256"]),
        v["audit_seq"]
    );
    for u in v["unreadable"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "not exported (unreadable): {}", s(u));
    }
    o
}

/// The `export-done` record that carries an export's manifest digest.
pub fn export_recorded(r: &Value) -> String {
    format!(
        "recorded in the audit log: record {} at {} by {}",
        r["seq"],
        ts(&r["ts"]),
        s(&r["by"])
    )
}

/// `export verify DIR`: whether the copy still matches its manifest.
pub fn export_check(dir: &std::path::Path, v: &Value) -> String {
    let of = match v["access"].as_u64() {
        Some(seq) => format!(
            "copy of access {seq}{}",
            v["case"].as_str().map(|c| format!(" case {c}")).unwrap_or_default()
        ),
        None => format!("hold {} case {}", v["hold"]["id"], s(&v["hold"]["case"])),
    };
    let mut o = format!(
        "export {}: {} ({} files match; {of}, exported by {} at {}: {})\nmanifest sha256 {}: {}\n",
        dir.display(),
        if v["ok"] == true { "OK" } else { "BROKEN" },
        v["files_ok"],
        s(&v["exported_by"]),
        t(&v["exported_at"]),
        s(&v["reason"]),
        s(&v["manifest_sha256"]),
        s(&v["audit"])
    );
    for p in v["problems"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "  {}", s(p));
    }
    o
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// Show times in UTC instead of the box's local time zone (`--utc`).
static UTC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Times in answers are shown in UTC (`--utc`) instead of the local time
/// zone; both with their offset.
pub fn set_utc(utc: bool) {
    UTC.store(utc, std::sync::atomic::Ordering::Relaxed);
}

/// An RFC 3339 time as people read it, to the minute, with its offset:
/// "2026-11-20 15:00 +01:00" in the local time zone (`TZ`, else
/// /etc/localtime), or "2026-11-20 14:00 +00:00" with `--utc`. Anything
/// that is not a time is shown as it is ("-" for none).
fn t(v: &Value) -> String {
    when(v, "%Y-%m-%d %H:%M %:z")
}

/// [`t`] to the second.
fn ts(v: &Value) -> String {
    when(v, "%Y-%m-%d %H:%M:%S %:z")
}

fn when(v: &Value, fmt: &str) -> String {
    let Some(text) = v.as_str() else {
        return "-".into();
    };
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(d) if UTC.load(std::sync::atomic::Ordering::Relaxed) => {
            d.with_timezone(&chrono::Utc).format(fmt).to_string()
        }
        Ok(d) => d.with_timezone(&chrono::Local).format(fmt).to_string(),
        Err(_) => text.to_string(),
    }
}

/// How many days of footage fit, for people: "4.2 days", "47 days",
/// "> 1 year" (the exact figure is in the JSON).
fn days_fit_text(d: f64) -> String {
    if d < 10.0 {
        format!("{d:.1} days")
    } else if d < 365.0 {
        format!("{d:.0} days")
    } else {
        "> 1 year".into()
    }
}

fn covered(v: &Value) -> String {
    let c = &v["covered"];
    format!(
        "{} recordings ({})",
        c["files"].as_u64().unwrap_or(0),
        Bytes(c["bytes"].as_u64().unwrap_or(0))
    )
}

fn expiry(v: &Value) -> String {
    v["expires"]
        .as_str()
        .map(|_| format!("expires {}", t(&v["expires"])))
        .unwrap_or_else(|| "indefinite".into())
}

fn path_text(v: &Value) -> String {
    audit::path_from_value(v)
        .map(|p| PathBuf::from(p).display().to_string())
        .unwrap_or_default()
}

fn scope_text(v: &Value) -> String {
    format!(
        "{}{} {} .. {}",
        v["zone"]
            .as_str()
            .map(|z| format!("zone {z}"))
            .unwrap_or_else(|| "all zones".into()),
        v["match"]
            .as_str()
            .map(|m| format!(" matching {m}"))
            .unwrap_or_default(),
        t(&v["from"]),
        t(&v["to"])
    )
}

/// A day's least capacity forecast in the report: "1.9d", or "-" when no
/// sample forecast a limit (the footage did not grow, or no samples).
pub(crate) fn forecast_cell(v: &Value) -> String {
    v.as_f64().map(|d| format!("{d:.1}d")).unwrap_or_else(|| "-".into())
}

/// A filesystem's capacity forecast under its row in `status`.
fn forecast_line(f: &Value) -> String {
    if f.is_null() {
        return String::new();
    }
    let inputs = format!(
        "{}/day recorded, {}/day passing the floors; {} past the floors + {} below the high watermark",
        b(&f["recorded_per_day"]),
        b(&f["passing_floor_per_day"]),
        b(&f["past_floor_bytes"]),
        b(&f["room_bytes"])
    );
    match f["days"].as_f64() {
        None => format!("  forecast: floors kept indefinitely (the footage does not grow): {inputs}\n"),
        Some(d) => format!(
            "  forecast: floors kept {d:.1} more days{}: {inputs}\n",
            if f["alarm"].is_string() {
                " (BELOW forecast_alarm)"
            } else {
                ""
            }
        ),
    }
}

fn b(v: &Value) -> String {
    Bytes(v.as_u64().unwrap_or(0)).to_string()
}

/// A JSON count of seconds as an age for a table cell ("27d 23h"), "-" when absent.
pub(crate) fn age_cell(v: &Value) -> String {
    v.as_i64()
        .map(|s| Age::from_secs(s.max(0) as u64).to_string())
        .unwrap_or_else(|| "-".into())
}
