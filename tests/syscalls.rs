//! The write-ahead rule and durable state, proved from a syscall trace.
//!
//! A kill -9 proves what survives a crash of the process; it cannot prove
//! what survives a power loss (data still in the page cache). Here the
//! daemon runs under `strace -f -y` through real sweeps (one capped by the
//! mass-deletion guard, then confirmed), audit rotations, a hold add, an
//! erasure and an export, and the trace is checked:
//! - every `unlinkat` of a recording starts after a write of its record to
//!   the audit log and an `fdatasync`/`fsync` of the log that began after
//!   that write and finished before the unlink, and is followed by an
//!   `fsync` of its directory (on any thread) that finished before the
//!   `batch-done` record reporting it was written;
//! - the answer to a hold add is written to the socket only after the hold
//!   store was replaced and the `hold-add` record synced;
//! - every replace of a file in the state directory is write, fsync of the
//!   temporary file, rename, fsync of the directory.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// One completed system call of the trace.
#[derive(Debug, Clone)]
struct Call {
    pid: u32,
    name: String,
    /// The arguments as strace printed them (both halves when split).
    args: String,
    ret: String,
    /// Line where it started and where it returned.
    start: usize,
    end: usize,
}

impl Call {
    /// The path strace -y shows for the first (fd) argument.
    fn fd_path(&self) -> Option<&str> {
        let a = self.args.trim_start();
        let open = a.find('<')?;
        if !a[..open].chars().all(|c| c.is_ascii_digit()) || open == 0 {
            return None;
        }
        let close = a[open..].find(">,").or_else(|| a[open..].rfind('>'))?;
        Some(&a[open + 1..open + close])
    }

    /// The quoted string arguments, unescaped only as far as paths need.
    fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut it = self.args.char_indices().peekable();
        while let Some((_, c)) = it.next() {
            if c != '"' {
                continue;
            }
            let mut s = String::new();
            while let Some((_, c)) = it.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = it.next() {
                            s.push(n);
                        }
                    }
                    '"' => break,
                    c => s.push(c),
                }
            }
            out.push(s);
        }
        out
    }

    /// It succeeded (returned a count or zero, not -1).
    fn ok(&self) -> bool {
        self.ret.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit())
    }
}

/// Splits `args) = ret` (strace pads before the `=`).
fn split_return(s: &str) -> Option<(&str, &str)> {
    let (args, ret) = s.rsplit_once(" = ")?;
    Some((args.trim_end().strip_suffix(')')?, ret))
}

/// Parses `strace -f` output: `PID name(args) = ret`, with calls split
/// into `<unfinished ...>` and `<... name resumed>` joined again.
fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, (String, String, usize)> = HashMap::new();
    for (i, line) in trace.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<u32>() else { continue };
        let rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = r.split_once(" resumed>") else {
                continue;
            };
            let Some((n, args, start)) = pending.remove(&pid) else {
                continue;
            };
            debug_assert_eq!(n, name);
            let (more, ret) = split_return(tail).unwrap_or((tail, "?"));
            calls.push(Call {
                pid,
                name: n,
                args: format!("{args}{more}"),
                ret: ret.to_string(),
                start,
                end: i,
            });
            continue;
        }
        let Some(paren) = rest.find('(') else { continue };
        let name = rest[..paren].to_string();
        let body = &rest[paren + 1..];
        if let Some(args) = body.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (name, args.to_string(), i));
            continue;
        }
        let Some((args, ret)) = split_return(body) else {
            continue;
        };
        calls.push(Call {
            pid,
            name,
            args: args.to_string(),
            ret: ret.to_string(),
            start: i,
            end: i,
        });
    }
    calls
}

fn is_sync(c: &Call) -> bool {
    matches!(c.name.as_str(), "fsync" | "fdatasync") && c.ok()
}

fn is_write(c: &Call) -> bool {
    matches!(
        c.name.as_str(),
        "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" | "sendto" | "sendmsg"
    ) && c.ok()
}

/// The source and destination of a rename, made absolute.
fn renamed(c: &Call) -> Option<(PathBuf, PathBuf)> {
    let s = c.strings();
    match c.name.as_str() {
        "rename" => Some((PathBuf::from(&s[0]), PathBuf::from(&s[1]))),
        "renameat" | "renameat2" => {
            // renameat(dirfd<dir>, "old", dirfd<dir>, "new"[, flags])
            let dirs: Vec<&str> = c
                .args
                .split(", ")
                .filter_map(|a| a.split_once('<').map(|(_, p)| p.trim_end_matches('>')))
                .collect();
            let abs = |k: usize, name: &str| {
                if name.starts_with('/') {
                    PathBuf::from(name)
                } else {
                    Path::new(dirs.get(k).copied().unwrap_or("")).join(name)
                }
            };
            Some((abs(0, &s[0]), abs(1, &s[1])))
        }
        _ => None,
    }
}

#[test]
fn write_ahead_and_durable_state_in_a_syscall_trace() {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: no strace (tests/run installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    // A 1% guard: the first sweep is capped and waits for `confirm`; a
    // small rotate size: the log rotates during the sweeps.
    let Cctv {
        root,
        state,
        socket,
        policy,
    } = cctv(
        &dir,
        "sweep_interval = \"1h\"\nguard_share = \"1%\"\naudit_rotate_size = \"64KiB\"\nbatch_size = 100",
        "",
    );
    let end = now();
    a_month_of_footage(&root, end);
    let made = files(&root).len();
    let trace = dir.join("trace");
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-y", "-s", "8388608", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=openat,write,pwrite64,writev,pwritev,pwritev2,sendto,sendmsg,fsync,fdatasync,unlinkat,unlink,rename,renameat,renameat2",
        ])
        .arg(env!("CARGO_BIN_EXE_retentiond"))
        .args(["--config", policy.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ping = || {
        retentiond::control::client::request(&socket, &retentiond::control::Request::Ping {}, Duration::from_secs(5))
    };
    wait_until("the daemon under strace", 60, || ping().is_ok());
    let pid = ping().unwrap()["pid"].as_u64().unwrap() as i32;
    let ctl = |args: &[&str]| {
        let mut a = vec!["--config", policy.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = retentionctl(&a);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        o
    };

    // 1. The guard caps the first sweep; a supervisor confirms; the next
    //    sweep deletes the rest.
    wait_for_alarm(&policy, "mass-deletion", 120);
    ctl(&["confirm", "--reason", "backlog after an outage"]);
    // Three days past max_age: 3 x 144 segments a day for 3 cameras.
    let due = 1200;
    wait_until("the confirmed sweep", 120, || files(&root).len() <= made - due);
    // 2. A hold, an erasure, an export.
    let hour = |t: i64| rfc3339(t - t.rem_euclid(3600));
    let from = hour(end - 2 * 86_400);
    let to = hour(end - 2 * 86_400 + 3599);
    ctl(&[
        "hold",
        "add",
        "--zone",
        "cctv",
        "--case",
        "SYS-HOLD",
        "--reason",
        "traced",
        "--from",
        &from,
        "--to",
        &to,
        "--indefinite",
    ]);
    let efrom = hour(end - 3 * 86_400);
    let eto = hour(end - 3 * 86_400 + 3599);
    ctl(&[
        "erase",
        "--zone",
        "cctv",
        "--from",
        &efrom,
        "--to",
        &eto,
        "--reason",
        "subject access: erase",
    ]);
    let media = dir.join("media");
    std::fs::create_dir(&media).unwrap();
    ctl(&[
        "export",
        "--hold",
        "1",
        "--to",
        media.to_str().unwrap(),
        "--reason",
        "handed over",
    ]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let _ = strace.wait();

    let text_of = std::fs::read_to_string(&trace).unwrap();
    let calls = parse(&text_of);
    let live = state.join("audit.jsonl");
    // The live file, or a rotated one (`audit.jsonl.<20 digits>`): not the
    // head anchor or the lock beside it.
    let in_log = |c: &Call| {
        c.fd_path()
            .is_some_and(|p| match p.strip_prefix(live.to_str().unwrap()) {
                Some("") => true,
                Some(rest) => rest.len() == 21 && rest[1..].bytes().all(|b| b.is_ascii_digit()),
                None => false,
            })
    };
    let log_writes: Vec<&Call> = calls.iter().filter(|c| is_write(c) && in_log(c)).collect();
    let log_syncs: Vec<&Call> = calls.iter().filter(|c| is_sync(c) && in_log(c)).collect();

    // Every unlink of a recording: record written, then synced, then
    // unlinked, then its directory synced, then batch-done written.
    let (mut unlinks, mut violations, mut unsynced) = (0, Vec::new(), Vec::new());
    for u in calls
        .iter()
        .filter(|c| c.name == "unlinkat" && c.ok() && !c.args.contains("AT_REMOVEDIR"))
    {
        let Some(d) = u.fd_path() else { continue };
        let abs = Path::new(d).join(&u.strings()[0]);
        if !abs.starts_with(&root) {
            continue;
        }
        unlinks += 1;
        // Its record: one naming its path, or a grouped record (one per
        // directory) naming its directory and, in the same line, its name.
        let needle = format!("{}\\\"", abs.display());
        let dir_needle = format!("\\\"path\\\":\\\"{}\\\"", Path::new(d).display());
        let name_needle = format!("[\\\"{}\\\",", u.strings()[0]);
        let names_it = |record: &str| {
            record.contains(&needle)
                || (record.contains("\\\"unit\\\":\\\"files\\\"")
                    && record.contains(&dir_needle)
                    && record.contains(&name_needle))
        };
        let written = log_writes
            .iter()
            .filter(|w| w.end < u.start && w.args.split("\\n").any(names_it))
            .map(|w| w.end)
            .min();
        let durable = written.is_some_and(|w| log_syncs.iter().any(|s| s.start > w && s.end < u.start));
        if !durable {
            violations.push(format!("{} (record written at line {written:?})", abs.display()));
        }
        // And the unlink itself durable (its directory synced, on whatever
        // thread) before the batch-done record that reports it.
        let done = log_writes
            .iter()
            .find(|w| w.start > u.end && w.args.contains("batch-done"))
            .map_or(usize::MAX, |w| w.start);
        let dir_synced = calls
            .iter()
            .any(|s| is_sync(s) && s.fd_path() == Some(d) && s.start > u.end && s.end < done);
        if done == usize::MAX || !dir_synced {
            unsynced.push(format!("{} (batch-done at line {done})", abs.display()));
        }
    }

    // The hold add's answer: after the store's replace and the record's sync.
    let holds = state.join("holds.json");
    let answer = calls
        .iter()
        .filter(|c| is_write(c) && c.fd_path().is_some_and(|p| p.contains("socket") || p.contains("UNIX")))
        .find(|c| c.args.contains("\\\"ok\\\":true") && c.args.contains("SYS-HOLD"))
        .expect("the hold add's answer in the trace");
    let store_replaced = calls
        .iter()
        .filter_map(|c| renamed(c).filter(|(_, to)| *to == holds).map(|_| c.end))
        .any(|e| e < answer.start);
    let record = log_writes
        .iter()
        .filter(|w| w.args.contains("hold-add") && w.args.contains("SYS-HOLD"))
        .map(|w| w.end)
        .min()
        .expect("the hold-add record in the trace");
    let record_durable = log_syncs.iter().any(|s| s.start > record && s.end < answer.start);
    assert!(store_replaced, "the hold store was replaced before the answer");
    assert!(record_durable, "the hold-add record was synced before the answer");

    // Every replace in the state directory: temp synced, renamed, directory synced.
    let (mut replaces, mut bad_replaces) = (0, Vec::new());
    for (k, c) in calls.iter().enumerate() {
        let Some((from, to)) = renamed(c).filter(|_| c.ok()) else {
            continue;
        };
        if !to.starts_with(&state) {
            continue;
        }
        replaces += 1;
        let dir_of = to.parent().unwrap().to_str().unwrap().to_string();
        let last_write = calls[..k]
            .iter()
            .filter(|w| is_write(w) && w.fd_path() == from.to_str())
            .map(|w| w.end)
            .max();
        let temp_synced = calls[..k]
            .iter()
            .any(|s| is_sync(s) && s.fd_path() == from.to_str() && last_write.is_none_or(|w| s.start > w));
        let next_rename = calls[k + 1..]
            .iter()
            .find(|n| n.pid == c.pid && renamed(n).is_some())
            .map_or(usize::MAX, |n| n.start);
        let dir_synced = calls[k + 1..]
            .iter()
            .any(|s| s.pid == c.pid && is_sync(s) && s.fd_path() == Some(dir_of.as_str()) && s.start < next_rename);
        if !(temp_synced && dir_synced) {
            bad_replaces.push(format!(
                "{} -> {} (temp synced: {temp_synced}, directory synced: {dir_synced})",
                from.display(),
                to.display()
            ));
        }
    }
    let rotations = calls
        .iter()
        .filter_map(renamed)
        .filter(|(from, to)| *from == live && to != &live)
        .count();
    eprintln!(
        "syscall trace: {} calls; {unlinks} unlinks of recordings checked, {} violations; \
         {replaces} replaces in the state directory checked ({rotations} audit rotations), {} violations",
        calls.len(),
        violations.len(),
        bad_replaces.len()
    );
    assert!(unlinks >= due, "{unlinks} unlinks traced, {due} due");
    assert!(rotations >= 1, "the audit log rotated during the trace");
    assert!(
        violations.is_empty(),
        "unlinked before their record was durable: {violations:#?}"
    );
    assert!(
        unsynced.is_empty(),
        "unlinked and reported done before their directory was synced: {unsynced:#?}"
    );
    assert!(
        bad_replaces.is_empty(),
        "replaces without their fsyncs: {bad_replaces:#?}"
    );
}
