//! fd-relative, symlink-proof filesystem primitives.
//!
//! Invariants:
//! - Below a zone root, every directory is opened with `openat(parent_fd,
//!   name, O_DIRECTORY | O_NOFOLLOW)`, so a symlink (or a directory swapped
//!   for one mid-sweep) is never followed: the open fails with `ELOOP` or
//!   `ENOTDIR` and nothing below it is touched.
//! - A directory on another device than its zone root (a mount point) is
//!   never entered ([`OpenError::OtherFilesystem`]).
//! - Files are unlinked with `unlinkat(dir_fd, name)` only after
//!   [`FileStat::same_file`] confirms the entry is still the file that was
//!   planned (device, inode, size, mtime).
//!
//! Nothing here decides what to delete; it only makes acting on a decision safe.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat as NixStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::core::inventory::{FileStat, Kind, Member};

/// A `stat` result in the inventory's terms.
fn stat_of(s: &NixStat) -> FileStat {
    let fmt = SFlag::from_bits_truncate(s.st_mode & SFlag::S_IFMT.bits());
    let kind = if fmt == SFlag::S_IFREG {
        Kind::File
    } else if fmt == SFlag::S_IFDIR {
        Kind::Dir
    } else if fmt == SFlag::S_IFLNK {
        Kind::Symlink
    } else {
        Kind::Other
    };
    FileStat {
        dev: s.st_dev,
        ino: s.st_ino,
        kind,
        nlink: s.st_nlink,
        size: s.st_size.max(0) as u64,
        alloc: (s.st_blocks.max(0) as u64).saturating_mul(512),
        mtime: s.st_mtime,
        mtime_nsec: s.st_mtime_nsec,
    }
}

/// An open directory and its identity.
#[derive(Debug)]
pub struct DirHandle {
    fd: OwnedFd,
    /// Device of the directory.
    pub dev: u64,
    /// Inode of the directory.
    pub ino: u64,
    /// Inode change time of the directory (seconds) when opened: it moves
    /// whenever an entry is added, removed or renamed, and on a `utimes`,
    /// `chmod` or `chown` of the directory; no caller can set it back.
    pub ctime: i64,
}

/// Why a directory could not be opened safely.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The entry is a symlink or no longer a directory: refused.
    #[error("not a directory (or a symlink, which is never followed)")]
    NotADirectory,
    /// The directory is on another filesystem (a mount point): not entered.
    #[error("on another filesystem (a mount point); not entered")]
    OtherFilesystem,
    /// It vanished.
    #[error("no longer exists")]
    Gone,
    /// Another error.
    #[error("{0}")]
    Io(Errno),
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> OpenError {
        match e {
            Errno::ELOOP | Errno::ENOTDIR => OpenError::NotADirectory,
            Errno::ENOENT => OpenError::Gone,
            other => OpenError::Io(other),
        }
    }
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_NOCTTY);

impl DirHandle {
    /// Opens a zone root. The configured path is resolved normally (an
    /// admin may mount or link the recordings anywhere); everything below
    /// it is opened without following symlinks.
    pub fn open_root(path: &Path) -> Result<DirHandle, OpenError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
            Mode::empty(),
        )?;
        DirHandle::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> Result<DirHandle, OpenError> {
        let st = fstat(&fd)?;
        Ok(DirHandle {
            fd,
            dev: st.st_dev,
            ino: st.st_ino,
            ctime: st.st_ctime,
        })
    }

    /// Opens the subdirectory `name` without following symlinks and
    /// refuses one on another filesystem.
    pub fn open_sub(&self, name: &OsStr) -> Result<DirHandle, OpenError> {
        let fd = openat(&self.fd, name, DIR_FLAGS, Mode::empty())?;
        let h = DirHandle::from_fd(fd)?;
        if h.dev != self.dev {
            return Err(OpenError::OtherFilesystem);
        }
        Ok(h)
    }

    /// Opens a relative path component by component (`rel` uses '/'),
    /// each with [`DirHandle::open_sub`]. Empty `rel` reopens `self`.
    pub fn open_rel(&self, rel: &[u8]) -> Result<DirHandle, OpenError> {
        let mut cur: Option<DirHandle> = None;
        for comp in rel.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            if comp == b"." || comp == b".." {
                return Err(OpenError::NotADirectory);
            }
            let next = match &cur {
                None => self.open_sub(OsStr::from_bytes(comp))?,
                Some(d) => d.open_sub(OsStr::from_bytes(comp))?,
            };
            cur = Some(next);
        }
        match cur {
            Some(d) => Ok(d),
            None => DirHandle::from_fd(openat(&self.fd, ".", DIR_FLAGS, Mode::empty())?),
        }
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`.
    pub fn stat(&self, name: &OsStr) -> Result<FileStat, Errno> {
        fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|s| stat_of(&s))
    }

    /// Opens a file of this directory for reading, without following a
    /// symlink, and only if it is still the file `expected` describes.
    pub fn open_file(&self, name: &OsStr, expected: &FileStat) -> Result<OwnedFd, Errno> {
        let fd = openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
            Mode::empty(),
        )?;
        if !stat_of(&fstat(&fd)?).same_file(expected) {
            return Err(Errno::ESTALE);
        }
        Ok(fd)
    }

    /// Lists the entries (without `.` and `..`), with the kind the
    /// directory reports (None when the filesystem does not say).
    pub fn entries(&self) -> Result<Vec<(OsString, Option<Kind>)>, Errno> {
        let mut out = Vec::new();
        self.for_each_entry(|name, kind, _| {
            out.push((name.to_os_string(), kind));
        })?;
        Ok(out)
    }

    /// Calls `f(name, kind, inode)` for every entry (without `.` and `..`)
    /// without collecting them: the scan of a flat directory with a million
    /// files allocates nothing per entry here.
    pub fn for_each_entry(&self, mut f: impl FnMut(&OsStr, Option<Kind>, u64)) -> Result<(), Errno> {
        let dup = nix::unistd::dup(&self.fd)?;
        let mut dir = Dir::from_fd(dup)?;
        for ent in dir.iter() {
            let ent = ent?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let kind = ent.file_type().map(|t| match t {
                Type::File => Kind::File,
                Type::Directory => Kind::Dir,
                Type::Symlink => Kind::Symlink,
                _ => Kind::Other,
            });
            f(OsStr::from_bytes(name), kind, ent.ino());
        }
        Ok(())
    }

    /// Unlinks the regular file `name` if, at this instant, it is still
    /// `expected`. Returns `Ok(false)` when it changed (not deleted) and
    /// `Err(ENOENT)` when it is already gone.
    pub fn unlink_if_same(&self, name: &OsStr, expected: &FileStat) -> Result<bool, Errno> {
        let now = self.stat(name)?;
        if now.kind != Kind::File || !now.same_file(expected) {
            return Ok(false);
        }
        unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir)?;
        Ok(true)
    }

    /// Removes a unit (see [`crate::core::layout`]) as one: a directory
    /// unit `name` (its directory must still have `expected`'s inode) or
    /// the group members in this directory. Every member is checked
    /// against the stat it was recorded with *before* any is unlinked: if
    /// one changed (written since, replaced) nothing is deleted and the
    /// result is `Ok(false)`. Members already gone are skipped. A directory
    /// unit's emptied directories are removed, deepest first; a file that
    /// appeared meanwhile keeps them (it is no member). `Err(ENOENT)`: the
    /// whole unit was already gone; another error: an unlink failed, and
    /// the members before it are gone.
    pub fn remove_unit(
        &self,
        name: &OsStr,
        dir_unit: bool,
        expected: &FileStat,
        members: &[Member],
    ) -> Result<bool, Errno> {
        let own;
        let top = if dir_unit {
            own = match self.open_sub(name) {
                Ok(h) => h,
                Err(OpenError::Gone) => return Err(Errno::ENOENT),
                Err(OpenError::NotADirectory | OpenError::OtherFilesystem) => return Ok(false),
                Err(OpenError::Io(e)) => return Err(e),
            };
            if own.ino != expected.ino {
                return Ok(false);
            }
            &own
        } else {
            self
        };
        // Each member's directory, opened once.
        let mut dirs: std::collections::BTreeMap<Vec<u8>, Option<DirHandle>> = Default::default();
        let split = |rel: &OsStr| -> (Vec<u8>, OsString) {
            let b = rel.as_bytes();
            match b.iter().rposition(|&c| c == b'/') {
                Some(k) => (b[..k].to_vec(), OsStr::from_bytes(&b[k + 1..]).to_os_string()),
                None => (Vec::new(), rel.to_os_string()),
            }
        };
        let mut present = Vec::with_capacity(members.len());
        for m in members {
            let (parent, file) = split(&m.rel);
            let d = dirs.entry(parent.clone()).or_insert_with(|| {
                if parent.is_empty() {
                    None
                } else {
                    top.open_rel(&parent).ok()
                }
            });
            if !parent.is_empty() && d.is_none() {
                continue; // its directory is gone: so is the member
            }
            let d = d.as_ref().unwrap_or(top);
            match d.stat(&file) {
                Ok(now) if now.kind == Kind::File && now.same_file(&m.stat) => present.push((parent, file, m)),
                Ok(_) => return Ok(false),
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        if present.is_empty() && !dir_unit {
            return Err(Errno::ENOENT);
        }
        for (parent, file, m) in &present {
            let d = dirs.get(parent).and_then(|d| d.as_ref()).unwrap_or(top);
            match d.unlink_if_same(file, &m.stat) {
                Ok(_) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        if dir_unit {
            // Emptied directories below the unit, then the unit's own.
            top.prune_empty(crate::fs::scan::MAX_DEPTH);
            let _ = top.fsync();
            let _ = self.rmdir(name);
        }
        Ok(true)
    }

    /// Removes every empty directory below this one, deepest first, down to
    /// `depth` levels (directories with anything in them stay).
    pub fn prune_empty(&self, depth: usize) {
        if depth == 0 {
            return;
        }
        let Ok(entries) = self.entries() else { return };
        let mut removed = false;
        for (name, kind) in entries {
            if kind.is_some_and(|k| k != Kind::Dir) {
                continue;
            }
            if let Ok(sub) = self.open_sub(&name) {
                sub.prune_empty(depth - 1);
                removed |= self.rmdir(&name).is_ok();
            }
        }
        if removed {
            let _ = self.fsync();
        }
    }

    /// Removes the empty subdirectory `name` (fails with ENOTEMPTY otherwise).
    pub fn rmdir(&self, name: &OsStr) -> Result<(), Errno> {
        unlinkat(&self.fd, name, UnlinkatFlags::RemoveDir)
    }

    /// Makes the directory's entries durable.
    pub fn fsync(&self) -> Result<(), Errno> {
        nix::unistd::fsync(&self.fd)
    }

    /// The identity of its filesystem (`f_fsid`), and whether it is a
    /// mount point (`..` is on another device).
    pub fn fs_identity(&self) -> Result<(u64, bool), Errno> {
        let fsid = nix::sys::statvfs::fstatvfs(&self.fd)?.filesystem_id() as u64;
        let parent = fstatat(&self.fd, "..", AtFlags::AT_SYMLINK_NOFOLLOW)?;
        Ok((fsid, parent.st_dev != self.dev || parent.st_ino == self.ino))
    }

    /// Filesystem usage of the filesystem holding this directory.
    pub fn usage(&self) -> Result<FsStat, Errno> {
        let s = nix::sys::statvfs::fstatvfs(&self.fd)?;
        let frsize = s.fragment_size() as u64;
        let total = (s.blocks() as u64).saturating_mul(frsize);
        let free = (s.blocks_free() as u64).saturating_mul(frsize);
        let avail = (s.blocks_available() as u64).saturating_mul(frsize);
        Ok(FsStat {
            total,
            used: total.saturating_sub(free),
            avail,
            free,
        })
    }

    /// The raw descriptor, for callers that need it.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Who may write into an ext4 filesystem's reserved blocks (besides
/// processes with `CAP_SYS_RESOURCE`), from `/proc/fs/ext4/<dev>/options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedFor {
    /// `resuid=`.
    pub uid: u32,
    /// `resgid=`.
    pub gid: u32,
}

/// The ext4 filesystem holding `path`: its block device's path and who may
/// use its reserved blocks. `None` when it is not ext4 (or /proc and /sys
/// do not tell, as under the unit's `ProcSubset=pid`).
pub fn ext4_reserved_for(path: &Path) -> Option<(PathBuf, ReservedFor)> {
    let dev = nix::sys::stat::stat(path).ok()?.st_dev;
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let link = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    let name = link.file_name()?.to_str()?.to_string();
    let options = std::fs::read_to_string(format!("/proc/fs/ext4/{name}/options")).ok()?;
    let field = |key: &str| {
        options
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.parse::<u32>().ok())
    };
    Some((
        PathBuf::from(format!("/dev/{name}")),
        ReservedFor {
            uid: field("resuid=")?,
            gid: field("resgid=")?,
        },
    ))
}

/// `statvfs` reduced to the figures watermarks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    /// Size of the filesystem.
    pub total: u64,
    /// Used bytes (total minus free).
    pub used: u64,
    /// Bytes available to unprivileged users.
    pub avail: u64,
    /// Free bytes, the filesystem's reserved blocks included.
    pub free: u64,
}

impl FsStat {
    /// Free bytes only privileged writers may take: root by default, or
    /// the user or group an ext4 filesystem grants them to (`tune2fs -u`,
    /// `-g`, or the `resuid=`/`resgid=` mount options).
    pub fn reserved(&self) -> u64 {
        self.free.saturating_sub(self.avail)
    }
}

/// Replaces the file `path` durably and atomically: a temporary file in
/// the same directory, written and fsynced, given the directory's owner,
/// renamed over `path`, then the directory fsynced. A crash leaves the old
/// or the new content, never a torn one.
pub fn replace_file(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(body)?;
    tmp.as_file().sync_all()?;
    let _ = adopt_dir_owner(tmp.as_file(), dir);
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// When running as root, gives `file` (just created in `dir`) the owner and
/// group of `dir`. The service runs as its own user; a root `retentionctl`
/// changing the state directory while the daemon is stopped must not leave
/// files (the hold store, its lock, the audit log) that user cannot write.
/// Does nothing for other users or a root-owned directory.
pub fn adopt_dir_owner(file: &impl AsFd, dir: &Path) -> std::io::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let st = nix::sys::stat::stat(dir)?;
    if st.st_uid == 0 && st.st_gid == 0 {
        return Ok(());
    }
    nix::unistd::fchown(
        file,
        Some(nix::unistd::Uid::from_raw(st.st_uid)),
        Some(nix::unistd::Gid::from_raw(st.st_gid)),
    )?;
    Ok(())
}

/// Puts the calling thread in the idle I/O scheduling class
/// (`ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE)`), so that its
/// unlinks and fsyncs get the disk only when the recorders leave it idle,
/// with or without the unit's `IOSchedulingClass=idle`. Schedulers without
/// priorities (`none`) ignore it; mq-deadline and BFQ honour it, and age
/// idle requests so that they are never starved for good.
#[allow(unsafe_code)]
pub fn idle_io_priority() -> std::io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
    // SAFETY: ioprio_set takes three integers and touches no memory of
    // ours; `who` 0 is the calling thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's I/O priority class (0 none, 1 realtime, 2
/// best-effort, 3 idle), for tests and the benchmark.
#[allow(unsafe_code)]
pub fn io_priority_class() -> std::io::Result<u8> {
    // SAFETY: as above; ioprio_get only returns an integer.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, 1 as libc::c_long, 0 as libc::c_long) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok((r >> 13) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_can_take_the_idle_io_class() {
        std::thread::spawn(|| {
            idle_io_priority().unwrap();
            assert_eq!(io_priority_class().unwrap(), 3);
        })
        .join()
        .unwrap();
    }
    use std::os::unix::fs::symlink;

    #[test]
    fn never_follows_symlinks_below_root() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), b"x").unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        symlink(outside.path(), t.path().join("link")).unwrap();
        let root = DirHandle::open_root(t.path()).unwrap();
        assert!(matches!(
            root.open_sub(OsStr::new("link")),
            Err(OpenError::NotADirectory)
        ));
        assert!(matches!(root.open_rel(b"link/"), Err(OpenError::NotADirectory)));
        assert!(matches!(root.open_rel(b"../x"), Err(OpenError::NotADirectory)));
        assert!(matches!(root.open_sub(OsStr::new("nope")), Err(OpenError::Gone)));
        let real = root.open_rel(b"real").unwrap();
        assert_eq!(real.dev, root.dev);
        let st = root.stat(OsStr::new("link")).unwrap();
        assert_eq!(st.kind, Kind::Symlink);
    }

    #[test]
    fn unlink_checks_identity() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        std::fs::write(&p, b"one").unwrap();
        let d = DirHandle::open_root(t.path()).unwrap();
        let st = d.stat(OsStr::new("f")).unwrap();
        // Replaced by another file with the same name: refused.
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"other content").unwrap();
        assert_eq!(d.unlink_if_same(OsStr::new("f"), &st), Ok(false));
        assert!(p.exists());
        let st2 = d.stat(OsStr::new("f")).unwrap();
        assert_eq!(d.unlink_if_same(OsStr::new("f"), &st2), Ok(true));
        assert!(!p.exists());
        assert_eq!(d.unlink_if_same(OsStr::new("f"), &st2), Err(Errno::ENOENT));
    }

    #[test]
    fn lists_entries_with_kinds() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), b"").unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        let d = DirHandle::open_root(t.path()).unwrap();
        let mut e = d.entries().unwrap();
        e.sort();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, "a");
        assert!(d.usage().unwrap().total > 0);
    }

    #[test]
    fn root_created_files_take_the_directory_owner() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let nobody = (nix::unistd::Uid::from_raw(65534), nix::unistd::Gid::from_raw(65534));
        nix::unistd::chown(t.path(), Some(nobody.0), Some(nobody.1)).unwrap();
        let f = std::fs::File::create(t.path().join("holds.json.tmp")).unwrap();
        adopt_dir_owner(&f, t.path()).unwrap();
        let st = fstat(&f).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (65534, 65534));
    }
}
