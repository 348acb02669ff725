//! The daemon: the run loop (sweeps on schedule, early sweeps, SIGHUP
//! reload, shutdown), what the sweeps share with the socket ([`Shared`]),
//! the sweeper's state kept between sweeps ([`sweeper`]), the alarm
//! commands' queue and worker ([`alarm_hooks`]) and the socket server
//! ([`server`]). Each sweep goes through [`crate::sweep`]; each
//! request through [`crate::ops::dispatch`].
//!
//! May not: decide what is deleted (the core does), or handle a request
//! itself.
//!
//! Invariants:
//! - One writer: the daemon holds an exclusive lock on its state directory
//!   for its whole life; a second instance (or `retentiond --once` while
//!   the service runs) refuses to start.
//! - The sweep runs on a blocking thread; a shutdown request (first
//!   SIGTERM/SIGINT) lets the current batch finish, the audit log is
//!   flushed, and the process exits 0. A second signal exits at once.
//! - SIGHUP re-reads the policy; an invalid policy is logged and the old
//!   one stays in force. The policy a sweep started under is the one its
//!   records cite.
//! - `run` takes its shutdown trigger as an argument so tests can stop it.

pub mod alarm_hooks;
pub mod server;
pub mod sweeper;

use sweeper::{check_roots_writable, recover_batch, Sweeper};

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result};

use crate::audit::lock_audit;
use crate::audit::schema::Fields;
use crate::audit::{AuditLog, AuditOptions};
use crate::core::guard::GuardState;
use crate::core::inventory::Inventory;
use crate::core::policy::Policy;
use crate::core::units::Timestamp;
use crate::fs::watch::Watcher;
use crate::host::service;
use crate::state::guardstore::GuardStore;
use crate::state::holdstore::HoldStore;
use crate::sweep::LastSweep;

/// What the sweep loop and the control socket share.
pub struct Shared {
    policy: RwLock<Arc<Policy>>,
    last: Mutex<Option<LastSweep>>,
    /// The audit log (None in dry-run mode: nothing is written).
    pub audit: Option<Mutex<AuditLog>>,
    /// The hold store.
    pub store: HoldStore,
    inventory: Mutex<Option<Arc<Inventory>>>,
    /// Signalled when an inventory is published.
    inventory_ready: std::sync::Condvar,
    /// The mass-deletion guard's state (episodes, the last clock reading).
    pub guard: Mutex<GuardState>,
    /// Where it is kept.
    pub guard_store: GuardStore,
    /// Starts the next sweep now (after `retentionctl confirm`).
    pub wake: tokio::sync::Notify,
}

impl Shared {
    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last sweep, if one ran.
    pub fn last_sweep(&self) -> Option<LastSweep> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The inventory of the last sweep (summaries only), if any.
    pub fn inventory(&self) -> Option<Arc<Inventory>> {
        self.inventory.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes `inv` (None: forget it, after a reload) for requests.
    pub fn set_inventory(&self, inv: Option<Inventory>) {
        let ready = inv.is_some();
        *self.inventory.lock().unwrap_or_else(|p| p.into_inner()) = inv.map(Arc::new);
        if ready {
            self.inventory_ready.notify_all();
        }
    }

    /// The inventory, waiting up to `wait` for one when there is none
    /// yet (the first walk at start or after a reload, a few seconds): a
    /// request that needs one waits for it instead of walking the tree.
    pub fn inventory_within(&self, wait: std::time::Duration) -> Option<Arc<Inventory>> {
        let guard = self.inventory.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .inventory_ready
            .wait_timeout_while(guard, wait, |i| i.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.clone()
    }

    /// What the control socket's requests are served from.
    pub fn served(&self) -> crate::ops::dispatch::Served<'_> {
        crate::ops::dispatch::Served {
            policy: self.policy(),
            store: &self.store,
            audit: self.audit.as_ref(),
            inventory: self.inventory(),
            last: self.last_sweep(),
            guard: Some((&self.guard, &self.guard_store)),
            wake: Some(&self.wake),
            read_only: crate::ops::dispatch::DRY_RUN,
            check_roles: true,
            items: None,
        }
    }

    /// Appends one record and makes it durable (nothing in dry-run mode).
    pub fn record<F: Fields>(&self, fields: &F) -> Result<(), crate::audit::AuditError> {
        match &self.audit {
            Some(a) => {
                let mut a = lock_audit(a);
                a.record(fields)?;
                a.sync()
            }
            None => Ok(()),
        }
    }
}

/// Opens the policy's audit log (creating its directory) and closes any
/// batch a crash left open.
pub fn open_audit(policy: &Policy) -> Result<AuditLog> {
    let mut audit = open_log(policy)?;
    recover_batch(&mut audit, policy)?;
    Ok(audit)
}

/// Opens the policy's audit log, creating its directory.
pub(crate) fn open_log(policy: &Policy) -> Result<AuditLog> {
    if let Some(parent) = policy.daemon.audit_log.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create audit log directory {}", parent.display()))?;
    }
    AuditLog::open(
        &policy.daemon.audit_log,
        AuditOptions {
            rotate_bytes: policy.daemon.audit_rotate_size.0,
        },
    )
    .with_context(|| format!("cannot open the audit log {}", policy.daemon.audit_log.display()))
}

/// Options of the daemon binary.
#[derive(Debug, Clone)]
pub struct Options {
    /// The policy file.
    pub config: PathBuf,
    /// One sweep, then exit.
    pub once: bool,
    /// Print what would be deleted; delete and write nothing.
    pub dry_run: bool,
}

/// Runs the daemon until `shutdown` completes (or after one sweep with
/// `once`). Signals: SIGHUP reloads the policy. Blocking work runs on
/// tokio's blocking pool; the control socket is served beside the sweeps
/// (not with `once` or `dry_run`).
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<()> {
    // Installed first: a SIGHUP during start-up must not kill the daemon.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    service::status("loading the policy");
    let policy = Policy::load(&opts.config)?;
    check_roots_writable(&policy);
    service::status(&format!("scanning {}", service::zones_text(policy.zones.len())));
    let dry = opts.dry_run;
    let sweeper = tokio::task::spawn_blocking(move || Sweeper::open(policy, dry)).await??;
    let shared = sweeper.shared.clone();
    let socket_path = shared.policy().daemon.control_socket.clone();
    let server = if opts.once || opts.dry_run {
        None
    } else {
        let listener = server::bind(&socket_path)
            .with_context(|| format!("cannot listen on the control socket {}", socket_path.display()))?;
        log::info!("control socket {}", socket_path.display());
        Some(tokio::spawn(server::serve(listener, shared.clone())))
    };
    let watchdog = service::watchdog_interval().map(|every| {
        log::debug!("watchdog ping every {every:?}");
        tokio::spawn(async move {
            loop {
                service::watchdog();
                tokio::time::sleep(every).await;
            }
        })
    });
    let result = sweep_loop(&opts, sweeper, &mut hup, shutdown).await;
    if let Some(s) = server {
        s.abort();
        let _ = std::fs::remove_file(&socket_path);
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    result
}

async fn sweep_loop(
    opts: &Options,
    sweeper: Sweeper,
    hup: &mut tokio::signal::unix::Signal,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let (early_tx, mut early_rx) = tokio::sync::mpsc::channel::<()>(1);
    // Its reader thread stops when it is dropped, as the loop returns.
    let watcher = (!opts.once).then(|| Watcher::new(sweeper.policy().daemon.max_watches));
    if let Some(w) = &watcher {
        if let Err(e) = w.start(early_tx) {
            log::warn!("cannot start the inotify reader ({e}): the next sweeps take full inventories");
        }
    }
    let wake = sweeper.shared.clone();
    let wake = &wake.wake;
    let mut sweeper = Some(sweeper);
    tokio::pin!(shutdown);
    loop {
        let mut s = sweeper.take().expect("sweeper present between sweeps");
        // Read before the changes are collected: the inventory this sweep
        // publishes holds every change made before `now` (Inventory::taken).
        let now = Timestamp::now();
        if let Some(w) = &watcher {
            s.note_changes(w.take());
        }
        let stop2 = stop.clone();
        // A dry-run daemon prints each decision as it is made.
        let list: Option<crate::sweep::execute::Listing<'static>> =
            opts.dry_run.then_some(&crate::ops::plan::print_decision);
        let task = tokio::task::spawn_blocking(move || {
            let r = s.sweep(now, &stop2, list);
            (s, r)
        });
        tokio::pin!(task);
        let (mut s, result) = tokio::select! {
            r = &mut task => r?,
            _ = &mut shutdown => {
                log::info!("shutdown requested: finishing the current deletion batch");
                service::stopping("stopping: finishing the current deletion batch");
                stop.store(true, Ordering::Relaxed);
                let (mut s, r) = task.await?;
                if let Err(e) = r { log::error!("{e:#}"); }
                tokio::task::spawn_blocking(move || s.finish_hooks(false)).await?;
                return Ok(());
            }
        };
        if let Some(w) = &watcher {
            w.set(&s.wanted_watches(Timestamp::now()));
        }
        if opts.dry_run {
            crate::ops::plan::flush_decisions();
        }
        if let Ok(o) = &result {
            if opts.dry_run {
                print!("{}", crate::ops::render::plan(&crate::ops::plan::plan_json(o)));
            }
        }
        let interval = s.policy().daemon.sweep_interval.0;
        if opts.once {
            let mut s = s;
            tokio::task::spawn_blocking(move || s.finish_hooks(true)).await?;
            return result.map(|_| ());
        }
        sweeper = Some(s);
        // A failed sweep (holds unreadable, audit log unwritable) is retried
        // at the next interval; the alarm is already raised.
        // Wait for the next sweep: the interval, or an early trigger.
        let sleep = tokio::time::sleep(interval);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = wake.notified() => {
                    log::info!(retention_event = "early-sweep"; "a supervisor confirmed held-back deletions: sweeping now");
                    break;
                }
                Some(()) = early_rx.recv() => {
                    if sweeper.as_ref().is_some_and(|s| above_high(&s.policy())) {
                        log::info!(retention_event = "early-sweep"; "new recordings on a filesystem above its high watermark: sweeping now");
                        break;
                    }
                }
                _ = hup.recv() => {
                    let s = sweeper.as_mut().expect("present");
                    s.reload();
                    if s.reload_error.is_none() {
                        break;
                    }
                }
                _ = &mut shutdown => {
                    log::info!("shutdown requested");
                    service::stopping("stopping");
                    if let Some(mut s) = sweeper.take() {
                        tokio::task::spawn_blocking(move || s.finish_hooks(false)).await?;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// Whether any filesystem of the policy's roots is above its high watermark
/// (statvfs only, no mountinfo read: cheap), the audit log's missing
/// reserve counted.
fn above_high(policy: &Policy) -> bool {
    let inv = crate::core::inventory::Inventory {
        zones: policy
            .zones
            .iter()
            .map(|z| crate::core::inventory::ZoneInventory {
                roots: z
                    .roots
                    .iter()
                    .map(|r| {
                        let mut ri = crate::core::inventory::RootInventory::new(r.clone());
                        ri.dev = crate::fs::handle::DirHandle::open_root(r).ok().map(|h| h.dev);
                        ri
                    })
                    .collect(),
            })
            .collect(),
        taken: None,
    };
    crate::sweep::usage_with(policy, &inv, false)
        .filesystems
        .iter()
        .any(|f| f.excess(f.marks.high).0 > 0)
}

/// The shutdown trigger of the real daemon: the first SIGTERM or SIGINT
/// completes the returned future (the current batch finishes, the audit log
/// is flushed); a second one exits the process at once. Exiting mid-batch is
/// safe: every deletion's record is durable before its unlink, and the next
/// start closes the open batch with a `recovered` record.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            log::warn!("second shutdown signal: exiting at once");
            std::process::exit(i32::from(crate::cli::EXIT_FAILURE));
        });
    })
}
