//! The in-memory picture of the recordings, sized for millions of files on
//! a small box.
//!
//! Recorders write into time-bucketed directories (`YYYY-MM-DD/HH/camNN/`),
//! so the inventory keeps one [`DirNode`] summary per directory (count,
//! bytes, oldest and newest recording time, newest mtime) in an arena, and
//! per-file [`FileRec`] detail only for the directories the planner asks
//! about: those at the deletion front, straddling a cutoff, or overlapping a
//! hold. 1.29 M files in 21 k directories cost about 1.5 MB of summaries.
//! The directories being written are also kept file by file between
//! sweeps ([`RootInventory::hot`], 24 bytes a file), so a new segment
//! updates its directory's summary from one `stat`.
//! A flat directory still works: it just needs its detail loaded.
//!
//! Invariants: a summary counts exactly the recordings (included regular
//! files) directly in that directory as last scanned; `bytes` are the bytes
//! unlinking them would free (allocated blocks, zero for files with other
//! hard links). Nothing here performs I/O; [`crate::fs::scan`] fills it in.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::core::units::{Bytes, Timestamp, ZoneId};

/// What `stat` says about an entry, reduced to what retention needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Kind of entry.
    pub kind: Kind,
    /// Hard links: unlinking a file with more than one frees nothing.
    pub nlink: u64,
    /// Apparent size.
    pub size: u64,
    /// Allocated bytes (`st_blocks * 512`): what deleting it frees.
    pub alloc: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds part.
    pub mtime_nsec: i64,
}

impl FileStat {
    /// Whether `other` is still the same file as `self`: same device and
    /// inode, same size and same mtime (a rewritten or replaced file is not).
    pub fn same_file(&self, other: &FileStat) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
            && self.kind == other.kind
            && self.size == other.size
            && self.mtime == other.mtime
            && self.mtime_nsec == other.mtime_nsec
    }

    /// Bytes that unlinking this file is expected to free: its allocated
    /// blocks, or nothing when other hard links keep the data alive.
    pub fn frees(&self) -> u64 {
        if self.nlink > 1 {
            0
        } else {
            self.alloc
        }
    }
}

/// Kinds of directory entry retention distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A regular file: a possible recording.
    File,
    /// A directory.
    Dir,
    /// A symbolic link: never followed, never deleted.
    Symlink,
    /// Anything else (fifo, socket, device): never touched.
    Other,
}

/// "No directory" in the arena's links.
pub const NONE: u32 = u32::MAX;

/// How old a directory's `ctime` must be when it is read for the read to
/// be trusted while the `ctime` stays the same ([`DirNode::settled`]): more
/// than a coarse filesystem clock's tick (ext4's follows the kernel's
/// jiffies; FAT's is two seconds).
pub const SETTLE_SECS: i64 = 3;

/// Identifies a directory: zone, root within the zone, directory within the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirRef {
    /// The zone.
    pub zone: ZoneId,
    /// Index into the zone's roots.
    pub root: u16,
    /// Index into the root's directory arena.
    pub dir: u32,
}

/// Summary of one directory's recordings (not recursive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirNode {
    /// Parent directory index, `u32::MAX` for the root.
    pub parent: u32,
    name_off: u32,
    name_len: u16,
    /// Detached from the tree (the directory vanished or was replaced); its
    /// slot stays until the next full scan or [`RootInventory::compact`],
    /// so that indices stay stable.
    pub gone: bool,
    /// First child directory ([`NONE`] if none); children are linked
    /// through `next_sibling`, in no particular order.
    pub first_child: u32,
    /// Next directory with the same parent ([`NONE`] if last).
    pub next_sibling: u32,
    /// Inode of the directory, so the executor can tell it is still the same one.
    pub ino: u64,
    /// The directory's own inode change time (seconds) when last read: an
    /// entry was last added, removed or renamed then, or its times or mode
    /// set (which no one can set back, unlike the mtime). Tells which
    /// directories are being written (and so worth watching).
    pub ctime: i64,
    /// `ctime` was at least [`SETTLE_SECS`] old when the directory was
    /// read, so an entry added or removed since would have changed it: the
    /// rolling reconcile need not read the directory again while its inode
    /// and `ctime` are the same. False when it was read too soon after a
    /// change (a later change in the same clock tick keeps the `ctime`,
    /// as git's "racy" index entries), or updated from inotify's names
    /// alone (which the reconcile is there to check).
    pub settled: bool,
    /// Recordings directly in this directory.
    pub files: u32,
    /// Bytes unlinking them would free.
    pub bytes: u64,
    /// Oldest recording time.
    pub oldest: Timestamp,
    /// Newest recording time.
    pub newest: Timestamp,
    /// Newest modification time (seconds): tells whether a file may still be written.
    pub newest_mtime: i64,
}

/// One recording, known in detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRec {
    /// File name within its directory.
    pub name: OsString,
    /// Recording time (mtime or from the path pattern).
    pub time: Timestamp,
    /// What stat said when it was read; the executor unlinks only this file.
    pub stat: FileStat,
}

/// One recording of a directory known file by file between sweeps (see
/// [`RootInventory::hot`]): what its summary needs, 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HotFile {
    /// Recording time.
    pub time: Timestamp,
    /// Bytes unlinking it would free.
    pub frees: u64,
    /// Modification time, seconds.
    pub mtime: i64,
}

impl HotFile {
    /// What the table keeps of a recording of time `time` stat'ed as `st`.
    pub fn new(time: Timestamp, st: &FileStat) -> HotFile {
        HotFile {
            time,
            frees: st.frees(),
            mtime: st.mtime,
        }
    }
}

/// The key of a file name in a hot directory's table: a hash, so the table
/// holds no names (two names of one directory colliding would count one
/// file too few until the directory is next read whole).
pub fn name_key(name: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

/// One file of a unit (see [`crate::core::layout`]): a directory unit's
/// files, or a group's members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Path relative to the unit's directory (a directory unit), or name
    /// in the group's directory.
    pub rel: OsString,
    /// What stat said when it was read.
    pub stat: FileStat,
}

/// A unit's summary stat from its members: the directory's (or first
/// member's) identity, their summed sizes and freed bytes, and the newest
/// modification time among them (`own` when there are none).
pub fn unit_stat(own: FileStat, members: &[Member]) -> FileStat {
    let mut st = FileStat {
        nlink: 1,
        size: 0,
        alloc: 0,
        ..own
    };
    for m in members {
        st.size += m.stat.size;
        st.alloc += m.stat.frees();
    }
    if let Some(newest) = members.iter().map(|m| (m.stat.mtime, m.stat.mtime_nsec)).max() {
        (st.mtime, st.mtime_nsec) = newest;
    }
    st
}

/// What a scan saw besides recordings, for status and alarms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Directories walked.
    pub dirs: u64,
    /// Symlinks seen (never followed, never deleted).
    pub symlinks: u64,
    /// Mount points below the root, not entered.
    pub other_fs: u64,
    /// Regular files not matching the zone's include globs.
    pub not_included: u64,
    /// Files whose path does not match the zone's time pattern: never deleted.
    pub untimed: u64,
    /// Entries that could not be read (permissions, races).
    pub errors: u64,
    /// Special files (fifos, sockets, devices).
    pub other: u64,
}

impl ScanStats {
    /// Adds another part's counts (a subtree walked on another thread).
    pub fn add(&mut self, o: &ScanStats) {
        self.dirs += o.dirs;
        self.symlinks += o.symlinks;
        self.other_fs += o.other_fs;
        self.not_included += o.not_included;
        self.untimed += o.untimed;
        self.errors += o.errors;
        self.other += o.other;
    }
}

/// The state of one zone root.
#[derive(Clone, Debug, Default)]
pub struct RootInventory {
    /// The configured path.
    pub path: PathBuf,
    /// Device of the root (its filesystem), when it could be opened.
    pub dev: Option<u64>,
    /// Inode of the root.
    pub ino: u64,
    /// Why the root could not be scanned, if it could not.
    pub error: Option<String>,
    /// Directory arena; index 0 is the root itself.
    pub dirs: Vec<DirNode>,
    names: Vec<u8>,
    /// Per-file detail for some directories, keyed by directory index.
    pub detail: HashMap<u32, Vec<FileRec>>,
    /// The directories being written, known file by file between sweeps
    /// (keyed by [`name_key`]): a file inotify names updates the summary
    /// from one `stat`, without reading the directory again. Only for
    /// zones whose recordings are files; dropped when the directory is no
    /// longer watched, detached, or the arena compacted.
    pub hot: HashMap<u32, HashMap<u64, HotFile>>,
    /// Side counts of the last scan.
    pub stats: ScanStats,
    /// The identity of the root's filesystem (`statvfs` f_fsid: for ext4
    /// and most disk filesystems derived from its UUID).
    pub fsid: u64,
    /// Whether the root is a mount point (its parent is on another device).
    pub mount_point: bool,
}

impl RootInventory {
    /// An empty inventory for a root; [`RootInventory::add_dir`] adds index 0 first.
    pub fn new(path: PathBuf) -> RootInventory {
        RootInventory {
            path,
            ..Default::default()
        }
    }

    /// Adds a directory (the root when `parent` is [`NONE`]) with its
    /// inode and inode change time, links it under its parent, and returns
    /// its index.
    pub fn add_dir(&mut self, parent: u32, name: &OsStr, ino: u64, ctime: i64) -> u32 {
        let off = self.names.len() as u32;
        // Names are at most 255 bytes (NAME_MAX).
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        self.names.extend_from_slice(name);
        let idx = self.dirs.len() as u32;
        let next_sibling = match self.dirs.get_mut(parent as usize) {
            Some(p) => std::mem::replace(&mut p.first_child, idx),
            None => NONE,
        };
        self.dirs.push(DirNode {
            parent,
            name_off: off,
            name_len: name.len() as u16,
            gone: false,
            first_child: NONE,
            next_sibling,
            ino,
            ctime,
            settled: false,
            files: 0,
            bytes: 0,
            oldest: Timestamp::MAX,
            newest: Timestamp::MIN,
            newest_mtime: i64::MIN,
        });
        idx
    }

    /// Adds `frag` (a subtree walked on its own, its index 0 being the
    /// subtree's top directory) below `parent`; returns the top's index.
    pub fn graft(&mut self, parent: u32, frag: RootInventory) -> u32 {
        let off = self.dirs.len() as u32;
        let name_shift = self.names.len() as u32;
        self.names.extend_from_slice(&frag.names);
        let shift = |x: u32| if x == NONE { NONE } else { x + off };
        for (k, mut d) in frag.dirs.into_iter().enumerate() {
            d.name_off += name_shift;
            d.first_child = shift(d.first_child);
            d.next_sibling = shift(d.next_sibling);
            d.parent = if k == 0 { parent } else { d.parent + off };
            self.dirs.push(d);
        }
        if let Some(p) = self.dirs.get_mut(parent as usize) {
            let next = std::mem::replace(&mut p.first_child, off);
            self.dirs[off as usize].next_sibling = next;
        }
        off
    }

    /// The child directories of `dir`.
    pub fn children(&self, dir: u32) -> impl Iterator<Item = u32> + '_ {
        let mut cur = self.dirs.get(dir as usize).map_or(NONE, |d| d.first_child);
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let c = cur;
            cur = self.dirs[c as usize].next_sibling;
            Some(c)
        })
    }

    /// The child of `dir` called `name`, if known.
    pub fn child(&self, dir: u32, name: &[u8]) -> Option<u32> {
        self.children(dir).find(|&c| self.dir_name(c) == name)
    }

    /// The deepest known directory on the path `rel` (relative to the root,
    /// '/'-separated), and whether it is the whole path.
    pub fn lookup(&self, rel: &[u8]) -> (u32, bool) {
        let mut cur = 0;
        for comp in rel.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            match self.child(cur, comp) {
                Some(c) => cur = c,
                None => return (cur, false),
            }
        }
        (cur, true)
    }

    /// Marks settled ([`DirNode::settled`]) every directory from index
    /// `from` on whose `ctime` is before `cut`: the directories a walk that
    /// began at `cut + SETTLE_SECS` just added.
    pub fn settle_from(&mut self, from: u32, cut: i64) {
        for d in self.dirs.iter_mut().skip(from as usize) {
            d.settled = d.ctime < cut;
        }
    }

    /// Forgets a directory's recordings (before they are counted again).
    pub fn clear_files(&mut self, dir: u32) {
        let d = &mut self.dirs[dir as usize];
        d.files = 0;
        d.bytes = 0;
        d.oldest = Timestamp::MAX;
        d.newest = Timestamp::MIN;
        d.newest_mtime = i64::MIN;
        self.detail.remove(&dir);
    }

    /// Detaches a directory and everything below it: the directory is gone
    /// or was replaced. Its slots stay (indices must not move) but count
    /// nothing.
    pub fn detach(&mut self, dir: u32) {
        let parent = self.dirs[dir as usize].parent;
        if let Some(p) = self.dirs.get(parent as usize) {
            let next = self.dirs[dir as usize].next_sibling;
            if p.first_child == dir {
                self.dirs[parent as usize].first_child = next;
            } else {
                let prev = self
                    .children(parent)
                    .find(|&c| self.dirs[c as usize].next_sibling == dir);
                if let Some(prev) = prev {
                    self.dirs[prev as usize].next_sibling = next;
                }
            }
        }
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            stack.extend(self.children(d));
            self.clear_files(d);
            self.hot.remove(&d);
            let n = &mut self.dirs[d as usize];
            n.gone = true;
            n.first_child = NONE;
            n.next_sibling = NONE;
        }
    }

    /// Slots of detached directories (see [`RootInventory::detach`]).
    pub fn gone_slots(&self) -> usize {
        self.dirs.iter().filter(|d| d.gone).count()
    }

    /// Drops the slots of detached directories and the names no live
    /// directory uses, in place: the arena stays in its order (a parent
    /// always comes before its children), so only the indices shift.
    /// Every [`DirRef`] into this root and all detail are invalid after it;
    /// the daemon compacts between sweeps, when neither is held. Returns
    /// how many slots were dropped.
    pub fn compact(&mut self) -> usize {
        let gone = self.gone_slots();
        if gone == 0 {
            return 0;
        }
        self.detail = HashMap::new();
        self.hot = HashMap::new();
        let mut map = vec![NONE; self.dirs.len()];
        let mut names = Vec::with_capacity(self.names.len());
        let mut next = 0u32;
        for (k, slot) in map.iter_mut().enumerate() {
            if self.dirs[k].gone {
                continue;
            }
            *slot = next;
            let mut d = self.dirs[k].clone();
            let off = d.name_off as usize;
            d.name_off = names.len() as u32;
            names.extend_from_slice(&self.names[off..off + d.name_len as usize]);
            self.dirs[next as usize] = d;
            next += 1;
        }
        self.dirs.truncate(next as usize);
        self.dirs.shrink_to_fit();
        let remap = |x: u32| if x == NONE { NONE } else { map[x as usize] };
        for d in &mut self.dirs {
            // Live directories link only to live ones (detach unlinks).
            d.parent = remap(d.parent);
            d.first_child = remap(d.first_child);
            d.next_sibling = remap(d.next_sibling);
        }
        names.shrink_to_fit();
        self.names = names;
        gone
    }

    /// Counts one recording into a directory's summary.
    pub fn add_file(&mut self, dir: u32, time: Timestamp, frees: u64, mtime: i64) {
        let d = &mut self.dirs[dir as usize];
        d.files += 1;
        d.bytes += frees;
        d.oldest = d.oldest.min(time);
        d.newest = d.newest.max(time);
        d.newest_mtime = d.newest_mtime.max(mtime);
    }

    /// Replaces a directory's summary with the given detail (keeping it).
    pub fn set_detail(&mut self, dir: u32, files: Vec<FileRec>) {
        let d = &mut self.dirs[dir as usize];
        d.files = files.len() as u32;
        d.bytes = files.iter().map(|f| f.stat.frees()).sum();
        d.oldest = files.iter().map(|f| f.time).min().unwrap_or(Timestamp::MAX);
        d.newest = files.iter().map(|f| f.time).max().unwrap_or(Timestamp::MIN);
        d.newest_mtime = files.iter().map(|f| f.stat.mtime).max().unwrap_or(i64::MIN);
        if let Some(hot) = self.hot.get_mut(&dir) {
            *hot = files
                .iter()
                .map(|f| (name_key(f.name.as_bytes()), HotFile::new(f.time, &f.stat)))
                .collect();
        }
        self.detail.insert(dir, files);
    }

    /// Keeps directory `dir` file by file from now on (see
    /// [`RootInventory::hot`]), with these files (all it holds, just read),
    /// and sets its summary from them.
    pub fn set_hot(&mut self, dir: u32, files: HashMap<u64, HotFile>) {
        self.hot.insert(dir, files);
        self.resum_hot(dir);
    }

    /// Directory `dir` is no longer kept file by file (its summary stays).
    pub fn drop_hot(&mut self, dir: u32) {
        self.hot.remove(&dir);
    }

    /// Whether directory `dir` is known file by file.
    pub fn is_hot(&self, dir: u32) -> bool {
        self.hot.contains_key(&dir)
    }

    /// One file of hot directory `dir` read again: `Some` with what it is
    /// now, `None` when it is gone (or no recording); nothing changes when
    /// `dir` is not hot. [`RootInventory::resum_hot`] then sets the summary.
    pub fn update_hot(&mut self, dir: u32, key: u64, file: Option<HotFile>) {
        let Some(hot) = self.hot.get_mut(&dir) else { return };
        match file {
            Some(f) => hot.insert(key, f),
            None => hot.remove(&key),
        };
    }

    /// Sets the summary of hot directory `dir` from its files.
    pub fn resum_hot(&mut self, dir: u32) {
        let Some(hot) = self.hot.get(&dir) else { return };
        let d = &mut self.dirs[dir as usize];
        d.files = hot.len() as u32;
        d.bytes = hot.values().map(|f| f.frees).sum();
        d.oldest = hot.values().map(|f| f.time).min().unwrap_or(Timestamp::MAX);
        d.newest = hot.values().map(|f| f.time).max().unwrap_or(Timestamp::MIN);
        d.newest_mtime = hot.values().map(|f| f.mtime).max().unwrap_or(i64::MIN);
    }

    /// Keeps file by file only the directories `keep` says.
    pub fn retain_hot(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.hot.retain(|d, _| keep(*d));
        if self.hot.is_empty() {
            self.hot = HashMap::new();
        }
    }

    /// Drops all per-file detail (after a sweep), keeping the summaries.
    pub fn drop_detail(&mut self) {
        self.detail = HashMap::new();
    }

    /// The name of a directory (empty for the root).
    pub fn dir_name(&self, dir: u32) -> &[u8] {
        let d = &self.dirs[dir as usize];
        &self.names[d.name_off as usize..d.name_off as usize + d.name_len as usize]
    }

    /// The path of a directory relative to the root, '/'-separated, no
    /// leading or trailing slash (empty for the root).
    pub fn rel_path(&self, dir: u32) -> Vec<u8> {
        let mut parts = Vec::new();
        let mut cur = dir;
        while cur != NONE && cur != 0 {
            parts.push(self.dir_name(cur));
            cur = self.dirs[cur as usize].parent;
        }
        let mut out = Vec::new();
        for (i, p) in parts.iter().rev().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(p);
        }
        out
    }

    /// Absolute path of a directory.
    pub fn abs_path(&self, dir: u32) -> PathBuf {
        let rel = self.rel_path(dir);
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(OsStr::from_bytes(&rel))
        }
    }

    /// The directories being written, with their ancestors, and the root
    /// always: those holding recordings modified at or after `since`
    /// (seconds), and empty leaf directories created since then (a new time
    /// bucket waiting for its first segment). New recordings and new time
    /// buckets appear there, so these are what the daemon watches (or
    /// re-reads, without inotify). A directory's own mtime alone does not
    /// count: a tree copied or restored in one go would make every
    /// directory look recent.
    pub fn recent_dirs(&self, since: i64) -> Vec<u32> {
        let mut want = vec![false; self.dirs.len()];
        let mut out = Vec::new();
        if self.dirs.is_empty() {
            return out;
        }
        for (k, d) in self.dirs.iter().enumerate() {
            let active = d.newest_mtime >= since || (d.files == 0 && d.first_child == NONE && d.ctime >= since);
            if d.gone || (k != 0 && !active) {
                continue;
            }
            let mut cur = k as u32;
            while cur != NONE && !want[cur as usize] {
                want[cur as usize] = true;
                out.push(cur);
                cur = self.dirs[cur as usize].parent;
            }
        }
        out.sort_unstable();
        out
    }

    /// Recordings in this root.
    pub fn files(&self) -> u64 {
        self.dirs.iter().map(|d| d.files as u64).sum()
    }

    /// Bytes of the recordings in this root.
    pub fn bytes(&self) -> Bytes {
        Bytes(self.dirs.iter().map(|d| d.bytes).sum())
    }

    /// Approximate heap bytes used (for status and benchmarks).
    pub fn heap_bytes(&self) -> usize {
        self.dirs.capacity() * std::mem::size_of::<DirNode>()
            + self.names.capacity()
            + self
                .detail
                .values()
                .map(|v| v.capacity() * std::mem::size_of::<FileRec>() + v.iter().map(|f| f.name.len()).sum::<usize>())
                .sum::<usize>()
            + self
                .hot
                .values()
                .map(|h| h.capacity() * (std::mem::size_of::<(u64, HotFile)>() + 1))
                .sum::<usize>()
    }
}

/// A zone's recordings at a glance (status, samples, metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneTotals {
    /// Recordings.
    pub files: u64,
    /// Bytes deleting them would free.
    pub bytes: u64,
    /// The oldest recording time, if any.
    pub oldest: Option<Timestamp>,
    /// The newest recording time, if any.
    pub newest: Option<Timestamp>,
}

/// The inventory of one zone.
#[derive(Clone, Debug, Default)]
pub struct ZoneInventory {
    /// One per configured root, in policy order.
    pub roots: Vec<RootInventory>,
}

/// The inventory of every zone, indexed by [`ZoneId`].
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// Per zone, in policy order.
    pub zones: Vec<ZoneInventory>,
    /// When the daemon's sweep took it: the sweep's `now`, read before the
    /// changes inotify reported were collected, so every directory change
    /// made before it is in the summaries (within the limits of "Keeping it
    /// current" in docs/design.md). A request may answer a range older than
    /// this, less a margin, from it ([`crate::ops::access`]). None: a walk
    /// made for one request, or not yet dated.
    pub taken: Option<Timestamp>,
}

impl Inventory {
    /// The root a directory belongs to.
    pub fn root(&self, d: DirRef) -> &RootInventory {
        &self.zones[d.zone.0 as usize].roots[d.root as usize]
    }

    /// Mutable access to the root a directory belongs to.
    pub fn root_mut(&mut self, d: DirRef) -> &mut RootInventory {
        &mut self.zones[d.zone.0 as usize].roots[d.root as usize]
    }

    /// A directory's summary.
    pub fn dir(&self, d: DirRef) -> &DirNode {
        &self.root(d).dirs[d.dir as usize]
    }

    /// A directory's detail, when loaded.
    pub fn detail(&self, d: DirRef) -> Option<&Vec<FileRec>> {
        self.root(d).detail.get(&d.dir)
    }

    /// Every directory with recordings.
    pub fn dirs(&self) -> impl Iterator<Item = DirRef> + '_ {
        self.zones.iter().enumerate().flat_map(|(z, zi)| {
            zi.roots.iter().enumerate().flat_map(move |(r, ri)| {
                ri.dirs
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.files > 0)
                    .map(move |(i, _)| DirRef {
                        zone: ZoneId(z as u16),
                        root: r as u16,
                        dir: i as u32,
                    })
            })
        })
    }

    /// What zone `zone` (its index in the policy) holds, from the summaries.
    pub fn zone_totals(&self, zone: usize) -> ZoneTotals {
        let mut t = ZoneTotals::default();
        let roots = self.zones.get(zone).map(|z| z.roots.as_slice()).unwrap_or(&[]);
        for d in roots.iter().flat_map(|r| r.dirs.iter().filter(|d| d.files > 0)) {
            t.files += u64::from(d.files);
            t.bytes += d.bytes;
            t.oldest = Some(t.oldest.map_or(d.oldest, |o| o.min(d.oldest)));
            t.newest = Some(t.newest.map_or(d.newest, |n| n.max(d.newest)));
        }
        t
    }

    /// Total recordings.
    pub fn files(&self) -> u64 {
        self.zones.iter().flat_map(|z| &z.roots).map(|r| r.files()).sum()
    }

    /// Why each unscannable root was skipped (one message per root).
    pub fn root_errors(&self) -> Vec<String> {
        self.zones
            .iter()
            .flat_map(|z| &z.roots)
            .filter_map(|r| r.error.clone())
            .collect()
    }

    /// Drops every directory's detail.
    pub fn drop_detail(&mut self) {
        for r in self.zones.iter_mut().flat_map(|z| z.roots.iter_mut()) {
            r.drop_detail();
        }
    }

    /// Absolute path of a file in a directory.
    pub fn file_path(&self, d: DirRef, name: &OsStr) -> PathBuf {
        self.root(d).abs_path(d.dir).join(name)
    }

    /// Path of a file relative to its zone root.
    pub fn file_rel(&self, d: DirRef, name: &OsStr) -> Vec<u8> {
        let mut rel = self.root(d).rel_path(d.dir);
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        rel
    }
}

/// Joins a zone root and a relative path.
pub fn join_rel(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_paths() {
        let mut r = RootInventory::new(PathBuf::from("/srv/nvr"));
        let root = r.add_dir(NONE, OsStr::new(""), 1, 0);
        let day = r.add_dir(root, OsStr::new("2026-11-20"), 2, 0);
        let hour = r.add_dir(day, OsStr::new("14"), 3, 0);
        let cam = r.add_dir(hour, OsStr::new("cam07"), 4, 0);
        assert_eq!(r.rel_path(cam), b"2026-11-20/14/cam07");
        assert_eq!(r.rel_path(root), b"");
        assert_eq!(r.abs_path(cam), PathBuf::from("/srv/nvr/2026-11-20/14/cam07"));
        r.add_file(cam, Timestamp(100), 4096, 100);
        r.add_file(cam, Timestamp(50), 4096, 50);
        assert_eq!(r.dirs[cam as usize].oldest, Timestamp(50));
        assert_eq!(r.dirs[cam as usize].newest, Timestamp(100));
        assert_eq!(r.files(), 2);
        assert_eq!(r.bytes(), Bytes(8192));
    }

    #[test]
    fn links_lookup_detach_and_recent() {
        let mut r = RootInventory::new(PathBuf::from("/srv/nvr"));
        let root = r.add_dir(NONE, OsStr::new(""), 1, 0);
        let d1 = r.add_dir(root, OsStr::new("2026-11-20"), 2, 10);
        let d2 = r.add_dir(root, OsStr::new("2026-11-21"), 3, 10);
        let h = r.add_dir(d2, OsStr::new("14"), 4, 10);
        let c1 = r.add_dir(h, OsStr::new("cam01"), 5, 500);
        let c2 = r.add_dir(h, OsStr::new("cam02"), 6, 500);
        let c3 = r.add_dir(h, OsStr::new("cam03"), 9, 10);
        // cam01: written lately, but only old recordings (a restored
        // tree): not recent. cam02: a new, still empty bucket: recent.
        // cam03: a recording written lately: recent.
        r.add_file(c1, Timestamp(100), 4096, 100);
        r.add_file(c3, Timestamp(100), 4096, 450);
        let mut kids: Vec<u32> = r.children(root).collect();
        kids.sort();
        assert_eq!(kids, vec![d1, d2]);
        assert_eq!(r.child(h, b"cam02"), Some(c2));
        assert_eq!(r.lookup(b"2026-11-21/14/cam01"), (c1, true));
        assert_eq!(r.lookup(b"2026-11-21/15/cam01"), (d2, false));
        assert_eq!(r.lookup(b""), (root, true));
        assert_eq!(r.recent_dirs(400), vec![root, d2, h, c2, c3]);
        r.detach(d2);
        assert!(r.dirs[c1 as usize].gone && r.dirs[h as usize].gone);
        assert_eq!(r.files(), 0);
        assert_eq!(r.children(root).collect::<Vec<_>>(), vec![d1]);
        assert_eq!(r.lookup(b"2026-11-21/14"), (root, false));
        assert_eq!(r.recent_dirs(400), vec![root]);
        // A first child detached from the middle of the list.
        let d3 = r.add_dir(root, OsStr::new("2026-11-22"), 7, 10);
        let d4 = r.add_dir(root, OsStr::new("2026-11-23"), 8, 10);
        r.detach(d3);
        let mut kids: Vec<u32> = r.children(root).collect();
        kids.sort();
        assert_eq!(kids, vec![d1, d4]);
        // Compaction drops the six gone slots and keeps every path.
        let c = r.add_dir(d4, OsStr::new("09"), 10, 10);
        r.add_file(c, Timestamp(7), 512, 7);
        assert_eq!(r.compact(), 6);
        assert_eq!(r.gone_slots(), 0);
        assert_eq!(r.dirs.len(), 4);
        assert_eq!(r.names.len(), b"2026-11-202026-11-2309".len());
        let (c, found) = r.lookup(b"2026-11-23/09");
        assert!(found);
        assert_eq!(r.rel_path(c), b"2026-11-23/09");
        assert_eq!(r.dirs[c as usize].files, 1);
        assert!(r.lookup(b"2026-11-20").1);
        let mut kids: Vec<&[u8]> = r.children(0).map(|k| r.dir_name(k)).collect();
        kids.sort();
        assert_eq!(kids, vec![&b"2026-11-20"[..], b"2026-11-23"]);
        assert_eq!(r.compact(), 0);
    }
}
