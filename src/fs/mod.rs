//! The filesystem edge: everything that reads or changes the recordings'
//! trees and measures their filesystems.
//!
//! Owns fd-relative, symlink-proof directory handles and unlinking
//! ([`handle`]), the scan that builds and refreshes the inventory
//! ([`scan`]), filesystem usage ([`usage`]) and the inotify watches that
//! name what changed between sweeps ([`watch`]).
//!
//! May not: decide what to delete (that is [`crate::core::plan`]), write
//! audit records, or know about the daemon, the socket or the audit log.

pub mod handle;
pub mod scan;
pub mod usage;
pub mod watch;
