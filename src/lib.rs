//! retentiond: enforces the retention policy of recordings on NVR boxes.
//!
//! # Layout
//!
//! The decision core is pure (no I/O, no clock reads); everything that
//! touches the system is a thin edge around it.
//!
//! Core:
//! - [`units`]: value types (bytes, ages, timestamps, watermarks, names).
//! - [`policy`]: the TOML policy, raw serde layer and validated domain types.
//! - [`timepattern`]: recording times parsed from paths (`%Y-%m-%d/%H/*/%M.%S.mp4`).
//! - [`inventory`]: the in-memory picture of the recordings (per-directory
//!   summaries, per-file detail only at the deletion front).
//! - [`holds`]: legal holds and whether one covers a recording.
//! - [`plan`]: `plan(inventory, policy, holds, usage, now)` → ordered deletions with reasons.
//! - [`guard`]: the mass-deletion guard: caps deletions for age on a sudden
//!   surge or a suspect clock until a supervisor confirms.
//!
//! Edges:
//! - [`fsops`]: fd-relative, symlink-proof directory walking and unlinking.
//! - [`scan`]: builds the inventory and measures filesystem usage.
//! - [`execute`]: carries out a plan: audit first, then unlink, defensively.
//! - [`access`]: find and erase recordings by range, audited.
//! - [`export`]: a hold's recordings to separate media, with a manifest.
//! - [`guardstore`]: the guard's state file, the clocks it compares, `confirm`.
//! - [`holdstore`]: the durable hold store and the lock deletion batches take.
//! - [`audit`]: the hash-chained, write-ahead audit log.
//! - [`auditq`]: audit log queries (`audit show`, the records about a path).
//! - [`explain`]: why a recording is kept or due, or what removed it.
//! - [`report`]: the compliance report from the audit log (samples, deletions, holds, alarms).
//! - [`watch`]: inotify on the directories being written: what changed between sweeps.
//! - [`daemon`]: the sweep loop, signals, the incremental inventory and early sweeps.
//! - [`service`]: sd_notify readiness, status text and watchdog under systemd.
//! - [`status`]: `retentionctl status` from the inventory, holds and last sweep.
//! - [`metrics`]: Prometheus text file for node_exporter, written after each sweep.
//! - [`logging`]: journal or stderr, with structured fields.
//! - [`cli`]: the command lines of both binaries (help, man pages, completions).
//! - [`treegen`]: synthetic Frigate-like trees (demo, tests, benchmark).
//! - [`demo`]: `retentiond --demo`, a real sweep over a synthetic tree.
#![deny(missing_docs)]
// One audited exception: fsops::idle_io_priority (a syscall nix and
// rustix do not wrap).
#![deny(unsafe_code)]

pub mod access;
pub mod audit;
pub mod auditq;
pub mod cli;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod execute;
pub mod explain;
pub mod export;
pub mod fsops;
pub mod guard;
pub mod guardstore;
pub mod holdops;
pub mod holds;
pub mod holdstore;
pub mod inventory;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod report;
pub mod scan;
pub mod service;
pub mod status;
pub mod timepattern;
pub mod treegen;
pub mod units;
pub mod watch;
