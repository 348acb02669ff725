//! The shipped documentation and completions agree with the code.
//!
//! - Shell completions are generated from the clap definitions
//!   (clap_complete) and committed under `packaging/completions/`; this
//!   test fails when they are stale. Regenerate with
//!   `UPDATE_GENERATED=1 cargo test --test docs_in_sync`.
//! - The man pages are hand-written (they need prose: reasons, files,
//!   signals, examples), so this test checks them against the code instead:
//!   every option and subcommand of both binaries, every policy key, every
//!   reason code, alarm and audit action appears, and each page renders with
//!   `groff -ww` without a warning.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use retentiond::cli::{CtlArgs, DaemonArgs};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn page(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap()
}

/// `--dry-run` as roff writes it: `\-\-dry\-run`.
fn roff(s: &str) -> String {
    s.replace('-', "\\-")
}

#[test]
fn completions_are_generated_from_the_cli() {
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for (name, mut cmd) in [
        ("retentiond", DaemonArgs::command()),
        ("retentionctl", CtlArgs::command()),
    ] {
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut out);
            let path = repo("packaging/completions").join(&file);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &out).unwrap();
            } else if std::fs::read(&path).ok().as_deref() != Some(&out[..]) {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale completions {stale:?}: run UPDATE_GENERATED=1 cargo test --test docs_in_sync"
    );
}

/// Every long option and subcommand of `cmd`, recursively, with its path.
fn surface(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            if l != "help" && l != "version" {
                out.push((path.to_string(), format!("--{l}")));
            }
        }
    }
    for s in cmd.get_subcommands() {
        if s.get_name() == "help" {
            continue;
        }
        out.push((path.to_string(), s.get_name().to_string()));
        surface(s, &format!("{path} {}", s.get_name()), out);
    }
}

#[test]
fn man_pages_name_every_option_and_subcommand() {
    for (cmd, man) in [
        (DaemonArgs::command(), "man/retentiond.8"),
        (CtlArgs::command(), "man/retentionctl.1"),
    ] {
        let text = page(man);
        let mut items = Vec::new();
        surface(&cmd, cmd.get_name(), &mut items);
        let missing: Vec<_> = items
            .iter()
            .filter(|(_, item)| !text.contains(&roff(item)) && !text.contains(item.as_str()))
            .collect();
        assert!(missing.is_empty(), "{man} does not mention {missing:?}");
    }
}

/// Every key of a TOML value, recursively.
fn keys(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                out.push(k.clone());
                keys(v, out);
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn policy_page_documents_every_key() {
    // The effective policy of the example, defaults filled in, names every key.
    let p = retentiond::core::policy::Policy::load(&repo("config/retentiond.toml")).unwrap();
    let v: toml::Value = toml::from_str(&p.describe()).unwrap();
    let mut all = Vec::new();
    keys(&v, &mut all);
    let text = page("man/retentiond.toml.5");
    let missing: Vec<_> = all
        .iter()
        .filter(|k| {
            let k = roff(k);
            ![
                format!(".B {k}\n"),
                format!(".BR {k} "),
                format!("\\fB{k}\\fP"),
                format!("[{k}]"),
            ]
            .iter()
            .any(|form| text.contains(form.as_str()))
        })
        .collect();
    assert!(missing.is_empty(), "retentiond.toml(5) does not document {missing:?}");
}

#[test]
fn daemon_page_lists_every_reason_alarm_and_action() {
    let text = page("man/retentiond.8");
    // The lists come from the code: one schema of actions and alarm kinds.
    let alarms: Vec<&str> = retentiond::core::alarm::AlarmKind::ALL
        .iter()
        .map(|k| k.code())
        .collect();
    // continue, rotate and repair are the log's own bookkeeping; the page
    // names them in THE AUDIT LOG all the same.
    let actions: Vec<&str> = retentiond::audit::schema::Action::ALL
        .iter()
        .map(|a| a.code())
        .collect();
    let missing: Vec<_> = retentiond::core::plan::Cause::CODES
        .iter()
        .chain(&alarms)
        .chain(&actions)
        .filter(|w| !text.contains(&roff(w)))
        .collect();
    assert!(missing.is_empty(), "retentiond(8) does not mention {missing:?}");
    for sig in ["SIGTERM", "SIGINT", "SIGHUP"] {
        assert!(text.contains(sig), "retentiond(8) does not mention {sig}");
    }
}

#[test]
fn man_pages_render_without_warnings() {
    for man in ["man/retentiond.8", "man/retentionctl.1", "man/retentiond.toml.5"] {
        let out = std::process::Command::new("groff")
            .args(["-man", "-ww", "-z", "-Tutf8"])
            .arg(repo(man))
            .output()
            .expect("groff runs (Debian package groff-base; .ci/run installs it)");
        assert!(out.status.success(), "{man}: {out:?}");
        assert!(out.stderr.is_empty(), "{man}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
