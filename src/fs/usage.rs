//! Filesystem usage: `statvfs` of each filesystem holding a zone root,
//! with the watermarks in force for it, and what a small box needs to know
//! about its reserved blocks.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::core::inventory::Inventory;
use crate::core::plan::{FsUsage, Usage};
use crate::core::policy::Policy;
use crate::core::units::Bytes;
use crate::fs::handle::DirHandle;

/// Measures every filesystem holding a scanned zone root, with the
/// watermarks in force for it (a `[[capacity.filesystem]]` override whose
/// mount is on the same device, else the default). What the audit log adds
/// where it shares a filesystem is the sweep's to say
/// ([`crate::sweep::usage`]).
pub fn measure(policy: &Policy, inv: &Inventory) -> Usage {
    measure_with(policy, inv, true)
}

/// [`measure`], with each filesystem named by its mount point from
/// `/proc/self/mountinfo` (`labels`), or, for the daemon's check between
/// sweeps whether new recordings crossed a high watermark, by the
/// configured mount or the root itself: only `statvfs`, no `mountinfo`
/// read and no path resolution.
pub fn measure_with(policy: &Policy, inv: &Inventory, labels: bool) -> Usage {
    let mut seen: HashMap<u64, FsUsage> = HashMap::new();
    let mut order = Vec::new();
    let overrides: Vec<(u64, &crate::core::policy::FsOverride)> = policy
        .filesystems
        .iter()
        .filter_map(|o| nix::sys::stat::stat(&o.mount).ok().map(|s| (s.st_dev, o)))
        .collect();
    let mounts = if labels { mount_points() } else { Vec::new() };
    for root in inv.zones.iter().flat_map(|z| &z.roots) {
        let Some(dev) = root.dev else { continue };
        if seen.contains_key(&dev) {
            continue;
        }
        let Ok(h) = DirHandle::open_root(&root.path) else {
            continue;
        };
        let Ok(st) = h.usage() else { continue };
        let over = overrides.iter().find(|(d, _)| *d == dev).map(|(_, o)| *o);
        let marks = over.map(|o| o.marks).unwrap_or(policy.default_marks);
        let mount = over
            .map(|o| o.mount.clone())
            .or_else(|| labels.then(|| mount_of(&mounts, &root.path)).flatten())
            .unwrap_or_else(|| root.path.clone());
        order.push(dev);
        seen.insert(dev, FsUsage::new(dev, mount, Bytes(st.used), Bytes(st.avail), marks));
    }
    Usage {
        filesystems: order.into_iter().filter_map(|d| seen.remove(&d)).collect(),
    }
}

/// Advice for a small box (`retentiond --check-config`): when the audit
/// log shares a filesystem with zone roots, whether a first start on that
/// filesystem at 100% could record its deletions, and how to make sure.
/// `service_gid` is the service group's id, if it exists here.
pub fn small_box_notes(policy: &Policy, service_gid: Option<u32>) -> Vec<String> {
    let Some(dir) = policy.daemon.audit_log.parent() else {
        return Vec::new();
    };
    // The nearest existing ancestor: the state directory may not exist yet.
    let Some(dir) = dir.ancestors().find(|d| d.exists()) else {
        return Vec::new();
    };
    let Ok(log_dev) = nix::sys::stat::stat(dir).map(|s| s.st_dev) else {
        return Vec::new();
    };
    let shared: Vec<&str> = policy
        .zones
        .iter()
        .filter(|z| {
            z.roots
                .iter()
                .any(|r| nix::sys::stat::stat(r.as_path()).is_ok_and(|s| s.st_dev == log_dev))
        })
        .map(|z| z.name.0.as_str())
        .collect();
    if shared.is_empty() {
        return Vec::new();
    }
    let Some(stat) = DirHandle::open_root(dir).ok().and_then(|h| h.usage().ok()) else {
        return Vec::new();
    };
    let what = format!(
        "the audit log ({}) shares a filesystem with zone {}",
        policy.daemon.audit_log.display(),
        shared.join(", ")
    );
    // Without a service group here (a test box), any group but root's counts.
    let granted = |gid: u32| service_gid.map_or(gid != 0, |g| g == gid);
    let note = match crate::fs::handle::ext4_reserved_for(dir) {
        Some((dev, r)) if stat.reserved() > 0 && granted(r.gid) => format!(
            "{what}: its reserved blocks ({}) are granted to group {} ({}), so a first start on it at 100% can still record its deletions",
            Bytes(stat.reserved()),
            r.gid,
            dev.display()
        ),
        Some((dev, r)) if stat.reserved() > 0 => format!(
            "{what}: its reserved blocks ({}) are for group {} only; a first start on it at 100% cannot record (nor delete) until space is freed by hand. Grant them to the service: mount {} with the option resgid= the retentiond group's id (retentiond(8), SMALL BOXES)",
            Bytes(stat.reserved()),
            r.gid,
            dev.display()
        ),
        Some((dev, _)) => format!(
            "{what}: it has no reserved blocks; a first start on it at 100% cannot record (nor delete) until space is freed by hand. Reserve some (`tune2fs -m 1 {}`) and mount it with the option resgid= the retentiond group's id (retentiond(8), SMALL BOXES)",
            dev.display()
        ),
        None => format!(
            "{what}, which is not ext4 (or does not say who may use its reserved blocks): a first start on it at 100% cannot record (nor delete) until space is freed by hand; keep the state directory on another filesystem (retentiond(8), SMALL BOXES)"
        ),
    };
    vec![note]
}

/// Mount points from /proc/self/mountinfo (empty if unreadable).
fn mount_points() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mount(m)))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> OsString {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsString::from(std::ffi::OsStr::from_bytes(&out))
}

/// The longest mount point containing `path`.
fn mount_of(mounts: &[PathBuf], path: &Path) -> Option<PathBuf> {
    let canon = std::fs::canonicalize(path).ok()?;
    mounts
        .iter()
        .filter(|m| canon.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape_mount("/mnt/my\\040disk"), OsString::from("/mnt/my disk"));
    }
}
