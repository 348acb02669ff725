//! Builds the inventory from the zone roots, and measures filesystem usage.
//!
//! Invariants:
//! - Walks with [`crate::fs::handle::DirHandle`]: `openat` with `O_NOFOLLOW`
//!   relative to the parent's descriptor, one descriptor per level of the
//!   current path. Symlinks are never followed; mount points below a root
//!   are never entered; nothing is ever modified.
//! - Only regular files matching the zone's include globs (and its time
//!   pattern, if any) are recordings; a file whose name does not match the
//!   pattern is counted as "untimed" and never deleted.
//! - One error on one entry never aborts a scan: it is counted and the
//!   walk goes on (a root that cannot be opened is reported as such, and
//!   the planner ignores that root).
//!
//! Why not walkdir: walkdir resolves every entry from the root by path
//! (`lstat` of the full path), which costs a path lookup per file and can
//! be redirected if a directory is swapped for a symlink mid-walk.
//! Descriptor-relative `fstatat` is what `find` does: faster, and immune to
//! that race.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::core::holds::Coverage;
use crate::core::inventory::{name_key, unit_stat, FileStat, HotFile, Kind, Member};
use crate::core::inventory::{DirRef, FileRec, Inventory, RootInventory, ScanStats, ZoneInventory, NONE, SETTLE_SECS};
use crate::core::layout::{self, Unit};
use crate::core::policy::{Policy, TimeSource, Zone};
use crate::core::units::{Timestamp, ZoneId};
use crate::fs::handle::{DirHandle, OpenError};
use crate::fs::watch::Changed;

/// Deepest directory level walked below a root (a bound on open descriptors).
pub const MAX_DEPTH: usize = 64;

/// Directories read from now on whose `ctime` is before this are settled
/// ([`crate::core::inventory::DirNode::settled`]). Taken before the reads:
/// each read is then at least `SETTLE_SECS` after such an `ctime`.
fn settle_cut() -> i64 {
    Timestamp::now().0 - SETTLE_SECS
}

/// Decides whether a directory entry is a recording, and its time.
/// `rel` is the path relative to the root. Returns None for non-recordings
/// (counted in `stats`).
fn recording_time(zone: &Zone, name: &[u8], rel: &[u8], st: &FileStat, stats: &mut ScanStats) -> Option<Timestamp> {
    if !zone.include.matches(name, rel) {
        stats.not_included += 1;
        return None;
    }
    match &zone.time {
        TimeSource::Mtime => Some(Timestamp(st.mtime)),
        TimeSource::Pattern(p) => match p.match_path(rel) {
            Some(t) => Some(t),
            None => {
                stats.untimed += 1;
                None
            }
        },
    }
}

/// Reads the recordings directly in one directory: calls `f(name, stat,
/// time, members)` for each, and `sub(name, inode)` for each subdirectory
/// the walk should enter. `rel` is the directory's path relative to the
/// root.
///
/// A recording is what the zone's [`Unit`] says: a file (no members); a
/// directory at the unit depth, read whole (its name, the members' summed
/// [`unit_stat`], every file below it); or the files sharing a group key
/// (the key as its name). Directories below the unit depth are never
/// entered.
pub fn read_dir(
    dir: &DirHandle,
    rel: &[u8],
    zone: &Zone,
    stats: &mut ScanStats,
    mut f: impl FnMut(&OsStr, FileStat, Timestamp, &[Member]),
    mut sub: impl FnMut(&OsStr, u64),
) -> Result<(), Errno> {
    let mut path = rel.to_vec();
    if !path.is_empty() {
        path.push(b'/');
    }
    let base = path.len();
    let here = layout::depth(rel);
    // Directory units: this directory holds them, or lies above them.
    let unit_depth = zone.unit.dir_depth();
    let holds_units = unit_depth == Some(here + 1);
    let mut units: Vec<(OsString, u64)> = Vec::new();
    // Group units: included files, grouped once the directory is read.
    let grouping = match &zone.unit {
        Unit::Group(g) => Some(g),
        _ => None,
    };
    let mut grouped: Vec<(Vec<u8>, Member, Option<Timestamp>)> = Vec::new();
    let mut entries_err = None;
    let mut subdir = |name: &OsStr, ino: u64, units: &mut Vec<(OsString, u64)>, stats: &mut ScanStats| {
        if holds_units {
            units.push((name.to_os_string(), ino));
        } else if unit_depth.is_none_or(|d| here + 1 < d) {
            sub(name, ino);
        } else {
            stats.not_included += 1;
        }
    };
    dir.for_each_entry(|name, kind, ino| {
        match kind {
            Some(Kind::Dir) => return subdir(name, ino, &mut units, stats),
            Some(Kind::Symlink) => {
                stats.symlinks += 1;
                return;
            }
            Some(Kind::Other) => {
                stats.other += 1;
                return;
            }
            _ => {}
        }
        path.truncate(base);
        path.extend_from_slice(name.as_bytes());
        // Cheap checks on the name first: most non-recordings cost no stat.
        if kind == Some(Kind::File) && (unit_depth.is_some() || !zone.include.matches(name.as_bytes(), &path)) {
            stats.not_included += 1;
            return;
        }
        let st = match dir.stat(name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return, // deleted by someone else meanwhile
            Err(e) => {
                stats.errors += 1;
                entries_err.get_or_insert(e);
                return;
            }
        };
        match st.kind {
            Kind::File if unit_depth.is_some() => stats.not_included += 1,
            Kind::File => match grouping {
                // recording_time checks the include globs (and counts a miss).
                None => {
                    if let Some(t) = recording_time(zone, name.as_bytes(), &path, &st, stats) {
                        f(name, st, t, &[]);
                    }
                }
                Some(_) if !zone.include.matches(name.as_bytes(), &path) => stats.not_included += 1,
                Some(g) => {
                    let time = match &zone.time {
                        TimeSource::Mtime => Some(Timestamp(st.mtime)),
                        TimeSource::Pattern(p) => p.match_path(&path),
                    };
                    let member = Member {
                        rel: name.to_os_string(),
                        stat: st,
                    };
                    grouped.push((g.key(name.as_bytes()).into_owned(), member, time));
                }
            },
            Kind::Dir => subdir(name, st.ino, &mut units, stats),
            Kind::Symlink => stats.symlinks += 1,
            Kind::Other => stats.other += 1,
        }
    })?;
    let _ = entries_err;
    if !grouped.is_empty() {
        report_groups(grouped, stats, &mut f);
    }
    // Deterministic order, whatever the directory's order.
    units.sort_unstable();
    for (name, _) in units {
        path.truncate(base);
        path.extend_from_slice(name.as_bytes());
        if !zone.include.matches(name.as_bytes(), &path) {
            stats.not_included += 1;
            continue;
        }
        let Ok(own) = dir.stat(&name) else { continue };
        let (members, complete) = match dir.open_sub(&name) {
            Ok(h) => unit_members(&h, stats),
            Err(OpenError::Gone) => continue,
            Err(e) => {
                count_open_error(&e, stats);
                continue;
            }
        };
        if !complete {
            // A unit that cannot be read whole is never deleted in part.
            stats.errors += 1;
            continue;
        }
        let st = unit_stat(own, &members);
        let time = match &zone.time {
            TimeSource::Mtime => Some(Timestamp(st.mtime)),
            TimeSource::Pattern(p) => p.match_path(&path),
        };
        match time {
            Some(t) => f(&name, st, t, &members),
            None => stats.untimed += 1,
        }
    }
    Ok(())
}

/// Reports the groups of one directory: members sorted by key, each
/// group's time the newest of its members' (a group none of whose members
/// has a time is untimed: never deleted).
fn report_groups(
    mut grouped: Vec<(Vec<u8>, Member, Option<Timestamp>)>,
    stats: &mut ScanStats,
    f: &mut impl FnMut(&OsStr, FileStat, Timestamp, &[Member]),
) {
    grouped.sort_unstable_by(|a, b| (&a.0, &a.1.rel).cmp(&(&b.0, &b.1.rel)));
    let mut members: Vec<Member> = Vec::new();
    let mut i = 0;
    while i < grouped.len() {
        let mut j = i;
        let mut time: Option<Timestamp> = None;
        members.clear();
        while j < grouped.len() && grouped[j].0 == grouped[i].0 {
            time = time.max(grouped[j].2);
            members.push(grouped[j].1.clone());
            j += 1;
        }
        match time {
            Some(t) => {
                let st = unit_stat(members[0].stat, &members);
                f(OsStr::from_bytes(&grouped[i].0), st, t, &members);
            }
            None => stats.untimed += members.len() as u64,
        }
        i = j;
    }
}

/// Every regular file below a unit directory, with its path relative to
/// it (depth first, sorted), and whether the whole tree could be read.
fn unit_members(top: &DirHandle, stats: &mut ScanStats) -> (Vec<Member>, bool) {
    let mut out = Vec::new();
    let mut complete = true;
    let mut stack: Vec<(DirHandle, Vec<u8>)> = Vec::new();
    let mut first = Some(());
    loop {
        let (handle, prefix);
        if first.take().is_some() {
            handle = None;
            prefix = Vec::new();
        } else {
            match stack.pop() {
                Some((h, p)) => {
                    handle = Some(h);
                    prefix = p;
                }
                None => break,
            }
        }
        let d = handle.as_ref().unwrap_or(top);
        let mut subs = Vec::new();
        let res = d.for_each_entry(|name, kind, _| {
            let st = match kind {
                Some(Kind::Symlink) | Some(Kind::Other) => {
                    stats.symlinks += u64::from(kind == Some(Kind::Symlink));
                    return;
                }
                _ => match d.stat(name) {
                    Ok(st) => st,
                    Err(Errno::ENOENT) => return,
                    Err(_) => {
                        complete = false;
                        return;
                    }
                },
            };
            let mut rel = prefix.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_bytes());
            match st.kind {
                Kind::File => out.push(Member {
                    rel: OsString::from_vec(rel),
                    stat: st,
                }),
                Kind::Dir => subs.push((name.to_os_string(), rel)),
                _ => {}
            }
        });
        if res.is_err() {
            complete = false;
        }
        for (name, rel) in subs {
            if layout::depth(&rel) > MAX_DEPTH {
                complete = false;
                continue;
            }
            match d.open_sub(&name) {
                Ok(h) => stack.push((h, rel)),
                Err(OpenError::Gone) => {}
                Err(_) => complete = false,
            }
        }
    }
    out.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    (out, complete)
}

/// Threads a full walk uses by default: the walk is bound by inode reads
/// (system time), which spread over the cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// Walks one zone root into summaries, on [`default_threads`] threads.
pub fn scan_root(zone: &Zone, path: &Path) -> RootInventory {
    scan_root_with(zone, path, default_threads())
}

/// Walks one zone root into summaries on `threads` threads: the top levels
/// are read here until there are enough subtrees to share out (up to three
/// levels down), the subtrees are walked by the threads and grafted in
/// name order.
pub fn scan_root_with(zone: &Zone, path: &Path, threads: usize) -> RootInventory {
    let mut inv = RootInventory::new(path.to_path_buf());
    let root = match DirHandle::open_root(path) {
        Ok(h) => h,
        Err(e) => {
            inv.error = Some(format!("cannot open zone root {}: {e}", path.display()));
            return inv;
        }
    };
    inv.dev = Some(root.dev);
    if let Ok((fsid, mount_point)) = root.fs_identity() {
        inv.fsid = fsid;
        inv.mount_point = mount_point;
    }
    inv.ino = root.ino;
    let cut = settle_cut();
    let root_idx = inv.add_dir(NONE, OsStr::new(""), root.ino, root.ctime);
    let mut stats = ScanStats::default();
    if threads <= 1 {
        walk(&mut inv, zone, root, root_idx, Vec::new(), &mut stats);
        inv.settle_from(0, cut);
        inv.stats = stats;
        return inv;
    }
    // (parent index, name, path relative to the root) of each subtree.
    let mut items: Vec<(u32, OsString, Vec<u8>)> = Vec::new();
    let top = match root.open_rel(b"") {
        Ok(h) => h,
        Err(e) => {
            inv.error = Some(format!("cannot read zone root {}: {e}", path.display()));
            return inv;
        }
    };
    let mut level: Vec<(u32, DirHandle, Vec<u8>)> = vec![(root_idx, top, Vec::new())];
    for depth in 0..3 {
        items.clear();
        for (idx, h, rel) in level.drain(..) {
            stats.dirs += 1;
            let mut subs = Vec::new();
            let res = read_dir(
                &h,
                &rel,
                zone,
                &mut stats,
                |_, st, t, _| inv.add_file(idx, t, st.frees(), st.mtime),
                |name, _| subs.push(name.to_os_string()),
            );
            if res.is_err() {
                stats.errors += 1;
            }
            subs.sort_unstable();
            items.extend(subs.into_iter().map(|n| (idx, n.clone(), join_rel_bytes(&rel, &n))));
        }
        if items.len() >= threads * 4 || depth == 2 {
            break;
        }
        // Too few subtrees to share: read this level here too.
        for (parent, name, rel) in items.drain(..) {
            match root.open_rel(&rel) {
                Ok(h) => {
                    let idx = inv.add_dir(parent, &name, h.ino, h.ctime);
                    level.push((idx, h, rel));
                }
                Err(e) => count_open_error(&e, &mut stats),
            }
        }
        if level.is_empty() {
            break;
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let root = &root;
    let parts: Vec<Vec<(usize, RootInventory, ScanStats)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((_, name, rel)) = items.get(k) else {
                            return done;
                        };
                        let mut st = ScanStats::default();
                        let mut frag = RootInventory::new(path.to_path_buf());
                        match root.open_rel(rel) {
                            Ok(h) => {
                                let top = frag.add_dir(NONE, name, h.ino, h.ctime);
                                walk(&mut frag, zone, h, top, rel.clone(), &mut st);
                            }
                            Err(e) => count_open_error(&e, &mut st),
                        }
                        done.push((k, frag, st));
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("scan worker")).collect()
    });
    let mut parts: Vec<(usize, RootInventory, ScanStats)> = parts.into_iter().flatten().collect();
    parts.sort_unstable_by_key(|p| p.0);
    for (k, frag, st) in parts {
        stats.add(&st);
        if !frag.dirs.is_empty() {
            inv.graft(items[k].0, frag);
        }
    }
    inv.settle_from(0, cut);
    inv.stats = stats;
    inv
}

fn count_open_error(e: &OpenError, stats: &mut ScanStats) {
    match e {
        OpenError::OtherFilesystem => stats.other_fs += 1,
        OpenError::NotADirectory => stats.symlinks += 1,
        OpenError::Gone => {}
        OpenError::Io(_) => stats.errors += 1,
    }
}

fn join_rel_bytes(rel: &[u8], name: &OsStr) -> Vec<u8> {
    let mut out = rel.to_vec();
    if !out.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name.as_bytes());
    out
}

/// Reads directory `idx` (open as `handle`, at `rel` below the root) and
/// everything below it into the inventory: depth first, one descriptor per
/// level, subdirectories added as they are entered.
fn walk(inv: &mut RootInventory, zone: &Zone, handle: DirHandle, idx: u32, mut rel: Vec<u8>, stats: &mut ScanStats) {
    struct Frame {
        handle: DirHandle,
        idx: u32,
        subdirs: Vec<OsString>,
        next: usize,
        rel_len: usize,
    }
    let visit = |handle: DirHandle, idx: u32, rel: &[u8], inv: &mut RootInventory, stats: &mut ScanStats| -> Frame {
        stats.dirs += 1;
        let mut subdirs = Vec::new();
        let res = read_dir(
            &handle,
            rel,
            zone,
            stats,
            |_, st, t, _| inv.add_file(idx, t, st.frees(), st.mtime),
            |name, _| subdirs.push(name.to_os_string()),
        );
        if res.is_err() {
            stats.errors += 1;
        }
        // Deterministic order keeps the arena stable between scans.
        subdirs.sort_unstable();
        Frame {
            handle,
            idx,
            subdirs,
            next: 0,
            rel_len: rel.len(),
        }
    };
    let first = visit(handle, idx, &rel, inv, stats);
    let mut stack = vec![first];
    while let Some(top) = stack.last_mut() {
        if top.next >= top.subdirs.len() {
            stack.pop();
            continue;
        }
        let name = std::mem::take(&mut top.subdirs[top.next]);
        top.next += 1;
        let (parent, base) = (top.idx, top.rel_len);
        let depth = stack.len();
        let top = stack.last().expect("non-empty");
        if depth > MAX_DEPTH {
            stats.errors += 1;
            continue;
        }
        match top.handle.open_sub(&name) {
            Ok(h) => {
                rel.truncate(base);
                if !rel.is_empty() {
                    rel.push(b'/');
                }
                rel.extend_from_slice(name.as_bytes());
                let idx = inv.add_dir(parent, &name, h.ino, h.ctime);
                let frame = visit(h, idx, &rel, inv, stats);
                stack.push(frame);
            }
            Err(e) => count_open_error(&e, stats),
        }
    }
}

/// What re-reading one directory found.
#[derive(Debug, PartialEq, Eq)]
enum Reread {
    /// Read (or left as it was after an I/O error).
    Done,
    /// Not read: asked only if changed, and its inode and `ctime` are
    /// those of a settled read.
    Unchanged,
    /// It vanished or was replaced: its parent must be read again.
    Parent,
}

/// Reads directory `dir` again (`root` is the root's open handle): its
/// recordings' summary, subdirectories that appeared (walked whole), and
/// subdirectories that vanished or were replaced (detached). Known
/// subdirectories are not re-read.
/// `keep` says whether it is kept file by file from then on
/// ([`RootInventory::hot`]; only where the zone's recordings are files).
/// With `if_changed`, a settled directory whose inode and `ctime` are
/// unchanged gained or lost no entry since it was read, and is not read
/// (one open instead of a `getdents` and a `fstatat` a file).
fn reread(
    inv: &mut RootInventory,
    zone: &Zone,
    root: &DirHandle,
    dir: u32,
    keep: Keep,
    if_changed: bool,
    stats: &mut ScanStats,
) -> Reread {
    if inv.dirs[dir as usize].gone {
        return Reread::Done;
    }
    let cut = settle_cut();
    let rel = inv.rel_path(dir);
    let handle = match root.open_rel(&rel) {
        Ok(h) if h.ino == inv.dirs[dir as usize].ino => h,
        Ok(_) | Err(OpenError::Gone | OpenError::NotADirectory | OpenError::OtherFilesystem) => return Reread::Parent,
        Err(OpenError::Io(_)) => {
            stats.errors += 1;
            return Reread::Done;
        }
    };
    let known = &inv.dirs[dir as usize];
    if if_changed && known.settled && known.ctime == handle.ctime {
        return Reread::Unchanged;
    }
    stats.dirs += 1;
    inv.clear_files(dir);
    inv.dirs[dir as usize].ctime = handle.ctime;
    inv.dirs[dir as usize].settled = handle.ctime < cut;
    let hot = matches!(zone.unit, Unit::File)
        && match keep {
            Keep::Hot => true,
            Keep::AsIs => inv.is_hot(dir),
            Keep::Cold => false,
        };
    let mut table = HashMap::new();
    let mut listed: HashMap<OsString, u64> = HashMap::new();
    let res = read_dir(
        &handle,
        &rel,
        zone,
        stats,
        |name, st, t, _| {
            inv.add_file(dir, t, st.frees(), st.mtime);
            if hot {
                table.insert(name_key(name.as_bytes()), HotFile::new(t, &st));
            }
        },
        |name, ino| {
            listed.insert(name.to_os_string(), ino);
        },
    );
    if res.is_err() {
        stats.errors += 1;
    }
    if hot {
        inv.set_hot(dir, table);
    } else {
        inv.drop_hot(dir);
    }
    for c in inv.children(dir).collect::<Vec<_>>() {
        let name = OsStr::from_bytes(inv.dir_name(c));
        if listed.get(name) == Some(&inv.dirs[c as usize].ino) {
            listed.remove(name);
        } else {
            inv.detach(c);
        }
    }
    // What is left in `listed` is new (or replaced, and detached above).
    let mut new: Vec<OsString> = listed.into_keys().collect();
    new.sort_unstable();
    let first_new = inv.dirs.len() as u32;
    for name in new {
        match handle.open_sub(&name) {
            Ok(h) => {
                let idx = inv.add_dir(dir, &name, h.ino, h.ctime);
                walk(inv, zone, h, idx, join_rel_bytes(&rel, &name), stats);
            }
            Err(e) => count_open_error(&e, stats),
        }
    }
    inv.settle_from(first_new, cut);
    Reread::Done
}

/// Brings the summaries of the given directories up to date without a
/// walk of the tree (after inotify named them, or a sweep deleted in them):
/// see `reread`. A directory that vanished has its parent read instead.
/// Returns how many directories were read, or why a full scan is needed
/// instead (a root vanished or is now another directory or filesystem).
pub fn refresh(inv: &mut Inventory, policy: &Policy, dirs: impl IntoIterator<Item = DirRef>) -> Result<u64, String> {
    Ok(refresh_dirs(inv, policy, dirs, false)?.dirs)
}

/// [`refresh`], or with `if_changed` only the directories that changed
/// since they were read (see `reread`).
fn refresh_dirs(
    inv: &mut Inventory,
    policy: &Policy,
    dirs: impl IntoIterator<Item = DirRef>,
    if_changed: bool,
) -> Result<Refreshed, String> {
    let mut by_root: BTreeMap<(ZoneId, u16), ToRead> = BTreeMap::new();
    for d in dirs {
        let to = by_root.entry((d.zone, d.root)).or_default();
        to.if_changed = if_changed;
        to.whole.insert(d.dir, Keep::AsIs);
    }
    read_changed(inv, policy, by_root)
}

/// Whether a directory read whole is kept file by file from then on
/// ([`RootInventory::hot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Yes: it is being written and watched, so events will name its files.
    Hot,
    /// As it was (a sweep deleted in it; a parent read for a vanished child).
    AsIs,
    /// No: it is polled, and no event will name its files.
    Cold,
}

/// What to read again in one root.
#[derive(Default)]
struct ToRead<'a> {
    whole: BTreeMap<u32, Keep>,
    /// Read the directories of `whole` only if they changed (see `reread`).
    if_changed: bool,
    named: Vec<(u32, &'a BTreeSet<OsString>)>,
}

/// Reads again, root by root, the named files of hot directories (falling
/// back to the whole directory, kept hot) and the directories to read
/// whole.
fn read_changed(
    inv: &mut Inventory,
    policy: &Policy,
    by_root: BTreeMap<(ZoneId, u16), ToRead>,
) -> Result<Refreshed, String> {
    let mut stats = ScanStats::default();
    let (mut files, mut unchanged) = (0, 0);
    for ((zone, r), mut to) in by_root {
        let ri = &mut inv.zones[zone.0 as usize].roots[r as usize];
        if ri.dirs.is_empty() || ri.error.is_some() {
            // Unavailable: rescan_failed_roots tries it again each sweep.
            continue;
        }
        let root = match DirHandle::open_root(&ri.path) {
            Ok(h) if Some(h.dev) == ri.dev && h.ino == ri.ino => h,
            Ok(_) => return Err(format!("zone root {} is now another directory", ri.path.display())),
            Err(e) => return Err(format!("cannot open zone root {}: {e}", ri.path.display())),
        };
        let zone = &policy.zones[zone.0 as usize];
        for (d, names) in to.named {
            match reread_names(ri, zone, &root, d, names, &mut stats) {
                Some(n) => files += n,
                None => {
                    to.whole.insert(d, Keep::Hot);
                }
            }
        }
        for (mut d, mut keep) in to.whole {
            let mut if_changed = to.if_changed;
            loop {
                match reread(ri, zone, &root, d, keep, if_changed, &mut stats) {
                    Reread::Done => break,
                    Reread::Unchanged => {
                        unchanged += 1;
                        break;
                    }
                    Reread::Parent if d == 0 => return Err(format!("zone root {} changed", ri.path.display())),
                    Reread::Parent => {
                        // Its parent lost or replaced an entry: read whole.
                        d = ri.dirs[d as usize].parent;
                        (keep, if_changed) = (Keep::AsIs, false);
                    }
                }
            }
        }
    }
    Ok(Refreshed {
        dirs: stats.dirs,
        files,
        unchanged,
    })
}

/// What [`refresh_changes`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Directories read whole.
    pub dirs: u64,
    /// Files of hot directories read alone, by name.
    pub files: u64,
    /// Directories asked only if changed that had not, and were not read.
    pub unchanged: u64,
}

/// Brings the inventory up to date with what inotify reported (see
/// [`crate::fs::watch`]): a directory named with its changed files, and
/// known file by file ([`RootInventory::hot`]), has just those files read
/// again (one `fstatat` each, or none when gone); any other is read whole
/// as [`refresh`] does, and kept file by file from then on when its
/// zone's recordings are files, unless it is polled. Errors as
/// [`refresh`].
pub fn refresh_changes(
    inv: &mut Inventory,
    policy: &Policy,
    changes: &BTreeMap<PathBuf, Changed>,
) -> Result<Refreshed, String> {
    let mut by_root: BTreeMap<(ZoneId, u16), ToRead> = BTreeMap::new();
    for (path, changed) in changes {
        let Some((d, exact)) = dir_for_path(inv, path) else {
            continue;
        };
        let to = by_root.entry((d.zone, d.root)).or_default();
        match changed {
            Changed::Names(names) if exact && inv.root(d).is_hot(d.dir) => to.named.push((d.dir, names)),
            // Watched: being written, so kept file by file from now on.
            Changed::All | Changed::Names(_) => {
                to.whole.insert(d.dir, Keep::Hot);
            }
            Changed::Polled => {
                to.whole.entry(d.dir).or_insert(Keep::Cold);
            }
        }
    }
    read_changed(inv, policy, by_root)
}

/// Reads again the named files of hot directory `dir`: each one's
/// `fstatat` replaces what its table knew (or drops it, gone or no longer
/// a recording), and the summary follows. `None` when the directory must
/// be read whole instead: it cannot be opened as the one known (gone,
/// replaced), or a name is now a directory.
fn reread_names(
    ri: &mut RootInventory,
    zone: &Zone,
    root: &DirHandle,
    dir: u32,
    names: &BTreeSet<OsString>,
    stats: &mut ScanStats,
) -> Option<u64> {
    if ri.dirs[dir as usize].gone {
        return Some(0);
    }
    let rel = ri.rel_path(dir);
    let handle = match root.open_rel(&rel) {
        Ok(h) if h.ino == ri.dirs[dir as usize].ino => h,
        _ => return None,
    };
    let mut path = rel.clone();
    if !path.is_empty() {
        path.push(b'/');
    }
    let base = path.len();
    let mut read = 0;
    for name in names {
        path.truncate(base);
        path.extend_from_slice(name.as_bytes());
        let key = name_key(name.as_bytes());
        let file = match handle.stat(name) {
            Ok(st) if st.kind == Kind::Dir => return None,
            Ok(st) if st.kind == Kind::File && zone.include.matches(name.as_bytes(), &path) => {
                read += 1;
                recording_time(zone, name.as_bytes(), &path, &st, stats).map(|t| HotFile::new(t, &st))
            }
            Ok(_) | Err(Errno::ENOENT) => None,
            Err(_) => {
                // Unreadable now: what it was stays counted.
                stats.errors += 1;
                continue;
            }
        };
        ri.update_hot(dir, key, file);
    }
    ri.dirs[dir as usize].ctime = handle.ctime;
    // Known from inotify's names, which the reconcile is there to check.
    ri.dirs[dir as usize].settled = false;
    ri.resum_hot(dir);
    Some(read)
}

/// The known directory deepest on an absolute path, and whether it is the
/// whole path; `None` outside every root (or in one not scanned).
fn dir_for_path(inv: &Inventory, p: &Path) -> Option<(DirRef, bool)> {
    for (z, zi) in inv.zones.iter().enumerate() {
        for (r, ri) in zi.roots.iter().enumerate() {
            let Ok(rel) = p.strip_prefix(&ri.path) else { continue };
            if ri.dirs.is_empty() {
                continue;
            }
            let (dir, exact) = ri.lookup(rel.as_os_str().as_bytes());
            let d = DirRef {
                zone: ZoneId(z as u16),
                root: r as u16,
                dir,
            };
            return Some((d, exact));
        }
    }
    None
}

/// Where the rolling reconcile stands: the next directory it re-reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SliceCursor {
    zone: usize,
    root: usize,
    dir: u32,
}

/// Which known directories a round of the rolling reconcile reads again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Every one, whole: also finds a file changed in place (its size or
    /// `mtime`) in a directory that gained or lost no entry.
    Full,
    /// Those whose inode or `ctime` changed since a settled read (see
    /// [`crate::core::inventory::DirNode::settled`]), and those never
    /// settled: a file added, removed or renamed, a subdirectory made or
    /// replaced. The others cost one open each.
    Changed,
}

/// What one slice of the rolling reconcile did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slice {
    /// Known directories this slice covered.
    pub checked: u64,
    /// Of them, those found unchanged and not read ([`Round::Changed`]).
    pub unchanged: u64,
    /// The slice reached the end of the last root: every directory known
    /// when the round began was covered since, and the roots were compacted.
    pub round_done: bool,
    /// Slots of vanished directories dropped by the compaction.
    pub compacted: usize,
}

/// One slice of the rolling reconcile: covers up to `quota` known
/// directories from `cursor` on, in arena order, and re-reads them (all,
/// or with [`Round::Changed`] those that changed) as [`refresh`] does
/// (recordings counted again, subdirectories that appeared walked whole,
/// vanished or replaced ones detached). Over a round this finds what a
/// full walk would (a file placed by hand in an old directory, a day
/// restored from a backup) while no sweep reads more than its slice and
/// no second arena is built. At the end of a round every root is
/// compacted ([`RootInventory::compact`]) and the cursor starts again.
/// Errors as [`refresh`]: a root vanished or changed.
pub fn reconcile_slice(
    inv: &mut Inventory,
    policy: &Policy,
    cursor: &mut SliceCursor,
    quota: u64,
    round: Round,
) -> Result<Slice, String> {
    let mut out = Slice::default();
    while out.checked < quota {
        let Some(z) = inv.zones.get(cursor.zone) else {
            for ri in inv.zones.iter_mut().flat_map(|z| z.roots.iter_mut()) {
                out.compacted += ri.compact();
            }
            *cursor = SliceCursor::default();
            out.round_done = true;
            break;
        };
        let Some(ri) = z.roots.get(cursor.root) else {
            *cursor = SliceCursor {
                zone: cursor.zone + 1,
                ..SliceCursor::default()
            };
            continue;
        };
        if ri.error.is_some() || cursor.dir as usize >= ri.dirs.len() {
            cursor.root += 1;
            cursor.dir = 0;
            continue;
        }
        let mut batch = Vec::new();
        let mut k = cursor.dir as usize;
        while k < ri.dirs.len() && (batch.len() as u64) < quota - out.checked {
            if !ri.dirs[k].gone {
                batch.push(DirRef {
                    zone: ZoneId(cursor.zone as u16),
                    root: cursor.root as u16,
                    dir: k as u32,
                });
            }
            k += 1;
        }
        cursor.dir = k as u32;
        out.checked += batch.len() as u64;
        out.unchanged += refresh_dirs(inv, policy, batch, round == Round::Changed)?.unchanged;
    }
    Ok(out)
}

/// Scans again every root that could not be scanned before (a missing
/// mount, a permission error): it is picked up as soon as it is back.
pub fn rescan_failed_roots(inv: &mut Inventory, policy: &Policy) {
    for (zi, z) in inv.zones.iter_mut().enumerate() {
        let zone = &policy.zones[zi];
        for r in z.roots.iter_mut().filter(|r| r.error.is_some()) {
            *r = scan_root(zone, &r.path.clone());
        }
    }
}

/// The known directory deepest on each absolute path (a directory inotify
/// named, or one to poll); paths outside every root are ignored.
pub fn dirs_for_paths<'a>(inv: &Inventory, paths: impl IntoIterator<Item = &'a Path>) -> Vec<DirRef> {
    paths
        .into_iter()
        .filter_map(|p| dir_for_path(inv, p))
        .map(|(d, _)| d)
        .collect()
}

/// Walks every zone root of the policy.
pub fn scan(policy: &Policy) -> Inventory {
    scan_with(policy, default_threads())
}

/// Walks every zone root of the policy on `threads` threads.
pub fn scan_with(policy: &Policy, threads: usize) -> Inventory {
    Inventory {
        zones: policy
            .zones
            .iter()
            .map(|z| ZoneInventory {
                roots: z.roots.iter().map(|r| scan_root_with(z, r, threads)).collect(),
            })
            .collect(),
        taken: None,
    }
}

/// Walks the roots of one zone; the other zones are left empty.
pub fn scan_zone(policy: &Policy, zone: ZoneId) -> Inventory {
    Inventory {
        zones: policy
            .zones
            .iter()
            .map(|z| ZoneInventory {
                roots: if z.id == zone {
                    z.roots.iter().map(|r| scan_root(z, r)).collect()
                } else {
                    Vec::new()
                },
            })
            .collect(),
        taken: None,
    }
}

/// Walks what a hold may cover: its zone only, or every zone for a hold on
/// all zones (or on a zone the policy no longer has).
pub fn scan_for(policy: &Policy, zone: Option<&crate::core::units::ZoneName>) -> Inventory {
    match zone.and_then(|z| policy.zone(&z.0)) {
        Some(z) => scan_zone(policy, z.id),
        None => scan(policy),
    }
}

/// Opens a directory of the inventory safely, checking it is still the
/// directory that was scanned (same inode, on the root's filesystem).
pub fn open_dir(inv: &Inventory, d: DirRef) -> Result<DirHandle, OpenError> {
    let root = inv.root(d);
    let handle = DirHandle::open_root(&root.path)?;
    if Some(handle.dev) != root.dev || handle.ino != root.ino {
        return Err(OpenError::OtherFilesystem);
    }
    let dir = handle.open_rel(&root.rel_path(d.dir))?;
    if dir.ino != inv.dir(d).ino {
        return Err(OpenError::Gone);
    }
    Ok(dir)
}

/// Reads the recordings of one directory in detail.
pub fn read_detail(inv: &Inventory, policy: &Policy, d: DirRef) -> Result<Vec<FileRec>, OpenError> {
    let zone = &policy.zones[d.zone.0 as usize];
    let dir = open_dir(inv, d)?;
    let rel = inv.root(d).rel_path(d.dir);
    let mut files = Vec::new();
    let mut stats = ScanStats::default();
    read_dir(
        &dir,
        &rel,
        zone,
        &mut stats,
        |name, stat, time, _| {
            files.push(FileRec {
                name: name.to_os_string(),
                time,
                stat,
            })
        },
        |_, _| {},
    )
    .map_err(OpenError::Io)?;
    // Deterministic order, whatever the directory's order.
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Loads the detail of one directory into the inventory, which also makes
/// its summary true again (after a sweep deleted in it, without a new walk
/// of the tree); a directory that vanished or changed identity becomes
/// empty.
pub fn load_detail(inv: &mut Inventory, policy: &Policy, d: DirRef) {
    let files = read_detail(inv, policy, d).unwrap_or_default();
    inv.root_mut(d).set_detail(d.dir, files);
}

/// Walks the recordings `scope` covers: each directory whose summary it may
/// cover is read in detail, and `f(dir, zone, covered)` gets the files it
/// does cover, each with its path relative to the zone root. Directories
/// that cannot be read safely (vanished, replaced, unreadable) are skipped;
/// returns how many were.
pub fn for_each_covered(
    inv: &Inventory,
    policy: &Policy,
    scope: &impl Coverage,
    mut f: impl FnMut(DirRef, &Zone, Vec<(FileRec, Vec<u8>)>),
) -> u64 {
    let mut skipped = 0;
    for d in inv.dirs() {
        let zone = &policy.zones[d.zone.0 as usize];
        let node = inv.dir(d);
        if node.files == 0 || !scope.may_cover_range(&zone.name, node.oldest, node.newest) {
            continue;
        }
        let Ok(files) = read_detail(inv, policy, d) else {
            skipped += 1;
            continue;
        };
        let covered: Vec<(FileRec, Vec<u8>)> = files
            .into_iter()
            .map(|file| {
                let rel = inv.file_rel(d, &file.name);
                (file, rel)
            })
            .filter(|(file, rel)| scope.covers(&zone.name, rel, file.time))
            .collect();
        if !covered.is_empty() {
            f(d, zone, covered);
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn policy_for(root: &Path, extra: &str) -> Policy {
        Policy::from_str(
            Path::new("t.toml"),
            &format!(
                "[daemon]\nstate_dir = \"/nonexistent-state\"\n[[zone]]\nname = \"z\"\npaths = [\"{}\"]\nmin_age = \"1d\"\nmax_age = \"2d\"\n{extra}\n",
                root.display()
            ),
        )
        .unwrap()
    }

    #[test]
    fn scans_a_tree_into_summaries() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        for (d, n) in [
            ("2026-11-20/14/cam01", "05.00.mp4"),
            ("2026-11-20/14/cam01", "06.00.mp4"),
            ("2026-11-20/15/cam02", "00.00.mp4"),
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join(n), vec![1u8; 5000]).unwrap();
        }
        std::fs::write(root.join("2026-11-20/notes.txt"), b"x").unwrap();
        symlink("/etc", root.join("2026-11-20/link")).unwrap();
        let p = policy_for(&root, "include = [\"*.mp4\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"");
        let inv = scan(&p);
        let r = &inv.zones[0].roots[0];
        assert!(r.error.is_none());
        assert_eq!(r.files(), 3);
        assert_eq!(r.stats.not_included, 1);
        assert_eq!(r.stats.symlinks, 1);
        let cam1 = (0..r.dirs.len() as u32)
            .find(|&i| r.rel_path(i) == b"2026-11-20/14/cam01")
            .unwrap();
        let d = &r.dirs[cam1 as usize];
        assert_eq!(d.files, 2);
        assert_eq!(d.oldest.rfc3339(), "2026-11-20T14:05:00Z");
        assert_eq!(d.newest.rfc3339(), "2026-11-20T14:06:00Z");
        assert!(d.bytes >= 8192);
        let dref = DirRef {
            zone: crate::core::units::ZoneId(0),
            root: 0,
            dir: cam1,
        };
        let files = read_detail(&inv, &p, dref).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].name, "05.00.mp4");
        let u = crate::fs::usage::measure(&p, &inv);
        assert_eq!(u.filesystems.len(), 1);
        assert!(u.filesystems[0].used.0 > 0);
    }

    #[test]
    fn missing_root_is_reported_not_fatal() {
        let p = policy_for(Path::new("/nonexistent/zone/root"), "");
        let inv = scan(&p);
        assert!(inv.zones[0].roots[0]
            .error
            .as_deref()
            .unwrap()
            .contains("/nonexistent/zone/root"));
        assert_eq!(inv.files(), 0);
    }

    #[test]
    fn detail_of_a_replaced_directory_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/f"), b"x").unwrap();
        let p = policy_for(&root, "");
        let inv = scan(&p);
        let r = &inv.zones[0].roots[0];
        let a = (0..r.dirs.len() as u32).find(|&i| r.rel_path(i) == b"a").unwrap();
        std::fs::rename(root.join("a"), root.join("b")).unwrap();
        symlink(t.path(), root.join("a")).unwrap();
        let dref = DirRef {
            zone: crate::core::units::ZoneId(0),
            root: 0,
            dir: a,
        };
        assert!(matches!(read_detail(&inv, &p, dref), Err(OpenError::NotADirectory)));
    }

    /// Every live directory's path and summary, for comparing inventories.
    fn picture(inv: &Inventory) -> BTreeMap<Vec<u8>, (u32, u64, Timestamp, Timestamp)> {
        let r = &inv.zones[0].roots[0];
        (0..r.dirs.len() as u32)
            .filter(|&i| !r.dirs[i as usize].gone)
            .map(|i| {
                let d = &r.dirs[i as usize];
                (r.rel_path(i), (d.files, d.bytes, d.oldest, d.newest))
            })
            .collect()
    }

    #[test]
    fn refreshing_named_directories_matches_a_full_scan() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        let put = |d: &str, n: &str| {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join(n), vec![1u8; 5000]).unwrap();
        };
        for d in [
            "2026-11-20/14/cam01",
            "2026-11-20/14/cam02",
            "2026-11-21/09/cam01",
            "2026-11-21/10/cam01",
        ] {
            put(d, "00.00.mp4");
            put(d, "01.00.mp4");
        }
        let p = policy_for(&root, "time = \"%Y-%m-%d/%H/*/%M.%S.mp4\"");
        let mut inv = scan(&p);
        assert_eq!(inv.files(), 8);
        // A camera writes on; a new hour appears with two cameras; a day is
        // removed by hand; an hour is replaced by a symlink; a file vanishes.
        put("2026-11-21/10/cam01", "02.00.mp4");
        put("2026-11-21/11/cam01", "00.00.mp4");
        put("2026-11-21/11/cam02", "00.00.mp4");
        std::fs::remove_dir_all(root.join("2026-11-20")).unwrap();
        std::fs::remove_dir_all(root.join("2026-11-21/09")).unwrap();
        symlink(t.path(), root.join("2026-11-21/09")).unwrap();
        // What inotify would name: the directories whose entries changed
        // (the new hour's cameras are below a directory the inventory does
        // not know yet: its deepest known ancestor is read).
        let named = [
            root.join("2026-11-21/10/cam01"),
            root.join("2026-11-21/11/cam02"),
            root.clone(),
            root.join("2026-11-21"),
        ];
        let dirs = dirs_for_paths(&inv, named.iter().map(|p| p.as_path()));
        let read = refresh(&mut inv, &p, dirs).unwrap();
        assert!(read >= 4, "{read}");
        assert_eq!(picture(&inv), picture(&scan(&p)));
        assert_eq!(inv.files(), 5);
        // A vanished directory named alone makes its parent be read.
        std::fs::remove_dir_all(root.join("2026-11-21/11/cam02")).unwrap();
        let dirs = dirs_for_paths(&inv, [root.join("2026-11-21/11/cam02").as_path()]);
        refresh(&mut inv, &p, dirs).unwrap();
        assert_eq!(picture(&inv), picture(&scan(&p)));
        // A root that is now another directory needs a full scan.
        std::fs::rename(&root, t.path().join("old")).unwrap();
        std::fs::create_dir(&root).unwrap();
        let dirs = dirs_for_paths(&inv, [root.as_path()]);
        assert!(refresh(&mut inv, &p, dirs).unwrap_err().contains("another directory"));
    }

    #[test]
    fn named_files_of_a_hot_directory_are_read_alone_and_match_a_full_scan() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        let cam = root.join("2026-11-21/10/cam01");
        std::fs::create_dir_all(&cam).unwrap();
        let put = |n: &str, len: usize| std::fs::write(cam.join(n), vec![1u8; len]).unwrap();
        put("00.00.mp4", 5000);
        put("00.10.mp4", 5000);
        let p = policy_for(&root, "include = [\"*.mp4\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"");
        let mut inv = scan(&p);
        let whole = |d: &Path| BTreeMap::from([(d.to_path_buf(), Changed::All)]);
        let names = |d: &Path, n: &[&str]| {
            BTreeMap::from([(d.to_path_buf(), Changed::Names(n.iter().map(OsString::from).collect()))])
        };
        // Named before it is hot: read whole, and hot from then on.
        put("00.20.mp4", 100);
        let r = refresh_changes(&mut inv, &p, &names(&cam, &["00.20.mp4"])).unwrap();
        assert_eq!(
            r,
            Refreshed {
                dirs: 1,
                files: 0,
                unchanged: 0
            }
        );
        let (d, _) = dir_for_path(&inv, &cam).unwrap();
        assert!(inv.root(d).is_hot(d.dir));
        assert_eq!(picture(&inv), picture(&scan(&p)));
        // A segment grows and is closed, another arrives, one is moved
        // away, one deleted, a note is no recording, a name that does not
        // match the time pattern is untimed: only the named ones are read.
        put("00.20.mp4", 9000);
        put("00.30.mp4", 5000);
        std::fs::rename(cam.join("00.10.mp4"), root.join("moved.mp4")).unwrap();
        std::fs::remove_file(cam.join("00.00.mp4")).unwrap();
        put("notes.txt", 10);
        put("clip.mp4", 10);
        let named = [
            "00.20.mp4",
            "00.30.mp4",
            "00.10.mp4",
            "00.00.mp4",
            "notes.txt",
            "clip.mp4",
        ];
        let r = refresh_changes(&mut inv, &p, &names(&cam, &named)).unwrap();
        assert_eq!(
            r,
            Refreshed {
                dirs: 0,
                files: 3,
                unchanged: 0
            },
            "the three files that are there and included"
        );
        assert_eq!(picture(&inv), picture(&scan(&p)));
        assert_eq!(inv.dir(d).files, 2);
        // A name that is now a directory: the directory is read whole.
        std::fs::create_dir(cam.join("sub")).unwrap();
        let r = refresh_changes(&mut inv, &p, &names(&cam, &["sub"])).unwrap();
        assert_eq!(r.dirs, 2, "the directory and the new subdirectory");
        assert_eq!(picture(&inv), picture(&scan(&p)));
        // Replaced by another directory of the same name: read whole from
        // its parent; a whole change keeps it hot.
        std::fs::rename(&cam, t.path().join("old-cam")).unwrap();
        std::fs::create_dir(&cam).unwrap();
        put("00.40.mp4", 5000);
        refresh_changes(&mut inv, &p, &names(&cam, &["00.40.mp4"])).unwrap();
        assert_eq!(picture(&inv), picture(&scan(&p)));
        refresh_changes(&mut inv, &p, &whole(&cam)).unwrap();
        let (d, _) = dir_for_path(&inv, &cam).unwrap();
        assert!(inv.root(d).is_hot(d.dir));
        put("00.50.mp4", 5000);
        let r = refresh_changes(&mut inv, &p, &names(&cam, &["00.50.mp4"])).unwrap();
        assert_eq!(
            r,
            Refreshed {
                dirs: 0,
                files: 1,
                unchanged: 0
            }
        );
        assert_eq!(picture(&inv), picture(&scan(&p)));
        // Polled (the watch cap was reached): read whole, and no longer
        // kept file by file, since no event will name its files.
        put("01.00.mp4", 5000);
        let polled = BTreeMap::from([(cam.clone(), Changed::Polled)]);
        let r = refresh_changes(&mut inv, &p, &polled).unwrap();
        assert_eq!(
            r,
            Refreshed {
                dirs: 1,
                files: 0,
                unchanged: 0
            }
        );
        assert!(!inv.root(d).is_hot(d.dir));
        assert_eq!(picture(&inv), picture(&scan(&p)));
        refresh_changes(&mut inv, &p, &polled).unwrap();
        assert!(!inv.root(d).is_hot(d.dir), "polled again, still not");
        // Watched again: hot again; then no longer watched at all.
        refresh_changes(&mut inv, &p, &whole(&cam)).unwrap();
        assert!(inv.root(d).is_hot(d.dir));
        inv.root_mut(d).retain_hot(|_| false);
        assert!(!inv.root(d).is_hot(d.dir));
    }

    #[test]
    fn a_round_of_slices_finds_what_a_full_walk_finds() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        let put = |d: &str, n: &str| {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join(n), vec![1u8; 5000]).unwrap();
        };
        for day in ["2026-11-19", "2026-11-20", "2026-11-21"] {
            for h in ["08", "09", "10"] {
                for cam in ["cam01", "cam02"] {
                    put(&format!("{day}/{h}/{cam}"), "00.00.mp4");
                }
            }
        }
        let p = policy_for(&root, "time = \"%Y-%m-%d/%H/*/%M.%S.mp4\"");
        let mut inv = scan(&p);
        let known = inv.zones[0].roots[0].dirs.len() as u64;
        assert_eq!(known, 1 + 3 + 9 + 18);
        // Changes no watch reports (old, unwatched directories): a file
        // copied in by hand, a day restored, an hour removed, a camera
        // replaced by another directory of the same name.
        put("2026-11-19/08/cam01", "30.00.mp4");
        put("2026-11-18/23/cam01", "00.00.mp4");
        std::fs::remove_dir_all(root.join("2026-11-20/09")).unwrap();
        // (The old one is kept until the new one exists: else ext4 may give
        // the new one the freed inode, and it is no replacement at all.)
        std::fs::rename(root.join("2026-11-21/10/cam02"), t.path().join("old-cam02")).unwrap();
        put("2026-11-21/10/cam02", "59.00.mp4");
        std::fs::remove_dir_all(t.path().join("old-cam02")).unwrap();
        let mut cursor = SliceCursor::default();
        let mut slices = Vec::new();
        loop {
            let s = reconcile_slice(&mut inv, &p, &mut cursor, 7, Round::Full).unwrap();
            assert!(s.checked <= 7, "{s:?}");
            slices.push(s);
            if s.round_done {
                break;
            }
            assert!(slices.len() < 20, "{slices:?}");
        }
        assert!(slices.len() >= 5, "a round of 7-directory slices: {slices:?}");
        assert_eq!(picture(&inv), picture(&scan(&p)));
        // Compacted at the end of the round: no slot of the removed hour
        // and replaced camera (3 + 1) is left.
        assert_eq!(slices.last().unwrap().compacted, 4);
        assert_eq!(inv.zones[0].roots[0].gone_slots(), 0);
        assert_eq!(inv.zones[0].roots[0].dirs.len(), scan(&p).zones[0].roots[0].dirs.len());
        // The next round starts over, and still matches.
        put("2026-11-20/08/cam02", "10.00.mp4");
        while !reconcile_slice(&mut inv, &p, &mut cursor, 10, Round::Full)
            .unwrap()
            .round_done
        {}
        assert_eq!(picture(&inv), picture(&scan(&p)));
        // A root that is now another directory needs a full scan.
        std::fs::rename(&root, t.path().join("old")).unwrap();
        std::fs::create_dir(&root).unwrap();
        let mut cursor = SliceCursor::default();
        assert!(reconcile_slice(&mut inv, &p, &mut cursor, 10, Round::Full)
            .unwrap_err()
            .contains("another directory"));
    }

    /// Waits until directories changed until now are settled when read
    /// (their ctime, which no one can set back, is old enough).
    fn let_settle() {
        std::thread::sleep(std::time::Duration::from_secs(SETTLE_SECS as u64 + 2));
    }

    #[test]
    fn a_round_of_changed_directories_reads_only_those() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        let put = |d: &str, n: &str, len: usize| {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join(n), vec![1u8; len]).unwrap();
        };
        for day in ["2026-11-19", "2026-11-20"] {
            for h in ["08", "09"] {
                for cam in ["cam01", "cam02"] {
                    put(&format!("{day}/{h}/{cam}"), "00.00.mp4", 5000);
                }
            }
        }
        let_settle();
        let p = policy_for(&root, "time = \"%Y-%m-%d/%H/*/%M.%S.mp4\"");
        let mut inv = scan(&p);
        let ri = &inv.zones[0].roots[0];
        let known = ri.dirs.len() as u64;
        assert_eq!(known, 1 + 2 + 4 + 8);
        assert!(
            ri.dirs.iter().all(|d| d.settled),
            "read seconds after their last change"
        );
        let round = |inv: &mut Inventory| {
            let mut cursor = SliceCursor::default();
            let mut total = Slice::default();
            loop {
                let s = reconcile_slice(inv, &p, &mut cursor, 4, Round::Changed).unwrap();
                total.checked += s.checked;
                total.unchanged += s.unchanged;
                if s.round_done {
                    return total;
                }
            }
        };
        // Nothing changed: each directory costs an open, none is read.
        assert_eq!(
            round(&mut inv),
            Slice {
                checked: known,
                unchanged: known,
                ..Slice::default()
            }
        );
        // Entries added and removed change their directory's ctime: a file
        // copied in by hand, an hour removed (its day changes), a day
        // restored. A file rewritten in place with another size changes
        // no directory: only a full round finds it.
        let before = picture(&inv);
        put("2026-11-19/08/cam01", "30.00.mp4", 7000);
        std::fs::remove_dir_all(root.join("2026-11-20/09")).unwrap();
        put("2026-11-18/23/cam01", "00.00.mp4", 5000);
        std::fs::write(root.join("2026-11-19/09/cam02/00.00.mp4"), vec![1u8; 9000]).unwrap();
        let s = round(&mut inv);
        // Read: 2026-11-19/08/cam01, 2026-11-20, the root, and the new day's
        // three directories (walked whole from the root, then read again
        // as not settled); gone: 2026-11-20/09 and its two cameras.
        assert_eq!((s.checked, s.unchanged), (known, known - 6), "{s:?}");
        let cam02 = b"2026-11-19/09/cam02".to_vec();
        let mut want = picture(&scan(&p));
        assert_ne!(want[&cam02], before[&cam02]);
        want.insert(cam02.clone(), before[&cam02]);
        assert_eq!(picture(&inv), want, "all but the file changed in place");
        // Read right after their change, so not settled: the next rounds
        // read them again until a read comes late enough.
        let s = round(&mut inv);
        assert_eq!((s.checked, s.unchanged), (known, known - 6), "{s:?}");
        let_settle();
        let s = round(&mut inv);
        assert_eq!((s.checked, s.unchanged), (known, known - 6), "{s:?}");
        assert_eq!(round(&mut inv).unchanged, known, "all settled now");
        // A file added and the directory's mtime set back to what it was
        // (as `rsync -a` does): its ctime moved all the same.
        let cam01 = root.join("2026-11-19/08/cam01");
        let was = std::fs::metadata(&cam01).unwrap().modified().unwrap();
        put("2026-11-19/08/cam01", "40.00.mp4", 5000);
        std::fs::File::open(&cam01).unwrap().set_modified(was).unwrap();
        let s = round(&mut inv);
        assert_eq!((s.checked, s.unchanged), (known, known - 1), "{s:?}");
        assert_eq!(picture(&inv)[&b"2026-11-19/08/cam01".to_vec()].0, 3);
        // A full round finds the file changed in place too.
        let mut cursor = SliceCursor::default();
        while !reconcile_slice(&mut inv, &p, &mut cursor, 4, Round::Full)
            .unwrap()
            .round_done
        {}
        assert_eq!(picture(&inv), picture(&scan(&p)));
    }

    #[test]
    fn walking_on_threads_finds_what_one_thread_finds() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rec");
        // One top directory (the threads start further down), files at
        // every level, a symlink and an unreadable-as-recording file.
        for d in [
            "all/2026-11-20/14/cam01",
            "all/2026-11-20/15/cam02",
            "all/2026-11-21/00/cam01",
            "all/x",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join("00.00.mp4"), b"abc").unwrap();
        }
        std::fs::write(root.join("top.mp4"), b"abc").unwrap();
        std::fs::write(root.join("all/2026-11-20/level2.mp4"), b"abc").unwrap();
        symlink("/etc", root.join("all/2026-11-20/14/link")).unwrap();
        let p = policy_for(&root, "");
        let one = scan_with(&p, 1);
        for threads in [2, 3, 8] {
            let many = scan_with(&p, threads);
            assert_eq!(picture(&many), picture(&one), "{threads} threads");
            assert_eq!(many.zones[0].roots[0].stats, one.zones[0].roots[0].stats);
        }
        assert_eq!(one.files(), 6);
    }
}
