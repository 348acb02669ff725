//! Acknowledged recording sources (`retentionctl alarm ack`): `acks.json`
//! in the state directory, read by each sweep.
//!
//! Invariants: the file is replaced atomically and durably; an
//! acknowledgement is recorded in the audit log (durably) before it is
//! written here; one acknowledgement per subject (a newer one replaces it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::stall::Ack;

/// Where the acknowledgements live.
#[derive(Clone, Debug)]
pub struct AckStore {
    path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    acks: Vec<Ack>,
}

impl AckStore {
    /// The store of a state directory.
    pub fn new(state_dir: &Path) -> AckStore {
        AckStore {
            path: state_dir.join("acks.json"),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every acknowledgement (none when there is no file yet).
    pub fn read(&self) -> Result<Vec<Ack>, String> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice::<File>(&b)
                .map(|f| f.acks)
                .map_err(|e| format!("{}: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// Adds `ack`, replacing an older one of the same subject.
    pub fn add(&self, ack: Ack) -> Result<(), String> {
        let mut acks = self.read()?;
        acks.retain(|a| a.subject != ack.subject);
        acks.push(ack);
        let mut body = serde_json::to_vec_pretty(&File { acks }).map_err(|e| e.to_string())?;
        body.push(b'\n');
        crate::fs::handle::replace_file(&self.path, &body)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::units::Timestamp;

    #[test]
    fn acks_persist_and_a_newer_one_replaces_the_older() {
        let dir = tempfile::tempdir().unwrap();
        let s = AckStore::new(dir.path());
        assert_eq!(s.read().unwrap(), vec![]);
        let ack = |subject: &str, at| Ack {
            subject: subject.into(),
            at: Timestamp(at),
            user: "sup".into(),
            uid: 1001,
            reason: "retired".into(),
        };
        s.add(ack("cctv/cam07", 10)).unwrap();
        s.add(ack("calls", 11)).unwrap();
        s.add(ack("cctv/cam07", 12)).unwrap();
        assert_eq!(s.read().unwrap(), vec![ack("calls", 11), ack("cctv/cam07", 12)]);
        std::fs::write(s.path(), "{").unwrap();
        assert!(s.read().unwrap_err().contains("acks.json"));
    }
}
