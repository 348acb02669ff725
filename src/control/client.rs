//! The client half of the control socket: one request, one reply (and
//! the files an `export-open` reply passes), with timeouts; for the CLI.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::control::{Request, FDS_PER_MSG};

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
    request_items(socket, req, timeout, &|_| {})
}

/// [`request`], handing each item of a streamed answer (`{"item": …}`
/// lines before the reply: a plan's files) to `items` as it arrives, so
/// an answer of any length is never held in memory. `timeout` bounds each
/// wait for a line, not the whole answer.
pub fn request_items(
    socket: &Path,
    req: &Request,
    timeout: Duration,
    items: &(dyn Fn(Value) + Sync),
) -> Result<Value, ClientError> {
    use std::io::BufRead;
    let io = |e| ClientError::Io(socket.to_path_buf(), e);
    let s = send(socket, req, timeout)?;
    let mut r = std::io::BufReader::new(&s);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(io)? == 0 {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection without a reply",
            )));
        }
        let mut v: Value = serde_json::from_str(&line).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad reply: {e}"),
            ))
        })?;
        if let Some(item) = v.get_mut("item") {
            items(item.take());
            continue;
        }
        return if v["ok"] == Value::Bool(true) {
            Ok(v["data"].take())
        } else {
            Err(refused(&v))
        };
    }
}
