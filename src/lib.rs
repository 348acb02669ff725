//! retentiond: enforces the retention policy of recordings on NVR boxes.
//!
//! # Layout
//!
//! The decision core is pure (no I/O, no clock reads); everything that
//! touches the system is a thin edge around it. Every import points toward
//! [`core`]: rooms further down this list may use rooms above them, never
//! the reverse.
//!
//! - [`core`]: the pure decision core: units, the policy, time patterns,
//!   recording units and recorder layouts, the inventory, holds, the
//!   planner and the mass-deletion guard.
//! - [`fs`]: the filesystem edge: fd-relative handles, the scan that builds
//!   the inventory, filesystem usage, inotify watches.
//! - [`audit`]: the hash-chained, write-ahead audit log (writer, segments,
//!   verify), the typed schema of its records, and its queries.
//! - [`state`]: the daemon's other durable state: the state lock, zone
//!   roots' identities, the hold store, the guard's store.
//! - [`sweep`]: the one sweep pipeline (gather, plan, guard, execute, the
//!   zones' after_delete hooks), used by the daemon, `plan`, `explain` and
//!   the demo.
//! - [`control`]: the control socket's wire protocol and its client (a
//!   leaf: only the core's types and the audit query).
//! - [`ops`]: what a caller may ask, and one dispatch of each request,
//!   whether it arrives on the socket or runs offline as root.
//! - [`host`]: systemd (sd_notify), logging, the metrics file.
//! - [`daemon`]: the run loop, signals, the sweeper's kept state and the
//!   socket server.
//! - [`cli`]: the command lines of both binaries (help, man pages, completions).
//! - [`demo`]: `retentiond --demo` and synthetic Frigate-like trees.
#![deny(missing_docs)]
// One audited exception: fs::handle::idle_io_priority (a syscall nix and
// rustix do not wrap).
#![deny(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod control;
pub mod core;
pub mod daemon;
pub mod demo;
pub mod fs;
pub mod host;
pub mod ops;
pub mod state;
pub mod sweep;
