//! Where log lines go: the systemd journal when the process is connected
//! to it (started by systemd, or a journald socket exists), stderr
//! otherwise. Structured fields (`log` key-values such as
//! `retention_reason = "max-age"`) become journal fields
//! (`RETENTION_REASON=max-age`); on stderr they are appended as `key=value`.
//!
//! Per-file events go to the audit log, never to the journal: the journal
//! gets one summary per sweep, zone and reason, so journald's rate limiting
//! can never drop a reason.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// A minimal stderr logger that prints key-values.
struct Stderr {
    level: LevelFilter,
    ident: &'static str,
}

struct KvLine(String);

impl<'kvs> log::kv::VisitSource<'kvs> for KvLine {
    fn visit_pair(&mut self, key: log::kv::Key<'kvs>, value: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        let v = value.to_string();
        if v.contains(' ') || v.is_empty() {
            self.0.push_str(&format!(" {key}={v:?}"));
        } else {
            self.0.push_str(&format!(" {key}={v}"));
        }
        Ok(())
    }
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut kv = KvLine(String::new());
        let _ = r.key_values().visit(&mut kv);
        let tag = match r.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        let _ = writeln!(std::io::stderr().lock(), "{}: {tag}{}{}", self.ident, r.args(), kv.0);
    }

    fn flush(&self) {}
}

/// Drops the chatter of dependencies (notify logs a warning for every
/// watched directory a sweep removes); their errors still pass.
struct Filtered<L: Log> {
    inner: L,
    verbose: bool,
}

fn ours(m: &Metadata, verbose: bool) -> bool {
    verbose || m.level() <= Level::Error || m.target().starts_with("retention")
}

impl<L: Log> Log for Filtered<L> {
    fn enabled(&self, m: &Metadata) -> bool {
        ours(m, self.verbose) && self.inner.enabled(m)
    }

    fn log(&self, r: &Record) {
        if ours(r.metadata(), self.verbose) {
            self.inner.log(r)
        }
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

/// Installs the logger once for the program `ident`; later calls do nothing.
pub fn init(ident: &'static str, level: LevelFilter) {
    let journal = systemd_journal_logger::connected_to_journal()
        || (std::env::var_os("INVOCATION_ID").is_some()
            && std::path::Path::new("/run/systemd/journal/socket").exists());
    if journal {
        if let Ok(j) = systemd_journal_logger::JournalLog::new() {
            let j = j.with_syslog_identifier(ident.into());
            if log::set_boxed_logger(Box::new(Filtered {
                inner: j,
                verbose: level >= LevelFilter::Debug,
            }))
            .is_ok()
            {
                log::set_max_level(level);
                return;
            }
        }
    }
    let verbose = level >= LevelFilter::Debug;
    if log::set_boxed_logger(Box::new(Filtered {
        inner: Stderr { level, ident },
        verbose,
    }))
    .is_ok()
    {
        log::set_max_level(level);
    }
}
