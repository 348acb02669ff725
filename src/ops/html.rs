//! `retentionctl report --format html`: the compliance report as one
//! self-contained page a data-protection officer can open, print or file.
//!
//! Per zone, the retention achieved each day drawn inside the zone's
//! min_age..max_age band and the deletions per day by reason (stacked
//! bars); holds and alarms as spans on one timeline; then the per-day
//! table with its flags, and the alarms, holds, access and cases tables.
//!
//! Invariants: a pure function of the report's JSON (no disk, no clock);
//! the page loads nothing (no scripts, no external CSS, fonts or images:
//! inline CSS and inline SVG only), so it reads the same offline, in an
//! archive and on paper; every text that comes from the report (zone
//! names, case references, reasons, users, alarm texts) is escaped, since
//! users chose it; each chart carries a `<title>` and a `<desc>`, and
//! every figure it draws is also in a table, so nothing depends on colour
//! or on seeing the picture.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::core::plan::Cause;
use crate::core::units::Age;

const DAY: i64 = 86_400;
/// The charts' coordinate width (they scale to the page).
const W: f64 = 960.0;
/// Left margin of the day charts (the y axis labels).
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
/// Left margin of the timeline (the spans' labels).
const LANE_LABELS: f64 = 250.0;

const CSS: &str = "
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif;
  color: #1a1a1a; background: #fff; margin: 0 auto; padding: 1.5rem 2rem 3rem; max-width: 1200px; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #d0d0d0; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
p.lead { margin: .2rem 0 1rem; color: #333; }
nav ul { list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; }
nav a, a { color: #0b4f8a; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; margin: .5rem 0 1rem; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
figure { margin: .5rem 0 1rem; break-inside: avoid; }
figcaption { font-size: .85rem; color: #333; margin-top: .2rem; }
figcaption .key { display: inline-flex; align-items: center; gap: .3rem; margin-right: 1rem; }
svg.chart { display: block; width: 100%; height: auto; }
svg text { font: 12px system-ui, 'DejaVu Sans', sans-serif; fill: #222; }
svg .axis line, svg .axis path { stroke: #555; stroke-width: 1; }
svg .grid line { stroke: #e2e2e2; stroke-width: 1; }
svg .empty-note { fill: #555; font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin: .3rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #c8c8c8; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num, table.days td:first-child { white-space: nowrap; }
tr.flagged td, tr.late td { background: #fde8e8; }
tr.flagged td.status, tr.late td.late { color: #8b0000; font-weight: 700; }
tr.quiet td { color: #555; }
ul.flags { margin: 0; padding-left: 1.1rem; }
.none { color: #555; font-style: italic; }
footer { margin-top: 2rem; font-size: .8rem; color: #444; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10pt; padding: 0; max-width: none; }
  nav { display: none; }
  h2 { break-after: avoid; }
  section.zone, figure, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
";

/// The report's JSON as one HTML page.
pub fn report_html(v: &Value) -> String {
    let since = time(&v["since"]);
    let until = time(&v["until"]);
    let rows: Vec<&Value> = v["days"].as_array().into_iter().flatten().collect();
    let period = Period::new(since, until, &rows);
    let mut zones: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &rows {
        zones.entry(text(&r["zone"]).to_string()).or_default().push(r);
    }
    let alarms: Vec<&Value> = v["alarms"].as_array().into_iter().flatten().collect();
    let holds: Vec<&Value> = v["holds"].as_array().into_iter().flatten().collect();
    let access: Vec<&Value> = v["access"].as_array().into_iter().flatten().collect();
    let cases: Vec<&Value> = v["cases"].as_array().into_iter().flatten().collect();

    let title = format!("Retention report {} to {}", when(&v["since"]), when(&v["until"]));
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header>\n<h1>{t}</h1>\n\
         <p class=\"lead\">What retentiond kept and deleted, proved from its hash-chained audit log \
         (<code>retentionctl report</code>). Days are UTC days; times are UTC.</p>\n",
        t = esc(&title)
    );
    summary(&mut o, &rows, &zones, &alarms, &holds, &cases);
    o.push_str("<nav aria-label=\"Contents\"><ul>");
    for (i, z) in zones.keys().enumerate() {
        let _ = write!(o, "<li><a href=\"#zone-{i}\">Zone {}</a></li>", esc(z));
    }
    o.push_str(
        "<li><a href=\"#timeline\">Holds and alarms</a></li><li><a href=\"#days\">Per day</a></li>\
         <li><a href=\"#alarms\">Alarms</a></li><li><a href=\"#holds\">Holds</a></li>\
         <li><a href=\"#access\">Access</a></li><li><a href=\"#cases\">Cases</a></li></ul></nav>\n</header>\n<main>\n",
    );
    if zones.is_empty() {
        o.push_str("<p class=\"none\">No zone has a sample or a deletion in this period.</p>\n");
    }
    for (i, (zone, zrows)) in zones.iter().enumerate() {
        let _ = write!(
            o,
            "<section class=\"zone\" id=\"zone-{i}\">\n<h2>Zone {}</h2>\n",
            esc(zone)
        );
        o.push_str(&retention_chart(i, zone, zrows, &period));
        o.push_str(&deletions_chart(i, zone, zrows, &period));
        o.push_str("</section>\n");
    }
    o.push_str("<section id=\"timeline\">\n<h2>Holds and alarms</h2>\n");
    o.push_str(&timeline(&holds, &alarms, since, until));
    o.push_str("</section>\n");
    o.push_str(&days_table(&rows));
    o.push_str(&alarms_table(&alarms));
    o.push_str(&holds_table(&holds));
    o.push_str(&access_table(&access));
    o.push_str(&cases_table(&cases));
    o.push_str(
        "</main>\n<footer>A day is <em>within</em> when its oldest recording was never younger than \
         min_age and never older than max_age plus one hour (the sampling and sweep granularity). \
         Retention is sampled hourly by the daemon; deletions count each audited deletion, less those \
         its batch reported changed, vanished or failed.</footer>\n</body>\n</html>\n",
    );
    o
}

/// The days the charts span: from the period's first UTC day to its last.
struct Period {
    first: i64,
    days: i64,
}

impl Period {
    fn new(since: Option<i64>, until: Option<i64>, rows: &[&Value]) -> Period {
        let row_days: Vec<i64> = rows.iter().filter_map(|r| day_number(&r["date"])).collect();
        let first = since
            .map(|s| s.div_euclid(DAY))
            .or_else(|| row_days.iter().min().copied())
            .unwrap_or(0);
        let last = until
            .map(|u| (u - 1).div_euclid(DAY))
            .or_else(|| row_days.iter().max().copied())
            .unwrap_or(first);
        Period {
            first,
            days: (last - first + 1).clamp(1, 3700),
        }
    }

    fn slot(&self) -> f64 {
        (W - LEFT - RIGHT) / self.days as f64
    }

    /// The left edge of day `d`'s slot.
    fn x(&self, d: i64) -> f64 {
        LEFT + (d - self.first) as f64 * self.slot()
    }

    fn contains(&self, d: i64) -> bool {
        d >= self.first && d < self.first + self.days
    }

    /// The x axis: a label every few days, and the frame.
    fn axis(&self, top: f64, bottom: f64) -> String {
        let mut o = String::from("<g class=\"axis x\">");
        let every = (self.days + 11) / 12;
        for k in (0..self.days).step_by(every.max(1) as usize) {
            let d = self.first + k;
            let x = self.x(d) + self.slot() / 2.0;
            let _ = write!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 4.0,
                bottom + 18.0,
                date_label(d)
            );
        }
        let _ = write!(
            o,
            "<path d=\"M{LEFT} {top:.1} V{bottom:.1} H{:.1}\" fill=\"none\"/></g>",
            W - RIGHT
        );
        o
    }
}

/// Horizontal grid lines and labels for a y axis from 0 to `max` (in
/// `unit`s), returning the scale's top value.
fn y_axis(o: &mut String, max: f64, top: f64, bottom: f64, unit: &str) -> f64 {
    // Whole units: days and counts of recordings.
    let step = nice_step(max).max(1.0);
    let top_value = (max / step).ceil().max(1.0) * step;
    o.push_str("<g class=\"grid\">");
    let mut labels = String::from("<g class=\"axis y\">");
    let mut v = 0.0;
    while v <= top_value + step / 2.0 {
        let y = bottom - (bottom - top) * v / top_value;
        let _ = write!(
            o,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>",
            W - RIGHT
        );
        let _ = write!(
            labels,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}{unit}</text>",
            LEFT - 6.0,
            y + 4.0,
            trim_number(v)
        );
        v += step;
    }
    o.push_str("</g>");
    o.push_str(&labels);
    o.push_str("</g>");
    top_value
}

/// A round step giving at most about six grid lines up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 6.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10.0 * mag
}

fn trim_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Per day, the least..greatest age of the zone's oldest recording inside
/// its min_age..max_age band.
fn retention_chart(i: usize, zone: &str, rows: &[&Value], p: &Period) -> String {
    let (h, top, bottom) = (250.0, 14.0, 214.0);
    let secs = |r: &Value, k: &str| r[k].as_i64();
    let mut max_secs = 3600;
    for r in rows {
        for k in ["retention_max_secs", "max_age_secs", "min_age_secs"] {
            max_secs = max_secs.max(secs(r, k).unwrap_or(0));
        }
    }
    let (within, flagged, unsampled) = rows.iter().fold((0, 0, 0), |(w, f, u), r| match text(&r["status"]) {
        "within" => (w + 1, f, u),
        "flagged" => (w, f + 1, u),
        _ => (w, f, u + 1),
    });
    let mut o = String::new();
    let _ = write!(
        o,
        "<figure>\n<svg class=\"chart retention\" data-zone=\"{z}\" viewBox=\"0 0 {W} {h}\" role=\"img\" \
         aria-labelledby=\"ret{i}-t ret{i}-d\">\n<title id=\"ret{i}-t\">Retention achieved per day in zone {z}</title>\n\
         <desc id=\"ret{i}-d\">For each day, the age of the zone's oldest recording (the least and greatest \
         the hourly samples saw) drawn inside the band from min_age to max_age. {within} days within the band, \
         {flagged} flagged, {unsampled} without samples or without recordings. The per-day table below has every value.</desc>\n",
        z = esc(zone)
    );
    let days_max = max_secs as f64 / DAY as f64 * 1.08;
    let top_days = y_axis(&mut o, days_max, top, bottom, "d");
    let y = |s: i64| bottom - (bottom - top) * (s as f64 / DAY as f64) / top_days;
    let slot = p.slot();
    o.push_str("<g class=\"band\">");
    for r in rows {
        let (Some(d), Some(min), Some(max)) =
            (day_number(&r["date"]), secs(r, "min_age_secs"), secs(r, "max_age_secs"))
        else {
            continue;
        };
        if !p.contains(d) {
            continue;
        }
        let (x, y0, y1) = (p.x(d), y(max), y(min));
        let _ = write!(
            o,
            "<rect x=\"{x:.1}\" y=\"{y0:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"#d8ecd8\"/>\
             <line x1=\"{x:.1}\" y1=\"{y0:.1}\" x2=\"{:.1}\" y2=\"{y0:.1}\" stroke=\"#2e7d32\" stroke-width=\"1.5\"/>\
             <line x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{:.1}\" y2=\"{y1:.1}\" stroke=\"#2e7d32\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
            slot + 0.05,
            (y1 - y0).max(0.0),
            x + slot,
            x + slot
        );
    }
    o.push_str("</g>\n<g class=\"retention\">");
    let bar = (slot * 0.5).clamp(1.0, 28.0);
    for r in rows {
        let (Some(d), Some(lo), Some(hi)) = (
            day_number(&r["date"]),
            secs(r, "retention_min_secs"),
            secs(r, "retention_max_secs"),
        ) else {
            continue;
        };
        if !p.contains(d) {
            continue;
        }
        let flagged = text(&r["status"]) == "flagged";
        let (y0, y1) = (y(hi), y(lo));
        let height = (y1 - y0).max(3.0);
        let _ = write!(
            o,
            "<rect class=\"day{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" fill=\"{}\">\
             <title>{}: oldest recording {} to {} old; band {}..{}; {}</title></rect>",
            if flagged { " flagged" } else { "" },
            p.x(d) + (slot - bar) / 2.0,
            (y0 + y1) / 2.0 - height / 2.0,
            if flagged { "#b00020" } else { "#1f4e79" },
            esc(text(&r["date"])),
            age(&r["retention_min_secs"]),
            age(&r["retention_max_secs"]),
            age(&r["min_age_secs"]),
            age(&r["max_age_secs"]),
            esc(text(&r["status"]))
        );
    }
    o.push_str("</g>\n");
    o.push_str(&p.axis(top, bottom));
    o.push_str("\n</svg>\n<figcaption>");
    o.push_str(&key("#d8ecd8", "the band: min_age (dashed) to max_age (solid)"));
    o.push_str(&key(
        "#1f4e79",
        "retention achieved that day (oldest recording, least to greatest)",
    ));
    o.push_str(&key("#b00020", "a flagged day (see the table)"));
    o.push_str("</figcaption>\n</figure>\n");
    o
}

/// The colour of a reason code, the same in every chart.
fn reason_colour(reason: &str, others: &mut Vec<String>) -> &'static str {
    const OTHER: [&str; 3] = ["#7f7f7f", "#8c564b", "#17becf"];
    match reason {
        "max-age" => "#1f77b4",
        "quota" => "#9467bd",
        "quota-override-floor" => "#c2185b",
        "capacity" => "#e07b00",
        "capacity-override-floor" => "#c62828",
        "erasure" => "#2e7d32",
        other => {
            let n = others.iter().position(|o| o == other).unwrap_or_else(|| {
                others.push(other.to_string());
                others.len() - 1
            });
            OTHER[n % OTHER.len()]
        }
    }
}

/// Per day, the recordings deleted, stacked by reason.
fn deletions_chart(i: usize, zone: &str, rows: &[&Value], p: &Period) -> String {
    let (h, top, bottom) = (210.0, 14.0, 174.0);
    let mut reasons: Vec<String> = Cause::CODES.iter().map(|c| c.to_string()).collect();
    for r in rows {
        for (k, n) in r["deleted"].as_object().into_iter().flatten() {
            if n.as_i64().unwrap_or(0) > 0 && !reasons.contains(k) {
                reasons.push(k.clone());
            }
        }
    }
    let count = |r: &Value, reason: &str| r["deleted"][reason].as_i64().unwrap_or(0).max(0);
    let used: Vec<&String> = reasons
        .iter()
        .filter(|reason| rows.iter().any(|r| count(r, reason) > 0))
        .collect();
    let total: i64 = rows.iter().map(|r| used.iter().map(|k| count(r, k)).sum::<i64>()).sum();
    let most = rows
        .iter()
        .map(|r| used.iter().map(|k| count(r, k)).sum::<i64>())
        .max()
        .unwrap_or(0);
    let by_reason: Vec<String> = used
        .iter()
        .map(|k| format!("{} {}", rows.iter().map(|r| count(r, k)).sum::<i64>(), esc(k)))
        .collect();
    let mut o = String::new();
    let _ = write!(
        o,
        "<figure>\n<svg class=\"chart deletions\" data-zone=\"{z}\" viewBox=\"0 0 {W} {h}\" role=\"img\" \
         aria-labelledby=\"del{i}-t del{i}-d\">\n<title id=\"del{i}-t\">Recordings deleted per day in zone {z}, by reason</title>\n\
         <desc id=\"del{i}-d\">Stacked bars, one per day, one colour per reason. {total} recordings deleted in the period{}.</desc>\n",
        if by_reason.is_empty() {
            String::new()
        } else {
            format!(": {}", by_reason.join(", "))
        },
        z = esc(zone)
    );
    let top_value = y_axis(&mut o, (most as f64).max(1.0), top, bottom, "");
    let slot = p.slot();
    let bar = (slot * 0.7).clamp(1.0, 40.0);
    let mut others = Vec::new();
    o.push_str("<g class=\"bars\">");
    for r in rows {
        let Some(d) = day_number(&r["date"]) else { continue };
        if !p.contains(d) {
            continue;
        }
        let mut base = 0i64;
        for k in &used {
            let n = count(r, k);
            if n == 0 {
                continue;
            }
            let y0 = bottom - (bottom - top) * (base + n) as f64 / top_value;
            let y1 = bottom - (bottom - top) * base as f64 / top_value;
            let _ = write!(
                o,
                "<rect class=\"reason\" data-reason=\"{r_}\" x=\"{:.1}\" y=\"{y0:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{}: {n} deleted, {r_}</title></rect>",
                p.x(d) + (slot - bar) / 2.0,
                (y1 - y0).max(0.5),
                reason_colour(k, &mut others),
                esc(text(&r["date"])),
                r_ = esc(k)
            );
            base += n;
        }
    }
    o.push_str("</g>\n");
    if total == 0 {
        let _ = write!(
            o,
            "<text class=\"empty-note\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no recordings deleted in this period</text>",
            (LEFT + W - RIGHT) / 2.0,
            (top + bottom) / 2.0
        );
    }
    o.push_str(&p.axis(top, bottom));
    o.push_str("\n</svg>\n<figcaption class=\"legend\">");
    let mut others = Vec::new();
    for k in &used {
        o.push_str(&key(reason_colour(k, &mut others), k));
    }
    if used.is_empty() {
        o.push_str("No deletions.");
    }
    o.push_str("</figcaption>\n</figure>\n");
    o
}

/// Holds and alarms as spans over the period, one lane each.
fn timeline(holds: &[&Value], alarms: &[&Value], since: Option<i64>, until: Option<i64>) -> String {
    struct Lane {
        class: &'static str,
        label: String,
        about: String,
        start: Option<i64>,
        end: Option<i64>,
    }
    let mut lanes: Vec<Lane> = Vec::new();
    for h in holds {
        // A hold stops protecting at its expiry; its lapse is recorded
        // at the next sweep after.
        let end = [time(&h["released"]), time(&h["lapsed"]), time(&h["expires"])]
            .into_iter()
            .flatten()
            .min();
        lanes.push(Lane {
            class: "hold",
            label: format!("hold {} · {} · {}", h["hold"], text(&h["case"]), zone_of(h)),
            about: format!(
                "hold {} (case {}), {}: placed {}, {}",
                h["hold"],
                text(&h["case"]),
                zone_of(h),
                plain_when(&h["placed"]),
                hold_end(h)
            ),
            start: time(&h["placed"]),
            end,
        });
    }
    for a in alarms {
        lanes.push(Lane {
            class: "alarm",
            label: format!("alarm {} · {}", text(&a["kind"]), text(&a["subject"])),
            about: format!(
                "alarm {} on {}: raised {}, {}: {}",
                text(&a["kind"]),
                text(&a["subject"]),
                plain_when(&a["raised"]),
                match a["cleared"].as_str() {
                    Some(_) => format!("cleared {}", plain_when(&a["cleared"])),
                    None => "still raised".to_string(),
                },
                text(&a["text"])
            ),
            start: time(&a["raised"]),
            end: time(&a["cleared"]),
        });
    }
    let (Some(since), Some(until)) = (since, until) else {
        return "<p class=\"none\">The report has no period to draw.</p>\n".into();
    };
    let span = (until - since).max(1) as f64;
    let (top, lane_h) = (14.0, 26.0);
    let bottom = top + lane_h * lanes.len().max(1) as f64;
    let h = bottom + 40.0;
    let x = |t: i64| LANE_LABELS + (W - RIGHT - LANE_LABELS) * ((t.clamp(since, until) - since) as f64 / span);
    let mut o = String::new();
    let _ = write!(
        o,
        "<figure>\n<svg class=\"chart timeline\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-labelledby=\"tl-t tl-d\">\n\
         <title id=\"tl-t\">Holds and alarms over the period</title>\n\
         <desc id=\"tl-d\">{} holds and {} alarms, each a bar from when it was placed or raised to when it was \
         released, lapsed or cleared (to the end of the period when still in force). The holds and alarms tables \
         below list them.</desc>\n",
        holds.len(),
        alarms.len()
    );
    // Day boundaries, labelled every few days.
    let (first, last) = (since.div_euclid(DAY) + 1, (until - 1).div_euclid(DAY));
    let every = ((last - first + 1) / 12 + 1).max(1);
    o.push_str("<g class=\"grid\">");
    let mut labels = String::from("<g class=\"axis x\">");
    let mut d = first;
    while d <= last {
        let xd = x(d * DAY);
        let _ = write!(
            o,
            "<line x1=\"{xd:.1}\" y1=\"{top:.1}\" x2=\"{xd:.1}\" y2=\"{bottom:.1}\"/>"
        );
        if (d - first) % every == 0 {
            let _ = write!(
                labels,
                "<text x=\"{xd:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 18.0,
                date_label(d)
            );
        }
        d += 1;
    }
    o.push_str("</g>");
    let _ = write!(
        labels,
        "<path d=\"M{LANE_LABELS} {top:.1} V{bottom:.1} H{:.1}\" fill=\"none\"/></g>",
        W - RIGHT
    );
    o.push_str(&labels);
    if lanes.is_empty() {
        let _ = write!(
            o,
            "<text class=\"empty-note\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no holds or alarms in this period</text>",
            (LANE_LABELS + W - RIGHT) / 2.0,
            top + lane_h / 2.0 + 4.0
        );
    }
    for (k, l) in lanes.iter().enumerate() {
        let y = top + lane_h * k as f64 + 5.0;
        let (x0, x1) = (x(l.start.unwrap_or(since)), x(l.end.unwrap_or(until)));
        let open = l.end.is_none_or(|e| e >= until);
        let colour = if l.class == "hold" { "#5b3f8c" } else { "#c0392b" };
        let label: String = if l.label.chars().count() > 36 {
            l.label.chars().take(35).chain(['…']).collect()
        } else {
            l.label.clone()
        };
        let _ = write!(
            o,
            "<g class=\"lane\"><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"span {}{}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"{colour}\">\
             <title>{}</title></rect>",
            LANE_LABELS - 8.0,
            y + 12.0,
            esc(&label),
            l.class,
            if open { " open" } else { "" },
            (x1 - x0).max(3.0),
            lane_h - 10.0,
            esc(&l.about)
        );
        if open {
            // An arrowhead: still in force when the period ends.
            let _ = write!(
                o,
                "<path d=\"M{:.1} {:.1} l7 {:.1} l-7 {:.1} z\" fill=\"{colour}\"/>",
                x1.max(x0 + 3.0),
                y,
                (lane_h - 10.0) / 2.0,
                (lane_h - 10.0) / 2.0
            );
        }
        o.push_str("</g>");
    }
    o.push_str("\n</svg>\n<figcaption>");
    o.push_str(&key("#5b3f8c", "hold in force"));
    o.push_str(&key("#c0392b", "alarm raised"));
    o.push_str("an arrowhead: still in force or raised when the period ends</figcaption>\n</figure>\n");
    o
}

fn summary(
    o: &mut String,
    rows: &[&Value],
    zones: &BTreeMap<String, Vec<&Value>>,
    alarms: &[&Value],
    holds: &[&Value],
    cases: &[&Value],
) {
    let status = |s: &str| rows.iter().filter(|r| text(&r["status"]) == s).count();
    let deleted: i64 = rows
        .iter()
        .flat_map(|r| r["deleted"].as_object().into_iter().flatten())
        .map(|(_, n)| n.as_i64().unwrap_or(0))
        .sum();
    let late = cases.iter().filter(|c| c["late"] == true).count();
    let _ = writeln!(
        o,
        "<dl class=\"summary\"><dt>Zones</dt><dd>{}</dd>\
         <dt>Zone-days</dt><dd>{} within the band, <strong>{} flagged</strong>, {} without recordings or samples</dd>\
         <dt>Recordings deleted</dt><dd>{deleted}</dd><dt>Alarms</dt><dd>{} ({} still raised)</dd>\
         <dt>Holds</dt><dd>{} in force at some time in the period</dd>\
         <dt>Cases</dt><dd>{} ({late} answered late or overdue)</dd></dl>",
        zones.len(),
        status("within"),
        status("flagged"),
        status("empty") + status("no-samples"),
        alarms.len(),
        alarms.iter().filter(|a| a["cleared"].is_null()).count(),
        holds.len(),
        cases.len()
    );
}

fn days_table(rows: &[&Value]) -> String {
    let mut o = String::from(
        "<section id=\"days\">\n<h2>Per zone and day</h2>\n<table class=\"days\">\n\
         <thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Zone</th><th scope=\"col\">Retention, least</th>\
         <th scope=\"col\">Retention, greatest</th><th scope=\"col\">min..max</th><th scope=\"col\">Samples</th>\
         <th scope=\"col\">Status</th><th scope=\"col\">Deleted</th><th scope=\"col\">Holds placed / released / lapsed</th>\
         <th scope=\"col\">Capacity forecast, least</th><th scope=\"col\">Flags</th></tr></thead>\n<tbody>\n",
    );
    if rows.is_empty() {
        o.push_str("<tr><td colspan=\"11\" class=\"none\">No days in this period.</td></tr>\n");
    }
    for r in rows {
        let status = text(&r["status"]);
        let class = match status {
            "flagged" => " class=\"flagged\"",
            "within" => "",
            _ => " class=\"quiet\"",
        };
        let deleted: Vec<String> = r["deleted"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_i64().unwrap_or(0) != 0)
            .map(|(k, n)| format!("{} {}", esc(k), n))
            .collect();
        let flags: Vec<String> = r["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| format!("<li>{}</li>", esc(text(f))))
            .collect();
        let _ = writeln!(
            o,
            "<tr{class}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}..{}</td>\
             <td class=\"num\">{}</td><td class=\"status\">{}{}</td><td>{}</td><td class=\"num\">{} / {} / {}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(text(&r["date"])),
            esc(text(&r["zone"])),
            age(&r["retention_min_secs"]),
            age(&r["retention_max_secs"]),
            age(&r["min_age_secs"]),
            age(&r["max_age_secs"]),
            num(&r["samples"]),
            if status == "flagged" { "⚠ " } else { "" },
            esc(status),
            if deleted.is_empty() {
                "-".to_string()
            } else {
                deleted.join(", ")
            },
            num(&r["holds_placed"]),
            num(&r["holds_released"]),
            num(&r["holds_lapsed"]),
            esc(&crate::ops::render::forecast_cell(&r["forecast_min_days"])),
            if flags.is_empty() {
                String::new()
            } else {
                format!("<ul class=\"flags\">{}</ul>", flags.concat())
            }
        );
    }
    o.push_str("</tbody>\n</table>\n</section>\n");
    o
}

fn alarms_table(alarms: &[&Value]) -> String {
    let mut o = String::from("<section id=\"alarms\">\n<h2>Alarms</h2>\n");
    if alarms.is_empty() {
        o.push_str("<p class=\"none\">No alarm was raised in this period.</p>\n</section>\n");
        return o;
    }
    o.push_str(
        "<table class=\"alarms\">\n<thead><tr><th scope=\"col\">Alarm</th><th scope=\"col\">Subject</th>\
         <th scope=\"col\">Raised</th><th scope=\"col\">Cleared</th><th scope=\"col\">Lasted</th><th scope=\"col\">Text</th></tr></thead>\n<tbody>\n",
    );
    for a in alarms {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(text(&a["kind"])),
            esc(text(&a["subject"])),
            when(&a["raised"]),
            if a["cleared"].is_null() {
                "<strong>still raised</strong>".to_string()
            } else {
                when(&a["cleared"])
            },
            age(&a["duration_secs"]),
            esc(text(&a["text"]))
        );
    }
    o.push_str("</tbody>\n</table>\n</section>\n");
    o
}

fn holds_table(holds: &[&Value]) -> String {
    let mut o = String::from("<section id=\"holds\">\n<h2>Holds</h2>\n");
    if holds.is_empty() {
        o.push_str("<p class=\"none\">No hold was in force in this period.</p>\n</section>\n");
        return o;
    }
    o.push_str(
        "<table class=\"holds\">\n<thead><tr><th scope=\"col\">Hold</th><th scope=\"col\">Case</th>\
         <th scope=\"col\">Zone</th><th scope=\"col\">Placed</th><th scope=\"col\">Ended, or expires</th></tr></thead>\n<tbody>\n",
    );
    for h in holds {
        let _ = writeln!(
            o,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            num(&h["hold"]),
            esc(text(&h["case"])),
            esc(&zone_of(h)),
            if h["placed"].is_null() {
                "before the audit log".to_string()
            } else {
                when(&h["placed"])
            },
            esc(&hold_end(h))
        );
    }
    o.push_str("</tbody>\n</table>\n</section>\n");
    o
}

fn access_table(access: &[&Value]) -> String {
    let mut o = String::from("<section id=\"access\">\n<h2>Access to recordings</h2>\n");
    if access.is_empty() {
        o.push_str("<p class=\"none\">Nobody played, copied, found, exported or erased recordings in this period.</p>\n</section>\n");
        return o;
    }
    o.push_str(
        "<table class=\"access\">\n<thead><tr><th scope=\"col\">User</th><th scope=\"col\">Files played</th>\
         <th scope=\"col\">Files copied</th><th scope=\"col\">Copied to</th><th scope=\"col\">Finds</th>\
         <th scope=\"col\">Exports (files)</th><th scope=\"col\">Erasures</th></tr></thead>\n<tbody>\n",
    );
    for a in access {
        let saved: Vec<String> = a["saved_to"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| esc(text(d)))
            .collect();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} ({})</td><td class=\"num\">{}</td></tr>",
            esc(text(&a["user"])),
            num(&a["played_files"]),
            num(&a["copied_files"]),
            if saved.is_empty() {
                "-".to_string()
            } else {
                saved.join("<br>")
            },
            num(&a["finds"]),
            num(&a["exports"]),
            num(&a["exported_files"]),
            num(&a["erasures"])
        );
    }
    o.push_str("</tbody>\n</table>\n</section>\n");
    o
}

fn cases_table(cases: &[&Value]) -> String {
    let mut o = String::from("<section id=\"cases\">\n<h2>Cases</h2>\n");
    if cases.is_empty() {
        o.push_str("<p class=\"none\">No case was open in this period.</p>\n</section>\n");
        return o;
    }
    o.push_str(
        "<table class=\"cases\">\n<thead><tr><th scope=\"col\">Case</th><th scope=\"col\">Kind</th>\
         <th scope=\"col\">Requested by</th><th scope=\"col\">Opened</th><th scope=\"col\">Due</th>\
         <th scope=\"col\">Closed</th><th scope=\"col\">Outcome</th><th scope=\"col\">Disclosed to</th>\
         <th scope=\"col\">On time</th></tr></thead>\n<tbody>\n",
    );
    for c in cases {
        let late = c["late"] == true;
        let _ = writeln!(
            o,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"late\">{}</td></tr>",
            if late { " class=\"late\"" } else { "" },
            esc(text(&c["reference"])),
            esc(text(&c["kind"])),
            esc(text(&c["requested_by"])),
            when(&c["opened"]),
            when(&c["due"]),
            if c["closed"].is_null() {
                "open".to_string()
            } else {
                when(&c["closed"])
            },
            esc(text(&c["outcome"])),
            esc(text(&c["disclosed_to"])),
            if late { "⚠ late" } else { "yes" }
        );
    }
    o.push_str("</tbody>\n</table>\n</section>\n");
    o
}

/// A colour swatch and its meaning, for a figure's caption.
fn key(colour: &str, what: &str) -> String {
    format!(
        "<span class=\"key\"><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{colour}\"/></svg>{}</span>",
        esc(what)
    )
}

fn zone_of(h: &Value) -> String {
    h["zone"]
        .as_str()
        .map_or("all zones".to_string(), |z| format!("zone {z}"))
}

/// How a hold ended, or when it lapses (times in UTC, unescaped).
fn hold_end(h: &Value) -> String {
    if !h["released"].is_null() {
        format!("released {}", plain_when(&h["released"]))
    } else if !h["lapsed"].is_null() {
        format!("lapsed {}", plain_when(&h["lapsed"]))
    } else if !h["expires"].is_null() {
        format!("in force, expires {}", plain_when(&h["expires"]))
    } else {
        "in force, indefinite".to_string()
    }
}

/// Escapes text for HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Control characters have no place in a report.
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn num(v: &Value) -> String {
    v.as_i64()
        .or(v.as_u64().map(|n| n as i64))
        .map_or("-".into(), |n| n.to_string())
}

fn age(v: &Value) -> String {
    v.as_i64()
        .map_or("-".into(), |s| Age::from_secs(s.max(0) as u64).to_string())
}

fn time(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|d| d.timestamp())
}

/// An RFC 3339 time as "2026-11-20 14:03 UTC", not escaped.
fn plain_when(v: &Value) -> String {
    match time(v).and_then(|t| chrono::DateTime::from_timestamp(t, 0)) {
        Some(d) => d.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => v.as_str().unwrap_or("-").to_string(),
    }
}

/// [`plain_when`], escaped.
fn when(v: &Value) -> String {
    esc(&plain_when(v))
}

fn day_number(v: &Value) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(v.as_str()?, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp().div_euclid(DAY))
}

fn date_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * DAY, 0).map_or(String::new(), |d| d.format("%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "since": "2026-11-01T00:00:00Z",
            "until": "2026-11-04T00:00:00Z",
            "days": [
                {"date": "2026-11-01", "zone": "cctv", "retention_min_secs": 27*DAY, "retention_max_secs": 28*DAY,
                 "min_age_secs": 14*DAY, "max_age_secs": 28*DAY, "samples": 24, "status": "within", "flags": [],
                 "deleted": {"max-age": 144}, "holds_placed": 1, "holds_released": 0, "holds_lapsed": 0},
                {"date": "2026-11-02", "zone": "cctv", "retention_min_secs": 28*DAY, "retention_max_secs": 30*DAY,
                 "min_age_secs": 14*DAY, "max_age_secs": 28*DAY, "samples": 24, "status": "flagged",
                 "flags": ["kept past max_age: <b>"], "deleted": {"max-age": 100, "capacity": 7},
                 "holds_placed": 0, "holds_released": 0, "holds_lapsed": 0},
                {"date": "2026-11-01", "zone": "calls <x>", "retention_min_secs": null, "retention_max_secs": null,
                 "min_age_secs": 60*DAY, "max_age_secs": 60*DAY, "samples": 2, "status": "empty", "flags": [],
                 "deleted": {}, "holds_placed": 0, "holds_released": 0, "holds_lapsed": 0}
            ],
            "alarms": [{"kind": "root-unavailable", "subject": "calls", "text": "gone & <missing>",
                        "raised": "2026-11-01T00:10:00Z", "cleared": "2026-11-02T12:00:00Z", "duration_secs": 129000}],
            "holds": [{"hold": 3, "case": "<script>alert(1)</script>", "zone": "cctv", "placed": "2026-11-01T09:00:00Z",
                       "expires": null, "released": null, "lapsed": null}],
            "access": [{"user": "eve\"", "played_files": 2, "copied_files": 0, "saved_to": [], "finds": 1,
                        "exports": 0, "exported_files": 0, "erasures": 0}],
            "cases": [{"reference": "DSR-1 & co", "kind": "access", "requested_by": "J. <Doe>",
                       "opened": "2026-11-01T10:00:00Z", "due": "2026-11-02T10:00:00Z", "closed": null,
                       "outcome": null, "disclosed_to": null, "late": true}]
        })
    }

    #[test]
    fn every_text_from_users_is_escaped() {
        let html = report_html(&report());
        for raw in ["<script>", "<b>", "<x>", "<missing>", "J. <Doe>", "eve\"", "DSR-1 & co"] {
            assert!(!html.contains(raw), "{raw} appears unescaped");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("DSR-1 &amp; co"));
        assert!(!html.contains("<script"), "the page has no script at all");
        assert_eq!(esc("a\u{7}b'"), "a\u{fffd}b&#39;");
    }

    #[test]
    fn one_retention_and_one_deletions_chart_per_zone_and_a_timeline() {
        let html = report_html(&report());
        assert_eq!(html.matches("<svg class=\"chart retention\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"chart deletions\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"chart timeline\"").count(), 1);
        assert_eq!(html.matches("class=\"span hold open\"").count(), 1);
        assert_eq!(html.matches("class=\"span alarm\"").count(), 1);
        assert_eq!(html.matches("class=\"day flagged\"").count(), 1);
        assert_eq!(html.matches("<tr class=\"flagged\">").count(), 1);
        assert_eq!(html.matches("<tr class=\"late\">").count(), 1);
        // Every chart has its text alternative.
        assert_eq!(html.matches("<title id=").count(), 5);
        assert_eq!(html.matches("<desc id=").count(), 5);
        assert!(html.contains("data-reason=\"capacity\""));
        // Self-contained: nothing fetched.
        for pat in ["http:", "https:", " src=", "url(", "@import"] {
            assert!(!html.contains(pat), "{pat}");
        }
    }

    #[test]
    fn an_empty_report_is_a_page_too() {
        let html = report_html(
            &json!({"since": "2026-11-01T00:00:00Z", "until": "2026-11-01T00:00:01Z",
            "days": [], "alarms": [], "holds": [], "access": [], "cases": []}),
        );
        assert!(html.contains("No zone has a sample"));
        assert!(html.contains("no holds or alarms in this period"));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn grid_steps_are_round() {
        assert_eq!(nice_step(30.0), 5.0);
        assert_eq!(nice_step(65.0), 20.0);
        assert!((nice_step(1.0) - 0.2).abs() < 1e-9);
        assert_eq!(nice_step(1000.0), 200.0);
    }
}
