//! Site commands: the one runner of a hook ([`run_command`]), and a zone's
//! `after_delete` hook, which tells the recorder's own database which
//! recordings are gone after each batch's deletions are durable. The
//! daemon's alarm hooks ([`crate::daemon::alarm_hooks`]) run through the
//! same runner.
//!
//! Invariants:
//! - A hook runs with `/bin/sh -c`, in its own process group; at its
//!   timeout the whole group is killed. Its input is fed and its output
//!   drained on threads, so a hook that reads nothing or writes a lot
//!   cannot wedge its caller beyond the timeout. A failure (non-zero exit,
//!   signal, timeout, cannot start) is returned with the end of its
//!   output, for an audit record and an alarm; it is never retried.
//! - after_delete runs after the batch's `batch-done` record, outside the
//!   holds lock: it never delays a hold, and deletion never waits for it
//!   beyond its timeout.
//! - after_delete gets the deleted recordings' absolute paths on stdin,
//!   each ended by a NUL byte (a directory unit's directory, a group's
//!   directory and key, a file's path), and `RETENTIOND_ZONE`,
//!   `RETENTIOND_COUNT` and `RETENTIOND_UNIT` in its environment.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::core::policy::{AfterDelete, Zone};
use crate::core::units::Age;

/// Output kept from a failing hook, from its end.
const OUTPUT_KEPT: usize = 2048;

/// Runs `hook` for `paths` deleted from `zone`. Ok: it exited 0 within its
/// timeout. Err: why not, in words.
pub fn run(zone: &Zone, hook: &AfterDelete, paths: &[PathBuf]) -> Result<Duration, String> {
    let mut input = Vec::new();
    for p in paths {
        input.extend_from_slice(p.as_os_str().as_bytes());
        input.push(0);
    }
    let env = [
        ("RETENTIOND_ZONE", zone.name.0.clone()),
        ("RETENTIOND_COUNT", paths.len().to_string()),
        ("RETENTIOND_UNIT", zone.unit.kind().to_string()),
    ];
    run_command(&hook.command, &env, input, hook.timeout)
}

/// Runs `command` with `/bin/sh -c` in its own process group, with `env`
/// added to the daemon's environment and `input` on its stdin; kills the
/// group after `timeout` (at least 1s). Ok: it exited 0 in time, and how
/// long it took. Err: why not, in words, with the end of its output.
pub fn run_command(command: &str, env: &[(&str, String)], input: Vec<u8>, timeout: Age) -> Result<Duration, String> {
    let started = Instant::now();
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start /bin/sh -c {command:?}: {e}"))?;
    // Feed and drain on threads, so a hook that reads nothing or writes a
    // lot cannot wedge the sweep.
    let mut stdin = child.stdin.take().expect("piped");
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut out);
            }
            out
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let limit = Duration::from_secs(timeout.secs().max(1) as u64);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if started.elapsed() >= limit => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for the hook: {e}")),
        }
    };
    if status.is_none() {
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }
    let _ = feeder.join();
    let mut output = out.join().unwrap_or_default();
    output.extend(err.join().unwrap_or_default());
    let tail = tail_text(&output);
    match status {
        None => Err(format!("timed out after {timeout} and was killed{tail}")),
        Some(st) if st.success() => Ok(started.elapsed()),
        Some(st) => {
            use std::os::unix::process::ExitStatusExt;
            let how = match (st.code(), st.signal()) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                _ => "failed".to_string(),
            };
            Err(format!("{how}{tail}"))
        }
    }
}

/// ": <the last lines of output>", or nothing.
fn tail_text(output: &[u8]) -> String {
    let start = output.len().saturating_sub(OUTPUT_KEPT);
    let text = String::from_utf8_lossy(&output[start..]);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.replace('\n', " | "))
    }
}
