//! The daemon's durable state besides the audit log, in its state
//! directory.
//!
//! Owns the exclusive state lock ([`lock`]), the zone roots' filesystem
//! identities (`roots.json`, [`roots`]), the hold store ([`holdstore`]),
//! the guard's store ([`guardstore`]), the floors' marks (`floors.json`,
//! [`floors`]) and the acknowledged recording sources ([`ackstore`]).
//!
//! Invariant: every file here is replaced durably and atomically (write,
//! fsync, rename, fsync the directory; [`crate::fs::handle::replace_file`]).
//! May not: plan, delete recordings or serve requests.

pub mod ackstore;
pub mod floors;
pub mod guardstore;
pub mod holdstore;
pub mod lock;
pub mod roots;
