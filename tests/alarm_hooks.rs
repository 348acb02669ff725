//! Alarm hooks against a running daemon and real scripts: `[alarms]
//! command` is told of a real alarm (a zone root taken away, then put
//! back) once when raised and once when cleared, a hook past its timeout
//! is killed and recorded, a slow hook delays no sweep, and the shipped
//! recipes deliver: the webhook to a real HTTP server, the mail to a
//! sendmail (a stand-in first in PATH), MQTT to a real mosquitto broker.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A zone whose root's name has spaces, quotes and UTF-8, so that alarm
/// subjects and texts have them too.
struct Site {
    tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    socket: PathBuf,
    policy: PathBuf,
}

fn tq(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A site whose `[alarms]` table is `alarms`, sweeping every second.
fn site(alarms: &str) -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("caméra \"A\" 1");
    std::fs::create_dir_all(root.join("2026-12-01")).unwrap();
    std::fs::write(root.join("2026-12-01/a.mp4"), b"x").unwrap();
    let s = Site {
        root,
        state: tmp.path().join("state"),
        socket: tmp.path().join("ctl.sock"),
        policy: tmp.path().join("policy.toml"),
        tmp,
    };
    std::fs::write(
        &s.policy,
        format!(
            "[daemon]\nstate_dir = {}\ncontrol_socket = {}\nsweep_interval = \"1s\"\nguard_share = \"100%\"\n\n\
             [alarms]\n{alarms}\n\n[[zone]]\nname = \"cctv\"\npaths = [{}]\nmin_age = \"1d\"\nmax_age = \"2d\"\n",
            tq(&s.state.display().to_string()),
            tq(&s.socket.display().to_string()),
            tq(&s.root.display().to_string()),
        ),
    )
    .unwrap();
    s
}

impl Site {
    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Takes the zone root away until [`Site::restore`]: `root-unavailable`.
    fn take_root_away(&self) {
        std::fs::rename(&self.root, self.path("away")).unwrap();
    }

    fn restore(&self) {
        std::fs::rename(self.path("away"), &self.root).unwrap();
    }

    fn audit(&self) -> Vec<Value> {
        audit_records(&self.state.join("audit.jsonl"))
    }
}

/// A script that writes its RETENTIOND_* environment, NUL-separated, to
/// one new file per run in `dir`, numbered in order.
fn recorder(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.with_extension("sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nn=$(ls \"$1\" | wc -l)\nenv -0 > \"$1/.run\" && mv \"$1/.run\" \"$1/run-$n\"\n",
    )
    .unwrap();
    sh("chmod", &["755", script.to_str().unwrap()]);
    script
}

/// The runs `recorder` saw so far, in order: each its RETENTIOND_* variables.
fn runs(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix("run-")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| {
            std::fs::read(p)
                .unwrap()
                .split(|b| *b == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8(kv.to_vec()).ok()?;
                    let (k, v) = kv.split_once('=')?;
                    k.starts_with("RETENTIOND_").then(|| (k.to_string(), v.to_string()))
                })
                .collect()
        })
        .collect()
}

/// A child process (a server) killed when the test ends.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn host() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn the_alarm_command_is_told_once_of_a_raise_and_once_of_its_clearing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let script = recorder(&out);
    let s = site(&format!(
        "command = {}\ntimeout = \"10s\"",
        tq(&format!("{} {}", script.display(), out.display()))
    ));
    let d = Daemon::start(&s.policy, &s.socket);
    d.wait_for("sweep at", 1, 30);
    s.take_root_away();
    let text = wait_for_alarm(&s.policy, "root-unavailable", 20);
    wait_until("the command told of the raise", 10, || runs(&out).len() == 1);
    s.restore();
    wait_for_alarm_cleared(&s.policy, "root-unavailable", 20);
    wait_until("the command told of the clearing", 10, || runs(&out).len() == 2);
    // A few more sweeps with nothing changing tell it nothing more.
    let n = d.log().matches("sweep at").count();
    d.wait_for("sweep at", n + 3, 20);
    let r = runs(&out);
    assert_eq!(r.len(), 2, "{r:#?}\n{}", d.log());
    let (raised, cleared) = (&r[0], &r[1]);
    assert_eq!(raised["RETENTIOND_ALARM_KIND"], "root-unavailable");
    assert_eq!(raised["RETENTIOND_ALARM_STATE"], "raised");
    assert_eq!(raised["RETENTIOND_ALARM_TEXT"], text);
    assert!(
        raised["RETENTIOND_ALARM_SUBJECT"].contains(&s.root.display().to_string()),
        "{raised:#?}"
    );
    assert_eq!(raised["RETENTIOND_HOST"], host());
    assert_eq!(raised["RETENTIOND_ALARM_KEY"], "alarms.command");
    assert_eq!(
        raised["RETENTIOND_ALARM_SUMMARY"],
        format!(
            "retentiond on {}: root-unavailable raised for {}",
            host(),
            raised["RETENTIOND_ALARM_SUBJECT"]
        )
    );
    let t = chrono::DateTime::parse_from_rfc3339(&raised["RETENTIOND_ALARM_TIME"]).unwrap();
    assert!((now() - t.timestamp()).abs() < 60, "{raised:#?}");
    assert_eq!(cleared["RETENTIOND_ALARM_KIND"], "root-unavailable");
    assert_eq!(cleared["RETENTIOND_ALARM_STATE"], "cleared");
    assert_eq!(cleared["RETENTIOND_ALARM_SUBJECT"], raised["RETENTIOND_ALARM_SUBJECT"]);
    assert_eq!(cleared["RETENTIOND_ALARM_TEXT"], text, "the text it was raised with");
    // Success is not an audit event; the alarm records are.
    let recs = s.audit();
    assert!(!recs.iter().any(|r| r["action"] == "hook"), "{recs:#?}");
    assert_eq!(recs.iter().filter(|r| r["action"] == "alarm").count(), 2);
}

#[test]
fn once_waits_for_the_commands_it_queued() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let script = recorder(&out);
    // The sleep: a `--once` that did not wait would be gone before it ends.
    let s = site(&format!(
        "command = {}",
        tq(&format!("sleep 1; {} {}", script.display(), out.display()))
    ));
    s.take_root_away();
    let o = retentiond(&["--config", s.policy.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = runs(&out);
    assert_eq!(r.len(), 1, "{}", text(&o));
    assert_eq!(r[0]["RETENTIOND_ALARM_KIND"], "root-unavailable");
    assert_eq!(r[0]["RETENTIOND_ALARM_STATE"], "raised");
}

#[test]
fn a_command_past_its_timeout_is_killed_recorded_and_raises_hook_failed_without_a_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    let hook = tmp.path().join("slow.sh");
    std::fs::write(&hook, "#!/bin/sh\nsleep 60 &\necho $! >> \"$1\"\nwait\n").unwrap();
    sh("chmod", &["755", hook.to_str().unwrap()]);
    let s = site(&format!(
        "command = {}\ntimeout = \"1s\"",
        tq(&format!("{} {}", hook.display(), pids.display()))
    ));
    let d = Daemon::start(&s.policy, &s.socket);
    d.wait_for("sweep at", 1, 30);
    s.take_root_away();
    wait_for_alarm(&s.policy, "root-unavailable", 20);
    let mut rec = Value::Null;
    wait_until("the hook record", 15, || {
        rec = s
            .audit()
            .into_iter()
            .find(|r| r["action"] == "hook")
            .unwrap_or(Value::Null);
        !rec.is_null()
    });
    assert_eq!(rec["alarm"]["kind"], "root-unavailable", "{rec:#}");
    assert_eq!(rec["alarm"]["state"], "raised", "{rec:#}");
    assert_eq!(rec["alarm"]["key"], "alarms.command", "{rec:#}");
    assert!(
        rec["alarm"]["subject"].as_str().unwrap().contains("caméra \"A\" 1"),
        "{rec:#}"
    );
    assert!(
        rec["command"].as_str().unwrap().starts_with(hook.to_str().unwrap()),
        "{rec:#}"
    );
    let why = rec["text"].as_str().unwrap();
    assert!(why.contains("timed out after 1s and was killed"), "{why}");
    assert!(rec.get("zone").is_none() && rec.get("units").is_none(), "{rec:#}");
    // Its whole process group went: the sleep it started too.
    let pid: i32 = std::fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    wait_until("the hook's child to be killed", 5, || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| st.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(true)
    });
    // The failure is an alarm of its own, and telling it is not tried
    // through the command that failed (nor again for the same event).
    let text = wait_for_alarm(&s.policy, "hook-failed", 20);
    assert!(text.contains("the alarm command alarms.command timed out"), "{text}");
    let n = d.log().matches("sweep at").count();
    d.wait_for("sweep at", n + 3, 20);
    assert_eq!(
        std::fs::read_to_string(&pids).unwrap().lines().count(),
        1,
        "{}",
        d.log()
    );
    assert_eq!(s.audit().iter().filter(|r| r["action"] == "hook").count(), 1);
    assert!(d.log().contains("hook-failed"), "{}", d.log());
}

#[test]
fn a_slow_command_delays_no_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let marks = tmp.path().join("marks");
    let hook = tmp.path().join("slow.sh");
    std::fs::write(&hook, "#!/bin/sh\necho start >> \"$1\"\nsleep 8\necho end >> \"$1\"\n").unwrap();
    sh("chmod", &["755", hook.to_str().unwrap()]);
    let s = site(&format!(
        "command = {}\ntimeout = \"30s\"",
        tq(&format!("{} {}", hook.display(), marks.display()))
    ));
    let d = Daemon::start(&s.policy, &s.socket);
    d.wait_for("sweep at", 1, 30);
    s.take_root_away();
    wait_until("the hook to start", 20, || {
        std::fs::read_to_string(&marks).is_ok_and(|m| m.contains("start"))
    });
    let t0 = Instant::now();
    let n = d.log().matches("sweep at").count();
    d.wait_for("sweep at", n + 3, 6);
    let m = std::fs::read_to_string(&marks).unwrap();
    assert!(!m.contains("end"), "the hook finished already: {m}");
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    // Meanwhile the clearing waits its turn behind the slow run.
    s.restore();
    wait_for_alarm_cleared(&s.policy, "root-unavailable", 10);
    wait_until("both runs", 25, || {
        std::fs::read_to_string(&marks).is_ok_and(|m| m.matches("end").count() == 2)
    });
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "start\nend\nstart\nend\n");
}

/// The recipe at `packaging/hooks/<name>`, as its command line with `args`.
fn recipe(name: &str, args: &str) -> String {
    format!(
        "ALARM_CONF=/nonexistent {} {args}",
        repo(&format!("packaging/hooks/{name}")).display()
    )
}

#[test]
fn the_webhook_recipe_posts_the_alarm_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let bodies = tmp.path().join("bodies");
    std::fs::create_dir(&bodies).unwrap();
    let port_file = tmp.path().join("port");
    // A real HTTP server: each POST's body in a file of its own.
    let server = r#"
import http.server, os, sys
out, port_file = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n = len(os.listdir(out))
        with open(os.path.join(out, "%d-%s" % (n, self.path.strip("/"))), "wb") as f:
            f.write(self.headers["Content-Type"].encode() + b"\n" + body)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
"#;
    let _server = Kill(
        std::process::Command::new("python3")
            .args(["-c", server, bodies.to_str().unwrap(), port_file.to_str().unwrap()])
            .spawn()
            .expect("python3 runs"),
    );
    wait_until("the HTTP server", 10, || port_file.exists());
    let port = std::fs::read_to_string(&port_file).unwrap();
    let s = site(&format!(
        "command = {}",
        tq(&recipe("alarm-webhook", &format!("http://127.0.0.1:{port}/nvr")))
    ));
    let d = Daemon::start(&s.policy, &s.socket);
    d.wait_for("sweep at", 1, 30);
    s.take_root_away();
    let text = wait_for_alarm(&s.policy, "root-unavailable", 20);
    wait_until("the POST of the raise", 10, || bodies.join("0-nvr").exists());
    s.restore();
    wait_until("the POST of the clearing", 20, || bodies.join("1-nvr").exists());
    let read = |n: u32| -> Value {
        let raw = std::fs::read_to_string(bodies.join(format!("{n}-nvr"))).unwrap();
        let (ctype, body) = raw.split_once('\n').unwrap();
        assert_eq!(ctype, "application/json; charset=utf-8");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    let (raised, cleared) = (read(0), read(1));
    assert_eq!(raised["kind"], "root-unavailable");
    assert_eq!(raised["state"], "raised");
    assert_eq!(raised["host"], host());
    assert_eq!(raised["message"], text.as_str());
    let subject = raised["subject"].as_str().unwrap();
    assert!(subject.contains(&s.root.display().to_string()), "{raised:#}");
    assert_eq!(
        raised["text"],
        format!(
            "retentiond on {}: root-unavailable raised for {subject}: {text}",
            host()
        )
    );
    assert!(chrono::DateTime::parse_from_rfc3339(raised["time"].as_str().unwrap()).is_ok());
    assert_eq!(cleared["state"], "cleared");
    assert_eq!(cleared["subject"], subject);
    assert!(!s.audit().iter().any(|r| r["action"] == "hook"), "{}", d.log());
}

#[test]
fn the_mail_recipe_hands_sendmail_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let mails = tmp.path().join("mails");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&mails).unwrap();
    // A stand-in sendmail, first in PATH: its arguments and the message.
    std::fs::write(
        bin.join("sendmail"),
        format!(
            "#!/bin/sh\nn=$(ls {m} | wc -l)\n{{ echo \"$*\"; cat; }} > {m}/.m && mv {m}/.m {m}/mail-$n\n",
            m = mails.display()
        ),
    )
    .unwrap();
    sh("chmod", &["755", bin.join("sendmail").to_str().unwrap()]);
    let s = site(&format!(
        "command = {}",
        tq(&recipe("alarm-mail", "ops@example.com 'nvr admin <nvr@example.com>'"))
    ));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let d = Daemon::start_with_env(&s.policy, &s.socket, &[("PATH", &path)]);
    d.wait_for("sweep at", 1, 30);
    s.take_root_away();
    let text = wait_for_alarm(&s.policy, "root-unavailable", 20);
    wait_until("the mail", 10, || mails.join("mail-0").exists());
    s.restore();
    wait_until("the mail of the clearing", 20, || mails.join("mail-1").exists());
    let mail = std::fs::read_to_string(mails.join("mail-0")).unwrap();
    let (args, msg) = mail.split_once('\n').unwrap();
    assert_eq!(args, "-t -i");
    let (head, body) = msg.split_once("\n\n").unwrap();
    assert!(
        head.starts_with("To: ops@example.com, nvr admin <nvr@example.com>\n"),
        "{head}"
    );
    assert!(head.contains("\nContent-Type: text/plain; charset=UTF-8\n"), "{head}");
    assert!(head.contains("\nAuto-Submitted: auto-generated\n"), "{head}");
    // The subject has UTF-8 (the root's name): one RFC 2047 encoded word.
    let subject = head
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap()
        .strip_prefix("=?UTF-8?B?")
        .and_then(|s| s.strip_suffix("?="))
        .unwrap_or_else(|| panic!("{head}"));
    let decoded = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(subject.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let decoded = String::from_utf8(decoded.stdout).unwrap();
    assert!(
        decoded.starts_with(&format!("[retentiond] {}: root-unavailable raised: ", host()))
            && decoded.contains("caméra \"A\" 1"),
        "{decoded}"
    );
    assert!(body.contains("Alarm:   root-unavailable (raised)\n"), "{body}");
    assert!(body.contains(&text), "{body}\n--- wanted\n{text}");
    let cleared = std::fs::read_to_string(mails.join("mail-1")).unwrap();
    assert!(cleared.contains("Alarm:   root-unavailable (cleared)\n"), "{cleared}");
    assert!(!s.audit().iter().any(|r| r["action"] == "hook"), "{}", d.log());
}

#[test]
fn the_mqtt_recipe_publishes_the_retained_state_per_kind_and_subject() {
    if !Path::new("/usr/sbin/mosquitto").exists() || !sh("sh", &["-c", "command -v mosquitto_pub mosquitto_sub"]) {
        eprintln!("skipped: needs mosquitto and mosquitto-clients (Debian packages; tests/run installs them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = tmp.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let _broker = Kill(
        std::process::Command::new("/usr/sbin/mosquitto")
            .args(["-c", conf.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the broker", 10, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // The retained message on the alarm's topic, as a late subscriber gets it.
    let retained = || -> (String, Value) {
        let o = std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                "retentiond/#",
                "-C",
                "1",
                "-W",
                "5",
            ])
            .args(["-F", "%t\n%p"])
            .output()
            .unwrap();
        // The topic has spaces (the subject's): one line each.
        let out = String::from_utf8(o.stdout).unwrap();
        let (topic, msg) = out.trim_end().split_once('\n').unwrap_or_else(|| panic!("{out:?}"));
        (
            topic.to_string(),
            serde_json::from_str(msg).unwrap_or_else(|e| panic!("{e}: {msg}")),
        )
    };
    let s = site(&format!(
        "command = {}",
        tq(&recipe("alarm-mqtt", &format!("-h 127.0.0.1 -p {port}")))
    ));
    let d = Daemon::start(&s.policy, &s.socket);
    d.wait_for("sweep at", 1, 30);
    s.take_root_away();
    let text = wait_for_alarm(&s.policy, "root-unavailable", 20);
    d.wait_for("told of alarm root-unavailable raised", 1, 10);
    let (topic, msg) = retained();
    let prefix = format!("retentiond/{}/alarm/root-unavailable/", host());
    assert!(topic.starts_with(&prefix), "{topic}");
    let level = &topic[prefix.len()..];
    assert!(
        !level.contains(['/', '+', '#']) && level.contains("caméra \"A\" 1"),
        "{topic}"
    );
    assert_eq!(msg["state"], "raised");
    assert_eq!(msg["text"], text.as_str());
    assert!(msg["subject"].as_str().unwrap().contains(&s.root.display().to_string()));
    s.restore();
    wait_for_alarm_cleared(&s.policy, "root-unavailable", 20);
    d.wait_for("told of alarm root-unavailable cleared", 1, 10);
    let (topic2, msg) = retained();
    assert_eq!(topic2, topic);
    assert_eq!(msg["state"], "cleared");
    assert!(!s.audit().iter().any(|r| r["action"] == "hook"), "{}", d.log());
}
