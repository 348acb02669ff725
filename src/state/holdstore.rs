//! The durable hold store: `STATE_DIR/holds.json`, guarded by an exclusive
//! `flock` on `STATE_DIR/holds.lock`.
//!
//! Invariants:
//! - Every change is made under the lock: read the file, change, write a
//!   temporary file, fsync it, rename it over `holds.json`, fsync the
//!   directory. A crash leaves either the old or the new store, never half.
//! - The sweep takes the same lock around each deletion batch (see
//!   [`crate::sweep::execute::StoreGate`]), re-reading the store first; so a hold whose `add`
//!   returned success is honoured by every batch that starts afterwards,
//!   and a batch in flight finishes before the add can commit.
//! - A store that cannot be read or parsed is an error, never "no holds":
//!   the sweep deletes nothing until it is repaired.
//! - Hold ids are never reused (`next_id` only grows); released and lapsed
//!   holds stay in the store so that later deletion records can cite them.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::core::cases::{check_reference, Case};
use crate::core::holds::{Hold, HoldId, HoldSet};

/// File name of the store inside the state directory.
pub const STORE_FILE: &str = "holds.json";
/// File name of its lock.
pub const LOCK_FILE: &str = "holds.lock";

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on the store or its lock.
    #[error("{path}: {what}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        err: std::io::Error,
    },
    /// The store exists but is not a valid hold store.
    #[error(
        "{path}:{line}:{col}: the hold store is corrupt ({msg}); nothing will be deleted until it is repaired or restored from backup"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column.
        col: usize,
        /// The parser's message.
        msg: String,
    },
}

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    version: u32,
    next_id: u64,
    holds: Vec<Hold>,
    /// Cases (data subjects' requests, investigations); absent in stores
    /// written before cases existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cases: Vec<Case>,
}

/// Parses store text; every hold's glob is compiled (a bad glob is
/// corruption too). Pure: also the fuzzing entry point.
pub fn parse(path: &Path, text: &str) -> Result<(HoldSet, u64), StoreError> {
    parse_all(path, text).map(|(h, n, _)| (h, n))
}

/// [`parse`], with the store's cases (each reference valid and unique,
/// each case's hold in the store).
pub fn parse_all(path: &Path, text: &str) -> Result<(HoldSet, u64, Vec<Case>), StoreError> {
    let corrupt = |line, col, msg: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        line,
        col,
        msg,
    };
    let mut s: Stored = serde_json::from_str(text).map_err(|e| corrupt(e.line(), e.column(), e.to_string()))?;
    if s.version != 1 {
        return Err(corrupt(0, 0, format!("unknown version {}", s.version)));
    }
    let mut seen = std::collections::BTreeSet::new();
    for h in &mut s.holds {
        h.compile().map_err(|m| corrupt(0, 0, format!("hold {}: {m}", h.id)))?;
        if !seen.insert(h.id) || h.id.0 >= s.next_id {
            return Err(corrupt(
                0,
                0,
                format!("hold id {} is duplicated or not below next_id {}", h.id, s.next_id),
            ));
        }
    }
    let mut refs = std::collections::BTreeSet::new();
    for c in &s.cases {
        check_reference(&c.reference).map_err(|m| corrupt(0, 0, format!("case {:?}: reference {m}", c.reference)))?;
        if !refs.insert(c.reference.as_str()) {
            return Err(corrupt(0, 0, format!("case {:?} is duplicated", c.reference)));
        }
        if let Some(h) = c.hold {
            if !seen.contains(&h) {
                return Err(corrupt(
                    0,
                    0,
                    format!("case {:?} names hold {h}, not in the store", c.reference),
                ));
            }
        }
    }
    Ok((HoldSet::new(s.holds), s.next_id, s.cases))
}

/// (inode, size, mtime ns) of the store file: changes with every commit.
pub type Stamp = (u64, u64, i64);

/// The store of one state directory.
#[derive(Debug, Clone)]
pub struct HoldStore {
    dir: PathBuf,
}

/// The store, locked and read: change it, then [`Locked::commit`].
pub struct Locked {
    _lock: Flock<File>,
    store: HoldStore,
    /// Every hold.
    pub holds: HoldSet,
    /// The next id to give.
    pub next_id: u64,
    /// Every case.
    pub cases: Vec<Case>,
}

impl HoldStore {
    /// The store in `state_dir` (nothing is opened yet).
    pub fn new(state_dir: &Path) -> HoldStore {
        HoldStore {
            dir: state_dir.to_path_buf(),
        }
    }

    /// Path of `holds.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    fn io(&self, path: PathBuf, what: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
        move |err| StoreError::Io { path, what, err }
    }

    /// Takes the lock (waiting for it) and reads the store.
    pub fn lock(&self) -> Result<Locked, StoreError> {
        let lock = self.take_lock()?;
        let (holds, next_id, cases) = self.read_all()?;
        Ok(Locked {
            _lock: lock,
            store: self.clone(),
            holds,
            next_id,
            cases,
        })
    }

    /// Takes the store's exclusive lock (waiting for it), without reading.
    pub fn take_lock(&self) -> Result<Flock<File>, StoreError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(self.io(lock_path.clone(), "cannot open the hold store lock"))?;
        crate::fs::handle::adopt_dir_owner(&f, &self.dir).map_err(self.io(lock_path.clone(), "cannot chown"))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| StoreError::Io {
            path: lock_path,
            what: "cannot lock the hold store",
            err: e.into(),
        })
    }

    /// Reads the store without the lock (a consistent snapshot: writes are
    /// atomic renames). A missing store is an empty one.
    pub fn read(&self) -> Result<(HoldSet, u64), StoreError> {
        self.read_all().map(|(h, n, _)| (h, n))
    }

    /// [`HoldStore::read`], with the cases.
    pub fn read_all(&self) -> Result<(HoldSet, u64, Vec<Case>), StoreError> {
        let path = self.path();
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_all(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((HoldSet::default(), 1, Vec::new())),
            Err(e) => Err(StoreError::Io {
                path,
                what: "cannot read the hold store",
                err: e,
            }),
        }
    }

    /// (inode, size, mtime in ns) of the store file, to skip re-parsing an
    /// unchanged store; None when it does not exist.
    pub fn stamp(&self) -> Result<Option<Stamp>, StoreError> {
        match std::fs::metadata(self.path()) {
            Ok(m) => Ok(Some((m.ino(), m.size(), m.mtime() * 1_000_000_000 + m.mtime_nsec()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io {
                path: self.path(),
                what: "cannot stat the hold store",
                err: e,
            }),
        }
    }
}

impl Locked {
    /// A new hold id.
    pub fn allocate_id(&mut self) -> HoldId {
        let id = HoldId(self.next_id);
        self.next_id += 1;
        id
    }

    /// The hold with this id, mutable.
    pub fn get_mut(&mut self, id: HoldId) -> Option<&mut Hold> {
        self.holds.holds.iter_mut().find(|h| h.id == id)
    }

    /// Writes the store durably (temp file, fsync, rename, fsync dir).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let s = &self.store;
        let stored = Stored {
            version: 1,
            next_id: self.next_id,
            holds: self.holds.holds.clone(),
            cases: self.cases.clone(),
        };
        let mut text = serde_json::to_string_pretty(&stored).expect("holds serialise");
        text.push('\n');
        let tmp = s.dir.join(format!("{STORE_FILE}.tmp"));
        let mut f = File::create(&tmp).map_err(s.io(tmp.clone(), "cannot create"))?;
        crate::fs::handle::adopt_dir_owner(&f, &s.dir).map_err(s.io(tmp.clone(), "cannot chown"))?;
        f.write_all(text.as_bytes())
            .map_err(s.io(tmp.clone(), "cannot write"))?;
        f.sync_all().map_err(s.io(tmp.clone(), "cannot fsync"))?;
        drop(f);
        std::fs::rename(&tmp, s.path()).map_err(s.io(s.path(), "cannot replace"))?;
        File::open(&s.dir)
            .and_then(|d| d.sync_all())
            .map_err(s.io(s.dir.clone(), "cannot fsync"))?;
        self.holds = HoldSet::new(std::mem::take(&mut self.holds.holds));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::units::{Timestamp, ZoneName};
    use crate::sweep::execute::{HoldsGate, StoreGate};

    fn hold(id: HoldId) -> Hold {
        Hold::new(
            id,
            Some(ZoneName("cctv".into())),
            Some("*/cam07/*".into()),
            Timestamp(100),
            Timestamp(200),
            "POL-1".into(),
            "incident".into(),
            "op".into(),
            1000,
            Timestamp(50),
            None,
        )
        .unwrap()
    }

    #[test]
    fn commit_then_read_back_and_corruption_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let store = HoldStore::new(d.path());
        assert!(store.read().unwrap().0.holds.is_empty());
        let mut l = store.lock().unwrap();
        let id = l.allocate_id();
        l.holds.holds.push(hold(id));
        l.commit().unwrap();
        drop(l);
        let (set, next) = store.read().unwrap();
        assert_eq!(next, 2);
        assert!(set.holds[0].covers(&ZoneName("cctv".into()), b"a/cam07/b", Timestamp(150)));
        assert!(!d.path().join("holds.json.tmp").exists());

        std::fs::write(store.path(), "{\"version\":1,\"next_id\":2,\"holds\":[{\"id\":1,").unwrap();
        let e = store.read().unwrap_err().to_string();
        assert!(e.contains("holds.json:1:") && e.contains("corrupt"), "{e}");
        let mut gate = StoreGate::new(store.clone());
        assert!(gate.with_locked(&mut |_| Ok(())).is_err());
        assert!(store.lock().is_err());
    }

    #[test]
    fn gate_rereads_a_changed_store() {
        let d = tempfile::tempdir().unwrap();
        let store = HoldStore::new(d.path());
        let mut gate = StoreGate::new(store.clone());
        let mut n = 0;
        gate.with_locked(&mut |h| {
            n = h.holds.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 0);
        let mut l = store.lock().unwrap();
        let id = l.allocate_id();
        l.holds.holds.push(hold(id));
        l.commit().unwrap();
        drop(l);
        gate.with_locked(&mut |h| {
            n = h.holds.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}
