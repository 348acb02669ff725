//! Which directories changed between sweeps: inotify on the directories
//! being written, so a sweep re-reads only those instead of walking the
//! tree.
//!
//! Invariants:
//! - Watched: the zone roots and the directories written lately (with
//!   their ancestors, where new time buckets appear), as the daemon asks
//!   after each sweep. Never the whole tree: a watch costs kernel memory
//!   and old directories receive nothing.
//! - The mask is what changes the inventory, nothing more: entries created,
//!   deleted or moved, files closed after writing, the directory itself
//!   deleted or moved. Not `IN_MODIFY` or `IN_OPEN`: a camera streaming
//!   into a segment would wake the daemon at every write.
//! - A file's events name it: the directory is reported with the names
//!   that changed ([`Changed::Names`]), so a sweep stats those files alone
//!   where the inventory knows the directory file by file. Anything else (a
//!   subdirectory came or went, more than [`MAX_NAMES`] names) reports
//!   the directory whole ([`Changed::All`]).
//! - A directory is reported as changed, whole, when first watched too (it
//!   may have changed before the watch existed), so nothing slips between
//!   a read and a watch.
//! - A directory that cannot be watched (the daemon's cap,
//!   `daemon.max_watches`, or the kernel's `fs.inotify.max_user_watches` is
//!   reached; or inotify is unavailable) is reported as changed at every
//!   sweep ([`Changed::Polled`]): it is polled instead, read whole, and not
//!   kept file by file, since no event will ever name its files. The limit
//!   is logged once.
//! - Queue overflow (`IN_Q_OVERFLOW`) means events were lost, but only
//!   events of watched directories (the others report nothing anyway):
//!   every watched directory is reported as changed, whole, so the next sweep
//!   re-reads those (a few hundred), not the whole tree. A failed `poll`
//!   or `read` ends the watcher: that is reported as lost events, and the
//!   daemon takes a full inventory.
//! - The reader wakes at most once a second: after reading what is queued
//!   it lets events gather in the kernel's queue for [`BATCH_MS`], so a
//!   hundred cameras cost one wake-up a second, not two per segment.
//!
//! Why not the `notify` crate: its inotify backend always adds `IN_MODIFY`
//! and `IN_OPEN` to the mask. The reader is a plain thread blocked in
//! `poll` (tokio's `AsyncFd` constructors are unsafe or deprecated, and the
//! crate forbids unsafe code); it stops when the [`Watcher`] is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

/// What changed in one directory since the last [`Watcher::take`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Anything may have (newly watched, a subdirectory came or went,
    /// events lost): read it whole.
    All,
    /// Not watched (beyond the cap, or without inotify): read it whole at
    /// every sweep. No event will name its files, so keeping it file by
    /// file would be memory spent for nothing.
    Polled,
    /// Only these entries: files created, finished writing, moved in or
    /// out, or deleted. Re-reading just these is enough where the
    /// directory's files are known one by one.
    Names(BTreeSet<OsString>),
}

/// How long the reader lets events gather after reading some (ms).
const BATCH_MS: u16 = 1000;

/// Beyond this many named entries a directory is read whole: as cheap by
/// then, and the set stays small.
const MAX_NAMES: usize = 1024;

/// What changed since the last [`Watcher::take`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Directories whose entries (or recordings) changed, or that must be
    /// polled, and what changed in each.
    pub dirs: BTreeMap<PathBuf, Changed>,
    /// Why events were lost (a full inventory is needed), if they were.
    pub lost: Option<String>,
    /// How many times the inotify queue overflowed: every watched
    /// directory is then in `dirs`, to be read whole.
    pub overflows: u32,
}

impl Changes {
    /// Adds `other` to these changes.
    pub fn merge(&mut self, other: Changes) {
        for (dir, c) in other.dirs {
            match c {
                Changed::All => self.all(dir),
                Changed::Polled => self.polled(dir),
                Changed::Names(names) => {
                    for n in names {
                        self.name(&dir, n);
                    }
                }
            }
        }
        self.overflows += other.overflows;
        if self.lost.is_none() {
            self.lost = other.lost;
        }
    }

    /// `dir` is to be read whole.
    pub fn all(&mut self, dir: PathBuf) {
        self.dirs.insert(dir, Changed::All);
    }

    /// `dir` is polled: read whole, and not kept file by file.
    pub fn polled(&mut self, dir: PathBuf) {
        self.dirs.insert(dir, Changed::Polled);
    }

    /// Entry `name` of `dir` changed.
    pub fn name(&mut self, dir: &Path, name: OsString) {
        match self.dirs.get_mut(dir) {
            Some(Changed::All | Changed::Polled) => {}
            Some(Changed::Names(names)) => {
                names.insert(name);
                if names.len() > MAX_NAMES {
                    self.all(dir.to_path_buf());
                }
            }
            None => {
                self.dirs.insert(dir.to_path_buf(), Changed::Names([name].into()));
            }
        }
    }
}

#[derive(Default)]
struct State {
    by_wd: HashMap<WatchDescriptor, PathBuf>,
    by_path: HashMap<PathBuf, WatchDescriptor>,
    changes: Changes,
    /// Wanted but not watched: polled.
    unwatched: Vec<PathBuf>,
    limit_logged: bool,
}

/// The watches, and what they reported.
pub struct Watcher {
    fd: Option<Arc<Inotify>>,
    max: usize,
    state: Arc<Mutex<State>>,
    /// Closing this (on drop) stops the reader thread.
    stop: Mutex<Option<OwnedFd>>,
}

const MASK: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_ONLYDIR)
    .union(AddWatchFlags::IN_DONT_FOLLOW);

impl Watcher {
    /// Opens inotify, to use at most `max` watches. Without it (or with
    /// `max` 0) every wanted directory is polled, and that is logged.
    pub fn new(max: usize) -> Watcher {
        let fd = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            _ if max == 0 => {
                log::info!("daemon.max_watches is 0: the directories being written are re-read at every sweep");
                None
            }
            Ok(fd) => Some(Arc::new(fd)),
            Err(e) => {
                log::warn!(
                    "cannot use inotify ({e}): the directories being written are re-read at every sweep instead"
                );
                None
            }
        };
        Watcher {
            fd,
            max,
            state: Arc::new(Mutex::new(State::default())),
            stop: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the reader thread (once); `arrived` gets a signal whenever a
    /// file was created or finished in a watched directory (for early
    /// sweeps). It ends when the watcher is dropped.
    pub fn start(&self, arrived: tokio::sync::mpsc::Sender<()>) -> std::io::Result<()> {
        let Some(fd) = self.fd.clone() else { return Ok(()) };
        let (stop_rx, stop_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop_tx);
        let state = self.state.clone();
        std::thread::Builder::new().name("inotify".into()).spawn(move || loop {
            let mut fds = [
                PollFd::new(fd.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop_rx.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    log::error!("cannot wait for inotify events ({e}): the next sweep takes a full inventory");
                    lost(&state, format!("inotify poll failed: {e}"));
                    return;
                }
            }
            if fds[1].any().unwrap_or(true) {
                return;
            }
            loop {
                match fd.read_events() {
                    Ok(events) => {
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        if apply(&mut st, &events) {
                            let _ = arrived.try_send(());
                        }
                    }
                    Err(Errno::EAGAIN) => {
                        // Events gather in the kernel's queue meanwhile: one
                        // wake-up a second at most, however many cameras
                        // write (each segment is two events).
                        let mut stop = [PollFd::new(stop_rx.as_fd(), PollFlags::POLLIN)];
                        if matches!(poll(&mut stop, PollTimeout::from(BATCH_MS)), Ok(n) if n > 0) {
                            return;
                        }
                        break;
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) => {
                        log::error!("cannot read inotify events ({e}): the next sweep takes a full inventory");
                        lost(&state, format!("inotify read failed: {e}"));
                        return;
                    }
                }
            }
        })?;
        Ok(())
    }

    /// Watches exactly `want` (absolute directory paths) from now on.
    /// Newly watched directories, and those that cannot be watched, are
    /// reported as changed.
    pub fn set(&self, want: &BTreeSet<PathBuf>) {
        let mut st = self.lock();
        let st = &mut *st;
        let stale: Vec<PathBuf> = st.by_path.keys().filter(|p| !want.contains(*p)).cloned().collect();
        for p in stale {
            if let (Some(wd), Some(fd)) = (st.by_path.remove(&p), &self.fd) {
                st.by_wd.remove(&wd);
                let _ = fd.rm_watch(wd);
            }
        }
        st.unwatched.clear();
        for p in want {
            if st.by_path.contains_key(p) {
                continue;
            }
            let Some(fd) = &self.fd else {
                st.unwatched.push(p.clone());
                continue;
            };
            let added = if st.by_path.len() >= self.max {
                Err(Errno::ENOSPC)
            } else {
                fd.add_watch(p.as_path(), MASK)
            };
            match added {
                Ok(wd) => {
                    st.by_wd.insert(wd, p.clone());
                    st.by_path.insert(p.clone(), wd);
                    st.changes.all(p.clone());
                }
                Err(Errno::ENOSPC) => {
                    if !st.limit_logged {
                        log::warn!(
                            retention_event = "watch-limit";
                            "the inotify watch limit is reached ({} watches; daemon.max_watches or fs.inotify.max_user_watches): the directories beyond it are re-read at every sweep instead",
                            st.by_path.len()
                        );
                        st.limit_logged = true;
                    }
                    st.unwatched.push(p.clone());
                }
                // Gone meanwhile, or not a directory (a symlink is never
                // followed): the next read of its parent tells.
                Err(_) => {}
            }
        }
    }

    /// What changed since the last call, plus the directories that are
    /// polled.
    pub fn take(&self) -> Changes {
        let mut st = self.lock();
        let mut c = std::mem::take(&mut st.changes);
        for p in &st.unwatched {
            c.polled(p.clone());
        }
        c
    }

    /// How many directories are watched.
    pub fn watched(&self) -> usize {
        self.lock().by_path.len()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Closing the pipe's write end wakes the reader, which returns.
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn lost(state: &Mutex<State>, why: String) {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.changes.lost.get_or_insert(why);
}

/// Records events; true when a file arrived.
fn apply(st: &mut State, events: &[InotifyEvent]) -> bool {
    let mut arrived = false;
    for ev in events {
        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            // Only watched directories had events to lose: re-read them all.
            st.changes.overflows += 1;
            for p in st.by_path.keys() {
                st.changes.all(p.clone());
            }
            continue;
        }
        let Some(path) = st.by_wd.get(&ev.wd).cloned() else {
            continue;
        };
        if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
            st.by_wd.remove(&ev.wd);
            if st.by_path.get(&path) == Some(&ev.wd) {
                st.by_path.remove(&path);
            }
            continue;
        }
        if ev
            .mask
            .intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF)
        {
            // Its parent's entries changed too.
            if let Some(parent) = path.parent() {
                st.changes.all(parent.to_path_buf());
            }
        }
        let is_dir = ev.mask.contains(AddWatchFlags::IN_ISDIR);
        if !is_dir
            && ev
                .mask
                .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE)
        {
            arrived = true;
        }
        match &ev.name {
            // A file came, was finished, moved or went: that entry alone.
            Some(name) if !is_dir => st.changes.name(&path, name.clone()),
            // A subdirectory came or went (a new time bucket), or the
            // event names nothing: the directory is read whole.
            _ => st.changes.all(path),
        }
    }
    arrived
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settle(w: &Watcher) -> Changes {
        // Events are read by the reader thread, at most once a second; one
        // write's events (create, close) may straddle two reads, so a
        // further batch is waited for and merged.
        for _ in 0..300 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let mut c = w.take();
            if !c.dirs.is_empty() || c.lost.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(BATCH_MS) + 200)).await;
                c.merge(w.take());
                return c;
            }
        }
        Changes::default()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reports_changed_directories_and_arrivals() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("a/b");
        std::fs::create_dir_all(&b).unwrap();
        let w = Watcher::new(100);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        w.start(tx).unwrap();
        let want: BTreeSet<PathBuf> = [a.clone(), b.clone()].into();
        w.set(&want);
        // Newly watched directories count as changed.
        assert_eq!(w.take().dirs, all(&want));
        assert_eq!(w.watched(), 2);
        std::fs::write(b.join("00.00.mp4"), b"x").unwrap();
        let c = settle(&w).await;
        assert_eq!(
            c.dirs,
            [(b.clone(), Changed::Names([OsString::from("00.00.mp4")].into()))].into(),
            "a file's events name it alone"
        );
        assert!(rx.try_recv().is_ok(), "an arrival is signalled");
        std::fs::create_dir(a.join("c")).unwrap();
        assert_eq!(
            settle(&w).await.dirs,
            all(&[a.clone()].into()),
            "a new subdirectory: read whole"
        );
        assert!(rx.try_recv().is_err(), "a new directory is no arrival");
        // A watched directory removed: its parent changed; the watch goes.
        std::fs::remove_file(b.join("00.00.mp4")).unwrap();
        std::fs::remove_dir(&b).unwrap();
        let c = settle(&w).await;
        assert_eq!(c.dirs.get(&a), Some(&Changed::All), "{c:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(w.watched(), 1);
        // Dropping a directory from the wanted set unwatches it.
        w.set(&BTreeSet::new());
        assert_eq!(w.watched(), 0);
    }

    #[test]
    fn beyond_the_cap_directories_are_polled() {
        let t = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..3).map(|i| t.path().join(format!("d{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
        }
        let want: BTreeSet<PathBuf> = dirs.iter().cloned().collect();
        let w = Watcher::new(2);
        w.set(&want);
        assert_eq!(w.watched(), 2);
        let mut first = all(&[dirs[0].clone(), dirs[1].clone()].into());
        first.insert(dirs[2].clone(), Changed::Polled);
        assert_eq!(w.take().dirs, first, "two newly watched, one polled");
        let polled = BTreeMap::from([(dirs[2].clone(), Changed::Polled)]);
        assert_eq!(w.take().dirs, polled, "the polled one, every time");
        assert_eq!(w.take().dirs, polled);
        let none = Watcher::new(0);
        none.set(&want);
        assert_eq!(none.watched(), 0);
        let every: BTreeMap<PathBuf, Changed> = want.iter().map(|d| (d.clone(), Changed::Polled)).collect();
        assert_eq!(none.take().dirs, every);
        assert_eq!(none.take().dirs, every);
    }

    #[test]
    fn overflow_reports_every_watched_directory() {
        let mut st = State::default();
        let (a, b) = (PathBuf::from("/r/a"), PathBuf::from("/r/b"));
        st.by_path.insert(a.clone(), some_wd());
        st.by_path.insert(b.clone(), some_wd());
        let ev = InotifyEvent {
            wd: some_wd(),
            mask: AddWatchFlags::IN_Q_OVERFLOW,
            cookie: 0,
            name: None,
        };
        apply(&mut st, &[ev]);
        assert_eq!(st.changes.lost, None, "no full inventory");
        assert_eq!(st.changes.overflows, 1);
        assert_eq!(st.changes.dirs, all(&[a, b].into()));
    }

    /// A real overflow: more events than the kernel queues
    /// (`fs.inotify.max_queued_events`) arrive before the reader starts.
    #[tokio::test]
    async fn a_real_overflow_rereads_the_watched_directories_only() {
        let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16384);
        let t = tempfile::tempdir().unwrap();
        let (busy, quiet, old) = (t.path().join("busy"), t.path().join("quiet"), t.path().join("old"));
        for d in [&busy, &quiet, &old] {
            std::fs::create_dir(d).unwrap();
        }
        let w = Watcher::new(16);
        let want: BTreeSet<PathBuf> = [t.path().to_path_buf(), busy.clone(), quiet.clone()].into();
        w.set(&want);
        w.take();
        for i in 0..max + 64 {
            std::fs::File::create(busy.join(i.to_string())).unwrap();
        }
        std::fs::File::create(old.join("x")).unwrap();
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        w.start(tx).unwrap();
        // The reader takes the queue in chunks; the overflow comes last.
        let mut c = Changes::default();
        for _ in 0..500 {
            c.merge(w.take());
            if c.overflows > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(c.lost, None, "{c:?}");
        assert!(c.overflows >= 1, "the queue overflowed");
        assert_eq!(c.dirs, all(&want), "every watched directory, whole, and nothing else");
    }

    fn all(dirs: &BTreeSet<PathBuf>) -> BTreeMap<PathBuf, Changed> {
        dirs.iter().map(|d| (d.clone(), Changed::All)).collect()
    }

    #[test]
    fn names_merge_and_fall_back_to_the_whole_directory() {
        let d = PathBuf::from("/r/a");
        let mut c = Changes::default();
        c.name(&d, "1.mp4".into());
        let mut later = Changes::default();
        later.name(&d, "2.mp4".into());
        c.merge(later);
        assert_eq!(c.dirs[&d], Changed::Names(["1.mp4".into(), "2.mp4".into()].into()));
        let mut whole = Changes::default();
        whole.all(d.clone());
        c.merge(whole);
        c.name(&d, "3.mp4".into());
        assert_eq!(c.dirs[&d], Changed::All, "whole stays whole");
        let mut many = Changes::default();
        for i in 0..=MAX_NAMES {
            many.name(&d, i.to_string().into());
        }
        assert_eq!(many.dirs[&d], Changed::All, "past MAX_NAMES, whole");
    }

    /// A watch descriptor for a synthetic event (nix has no constructor):
    /// taken from a real inotify instance.
    fn some_wd() -> WatchDescriptor {
        let i = Inotify::init(InitFlags::IN_CLOEXEC).unwrap();
        i.add_watch("/", AddWatchFlags::IN_CREATE).unwrap()
    }
}
