//! Audited access to recordings: `retentionctl cat` (play: the bytes go to
//! the caller's stdout, into a player) and `retentionctl copy --to DIR`
//! (saved to other media, with a manifest).
//!
//! The daemon decides and records; the caller's `retentionctl` reads:
//! 1. `access-open`: each named path is looked up the way a sweep sees it
//!    (fd-relative from its zone root, no symlink followed, the zone's
//!    layout): a path inside a unit (a frame of an event, a leg of a call)
//!    stands for the whole unit. The caller must be in every zone's
//!    `access_group` (root always is) and state a reason.
//! 2. The daemon opens every file, writes one durable `access` record (who,
//!    uid, why, where to, each file with its zone, path, recording time,
//!    size, inode and modification time), and only then replies and passes
//!    the open files (`SCM_RIGHTS`). A daemon killed between the record and
//!    the files leaves the record and hands out nothing.
//! 3. The client streams or copies them, hashing (SHA-256) as it reads, and
//!    sends `access-done` with the hashes (and the manifest's digest for a
//!    copy): the daemon records it, tying the bytes read to the chain.
//!
//! Invariants: nothing is opened for a caller without its record made
//! durable first; a request naming anything that is not a recording of a
//! zone opens nothing and records nothing; held and expired footage follow
//! the same rules as any other (access does not change retention).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::audit::schema;
use crate::audit::{path_from_value, path_value, AuditLog};
use crate::control::{AccessDoneRequest, AccessRequest, MAX_ACCESS_PATHS};
use crate::core::inventory::{FileStat, Member};
use crate::core::layout::Unit;
use crate::core::policy::{Policy, Zone};
use crate::core::units::{Bytes, Timestamp};
use crate::fs::handle::{DirHandle, OpenError};
use crate::fs::scan;
use crate::ops::auth::{in_group, Caller};
use crate::ops::export::{unit_files, Exported};
use crate::ops::hold::text_field;
use crate::ops::record_durably;
use crate::ops::OpError;

/// Accesses opened and not yet reported done: record number -> the
/// caller's uid. Only the caller of an open access may record its outcome,
/// once; the oldest are forgotten beyond [`MAX_PENDING`] (a client that
/// never reports back), and all of them when the daemon restarts.
static PENDING: Mutex<std::collections::BTreeMap<u64, u32>> = Mutex::new(std::collections::BTreeMap::new());

/// Most accesses awaiting their outcome.
const MAX_PENDING: usize = 4096;

/// A recording found at a path: its zone, root, the directory holding it
/// (path below the root), and the unit as the scan reads it.
pub struct Resolved<'p> {
    /// Its zone.
    pub zone: &'p Zone,
    /// The zone root it is under.
    pub root: &'p Path,
    /// The directory holding the unit, below the root.
    pub dir_rel: Vec<u8>,
    /// That directory, open.
    pub dir: DirHandle,
    /// The unit's name in it (a file, a directory or a group's key).
    pub name: std::ffi::OsString,
    /// Its stat (a unit's: summed sizes, newest mtime).
    pub stat: FileStat,
    /// Its recording time.
    pub time: Timestamp,
    /// A unit's members (empty for a single file).
    pub members: Vec<Member>,
}

/// Why a path is not a recording one may open.
fn refuse(path: &Path, why: impl std::fmt::Display) -> OpError {
    OpError::BadRequest(format!("path {}: {why}; nothing opened", path.display()))
}

/// Finds the recording (the whole unit) at `path`, fd-relative from its
/// zone root.
pub fn resolve<'p>(policy: &'p Policy, path: &Path) -> Result<Resolved<'p>, OpError> {
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(refuse(path, "must be absolute, without . or .. components"));
    }
    let (zone, root) = policy
        .zones
        .iter()
        .flat_map(|z| z.roots.iter().map(move |r| (z, r.as_path())))
        .find(|(_, r)| path.starts_with(r) && path != *r)
        .ok_or_else(|| refuse(path, "is in no zone"))?;
    let rel = path.strip_prefix(root).expect("checked").as_os_str().as_bytes();
    let (_, parent, name) = unit_location(zone, rel);
    let dir = match DirHandle::open_root(root).and_then(|h| h.open_rel(&parent)) {
        Ok(d) => d,
        Err(OpenError::Gone) | Err(OpenError::Io(nix::errno::Errno::ENOENT)) => {
            return Err(refuse(
                path,
                "no such recording (retentionctl explain tells whether it was deleted)",
            ))
        }
        Err(e) => {
            return Err(refuse(
                path,
                format!("cannot be reached from its zone root safely ({e})"),
            ))
        }
    };
    let mut found = None;
    let _ = scan::read_dir(
        &dir,
        &parent,
        zone,
        &mut Default::default(),
        |n, st, t, members| {
            let hit = n.as_bytes() == name.as_slice()
                || (!matches!(zone.unit, Unit::Dir { .. }) && members.iter().any(|m| m.rel.as_bytes() == name));
            if hit && found.is_none() {
                found = Some((n.to_os_string(), st, t, members.to_vec()));
            }
        },
        |_, _| {},
    );
    let (name, stat, time, members) =
        found.ok_or_else(|| refuse(path, format!("not a recording of zone {}", zone.name)))?;
    Ok(Resolved {
        zone,
        root,
        dir_rel: parent,
        dir,
        name,
        stat,
        time,
        members,
    })
}

/// Where the unit holding `rel` (a path below the zone root) is: the
/// unit's own path below the root, its directory's, and its name there. A
/// file inside a directory unit stands for its unit; anything else for
/// itself (a group's member is matched by the scan).
pub(crate) fn unit_location(zone: &Zone, rel: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let unit_rel = match zone.unit.dir_depth() {
        Some(d) => {
            let comps: Vec<&[u8]> = rel.split(|b| *b == b'/').filter(|c| !c.is_empty()).collect();
            if comps.len() >= d {
                comps[..d].join(&b'/')
            } else {
                rel.to_vec()
            }
        }
        None => rel.to_vec(),
    };
    let (parent, name) = match unit_rel.iter().rposition(|b| *b == b'/') {
        Some(i) => (unit_rel[..i].to_vec(), unit_rel[i + 1..].to_vec()),
        None => (Vec::new(), unit_rel.clone()),
    };
    (unit_rel, parent, name)
}

impl Resolved<'_> {
    /// The unit's files, opened: path below the root, absolute path, stat,
    /// descriptor (or why not).
    fn open_files(&self) -> Vec<Exported> {
        if self.members.is_empty() {
            let mut rel = self.dir_rel.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(self.name.as_bytes());
            let source = crate::core::inventory::join_rel(self.root, &rel);
            let fd = self.dir.open_file(&self.name, &self.stat);
            vec![(rel, source, self.stat, fd)]
        } else {
            unit_files(
                &self.dir,
                self.root,
                &self.dir_rel,
                self.zone,
                &self.name,
                self.stat.ino,
                &self.members,
            )
        }
    }
}

/// Daemon side of `access-open`: checks, opens, records, and returns the
/// listing and the open files (in the listing's order; entries with an
/// `error` have none).
pub fn open(
    policy: &Policy,
    audit: &Mutex<AuditLog>,
    caller: &Caller,
    req: &AccessRequest,
    now: Timestamp,
) -> Result<(Value, Vec<OwnedFd>), OpError> {
    text_field("reason", &req.reason, true)?;
    if let Some(d) = &req.dest {
        text_field("dest", d, true)?;
    }
    if let Some(c) = &req.case {
        text_field("case", c, true)?;
    }
    if req.paths.is_empty() {
        return Err(OpError::BadRequest("paths: name at least one recording".into()));
    }
    if req.paths.len() > MAX_ACCESS_PATHS {
        return Err(OpError::BadRequest(format!(
            "paths: {} named, at most {MAX_ACCESS_PATHS} per request",
            req.paths.len()
        )));
    }
    let mut units: Vec<Resolved> = Vec::new();
    for p in &req.paths {
        let path = PathBuf::from(path_from_value(p).ok_or_else(|| OpError::BadRequest("paths: not a path".into()))?);
        let r = resolve(policy, &path)?;
        if caller.uid != 0 && !in_group(caller, &r.zone.access_group) {
            log::warn!(
                retention_event = "denied", retention_user = caller.user.as_str(), retention_zone = r.zone.name.0.as_str();
                "access to {} by {} (uid {}) refused: not in group {}", path.display(), caller.user, caller.uid, r.zone.access_group
            );
            return Err(OpError::Denied {
                what: format!("opening recordings of zone {}", r.zone.name),
                group: r.zone.access_group.clone(),
            });
        }
        // The same unit named twice (two frames of one event) opens once.
        let same = |u: &Resolved| u.root == r.root && u.dir_rel == r.dir_rel && u.name == r.name;
        if !units.iter().any(same) {
            units.push(r);
        }
    }
    let mut listing = Vec::new();
    let mut files = Vec::new();
    let mut fds = Vec::new();
    let (mut bytes, mut unreadable) = (0u64, 0u64);
    for u in &units {
        for (rel, source, stat, opened) in u.open_files() {
            let mut item = json!({
                "zone": u.zone.name.0,
                "rel": path_value(OsStr::from_bytes(&rel)),
                "source": path_value(source.as_os_str()),
                "time": u.time.rfc3339(),
                "mtime": stat.mtime,
                "mtime_nsec": stat.mtime_nsec,
                "size": stat.size,
            });
            match opened {
                Ok(fd) => {
                    bytes += stat.size;
                    fds.push(fd);
                    files.push(schema::AccessFile {
                        zone: u.zone.name.0.clone(),
                        path: source.into(),
                        time: u.time.rfc3339(),
                        size: stat.size,
                        ino: stat.ino,
                        mtime: stat.mtime,
                        mtime_nsec: stat.mtime_nsec,
                    });
                }
                Err(e) => {
                    unreadable += 1;
                    item["error"] = e.desc().into();
                }
            }
            listing.push(item);
        }
    }
    if fds.is_empty() {
        return Err(OpError::Failed(format!(
            "none of the {} files could be opened; nothing recorded",
            listing.len()
        )));
    }
    let rec = schema::Access {
        reason: req.reason.clone(),
        by: caller.user.clone(),
        uid: caller.uid,
        dest: req.dest.clone(),
        case: req.case.clone(),
        files,
        bytes,
        unreadable,
    };
    let seq = record_durably(audit, &rec, "cannot write the audit log, nothing opened")?;
    {
        let mut p = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        p.insert(seq, caller.uid);
        while p.len() > MAX_PENDING {
            p.pop_first();
        }
    }
    log::info!(
        retention_event = "access", retention_user = caller.user.as_str();
        "access by {} (uid {}): {} files ({}){}: {}", caller.user, caller.uid, fds.len(), Bytes(bytes),
        req.dest.as_deref().map(|d| format!(" to copy to {d}")).unwrap_or_default(), req.reason
    );
    Ok((
        json!({
            "access": seq, "files": listing, "at": now.rfc3339(), "by": caller.user, "uid": caller.uid,
            "reason": req.reason, "case": req.case, "hold": Value::Null,
        }),
        fds,
    ))
}

/// Daemon side of `access-done`: records what the client read (only the
/// caller who opened that access, once).
pub fn done(audit: &Mutex<AuditLog>, caller: &Caller, req: &AccessDoneRequest) -> Result<Value, OpError> {
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(m) = &req.manifest_sha256 {
        if !hex(m) {
            return Err(OpError::BadRequest("manifest_sha256: not a SHA-256 in hex".into()));
        }
    }
    if req.sha256.len() > 100_000 || !req.sha256.iter().all(|s| hex(s)) {
        return Err(OpError::BadRequest("sha256: not a list of SHA-256s in hex".into()));
    }
    if let Some(d) = &req.dest {
        text_field("dest", d, true)?;
    }
    // Only the caller of an open access may report it, once.
    {
        let mut p = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if p.get(&req.access) != Some(&caller.uid) {
            return Err(OpError::BadRequest(format!(
                "access: no access {} of yours awaits its outcome (reported already, someone else's, or opened before the daemon restarted)",
                req.access
            )));
        }
        p.remove(&req.access);
    }
    let rec = schema::AccessDone {
        access: req.access,
        dest: req.dest.clone(),
        manifest_sha256: req.manifest_sha256.clone(),
        sha256: req.sha256.clone(),
        files: req.files,
        bytes: req.bytes,
        by: caller.user.clone(),
        uid: caller.uid,
    };
    let seq = record_durably(audit, &rec, "cannot write the audit log")?;
    Ok(json!({"seq": seq}))
}

/// Client side of `cat`: writes each passed file to `out` in the listing's
/// order, hashing as it reads; returns each file's SHA-256 and the bytes.
pub fn stream_into(
    listing: &Value,
    fds: Vec<OwnedFd>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<(Vec<String>, u64)> {
    use anyhow::{bail, Context};
    let items = listing["files"].as_array().cloned().unwrap_or_default();
    let mut fds = fds.into_iter();
    let mut hashes = Vec::new();
    let mut total = 0u64;
    for it in items.iter().filter(|it| it.get("error").is_none()) {
        let fd = fds.next().context("the daemon sent fewer files than it listed")?;
        let (sha, n) =
            crate::ops::export::hash_reader(std::fs::File::from(fd), Some(&mut *out as &mut dyn std::io::Write))?;
        if Some(n) != it["size"].as_u64() {
            bail!("{}: read {n} bytes, the daemon listed {}", it["source"], it["size"]);
        }
        hashes.push(sha);
        total += n;
    }
    out.flush()?;
    Ok((hashes, total))
}
