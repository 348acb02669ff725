//! `retentionctl explain PATH`: why a recording is still here, or when it
//! will go, or, for a path that is gone, the audit record that removed it.
//!
//! The file is looked up the way a sweep sees it (fd-relative from its zone
//! root, no symlink followed, the zone's include globs and time pattern), so
//! the answer is the one the daemon acts on. "Next sweep" is a dry run of
//! the full plan (the same code path as `retentionctl plan`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::query;
use crate::audit::schema::Action;
use crate::core::inventory::Inventory;
use crate::core::policy::{Policy, Zone};
use crate::core::units::{Bytes, Timestamp};
use crate::fs::handle::DirHandle;
use crate::fs::scan;
use crate::ops::OpError;
use crate::state::holdstore::HoldStore;
use crate::sweep::execute::Decided;

/// Explains `path` (absolute) under `policy`.
pub fn explain(
    policy: &Policy,
    store: &HoldStore,
    inv: Option<&Inventory>,
    path: &Path,
    now: Timestamp,
) -> Result<Value, OpError> {
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(OpError::BadRequest(format!(
            "path: {} must be absolute, without . or .. components",
            path.display()
        )));
    }
    let Some((zone, root)) = policy
        .zones
        .iter()
        .flat_map(|z| z.roots.iter().map(move |r| (z, r)))
        .find(|(_, r)| path.starts_with(r) && path != r.as_path())
    else {
        let roots: Vec<String> = policy
            .zones
            .iter()
            .flat_map(|z| z.roots.iter().map(|r| r.display().to_string()))
            .collect();
        return Err(OpError::BadRequest(format!(
            "path: {} is in no zone (roots: {}); retentiond never deletes it",
            path.display(),
            roots.join(", ")
        )));
    };
    let rel = path
        .strip_prefix(root)
        .expect("checked")
        .as_os_str()
        .as_bytes()
        .to_vec();
    // A file inside a directory unit is explained as its unit.
    let (unit_rel, parent, name) = crate::ops::open::unit_location(zone, &rel);
    let mut base = json!({"path": path.display().to_string(), "zone": zone.name.0, "root": root.display().to_string()});
    match lookup(zone, root, &parent, &name) {
        Lookup::Recording {
            size,
            time,
            mtime,
            unit,
        } => {
            let rel = match unit {
                Some(key) if parent.is_empty() => key,
                Some(key) => [&parent[..], b"/", &key[..]].concat(),
                None => unit_rel.clone(),
            };
            let v = present(policy, store, inv, zone, path, &rel, size, time, mtime, now)?;
            merge(&mut base, v);
        }
        Lookup::NotARecording(why) => {
            base["state"] = "not-a-recording".into();
            base["explanation"] = json!([format!(
                "{} exists but is not a recording of zone {}: {why}; retentiond never deletes it",
                path.display(),
                zone.name
            )]);
        }
        Lookup::Unreachable(why) => {
            base["state"] = "unreachable".into();
            base["explanation"] = json!([format!("{} cannot be reached from the zone root without following a symlink or leaving its filesystem ({why}); retentiond never deletes it", path.display())]);
        }
        Lookup::Missing => {
            let recs = query::about_path(&policy.daemon.audit_log, path).map_err(OpError::Failed)?;
            let mut lines = Vec::new();
            for r in recs.iter().filter(|r| r["action"] == Action::Delete) {
                lines.push(format!(
                    "deleted: record {} at {}: reason {}: {}{}",
                    r["seq"],
                    r["ts"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or(""),
                    r["text"].as_str().unwrap_or(""),
                    r["policy"]
                        .as_str()
                        .map(|p| format!(" (policy {})", &p[..p.len().min(12)]))
                        .unwrap_or_default()
                ));
            }
            if lines.is_empty() {
                lines.push(format!(
                    "{} does not exist, and no audit record names it: retentiond did not delete it",
                    path.display()
                ));
            }
            base["state"] = if recs.iter().any(|r| r["action"] == Action::Delete) {
                "deleted"
            } else {
                "absent"
            }
            .into();
            base["records"] = recs.into();
            base["explanation"] = lines.into();
        }
    }
    Ok(base)
}

fn merge(base: &mut Value, v: Value) {
    if let (Value::Object(b), Value::Object(x)) = (base, v) {
        b.extend(x);
    }
}

enum Lookup {
    Recording {
        size: u64,
        time: Timestamp,
        mtime: i64,
        /// The group key, when the path is one member of a group unit.
        unit: Option<Vec<u8>>,
    },
    NotARecording(String),
    Unreachable(String),
    Missing,
}

fn lookup(zone: &Zone, root: &Path, parent: &[u8], name: &[u8]) -> Lookup {
    let dir = match DirHandle::open_root(root).and_then(|h| h.open_rel(parent)) {
        Ok(d) => d,
        Err(crate::fs::handle::OpenError::Gone) => return Lookup::Missing,
        Err(crate::fs::handle::OpenError::Io(nix::errno::Errno::ENOENT)) => return Lookup::Missing,
        Err(e) => return Lookup::Unreachable(e.to_string()),
    };
    let mut found = None;
    let mut stats = Default::default();
    let _ = scan::read_dir(
        &dir,
        parent,
        zone,
        &mut stats,
        |n, st, t, members| {
            if n.as_bytes() == name {
                found = Some((st, t, None));
            } else if members.iter().any(|m| m.rel.as_bytes() == name) {
                found = Some((st, t, Some(n.as_bytes().to_vec())));
            }
        },
        |_, _| {},
    );
    if let Some((st, time, unit)) = found {
        return Lookup::Recording {
            size: st.size,
            time,
            mtime: st.mtime,
            unit,
        };
    }
    match dir.stat(OsStr::from_bytes(name)) {
        Err(_) => Lookup::Missing,
        Ok(st) if st.kind != crate::core::inventory::Kind::File => Lookup::NotARecording("not a regular file".into()),
        Ok(_) => Lookup::NotARecording("its name does not match the zone's include globs or time pattern".into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn present(
    policy: &Policy,
    store: &HoldStore,
    inv: Option<&Inventory>,
    zone: &Zone,
    path: &Path,
    rel: &[u8],
    size: u64,
    time: Timestamp,
    mtime: i64,
    now: Timestamp,
) -> Result<Value, OpError> {
    let (holds, _) = store.read()?;
    let age = time.age_at(now);
    let mut lines = vec![format!("recorded {} UTC, age {age}, {}", time.short(), Bytes(size))];
    let held: Vec<String> = holds
        .active(now)
        .filter(|h| h.covers(&zone.name, rel, time))
        .map(|h| {
            format!(
                "{}: {}{}",
                h.label(),
                h.reason,
                h.expires
                    .map(|e| format!(", until {}", e.short()))
                    .unwrap_or_else(|| ", indefinitely".into())
            )
        })
        .collect();
    let floor_at = time.plus(zone.min_age);
    let ceiling_at = time.plus(zone.max_age);
    if age < zone.min_age {
        lines.push(format!(
            "younger than the floor (min_age {}) until {} UTC: not deleted for space{}",
            zone.min_age,
            floor_at.short(),
            if zone.when_full.as_str() == "override-floor" {
                " unless the disk stays full (when_full = override-floor)"
            } else {
                ""
            }
        ));
    } else if age <= zone.max_age {
        lines.push(format!(
            "past the floor (min_age {}), before the ceiling (max_age {}): deleted only when its filesystem is above its high watermark, oldest first",
            zone.min_age, zone.max_age
        ));
    } else {
        lines.push(format!(
            "older than the ceiling (max_age {}) since {} UTC",
            zone.max_age,
            ceiling_at.short()
        ));
    }
    for h in &held {
        lines.push(format!("held by {h}: never deleted while the hold is in force"));
    }
    if held.is_empty() && age <= zone.max_age {
        lines.push(format!(
            "goes by max_age at {} UTC, unless held or deleted for space before",
            ceiling_at.short()
        ));
    }
    if mtime > now.0 - policy.daemon.settle_time.secs() {
        lines.push(format!(
            "modified within settle_time ({}): treated as still being written",
            policy.daemon.settle_time
        ));
    }
    // The capacity queue: recordings of the same filesystem recorded earlier.
    let mut older = (0u64, 0u64);
    if let Some(inv) = inv {
        let dev = inv
            .zones
            .iter()
            .flat_map(|z| &z.roots)
            .find(|r| path.starts_with(&r.path))
            .and_then(|r| r.dev);
        for zinv in &inv.zones {
            for r in zinv.roots.iter().filter(|r| r.dev.is_some() && r.dev == dev) {
                for d in r.dirs.iter().filter(|d| d.files > 0 && d.newest < time) {
                    older.0 += u64::from(d.files);
                    older.1 += d.bytes;
                }
            }
        }
        lines.push(format!(
            "capacity queue: {} recordings ({}) on its filesystem were recorded before it and go first",
            older.0,
            Bytes(older.1)
        ));
    }
    // The same pipeline as the sweep, deletion switched off: what it
    // refuses, this says so too.
    // Only this file's decision is kept, whatever the plan's length.
    let mine: Mutex<Option<Decided>> = Mutex::new(None);
    let note = |d: Decided| {
        if d.path == path {
            *mine.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
        }
    };
    let (next, refused) = match crate::sweep::dry_plan(policy, store, inv, now, Some(&note)) {
        Ok(o) => {
            let skipped = o
                .root_errors
                .iter()
                .find(|e| {
                    zone.roots
                        .iter()
                        .any(|r| path.starts_with(r) && e.contains(&*r.display().to_string()))
                })
                .cloned();
            (Some(o), skipped.map(|e| format!("refused, its root is skipped: {e}")))
        }
        Err(e) => match crate::ops::plan::refusal(e) {
            OpError::Refused(r) => (None, Some(r)),
            other => return Err(other),
        },
    };
    let mine = mine.into_inner().unwrap_or_else(|p| p.into_inner());
    let decided = mine.as_ref().filter(|_| next.is_some() && refused.is_none());
    match (&refused, decided) {
        (Some(r), _) => lines.push(r.clone()),
        (None, Some(d)) => lines.push(format!("the next sweep deletes it: [{}] {}", d.code, d.text)),
        (None, None) => lines.push("the next sweep keeps it".into()),
    }
    Ok(json!({
        "state": if refused.is_some() { "refused" } else if decided.is_some() { "due" } else if held.is_empty() { "kept" } else { "held" },
        "refused": refused,
        "time": time.rfc3339(),
        "age": age.to_string(),
        "size": size,
        "min_age": zone.min_age.to_string(),
        "max_age": zone.max_age.to_string(),
        "held_by": held,
        "older_on_filesystem": {"files": older.0, "bytes": older.1},
        "next_sweep": decided.map(|d| json!({"reason": d.code, "text": d.text})),
        "explanation": lines,
    }))
}
