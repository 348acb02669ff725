//! The service-manager protocol (sd_notify) spoken to a real datagram
//! socket standing in for systemd: READY after the first inventory, a
//! current STATUS, watchdog pings, a rejected reload shown in STATUS with
//! the old policy kept, a valid reload audited with its digest, STOPPING.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const DAY: i64 = 86_400;

/// Every notification received until `pred` holds for one (or `secs` pass).
fn until(sock: &UnixDatagram, got: &mut Vec<String>, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    let mut buf = vec![0u8; 8192];
    loop {
        assert!(t0.elapsed().as_secs() < secs, "no matching notification in {got:#?}");
        match sock.recv(&mut buf) {
            Ok(n) => {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                got.push(m.clone());
                if pred(&m) {
                    return m;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Everything queued on the socket now.
fn drain(sock: &UnixDatagram, got: &mut Vec<String>) {
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

fn policy_text(state: &Path, socket: &Path, root: &Path, max_age: &str) -> String {
    format!(
        "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nsweep_interval = \"1h\"\nsettle_time = \"1m\"\nguard_share = \"100%\"\n\n\
         [[zone]]\nname = \"calls\"\npaths = [\"{}\"]\ntime = \"mtime\"\nmin_age = \"1d\"\nmax_age = \"{max_age}\"\n",
        state.display(),
        socket.display(),
        root.display()
    )
}

#[test]
fn notify_protocol_ready_status_watchdog_reload_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, state, socket) = (
        tmp.path().join("calls"),
        tmp.path().join("state"),
        tmp.path().join("ctl.sock"),
    );
    std::fs::create_dir_all(&root).unwrap();
    let now = now();
    for (i, age_days) in [90, 80, 70, 10, 5].iter().enumerate() {
        let p = root.join(format!("call{i}.wav"));
        std::fs::write(&p, b"x").unwrap();
        let t = filetime::FileTime::from_unix_time(now - age_days * DAY, 0);
        filetime::set_file_mtime(&p, t).unwrap();
    }
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, policy_text(&state, &socket, &root, "60d")).unwrap();

    let notify = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let d = Daemon::start_with_env(
        &policy,
        &socket,
        &[("NOTIFY_SOCKET", notify.to_str().unwrap()), ("WATCHDOG_USEC", "400000")],
    );
    let mut got = Vec::new();

    let ready = until(&sock, &mut got, 30, |m| m.contains("READY=1"));
    assert!(
        ready.contains("STATUS=first sweep running: 1 zone, 5 recordings"),
        "{ready}"
    );
    let status = until(&sock, &mut got, 30, |m| m.contains("STATUS=1 zone,"));
    assert!(
        status.contains("STATUS=1 zone, 2 recordings, ") && status.contains("deleted 3 (max-age 3)"),
        "{status}"
    );
    // Pings every WATCHDOG_USEC/2 = 200 ms.
    let pings_before = got.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    std::thread::sleep(Duration::from_millis(900));
    drain(&sock, &mut got);
    let pings = got.iter().filter(|m| m.contains("WATCHDOG=1")).count() - pings_before;
    assert!(pings >= 2, "watchdog pings: {got:#?}");

    // A broken policy: rejected, shown in STATUS, the old one in force.
    std::fs::write(
        &policy,
        policy_text(&state, &socket, &root, "60d").replace("max_age = \"60d\"", "max_age = \"2 fortnights\""),
    )
    .unwrap();
    let pid = Pid::from_raw(d.child.id() as i32);
    kill(pid, Signal::SIGHUP).unwrap();
    until(&sock, &mut got, 10, |m| {
        m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC=")
    });
    let rejected = until(&sock, &mut got, 10, |m| m.contains("READY=1"));
    assert!(
        rejected.contains("STATUS=RELOAD FAILED, old policy in force: ")
            && rejected.contains("policy.toml:")
            && rejected.contains("max_age"),
        "{rejected}"
    );
    d.wait_for("new policy rejected, the old one stays in force", 1, 10);
    let out = retentionctl(&["--socket", socket.to_str().unwrap(), "plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(plan["delete"]["files"], 0, "the old policy still plans: {plan}");
    assert!(root.join("call3.wav").exists() && !root.join("call2.wav").exists());

    // A valid one: in force at once (a sweep follows) and audited with its digest.
    std::fs::write(&policy, policy_text(&state, &socket, &root, "7d")).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    let ok = until(&sock, &mut got, 10, |m| {
        m.contains("READY=1") && !m.contains("RELOAD FAILED")
    });
    assert!(!ok.contains("RELOAD FAILED"), "{ok}");
    until(&sock, &mut got, 30, |m| m.contains("deleted 1 (max-age 1)"));
    assert!(!root.join("call3.wav").exists() && root.join("call4.wav").exists());
    let digest = retentiond::core::policy::Policy::load(&policy).unwrap().digest;
    let loads: Vec<_> = audit_records(&state.join("audit.jsonl"))
        .into_iter()
        .filter(|r| r["action"] == "policy-load")
        .collect();
    assert_eq!(loads.len(), 2, "{loads:#?}");
    assert_eq!(loads[1]["policy"], digest.as_str());

    kill(pid, Signal::SIGTERM).unwrap();
    until(&sock, &mut got, 10, |m| m.contains("STOPPING=1"));
    // One SIGTERM, as systemd sends: the daemon exits by itself, with 0
    // (a second SIGTERM during the shutdown would mean "stop now", exit 1).
    let mut d = d;
    let t0 = std::time::Instant::now();
    let st = loop {
        if let Some(st) = d.child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed().as_secs() < 30, "still running after SIGTERM: {}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(st.success(), "{st:?} {}", d.log());
}
