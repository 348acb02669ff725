//! The filesystem each zone root was on when first seen
//! (`state_dir/roots.json`), and the check that a root is still on it.

use std::collections::BTreeMap;

use crate::core::inventory::Inventory;
use crate::core::policy::Policy;

/// A zone root's filesystem: its `f_fsid`, and whether it is a mount point.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq, Clone, Copy, Debug)]
pub struct RootId {
    /// `statvfs` f_fsid.
    pub fsid: u64,
    /// Whether the root was a mount point.
    pub mount_point: bool,
}

/// Root identities by root path (`state_dir/roots.json`).
pub type RootIds = BTreeMap<String, RootId>;

/// The filesystem each zone root was on when first seen, kept in
/// `state_dir/roots.json`: a root whose mount vanished (the directory is
/// now a bare mount point on the parent filesystem) or that now holds
/// another filesystem is not read as "everything was deleted", nor
/// deleted in: it becomes an unavailable root (alarm `root-unavailable`,
/// saying why) until the same filesystem is back. A root seen for the first
/// time is learned (not in a dry run, which writes nothing).
/// `known` is the file's content, read once per policy load (`None`:
/// read it now).
pub fn check_root_identities(policy: &Policy, inv: &mut Inventory, learn: bool, known: &mut Option<RootIds>) {
    let path = policy.daemon.state_dir.join("roots.json");
    let known = known.get_or_insert_with(|| {
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    });
    let mut learned = false;
    for r in inv.zones.iter_mut().flat_map(|z| z.roots.iter_mut()) {
        if r.error.is_some() || r.dirs.is_empty() {
            continue;
        }
        let now = RootId {
            fsid: r.fsid,
            mount_point: r.mount_point,
        };
        let key = r.path.display().to_string();
        let describe = |id: &RootId| {
            format!(
                "{} (filesystem id {:x})",
                if id.mount_point {
                    "a mount point"
                } else {
                    "a plain directory"
                },
                id.fsid
            )
        };
        match known.get(&key) {
            None => {
                known.insert(key, now);
                learned = true;
            }
            Some(k) if *k == now => {}
            Some(k) => {
                r.error = Some(format!(
                    "zone root {} is not the filesystem it was: {} when first seen, {} now; its mount may be missing or another filesystem mounted there. Nothing is read or deleted there until it is back (if the change is intended, remove its entry from {} and reload)",
                    r.path.display(),
                    describe(k),
                    describe(&now),
                    path.display()
                ));
                r.dirs.clear();
                r.detail.clear();
            }
        }
    }
    if learned && learn {
        let body = serde_json::to_vec_pretty(&*known).unwrap_or_default();
        if let Err(e) = crate::fs::handle::replace_file(&path, &body) {
            log::warn!("cannot save {}: {e}", path.display());
        }
    }
}
