//! The hash-chained, write-ahead audit log, and its queries ([`query`]).
//!
//! The room owns the log's files (live, rotated and compressed segments,
//! the head anchor, the lock, the space set aside for records); it may not
//! decide what is recorded (its callers do) nor read the recordings.
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

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::Deserialize;
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

/// Bytes one deletion writes to the log (its `delete` record, about 450
/// bytes, and its share of the batch's records), for capacity planning when
/// the log shares a filesystem with recordings.
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

/// Tunables of an [`AuditLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditOptions {
    /// [`AuditLog::maybe_rotate`] rotates once the live file has at least this
    /// many bytes (default 64 MiB).
    pub rotate_bytes: u64,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions { rotate_bytes: 64 << 20 }
    }
}

/// Formats `ts` values, re-formatting the date part only when the second changes.
struct Clock {
    secs: i64,
    prefix: String,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            secs: i64::MIN,
            prefix: String::new(),
        }
    }

    /// Appends the current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn write_ts(&mut self, out: &mut Vec<u8>) {
        let now = chrono::Utc::now();
        let secs = now.timestamp();
        if secs != self.secs {
            self.secs = secs;
            self.prefix = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        }
        // A leap second shows as millis >= 1000; keep the field 3 digits wide.
        let ms = now.timestamp_subsec_millis().min(999);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(&[
            b'.',
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
            b'Z',
        ]);
    }
}

/// An open audit log: the single writer of one log.
///
/// Records are buffered by [`append`](AuditLog::append) and made durable
/// together by [`sync`](AuditLog::sync). Dropping the log discards records
/// that were not synced.
pub struct AuditLog {
    /// Path of the live file.
    path: PathBuf,
    /// Directory holding the live, rotated, anchor and lock files.
    dir: PathBuf,
    /// File name of the live file.
    name: OsString,
    anchor_path: PathBuf,
    anchor_tmp: PathBuf,
    /// The live file; `None` between a rotation's rename and the new file's creation.
    file: Option<File>,
    _lock: Flock<File>,
    opts: AuditOptions,
    /// Length of the live file up to the last durable record.
    durable_len: u64,
    durable_seq: u64,
    durable_hash: [u8; 32],
    /// Seq and hash of the last appended record (pending ones included).
    seq: u64,
    hash: [u8; 32],
    /// Lines of the pending records, each ending in '\n'.
    buf: Vec<u8>,
    pending: usize,
    /// Seq of the first record of the live file (names the file when rotated).
    live_first_seq: u64,
    /// The live file may hold bytes past `durable_len` (a rollback's truncate failed).
    tail_dirty: bool,
    /// The live file is new and must start with a "continue" record from this file.
    needs_continue: Option<OsString>,
    /// The pending batch holds that "continue" record.
    continue_in_batch: bool,
    clock: Clock,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("durable_seq", &self.durable_seq)
            .field("seq", &self.seq)
            .field("pending", &self.pending)
            .field("durable_len", &self.durable_len)
            .finish_non_exhaustive()
    }
}

/// A record found while scanning the live file at open.
struct Found {
    seq: u64,
    hash: [u8; 32],
    action: String,
    /// Offset just past the record's '\n'.
    end: u64,
}

impl AuditLog {
    /// Opens or creates the log. Takes an exclusive non-blocking flock on `<path>.lock`
    /// ([`AuditError::Busy`] if another process holds it).
    ///
    /// Reads the live file backwards from its end to learn the last seq and hash.
    /// A torn tail (bytes after the anchored record that do not form complete,
    /// chained records: a crash mid-write) is truncated, fsynced, and recorded by
    /// a synced `"repair"` record `{"text", "torn_bytes", "torn_hex"}`.
    /// If the head anchor names a seq beyond the last record, or its record's hash
    /// differs, returns [`AuditError::Inconsistent`] without changing anything.
    /// Completes a rotation interrupted by a crash.
    pub fn open(path: &Path, opts: AuditOptions) -> Result<AuditLog, AuditError> {
        let (dir, name) = split_path(path)?;
        let lock_path = sibling(path, ".lock");
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&lock_path)
            .map_err(io_err("open the lock file", &lock_path))?;
        crate::fs::handle::adopt_dir_owner(&lock_file, &dir).map_err(io_err("chown", &lock_path))?;
        let lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, e)) if e == Errno::EWOULDBLOCK => {
                return Err(AuditError::Busy {
                    path: path.to_path_buf(),
                })
            }
            Err((_, e)) => {
                return Err(AuditError::Io {
                    op: "lock",
                    path: lock_path,
                    source: io::Error::from(e),
                })
            }
        };
        let inconsistent = |what: String| AuditError::Inconsistent {
            path: path.to_path_buf(),
            what,
        };

        let anchor_path = sibling(path, ".head");
        let anchor = match read_anchor(&anchor_path)? {
            AnchorState::Missing => None,
            AnchorState::Bad(why) => {
                return Err(inconsistent(format!(
                    "its head anchor {} is unreadable ({why}); run `retentionctl audit verify`",
                    anchor_path.display()
                )))
            }
            AnchorState::Ok(a) => Some(a),
        };
        let rotated = rotated_segments(path)?;
        let file = open_live(path, false)?;
        fsync_dir(&dir)?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let target = anchor.as_ref().map(|a| a.seq);

        // Phase A: walking back from the end, find the last complete record at
        // or before the anchored one (without an anchor: the last complete record).
        let mut base: Option<Found> = None;
        let mut max_after: u64 = 0;
        {
            let mut back = BackLines::new(&file, path, len);
            while let Some(l) = back.next_line()? {
                if !l.terminated {
                    continue;
                }
                if let Ok(h) = parse_head(&l.bytes) {
                    if target.is_none_or(|t| h.seq <= t) {
                        base = Some(Found {
                            seq: h.seq,
                            hash: sha256(&l.bytes),
                            action: h.action,
                            end: l.start + l.bytes.len() as u64 + 1,
                        });
                        break;
                    }
                    max_after = max_after.max(h.seq);
                }
            }
        }

        // The chain state the rest of the live file must continue, checked
        // against the anchor before anything is modified.
        let (mut seq, mut hash, mut last_action, scan_from, mut live_has_records);
        match base {
            Some(b) => {
                if let Some(a) = &anchor {
                    check_anchor(path, a, b.seq.max(max_after), (b.seq == a.seq).then_some(b.hash))?;
                }
                (seq, hash, last_action) = (b.seq, b.hash, Some(b.action));
                scan_from = b.end;
                live_has_records = true;
            }
            None => {
                scan_from = 0;
                live_has_records = false;
                last_action = None;
                if let Some(rot) = rotated.last() {
                    let s = scan_rotated(rot, target)?;
                    let (ls, lh) = s.last.ok_or_else(|| {
                        inconsistent(format!(
                            "the rotated file {} holds no readable record; run `retentionctl audit verify`",
                            rot.display()
                        ))
                    })?;
                    if let Some(a) = &anchor {
                        check_anchor(path, a, ls.max(max_after), s.at_target)?;
                    }
                    (seq, hash) = (ls, lh);
                } else {
                    if let Some(a) = &anchor {
                        check_anchor(path, a, max_after, None)?;
                    }
                    (seq, hash) = (0, ZERO_HASH);
                }
            }
        }

        // Phase B: from there on, keep complete records that chain; the rest is torn.
        let mut good_end = scan_from;
        {
            let mut r = BufReader::with_capacity(READ_BUF, &file);
            r.seek(SeekFrom::Start(scan_from)).map_err(io_err("seek in", path))?;
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = r.read_until(b'\n', &mut line).map_err(io_err("read", path))?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                let content = &line[..n - 1];
                let Ok(h) = parse_head(content) else { break };
                if h.seq != seq + 1 || h.prev != hash {
                    break;
                }
                seq = h.seq;
                hash = sha256(content);
                last_action = Some(h.action);
                live_has_records = true;
                good_end += n as u64;
            }
        }

        let torn = len - good_end;
        if torn > MAX_TORN {
            // Far more than an interrupted batch: not a crash, so cut nothing.
            return Err(inconsistent(format!(
                "after record {seq}, the last {torn} bytes do not continue the chain; that is too \
                 much for a write torn by a crash, so nothing was cut; run `retentionctl audit verify`"
            )));
        }
        let mut torn_head = Vec::new();
        if torn > 0 {
            torn_head = vec![0u8; torn.min(TORN_HEX_MAX) as usize];
            file.read_exact_at(&mut torn_head, good_end)
                .map_err(io_err("read", path))?;
            file.set_len(good_end)
                .map_err(io_err("truncate the torn tail of", path))?;
            file.sync_data().map_err(io_err("fdatasync", path))?;
            log::warn!(
                "audit log {}: cut {torn} bytes of a torn record off its end (seq {seq} is the last intact one)",
                path.display()
            );
        }

        let live_first_seq = if live_has_records {
            first_seq(&file, path)?.unwrap_or(seq + 1)
        } else {
            seq + 1
        };
        let needs_continue = if live_has_records {
            None
        } else {
            rotated.last().and_then(|p| p.file_name()).map(OsStr::to_os_string)
        };

        let mut log = AuditLog {
            anchor_tmp: sibling(path, ".head.tmp"),
            path: path.to_path_buf(),
            dir,
            name,
            anchor_path,
            file: Some(file),
            _lock: lock,
            opts,
            durable_len: good_end,
            durable_seq: seq,
            durable_hash: hash,
            seq,
            hash,
            buf: Vec::with_capacity(1 << 20),
            pending: 0,
            live_first_seq,
            tail_dirty: false,
            needs_continue,
            continue_in_batch: false,
            clock: Clock::new(),
        };
        log.ensure_continue()?;
        if torn > 0 {
            let f = schema::Repair {
                text: format!(
                    "The audit log ended with {torn} bytes of an incomplete or damaged record, \
                     left by a crash during a write; they were cut off after record {seq}, and \
                     the first {} of them are kept here in hex.",
                    torn_head.len()
                ),
                torn_bytes: torn,
                torn_hex: hex::encode(&torn_head),
            };
            log.push_fields(&f)?;
        }
        if log.pending > 0 {
            log.sync()?;
        } else if last_action.as_deref() == Some(schema::Action::Rotate.code()) {
            // A rotation was interrupted between its record and the rename.
            log.finish_rotation()?;
        }
        compress_leftovers(path);
        if log.adopt_legacy_reserve() || torn > 0 {
            log.reclaim_reserve();
        } else {
            log.restore_reserve();
        }
        Ok(log)
    }

    /// Appends a record to the in-memory batch; it is not durable until
    /// [`sync`](AuditLog::sync). Returns its seq. `fields` must be a JSON object
    /// whose keys are not `seq`, `ts`, `action` or `prev`.
    pub fn append(&mut self, action: &str, fields: &Value) -> Result<u64, AuditError> {
        let Some(map) = fields.as_object() else {
            return Err(AuditError::BadFields(format!(
                "the fields of a {action:?} record must be a JSON object, not {}",
                json_kind(fields)
            )));
        };
        if action.is_empty() {
            return Err(AuditError::BadFields("the action must not be empty".into()));
        }
        if let Some(k) = map.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(AuditError::BadFields(format!(
                "a {action:?} record cannot have a field named {k:?}: seq, ts, action and prev are written by the audit log itself"
            )));
        }
        self.ensure_continue()?;
        self.push_record(action, map)
    }

    /// Appends a record of the schema ([`append`](AuditLog::append)): its
    /// action and fields come from its type.
    pub fn record<F: schema::Fields>(&mut self, fields: &F) -> Result<u64, AuditError> {
        let v = serde_json::to_value(fields)
            .map_err(|e| AuditError::BadFields(format!("a {:?} record: {e}", F::ACTION.code())))?;
        self.append(F::ACTION.code(), &v)
    }

    /// Writes the batch and fdatasyncs the file, then updates the head anchor.
    /// After `Ok`, every appended record is durable. On `Err`, the file is
    /// truncated back to its length before this batch, the batch is dropped and
    /// seq and hash roll back to the last durable record: none of it exists.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        if self.buf.is_empty() {
            if self.tail_dirty {
                self.cut_to_durable()?;
            }
            return Ok(());
        }
        // On a full filesystem the batch goes into the space set aside
        // past the file's end (no block to allocate); the deletions it
        // describes then free more, and the next batch sets it aside again.
        match self.write_batch() {
            Ok(()) => {
                self.durable_len += self.buf.len() as u64;
                self.durable_seq = self.seq;
                self.durable_hash = self.hash;
                self.buf.clear();
                if self.buf.capacity() > 64 << 20 {
                    self.buf.shrink_to(1 << 20);
                }
                self.pending = 0;
                if self.continue_in_batch {
                    self.continue_in_batch = false;
                    self.needs_continue = None;
                }
                // The records are durable, and the anchor is the old or the new
                // one after a crash, both consistent; only warn.
                if let Err(e) = fsync_dir(&self.dir) {
                    log::warn!("audit log: the head anchor update may not be durable: {e}");
                }
                if self.reserve_short() > RESERVE_BYTES / 2 {
                    self.restore_reserve();
                }
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Bytes allocated to the live file beyond its durable end: the space
    /// set aside for records on a full filesystem (see [`RESERVE_BYTES`]).
    pub fn reserve_held(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| held_beyond(&m, self.durable_len))
    }

    /// How much of [`RESERVE_BYTES`] is missing (0 when it is all there,
    /// give or take [`RESERVE_SLOP`]).
    pub fn reserve_short(&self) -> u64 {
        short_of(self.reserve_held())
    }

    /// Sets [`RESERVE_BYTES`] aside for the log's records: allocates the
    /// space past the live file's end (`fallocate` with `KEEP_SIZE`), so
    /// that later writes need no free block. Only when the filesystem has
    /// that much free and a margin for the recorders ([`RESERVE_SLACK`]);
    /// capacity planning counts what is missing as used, so the sweep makes
    /// that room. Returns whether the reserve is in place. Called at open,
    /// after a batch that used a good part of it, and at the end of each
    /// sweep.
    pub fn restore_reserve(&mut self) -> bool {
        self.set_aside(RESERVE_SLACK)
    }

    /// Takes back at once the space the log has just given up itself (a
    /// truncate gives back what was allocated past the end; a rotation,
    /// an adopted old reserve file): no margin, since a moment ago it was
    /// the log's, and a recorder must not get it in between.
    fn reclaim_reserve(&mut self) -> bool {
        self.set_aside(0)
    }

    fn set_aside(&mut self, slack: u64) -> bool {
        let short = self.reserve_short();
        if short == 0 {
            return true;
        }
        let Some(file) = &self.file else { return false };
        if slack > 0 && dir_usage(&self.dir).is_none_or(|st| st.avail < short + slack) {
            return false;
        }
        let made = nix::fcntl::fallocate(
            file,
            nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
            self.durable_len as i64,
            RESERVE_BYTES as i64,
        );
        match made {
            Ok(()) => {
                // The allocation is metadata: make it durable like the data.
                if let Err(e) = file.sync_all() {
                    log::debug!("cannot fsync {} after setting space aside: {e}", self.path.display());
                }
                if short > RESERVE_BYTES / 2 && self.reserve_short() == 0 {
                    log::info!(
                        retention_event = "audit-reserve";
                        "{} set aside again for the audit log's records in {}",
                        crate::core::units::Bytes(short),
                        self.path.display()
                    );
                }
                self.reserve_short() == 0
            }
            Err(e) => {
                log::debug!(
                    "cannot set space aside for the audit log in {}: {e}",
                    self.path.display()
                );
                false
            }
        }
    }

    /// Removes a reserve kept in a separate `<log>.reserve` file (before
    /// version 1.1), to be taken into the live file; returns whether there
    /// was one.
    fn adopt_legacy_reserve(&mut self) -> bool {
        let legacy = sibling(&self.path, ".reserve");
        if fs::symlink_metadata(&legacy).is_ok_and(|m| m.is_file()) && fs::remove_file(&legacy).is_ok() {
            let _ = fsync_dir(&self.dir);
            log::info!(
                "the audit log's reserve moved from {} into the log file itself",
                legacy.display()
            );
            return true;
        }
        false
    }

    /// Bytes the next batch can write for sure: the reserve held past the
    /// end, and what the filesystem has free for anyone.
    pub fn batch_room(&self) -> u64 {
        self.reserve_held() + dir_usage(&self.dir).map_or(0, |st| st.avail)
    }

    /// Number of appended-but-not-synced records.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Seq and hex hash of the last durable record (0 and 64 zeros for an empty log).
    pub fn head(&self) -> (u64, String) {
        (self.durable_seq, hex::encode(self.durable_hash))
    }

    /// If the live file has at least `rotate_bytes` bytes and nothing is pending:
    /// appends and syncs a `"rotate"` record `{"next_file"}`, renames the live file
    /// to `<name>.<first seq, 20 digits>`, fsyncs the directory, and starts a new
    /// live file whose first record, `"continue"` `{"from"}`, chains to the rotate
    /// record and is synced. Returns the rotated file's path when it rotated.
    pub fn maybe_rotate(&mut self) -> Result<Option<PathBuf>, AuditError> {
        if self.pending > 0 || self.file.is_none() || self.durable_len < self.opts.rotate_bytes {
            return Ok(None);
        }
        // A rotation writes a new live file and a compressed copy: not on
        // a full filesystem, where the reserve must go to the records.
        let room = dir_usage(&self.dir).map_or(0, |u| u.avail);
        if room < 2 * RESERVE_BYTES + self.durable_len / 4 {
            log::debug!(
                "audit log: rotation postponed, {} free",
                crate::core::units::Bytes(room)
            );
            return Ok(None);
        }
        self.ensure_continue()?;
        self.push_fields(&schema::Rotate {
            next_file: schema::RecPath(self.name.clone()),
        })?;
        self.sync()?;
        let rotated = self.finish_rotation()?;
        Ok(Some(compress_segment(&rotated)?))
    }

    /// Path of the live log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the live file (whose last durable record is "rotate") to its
    /// rotated name and starts the new live file with a synced "continue".
    fn finish_rotation(&mut self) -> Result<PathBuf, AuditError> {
        let mut rotated_name = self.name.clone();
        rotated_name.push(format!(".{:020}", self.live_first_seq));
        let rotated = self.dir.join(&rotated_name);
        if fs::symlink_metadata(&rotated).is_ok() {
            return Err(AuditError::Inconsistent {
                path: self.path.clone(),
                what: format!(
                    "cannot rotate: {} already exists; run `retentionctl audit verify`",
                    rotated.display()
                ),
            });
        }
        if let Some(f) = &self.file {
            // The space set aside past the end goes to the new live file.
            let _ = f.set_len(self.durable_len);
        }
        fs::rename(&self.path, &rotated).map_err(io_err("rename", &self.path))?;
        // From here the old file must never be written again.
        self.file = None;
        self.durable_len = 0;
        self.tail_dirty = false;
        self.live_first_seq = self.durable_seq + 1;
        self.needs_continue = Some(rotated_name);
        fsync_dir(&self.dir)?;
        self.create_live()?;
        // The old file's space past its end, given back above, goes to the
        // new one before its first record.
        self.reclaim_reserve();
        self.ensure_continue()?;
        self.sync()?;
        Ok(rotated)
    }

    /// Creates a new, empty live file (after a rotation).
    fn create_live(&mut self) -> Result<(), AuditError> {
        let f = open_live(&self.path, true)?;
        fsync_dir(&self.dir)?;
        self.file = Some(f);
        Ok(())
    }

    /// Puts the "continue" record first in a new live file's batch.
    fn ensure_continue(&mut self) -> Result<(), AuditError> {
        if self.continue_in_batch {
            return Ok(());
        }
        if let Some(from) = self.needs_continue.clone() {
            self.push_fields(&schema::Continue {
                from: schema::RecPath(from),
            })?;
            self.continue_in_batch = true;
        }
        Ok(())
    }

    /// Formats one of the log's own records into the batch.
    fn push_fields<F: schema::Fields>(&mut self, fields: &F) -> Result<u64, AuditError> {
        match serde_json::to_value(fields) {
            Ok(Value::Object(m)) => self.push_record(F::ACTION.code(), &m),
            _ => Err(AuditError::BadFields(format!("a {:?} record", F::ACTION.code()))),
        }
    }

    /// Formats one record into the batch and advances seq and hash.
    fn push_record(&mut self, action: &str, fields: &Map<String, Value>) -> Result<u64, AuditError> {
        let seq = self.seq + 1;
        let start = self.buf.len();
        match write_line(&mut self.buf, &mut self.clock, seq, action, fields, &self.hash) {
            Ok(()) => {}
            Err(e) => {
                self.buf.truncate(start);
                return Err(AuditError::BadFields(format!(
                    "the fields of a {action:?} record cannot be written as JSON: {e}"
                )));
            }
        }
        self.hash = sha256(&self.buf[start..]);
        self.buf.push(b'\n');
        self.seq = seq;
        self.pending += 1;
        Ok(seq)
    }

    /// Writes the batch at the durable end, fdatasyncs, and replaces the anchor.
    fn write_batch(&mut self) -> Result<(), AuditError> {
        if self.file.is_none() {
            self.create_live()?;
        }
        if self.tail_dirty {
            self.cut_to_durable()?;
        }
        let file = self.file.as_ref().expect("live file present");
        file.write_all_at(&self.buf, self.durable_len)
            .map_err(io_err("write", &self.path))?;
        file.sync_data().map_err(io_err("fdatasync", &self.path))?;
        self.write_anchor(self.seq, &self.hash)
    }

    /// Replaces the head anchor atomically (up to the rename; the directory
    /// fsync is the caller's). On a full filesystem, where even the
    /// temporary file has no block, the anchor is overwritten in place
    /// instead (one sector, in a block it already has).
    fn write_anchor(&self, seq: u64, hash: &[u8; 32]) -> Result<(), AuditError> {
        match self.replace_anchor(seq, hash) {
            Err(e) if e.is_no_space() => {
                let _ = fs::remove_file(&self.anchor_tmp);
                self.overwrite_anchor(seq, hash).map_err(|_| e)
            }
            r => r,
        }
    }

    fn anchor_bytes(&self, seq: u64, hash: &[u8; 32]) -> Vec<u8> {
        let mut s = Vec::with_capacity(192);
        s.extend_from_slice(b"{\"seq\":");
        s.extend_from_slice(seq.to_string().as_bytes());
        s.extend_from_slice(b",\"hash\":\"");
        s.extend_from_slice(hex::encode(hash).as_bytes());
        s.extend_from_slice(b"\",\"file\":");
        s.extend_from_slice(path_value(&self.name).to_string().as_bytes());
        s.extend_from_slice(b"}\n");
        s
    }

    fn replace_anchor(&self, seq: u64, hash: &[u8; 32]) -> Result<(), AuditError> {
        let s = self.anchor_bytes(seq, hash);
        let tmp = &self.anchor_tmp;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(tmp)
            .map_err(io_err("create", tmp))?;
        if let Some(dir) = tmp.parent() {
            crate::fs::handle::adopt_dir_owner(&f, dir).map_err(io_err("chown", tmp))?;
        }
        f.write_all(&s).map_err(io_err("write", tmp))?;
        f.sync_all().map_err(io_err("fsync", tmp))?;
        drop(f);
        fs::rename(tmp, &self.anchor_path).map_err(io_err("rename", tmp))
    }

    /// Writes the anchor over the existing one, without allocating: the
    /// content fits in the file's first block. It is padded with spaces to
    /// the old length (JSON allows trailing white space), so one write
    /// replaces the whole content and no truncate is needed.
    fn overwrite_anchor(&self, seq: u64, hash: &[u8; 32]) -> Result<(), AuditError> {
        let mut s = self.anchor_bytes(seq, hash);
        let p = &self.anchor_path;
        let f = OpenOptions::new().write(true).open(p).map_err(io_err("open", p))?;
        let old = f.metadata().map_err(io_err("stat", p))?.len() as usize;
        if s.len() < old {
            s.pop();
            s.resize(old - 1, b' ');
            s.push(b'\n');
        }
        f.write_all_at(&s, 0).map_err(io_err("write", p))?;
        f.sync_all().map_err(io_err("fsync", p))?;
        log::debug!("audit log: the filesystem is full, the head anchor was overwritten in place");
        Ok(())
    }

    /// Undoes a failed batch: drops it, rolls seq and hash back, truncates the file.
    fn rollback(&mut self) {
        self.buf.clear();
        self.pending = 0;
        self.seq = self.durable_seq;
        self.hash = self.durable_hash;
        self.continue_in_batch = false;
        let _ = fs::remove_file(&self.anchor_tmp);
        self.tail_dirty = true;
        if let Err(e) = self.cut_to_durable() {
            // Retried before the next write.
            log::error!("audit log: cannot remove a failed batch yet: {e}");
        }
        // The truncate gave back the space set aside past the end.
        self.reclaim_reserve();
    }

    /// Truncates the live file to its durable length and fdatasyncs it.
    fn cut_to_durable(&mut self) -> Result<(), AuditError> {
        if let Some(file) = &self.file {
            file.set_len(self.durable_len).map_err(io_err("truncate", &self.path))?;
            file.sync_data().map_err(io_err("fdatasync", &self.path))?;
        }
        self.tail_dirty = false;
        Ok(())
    }
}

/// Formats a record line (without '\n') into `buf`.
fn write_line(
    buf: &mut Vec<u8>,
    clock: &mut Clock,
    seq: u64,
    action: &str,
    fields: &Map<String, Value>,
    prev: &[u8; 32],
) -> Result<(), serde_json::Error> {
    buf.extend_from_slice(b"{\"seq\":");
    serde_json::to_writer(&mut *buf, &seq)?;
    buf.extend_from_slice(b",\"ts\":\"");
    clock.write_ts(buf);
    buf.extend_from_slice(b"\",\"action\":");
    serde_json::to_writer(&mut *buf, action)?;
    for (k, v) in fields {
        buf.push(b',');
        serde_json::to_writer(&mut *buf, k)?;
        buf.push(b':');
        serde_json::to_writer(&mut *buf, v)?;
    }
    buf.extend_from_slice(b",\"prev\":\"");
    let mut h = [0u8; 64];
    hex::encode_to_slice(prev, &mut h).expect("64 bytes for 32");
    buf.extend_from_slice(&h);
    buf.extend_from_slice(b"\"}");
    Ok(())
}

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

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory (for listing and joining) and file name of a log path.
fn split_path(path: &Path) -> Result<(PathBuf, OsString), AuditError> {
    let name = path.file_name().ok_or_else(|| AuditError::Io {
        op: "use as a log file",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_os_string()))
}

/// Opens the live file for reading and writing (`create_new` after a rotation).
fn open_live(path: &Path, create_new: bool) -> Result<File, AuditError> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).mode(FILE_MODE);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(false);
    }
    let f = o.open(path).map_err(io_err("open", path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fs::handle::adopt_dir_owner(&f, dir).map_err(io_err("chown", path))?;
    }
    let md = f.metadata().map_err(io_err("stat", path))?;
    if !md.is_file() {
        return Err(AuditError::Io {
            op: "open",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    Ok(f)
}

/// Bytes allocated to a file beyond its first `len` bytes (rounded up to
/// its block size): space set aside past the end with `KEEP_SIZE`.
fn held_beyond(m: &fs::Metadata, len: u64) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let blk = m.blksize().max(512);
    let data = len.div_ceil(blk) * blk;
    (m.blocks() * 512).saturating_sub(data)
}

/// What is missing of [`RESERVE_BYTES`] when `held` is set aside.
fn short_of(held: u64) -> u64 {
    let short = RESERVE_BYTES.saturating_sub(held);
    if short <= RESERVE_SLOP {
        0
    } else {
        short
    }
}

/// How much of the reserve of the log at `path` is missing, read from the
/// live file without opening the log (capacity planning, dry runs): all of
/// it when the log does not exist yet.
pub fn reserve_short_of(path: &Path) -> u64 {
    short_of(reserve_held_of(path))
}

/// Bytes allocated past the end of the live log file at `path`: its
/// reserve (0 when there is no log).
pub fn reserve_held_of(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| held_beyond(&m, m.len()))
}

/// The usage of the filesystem holding `dir`.
fn dir_usage(dir: &Path) -> Option<crate::fs::handle::FsStat> {
    crate::fs::handle::DirHandle::open_root(dir).ok()?.usage().ok()
}

fn fsync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync the directory", dir))
}

/// zstd level of rotated segments: JSON Lines shrink about 9x; higher
/// levels gain little and cost a small box seconds per segment.
const ZSTD_LEVEL: i32 = 3;

/// Compresses a rotated segment to `<segment>.zst` and removes the plain
/// file; returns the new path. Crash-safe: the `.zst` appears (by rename)
/// only complete and durable, and the plain file goes only after that.
pub fn compress_segment(plain: &Path) -> Result<PathBuf, AuditError> {
    let mut zst = plain.as_os_str().to_os_string();
    zst.push(".zst");
    let zst = PathBuf::from(zst);
    let mut tmp = zst.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let dir = plain.parent().unwrap_or(Path::new("."));
    let src = File::open(plain).map_err(io_err("open", plain))?;
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    crate::fs::handle::adopt_dir_owner(&out, dir).map_err(io_err("chown", &tmp))?;
    let mut enc = zstd::Encoder::new(out, ZSTD_LEVEL).map_err(io_err("compress", &tmp))?;
    enc.include_checksum(true).map_err(io_err("compress", &tmp))?;
    io::copy(&mut BufReader::with_capacity(READ_BUF, src), &mut enc).map_err(io_err("compress", &tmp))?;
    let out = enc.finish().map_err(io_err("compress", &tmp))?;
    out.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(out);
    fs::rename(&tmp, &zst).map_err(io_err("rename", &tmp))?;
    fsync_dir(dir)?;
    fs::remove_file(plain).map_err(io_err("remove", plain))?;
    fsync_dir(dir)?;
    Ok(zst)
}

/// Compresses rotated segments a crash left plain, and removes plain twins
/// of complete `.zst` segments. Failures are logged: the log stays valid
/// (readers take either form), only larger.
fn compress_leftovers(path: &Path) {
    let Ok((dir, name)) = split_path(path) else { return };
    let Ok(rd) = fs::read_dir(&dir) else { return };
    for e in rd.flatten() {
        let n = e.file_name();
        if n.as_bytes().ends_with(b".zst") || rotated_seq(&name, &n).is_none() {
            continue;
        }
        let plain = dir.join(&n);
        let mut zst = n.clone();
        zst.push(".zst");
        let r = if dir.join(&zst).exists() {
            fs::remove_file(&plain)
                .map_err(io_err("remove", &plain))
                .and_then(|()| fsync_dir(&dir))
        } else {
            compress_segment(&plain).map(|_| ())
        };
        if let Err(e) = r {
            log::warn!("cannot compress the rotated audit file {}: {e}", plain.display());
        }
    }
}

/// The seq in a rotated file's name (`<live>.<20 digits>`, or the same
/// with `.zst`), if `candidate` is one of `live_name`'s.
fn rotated_seq(live_name: &OsStr, candidate: &OsStr) -> Option<u64> {
    let l = live_name.as_bytes();
    let c = candidate.as_bytes();
    let c = c.strip_suffix(b".zst").unwrap_or(c);
    if c.len() != l.len() + 21 || !c.starts_with(l) || c[l.len()] != b'.' {
        return None;
    }
    let digits = &c[l.len() + 1..];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Rotated segment files of the log, oldest first.
fn rotated_segments(path: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let (dir, name) = split_path(path)?;
    // By seq; where a crash left a segment both plain and compressed, the
    // `.zst` (complete by construction) is read.
    let mut names: std::collections::BTreeMap<u64, OsString> = Default::default();
    let rd = fs::read_dir(&dir).map_err(io_err("list the directory", &dir))?;
    for e in rd {
        let e = e.map_err(io_err("list the directory", &dir))?;
        let n = e.file_name();
        if let Some(seq) = rotated_seq(&name, &n) {
            let zst = n.as_bytes().ends_with(b".zst");
            match names.get(&seq) {
                Some(old) if old.as_bytes().ends_with(b".zst") || !zst => {}
                _ => {
                    names.insert(seq, n);
                }
            }
        }
    }
    let parent = path.parent().unwrap_or(Path::new(""));
    Ok(names.into_values().map(|n| parent.join(n)).collect())
}

/// All segment files of the log in order: rotated ones (oldest first), then
/// the live one if it exists.
pub fn segments(path: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut out = rotated_segments(path)?;
    match fs::symlink_metadata(path) {
        Ok(_) => out.push(path.to_path_buf()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("stat", path)(e)),
    }
    Ok(out)
}

/// Opens a segment file for streaming reads. Every reader goes through here,
/// so compressed (e.g. `.zst`) segments need only a change in this function.
fn open_segment(file: &Path) -> Result<Box<dyn BufRead + Send>, AuditError> {
    let f = File::open(file).map_err(io_err("open", file))?;
    if file.as_os_str().as_bytes().ends_with(b".zst") {
        let dec = zstd::Decoder::new(f).map_err(io_err("decompress", file))?;
        return Ok(Box::new(BufReader::with_capacity(READ_BUF, dec)));
    }
    Ok(Box::new(BufReader::with_capacity(READ_BUF, f)))
}

/// Lines of a segment, read forwards into one reused buffer.
struct RawLines {
    r: Box<dyn BufRead + Send>,
    path: PathBuf,
    buf: Vec<u8>,
    line: u64,
}

impl RawLines {
    fn open(file: &Path) -> Result<RawLines, AuditError> {
        Ok(RawLines {
            r: open_segment(file)?,
            path: file.to_path_buf(),
            buf: Vec::with_capacity(1024),
            line: 0,
        })
    }

    /// Reads the next line into `self.buf` (without its '\n'). Returns whether
    /// it ended in '\n', or `None` at the end.
    fn next_line(&mut self) -> Result<Option<bool>, AuditError> {
        self.buf.clear();
        let n = self
            .r
            .read_until(b'\n', &mut self.buf)
            .map_err(io_err("read", &self.path))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let terminated = self.buf.last() == Some(&b'\n');
        if terminated {
            self.buf.pop();
        }
        Ok(Some(terminated))
    }
}

/// A line read backwards.
struct BackLine {
    /// Offset of its first byte.
    start: u64,
    /// Its bytes without the '\n'.
    bytes: Vec<u8>,
    /// Whether it ends in '\n' (only the file's last line can fail to).
    terminated: bool,
}

/// Reads a file's lines from the end backwards, in chunks.
struct BackLines<'a> {
    file: &'a File,
    path: &'a Path,
    /// Holds `file[base .. base + buf.len()]`; the next line to yield ends at its end.
    buf: Vec<u8>,
    base: u64,
}

impl<'a> BackLines<'a> {
    fn new(file: &'a File, path: &'a Path, len: u64) -> BackLines<'a> {
        BackLines {
            file,
            path,
            buf: Vec::new(),
            base: len,
        }
    }

    fn next_line(&mut self) -> Result<Option<BackLine>, AuditError> {
        loop {
            let n = self.buf.len();
            if n > 0 {
                let terminated = self.buf[n - 1] == b'\n';
                let end = if terminated { n - 1 } else { n };
                if let Some(i) = self.buf[..end].iter().rposition(|&b| b == b'\n') {
                    let line = BackLine {
                        start: self.base + i as u64 + 1,
                        bytes: self.buf[i + 1..end].to_vec(),
                        terminated,
                    };
                    self.buf.truncate(i + 1);
                    return Ok(Some(line));
                }
                if self.base == 0 {
                    let line = BackLine {
                        start: 0,
                        bytes: self.buf[..end].to_vec(),
                        terminated,
                    };
                    self.buf.clear();
                    return Ok(Some(line));
                }
            } else if self.base == 0 {
                return Ok(None);
            }
            // Grow geometrically so that long lines stay linear.
            let want = (BACK_CHUNK.max(n) as u64).min(self.base);
            let start = self.base - want;
            let mut chunk = vec![0u8; want as usize];
            self.file
                .read_exact_at(&mut chunk, start)
                .map_err(io_err("read", self.path))?;
            chunk.extend_from_slice(&self.buf);
            self.buf = chunk;
            self.base = start;
        }
    }
}

/// The parts of a record needed to check the chain.
struct Head {
    seq: u64,
    action: String,
    prev: [u8; 32],
}

/// Parses a line far enough to check the chain; requires seq, ts, action, prev.
fn parse_head(line: &[u8]) -> Result<Head, String> {
    #[derive(Deserialize)]
    struct Raw {
        seq: u64,
        #[allow(dead_code)]
        ts: String,
        action: String,
        prev: String,
    }
    let r: Raw = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let prev = parse_hash(&r.prev).ok_or_else(|| format!("its prev {:?} is not 64 lowercase hex digits", r.prev))?;
    Ok(Head {
        seq: r.seq,
        action: r.action,
        prev,
    })
}

/// Result of streaming a rotated segment at open.
struct RotatedScan {
    /// Seq and hash of its last complete, parseable record.
    last: Option<(u64, [u8; 32])>,
    /// Hash of its record with the anchored seq, if there is one.
    at_target: Option<[u8; 32]>,
}

fn scan_rotated(file: &Path, target: Option<u64>) -> Result<RotatedScan, AuditError> {
    let mut lines = RawLines::open(file)?;
    let mut out = RotatedScan {
        last: None,
        at_target: None,
    };
    while let Some(terminated) = lines.next_line()? {
        if !terminated {
            continue;
        }
        if let Ok(h) = parse_head(&lines.buf) {
            let hash = sha256(&lines.buf);
            if Some(h.seq) == target {
                out.at_target = Some(hash);
            }
            out.last = Some((h.seq, hash));
        }
    }
    Ok(out)
}

/// Seq of the first record of the live file (from its first parseable line).
fn first_seq(file: &File, path: &Path) -> Result<Option<u64>, AuditError> {
    let mut r = BufReader::new(file);
    r.seek(SeekFrom::Start(0)).map_err(io_err("seek in", path))?;
    let mut line = Vec::new();
    let mut index = 0u64;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).map_err(io_err("read", path))?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(None);
        }
        if let Ok(h) = parse_head(&line[..n - 1]) {
            return Ok(h.seq.checked_sub(index));
        }
        index += 1;
    }
}

/// The head anchor's content.
struct Anchor {
    seq: u64,
    hash: [u8; 32],
    file: Option<OsString>,
}

enum AnchorState {
    Missing,
    Bad(String),
    Ok(Anchor),
}

fn read_anchor(anchor_path: &Path) -> Result<AnchorState, AuditError> {
    #[derive(Deserialize)]
    struct Raw {
        seq: u64,
        hash: String,
        file: Value,
    }
    let bytes = match fs::read(anchor_path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(AnchorState::Missing),
        Err(e) => return Err(io_err("read", anchor_path)(e)),
    };
    let raw: Raw = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return Ok(AnchorState::Bad(format!("not a valid anchor: {e}"))),
    };
    let Some(hash) = parse_hash(&raw.hash) else {
        return Ok(AnchorState::Bad(format!(
            "its hash {:?} is not 64 lowercase hex digits",
            raw.hash
        )));
    };
    Ok(AnchorState::Ok(Anchor {
        seq: raw.seq,
        hash,
        file: path_from_value(&raw.file),
    }))
}

/// Compares the anchor with what open found: `last_seq` is the highest seq
/// seen, `hash_at` the hash of the record with the anchored seq.
fn check_anchor(path: &Path, a: &Anchor, last_seq: u64, hash_at: Option<[u8; 32]>) -> Result<(), AuditError> {
    let what = if a.seq > last_seq {
        format!(
            "the log ends at seq {last_seq} but its head anchor says {}: records were removed \
             from the end (or the log was replaced); run `retentionctl audit verify`",
            a.seq
        )
    } else {
        match hash_at {
            None => format!(
                "record {} named by the head anchor is missing: records were removed; \
                 run `retentionctl audit verify`",
                a.seq
            ),
            Some(h) if h != a.hash => format!(
                "record {} does not match the hash in the head anchor: it was altered (or the \
                 anchor was); run `retentionctl audit verify`",
                a.seq
            ),
            Some(_) => return Ok(()),
        }
    };
    Err(AuditError::Inconsistent {
        path: path.to_path_buf(),
        what,
    })
}

/// One parsed record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Sequence number (1-based, contiguous across files).
    pub seq: u64,
    /// Wall-clock time of the append, RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// The action name.
    pub action: String,
    /// The caller's fields only (without seq, ts, action, prev).
    pub fields: Map<String, Value>,
    /// Hex SHA-256 of the previous record's line.
    pub prev: String,
    /// Hex SHA-256 of this record's line.
    pub hash: String,
    /// The segment file holding it.
    pub file: PathBuf,
    /// Its 1-based line number in that file.
    pub line: u64,
}

impl Record {
    /// Its fields as the schema's type for its action; `None` when the
    /// record is of another action, or its fields do not fit the type.
    pub fn fields_as<F: schema::Fields>(&self) -> Option<F> {
        if self.action != F::ACTION {
            return None;
        }
        F::deserialize(&self.fields).ok()
    }
}

fn parse_record(bytes: &[u8], file: &Path, line: u64) -> Result<Record, String> {
    let mut m: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid JSON object: {e}"))?;
    let seq = m
        .remove("seq")
        .and_then(|v| v.as_u64())
        .ok_or("it has no integer \"seq\"")?;
    let mut text = |k: &str| match m.remove(k) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(format!("it has no string {k:?}")),
    };
    let ts = text("ts")?;
    let action = text("action")?;
    let prev = text("prev")?;
    if parse_hash(&prev).is_none() {
        return Err(format!("its prev {prev:?} is not 64 lowercase hex digits"));
    }
    Ok(Record {
        seq,
        ts,
        action,
        fields: m,
        prev,
        hash: hex::encode(sha256(bytes)),
        file: file.to_path_buf(),
        line,
    })
}

/// Records of one segment; yields an error for each bad line and goes on.
struct SegmentRecords {
    lines: RawLines,
    done: bool,
}

impl Iterator for SegmentRecords {
    type Item = Result<Record, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let terminated = match self.lines.next_line() {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let (path, line) = (&self.lines.path, self.lines.line);
        if !terminated {
            return Some(Err(AuditError::Corrupt {
                path: path.clone(),
                line,
                what: format!(
                    "the file ends with an incomplete line of {} bytes (a write in progress or interrupted)",
                    self.lines.buf.len()
                ),
            }));
        }
        Some(
            parse_record(&self.lines.buf, path, line).map_err(|what| AuditError::Corrupt {
                path: path.clone(),
                line,
                what: format!("not a valid audit record: {what}"),
            }),
        )
    }
}

/// Records of one segment file only, streamed.
pub fn read_segment(file: &Path) -> Result<impl Iterator<Item = Result<Record, AuditError>>, AuditError> {
    Ok(SegmentRecords {
        lines: RawLines::open(file)?,
        done: false,
    })
}

/// Records of all segments in order.
struct AllRecords {
    segs: std::vec::IntoIter<PathBuf>,
    cur: Option<SegmentRecords>,
}

impl Iterator for AllRecords {
    type Item = Result<Record, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cur) = &mut self.cur {
                if let Some(r) = cur.next() {
                    return Some(r);
                }
                self.cur = None;
            }
            let next = self.segs.next()?;
            match RawLines::open(&next) {
                Ok(lines) => self.cur = Some(SegmentRecords { lines, done: false }),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Iterates every record of every segment in order (for `audit show`, restart
/// reconciliation). Streams; takes no lock, so a rotation running concurrently
/// in another process may be seen half-done.
pub fn read_records(path: &Path) -> Result<impl Iterator<Item = Result<Record, AuditError>>, AuditError> {
    Ok(AllRecords {
        segs: segments(path)?.into_iter(),
        cur: None,
    })
}

/// One problem found by [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The segment (or anchor) file.
    pub file: PathBuf,
    /// 1-based line number in `file` (0 for the anchor).
    pub line: u64,
    /// The record's seq, when known.
    pub seq: Option<u64>,
    /// What is wrong, as a sentence.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.what)
        } else {
            write!(f, "{}: {}", self.file.display(), self.what)
        }
    }
}

/// Result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked, in order.
    pub files: Vec<PathBuf>,
    /// Number of valid records.
    pub records: u64,
    /// Seq of the last valid record (0 if none).
    pub last_seq: u64,
    /// Hex hash of the last valid record (64 zeros if none).
    pub last_hash: String,
    /// Problems in the order found; the first is the first broken record.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok() {
            return write!(
                f,
                "audit log OK: {} records in {} files, last seq {}",
                self.records,
                self.files.len(),
                self.last_seq
            );
        }
        writeln!(
            f,
            "audit log BROKEN: {} problem(s) in {} records; the first: {}",
            self.problems.len(),
            self.records,
            self.problems[0]
        )?;
        for p in &self.problems[1..] {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

fn file_label(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Checks the whole chain across all segments and the head anchor, streaming
/// (constant memory). Reads only; takes no lock.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let (_, live_name) = split_path(path)?;
    let files = segments(path)?;
    let anchor_path = sibling(path, ".head");
    let anchor = read_anchor(&anchor_path)?;
    let target = match &anchor {
        AnchorState::Ok(a) => Some(a.seq),
        _ => None,
    };
    let mut problems = Vec::new();
    let mut records = 0u64;
    // The last valid record: seq, hash, where.
    let mut last_seq = 0u64;
    let mut last_hash = ZERO_HASH;
    let mut last_where = String::new();
    // Damaged lines since the last valid record.
    let mut damaged = 0u64;
    let mut anchored_hash: Option<[u8; 32]> = None;
    let mut prev_file: Option<&Path> = None;

    for file in &files {
        let rot_seq = file.file_name().and_then(|n| rotated_seq(&live_name, n));
        let label = file_label(file);
        let mut lines = RawLines::open(file)?;
        let mut first = true;
        while let Some(terminated) = lines.next_line()? {
            let line = lines.line;
            let mut problem = |seq: Option<u64>, what: String| {
                problems.push(Problem {
                    file: file.clone(),
                    line,
                    seq,
                    what,
                })
            };
            let was_first = std::mem::replace(&mut first, false);
            if !terminated {
                problem(
                    None,
                    format!(
                        "the file ends with an incomplete line of {} bytes (no newline): a write \
                         was interrupted; opening the log with retentiond repairs this",
                        lines.buf.len()
                    ),
                );
                damaged += 1;
                continue;
            }
            let h = match parse_head(&lines.buf) {
                Ok(h) => h,
                Err(why) => {
                    problem(
                        None,
                        format!(
                            "line {line} of {label} is not a valid audit record ({why}): it was \
                             damaged or edited"
                        ),
                    );
                    damaged += 1;
                    continue;
                }
            };
            let hash = sha256(&lines.buf);
            let expected = last_seq + 1;
            let seq_ok = h.seq >= expected && h.seq <= expected + damaged;
            if let (true, Some(pf)) = (was_first, prev_file) {
                let pf = file_label(pf);
                if !seq_ok || (damaged == 0 && h.prev != last_hash) {
                    problem(
                        Some(h.seq),
                        format!(
                            "the first record of {label} (seq {}) does not chain to the end of \
                             {pf} ({last_where}): records between the files were removed, \
                             edited, or a file was replaced",
                            h.seq
                        ),
                    );
                }
                if h.action != schema::Action::Continue.code() {
                    problem(
                        Some(h.seq),
                        format!(
                            "the first record of {label} is a {:?} record, not \"continue\": the \
                             file does not start where a rotation would start it",
                            h.action
                        ),
                    );
                }
            } else if !seq_ok {
                let what = if last_seq == 0 && h.seq > 1 {
                    format!(
                        "the log starts at seq {}, not 1: records 1 to {} are missing (or an \
                         older file was removed)",
                        h.seq,
                        h.seq - 1
                    )
                } else if h.seq > expected + damaged {
                    let missing = if h.seq - 1 == expected {
                        format!("record {expected} is missing")
                    } else {
                        format!("records {expected} to {} are missing", h.seq - 1)
                    };
                    format!("seq {} follows {last_seq}: {missing}", h.seq)
                } else {
                    format!(
                        "seq {} follows {last_seq}: record {} is repeated or out of order",
                        h.seq, h.seq
                    )
                };
                problem(Some(h.seq), what);
            } else if damaged == 0 && h.prev != last_hash {
                let what = if last_seq == 0 {
                    format!(
                        "record {}'s prev is not 64 zeros although it is the first record: \
                         earlier records were removed or it was edited",
                        h.seq
                    )
                } else {
                    format!(
                        "record {}'s prev does not match the hash of record {last_seq}: record \
                         {last_seq} ({last_where}) was edited, or a record was removed",
                        h.seq
                    )
                };
                problem(Some(h.seq), what);
            }
            if was_first {
                if let Some(rs) = rot_seq {
                    if rs != h.seq {
                        problem(
                            Some(h.seq),
                            format!(
                                "{label} is named for seq {rs} but its first record is seq {}: \
                                 the file was renamed or its beginning removed",
                                h.seq
                            ),
                        );
                    }
                }
            }
            if Some(h.seq) == target {
                anchored_hash = Some(hash);
            }
            records += 1;
            last_seq = h.seq;
            last_hash = hash;
            last_where = format!("{label} line {line}");
            damaged = 0;
        }
        if first && rot_seq.is_some() {
            problems.push(Problem {
                file: file.clone(),
                line: 0,
                seq: None,
                what: format!("the rotated file {label} is empty: its records were removed"),
            });
        }
        prev_file = Some(file);
    }

    let mut anchor_problem = |seq: Option<u64>, what: String| {
        problems.push(Problem {
            file: anchor_path.clone(),
            line: 0,
            seq,
            what,
        })
    };
    match anchor {
        AnchorState::Missing => {
            if records > 0 || damaged > 0 {
                anchor_problem(
                    None,
                    format!(
                        "the head anchor {} is missing although the log has records: removal of \
                         records from the end cannot be ruled out",
                        file_label(&anchor_path)
                    ),
                );
            }
        }
        AnchorState::Bad(why) => anchor_problem(
            None,
            format!("the head anchor {} is unreadable: {why}", file_label(&anchor_path)),
        ),
        AnchorState::Ok(a) => {
            if a.seq > last_seq {
                anchor_problem(
                    Some(a.seq),
                    format!(
                        "the log ends at seq {last_seq} but its anchor says {}: records were \
                         removed from the end",
                        a.seq
                    ),
                );
            } else {
                match anchored_hash {
                    None => anchor_problem(
                        Some(a.seq),
                        format!(
                            "the anchor names record {}, which is not in the log: records were \
                             removed",
                            a.seq
                        ),
                    ),
                    Some(h) if h != a.hash => anchor_problem(
                        Some(a.seq),
                        format!(
                            "record {}'s hash does not match the head anchor: record {} was \
                             altered (or the anchor was)",
                            a.seq, a.seq
                        ),
                    ),
                    Some(_) => {}
                }
            }
            if a.file.as_deref() != Some(live_name.as_os_str()) {
                anchor_problem(
                    Some(a.seq),
                    format!(
                        "the anchor belongs to the log file {:?}, not to {:?}: it was copied from \
                         another log",
                        a.file.as_deref().unwrap_or(OsStr::new("?")),
                        live_name
                    ),
                );
            }
        }
    }

    Ok(VerifyReport {
        files,
        records,
        last_seq,
        last_hash: hex::encode(last_hash),
        problems,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::process::Command;
    use std::time::Instant;

    fn rec_fields(n: u64) -> Value {
        json!({
            "path": format!("/srv/nvr/cam{:02}/2026-11-23/15/{:02}.{:02}.mp4", n % 16, n % 60, n % 59),
            "bytes": 104_857_600 + n,
            "n": n,
        })
    }

    fn log_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("audit.jsonl")
    }

    fn small() -> AuditOptions {
        AuditOptions::default()
    }

    /// Appends `count` records and syncs.
    fn fill(log: &mut AuditLog, count: u64) {
        for _ in 0..count {
            let n = log.seq + 1;
            log.append("delete", &rec_fields(n)).unwrap();
        }
        log.sync().unwrap();
    }

    fn is_zst(p: &Path) -> bool {
        p.as_os_str().as_bytes().ends_with(b".zst")
    }

    /// A segment's bytes, decompressed if it is a `.zst` one.
    fn plain_bytes(p: &Path) -> Vec<u8> {
        let b = fs::read(p).unwrap();
        if is_zst(p) {
            zstd::decode_all(&b[..]).unwrap()
        } else {
            b
        }
    }

    fn file_lines(p: &Path) -> Vec<Vec<u8>> {
        plain_bytes(p)
            .split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Rewrites a segment (compressed again if it is a `.zst` one): what a
    /// tamperer with root would do.
    fn write_lines(p: &Path, lines: &[Vec<u8>]) {
        let b = lines.concat();
        if is_zst(p) {
            fs::write(p, zstd::encode_all(&b[..], 3).unwrap()).unwrap();
        } else {
            fs::write(p, b).unwrap();
        }
    }

    fn all_records(p: &Path) -> Vec<Record> {
        read_records(p).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
    }

    fn assert_chain(records: &[Record]) {
        let mut prev = hex::encode(ZERO_HASH);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1, "seq of {r:?}");
            assert_eq!(r.prev, prev, "prev of record {}", r.seq);
            prev = r.hash.clone();
        }
    }

    fn assert_ok(p: &Path) -> VerifyReport {
        let rep = verify(p).unwrap();
        assert!(rep.ok(), "{rep}");
        rep
    }

    #[test]
    fn append_sync_reopen_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head(), (0, "0".repeat(64)));
        assert_eq!(log.append("delete", &rec_fields(1)).unwrap(), 1);
        assert_eq!(log.append("delete", &rec_fields(2)).unwrap(), 2);
        assert_eq!(log.pending(), 2);
        assert_eq!(log.head().0, 0, "not durable before sync");
        log.sync().unwrap();
        assert_eq!(log.pending(), 0);
        let head = log.head();
        assert_eq!(head.0, 2);
        assert_eq!(log.path(), p);
        drop(log);

        let mut log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head(), head);
        fill(&mut log, 3);
        assert_eq!(log.head().0, 5);
        let head = log.head();
        drop(log);

        let recs = all_records(&p);
        assert_eq!(recs.len(), 5);
        assert_chain(&recs);
        assert_eq!(recs[4].hash, head.1);
        assert_eq!(recs[0].action, "delete");
        assert_eq!(recs[0].fields, *rec_fields(1).as_object().unwrap());
        assert_eq!(recs[3].line, 4);
        assert_eq!(recs[3].file, p);
        // ts: RFC 3339 UTC with milliseconds.
        let ts = &recs[0].ts;
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        // Key order on the line: seq, ts, action, fields..., prev.
        let first = &file_lines(&p)[0];
        assert!(first.starts_with(b"{\"seq\":1,\"ts\":\""));
        let s = std::str::from_utf8(first).unwrap();
        assert!(s.contains("\",\"action\":\"delete\",\"bytes\":"), "{s}");
        assert!(s.ends_with(&format!(",\"prev\":\"{}\"}}\n", "0".repeat(64))), "{s}");

        let rep = assert_ok(&p);
        assert_eq!(rep.records, 5);
        assert_eq!(rep.last_seq, 5);
        assert_eq!(rep.last_hash, head.1);
        assert_eq!(rep.files, vec![p.clone()]);
        // The anchor names the last record and the live file.
        let a: Value = serde_json::from_slice(&fs::read(sibling(&p, ".head")).unwrap()).unwrap();
        assert_eq!(a, json!({"seq": 5, "hash": head.1, "file": "audit.jsonl"}));
    }

    #[test]
    fn empty_log_verifies_and_unsynced_records_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        log.append("delete", &rec_fields(1)).unwrap();
        drop(log); // never synced
        assert_eq!(fs::metadata(&p).unwrap().len(), 0);
        let rep = assert_ok(&p);
        assert_eq!((rep.records, rep.last_seq), (0, 0));
        let log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head().0, 0);
    }

    #[test]
    fn edited_middle_record_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 10);
        drop(log);
        let mut lines = file_lines(&p);
        let s = String::from_utf8(lines[4].clone()).unwrap();
        assert!(s.contains("\"n\":5,"));
        lines[4] = s.replace("\"n\":5,", "\"n\":7,").into_bytes(); // one byte
        write_lines(&p, &lines);

        let rep = verify(&p).unwrap();
        assert!(!rep.ok());
        let first = &rep.problems[0];
        assert_eq!(first.seq, Some(6), "{rep}");
        assert_eq!(first.line, 6);
        assert!(
            first.what.starts_with(
                "record 6's prev does not match the hash of record 5: record 5 (audit.jsonl line 5) was edited"
            ),
            "{}",
            first.what
        );
        assert_eq!(rep.problems.len(), 1, "{rep}");
        assert!(rep.to_string().contains("the first: "), "{rep}");
    }

    #[test]
    fn line_broken_by_an_edit_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 10);
        drop(log);
        let mut lines = file_lines(&p);
        lines[2][0] = b'['; // no longer JSON
        write_lines(&p, &lines);
        let rep = verify(&p).unwrap();
        assert_eq!(rep.problems.len(), 1, "{rep}");
        assert_eq!(rep.problems[0].line, 3);
        assert!(rep.problems[0].what.contains("not a valid audit record"), "{rep}");
        // read_records reports the line and goes on.
        let all: Vec<_> = read_records(&p).unwrap().collect();
        assert_eq!(all.len(), 10);
        assert!(matches!(all[2], Err(AuditError::Corrupt { line: 3, .. })));
        assert!(all.iter().filter(|r| r.is_ok()).count() == 9);
    }

    #[test]
    fn removed_middle_line_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 10);
        drop(log);
        let mut lines = file_lines(&p);
        lines.remove(4);
        write_lines(&p, &lines);
        let rep = verify(&p).unwrap();
        assert_eq!(rep.problems.len(), 1, "{rep}");
        assert_eq!(rep.problems[0].seq, Some(6));
        assert_eq!(rep.problems[0].what, "seq 6 follows 4: record 5 is missing");
        // Removing several.
        lines.drain(3..6);
        write_lines(&p, &lines);
        let rep = verify(&p).unwrap();
        assert_eq!(rep.problems[0].what, "seq 8 follows 3: records 4 to 7 are missing");
    }

    #[test]
    fn removed_last_line_is_reported_and_open_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 10);
        drop(log);
        let mut lines = file_lines(&p);
        lines.pop();
        write_lines(&p, &lines);
        let rep = verify(&p).unwrap();
        assert_eq!(rep.problems.len(), 1, "{rep}");
        assert_eq!(
            rep.problems[0].what,
            "the log ends at seq 9 but its anchor says 10: records were removed from the end"
        );
        let before = fs::read(&p).unwrap();
        match AuditLog::open(&p, small()) {
            Err(AuditError::Inconsistent { what, .. }) => {
                assert!(what.contains("ends at seq 9 but its head anchor says 10"), "{what}");
                assert!(what.contains("retentionctl audit verify"), "{what}");
            }
            other => panic!("expected Inconsistent, got {other:?}"),
        }
        assert_eq!(fs::read(&p).unwrap(), before, "open must not modify");
        // Emptying the log entirely is caught too.
        fs::write(&p, b"").unwrap();
        assert!(matches!(
            AuditLog::open(&p, small()),
            Err(AuditError::Inconsistent { .. })
        ));
        assert!(!verify(&p).unwrap().ok());
    }

    #[test]
    fn altered_last_record_or_anchor_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 4);
        drop(log);
        let mut lines = file_lines(&p);
        let s = String::from_utf8(lines[3].clone()).unwrap();
        lines[3] = s.replace("\"n\":4,", "\"n\":8,").into_bytes();
        write_lines(&p, &lines);
        let rep = verify(&p).unwrap();
        assert_eq!(rep.problems.len(), 1, "{rep}");
        assert!(rep.problems[0]
            .what
            .contains("record 4's hash does not match the head anchor"));
        let err = AuditLog::open(&p, small()).unwrap_err();
        assert!(
            err.to_string()
                .contains("record 4 does not match the hash in the head anchor"),
            "{err}"
        );

        // A missing anchor while records exist.
        fs::remove_file(sibling(&p, ".head")).unwrap();
        let rep = verify(&p).unwrap();
        assert!(
            rep.problems[0].what.contains("head anchor audit.jsonl.head is missing"),
            "{rep}"
        );
    }

    #[test]
    fn torn_tail_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 5);
        drop(log);
        let torn = b"{\"seq\":6,\"ts\":\"2026-11-23T15:20:01.123Z\",\"action\":\"del";
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(torn).unwrap();
        drop(f);
        assert!(!verify(&p).unwrap().ok());

        let mut log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head().0, 6);
        let recs = all_records(&p);
        assert_chain(&recs);
        let r = &recs[5];
        assert_eq!(r.action, "repair");
        assert_eq!(r.fields["torn_bytes"], json!(torn.len()));
        assert_eq!(r.fields["torn_hex"], json!(hex::encode(torn)));
        assert!(r.fields["text"].as_str().unwrap().contains("crash"));
        assert_ok(&p);
        fill(&mut log, 2);
        drop(log);
        assert_ok(&p);

        // A complete but garbage last line (e.g. zeros from a lost write).
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"\0\0\0\0\0\0\n").unwrap();
        drop(f);
        let log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head().0, 9);
        let recs = all_records(&p);
        assert_chain(&recs);
        assert_eq!(recs[8].action, "repair");
        assert_eq!(recs[8].fields["torn_bytes"], json!(7));
        drop(log);
        assert_ok(&p);
    }

    #[test]
    fn torn_first_write_of_a_new_log_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        fs::write(&p, b"{\"seq\":1,\"ts\"").unwrap();
        let log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head().0, 1);
        drop(log);
        let recs = all_records(&p);
        assert_eq!(recs[0].action, "repair");
        assert_eq!(recs[0].prev, "0".repeat(64));
        assert_ok(&p);
    }

    #[test]
    fn unanchored_records_that_do_not_chain_are_cut() {
        // A crash can leave whole lines of a batch that never made it past
        // fdatasync; lines after the anchored record must chain or be cut.
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 3);
        drop(log);
        let good = fs::read(&p).unwrap();
        let mut lines = file_lines(&p);
        // A record that looks like seq 5 but does not chain after 3.
        let fake = String::from_utf8(lines[1].clone())
            .unwrap()
            .replace("{\"seq\":2,", "{\"seq\":5,")
            .into_bytes();
        lines.push(b"\0\0\0\0\n".to_vec());
        lines.push(fake);
        write_lines(&p, &lines);
        let log = AuditLog::open(&p, small()).unwrap();
        assert_eq!(log.head().0, 4);
        drop(log);
        let recs = all_records(&p);
        assert_chain(&recs);
        assert_eq!(recs[3].action, "repair");
        assert!(fs::read(&p).unwrap().starts_with(&good));
        assert_ok(&p);
    }

    fn rotate_many(p: &Path, total: u64, opts: AuditOptions) -> (AuditLog, Vec<PathBuf>) {
        let mut log = AuditLog::open(p, opts).unwrap();
        let mut rotated = Vec::new();
        while log.head().0 < total {
            fill(&mut log, 7);
            if let Some(r) = log.maybe_rotate().unwrap() {
                rotated.push(r);
            }
        }
        (log, rotated)
    }

    #[test]
    fn rotation_keeps_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let opts = AuditOptions { rotate_bytes: 4096 };
        let (mut log, rotated) = rotate_many(&p, 150, opts);
        assert!(rotated.len() >= 3, "{rotated:?}");
        // Nothing rotates while records are pending.
        log.append("delete", &rec_fields(0)).unwrap();
        assert_eq!(log.maybe_rotate().unwrap(), None);
        log.sync().unwrap();
        let head = log.head();
        drop(log);

        let segs = segments(&p).unwrap();
        assert_eq!(segs.len(), rotated.len() + 1);
        assert_eq!(&segs[..rotated.len()], &rotated[..]);
        assert_eq!(segs.last().unwrap(), &p);
        let rep = assert_ok(&p);
        assert_eq!(rep.last_seq, head.0);
        assert_eq!(rep.files, segs);

        let recs = all_records(&p);
        assert_eq!(recs.len() as u64, head.0);
        assert_chain(&recs);
        // Rotated names carry their first seq; each file after the first
        // starts with "continue", each rotated one ends with "rotate".
        for (i, seg) in rotated.iter().enumerate() {
            let in_seg: Vec<Record> = read_segment(seg).unwrap().map(Result::unwrap).collect();
            let name = seg.file_name().unwrap().to_str().unwrap();
            assert_eq!(name, format!("audit.jsonl.{:020}.zst", in_seg[0].seq));
            assert_eq!(in_seg.last().unwrap().action, "rotate");
            assert_eq!(in_seg.last().unwrap().fields["next_file"], json!("audit.jsonl"));
            if i > 0 {
                assert_eq!(in_seg[0].action, "continue");
            }
            assert!(in_seg.iter().all(|r| r.file == *seg));
        }
        let live: Vec<Record> = read_segment(&p).unwrap().map(Result::unwrap).collect();
        assert_eq!(live[0].action, "continue");
        // "from" names the file as rotated, before it was compressed.
        assert_eq!(
            format!("{}.zst", live[0].fields["from"].as_str().unwrap()),
            rotated.last().unwrap().file_name().unwrap().to_str().unwrap()
        );

        // Reopen continues after rotation.
        let mut log = AuditLog::open(&p, opts).unwrap();
        assert_eq!(log.head(), head);
        fill(&mut log, 3);
        drop(log);
        assert_ok(&p);
    }

    #[test]
    fn tampering_inside_a_rotated_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let (log, rotated) = rotate_many(&p, 80, AuditOptions { rotate_bytes: 4096 });
        drop(log);
        assert!(rotated.len() >= 2);
        let seg = &rotated[0];
        let mut lines = file_lines(seg);
        let s = String::from_utf8(lines[2].clone()).unwrap();
        lines[2] = s.replace("\"n\":3,", "\"n\":4,").into_bytes();
        write_lines(seg, &lines);
        let rep = verify(&p).unwrap();
        assert_eq!(rep.problems.len(), 1, "{rep}");
        assert_eq!(rep.problems[0].file, *seg);
        assert!(
            rep.problems[0]
                .what
                .contains("record 3 (audit.jsonl.00000000000000000001.zst line 3) was edited"),
            "{rep}"
        );

        // Removing a whole rotated file in the middle breaks the chain between files.
        write_lines(seg, &file_lines(seg)); // (unchanged content)
        fs::remove_file(&rotated[1]).unwrap();
        let rep = verify(&p).unwrap();
        assert!(
            rep.problems.iter().any(|pr| pr
                .what
                .contains("does not chain to the end of audit.jsonl.00000000000000000001")),
            "{rep}"
        );
        // Removing the first rotated file: the log no longer starts at 1.
        fs::remove_file(seg).unwrap();
        let rep = verify(&p).unwrap();
        assert!(rep.problems[0].what.contains("the log starts at seq"), "{rep}");
    }

    /// Writes an anchor naming `seq` with its true hash.
    fn set_anchor(p: &Path, seq: u64) {
        let r = all_records(p).into_iter().find(|r| r.seq == seq).unwrap();
        let a = json!({"seq": seq, "hash": r.hash, "file": "audit.jsonl"});
        fs::write(sibling(p, ".head"), a.to_string()).unwrap();
    }

    #[test]
    fn rotated_files_are_compressed_and_crash_leftovers_tidied() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let opts = AuditOptions { rotate_bytes: 4096 };
        let (log, rotated) = rotate_many(&p, 80, opts);
        drop(log);
        assert!(rotated.len() >= 2 && rotated.iter().all(|r| is_zst(r)));
        let before = all_records(&p);
        // A crash after the .zst was renamed, before the plain file went: both.
        let plain0 = PathBuf::from(rotated[0].to_str().unwrap().trim_end_matches(".zst"));
        fs::write(&plain0, plain_bytes(&rotated[0])).unwrap();
        assert_eq!(segments(&p).unwrap()[0], rotated[0], "the complete .zst is read");
        // A crash between the rename and the compression: plain only.
        let plain1 = PathBuf::from(rotated[1].to_str().unwrap().trim_end_matches(".zst"));
        fs::write(&plain1, plain_bytes(&rotated[1])).unwrap();
        fs::remove_file(&rotated[1]).unwrap();
        assert_eq!(segments(&p).unwrap()[1], plain1);
        assert_eq!(
            all_records(&p),
            before
                .iter()
                .map(|r| Record {
                    file: if r.file == rotated[1] {
                        plain1.clone()
                    } else {
                        r.file.clone()
                    },
                    ..r.clone()
                })
                .collect::<Vec<_>>()
        );
        // The next open tidies both.
        drop(AuditLog::open(&p, opts).unwrap());
        assert!(!plain0.exists() && !plain1.exists() && rotated[1].exists());
        assert_eq!(all_records(&p).len(), before.len());
        assert_ok(&p);
    }

    #[test]
    fn interrupted_rotation_is_completed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let opts = AuditOptions { rotate_bytes: 1000 };
        let mut log = AuditLog::open(&p, opts).unwrap();
        fill(&mut log, 10);
        let rotated = log.maybe_rotate().unwrap().unwrap();
        let head = log.head();
        drop(log);
        let rotate_seq = head.0 - 1;

        // Crash after the rename, before the new live file had its "continue".
        fs::remove_file(&p).unwrap();
        set_anchor(&p, rotate_seq);
        let log = AuditLog::open(&p, opts).unwrap();
        assert_eq!(log.head().0, rotate_seq + 1);
        drop(log);
        assert_ok(&p);
        assert_eq!(all_records(&p).len() as u64, rotate_seq + 1);

        // Crash after the "rotate" record was synced, before the rename.
        fs::remove_file(&p).unwrap();
        fs::write(&p, plain_bytes(&rotated)).unwrap();
        fs::remove_file(&rotated).unwrap();
        set_anchor(&p, rotate_seq);
        let log = AuditLog::open(&p, opts).unwrap();
        assert_eq!(log.head().0, rotate_seq + 1);
        drop(log);
        assert!(rotated.exists());
        assert_ok(&p);
        let live: Vec<Record> = read_segment(&p).unwrap().map(Result::unwrap).collect();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].action, "continue");

        // But a live file removed after its records were anchored is tampering.
        fs::remove_file(&p).unwrap();
        let err = AuditLog::open(&p, opts).unwrap_err();
        assert!(matches!(err, AuditError::Inconsistent { .. }), "{err}");
    }

    #[test]
    fn path_value_round_trips() {
        let odd = OsStr::from_bytes(b"cam\xff\xfe/01.mp4");
        let v = path_value(odd);
        assert_eq!(v, json!({"hex": hex::encode(b"cam\xff\xfe/01.mp4")}));
        assert_eq!(path_from_value(&v).unwrap(), odd);
        let nl = OsStr::new("cam1/evil\nname\".mp4");
        let v = path_value(nl);
        assert_eq!(v, json!("cam1/evil\nname\".mp4"));
        assert_eq!(path_from_value(&v).unwrap(), nl);
        assert_eq!(path_from_value(&json!(3)), None);
        assert_eq!(path_from_value(&json!({"hex": "zz"})), None);

        // Through the log, one line per record.
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        log.append("delete", &json!({"path": path_value(odd)})).unwrap();
        log.append("delete", &json!({"path": path_value(nl)})).unwrap();
        log.sync().unwrap();
        drop(log);
        assert_eq!(file_lines(&p).len(), 2);
        let recs = all_records(&p);
        assert_eq!(path_from_value(&recs[0].fields["path"]).unwrap(), odd);
        assert_eq!(path_from_value(&recs[1].fields["path"]).unwrap(), nl);
        assert_ok(&p);
    }

    #[test]
    fn reserved_or_non_object_fields_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        for k in ["seq", "ts", "action", "prev"] {
            let err = log.append("delete", &json!({"path": "a", k: 1})).unwrap_err();
            assert!(matches!(err, AuditError::BadFields(_)), "{err}");
            assert!(err.to_string().contains(&format!("{k:?}")), "{err}");
        }
        assert!(matches!(
            log.append("delete", &json!(["a"])),
            Err(AuditError::BadFields(_))
        ));
        assert!(matches!(log.append("", &json!({})), Err(AuditError::BadFields(_))));
        assert_eq!(log.pending(), 0);
        assert_eq!(log.append("delete", &json!({})).unwrap(), 1);
    }

    #[test]
    fn second_open_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let log = AuditLog::open(&p, small()).unwrap();
        let err = AuditLog::open(&p, small()).unwrap_err();
        match &err {
            AuditError::Busy { path } => assert_eq!(path, &p),
            other => panic!("expected Busy, got {other:?}"),
        }
        assert!(err.to_string().contains("audit.jsonl.lock"), "{err}");
        drop(log);
        AuditLog::open(&p, small()).unwrap();
    }

    #[test]
    fn failed_anchor_update_rolls_the_batch_back() {
        // The data write and fdatasync succeed, the anchor cannot be written:
        // the batch must still vanish entirely.
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 3);
        let head = log.head();
        let len = fs::metadata(&p).unwrap().len();
        fs::create_dir(sibling(&p, ".head.tmp")).unwrap();
        log.append("delete", &rec_fields(4)).unwrap();
        log.append("delete", &rec_fields(5)).unwrap();
        let err = log.sync().unwrap_err();
        assert!(matches!(err, AuditError::Io { op: "create", .. }), "{err}");
        assert_eq!(fs::metadata(&p).unwrap().len(), len);
        assert_eq!(log.head(), head);
        assert_eq!(log.pending(), 0);
        fs::remove_dir(sibling(&p, ".head.tmp")).unwrap();
        assert_eq!(log.append("delete", &rec_fields(4)).unwrap(), 4);
        log.sync().unwrap();
        drop(log);
        let recs = all_records(&p);
        assert_eq!(recs.len(), 4);
        assert_chain(&recs);
        assert_ok(&p);
    }

    struct Unmount(PathBuf);

    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }

    #[test]
    fn sync_failure_on_a_full_disk_rolls_back() {
        if !nix::unistd::Uid::effective().is_root() {
            println!("note: skipping sync_failure_on_a_full_disk_rolls_back: needs root to mount a tmpfs");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            println!("note: skipping sync_failure_on_a_full_disk_rolls_back: cannot mount a tmpfs here");
            return;
        }
        let _unmount = Unmount(mnt.clone());
        let p = mnt.join("audit.jsonl");
        let mut log = AuditLog::open(&p, small()).unwrap();
        fill(&mut log, 10);
        let head = log.head();
        let len = fs::metadata(&p).unwrap().len();

        // Fill the filesystem.
        let filler_path = mnt.join("filler");
        let mut filler = File::create(&filler_path).unwrap();
        let chunk = vec![0x55u8; 4096];
        let full = loop {
            if let Err(e) = filler.write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(full.raw_os_error(), Some(libc_enospc()), "{full}");

        for _ in 0..400 {
            log.append("delete", &rec_fields(0)).unwrap();
        }
        let err = log.sync().unwrap_err();
        println!("sync on a full disk: {err}");
        assert!(matches!(err, AuditError::Io { .. }), "{err}");
        let bytes = fs::read(&p).unwrap();
        assert_eq!(bytes.len() as u64, len, "the failed batch left bytes behind");
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(log.head(), head);
        assert_eq!(log.pending(), 0);
        assert_ok(&p);

        drop(filler);
        fs::remove_file(&filler_path).unwrap();
        fill(&mut log, 5);
        assert_eq!(log.head().0, head.0 + 5);
        drop(log);
        let recs = all_records(&p);
        assert_eq!(recs.len(), 15);
        assert_chain(&recs);
        assert_ok(&p);
    }

    fn libc_enospc() -> i32 {
        Errno::ENOSPC as i32
    }

    /// 300k appends of ~300-byte records with a sync every 2000.
    /// Run with `cargo test --release --lib audit -- --ignored --nocapture`.
    #[test]
    #[ignore = "performance check; run in release mode"]
    fn perf_300k_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = log_path(&dir);
        let mut log = AuditLog::open(&p, small()).unwrap();
        let fields: Vec<Value> = (0..16)
            .map(|i| {
                json!({
                    "path": format!("/srv/nvr/recordings/zone-a/camera-{i:02}/2026-11-23/15/20.01.mp4"),
                    "bytes": 104857600u64 + i,
                    "mtime": "2026-11-09T15:20:01Z",
                    "reason": "age: older than 14d in zone zone-a (policy rule 3)",
                    "zone": "zone-a",
                    "plan": 1234,
                })
            })
            .collect();
        let t = Instant::now();
        let mut in_sync = std::time::Duration::ZERO;
        for i in 0..300_000u64 {
            log.append("delete", &fields[(i % 16) as usize]).unwrap();
            if i % 2000 == 1999 {
                let s = Instant::now();
                log.sync().unwrap();
                in_sync += s.elapsed();
            }
        }
        log.sync().unwrap();
        let took = t.elapsed();
        let size = fs::metadata(&p).unwrap().len();
        println!(
            "300k appends + 150 syncs: {took:?}, of which {in_sync:?} in sync ({} bytes/record)",
            size / 300_000
        );
        drop(log);
        let t = Instant::now();
        let rep = verify(&p).unwrap();
        println!("verify of {} records: {:?}", rep.records, t.elapsed());
        assert!(rep.ok(), "{rep}");
        if !cfg!(debug_assertions) {
            assert!(took.as_secs_f64() < 1.0, "{took:?}");
        }
    }
}
