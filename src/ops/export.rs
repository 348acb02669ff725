//! Export of a hold's recordings to separate media, with a chain of custody.
//!
//! The daemon decides and records; the caller's `retentionctl` copies:
//! 1. `export-open` (supervisors): the daemon lists the recordings the hold
//!    covers, opens each one fd-relative from its zone root (no symlink
//!    followed, still the scanned file), writes a durable `export` record
//!    (who, hold, case, destination, reason, count, bytes), and passes the
//!    open files over the control socket (`SCM_RIGHTS`). The caller needs no
//!    read access to the recordings, and reads exactly the files the daemon
//!    chose.
//! 2. `retentionctl` copies each into the destination (relative paths
//!    `zone/…` and modification times kept, never overwriting), hashing
//!    (SHA-256) as it reads, fsyncs, drops the copies from the page cache,
//!    re-reads them from the medium and compares the hashes.
//! 3. It writes `MANIFEST.json` (each file with its SHA-256, the hold, who
//!    exported it, when and why) and `MANIFEST.json.sha256` (its digest, in
//!    `sha256sum` format), and sends `export-done`: the daemon records the
//!    manifest's digest in the audit log, tying the copy to the chain.
//!
//! `retentionctl export verify DIR` re-hashes a handed-over copy against its
//! manifest, checks the manifest against its digest, and (if the daemon is
//! reachable) finds the `export-done` record carrying that digest.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::audit::schema;
use crate::audit::{path_from_value, path_value, AuditLog};
use crate::control::{DoneRequest, OpenRequest};
use crate::core::inventory::{FileStat, Member};
use crate::core::layout::Unit;
use crate::core::policy::Policy;
use crate::core::units::{Bytes, Timestamp};
use crate::fs::scan;
use crate::ops::auth::Caller;
use crate::ops::hold::text_field;
use crate::ops::record_durably;
use crate::ops::OpError;
use crate::state::holdstore::HoldStore;

/// The manifest's file name in the export directory.
pub const MANIFEST: &str = "MANIFEST.json";
/// The manifest digest's file name (`sha256sum -c` reads it).
pub const MANIFEST_DIGEST: &str = "MANIFEST.json.sha256";
/// The manifest format.
pub const FORMAT: &str = "retentiond-export/1";

/// Daemon side of `export-open`: the listing (JSON) and the open files, in
/// the listing's order (entries with an `error` have no file).
pub fn open(
    policy: &Policy,
    store: &HoldStore,
    audit: &Mutex<AuditLog>,
    kept: Option<&crate::core::inventory::Inventory>,
    caller: &Caller,
    req: &OpenRequest,
    now: Timestamp,
) -> Result<(Value, Vec<OwnedFd>), OpError> {
    text_field("reason", &req.reason, true)?;
    text_field("dest", &req.dest, true)?;
    let (holds, _) = store.read()?;
    let hold = holds
        .holds
        .iter()
        .find(|h| h.id.0 == req.hold)
        .ok_or(OpError::NotFound(req.hold))?;
    // From the kept inventory's directories when it may tell which hold
    // the recordings (crate::ops::access::kept_for) and each of them still
    // reads; else from a walk of the hold's zones.
    let zones: Vec<&crate::core::policy::Zone> = match &hold.zone {
        Some(z) => policy.zone(&z.0).into_iter().collect(),
        None => policy.zones.iter().collect(),
    };
    let handed = match crate::ops::access::kept_for_zones(kept, policy, &zones, hold.to, now) {
        Some(inv) => Some(hand_out(inv, policy, hold)).filter(|h| h.skipped == 0),
        None => None,
    };
    let Handed {
        listing,
        fds,
        bytes,
        errors,
        ..
    } = match handed {
        Some(h) => h,
        None => hand_out(&scan::scan_for(policy, hold.zone.as_ref()), policy, hold),
    };
    let rec = schema::Export {
        hold: hold.id.0,
        case: hold.case.clone(),
        dest: req.dest.clone(),
        reason: req.reason.clone(),
        by: caller.user.clone(),
        uid: caller.uid,
        files: fds.len() as u64,
        bytes,
        unreadable: errors,
    };
    record_durably(audit, &rec, "cannot write the audit log, nothing exported")?;
    log::info!(
        retention_event = "export", retention_hold = hold.id.0, retention_case = hold.case.as_str(), retention_user = caller.user.as_str();
        "export of {} by {} to {}: {} recordings ({})", hold.label(), caller.user, req.dest, fds.len(), Bytes(bytes)
    );
    let hold_view = json!({
        "id": hold.id.0, "case": hold.case, "reason": hold.reason,
        "zone": hold.zone.as_ref().map(|z| z.0.clone()), "match": hold.glob,
        "from": hold.from.rfc3339(), "to": hold.to.rfc3339(),
        "created_by": hold.created_by, "created_at": hold.created_at.rfc3339(),
    });
    Ok((
        json!({"hold": hold_view, "files": listing, "at": now.rfc3339(), "by": caller.user, "uid": caller.uid}),
        fds,
    ))
}

/// What an export hands out: the listing, the open files, their bytes,
/// the files that could not be opened, and the directories that could not
/// be read.
struct Handed {
    listing: Vec<Value>,
    fds: Vec<OwnedFd>,
    bytes: u64,
    errors: u64,
    skipped: u64,
}

/// Opens every recording `hold` covers in `inv` (each unit whole, read
/// afresh) for export.
fn hand_out(inv: &crate::core::inventory::Inventory, policy: &Policy, hold: &crate::core::holds::Hold) -> Handed {
    let mut listing = Vec::new();
    let mut fds = Vec::new();
    let (mut bytes, mut errors) = (0u64, 0u64);
    let skipped = scan::for_each_covered(inv, policy, hold, |d, zone, covered| {
        let Ok(dir) = scan::open_dir(inv, d) else { return };
        // A unit goes whole: its files, read afresh.
        let mut units: HashMap<OsString, Vec<Member>> = HashMap::new();
        if !matches!(zone.unit, Unit::File) {
            let rel = inv.root(d).rel_path(d.dir);
            let _ = scan::read_dir(
                &dir,
                &rel,
                zone,
                &mut Default::default(),
                |n, _, _, ms| {
                    units.insert(n.to_os_string(), ms.to_vec());
                },
                |_, _| {},
            );
        }
        for (f, rel) in covered {
            let files: Vec<Exported> = match units.get(&f.name) {
                None => vec![(rel, inv.file_path(d, &f.name), f.stat, dir.open_file(&f.name, &f.stat))],
                Some(members) => unit_files(
                    &dir,
                    &inv.root(d).path,
                    &inv.root(d).rel_path(d.dir),
                    zone,
                    &f.name,
                    f.stat.ino,
                    members,
                ),
            };
            for (rel, source, stat, opened) in files {
                let mut item = json!({
                    "zone": zone.name.0,
                    "rel": path_value(std::ffi::OsStr::from_bytes(&rel)),
                    "source": path_value(source.as_os_str()),
                    "time": f.time.rfc3339(),
                    "mtime": stat.mtime,
                    "mtime_nsec": stat.mtime_nsec,
                    "size": stat.size,
                });
                match opened {
                    Ok(fd) => {
                        bytes += stat.size;
                        fds.push(fd);
                    }
                    Err(e) => {
                        errors += 1;
                        item["error"] = e.desc().into();
                    }
                }
                listing.push(item);
            }
        }
    });
    Handed {
        listing,
        fds,
        bytes,
        errors,
        skipped,
    }
}

/// One file handed out: its path below the root, absolute path, stat, and
/// descriptor (or why it could not be opened).
pub(crate) type Exported = (Vec<u8>, PathBuf, FileStat, Result<OwnedFd, Errno>);

/// The files of unit `name` (inode `ino`) in directory `dir` (path
/// `dir_rel` below `root`), to hand out: each member's path below the
/// root, absolute path, stat and open descriptor (checked to be the file
/// that was read).
pub(crate) fn unit_files(
    dir: &crate::fs::handle::DirHandle,
    root: &Path,
    dir_rel: &[u8],
    zone: &crate::core::policy::Zone,
    name: &std::ffi::OsStr,
    ino: u64,
    members: &[Member],
) -> Vec<Exported> {
    let dir_unit = matches!(zone.unit, Unit::Dir { .. });
    // Members are relative to the unit's directory, or to the group's.
    let base_rel: Vec<u8> = if dir_unit {
        let mut r = dir_rel.to_vec();
        if !r.is_empty() {
            r.push(b'/');
        }
        r.extend_from_slice(name.as_bytes());
        r
    } else {
        dir_rel.to_vec()
    };
    let own = if dir_unit {
        match dir.open_sub(name) {
            Ok(h) if h.ino == ino => Some(h),
            _ => None,
        }
    } else {
        None
    };
    members
        .iter()
        .map(|m| {
            let mb = m.rel.as_bytes();
            let mut mrel = base_rel.clone();
            if !mrel.is_empty() {
                mrel.push(b'/');
            }
            mrel.extend_from_slice(mb);
            let source = crate::core::inventory::join_rel(root, &mrel);
            let (parent, name) = match mb.iter().rposition(|b| *b == b'/') {
                Some(k) => (&mb[..k], &mb[k + 1..]),
                None => (&b""[..], mb),
            };
            let opened = match (dir_unit, &own) {
                (true, None) => Err(Errno::ESTALE),
                (true, Some(h)) => h
                    .open_rel(parent)
                    .map_err(|_| Errno::ESTALE)
                    .and_then(|p| p.open_file(std::ffi::OsStr::from_bytes(name), &m.stat)),
                (false, _) => dir.open_file(std::ffi::OsStr::from_bytes(name), &m.stat),
            };
            (mrel, source, m.stat, opened)
        })
        .collect()
}

/// Daemon side of `export-done`: records the manifest's digest.
pub fn done(audit: &Mutex<AuditLog>, caller: &Caller, req: &DoneRequest) -> Result<Value, OpError> {
    if req.manifest_sha256.len() != 64 || !req.manifest_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpError::BadRequest("manifest_sha256: not a SHA-256 in hex".into()));
    }
    text_field("dest", &req.dest, true)?;
    let rec = schema::ExportDone {
        hold: req.hold,
        dest: req.dest.clone(),
        manifest_sha256: req.manifest_sha256.clone(),
        files: req.files,
        bytes: req.bytes,
        by: caller.user.clone(),
        uid: caller.uid,
    };
    let seq = record_durably(audit, &rec, "cannot write the audit log")?;
    Ok(json!({"seq": seq}))
}

/// A relative path from a manifest or listing, refused if it could leave
/// the export directory.
fn safe_rel(rel: &Path) -> Result<&Path, String> {
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("unsafe path {:?} in the listing", rel));
    }
    Ok(rel)
}

/// Reads `r` to its end, hashing (SHA-256) and writing what it reads to
/// `copy`: the digest in hex and the bytes read.
pub(crate) fn hash_reader(mut r: impl Read, mut copy: Option<&mut dyn Write>) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        if let Some(f) = copy.as_deref_mut() {
            f.write_all(&buf[..k])?;
        }
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Re-reads `path` from the medium (its cached pages dropped first) and
/// hashes it.
fn rehash(path: &Path) -> std::io::Result<(String, u64)> {
    let f = File::open(path)?;
    let _ = nix::fcntl::posix_fadvise(&f, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED);
    hash_reader(f, None)
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The manifest's SHA-256.
    pub manifest_sha256: String,
    /// Files copied and verified.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Listed files the daemon could not open.
    pub unreadable: Vec<String>,
}

/// Client side: copies the files the daemon passed into `dest`, verifies the
/// copies by re-reading them, writes the manifest and its digest.
pub fn copy_into(dest: &Path, listing: &Value, fds: Vec<OwnedFd>, reason: &str) -> anyhow::Result<Written> {
    use anyhow::{bail, Context};
    let md = std::fs::metadata(dest)
        .with_context(|| format!("{}: the destination must be an existing directory", dest.display()))?;
    if !md.is_dir() {
        bail!("{} is not a directory", dest.display());
    }
    if dest.join(MANIFEST).exists() {
        bail!(
            "{} already holds an export ({MANIFEST}); use an empty directory",
            dest.display()
        );
    }
    let items = listing["files"].as_array().cloned().unwrap_or_default();
    let mut fds = fds.into_iter();
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let mut dirs = BTreeSet::new();
    let (mut n, mut total) = (0u64, 0u64);
    for it in &items {
        let zone = it["zone"].as_str().unwrap_or("");
        let rel = path_from_value(&it["rel"]).context("bad listing")?;
        let rel_path = Path::new(zone).join(safe_rel(Path::new(&rel)).map_err(anyhow::Error::msg)?);
        safe_rel(&rel_path).map_err(anyhow::Error::msg)?;
        if let Some(e) = it["error"].as_str() {
            unreadable.push(format!("{}: {e}", rel_path.display()));
            continue;
        }
        let fd = fds.next().context("the daemon sent fewer files than it listed")?;
        let target = dest.join(&rel_path);
        let parent = target.parent().expect("has a parent").to_path_buf();
        std::fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
        dirs.insert(parent);
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .open(&target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        let (sha, size) = hash_reader(File::from(fd), Some(&mut out as &mut dyn Write))
            .with_context(|| format!("copying {}", rel_path.display()))?;
        if Some(size) != it["size"].as_u64() {
            bail!(
                "{}: read {size} bytes, the daemon listed {} (changed while exporting?)",
                rel_path.display(),
                it["size"]
            );
        }
        let mtime = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                it["mtime"].as_i64().unwrap_or(0).max(0) as u64,
                it["mtime_nsec"].as_i64().unwrap_or(0).clamp(0, 999_999_999) as u32,
            );
        out.set_modified(mtime)
            .with_context(|| format!("cannot set the time of {}", target.display()))?;
        out.sync_all()
            .with_context(|| format!("cannot fsync {}", target.display()))?;
        drop(out);
        let (again, size2) = rehash(&target).with_context(|| format!("cannot re-read {}", target.display()))?;
        if again != sha || size2 != size {
            bail!(
                "{}: the copy reads back differently from what was written (bad medium?)",
                target.display()
            );
        }
        n += 1;
        total += size;
        let mut entry = json!({
            "path": path_value(rel_path.as_os_str()),
            "source": it["source"],
            "time": it["time"],
            "mtime": it["mtime"],
            "size": size,
            "sha256": sha,
        });
        entry["zone"] = zone.into();
        files.push(entry);
    }
    if fds.next().is_some() {
        bail!("the daemon sent more files than it listed");
    }
    for d in &dirs {
        let _ = File::open(d).and_then(|f| f.sync_all());
    }
    let manifest = json!({
        "format": FORMAT,
        "hold": listing["hold"],
        "access": listing["access"],
        "case": listing["case"],
        "exported_by": listing["by"],
        "uid": listing["uid"],
        "exported_at": listing["at"],
        "reason": reason,
        "files": files,
        "count": n,
        "bytes": total,
        "unreadable": unreadable,
    });
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    let digest = hex::encode(Sha256::digest(&text));
    for (name, body) in [
        (MANIFEST, text),
        (MANIFEST_DIGEST, format!("{digest}  {MANIFEST}\n").into_bytes()),
    ] {
        let p = dest.join(name);
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .open(&p)
            .with_context(|| format!("cannot create {}", p.display()))?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    let _ = File::open(dest).and_then(|f| f.sync_all());
    Ok(Written {
        manifest_sha256: digest,
        files: n,
        bytes: total,
        unreadable,
    })
}

/// What `export verify` found.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// The manifest's SHA-256 as computed now.
    pub manifest_sha256: String,
    /// Files that match.
    pub ok: u64,
    /// Everything wrong, one line each.
    pub problems: Vec<String>,
    /// The manifest.
    pub manifest: Value,
}

/// Checks an export directory against its manifest.
pub fn verify(dir: &Path) -> anyhow::Result<Check> {
    use anyhow::Context;
    let text = std::fs::read(dir.join(MANIFEST)).with_context(|| format!("{}: no {MANIFEST}", dir.display()))?;
    let mut c = Check {
        manifest_sha256: hex::encode(Sha256::digest(&text)),
        ..Default::default()
    };
    match std::fs::read_to_string(dir.join(MANIFEST_DIGEST)) {
        Ok(d) => {
            let want = d.split_whitespace().next().unwrap_or("");
            if want != c.manifest_sha256 {
                c.problems.push(format!(
                    "{MANIFEST} does not match {MANIFEST_DIGEST}: the manifest was altered"
                ));
            }
        }
        Err(e) => c.problems.push(format!("{MANIFEST_DIGEST}: {e}")),
    }
    let m: Value = serde_json::from_slice(&text).with_context(|| format!("{MANIFEST} is not valid JSON"))?;
    if m["format"] != FORMAT {
        c.problems.push(format!("{MANIFEST}: unknown format {}", m["format"]));
    }
    let mut listed = BTreeSet::new();
    for f in m["files"].as_array().cloned().unwrap_or_default() {
        let Some(rel) = path_from_value(&f["path"]) else {
            c.problems.push("a manifest entry without a path".into());
            continue;
        };
        let rel = PathBuf::from(rel);
        if let Err(e) = safe_rel(&rel) {
            c.problems.push(e);
            continue;
        }
        listed.insert(rel.clone());
        match rehash(&dir.join(&rel)) {
            Err(e) => c.problems.push(format!("{}: {e}", rel.display())),
            Ok((sha, size)) => {
                if Some(size) != f["size"].as_u64() || sha != f["sha256"].as_str().unwrap_or("") {
                    c.problems.push(format!(
                        "{}: content differs from the manifest (SHA-256 {sha})",
                        rel.display()
                    ));
                } else {
                    c.ok += 1;
                }
            }
        }
    }
    for e in walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok) {
        if e.file_type().is_dir() {
            continue;
        }
        let rel = e.path().strip_prefix(dir).unwrap_or(e.path()).to_path_buf();
        if rel != Path::new(MANIFEST) && rel != Path::new(MANIFEST_DIGEST) && !listed.contains(&rel) {
            c.problems.push(format!("{}: not in the manifest", rel.display()));
        }
    }
    c.manifest = m;
    Ok(c)
}
