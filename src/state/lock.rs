//! The state directory's exclusive lock: one writer (the daemon, or
//! `retentiond --once`) for its whole life; a second one refuses to start.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// The exclusive lock on the state directory.
pub struct StateLock {
    _lock: Flock<File>,
    /// The locked directory.
    pub dir: PathBuf,
}

impl StateLock {
    /// Creates the state directory if needed (mode 0750) and locks it.
    pub fn acquire(dir: &Path) -> Result<StateLock> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create state directory {}", dir.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750));
        }
        let path = dir.join("retentiond.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        crate::fs::handle::adopt_dir_owner(&f, dir).with_context(|| format!("cannot chown {}", path.display()))?;
        let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            anyhow::anyhow!(
                "state directory {} is locked by another retentiond ({e}); stop the service or use `retentionctl plan`",
                dir.display()
            )
        })?;
        Ok(StateLock {
            _lock: lock,
            dir: dir.to_path_buf(),
        })
    }
}
