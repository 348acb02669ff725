//! The log's files and reading them back: rotated and compressed
//! segments, the streaming line readers (forwards, and backwards for
//! open), the head anchor, and [`Record`] parsing.

use super::*;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// zstd level of rotated segments: JSON Lines shrink about 9x; higher
/// levels gain little and cost a small box seconds per segment.
pub(super) const ZSTD_LEVEL: i32 = 3;

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
pub(super) fn compress_leftovers(path: &Path) {
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
pub(super) fn rotated_seq(live_name: &OsStr, candidate: &OsStr) -> Option<u64> {
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
pub(super) fn rotated_segments(path: &Path) -> Result<Vec<PathBuf>, AuditError> {
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
pub(super) fn open_segment(file: &Path) -> Result<Box<dyn BufRead + Send>, AuditError> {
    let f = File::open(file).map_err(io_err("open", file))?;
    if file.as_os_str().as_bytes().ends_with(b".zst") {
        let dec = zstd::Decoder::new(f).map_err(io_err("decompress", file))?;
        return Ok(Box::new(BufReader::with_capacity(READ_BUF, dec)));
    }
    Ok(Box::new(BufReader::with_capacity(READ_BUF, f)))
}

/// Lines of a segment, read forwards into one reused buffer.
pub(super) struct RawLines {
    pub(super) r: Box<dyn BufRead + Send>,
    pub(super) path: PathBuf,
    pub(super) buf: Vec<u8>,
    pub(super) line: u64,
}

impl RawLines {
    pub(super) fn open(file: &Path) -> Result<RawLines, AuditError> {
        Ok(RawLines {
            r: open_segment(file)?,
            path: file.to_path_buf(),
            buf: Vec::with_capacity(1024),
            line: 0,
        })
    }

    /// Reads the next line into `self.buf` (without its '\n'). Returns whether
    /// it ended in '\n', or `None` at the end.
    pub(super) fn next_line(&mut self) -> Result<Option<bool>, AuditError> {
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
pub(super) struct BackLine {
    /// Offset of its first byte.
    pub(super) start: u64,
    /// Its bytes without the '\n'.
    pub(super) bytes: Vec<u8>,
    /// Whether it ends in '\n' (only the file's last line can fail to).
    pub(super) terminated: bool,
}

/// Reads a file's lines from the end backwards, in chunks.
pub(super) struct BackLines<'a> {
    pub(super) file: &'a File,
    pub(super) path: &'a Path,
    /// Holds `file[base .. base + buf.len()]`; the next line to yield ends at its end.
    pub(super) buf: Vec<u8>,
    pub(super) base: u64,
}

impl<'a> BackLines<'a> {
    pub(super) fn new(file: &'a File, path: &'a Path, len: u64) -> BackLines<'a> {
        BackLines {
            file,
            path,
            buf: Vec::new(),
            base: len,
        }
    }

    pub(super) fn next_line(&mut self) -> Result<Option<BackLine>, AuditError> {
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
pub(super) struct Head {
    pub(super) seq: u64,
    pub(super) action: String,
    pub(super) prev: [u8; 32],
}

/// Parses a line far enough to check the chain; requires seq, ts, action, prev.
pub(super) fn parse_head(line: &[u8]) -> Result<Head, String> {
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
pub(super) struct RotatedScan {
    /// Seq and hash of its last complete, parseable record.
    pub(super) last: Option<(u64, [u8; 32])>,
    /// Hash of its record with the anchored seq, if there is one.
    pub(super) at_target: Option<[u8; 32]>,
}

pub(super) fn scan_rotated(file: &Path, target: Option<u64>) -> Result<RotatedScan, AuditError> {
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
pub(super) fn first_seq(file: &File, path: &Path) -> Result<Option<u64>, AuditError> {
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
pub(super) struct Anchor {
    pub(super) seq: u64,
    pub(super) hash: [u8; 32],
    pub(super) file: Option<OsString>,
}

pub(super) enum AnchorState {
    Missing,
    Bad(String),
    Ok(Anchor),
}

pub(super) fn read_anchor(anchor_path: &Path) -> Result<AnchorState, AuditError> {
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
pub(super) fn check_anchor(
    path: &Path,
    a: &Anchor,
    last_seq: u64,
    hash_at: Option<[u8; 32]>,
) -> Result<(), AuditError> {
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

    /// Whether it is a grouped `delete` record (several files of one
    /// directory, [`schema::Delete`]).
    pub fn is_grouped(&self) -> bool {
        self.action == schema::Action::Delete
            && self.fields.get("unit").and_then(Value::as_str) == Some(schema::GROUPED)
    }

    /// The record as auditors read it, one per recording: a grouped
    /// `delete` record as a record per file, each as a record of its own
    /// would have said it (same seq, time, file and line; its path, size,
    /// recording time and whole sentence); any other record as it is.
    pub fn per_file(self) -> Vec<Record> {
        if !self.is_grouped() {
            return vec![self];
        }
        let Some(d) = self.fields_as::<schema::Delete>() else {
            return vec![self];
        };
        let each = d.each();
        if each.is_empty() {
            return vec![self];
        }
        each.into_iter()
            .map(|f| Record {
                seq: self.seq,
                ts: self.ts.clone(),
                action: self.action.clone(),
                fields: match serde_json::to_value(f) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                },
                prev: self.prev.clone(),
                hash: self.hash.clone(),
                file: self.file.clone(),
                line: self.line,
            })
            .collect()
    }
}

pub(super) fn parse_record(bytes: &[u8], file: &Path, line: u64) -> Result<Record, String> {
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
pub(super) struct SegmentRecords {
    pub(super) lines: RawLines,
    pub(super) done: bool,
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
pub(super) struct AllRecords {
    pub(super) segs: std::vec::IntoIter<PathBuf>,
    pub(super) cur: Option<SegmentRecords>,
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
