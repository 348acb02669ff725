//! Helpers shared by the integration tests: real trees, real binaries.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

use serde_json::Value;

/// Runs `retentiond` with `args`.
pub fn retentiond(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retentiond"))
        .args(args)
        .output()
        .expect("retentiond runs")
}

/// Runs `retentionctl` with `args`.
pub fn retentionctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retentionctl"))
        .args(args)
        .output()
        .expect("retentionctl runs")
}

/// stdout and stderr of `o`, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every regular file under `root` (not following symlinks).
pub fn files(root: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// A policy file with the given `[daemon]` state directory, capacity
/// watermarks and zone tables. The mass-deletion guard is off (tests/guard.rs
/// tests it): these tests expire large shares of small trees on purpose.
pub fn write_policy(dir: &Path, state: &Path, high: &str, low: &str, zones: &str) -> PathBuf {
    let p = dir.join("policy.toml");
    let text = format!(
        "[daemon]\nstate_dir = \"{s}\"\naudit_log = \"{s}/audit.jsonl\"\nsweep_interval = \"1s\"\nsettle_time = \"2m\"\n\
         guard_share = \"100%\"\n\
         [capacity]\nhigh_watermark = \"{high}\"\nlow_watermark = \"{low}\"\n\n{zones}",
        s = state.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// A `[[zone]]` table: `name` over `root` with floor `min` and ceiling
/// `max`, and further `keys` (lines of TOML, possibly `[[zone.rule]]`s).
pub fn zone_toml(name: &str, root: &Path, min: &str, max: &str, keys: &str) -> String {
    format!(
        "[[zone]]\nname = \"{name}\"\npaths = [\"{}\"]\nmin_age = \"{min}\"\nmax_age = \"{max}\"\n{keys}\n",
        root.display()
    )
}

/// The paths of a zone `cctv` set up by [`cctv`].
pub struct Cctv {
    /// The zone root (Frigate's layout).
    pub root: PathBuf,
    /// The state directory.
    pub state: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
    /// The policy file.
    pub policy: PathBuf,
}

/// A policy under `dir` with one zone `cctv` (Frigate's layout, min_age
/// 14d, max_age 28d), its state and control socket in `dir`, and
/// `daemon` (lines of `[daemon]` settings, `sweep_interval` among them)
/// and `extra` (further tables) added. `dir` is opened to other users,
/// who may then reach the socket.
pub fn cctv(dir: &Path, daemon: &str, extra: &str) -> Cctv {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let c = Cctv {
        root: dir.join("cctv"),
        state: dir.join("state"),
        socket: dir.join("run/control.sock"),
        policy: dir.join("policy.toml"),
    };
    std::fs::write(
        &c.policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\n{daemon}\n{extra}\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"14d\"\nmax_age = \"28d\"\n",
            c.state.display(),
            c.socket.display(),
            c.root.display()
        ),
    )
    .unwrap();
    c
}

/// 3 cameras x 31 days of 10-minute segments (13,392 files of 100 bytes)
/// ending at `end`, in Frigate's layout under `root`: 3 days past a
/// 28-day max_age.
pub fn a_month_of_footage(root: &Path, end: i64) {
    use retentiond::demo::treegen::{frigate, TreeSpec};
    let spec = TreeSpec {
        cams: 3,
        days: 31.0,
        segment: 600,
        size: 100,
        end,
    };
    frigate(root, &spec).unwrap();
}

/// Adds `control_socket = socket` to the `[daemon]` table of a policy
/// written by [`write_policy`] (for tests that run the daemon).
pub fn with_control_socket(policy: &Path, socket: &Path) {
    let text = std::fs::read_to_string(policy).unwrap().replace(
        "[daemon]\n",
        &format!("[daemon]\ncontrol_socket = \"{}\"\n", socket.display()),
    );
    std::fs::write(policy, text).unwrap();
}

/// The raised alarms (kind, text) the running daemon's `status` reports,
/// or None when it does not answer.
pub fn status_alarms(policy: &Path) -> Option<Vec<(String, String)>> {
    let o = retentionctl(&["--config", policy.to_str().unwrap(), "--json", "status"]);
    let v: Value = serde_json::from_slice(&o.stdout).ok()?;
    Some(
        v["alarms"]
            .as_array()?
            .iter()
            .map(|a| {
                (
                    a["kind"].as_str().unwrap_or_default().to_string(),
                    a["text"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    )
}

/// Polls `f` until it holds; fails after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed().as_secs() < secs, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Every audit record (all segments), as JSON with `seq` and `action`
/// merged in, as auditors read them: a grouped deletion record as one
/// record per file ([`raw_audit_records`] keeps it whole).
pub fn audit_records(log: &Path) -> Vec<Value> {
    retentiond::audit::read_records(log)
        .unwrap()
        .flat_map(|r| r.unwrap().per_file())
        .map(as_json)
        .collect()
}

/// Every audit record (all segments) as written, grouped ones whole.
#[allow(dead_code)]
pub fn raw_audit_records(log: &Path) -> Vec<Value> {
    retentiond::audit::read_records(log)
        .unwrap()
        .map(|r| as_json(r.unwrap()))
        .collect()
}

fn as_json(r: retentiond::audit::Record) -> Value {
    let mut v = Value::Object(r.fields);
    v["seq"] = r.seq.into();
    v["action"] = r.action.into();
    v["ts"] = r.ts.into();
    v
}

/// The deletion records' paths, each with its reason code.
pub fn deletions(log: &Path) -> Vec<(PathBuf, String)> {
    audit_records(log)
        .into_iter()
        .filter(|v| v["action"] == "delete")
        .map(|v| {
            let p = retentiond::audit::path_from_value(&v["path"]).expect("path");
            (PathBuf::from(p), v["reason"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// The current Unix time.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A running daemon; SIGTERM and wait on drop.
pub struct Daemon {
    pub child: std::process::Child,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    pub socket: PathBuf,
}

impl Daemon {
    /// Starts `retentiond --config policy` and waits until its socket answers.
    pub fn start(policy: &Path, socket: &Path) -> Daemon {
        Daemon::start_with_env(policy, socket, &[])
    }

    /// [`Daemon::start`] with extra environment variables.
    pub fn start_with_env(policy: &Path, socket: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(policy, socket, env, &[])
    }

    /// [`Daemon::start`] with extra environment variables and arguments.
    pub fn start_with(policy: &Path, socket: &Path, env: &[(&str, &str)], args: &[&str]) -> Daemon {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_retentiond"))
            .args(["--config", policy.to_str().unwrap()])
            .args(args)
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("retentiond starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut l = l2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let d = Daemon {
            child,
            log,
            socket: socket.to_path_buf(),
        };
        let t0 = std::time::Instant::now();
        loop {
            let ping = retentiond::control::client::request(
                socket,
                &retentiond::control::Request::Ping {},
                std::time::Duration::from_secs(5),
            );
            if ping.is_ok() {
                return d;
            }
            assert!(t0.elapsed().as_secs() < 30, "daemon did not come up: {}", d.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until its log contains `what` `n` times.
    pub fn wait_for(&self, what: &str, n: usize, secs: u64) {
        let t0 = std::time::Instant::now();
        while self.log().matches(what).count() < n {
            assert!(t0.elapsed().as_secs() < secs, "no {what:?} x{n} in: {}", self.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The recording time in a Frigate path relative to its root (segment start, UTC).
pub fn frigate_time(rel: &str) -> i64 {
    let parts: Vec<&str> = rel.split('/').collect();
    let s = format!("{} {}:{}", parts[0], parts[1], &parts[3][..5].replace('.', ":"));
    chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
}

/// The recording time of a Frigate file under `root`.
pub fn path_time(root: &Path, p: &Path) -> i64 {
    frigate_time(p.strip_prefix(root).unwrap().to_str().unwrap())
}

/// RFC 3339 (UTC) form of a Unix time, as the CLI accepts it.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339()
}

static USERS: Once = Once::new();

/// Test users and groups (root only): viewer, operator, supervisor, nobody.
pub fn users() -> Option<BTreeMap<&'static str, u32>> {
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: role tests need root to create test users");
        return None;
    }
    USERS.call_once(|| {
        for g in ["rdtest-viewers", "rdtest-operators", "rdtest-supervisors"] {
            let _ = Command::new("groupadd").arg("-f").arg(g).status();
        }
        for (u, g) in [
            ("rdtest-viewer", "rdtest-viewers"),
            ("rdtest-operator", "rdtest-operators"),
            ("rdtest-super", "rdtest-supervisors"),
            ("rdtest-nobody", ""),
        ] {
            let _ = Command::new("useradd")
                .args(["-U", "-M", "-s", "/usr/sbin/nologin", u])
                .output();
            if !g.is_empty() {
                let _ = Command::new("usermod").args(["-a", "-G", g, u]).status();
            }
        }
    });
    let mut m = BTreeMap::new();
    for u in ["rdtest-viewer", "rdtest-operator", "rdtest-super", "rdtest-nobody"] {
        let user = nix::unistd::User::from_name(u).ok().flatten()?;
        m.insert(u, user.uid.as_raw());
    }
    Some(m)
}

/// Runs `retentionctl` as `uid` (its own group) against `socket`.
pub fn retentionctl_as(uid: u32, socket: &Path, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new(env!("CARGO_BIN_EXE_retentionctl"))
        .args(["--socket", socket.to_str().unwrap()])
        .args(args)
        .uid(uid)
        .gid(uid)
        .output()
        .unwrap()
}

/// The audit log's reserve, as a sweep leaves it: [`reserve_held`] is at
/// least this once it is set aside (8 MiB, give or take block rounding).
pub const RESERVE: u64 = retentiond::audit::RESERVE_BYTES - retentiond::audit::RESERVE_SLOP;

/// Bytes allocated to the audit log beyond its end: its reserve.
pub fn reserve_held(log: &Path) -> u64 {
    retentiond::audit::reserve_held_of(log)
}

/// Gives the audit log's reserve back to the filesystem (punches out what
/// is allocated beyond its end), as if it had been used up.
pub fn drop_reserve(log: &Path) {
    let f = std::fs::OpenOptions::new().write(true).open(log).unwrap();
    let len = f.metadata().unwrap().len();
    nix::fcntl::fallocate(
        &f,
        nix::fcntl::FallocateFlags::FALLOC_FL_PUNCH_HOLE | nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
        len as i64,
        retentiond::audit::RESERVE_BYTES as i64 * 2,
    )
    .unwrap();
    assert!(reserve_held(log) < RESERVE, "the reserve is gone");
}

/// A small filesystem mounted for one test (root only): a tmpfs, or an
/// ext4 image on a loop device. Unmounted when dropped.
pub struct Mount {
    /// Where it is mounted.
    pub dir: PathBuf,
    loop_dev: Option<String>,
}

impl Mount {
    /// A tmpfs of `size` (mount's syntax: "64m").
    pub fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        if !nix::unistd::getuid().is_root() {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let opts = format!("size={size},mode=0755");
        sh("mount", &["-t", "tmpfs", "-o", &opts, "tmpfs", dir.to_str()?]).then(|| Mount {
            dir: dir.to_path_buf(),
            loop_dev: None,
        })
    }

    /// An ext4 filesystem of `mib` MiB with 10% reserved blocks, granted
    /// to group `resgid` (the mount option), as the small-box set-up of
    /// retentiond(8) has it.
    pub fn ext4(image: &Path, dir: &Path, mib: usize, resgid: u32) -> Option<Mount> {
        let dev = ext4_loop(image, mib, &["-m", "10"])?;
        std::fs::create_dir_all(dir).ok()?;
        let m = Mount {
            dir: dir.to_path_buf(),
            loop_dev: Some(dev.clone()),
        };
        sh("mount", &["-o", &format!("resgid={resgid}"), &dev, dir.to_str()?]).then_some(m)
    }

    /// Used share as `df` shows it (and as the watermarks count it).
    pub fn used_pct(&self) -> f64 {
        let s = nix::sys::statvfs::statvfs(&self.dir).unwrap();
        let used = (s.blocks() - s.blocks_free()) as f64;
        100.0 * used / (used + s.blocks_available() as f64)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = sh("umount", &["-l", self.dir.to_str().unwrap()]);
        if let Some(d) = &self.loop_dev {
            let _ = sh("losetup", &["-d", d]);
        }
    }
}

/// An ext4 filesystem of `mib` MiB (`mkfs` options added) made in `image`
/// and attached to a loop device, whose name it returns (root only).
pub fn ext4_loop(image: &Path, mib: usize, mkfs: &[&str]) -> Option<String> {
    if !nix::unistd::getuid().is_root() {
        return None;
    }
    std::fs::write(image, vec![0u8; mib << 20]).ok()?;
    let mut args = vec!["-q", "-F"];
    args.extend_from_slice(mkfs);
    args.push(image.to_str()?);
    if !sh("mkfs.ext4", &args) {
        return None;
    }
    let o = Command::new("losetup")
        .args(["-f", "--show", image.to_str()?])
        .output()
        .ok()?;
    let dev = String::from_utf8(o.stdout).ok()?.trim().to_string();
    (!dev.is_empty()).then_some(dev)
}

/// Runs a command; whether it succeeded.
pub fn sh(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
}

/// Writes `path` until its filesystem is full, as a recorder would;
/// returns the bytes written.
pub fn fill_up(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let mut n = 0u64;
    for chunk in [64 * 1024, 512] {
        let buf = vec![1u8; chunk];
        while let Ok(k) = f.write(&buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
    }
    let _ = f.sync_all();
    n
}

/// A user's primary group.
pub fn gid_of(uid: u32) -> u32 {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .unwrap()
        .unwrap()
        .gid
        .as_raw()
}

/// Waits until the running daemon's `status` shows alarm `kind`; its text.
pub fn wait_for_alarm(policy: &Path, kind: &str, secs: u64) -> String {
    let mut why = String::new();
    wait_until(&format!("the {kind} alarm"), secs, || {
        why = status_alarms(policy)
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == kind)
            .map(|(_, t)| t)
            .unwrap_or_default();
        !why.is_empty()
    });
    why
}

/// Waits until the running daemon's `status` no longer shows alarm `kind`.
pub fn wait_for_alarm_cleared(policy: &Path, kind: &str, secs: u64) {
    wait_until(&format!("the {kind} alarm to clear"), secs, || {
        status_alarms(policy).is_some_and(|a| a.iter().all(|(k, _)| k != kind))
    });
}
