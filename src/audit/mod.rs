//! The hash-chained, write-ahead audit log, and its queries ([`query`]).
//!
//! The room owns the log's files (live, rotated and compressed segments,
//! the head anchor, the lock, the space set aside for records) and the
//! schema of their records; it may not decide what is recorded (its
//! callers do) nor read the recordings.
//!
//! - `writer`: [`AuditLog`], the one writer (open and repair, batches,
//!   sync, the reserve, rotation).
//! - `segments`: the log's files and reading them back ([`read_records`],
//!   [`Record`]), the head anchor, compression.
//! - `verify`: [`verify`], the whole chain checked against the anchor.
//! - [`schema`]: every action and the typed fields of its records.
//! - [`query`]: `audit show` and the records about one path.
//!
//! Every deletion is recorded here *before* it happens. The log is a JSON
//! Lines file; each line is one record whose keys are, in order, `seq`, `ts`,
//! `action`, the caller's fields, and `prev`.
//!
//! # Invariants
//!
//! - **Contiguous sequence.** `seq` starts at 1 and grows by exactly 1 per
//!   record, across rotated files too.
//! - **Hash chain.** `prev` is the lowercase hex SHA-256 of the previous
//!   record's exact line bytes (without the `\n`); the first record of a log
//!   has 64 zeros. A record's hash is the SHA-256 of its own line bytes, so
//!   editing, inserting or removing any record breaks the chain at the next
//!   one.
//! - **Head anchor.** `<log>.head` holds `{"seq","hash","file"}` of the last
//!   record known durable. It is replaced atomically (temp file, fsync,
//!   rename, directory fsync) after every [`AuditLog::sync`] that made records
//!   durable, so removing records from the *end* of the log, which the chain
//!   alone cannot reveal, is detected by [`AuditLog::open`] and [`verify`].
//!   On a full filesystem, where the temporary file gets no block, it is
//!   overwritten in place instead: one write of under 300 bytes (padded to
//!   the old length) into the block it has, atomic on the sector-atomic
//!   devices this runs on; a torn one would make open refuse until `audit
//!   verify` is run, never lose a record.
//! - **Reserve.** [`RESERVE_BYTES`] are kept allocated past the live file's
//!   end for records on a full filesystem (see [`AuditLog::restore_reserve`]).
//! - **Durability contract.** [`AuditLog::append`] only buffers in memory.
//!   After [`AuditLog::sync`] returns `Ok`, every appended record is on disk
//!   (fdatasync). If it returns `Err`, the file is truncated back to its length
//!   before the batch and sequence and hash roll back: none of the batch
//!   exists. A record is never acknowledged before it is durable.
//! - **Only unacknowledged bytes are ever cut.** On open, bytes after the
//!   record named by the anchor that do not form complete, chained records (a
//!   write torn by a crash) are truncated, and a `"repair"` record keeps their
//!   size and (the first 4096 bytes of) their content in hex. Anchored records
//!   are never truncated: if they are missing or differ, open refuses with
//!   [`AuditError::Inconsistent`]. Nor is a "torn" tail over 64 MiB, which
//!   cannot come from one interrupted batch.
//! - **Rotation.** A full live file ends with a `"rotate"` record, is renamed to
//!   `<name>.<first seq, 20 digits>` (lexical order = seq order), and the new
//!   live file starts with a `"continue"` record chained to it. A rotation
//!   interrupted by a crash is completed by the next open. The rotated file
//!   is then compressed to `<name>.<seq>.zst` (zstd, written to a temporary
//!   file, fsynced and renamed before the plain file is removed), so a
//!   deletion costs about 50 bytes on disk; readers take either form, and
//!   where a crash left both, the complete `.zst` is the one read.
//! - **Single writer.** A writer holds an exclusive `flock` on `<log>.lock`;
//!   readers ([`read_records`], [`verify`]) take no lock and only read (while
//!   a writer is active they may see a batch half-written or a rotation
//!   half-done).
//! - **Field order.** On disk, the caller's fields are in the iteration order
//!   of its `serde_json::Map` (sorted by key unless serde_json's
//!   `preserve_order` is enabled); hashes cover the exact bytes, so this never
//!   matters for verification. [`Record::fields`] is a `Map` as well.
//! - **Streaming reads.** Readers go through one function that opens a segment
//!   for reading (decompressing `.zst` segments) and use constant memory per
//!   line; open reads the live file backwards from its end.

pub mod query;
pub mod schema;
mod segments;
#[cfg(test)]
mod tests;
mod verify;
mod writer;

use segments::*;
pub use segments::{compress_segment, read_records, read_segment, segments, Record};
pub use verify::{verify, Problem, VerifyReport};
use writer::*;
pub use writer::{reserve_held_of, reserve_short_of, AuditLog, AuditOptions};

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `prev` of the first record of a log.
const ZERO_HASH: [u8; 32] = [0; 32];
/// Keys written by the log itself; callers' fields may not use them.
const RESERVED: [&str; 4] = ["seq", "ts", "action", "prev"];
/// Space set aside for the log's records on a full filesystem: allocated
/// past the live file's end (`fallocate` with `FALLOC_FL_KEEP_SIZE`), so
/// records written there need no free block and no recorder can take it
/// meanwhile. A batch of 2,000 records takes about 1 MB. Capacity planning
/// counts what is missing of it as used ([`reserve_short_of`]), so a sweep
/// frees room for it before it is set aside again.
pub const RESERVE_BYTES: u64 = 8 << 20;
/// A reserve this close to [`RESERVE_BYTES`] counts as complete (block
/// rounding, extent metadata).
pub const RESERVE_SLOP: u64 = 64 << 10;
/// Free space left to the recorders when the reserve is set aside.
const RESERVE_SLACK: u64 = 1 << 20;

/// Bytes one deletion may write to the log (a `delete` record of its own,
/// about 450 bytes, and its share of the batch's records; a file of a
/// grouped record costs far less), for capacity planning when the log
/// shares a filesystem with recordings: an upper bound.
pub const BYTES_PER_DELETION: u64 = 600;

/// At most this many torn bytes are kept (in hex) in a repair record.
const TORN_HEX_MAX: u64 = 4096;
/// Open refuses to cut a torn tail longer than this (it would not be a torn
/// batch but a damaged or foreign file).
const MAX_TORN: u64 = 64 << 20;
/// Chunk size for reading the live file backwards.
const BACK_CHUNK: usize = 64 * 1024;
/// Buffer size for streaming reads.
const READ_BUF: usize = 256 * 1024;
/// Permissions of files the log creates (before umask).
const FILE_MODE: u32 = 0o640;

/// Locks the shared audit log; a panic elsewhere while holding it leaves
/// the log itself consistent (appends are buffered until `sync`), so a
/// poisoned lock is taken over.
pub fn lock_audit(m: &Mutex<AuditLog>) -> MutexGuard<'_, AuditLog> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Errors of the audit log. Each names the file concerned.
#[derive(thiserror::Error, Debug)]
pub enum AuditError {
    /// A system call failed.
    #[error("audit log: cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("write", "fdatasync", "rename", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the log's lock.
    #[error(
        "audit log {} is in use by another process (it holds the lock {}.lock)",
        path.display(),
        path.display()
    )]
    Busy {
        /// The log's path.
        path: PathBuf,
    },
    /// The log contradicts its head anchor, or cannot be continued safely.
    #[error("audit log {} is inconsistent: {what}", path.display())]
    Inconsistent {
        /// The log's path.
        path: PathBuf,
        /// What is wrong, as a sentence.
        what: String,
    },
    /// A line of a segment is not a valid record.
    #[error("audit log {}, line {line}: {what}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong, as a sentence.
        what: String,
    },
    /// The caller's action or fields cannot be recorded.
    #[error("audit record rejected: {0}")]
    BadFields(String),
}

impl AuditError {
    /// Whether it failed for lack of space (`ENOSPC`, `EDQUOT`).
    pub fn is_no_space(&self) -> bool {
        matches!(self, AuditError::Io { source, .. } if matches!(source.raw_os_error(), Some(28) | Some(122)))
    }
}

/// Builds a closure turning an `io::Error` into [`AuditError::Io`].
fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Parses 64 lowercase hex digits.
fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Makes a directory's entries durable.
fn fsync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync the directory", dir))
}

/// Encodes a file path for a record losslessly: a JSON string when the bytes
/// are valid UTF-8, else `{"hex": "<hex of the raw bytes>"}`.
pub fn path_value(p: &OsStr) -> Value {
    match p.to_str() {
        Some(s) => Value::String(s.to_owned()),
        None => {
            let mut m = Map::new();
            m.insert("hex".into(), Value::String(hex::encode(p.as_bytes())));
            Value::Object(m)
        }
    }
}

/// The inverse of [`path_value`]; `None` if `v` is neither form.
pub fn path_from_value(v: &Value) -> Option<OsString> {
    match v {
        Value::String(s) => Some(OsString::from(s)),
        Value::Object(m) if m.len() == 1 => {
            let bytes = hex::decode(m.get("hex")?.as_str()?).ok()?;
            Some(OsString::from_vec(bytes))
        }
        _ => None,
    }
}
