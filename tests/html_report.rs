//! `retentionctl report --format html` rendered in a real browser.
//!
//! Builds a real audit log over four past days with the clock set by
//! libfaketime (as tests/operator.rs does): `retentiond --once` sweeps on
//! days 0, 1 and 3, the real daemon on day 2, and root's offline
//! `retentionctl` places holds, opens a case and closes it late, and finds.
//! So the log has deletions, a hold placed and released, one that lapses,
//! a case hold, and an alarm raised (the calls zone's root is missing) and
//! cleared by the daemon when the root comes back. Then writes the report as HTML and opens it in headless
//! Chromium (Debian package `chromium`; tests/run installs it): a
//! screenshot, and the DOM after load, which must hold the charts (one
//! retention chart with its band and one deletions chart per zone, the
//! timeline with the hold and alarm spans, the per-day table with its
//! flagged day) and no console message at all.
//!
//! Chromium 148 on Debian 12, as root in a container, works with
//! `--headless --no-sandbox --disable-gpu --user-data-dir=<temp>`;
//! `--enable-logging=stderr --v=0` prints the page's console messages to
//! stderr as `INFO:CONSOLE:<line>] "<message>", source: <url>` whatever
//! their level (an uncaught exception is `"Uncaught ReferenceError: …"`);
//! the many `ERROR:dbus` lines are the browser missing a system bus, not
//! the page. A failed fetch of a stylesheet or image is *not* logged
//! there, so that the page fetches nothing is checked on its source.
//!
//! `UPDATE_GENERATED=1` also writes docs/report.png (the README's picture).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use retentiond::demo::treegen::{frigate, TreeSpec};

const DAY: i64 = 86_400;

/// `t` as libfaketime's absolute start time (without its "@").
fn faked(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Runs `program args` with the wall clock at `at` (libfaketime).
fn at(at: i64, program: &str, args: &[&str]) -> Output {
    let o = Command::new("faketime")
        .arg("-f")
        .arg(format!("@{}", faked(at)))
        .arg(program)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(o.status.success(), "{program} {args:?}: {}", text(&o));
    o
}

/// Whether `program --version` runs; in CI (`CI` set) its absence fails.
fn have(program: &str, package: &str) -> bool {
    if Command::new(program).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{program} is missing in CI: tests/run installs the Debian package {package}"
    );
    eprintln!("skipped: needs {program} (Debian package {package}; tests/run installs it)");
    false
}

/// Headless Chromium on `page` with `args`; its output.
fn chromium(profile: &Path, page: &Path, args: &[&str]) -> Output {
    let o = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(o.status.success(), "chromium {args:?}: {}", text(&o));
    o
}

/// The page's console messages in Chromium's log on stderr.
fn console_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn html_report_renders_in_chromium_with_its_charts_and_no_console_errors() {
    if !have("faketime", "faketime") || !have("chromium", "chromium") {
        return;
    }
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped: places holds and opens cases offline, which needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (root, state, calls) = (
        tmp.path().join("cctv"),
        tmp.path().join("state"),
        tmp.path().join("calls"),
    );
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[daemon]\nstate_dir = \"{}\"\ncontrol_socket = \"{}\"\nguard_share = \"100%\"\nsweep_interval = \"1s\"\n\n\
             [[zone]]\nname = \"cctv\"\npaths = [\"{}\"]\ntime = \"%Y-%m-%d/%H/*/%M.%S.mp4\"\nmin_age = \"14d\"\nmax_age = \"28d\"\n\n\
             [[zone]]\nname = \"calls\"\npaths = [\"{}\"]\nmin_age = \"60d\"\nmax_age = \"60d\"\n",
            state.display(),
            tmp.path().join("ctl.sock").display(),
            root.display(),
            calls.display()
        ),
    )
    .unwrap();
    let day0 = (now() - 10 * DAY) / DAY * DAY + 12 * 3600;
    frigate(
        &root,
        &TreeSpec {
            cams: 2,
            days: 35.0,
            segment: 600,
            size: 10,
            end: day0,
        },
    )
    .unwrap();
    let (rd, rc) = (env!("CARGO_BIN_EXE_retentiond"), env!("CARGO_BIN_EXE_retentionctl"));
    let cfg = policy.to_str().unwrap();
    let once = |t: i64| at(t, rd, &["--config", cfg, "--once"]);
    let ctl = |t: i64, args: &[&str]| {
        let mut a = vec!["--config", cfg];
        a.extend_from_slice(args);
        at(t, rc, &a)
    };
    // Day 0: the calls zone's root is missing (alarm raised); two holds,
    // one kept past max_age by day 2, one lapsing on day 1.5; a find.
    once(day0);
    let old = day0 - 27 * DAY + 3600;
    ctl(
        day0 + 3600,
        &[
            "hold",
            "add",
            "--zone",
            "cctv",
            "--from",
            &rfc3339(old),
            "--to",
            &rfc3339(old + 1800),
            "--case",
            "POL-2026-1142",
            "--reason",
            "theft at the entrance",
            "--indefinite",
        ],
    );
    ctl(
        day0 + 7200,
        &[
            "hold",
            "add",
            "--zone",
            "cctv",
            "--match",
            "*/cam00/*",
            "--from",
            &rfc3339(day0 - 5 * 3600),
            "--to",
            &rfc3339(day0 - 4 * 3600),
            "--case",
            "INS-88 <claims@insurer.example>",
            "--reason",
            "insurer asks",
            "--expires",
            &rfc3339(day0 + DAY + DAY / 2),
        ],
    );
    ctl(
        day0 + 3 * 3600,
        &[
            "find",
            "--zone",
            "cctv",
            "--last",
            "1h",
            "--reason",
            "checking the entrance",
        ],
    );
    // Day 1: a case opened, due in a day (it is answered late).
    once(day0 + DAY);
    ctl(
        day0 + DAY + 3600,
        &[
            "case",
            "open",
            "DSR-2026-014",
            "--kind",
            "access",
            "--requested-by",
            "J. Doe <j.doe@example.org>",
            "--zone",
            "cctv",
            "--from",
            &rfc3339(day0 - 3 * 3600),
            "--to",
            &rfc3339(day0 - 2 * 3600),
            "--reason",
            "footage of herself at the entrance",
            "--due-in",
            "1d",
        ],
    );
    // Day 2: the real daemon (its clock set by libfaketime) sweeps: the
    // second hold has lapsed; the calls root comes back and the daemon
    // clears the alarm. Then the first hold is released.
    let d = Daemon::start_with_env(
        &policy,
        &tmp.path().join("ctl.sock"),
        &[
            // What `faketime -m` preloads (Debian's multiarch path).
            (
                "LD_PRELOAD",
                &format!(
                    "/usr/lib/{}-linux-gnu/faketime/libfaketimeMT.so.1",
                    std::env::consts::ARCH
                ),
            ),
            ("FAKETIME", &format!("@{}", faked(day0 + 2 * DAY))),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("TZ", "UTC"),
        ],
    );
    d.wait_for("sweep at", 1, 30);
    wait_for_alarm(&policy, "root-unavailable", 10);
    std::fs::create_dir_all(&calls).unwrap();
    wait_for_alarm_cleared(&policy, "root-unavailable", 10);
    drop(d);
    ctl(
        day0 + 2 * DAY + 3600,
        &["hold", "release", "1", "--reason", "case closed by the police"],
    );
    // Day 3: the case closed, late.
    once(day0 + 3 * DAY);
    ctl(
        day0 + 3 * DAY + 3600,
        &[
            "case",
            "close",
            "DSR-2026-014",
            "--outcome",
            "disclosed",
            "--to",
            "J. Doe",
            "--reason",
            "copy handed over",
        ],
    );

    let (since, until) = (rfc3339(day0 - 3600), rfc3339(day0 + 4 * DAY));
    let rep: serde_json::Value = {
        let o = retentionctl(&[
            "--config", cfg, "--json", "report", "--since", &since, "--until", &until,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // The hold spans, from the same pass over the audit log.
    let holds = rep["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 3, "{rep:#}");
    assert_eq!(holds[0]["case"], "POL-2026-1142");
    // (faketime starts the clock at the time given; it then runs.)
    let secs = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{rep:#}")))
            .unwrap()
            .timestamp()
    };
    assert!(
        (day0 + 3600..day0 + 3660).contains(&secs(&holds[0]["placed"])),
        "{rep:#}"
    );
    assert!((day0 + 2 * DAY + 3600..day0 + 2 * DAY + 3660).contains(&secs(&holds[0]["released"])));
    assert!(
        holds[1]["lapsed"].is_string() && holds[1]["released"].is_null(),
        "{rep:#}"
    );
    assert_eq!(holds[2]["case"], "DSR-2026-014");
    assert!(
        holds[2]["released"].is_string(),
        "closing the case released its hold: {rep:#}"
    );
    // Raised by the first sweep on day 0, cleared by the daemon on day 2.
    let alarms = rep["alarms"].as_array().unwrap();
    let root = alarms.iter().find(|a| a["kind"] == "root-unavailable").unwrap();
    assert!((day0..day0 + 60).contains(&secs(&root["raised"])), "{rep:#}");
    assert!(
        (day0 + 2 * DAY..day0 + 2 * DAY + 60).contains(&secs(&root["cleared"])),
        "{rep:#}"
    );
    let open_alarms = alarms.iter().filter(|a| a["cleared"].is_null()).count();

    let html_path = tmp.path().join("report.html");
    let o = retentionctl(&[
        "--config", cfg, "report", "--since", &since, "--until", &until, "--format", "html",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(&html_path, &o.stdout).unwrap();
    let html = String::from_utf8(o.stdout).unwrap();
    // Self-contained: nothing to fetch, no script.
    for pat in ["http:", "https:", " src=", "url(", "@import", "<script", "<link"] {
        assert!(!html.contains(pat), "the page refers to {pat:?}");
    }

    let profile = tmp.path().join("chromium-profile");
    // The probe: a page that does log proves the log is read right.
    let probe = tmp.path().join("probe.html");
    std::fs::write(
        &probe,
        "<!DOCTYPE html><p>probe</p><script>console.error('probe-error'); missing();</script>",
    )
    .unwrap();
    let lines = console_lines(&chromium(&profile, &probe, &["--dump-dom"]));
    assert!(
        lines.iter().any(|l| l.contains("probe-error")) && lines.iter().any(|l| l.contains("Uncaught")),
        "this Chromium does not log console messages with these flags: {lines:?}"
    );

    let o = chromium(&profile, &html_path, &["--dump-dom"]);
    assert_eq!(console_lines(&o), Vec::<String>::new(), "console messages");
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    let count = |pat: &str| dom.matches(pat).count();
    // Per zone: a retention chart with its band, a deletions chart.
    assert_eq!(count("<svg class=\"chart retention\""), 2, "{dom}");
    assert!(dom.contains("data-zone=\"cctv\"") && dom.contains("data-zone=\"calls\""));
    assert_eq!(count("<g class=\"band\"><rect"), 2, "each zone's min..max band");
    assert!(count("<rect class=\"day") >= 4, "cctv's retention per day");
    assert_eq!(
        count("<rect class=\"day flagged\""),
        1,
        "day 2: the held footage past max_age"
    );
    assert_eq!(count("<svg class=\"chart deletions\""), 2);
    assert!(count("data-reason=\"max-age\"") >= 4, "max-age deletions on each day");
    // The timeline: three holds and the alarm, each ended in the period.
    assert_eq!(count("<svg class=\"chart timeline\""), 1);
    assert_eq!(count("class=\"span hold\""), 3, "{dom}");
    assert_eq!(count("class=\"span alarm\""), alarms.len() - open_alarms, "{dom}");
    assert_eq!(count("class=\"span alarm open\""), open_alarms, "{dom}");
    // Every chart has its text alternative.
    assert_eq!(count("<title id="), 5);
    assert_eq!(count("<desc id="), 5);
    // The tables, the flagged day and the late case highlighted.
    for t in ["days", "alarms", "holds", "access", "cases"] {
        assert_eq!(count(&format!("<table class=\"{t}\"")), 1, "table {t}");
    }
    assert_eq!(count("<tr class=\"flagged\">"), 1);
    assert_eq!(count("<tr class=\"late\">"), 1);
    // What users typed stays text: no element made of it.
    assert!(dom.contains("INS-88 &lt;claims@insurer.example&gt;"), "{dom}");
    assert!(dom.contains("J. Doe &lt;j.doe@example.org&gt;"));
    assert!(!dom.contains("<claims@") && !dom.contains("<j.doe@"));

    let png = tmp.path().join("report.png");
    let o = chromium(
        &profile,
        &html_path,
        &[&format!("--screenshot={}", png.display()), "--window-size=1280,2400"],
    );
    assert_eq!(console_lines(&o), Vec::<String>::new());
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert_eq!(png_size(&bytes), (1280, 2400));
    // A blank page compresses to a few KiB; charts and tables do not.
    assert!(bytes.len() > 40_000, "screenshot of {} bytes", bytes.len());

    if std::env::var_os("UPDATE_GENERATED").is_some() {
        // The README's picture: the top of the page (the charts, the timeline).
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.png");
        chromium(
            &profile,
            &html_path,
            &[&format!("--screenshot={}", docs.display()), "--window-size=1100,2300"],
        );
        eprintln!(
            "wrote {} ({} bytes)",
            docs.display(),
            std::fs::metadata(&docs).unwrap().len()
        );
    }
}
