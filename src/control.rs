//! The control socket: one JSON request per connection, one JSON reply.
//!
//! Invariants:
//! - The caller is who the kernel says (`SO_PEERCRED`); no request field
//!   names a user.
//! - A request is at most [`MAX_REQUEST`] bytes and must arrive within
//!   [`READ_TIMEOUT`]; anything else is refused with an error reply (or the
//!   connection is dropped), and the daemon goes on.
//! - Each connection is its own task and the work runs on the blocking
//!   pool, so a slow or stuck client delays nobody else; at most
//!   [`MAX_CLIENTS`] connections are served at once, later ones are told so.
//! - Authorisation happens before any work: a caller without the role
//!   changes nothing.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::access::RangeRequest;
use crate::auditq::Query;
use crate::daemon::Shared;
use crate::export::{DoneRequest, OpenRequest};
use crate::holdops::{self, AddRequest, Caller, OpError, Role};
use crate::report::ReportRequest;
use crate::units::Timestamp;

/// Largest request accepted.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Time a client has to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CLIENTS: usize = 32;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Is the daemon there? (anyone)
    Ping {},
    /// Place a hold (operators).
    HoldAdd {
        /// The hold.
        hold: AddRequest,
    },
    /// List holds (viewers).
    HoldList {
        /// Include released and lapsed holds.
        #[serde(default)]
        all: bool,
    },
    /// One hold with its coverage (viewers).
    HoldShow {
        /// Its id.
        id: u64,
    },
    /// Release a hold (supervisors).
    HoldRelease {
        /// Its id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// Change a hold's expiry (operators).
    HoldExtend {
        /// Its id.
        id: u64,
        /// New expiry; None: indefinite.
        expires: Option<Timestamp>,
        /// Why.
        reason: String,
    },
    /// What the next sweep would delete (viewers).
    Plan {
        /// Totals only.
        #[serde(default)]
        summary: bool,
    },
    /// Zones, filesystems, the last sweep (viewers).
    Status {},
    /// The recordings in a range, audited (viewers).
    Find {
        /// The range and why.
        range: RangeRequest,
    },
    /// Delete a range ahead of its time (supervisors).
    Erase {
        /// The range and why.
        range: RangeRequest,
    },
    /// Why a recording is kept or due, or what removed it (viewers).
    Explain {
        /// The path (as the audit log encodes paths: a string, or bytes
        /// for a name that is not UTF-8).
        path: Value,
    },
    /// Query the audit log (viewers).
    AuditShow {
        /// The filters.
        query: Query,
    },
    /// Open a hold's recordings for export (supervisors); the reply is
    /// followed by the open files (`SCM_RIGHTS`).
    ExportOpen {
        /// Which hold, where to, why.
        export: OpenRequest,
    },
    /// Record a finished export's manifest digest (supervisors).
    ExportDone {
        /// What was written.
        done: DoneRequest,
    },
    /// The compliance report over a period (viewers).
    Report {
        /// The period.
        report: ReportRequest,
    },
    /// Accept the deletions the mass-deletion guard holds back (supervisors).
    Confirm {
        /// Only this zone (else every zone with an open episode).
        #[serde(default)]
        zone: Option<String>,
        /// Why (recorded).
        reason: String,
    },
}

impl Request {
    /// The role it needs and its name for messages.
    pub fn needs(&self) -> (Role, &'static str) {
        match self {
            Request::Ping {} => (Role::Anyone, "ping"),
            Request::HoldAdd { .. } => (Role::Operator, "hold add"),
            Request::HoldList { .. } => (Role::Viewer, "hold list"),
            Request::HoldShow { .. } => (Role::Viewer, "hold show"),
            Request::HoldRelease { .. } => (Role::Supervisor, "hold release"),
            Request::HoldExtend { .. } => (Role::Operator, "hold extend"),
            Request::Plan { .. } => (Role::Viewer, "plan"),
            Request::Status {} => (Role::Viewer, "status"),
            Request::Find { .. } => (Role::Viewer, "find"),
            Request::Erase { .. } => (Role::Supervisor, "erase"),
            Request::Explain { .. } => (Role::Viewer, "explain"),
            Request::AuditShow { .. } => (Role::Viewer, "audit show"),
            Request::ExportOpen { .. } | Request::ExportDone { .. } => (Role::Supervisor, "export"),
            Request::Report { .. } => (Role::Viewer, "report"),
            Request::Confirm { .. } => (Role::Supervisor, "confirm"),
        }
    }
}

/// Parses a request line. Pure: also the fuzzing entry point.
pub fn decode(bytes: &[u8]) -> Result<Request, String> {
    if bytes.len() > MAX_REQUEST {
        return Err(format!("request larger than {MAX_REQUEST} bytes"));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("malformed request: {e}"))
}

fn reply_ok(data: Value) -> Value {
    json!({"ok": true, "data": data})
}

fn reply_err(kind: &str, msg: &str) -> Value {
    json!({"ok": false, "kind": kind, "error": msg})
}

/// Carries out one authorised-or-not request for `caller` (blocking).
pub fn handle(shared: &Shared, caller: &Caller, req: &Request) -> Value {
    handle_with_fds(shared, caller, req).0
}

/// [`handle`], with the files an `export-open` reply passes along.
pub fn handle_with_fds(shared: &Shared, caller: &Caller, req: &Request) -> (Value, Vec<OwnedFd>) {
    let policy = shared.policy();
    let (need, what) = req.needs();
    if let Err(e) = holdops::authorize(caller, &policy, need, what) {
        log::warn!(retention_event = "denied", retention_user = caller.user.as_str(); "{what} by {} (uid {}) refused: {e}", caller.user, caller.uid);
        return (reply_err(e.kind(), &e.to_string()), Vec::new());
    }
    if let Request::ExportOpen { export } = req {
        let Some(audit) = &shared.audit else {
            return (
                reply_err("failed", "the daemon runs in dry-run mode: it writes no audit log"),
                Vec::new(),
            );
        };
        return match crate::export::open(&policy, &shared.store, audit, caller, export, Timestamp::now()) {
            Ok((v, fds)) => (reply_ok(v), fds),
            Err(e) => (reply_err(e.kind(), &e.to_string()), Vec::new()),
        };
    }
    (handle_authorized(shared, caller, req, &policy), Vec::new())
}

fn handle_authorized(shared: &Shared, caller: &Caller, req: &Request, policy: &crate::policy::Policy) -> Value {
    let now = Timestamp::now();
    let inv = shared.inventory();
    let result: Result<Value, OpError> = match req {
        Request::Ping {} => Ok(json!({"pid": std::process::id(), "policy": policy.digest})),
        Request::HoldList { all } => holdops::list(&shared.store, *all, now),
        Request::HoldShow { id } => holdops::show(policy, &shared.store, inv.as_deref(), *id, now),
        Request::Plan { summary } => crate::daemon::dry_plan(policy, &shared.store, now, !*summary)
            .map(|o| crate::daemon::plan_json(&o, *summary))
            .map_err(|e| OpError::Failed(format!("{e:#}"))),
        Request::Status {} => status(policy, &shared.store, inv.as_deref(), shared.last_sweep().as_ref(), now),
        Request::Explain { path } => match crate::audit::path_from_value(path) {
            Some(p) => crate::explain::explain(policy, &shared.store, inv.as_deref(), Path::new(&p), now),
            None => Err(OpError::BadRequest("path: not a path".into())),
        },
        Request::AuditShow { query } => {
            crate::auditq::show(&policy.daemon.audit_log, query).map_err(OpError::BadRequest)
        }
        Request::ExportOpen { .. } => Err(OpError::Failed("export-open is answered with files".into())),
        Request::Report { report } => crate::report::report(&policy.daemon.audit_log, report).map_err(OpError::Failed),
        Request::Confirm { zone, reason } => match &shared.audit {
            Some(audit) => crate::guardstore::confirm(
                &shared.guard,
                &shared.guard_store,
                audit,
                caller,
                zone.as_deref(),
                reason,
                now,
            )
            .inspect(|_| shared.wake.notify_one()),
            None => Err(OpError::Failed(
                "the daemon runs in dry-run mode: it writes no audit log".into(),
            )),
        },
        Request::ExportDone { done } => match &shared.audit {
            Some(audit) => crate::export::done(audit, caller, done),
            None => Err(OpError::Failed(
                "the daemon runs in dry-run mode: it writes no audit log".into(),
            )),
        },
        Request::Find { range } | Request::Erase { range } => {
            let Some(audit) = &shared.audit else {
                return reply_err("failed", "the daemon runs in dry-run mode: it writes no audit log");
            };
            if matches!(req, Request::Find { .. }) {
                crate::access::find(policy, &shared.store, audit, caller, range, now)
            } else {
                crate::access::erase(policy, &shared.store, audit, caller, range, now)
            }
        }
        Request::HoldAdd { .. } | Request::HoldRelease { .. } | Request::HoldExtend { .. } => {
            let Some(audit) = &shared.audit else {
                return reply_err(
                    "failed",
                    "the daemon runs in dry-run mode: holds cannot be changed through it",
                );
            };
            let ctx = holdops::Ctx {
                policy,
                store: &shared.store,
                audit,
                inventory: inv.as_deref(),
            };
            match req {
                Request::HoldAdd { hold } => holdops::add(&ctx, caller, hold, now),
                Request::HoldRelease { id, reason } => holdops::release(&ctx, caller, *id, reason, now),
                Request::HoldExtend { id, expires, reason } => {
                    holdops::extend(&ctx, caller, *id, *expires, reason, now)
                }
                _ => unreachable!("matched above"),
            }
        }
    };
    match result {
        Ok(v) => reply_ok(v),
        Err(e) => reply_err(e.kind(), &e.to_string()),
    }
}

/// `status`, from the daemon's inventory (or a fresh scan without one).
pub fn status(
    policy: &crate::policy::Policy,
    store: &crate::holdstore::HoldStore,
    inv: Option<&crate::inventory::Inventory>,
    last: Option<&crate::daemon::LastSweep>,
    now: Timestamp,
) -> Result<Value, OpError> {
    let scanned;
    let inv = match inv {
        Some(i) => i,
        None => {
            scanned = crate::scan::scan(policy);
            &scanned
        }
    };
    let (holds, _) = store.read()?;
    let usage = crate::scan::usage(policy, inv);
    Ok(crate::status::status(policy, inv, &usage, &holds, last, now))
}

/// Binds the socket: creates its directory if needed, replaces a stale
/// socket (never another kind of file), and lets anyone connect (the
/// roles decide what they may do).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(_) => {}
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(l)
}

/// Serves connections until the task is dropped.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    connection(stream, shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let mut s = stream;
                    let msg = reply_err("busy", "too many clients at once; try again");
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), s.write_all(format!("{msg}\n").as_bytes())).await;
                });
            }
        }
    }
}

async fn connection(stream: UnixStream, shared: Arc<Shared>) {
    let caller = match stream.peer_cred() {
        Ok(c) => Caller::from_uid(c.uid()),
        Err(e) => {
            log::warn!("control socket: no peer credentials: {e}");
            return;
        }
    };
    let (rd, mut wr) = stream.into_split();
    let mut line = Vec::new();
    let mut br = BufReader::new(rd);
    let read = tokio::time::timeout(
        READ_TIMEOUT,
        (&mut br).take(MAX_REQUEST as u64 + 1).read_until(b'\n', &mut line),
    )
    .await;
    let oversized = line.len() > MAX_REQUEST;
    let mut fds: Vec<OwnedFd> = Vec::new();
    let reply = match read {
        Err(_) => reply_err("bad-request", "timed out waiting for the request"),
        Ok(Err(e)) => reply_err("bad-request", &format!("cannot read the request: {e}")),
        Ok(Ok(_)) if line.len() > MAX_REQUEST => {
            reply_err("bad-request", &format!("request larger than {MAX_REQUEST} bytes"))
        }
        Ok(Ok(_)) => match decode(line.trim_ascii()) {
            Err(m) => reply_err("bad-request", &m),
            Ok(req) => {
                let shared = shared.clone();
                let caller = caller.clone();
                match tokio::task::spawn_blocking(move || handle_with_fds(&shared, &caller, &req)).await {
                    Ok((v, f)) => {
                        fds = f;
                        v
                    }
                    Err(e) => reply_err("failed", &format!("internal error: {e}")),
                }
            }
        },
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_default();
    out.push(b'\n');
    let _ = tokio::time::timeout(Duration::from_secs(10), wr.write_all(&out)).await;
    if !fds.is_empty() {
        if let Err(e) = send_fds(wr.as_ref(), &fds).await {
            log::warn!(
                "control socket: passing {} files to {} failed: {e}",
                fds.len(),
                caller.user
            );
        }
        drop(fds);
    }
    let _ = wr.shutdown().await;
    if oversized {
        // Drain (briefly, boundedly) what the client is still sending, so it
        // reads the refusal instead of a connection reset.
        let mut sink = vec![0u8; 16 * 1024];
        let mut total = 0usize;
        while total < 16 * MAX_REQUEST {
            match tokio::time::timeout(Duration::from_secs(1), br.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
    }
}

/// Files passed per message (each message carries one byte of data).
const FDS_PER_MSG: usize = 32;

/// Passes `fds` after the reply, [`FDS_PER_MSG`] per message, each message
/// one zero byte with its `SCM_RIGHTS`.
async fn send_fds(stream: &UnixStream, fds: &[OwnedFd]) -> std::io::Result<()> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::os::fd::{AsFd, BorrowedFd};
    for chunk in fds.chunks(FDS_PER_MSG) {
        let borrowed: Vec<BorrowedFd> = chunk.iter().map(|f| f.as_fd()).collect();
        loop {
            let sent = tokio::time::timeout(READ_TIMEOUT, stream.writable()).await;
            match sent {
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "client does not read",
                    ))
                }
                Ok(r) => r?,
            }
            let r = stream.try_io(tokio::io::Interest::WRITABLE, || {
                let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MSG))];
                let mut anc = SendAncillaryBuffer::new(&mut space);
                anc.push(SendAncillaryMessage::ScmRights(&borrowed));
                sendmsg(stream, &[std::io::IoSlice::new(&[0u8])], &mut anc, SendFlags::NOSIGNAL)
                    .map_err(std::io::Error::from)
            });
            match r {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Sends one request and reads the reply and the files passed after it
/// (`export-open`): as many as the reply lists without an `error`.
pub fn request_fds(socket: &Path, req: &Request, timeout: Duration) -> Result<(Value, Vec<OwnedFd>), ClientError> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let io = |e| ClientError::Io(socket.to_path_buf(), e);
    let s = send(socket, req, timeout)?;
    // Everything is read with recvmsg: a plain read could swallow a byte
    // that carries files, and with it the files.
    let mut data: Vec<u8> = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut want: Option<usize> = None;
    let mut reply: Option<Value> = None;
    loop {
        if let (Some(n), Some(_)) = (want, &reply) {
            if fds.len() >= n {
                break;
            }
        }
        let mut buf = [0u8; 64 * 1024];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MSG))];
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            &s,
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| io(e.into()))?;
        for m in anc.drain() {
            if let RecvAncillaryMessage::ScmRights(it) = m {
                fds.extend(it);
            }
        }
        if got.bytes == 0 {
            break;
        }
        if reply.is_none() {
            data.extend_from_slice(&buf[..got.bytes]);
            if let Some(i) = data.iter().position(|b| *b == b'\n') {
                let v: Value = serde_json::from_slice(&data[..i]).map_err(|e| {
                    io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("bad reply: {e}"),
                    ))
                })?;
                if v["ok"] != Value::Bool(true) {
                    return Err(refused(&v));
                }
                want = Some(
                    v["data"]["files"]
                        .as_array()
                        .map_or(0, |a| a.iter().filter(|f| f.get("error").is_none()).count()),
                );
                reply = Some(v["data"].clone());
            }
        }
    }
    match reply {
        Some(v) => Ok((v, fds)),
        None => Err(io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no reply"))),
    }
}

fn refused(v: &Value) -> ClientError {
    ClientError::Refused {
        kind: v["kind"].as_str().unwrap_or("failed").to_string(),
        msg: v["error"].as_str().unwrap_or("unknown error").to_string(),
    }
}

/// Connects and sends `req` as one line, with `timeout` on both directions.
fn send(socket: &Path, req: &Request, timeout: Duration) -> Result<std::os::unix::net::UnixStream, ClientError> {
    use std::io::Write;
    let io = |e| ClientError::Io(socket.to_path_buf(), e);
    let mut s = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning(socket.to_path_buf()))
        }
        Err(e) => return Err(io(e)),
    };
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut body = serde_json::to_vec(req).expect("requests serialise");
    body.push(b'\n');
    s.write_all(&body).map_err(io)?;
    Ok(s)
}

/// Why a client request did not get a reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens there (the daemon is not running).
    #[error("retentiond is not running (no listener on {0})")]
    NotRunning(PathBuf),
    /// Talking to it failed.
    #[error("control socket {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// It answered with an error.
    #[error("{msg}")]
    Refused {
        /// denied, bad-request, not-found, failed, busy.
        kind: String,
        /// The daemon's message.
        msg: String,
    },
}

/// Sends one request and waits for the reply (blocking; for the CLI).
pub fn request(socket: &Path, req: &Request, timeout: Duration) -> Result<Value, ClientError> {
    use std::io::BufRead;
    let io = |e| ClientError::Io(socket.to_path_buf(), e);
    let s = send(socket, req, timeout)?;
    let mut line = String::new();
    std::io::BufReader::new(&s).read_line(&mut line).map_err(io)?;
    let v: Value = serde_json::from_str(&line).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad reply: {e}"),
        ))
    })?;
    if v["ok"] == Value::Bool(true) {
        Ok(v["data"].clone())
    } else {
        Err(refused(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_accepts_requests_and_rejects_garbage() {
        assert_eq!(decode(br#"{"op":"ping"}"#).unwrap(), Request::Ping {});
        assert_eq!(
            decode(br#"{"op":"hold-list","all":true}"#).unwrap(),
            Request::HoldList { all: true }
        );
        let add = br#"{"op":"hold-add","hold":{"zone":"cctv","match":"*/cam07/*","from":1,"to":2,"case":"C","reason":"R","expires":null}}"#;
        assert!(matches!(decode(add).unwrap(), Request::HoldAdd { .. }));
        for bad in [
            &br#"{"op":"hold-release","id":1}"#[..],
            br#"{"op":"rm -rf"}"#,
            b"\xff\xfe",
            br#"{"op":"ping","user":"root"}"#,
            b"",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(decode(&vec![b' '; MAX_REQUEST + 1]).is_err());
    }
}
