//! The control socket's server: one JSON request per connection, one JSON
//! reply, each request carried out by [`crate::ops::dispatch`].
//!
//! Invariants:
//! - The caller is who the kernel says (`SO_PEERCRED`); no request field
//!   names a user.
//! - A request is at most [`MAX_REQUEST`] bytes and must arrive within
//!   [`READ_TIMEOUT`]; anything else is refused with an error reply (or the
//!   connection is dropped), and the daemon goes on.
//! - Each connection is its own task and the work runs on the blocking
//!   pool, so a slow or stuck client delays nobody else. At most
//!   [`MAX_CLIENTS`] connections are open at once, at most [`MAX_PER_USER`]
//!   of one user (root excepted), later ones are told "busy"; at most
//!   [`MAX_HEAVY`] requests that read the tree or the whole log run at once,
//!   the others wait (up to [`HEAVY_WAIT`]). So no crowd of clients can
//!   take the daemon's memory, or a user's flood lock out the others.
//! - A streamed answer (a plan's files) goes out through a bounded queue
//!   as it is made.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use serde_json::Value;

use crate::control::{
    decode, FDS_PER_MSG, HEAVY_WAIT, MAX_CLIENTS, MAX_HEAVY, MAX_PER_USER, MAX_REQUEST, READ_TIMEOUT,
};
use crate::daemon::Shared;
use crate::ops::auth::Caller;
use crate::ops::dispatch::{dispatch, reply, reply_err};

/// A client that takes longer than this to take a line is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request that needs the daemon's inventory waits for its
/// first one (taken by the first sweep's walk) before it takes its own.
const INVENTORY_WAIT: Duration = Duration::from_secs(300);

/// Items of a streamed answer queued for a slow client: the work waits
/// beyond this, so memory stays bounded whatever the answer's length.
const ITEMS_QUEUED: usize = 256;

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

/// Open connections per user (root is not counted).
type Users = Arc<Mutex<HashMap<u32, usize>>>;

/// One of a user's [`MAX_PER_USER`] connections, given back on drop.
struct UserSlot {
    users: Users,
    uid: u32,
}

impl UserSlot {
    /// A slot for `uid`, or None when it has all of its own open.
    fn take(users: &Users, uid: u32) -> Option<UserSlot> {
        let mut m = users.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(uid).or_default();
        if *n >= MAX_PER_USER {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            users: users.clone(),
            uid,
        })
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut m = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.uid);
            }
        }
    }
}

/// Serves connections until the task is dropped.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let heavy = Arc::new(Semaphore::new(MAX_HEAVY));
    let users: Users = Arc::default();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let uid = match stream.peer_cred() {
            Ok(c) => c.uid(),
            Err(e) => {
                log::warn!("control socket: no peer credentials: {e}");
                continue;
            }
        };
        // Root is the admin: only the total bounds its connections.
        let user = if uid == 0 {
            Ok(None)
        } else {
            UserSlot::take(&users, uid).map(Some).ok_or(())
        };
        match (slots.clone().try_acquire_owned(), user) {
            (Ok(permit), Ok(user)) => {
                let (shared, heavy) = (shared.clone(), heavy.clone());
                tokio::spawn(async move {
                    connection(stream, uid, shared, heavy).await;
                    drop((permit, user));
                });
            }
            (Err(_), _) => busy(stream, "too many clients at once; try again"),
            (_, Err(())) => busy(
                stream,
                &format!("your user has {MAX_PER_USER} connections open already; try again"),
            ),
        }
    }
}

/// Tells a connection it is not served, and closes it.
fn busy(mut stream: UnixStream, why: &str) {
    let msg = format!("{}\n", reply_err("busy", why));
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(msg.as_bytes())).await;
    });
}

async fn connection(stream: UnixStream, uid: u32, shared: Arc<Shared>, heavy: Arc<Semaphore>) {
    let caller = Caller::from_uid(uid);
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
            Ok(req) => 'served: {
                // A request that reads the tree or the whole log waits its
                // turn: a crowd of them costs time, never memory or sweeps.
                let _turn = if req.is_heavy() {
                    match tokio::time::timeout(HEAVY_WAIT, heavy.acquire_owned()).await {
                        Ok(Ok(t)) => Some(t),
                        _ => {
                            break 'served reply_err(
                                "busy",
                                &format!("{MAX_HEAVY} plans, finds or reports are running and more wait; try again"),
                            )
                        }
                    }
                } else {
                    None
                };
                let shared = shared.clone();
                let caller = caller.clone();
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(ITEMS_QUEUED);
                let work = tokio::task::spawn_blocking(move || {
                    let send = move |v: Value| {
                        let _ = tx.blocking_send(v);
                    };
                    let mut served = shared.served();
                    if served.inventory.is_none() && req.needs_inventory() {
                        served.inventory = shared.inventory_within(INVENTORY_WAIT);
                    }
                    // Used only by a request that asks to stream.
                    served.items = Some(&send);
                    reply(dispatch(&served, &caller, &req))
                });
                // Items go out as they are made, before the reply. A client
                // that stops reading is given up on: the work finishes on
                // its own, its items dropped.
                let mut reading = true;
                while let Some(v) = rx.recv().await {
                    if !reading {
                        continue;
                    }
                    let mut out = serde_json::to_vec(&serde_json::json!({ "item": v })).unwrap_or_default();
                    out.push(b'\n');
                    if !matches!(
                        tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&out)).await,
                        Ok(Ok(()))
                    ) {
                        reading = false;
                        rx.close();
                    }
                }
                match work.await {
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
    let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&out)).await;
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
