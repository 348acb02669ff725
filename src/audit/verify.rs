//! `retentionctl audit verify`: the whole chain checked, file by file,
//! against the head anchor, with every problem named by file and line.

use super::*;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

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

pub(super) fn file_label(p: &Path) -> String {
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
