//! The log's one writer: [`AuditLog`] opens the live file (cutting a torn
//! tail, checking the head anchor), appends records in batches made durable
//! by `sync`, keeps the reserve past the end, and rotates.

use super::*;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Map, Value};

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
pub(super) struct Clock {
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
    pub(super) seq: u64,
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
pub(super) struct Found {
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
    /// that much free and a margin for the recorders (`RESERVE_SLACK`);
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
        // Topped up whenever records have used any of it, not only once
        // more than the slop is missing: a sweep that wrote a few grouped
        // records and the summaries after them would otherwise end short.
        let short = RESERVE_BYTES.saturating_sub(self.reserve_held());
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
pub(super) fn write_line(
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

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The directory (for listing and joining) and file name of a log path.
pub(super) fn split_path(path: &Path) -> Result<(PathBuf, OsString), AuditError> {
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
pub(super) fn open_live(path: &Path, create_new: bool) -> Result<File, AuditError> {
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
pub(super) fn held_beyond(m: &fs::Metadata, len: u64) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let blk = m.blksize().max(512);
    let data = len.div_ceil(blk) * blk;
    (m.blocks() * 512).saturating_sub(data)
}

/// What is missing of [`RESERVE_BYTES`] when `held` is set aside.
pub(super) fn short_of(held: u64) -> u64 {
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
pub(super) fn dir_usage(dir: &Path) -> Option<crate::fs::handle::FsStat> {
    crate::fs::handle::DirHandle::open_root(dir).ok()?.usage().ok()
}
