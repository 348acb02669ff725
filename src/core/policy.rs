//! The retention policy: a TOML file, read in two layers.
//!
//! 1. [`raw`]: serde structs mirroring the file, `deny_unknown_fields`, every
//!    value still a string with its source span.
//! 2. [`validate`]: turns the raw layer into checked domain types ([`Policy`]).
//!    Durations, sizes, watermarks, globs and time patterns are parsed here,
//!    so the decision core never sees an invalid state: `min_age <= max_age`,
//!    `low < high` watermark, zone roots absolute, disjoint, not system
//!    directories and not containing the state directory.
//!
//! Every error names `file:line:column`, the key, and what to do about it.
//! Loading performs no I/O besides reading the policy file itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::core::alarm::AlarmKind;
use crate::core::layout::{self, Grouping, Template, Unit};
use crate::core::timepattern::{PatternZone, TimePattern};
use crate::core::units::{Age, Bytes, Watermark, ZoneId, ZoneName};

/// Where the policy lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/retentiond/retentiond.toml";

/// Directories that may never be a zone root, nor contain one.
const SYSTEM_TREES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys", "/usr",
];

/// Directories that may hold zone roots below them but may not be one.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/home",
    "/media",
    "/mnt",
    "/opt",
    "/root",
    "/srv",
    "/tmp",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/cache",
    "/var/spool",
    "/var/tmp",
    "/var/backups",
    "/var/mail",
];

pub mod raw {
    //! The policy file as written: serde structs with spans, no validation.
    //! Field docs here are the reference for `retentiond.toml(5)`.

    use serde::Deserialize;
    use toml::Spanned;

    /// The whole file.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct RawPolicy {
        /// Daemon-wide settings: state paths, sweep timing.
        #[serde(default)]
        pub daemon: RawDaemon,
        /// Disk watermarks: a default and per-filesystem overrides.
        #[serde(default)]
        pub capacity: RawCapacity,
        /// Unix groups granting the roles of the control socket.
        #[serde(default)]
        pub roles: RawRoles,
        /// Commands told of every alarm raised and cleared.
        #[serde(default)]
        pub alarms: RawAlarms,
        /// The zones: groups of recording directories with one retention rule.
        #[serde(default)]
        pub zone: Vec<Spanned<RawZone>>,
    }

    /// `[daemon]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct RawDaemon {
        /// State directory: holds store, audit log, locks. Never inside a zone.
        pub state_dir: Option<Spanned<String>>,
        /// The audit log file (JSON Lines). Default: `<state_dir>/audit.jsonl`.
        pub audit_log: Option<Spanned<String>>,
        /// Rotate the live audit log once it reaches this size.
        pub audit_rotate_size: Option<Spanned<String>>,
        /// Time between periodic sweeps.
        pub sweep_interval: Option<Spanned<String>>,
        /// Time a round of the rolling reconcile takes (the inventory is kept current in between).
        pub reconcile_interval: Option<Spanned<String>>,
        /// Time between reconcile rounds that re-read every directory whole.
        pub reconcile_full_interval: Option<Spanned<String>>,
        /// inotify watches the daemon may use (0: none, poll instead).
        pub max_watches: Option<Spanned<i64>>,
        /// Share of a zone a sweep may delete for age without confirmation.
        pub guard_share: Option<Spanned<String>>,
        /// Files modified more recently than this are still being written: never touched.
        pub settle_time: Option<Spanned<String>>,
        /// Deletions per durable audit batch (one fsync per batch).
        pub batch_size: Option<Spanned<i64>>,
        /// The control socket retentionctl talks to.
        pub control_socket: Option<Spanned<String>>,
        /// Prometheus text file for node_exporter's textfile collector (off when absent).
        pub metrics_file: Option<Spanned<String>>,
    }

    /// `[roles]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct RawRoles {
        /// Group whose members may list and show holds, see status and plans.
        pub viewers: Option<Spanned<String>>,
        /// Group whose members may also add and extend holds.
        pub operators: Option<Spanned<String>>,
        /// Group whose members may also release holds and take every privileged action.
        pub supervisors: Option<Spanned<String>>,
        /// Group whose members may open recordings (`cat`, `copy`), unless
        /// a zone names its own `access_group` (default: the supervisors').
        pub access: Option<Spanned<String>>,
    }

    /// `[alarms]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct RawAlarms {
        /// A command (run with /bin/sh -c) told of every alarm raised and
        /// cleared, in its environment (off when absent).
        pub command: Option<Spanned<String>>,
        /// How long an alarm command may run before its process group is killed.
        pub timeout: Option<Spanned<String>>,
        /// Per alarm kind, a command run instead of `command` ("" for none).
        #[serde(default)]
        pub command_for: std::collections::BTreeMap<String, Spanned<String>>,
    }

    /// `[capacity]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct RawCapacity {
        /// Above this, capacity deletion starts ("90%" used, or "50GiB free").
        pub high_watermark: Option<Spanned<String>>,
        /// Capacity deletion stops once usage is at or below this.
        pub low_watermark: Option<Spanned<String>>,
        /// Raise `capacity-forecast` when a filesystem can keep its floors
        /// for less than this at the current recording rate ("off": never).
        pub forecast_alarm: Option<Spanned<String>>,
        /// Per-filesystem overrides, keyed by mount point.
        #[serde(default)]
        pub filesystem: Vec<Spanned<RawFilesystem>>,
    }

    /// `[[capacity.filesystem]]`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawFilesystem {
        /// The mount point (any path on the filesystem works; it is matched by device).
        pub mount: Spanned<String>,
        /// High watermark for this filesystem.
        pub high_watermark: Spanned<String>,
        /// Low watermark for this filesystem.
        pub low_watermark: Spanned<String>,
    }

    /// `[[zone]]`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawZone {
        /// Unique name, used in holds, audit records and status.
        pub name: Option<Spanned<String>>,
        /// One or more root directories (absolute).
        pub paths: Option<Spanned<Vec<Spanned<String>>>>,
        /// Globs selecting recordings; default every regular file.
        pub include: Option<Spanned<Vec<Spanned<String>>>>,
        /// Floor: never deleted for capacity while younger.
        pub min_age: Option<Spanned<String>>,
        /// Ceiling: always deleted once older, unless held.
        pub max_age: Option<Spanned<String>>,
        /// "mtime" or a path pattern such as "%Y-%m-%d/%H/*/%M.%S.mp4".
        pub time: Option<Spanned<String>>,
        /// Time zone of times in a path pattern: "UTC" (default), "local", "+02:00".
        pub time_zone: Option<Spanned<String>>,
        /// Byte quota for the zone.
        pub max_bytes: Option<Spanned<String>>,
        /// "keep-floor" (default) or "override-floor".
        pub when_full: Option<Spanned<String>>,
        /// With override-floor, lower priorities lose footage first.
        pub priority: Option<Spanned<i64>>,
        /// A named layout of a real recorder ("frigate", "zoneminder-medium",
        /// ...): sets unit, include, time and time_zone unless written here.
        pub layout: Option<Spanned<String>>,
        /// What one recording is: "file" (default), "dir" or "group".
        pub unit: Option<Spanned<String>>,
        /// With unit = "dir": the unit directory's depth below the root.
        pub unit_depth: Option<Spanned<i64>>,
        /// With unit = "group": "stem", or templates with one `{key}` capture.
        pub group: Option<Spanned<OneOrMany>>,
        /// A command (run with /bin/sh -c) given the deleted units after each batch.
        pub after_delete: Option<Spanned<String>>,
        /// How long `after_delete` may run before it is killed (default 60s).
        pub after_delete_timeout: Option<Spanned<String>>,
        /// The Unix group whose members may open this zone's recordings
        /// (`retentionctl cat`/`copy`); default `[roles] access`.
        pub access_group: Option<Spanned<String>>,
        /// The depth of the directory naming a recording source (a camera),
        /// 1 for directly in the root; 0: the whole zone is one source.
        pub source_depth: Option<Spanned<i64>>,
        /// Raise `recording-stalled` when a source records nothing for
        /// this long ("off": never).
        pub stall_after: Option<Spanned<String>>,
        /// Per-source rules: `[[zone.rule]]`.
        #[serde(default)]
        pub rule: Vec<Spanned<RawRule>>,
    }

    /// `[[zone.rule]]`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawRule {
        /// A label for records and messages (default "rule-N").
        pub name: Option<Spanned<String>>,
        /// Glob matched against each directory component of a recording's path.
        pub source: Option<Spanned<String>>,
        /// Globs matched against a recording's name (a file, a unit directory, a group key).
        pub file: Option<Spanned<OneOrMany>>,
        /// Floor for the recordings it matches (default: the zone's).
        pub min_age: Option<Spanned<String>>,
        /// Ceiling (default: the zone's).
        pub max_age: Option<Spanned<String>>,
        /// A byte quota of its own.
        pub max_bytes: Option<Spanned<String>>,
        /// Priority under override-floor (default: the zone's).
        pub priority: Option<Spanned<i64>>,
    }

    /// A string, or a list of strings.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub enum OneOrMany {
        /// One.
        One(String),
        /// Several.
        Many(Vec<String>),
    }

    impl OneOrMany {
        /// As a list.
        pub fn to_vec(&self) -> Vec<String> {
            match self {
                OneOrMany::One(s) => vec![s.clone()],
                OneOrMany::Many(v) => v.clone(),
            }
        }
    }
}

/// A policy error, with where it is and what key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The policy file.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub col: usize,
    /// The key, e.g. `zone "lobby": max_age`.
    pub key: String,
    /// What is wrong and what to write instead.
    pub msg: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {} (see man 5 retentiond.toml)", self.msg)
    }
}

impl std::error::Error for PolicyError {}

/// Daemon-wide settings, validated.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// State directory (holds, locks, audit log by default).
    pub state_dir: PathBuf,
    /// Live audit log file.
    pub audit_log: PathBuf,
    /// Rotate the live audit log at this size.
    pub audit_rotate_size: Bytes,
    /// Time between sweeps.
    pub sweep_interval: Age,
    /// Time a round of the rolling reconcile takes (it re-reads the
    /// directories that changed, in slices).
    pub reconcile_interval: Age,
    /// Time between rounds that re-read every known directory whole.
    pub reconcile_full_interval: Age,
    /// inotify watches the daemon may use.
    pub max_watches: usize,
    /// Percentage of a zone's recordings deletions for age may remove
    /// without a supervisor's confirmation ([`crate::core::guard`]).
    pub guard_share: f64,
    /// Files modified more recently than this are never touched.
    pub settle_time: Age,
    /// Deletions per audit batch.
    pub batch_size: usize,
    /// The control socket.
    pub control_socket: PathBuf,
    /// Where to write metrics after each sweep (Prometheus text format), if anywhere.
    pub metrics_file: Option<PathBuf>,
}

/// A TOML basic string for `s` (what `--check-config` writes; Rust's
/// `{:?}` escapes some characters as `\u{..}`, which TOML does not read).
fn tq(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The Unix groups granting each role (root has every role; each role
/// includes the ones below it: supervisors ⊇ operators ⊇ viewers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// list, show, status, plan.
    pub viewers: String,
    /// + hold add, hold extend.
    pub operators: String,
    /// + hold release and every later privileged action.
    pub supervisors: String,
    /// Who may open recordings (`cat`, `copy`) where a zone does not say:
    /// a group of its own, not a rank (default: the supervisors' group).
    pub access: String,
}

/// Default control socket (the service's runtime directory).
pub const DEFAULT_SOCKET: &str = "/run/retentiond/control.sock";

/// High and low watermark of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watermarks {
    /// Capacity deletion starts above this.
    pub high: Watermark,
    /// And stops at or below this.
    pub low: Watermark,
}

/// A per-filesystem watermark override.
#[derive(Debug, Clone)]
pub struct FsOverride {
    /// A path on the filesystem (its mount point).
    pub mount: PathBuf,
    /// Its watermarks.
    pub marks: Watermarks,
}

/// What a zone does when floors and a full disk collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Floors hold; the alarm is raised; the disk may fill.
    KeepFloor,
    /// This zone's footage below its floor may go, oldest first, lowest priority first.
    OverrideFloor,
}

impl WhenFull {
    /// The policy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WhenFull::KeepFloor => "keep-floor",
            WhenFull::OverrideFloor => "override-floor",
        }
    }
}

/// How a zone learns each recording's time.
#[derive(Debug, Clone)]
pub enum TimeSource {
    /// The file's modification time (segment end, for most recorders).
    Mtime,
    /// Parsed from the path relative to the zone root.
    Pattern(TimePattern),
}

/// Which files of a zone are recordings.
#[derive(Debug, Clone, Default)]
pub struct Include {
    /// The globs as written (empty: every regular file).
    pub globs: Vec<String>,
    /// Globs without '/', matched against the file name.
    names: Option<GlobSet>,
    /// Globs with '/', matched against the path relative to the root.
    paths: Option<GlobSet>,
}

impl Include {
    /// Builds the matcher; globs containing '/' match the relative path,
    /// others the file name.
    pub fn new(globs: &[String]) -> Result<Include, String> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let (mut n, mut p) = (0, 0);
        for g in globs {
            let glob = GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("bad glob {g:?}: {e}"))?;
            if g.contains('/') {
                paths.add(glob);
                p += 1;
            } else {
                names.add(glob);
                n += 1;
            }
        }
        let build = |b: GlobSetBuilder, count: usize| -> Result<Option<GlobSet>, String> {
            if count == 0 {
                Ok(None)
            } else {
                b.build().map(Some).map_err(|e| e.to_string())
            }
        };
        Ok(Include {
            globs: globs.to_vec(),
            names: build(names, n)?,
            paths: build(paths, p)?,
        })
    }

    /// Whether a file (its name, and its path relative to the zone root) is a recording.
    pub fn matches(&self, name: &[u8], rel: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        if self.globs.is_empty() {
            return true;
        }
        let name_hit = self
            .names
            .as_ref()
            .is_some_and(|s| s.is_match(Path::new(std::ffi::OsStr::from_bytes(name))));
        name_hit
            || self
                .paths
                .as_ref()
                .is_some_and(|s| s.is_match(Path::new(std::ffi::OsStr::from_bytes(rel))))
    }
}

/// One validated zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Its index in [`Policy::zones`].
    pub id: ZoneId,
    /// Its name.
    pub name: ZoneName,
    /// Root directories, absolute and normalised.
    pub roots: Vec<PathBuf>,
    /// Which files are recordings.
    pub include: Include,
    /// Floor.
    pub min_age: Age,
    /// Ceiling.
    pub max_age: Age,
    /// Where recording times come from.
    pub time: TimeSource,
    /// Byte quota.
    pub max_bytes: Option<Bytes>,
    /// Floor-versus-full-disk behaviour.
    pub when_full: WhenFull,
    /// Lower loses footage first under override-floor.
    pub priority: i32,
    /// What one recording is.
    pub unit: Unit,
    /// The preset the zone's layout came from, if any.
    pub layout: Option<&'static str>,
    /// The command told of each batch's deleted units.
    pub after_delete: Option<AfterDelete>,
    /// The Unix group whose members may open its recordings (root always may).
    pub access_group: String,
    /// Per-source rules, first match wins; recordings no rule matches
    /// follow the zone's own floor, ceiling, quota and priority.
    pub rules: Vec<Rule>,
    /// The depth of the directories that name its recording sources (1:
    /// directly in a root), so `recording-stalled` can say which camera
    /// stopped; 0: the whole zone is one source.
    pub source_depth: usize,
    /// How long a source may record nothing before `recording-stalled` is
    /// raised; None: off.
    pub stall_after: Option<Age>,
}

/// A per-source rule of a zone: the recordings whose directories include a
/// component matching `source` and whose name matches `file` (either may be
/// absent, not both) get their own floor, ceiling, quota and priority.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its label.
    pub name: String,
    /// The component glob, as written and compiled.
    pub source: Option<(String, globset::GlobMatcher)>,
    /// The name globs, as written and compiled.
    pub file: Option<(Vec<String>, GlobSet)>,
    /// Floor.
    pub min_age: Age,
    /// Ceiling.
    pub max_age: Age,
    /// Its own quota.
    pub max_bytes: Option<Bytes>,
    /// Priority under override-floor.
    pub priority: i32,
}

impl Rule {
    fn source_matches(&self, dir_rel: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        match &self.source {
            None => true,
            Some((_, m)) => dir_rel
                .split(|b| *b == b'/')
                .filter(|c| !c.is_empty())
                .any(|c| m.is_match(Path::new(std::ffi::OsStr::from_bytes(c)))),
        }
    }

    fn file_matches(&self, name: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        match &self.file {
            None => true,
            Some((_, set)) => set.is_match(Path::new(std::ffi::OsStr::from_bytes(name))),
        }
    }
}

/// What a recording's class (the zone itself, or one of its rules) keeps.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Floor.
    pub min_age: Age,
    /// Ceiling.
    pub max_age: Age,
    /// Quota: the zone's for class 0, the rule's own otherwise.
    pub max_bytes: Option<Bytes>,
    /// Priority under override-floor.
    pub priority: i32,
    /// The rule's name; None for the zone's own.
    pub rule: Option<&'a str>,
}

impl Zone {
    /// How many classes its recordings fall in: the zone's own (0) and one
    /// per rule (1..).
    pub fn classes(&self) -> usize {
        1 + self.rules.len()
    }

    /// The class of the recording `name` in directory `dir_rel`: the
    /// first rule matching it, else the zone's own (0).
    pub fn class_of(&self, dir_rel: &[u8], name: &[u8]) -> usize {
        self.rules
            .iter()
            .position(|r| r.source_matches(dir_rel) && r.file_matches(name))
            .map_or(0, |k| k + 1)
    }

    /// The class of a recording given its whole path relative to the root.
    pub fn class_of_rel(&self, rel: &[u8]) -> usize {
        match rel.iter().rposition(|b| *b == b'/') {
            Some(k) => self.class_of(&rel[..k], &rel[k + 1..]),
            None => self.class_of(b"", rel),
        }
    }

    /// The class every recording directly in `dir_rel` has, when the
    /// directory's path alone decides it (None: a rule by name could match
    /// some and not others).
    pub fn dir_class(&self, dir_rel: &[u8]) -> Option<usize> {
        for (k, r) in self.rules.iter().enumerate() {
            if !r.source_matches(dir_rel) {
                continue;
            }
            return match r.file {
                None => Some(k + 1),
                Some(_) => None,
            };
        }
        Some(0)
    }

    /// What class `class` keeps.
    pub fn params(&self, class: usize) -> Params<'_> {
        match class.checked_sub(1).and_then(|k| self.rules.get(k)) {
            None => Params {
                min_age: self.min_age,
                max_age: self.max_age,
                max_bytes: self.max_bytes,
                priority: self.priority,
                rule: None,
            },
            Some(r) => Params {
                min_age: r.min_age,
                max_age: r.max_age,
                max_bytes: r.max_bytes,
                priority: r.priority,
                rule: Some(&r.name),
            },
        }
    }
}

/// A zone's `after_delete` hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterDelete {
    /// Run with `/bin/sh -c`.
    pub command: String,
    /// Killed after this long.
    pub timeout: Age,
}

/// The alarm hooks (`[alarms]`): the command told of each alarm raised
/// and cleared, and the kinds that run another one or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmCommands {
    /// Run (with `/bin/sh -c`) for every kind `command_for` does not name.
    pub command: Option<String>,
    /// Killed after this long.
    pub timeout: Age,
    /// Per kind: its own command, or None for no command at all.
    pub command_for: BTreeMap<AlarmKind, Option<String>>,
}

impl Default for AlarmCommands {
    fn default() -> AlarmCommands {
        AlarmCommands {
            command: None,
            timeout: Age::from_secs(30),
            command_for: BTreeMap::new(),
        }
    }
}

impl AlarmCommands {
    /// The command for alarms of `kind`, with the key it comes from (for
    /// messages and records), or None when none runs.
    pub fn command(&self, kind: AlarmKind) -> Option<(&str, String)> {
        match self.command_for.get(&kind) {
            Some(Some(c)) => Some((c.as_str(), format!("alarms.command_for.{}", kind.code()))),
            Some(None) => None,
            None => self.command.as_deref().map(|c| (c, "alarms.command".to_string())),
        }
    }
}

/// The validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it came from.
    pub source: PathBuf,
    /// SHA-256 of the file's bytes, hex; cited by every deletion record.
    pub digest: String,
    /// Daemon-wide settings.
    pub daemon: DaemonSettings,
    /// Groups granting the control socket's roles.
    pub roles: Roles,
    /// The commands told of alarms.
    pub alarms: AlarmCommands,
    /// Watermarks for filesystems without an override.
    pub default_marks: Watermarks,
    /// Per-filesystem overrides.
    pub filesystems: Vec<FsOverride>,
    /// Raise `capacity-forecast` below this many days of floors kept
    /// ([`crate::core::forecast`]); None: off.
    pub forecast_alarm: Option<Age>,
    /// The zones, in file order; `zones[i].id == ZoneId(i)`.
    pub zones: Vec<Zone>,
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            key: String::new(),
            msg: format!("cannot read the policy file: {e}"),
        })?;
        let policy = Policy::from_str(path, &text)?;
        policy.check_resolved_roots(&text)?;
        Ok(policy)
    }

    /// The path rules again, on each existing root with its symlinks
    /// resolved: `/srv/x -> /etc` is as forbidden as `/etc`, and two roots
    /// that are the same directory under two names overlap.
    fn check_resolved_roots(&self, text: &str) -> Result<(), PolicyError> {
        let state = std::fs::canonicalize(&self.daemon.state_dir).unwrap_or_else(|_| self.daemon.state_dir.clone());
        let mut seen: Vec<(PathBuf, &str)> = Vec::new();
        for z in &self.zones {
            for root in &z.roots {
                let Ok(real) = std::fs::canonicalize(root) else {
                    continue;
                };
                let fail = |msg: String| {
                    let quoted = format!("\"{}\"", root.display());
                    let (line, col) = text.find(&quoted).map(|o| line_col(text, o)).unwrap_or((0, 0));
                    PolicyError {
                        file: self.source.clone(),
                        line,
                        col,
                        key: format!("zone {:?}: paths", z.name.0),
                        msg,
                    }
                };
                let rs = real.to_string_lossy().to_string();
                if SYSTEM_DIRS.contains(&rs.as_str())
                    || SYSTEM_TREES.iter().any(|t| within(&real, Path::new(t)))
                    || SYSTEM_TREES
                        .iter()
                        .chain(SYSTEM_DIRS.iter())
                        .any(|t| *t != "/" && within(Path::new(t), &real))
                {
                    return Err(fail(format!("{} resolves to {rs}, a system directory", root.display())));
                }
                if within(&state, &real) {
                    return Err(fail(format!(
                        "{} resolves to {rs}, which contains the state directory",
                        root.display()
                    )));
                }
                if let Some((other, oz)) = seen.iter().find(|(o, _)| within(o, &real) || within(&real, o)) {
                    return Err(fail(format!(
                        "{} resolves to {rs}, which overlaps {} of zone {oz:?}",
                        root.display(),
                        other.display()
                    )));
                }
                seen.push((real, z.name.0.as_str()));
            }
        }
        Ok(())
    }

    /// Parses and validates policy text; `path` is used in messages and as
    /// the source. Pure.
    pub fn from_str(path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let raw: raw::RawPolicy = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            let msg = e.message().trim().to_string();
            let key = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
                .unwrap_or("")
                .to_string();
            PolicyError {
                file: path.to_path_buf(),
                line,
                col,
                key,
                msg,
            }
        })?;
        validate(path, text, raw)
    }

    /// The zone with this name.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name.0 == name)
    }

    /// The effective policy, every default filled in, as TOML-like text
    /// (what `retentiond --check-config` prints).
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let d = &self.daemon;
        let _ = writeln!(
            s,
            "# effective policy from {} (sha256 {})",
            self.source.display(),
            self.digest
        );
        let _ = writeln!(s, "[daemon]");
        let _ = writeln!(s, "state_dir = {}", tq(&d.state_dir.display().to_string()));
        let _ = writeln!(s, "audit_log = {}", tq(&d.audit_log.display().to_string()));
        let _ = writeln!(s, "audit_rotate_size = \"{}\"", d.audit_rotate_size.exact());
        let _ = writeln!(s, "sweep_interval = \"{}\"", d.sweep_interval.exact());
        let _ = writeln!(s, "reconcile_interval = \"{}\"", d.reconcile_interval.exact());
        let _ = writeln!(s, "reconcile_full_interval = \"{}\"", d.reconcile_full_interval.exact());
        let _ = writeln!(s, "max_watches = {}", d.max_watches);
        let _ = writeln!(s, "guard_share = \"{}%\"", d.guard_share);
        let _ = writeln!(s, "settle_time = \"{}\"", d.settle_time.exact());
        let _ = writeln!(s, "batch_size = {}", d.batch_size);
        let _ = writeln!(s, "control_socket = {}", tq(&d.control_socket.display().to_string()));
        if let Some(m) = &d.metrics_file {
            let _ = writeln!(s, "metrics_file = {}", tq(&m.display().to_string()));
        }
        let _ = writeln!(s, "\n[roles]");
        let _ = writeln!(s, "viewers = {}", tq(&self.roles.viewers));
        let _ = writeln!(s, "operators = {}", tq(&self.roles.operators));
        let _ = writeln!(s, "supervisors = {}", tq(&self.roles.supervisors));
        let _ = writeln!(s, "access = {}", tq(&self.roles.access));
        let _ = writeln!(s, "\n[capacity]");
        let _ = writeln!(s, "high_watermark = \"{}\"", self.default_marks.high.exact());
        let _ = writeln!(s, "low_watermark = \"{}\"", self.default_marks.low.exact());
        let _ = writeln!(s, "forecast_alarm = \"{}\"", off_or(self.forecast_alarm));
        for f in &self.filesystems {
            let _ = writeln!(s, "\n[[capacity.filesystem]]");
            let _ = writeln!(s, "mount = {}", tq(&f.mount.display().to_string()));
            let _ = writeln!(s, "high_watermark = \"{}\"", f.marks.high.exact());
            let _ = writeln!(s, "low_watermark = \"{}\"", f.marks.low.exact());
        }
        let _ = writeln!(s, "\n[alarms]");
        match &self.alarms.command {
            Some(c) => {
                let _ = writeln!(s, "command = {}", tq(c));
            }
            None => {
                let _ = writeln!(s, "# command: none (alarms are logged, recorded and shown only)");
            }
        }
        let _ = writeln!(s, "timeout = \"{}\"", self.alarms.timeout.exact());
        if !self.alarms.command_for.is_empty() {
            let _ = writeln!(s, "\n[alarms.command_for]");
            for (kind, c) in &self.alarms.command_for {
                let _ = writeln!(s, "{} = {}", tq(kind.code()), tq(c.as_deref().unwrap_or("")));
            }
        }
        for z in &self.zones {
            let _ = writeln!(s, "\n[[zone]]");
            let _ = writeln!(s, "name = {}", tq(&z.name.0));
            let roots: Vec<String> = z.roots.iter().map(|r| tq(&r.display().to_string())).collect();
            let _ = writeln!(s, "paths = [{}]", roots.join(", "));
            let inc: Vec<String> = z.include.globs.iter().map(|g| tq(g)).collect();
            let _ = writeln!(
                s,
                "include = [{}]{}",
                inc.join(", "),
                if inc.is_empty() { "  # every regular file" } else { "" }
            );
            let _ = writeln!(s, "min_age = \"{}\"", z.min_age.exact());
            let _ = writeln!(s, "max_age = \"{}\"", z.max_age.exact());
            match &z.time {
                TimeSource::Mtime => {
                    let _ = writeln!(s, "time = \"mtime\"");
                }
                TimeSource::Pattern(p) => {
                    let _ = writeln!(s, "time = {}", tq(p.as_str()));
                    let _ = writeln!(s, "time_zone = \"{}\"", p.zone());
                }
            }
            match z.max_bytes {
                Some(b) => {
                    let _ = writeln!(s, "max_bytes = \"{}\"", b.exact());
                }
                None => {
                    let _ = writeln!(s, "# max_bytes: no quota");
                }
            }
            let _ = writeln!(s, "when_full = \"{}\"", z.when_full.as_str());
            let _ = writeln!(s, "priority = {}", z.priority);
            if let Some(l) = z.layout {
                let _ = writeln!(
                    s,
                    "layout = {}  # the unit, include, time and time_zone shown are what it sets, or what the zone writes",
                    tq(l)
                );
            }
            let _ = writeln!(s, "unit = \"{}\"", z.unit.kind());
            match &z.unit {
                Unit::File => {}
                Unit::Dir { depth } => {
                    let _ = writeln!(s, "unit_depth = {depth}");
                }
                Unit::Group(g) => {
                    let ts: Vec<String> = g.describe().iter().map(|t| tq(t)).collect();
                    let _ = writeln!(s, "group = [{}]", ts.join(", "));
                }
            }
            let _ = writeln!(s, "access_group = {}", tq(&z.access_group));
            let _ = writeln!(s, "source_depth = {}", z.source_depth);
            let _ = writeln!(s, "stall_after = \"{}\"", off_or(z.stall_after));
            if let Some(h) = &z.after_delete {
                let _ = writeln!(s, "after_delete = {}", tq(&h.command));
                let _ = writeln!(s, "after_delete_timeout = \"{}\"", h.timeout.exact());
            }
            for r in &z.rules {
                let _ = writeln!(s, "\n[[zone.rule]]");
                let _ = writeln!(s, "name = {}", tq(&r.name));
                if let Some((g, _)) = &r.source {
                    let _ = writeln!(s, "source = {}", tq(g));
                }
                if let Some((gs, _)) = &r.file {
                    let gs: Vec<String> = gs.iter().map(|g| tq(g)).collect();
                    let _ = writeln!(s, "file = [{}]", gs.join(", "));
                }
                let _ = writeln!(s, "min_age = \"{}\"", r.min_age.exact());
                let _ = writeln!(s, "max_age = \"{}\"", r.max_age.exact());
                match r.max_bytes {
                    Some(b) => {
                        let _ = writeln!(s, "max_bytes = \"{}\"", b.exact());
                    }
                    None => {
                        let _ = writeln!(s, "# max_bytes: no quota of its own");
                    }
                }
                let _ = writeln!(s, "priority = {}", r.priority);
            }
        }
        s
    }
}

/// A duration as the policy writes it, or "off".
fn off_or(a: Option<Age>) -> String {
    a.map_or("off".to_string(), |a| a.exact())
}

/// A duration of at least 1s, or "off" (None).
fn duration_or_off(text: &str) -> Result<Option<Age>, String> {
    if text.trim() == "off" {
        return Ok(None);
    }
    let a = Age::parse(text).map_err(|m| format!("{m}, or \"off\""))?;
    if a.secs() < 1 {
        return Err(format!("{text:?} is too short: write at least \"1s\", or \"off\""));
    }
    Ok(Some(a))
}

/// A zone's `[[zone.rule]]` tables, their missing keys the zone's.
fn zone_rules(e: &Errs, z: &raw::RawZone, zone: &Zone, k: &dyn Fn(&str) -> String) -> Result<Vec<Rule>, PolicyError> {
    let mut rules: Vec<Rule> = Vec::new();
    for (i, rs) in z.rule.iter().enumerate() {
        let r = rs.get_ref();
        let rk = |key: &str| k(&format!("rule.{key}"));
        let name = match &r.name {
            Some(n) => {
                let v = n.get_ref();
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                    return Err(e.at(
                        n.span(),
                        rk("name"),
                        format!("{v:?}: use letters, digits, '-', '_' and '.' only"),
                    ));
                }
                if rules.iter().any(|o| o.name == *v) {
                    return Err(e.at(
                        n.span(),
                        rk("name"),
                        format!("rule {v:?} is defined twice in this zone"),
                    ));
                }
                v.clone()
            }
            None => format!("rule-{}", i + 1),
        };
        let source = match &r.source {
            Some(g) => {
                let m = GlobBuilder::new(g.get_ref())
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|m| e.at(g.span(), rk("source"), format!("bad glob {:?}: {m}", g.get_ref())))?;
                if g.get_ref().contains('/') {
                    return Err(e.at(
                        g.span(),
                        rk("source"),
                        "matches one path component (a camera's directory): write it without '/'",
                    ));
                }
                Some((g.get_ref().clone(), m.compile_matcher()))
            }
            None => None,
        };
        let file = match &r.file {
            Some(f) => {
                let globs = f.get_ref().to_vec();
                let mut b = GlobSetBuilder::new();
                for g in &globs {
                    let glob = GlobBuilder::new(g)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .build()
                        .map_err(|m| e.at(f.span(), rk("file"), format!("bad glob {g:?}: {m}")))?;
                    b.add(glob);
                }
                let set = b.build().map_err(|m| e.at(f.span(), rk("file"), m.to_string()))?;
                Some((globs, set))
            }
            None => None,
        };
        if source.is_none() && file.is_none() {
            return Err(e.at(
                rs.span(),
                rk("source"),
                "a rule needs source (a directory component, such as a camera) or file (a name glob), or both",
            ));
        }
        let age = |v: &Option<toml::Spanned<String>>, key: &str, default: Age| -> Result<Age, PolicyError> {
            match v {
                Some(s) => Age::parse(s.get_ref()).map_err(|m| e.at(s.span(), rk(key), m)),
                None => Ok(default),
            }
        };
        let min_age = age(&r.min_age, "min_age", zone.min_age)?;
        let max_age = age(&r.max_age, "max_age", zone.max_age)?;
        if min_age > max_age {
            let span = r
                .min_age
                .as_ref()
                .or(r.max_age.as_ref())
                .map(|s| s.span())
                .unwrap_or(rs.span());
            return Err(e.at(
                span,
                rk("min_age"),
                format!(
                    "min_age {min_age} is longer than max_age {max_age} (a key the rule does not set is the zone's)"
                ),
            ));
        }
        let max_bytes = match &r.max_bytes {
            Some(s) => Some(Bytes::parse(s.get_ref()).map_err(|m| e.at(s.span(), rk("max_bytes"), m))?),
            None => None,
        };
        let priority = match &r.priority {
            Some(p) => i32::try_from(*p.get_ref()).map_err(|_| e.at(p.span(), rk("priority"), "out of range"))?,
            None => zone.priority,
        };
        rules.push(Rule {
            name,
            source,
            file,
            min_age,
            max_age,
            max_bytes,
            priority,
        });
    }
    Ok(rules)
}

/// A zone's unit: its `unit`, `unit_depth` and `group` keys, or what its
/// preset sets for those it does not write.
fn zone_unit(
    e: &Errs,
    z: &raw::RawZone,
    preset: Option<&layout::Preset>,
    layout_span: &std::ops::Range<usize>,
    k: &dyn Fn(&str) -> String,
) -> Result<Unit, PolicyError> {
    let (kind, kspan) = match (&z.unit, preset) {
        (Some(u), _) => (u.get_ref().as_str(), u.span()),
        (None, Some(p)) => (p.unit, layout_span.clone()),
        (None, None) => ("file", layout_span.clone()),
    };
    let stray = |key: &str, span: std::ops::Range<usize>| {
        Err(e.at(
            span,
            k(key),
            format!(
                "set, but the unit is {kind:?}: {key} applies to unit = \"{}\" only",
                if key == "group" { "group" } else { "dir" }
            ),
        ))
    };
    match kind {
        "file" => {
            if let Some(d) = &z.unit_depth {
                return stray("unit_depth", d.span());
            }
            if let Some(g) = &z.group {
                return stray("group", g.span());
            }
            Ok(Unit::File)
        }
        "dir" => {
            if let Some(g) = &z.group {
                return stray("group", g.span());
            }
            let depth = match (&z.unit_depth, preset.and_then(|p| p.unit_depth)) {
                (Some(d), _) => (1..=32)
                    .contains(d.get_ref())
                    .then_some(*d.get_ref() as usize)
                    .ok_or_else(|| e.at(d.span(), k("unit_depth"), "must be between 1 and 32"))?,
                (None, Some(d)) => d,
                (None, None) => {
                    return Err(e.at(
                        kspan,
                        k("unit_depth"),
                        "missing: with unit = \"dir\", say how deep below the root the unit directories are (1 for directly in it)",
                    ))
                }
            };
            Ok(Unit::Dir { depth })
        }
        "group" => {
            if let Some(d) = &z.unit_depth {
                return stray("unit_depth", d.span());
            }
            let (list, span) = match (&z.group, preset) {
                (Some(g), _) => (g.get_ref().to_vec(), g.span()),
                (None, Some(p)) if !p.group.is_empty() => {
                    (p.group.iter().map(|t| t.to_string()).collect(), layout_span.clone())
                }
                (None, _) => (vec!["stem".to_string()], kspan),
            };
            if list.is_empty() {
                return Err(e.at(
                    span,
                    k("group"),
                    "empty: write \"stem\" or templates such as \"{call}-in.*\"",
                ));
            }
            if list.len() == 1 && list[0] == "stem" {
                return Ok(Unit::Group(Grouping::Stem));
            }
            let ts = list
                .iter()
                .map(|t| Template::parse(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| e.at(span, k("group"), m))?;
            Ok(Unit::Group(Grouping::Templates(ts)))
        }
        other => Err(e.at(
            kspan,
            k("unit"),
            format!("{other:?}: write \"file\", \"dir\" or \"group\""),
        )),
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Lexically normalises an absolute path: drops `.`, refuses `..`.
fn normalise(p: &str) -> Result<PathBuf, String> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(format!("{p:?} is not an absolute path"));
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return Err(format!("{p:?} contains \"..\"; write the path without it")),
            Component::Prefix(_) => return Err(format!("{p:?} is not a Unix path")),
        }
    }
    Ok(out)
}

/// Whether `a` is `b` or inside it (lexically, component-wise).
fn within(a: &Path, b: &Path) -> bool {
    a.starts_with(b)
}

/// Builds the error constructor for one file.
struct Errs<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Errs<'_> {
    fn at(&self, span: std::ops::Range<usize>, key: impl Into<String>, msg: impl Into<String>) -> PolicyError {
        let (line, col) = line_col(self.text, span.start);
        PolicyError {
            file: self.file.to_path_buf(),
            line,
            col,
            key: key.into(),
            msg: msg.into(),
        }
    }
}

/// Checks the raw policy and produces domain types. Pure.
pub fn validate(file: &Path, text: &str, raw: raw::RawPolicy) -> Result<Policy, PolicyError> {
    use toml::Spanned;
    let e = Errs { file, text };
    let whole = 0..0;

    fn age(e: &Errs, v: &Option<Spanned<String>>, key: &str, default: &str) -> Result<Age, PolicyError> {
        match v {
            Some(s) => Age::parse(s.get_ref()).map_err(|m| e.at(s.span(), key, m)),
            None => Age::parse(default).map_err(|m| e.at(0..0, key, m)),
        }
    }

    // [daemon]
    let d = &raw.daemon;
    let state_dir = match &d.state_dir {
        Some(s) => normalise(s.get_ref()).map_err(|m| e.at(s.span(), "daemon.state_dir", m))?,
        None => PathBuf::from("/var/lib/retentiond"),
    };
    let audit_log = match &d.audit_log {
        Some(s) => {
            let p = normalise(s.get_ref()).map_err(|m| e.at(s.span(), "daemon.audit_log", m))?;
            if p.file_name().is_none() {
                return Err(e.at(s.span(), "daemon.audit_log", "must name a file"));
            }
            p
        }
        None => state_dir.join("audit.jsonl"),
    };
    let audit_rotate_size = match &d.audit_rotate_size {
        Some(s) => {
            let b = Bytes::parse(s.get_ref()).map_err(|m| e.at(s.span(), "daemon.audit_rotate_size", m))?;
            if b.0 < 4096 {
                return Err(e.at(s.span(), "daemon.audit_rotate_size", "must be at least 4KiB"));
            }
            b
        }
        None => Bytes(64 << 20),
    };
    let sweep_interval = age(&e, &d.sweep_interval, "daemon.sweep_interval", "1m")?;
    if sweep_interval.secs() < 1 {
        let span = d.sweep_interval.as_ref().map(|s| s.span()).unwrap_or(whole.clone());
        return Err(e.at(span, "daemon.sweep_interval", "must be at least 1s"));
    }
    let reconcile_interval = age(&e, &d.reconcile_interval, "daemon.reconcile_interval", "1d")?;
    if reconcile_interval.secs() < 10 {
        let span = d.reconcile_interval.as_ref().map(|s| s.span()).unwrap_or(whole.clone());
        return Err(e.at(span, "daemon.reconcile_interval", "must be at least 10s"));
    }
    let reconcile_full_interval = age(&e, &d.reconcile_full_interval, "daemon.reconcile_full_interval", "7d")?;
    if reconcile_full_interval.secs() < reconcile_interval.secs() {
        let span = d
            .reconcile_full_interval
            .as_ref()
            .map(|s| s.span())
            .unwrap_or(whole.clone());
        return Err(e.at(
            span,
            "daemon.reconcile_full_interval",
            format!(
                "must be at least daemon.reconcile_interval ({})",
                reconcile_interval.exact()
            ),
        ));
    }
    let max_watches = match &d.max_watches {
        Some(b) if (0..=1_000_000).contains(b.get_ref()) => *b.get_ref() as usize,
        Some(b) => return Err(e.at(b.span(), "daemon.max_watches", "must be between 0 and 1000000")),
        None => 4096,
    };
    let guard_share = match &d.guard_share {
        Some(g) => {
            let t = g.get_ref().trim();
            match t.strip_suffix('%').and_then(|p| p.trim().parse::<f64>().ok()) {
                Some(v) if v.is_finite() && v > 0.0 && v <= 100.0 => v,
                _ => {
                    return Err(e.at(
                        g.span(),
                        "daemon.guard_share",
                        format!(
                        "{:?} is not a share of a zone: write a percentage above 0% and at most 100%, such as \"10%\"",
                        g.get_ref()
                    ),
                    ))
                }
            }
        }
        None => 10.0,
    };
    let settle_time = age(&e, &d.settle_time, "daemon.settle_time", "2m")?;
    let batch_size = match &d.batch_size {
        Some(b) if (1..=1_000_000).contains(b.get_ref()) => *b.get_ref() as usize,
        Some(b) => return Err(e.at(b.span(), "daemon.batch_size", "must be between 1 and 1000000")),
        None => 2000,
    };
    let control_socket = match &d.control_socket {
        Some(p) => normalise(p.get_ref()).map_err(|m| e.at(p.span(), "daemon.control_socket", m))?,
        None => PathBuf::from(DEFAULT_SOCKET),
    };
    let metrics_file = match &d.metrics_file {
        Some(p) => {
            let path = normalise(p.get_ref()).map_err(|m| e.at(p.span(), "daemon.metrics_file", m))?;
            if !path.to_string_lossy().ends_with(".prom") {
                return Err(e.at(
                    p.span(),
                    "daemon.metrics_file",
                    format!(
                        "{:?} must end in .prom (node_exporter's textfile collector reads only those)",
                        p.get_ref()
                    ),
                ));
            }
            Some(path)
        }
        None => None,
    };
    let group = |v: &Option<Spanned<String>>, key: &str, default: &str| -> Result<String, PolicyError> {
        match v {
            None => Ok(default.to_string()),
            Some(g) => {
                let name = g.get_ref();
                let ok = !name.is_empty()
                    && name.len() <= 32
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    && !name.starts_with('-');
                if ok {
                    Ok(name.clone())
                } else {
                    Err(e.at(g.span(), key, format!("{name:?} is not a valid Unix group name")))
                }
            }
        }
    };
    let roles = Roles {
        viewers: group(&raw.roles.viewers, "roles.viewers", "retention-viewers")?,
        operators: group(&raw.roles.operators, "roles.operators", "retention-operators")?,
        supervisors: group(&raw.roles.supervisors, "roles.supervisors", "retention-supervisors")?,
        access: String::new(),
    };
    let roles = Roles {
        access: group(&raw.roles.access, "roles.access", &roles.supervisors)?,
        ..roles
    };
    let alarms = alarm_commands(&e, &raw.alarms)?;

    // [capacity]
    fn marks(
        e: &Errs,
        high: Option<&Spanned<String>>,
        low: Option<&Spanned<String>>,
        prefix: &str,
    ) -> Result<Watermarks, PolicyError> {
        let parse = |v: Option<&Spanned<String>>,
                     key: &str,
                     default: &str|
         -> Result<(Watermark, std::ops::Range<usize>), PolicyError> {
            match v {
                Some(s) => Watermark::parse(s.get_ref())
                    .map(|w| (w, s.span()))
                    .map_err(|m| e.at(s.span(), format!("{prefix}{key}"), m)),
                None => Ok((Watermark::parse(default).expect("valid default"), 0..0)),
            }
        };
        let (high, hs) = parse(high, "high_watermark", "90%")?;
        let (low, ls) = parse(low, "low_watermark", "80%")?;
        let span = if ls.end > 0 { ls } else { hs };
        match (high, low) {
            (Watermark::Percent(h), Watermark::Percent(l)) if l >= h => Err(e.at(
                span,
                format!("{prefix}low_watermark"),
                format!("low watermark {l}% must be below the high watermark {h}%"),
            )),
            (Watermark::Free(h), Watermark::Free(l)) if l <= h => Err(e.at(
                span,
                format!("{prefix}low_watermark"),
                format!("low watermark must ask for more free space than the high watermark ({l} free vs {h} free)"),
            )),
            (Watermark::Percent(_), Watermark::Free(_)) | (Watermark::Free(_), Watermark::Percent(_)) => Err(e.at(
                span,
                format!("{prefix}low_watermark"),
                "high and low watermark must be both percentages or both \"... free\"",
            )),
            _ => Ok(Watermarks { high, low }),
        }
    }
    let c = &raw.capacity;
    let default_marks = marks(&e, c.high_watermark.as_ref(), c.low_watermark.as_ref(), "capacity.")?;
    // Three days: time for someone to order and fit a disk, or to change
    // the floors, before floors give way (or the disk fills).
    let forecast_alarm = match &c.forecast_alarm {
        Some(s) => duration_or_off(s.get_ref()).map_err(|m| e.at(s.span(), "capacity.forecast_alarm", m))?,
        None => Some(Age::from_secs(3 * 86_400)),
    };
    let mut filesystems: Vec<FsOverride> = Vec::new();
    for f in &c.filesystem {
        let fr = f.get_ref();
        let mount = normalise(fr.mount.get_ref()).map_err(|m| e.at(fr.mount.span(), "capacity.filesystem.mount", m))?;
        if filesystems.iter().any(|o| o.mount == mount) {
            return Err(e.at(
                fr.mount.span(),
                "capacity.filesystem.mount",
                format!("{} is listed twice", mount.display()),
            ));
        }
        let m = marks(
            &e,
            Some(&fr.high_watermark),
            Some(&fr.low_watermark),
            "capacity.filesystem.",
        )?;
        filesystems.push(FsOverride { mount, marks: m });
    }

    // [[zone]]
    if raw.zone.is_empty() {
        return Err(e.at(0..0, "zone", "the policy has no [[zone]]; define at least one"));
    }
    let mut zones: Vec<Zone> = Vec::new();
    let mut root_spans: Vec<(PathBuf, std::ops::Range<usize>, String)> = Vec::new();
    for (i, zs) in raw.zone.iter().enumerate() {
        let z = zs.get_ref();
        let zspan = zs.span();
        let name = match &z.name {
            Some(n) => {
                let v = n.get_ref();
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                    return Err(e.at(
                        n.span(),
                        "zone.name",
                        format!("{v:?}: use letters, digits, '-', '_' and '.' only"),
                    ));
                }
                if zones.iter().any(|o| o.name.0 == *v) {
                    return Err(e.at(n.span(), "zone.name", format!("zone {v:?} is defined twice")));
                }
                v.clone()
            }
            None => return Err(e.at(zspan, "zone.name", format!("zone #{} has no name", i + 1))),
        };
        let k = |key: &str| format!("zone {name:?}: {key}");
        let paths = match &z.paths {
            Some(p) if !p.get_ref().is_empty() => p,
            Some(p) => return Err(e.at(p.span(), k("paths"), "list at least one directory")),
            None => return Err(e.at(zspan, k("paths"), "missing: list the zone's root directories")),
        };
        let mut roots = Vec::new();
        for p in paths.get_ref() {
            let root = normalise(p.get_ref()).map_err(|m| e.at(p.span(), k("paths"), m))?;
            let rs = root.to_string_lossy().to_string();
            if SYSTEM_DIRS.contains(&rs.as_str()) || SYSTEM_TREES.iter().any(|t| within(&root, Path::new(t))) {
                return Err(e.at(
                    p.span(),
                    k("paths"),
                    format!("{rs} is a system directory; point the zone at the recordings directory itself"),
                ));
            }
            if SYSTEM_TREES
                .iter()
                .chain(SYSTEM_DIRS.iter())
                .any(|t| *t != "/" && within(Path::new(t), &root))
            {
                return Err(e.at(p.span(), k("paths"), format!("{rs} contains a system directory")));
            }
            if within(&state_dir, &root) {
                return Err(e.at(
                    p.span(),
                    k("paths"),
                    format!("{rs} contains the state directory {}", state_dir.display()),
                ));
            }
            if within(&audit_log, &root) {
                return Err(e.at(
                    p.span(),
                    k("paths"),
                    format!("{rs} contains the audit log {}", audit_log.display()),
                ));
            }
            if let Some((other, _, oz)) = root_spans.iter().find(|(o, _, _)| within(o, &root) || within(&root, o)) {
                let how = if *other == root {
                    "is the same as"
                } else if within(other, &root) {
                    "contains"
                } else {
                    "is inside"
                };
                return Err(e.at(
                    p.span(),
                    k("paths"),
                    format!(
                        "{rs} {how} {} of zone {oz:?}; zone roots must not overlap or nest",
                        other.display()
                    ),
                ));
            }
            root_spans.push((root.clone(), p.span(), name.clone()));
            roots.push(root);
        }
        let preset = match &z.layout {
            Some(l) => Some(layout::preset(l.get_ref()).ok_or_else(|| {
                let names: Vec<&str> = layout::PRESETS.iter().map(|p| p.name).collect();
                e.at(
                    l.span(),
                    k("layout"),
                    format!(
                        "{:?} is not a known layout: use one of {}",
                        l.get_ref(),
                        names.join(", ")
                    ),
                )
            })?),
            None => None,
        };
        // What the preset sets, checked as if written at its `layout` key.
        let layout_span = z.layout.as_ref().map(|l| l.span()).unwrap_or(zspan.clone());
        let include = match (&z.include, preset) {
            (Some(inc), _) => {
                let globs: Vec<String> = inc.get_ref().iter().map(|g| g.get_ref().clone()).collect();
                for g in inc.get_ref() {
                    Include::new(std::slice::from_ref(g.get_ref())).map_err(|m| e.at(g.span(), k("include"), m))?;
                }
                Include::new(&globs).map_err(|m| e.at(inc.span(), k("include"), m))?
            }
            (None, Some(p)) => {
                let globs: Vec<String> = p.include.iter().map(|g| g.to_string()).collect();
                Include::new(&globs).map_err(|m| e.at(layout_span.clone(), k("include"), m))?
            }
            (None, None) => Include::default(),
        };
        let unit = zone_unit(&e, z, preset, &layout_span, &k)?;
        let after_delete = match &z.after_delete {
            Some(c) if c.get_ref().trim().is_empty() => {
                return Err(e.at(c.span(), k("after_delete"), "empty command: remove the key instead"))
            }
            Some(c) => {
                let timeout = match &z.after_delete_timeout {
                    Some(t) => {
                        let a = Age::parse(t.get_ref()).map_err(|m| e.at(t.span(), k("after_delete_timeout"), m))?;
                        if a.secs() < 1 {
                            return Err(e.at(t.span(), k("after_delete_timeout"), "must be at least 1s"));
                        }
                        a
                    }
                    None => Age::from_secs(60),
                };
                Some(AfterDelete {
                    command: c.get_ref().clone(),
                    timeout,
                })
            }
            None => {
                if let Some(t) = &z.after_delete_timeout {
                    return Err(e.at(
                        t.span(),
                        k("after_delete_timeout"),
                        "set without after_delete: there is no command to time",
                    ));
                }
                None
            }
        };
        let min_age = match &z.min_age {
            Some(s) => Age::parse(s.get_ref()).map_err(|m| e.at(s.span(), k("min_age"), m))?,
            None => {
                return Err(e.at(
                    zspan,
                    k("min_age"),
                    "missing: set the floor, e.g. min_age = \"14d\" (\"0s\" for none)",
                ))
            }
        };
        let max_age = match &z.max_age {
            Some(s) => Age::parse(s.get_ref()).map_err(|m| e.at(s.span(), k("max_age"), m))?,
            None => return Err(e.at(zspan, k("max_age"), "missing: set the ceiling, e.g. max_age = \"28d\"")),
        };
        if min_age > max_age {
            let span = z.min_age.as_ref().map(|s| s.span()).unwrap_or(zspan.clone());
            return Err(e.at(
                span,
                k("min_age"),
                format!("min_age {min_age} is longer than max_age {max_age}"),
            ));
        }
        let tz = match (&z.time_zone, preset) {
            (Some(s), _) => PatternZone::parse(s.get_ref()).map_err(|m| e.at(s.span(), k("time_zone"), m))?,
            (None, Some(p)) => {
                PatternZone::parse(p.time_zone).map_err(|m| e.at(layout_span.clone(), k("time_zone"), m))?
            }
            (None, None) => PatternZone::Utc,
        };
        let time_text = match (&z.time, preset) {
            (Some(s), _) => Some((s.get_ref().as_str(), s.span())),
            (None, Some(p)) => Some((p.time, layout_span.clone())),
            (None, None) => None,
        };
        let time = match time_text {
            None | Some(("mtime", _)) => TimeSource::Mtime,
            Some((t, span)) => TimeSource::Pattern(TimePattern::parse(t, tz).map_err(|m| e.at(span, k("time"), m))?),
        };
        let max_bytes = match &z.max_bytes {
            Some(s) => Some(Bytes::parse(s.get_ref()).map_err(|m| e.at(s.span(), k("max_bytes"), m))?),
            None => None,
        };
        let when_full = match z.when_full.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("keep-floor", _)) => WhenFull::KeepFloor,
            Some(("override-floor", _)) => WhenFull::OverrideFloor,
            Some((other, span)) => {
                return Err(e.at(
                    span,
                    k("when_full"),
                    format!("{other:?}: write \"keep-floor\" or \"override-floor\""),
                ))
            }
        };
        let priority = match &z.priority {
            Some(p) => i32::try_from(*p.get_ref()).map_err(|_| e.at(p.span(), k("priority"), "out of range"))?,
            None => 0,
        };
        let source_depth = match (&z.source_depth, preset) {
            (Some(d), _) => (0..=32)
                .contains(d.get_ref())
                .then_some(*d.get_ref() as usize)
                .ok_or_else(|| {
                    e.at(
                        d.span(),
                        k("source_depth"),
                        "must be between 0 (the whole zone is one source) and 32 (1: the directories directly in the root)",
                    )
                })?,
            (None, Some(p)) => p.source_depth,
            // Without a layout nothing says which directory is a camera:
            // the zone as a whole is one source.
            (None, None) => 0,
        };
        let stall_after = match (&z.stall_after, preset) {
            (Some(s), _) => duration_or_off(s.get_ref()).map_err(|m| e.at(s.span(), k("stall_after"), m))?,
            (None, Some(p)) => {
                duration_or_off(p.stall_after).map_err(|m| e.at(layout_span.clone(), k("stall_after"), m))?
            }
            // Off without a layout: nothing says whether the zone records
            // continuously or on events only, and a camera quiet all night
            // raising an alarm every night teaches people to ignore alarms.
            (None, None) => None,
        };
        zones.push(Zone {
            id: ZoneId(i as u16),
            name: ZoneName(name.clone()),
            roots,
            include,
            min_age,
            max_age,
            time,
            max_bytes,
            when_full,
            priority,
            unit,
            layout: preset.map(|p| p.name),
            after_delete,
            access_group: group(&z.access_group, &k("access_group"), &roles.access)?,
            rules: Vec::new(),
            source_depth,
            stall_after,
        });
        let rules = zone_rules(&e, z, zones.last().expect("just pushed"), &k)?;
        zones.last_mut().expect("just pushed").rules = rules;
    }
    if zones.len() > u16::MAX as usize {
        return Err(e.at(0..0, "zone", "too many zones"));
    }
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(Policy {
        source: file.to_path_buf(),
        digest,
        daemon: DaemonSettings {
            state_dir,
            audit_log,
            audit_rotate_size,
            sweep_interval,
            reconcile_interval,
            reconcile_full_interval,
            max_watches,
            guard_share,
            settle_time,
            batch_size,
            control_socket,
            metrics_file,
        },
        roles,
        alarms,
        default_marks,
        filesystems,
        forecast_alarm,
        zones,
    })
}

/// `[alarms]`: the command, its timeout and the per-kind commands, each
/// kind one of [`AlarmKind::ALL`].
fn alarm_commands(e: &Errs, a: &raw::RawAlarms) -> Result<AlarmCommands, PolicyError> {
    let command = match &a.command {
        Some(c) if c.get_ref().trim().is_empty() => {
            return Err(e.at(c.span(), "alarms.command", "empty command: remove the key to run none"))
        }
        Some(c) => Some(c.get_ref().clone()),
        None => None,
    };
    let timeout = match &a.timeout {
        Some(t) => {
            let v = Age::parse(t.get_ref()).map_err(|m| e.at(t.span(), "alarms.timeout", m))?;
            if v.secs() < 1 {
                return Err(e.at(t.span(), "alarms.timeout", "must be at least 1s"));
            }
            v
        }
        None => AlarmCommands::default().timeout,
    };
    let mut command_for = BTreeMap::new();
    for (name, c) in &a.command_for {
        let key = format!("alarms.command_for.{name}");
        let Some(kind) = AlarmKind::ALL.into_iter().find(|k| k.code() == name.as_str()) else {
            let kinds: Vec<&str> = AlarmKind::ALL.iter().map(|k| k.code()).collect();
            return Err(e.at(
                c.span(),
                key,
                format!("{name:?} is not an alarm kind: use one of {}", kinds.join(", ")),
            ));
        };
        let v = c.get_ref();
        command_for.insert(kind, (!v.trim().is_empty()).then(|| v.clone()));
    }
    Ok(AlarmCommands {
        command,
        timeout,
        command_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The effective policy parses back to itself, presets, units, rules and
    /// hooks included (the policy fuzz target checks the same on any input).
    #[test]
    fn describe_parses_back_to_the_same_policy_for_every_layout() {
        for p in layout::PRESETS {
            let text = format!(
                "[[zone]]\nname = \"z\"\npaths = [\"/srv/z\"]\nlayout = \"{}\"\nmin_age = \"1d\"\nmax_age = \"7d\"\n\
                 after_delete = \"tr '\\\\0' '\\\\n' > /tmp/x\"\nafter_delete_timeout = \"5s\"\n\
                 [[zone.rule]]\nsource = \"cam?\"\nfile = [\"*.mp4\", \"in-*\"]\nmax_age = \"30d\"\nmax_bytes = \"1GiB\"\n",
                p.name
            );
            let a = Policy::from_str(Path::new("t.toml"), &text).unwrap();
            let b = Policy::from_str(Path::new("t.toml"), &a.describe())
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", p.name, a.describe()));
            let body = |d: String| d.split_once('\n').map(|(_, b)| b.to_string()).unwrap_or_default();
            assert_eq!(body(b.describe()), body(a.describe()), "{}", p.name);
        }
    }

    const GOOD: &str = r#"
[daemon]
state_dir = "/var/lib/retentiond"

[capacity]
high_watermark = "90%"
low_watermark = "80%"

[[capacity.filesystem]]
mount = "/srv/nvr"
high_watermark = "200GiB free"
low_watermark = "300GiB free"

[[zone]]
name = "cctv"
paths = ["/srv/nvr/cctv"]
include = ["*.mp4"]
min_age = "14d"
max_age = "28d"

[[zone]]
name = "calls"
paths = ["/srv/calls"]
min_age = "60days"
max_age = "60days"
when_full = "override-floor"
priority = -1
max_bytes = "20GiB"
"#;

    fn parse(t: &str) -> Result<Policy, PolicyError> {
        Policy::from_str(Path::new("/etc/retentiond/retentiond.toml"), t)
    }

    #[test]
    fn good_policy_validates() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.zones.len(), 2);
        assert_eq!(p.zones[0].max_age.secs(), 28 * 86400);
        assert_eq!(p.zones[1].when_full, WhenFull::OverrideFloor);
        assert_eq!(p.zones[1].max_bytes, Some(Bytes(20 << 30)));
        assert_eq!(p.daemon.audit_log, PathBuf::from("/var/lib/retentiond/audit.jsonl"));
        assert_eq!(p.daemon.settle_time.secs(), 120);
        assert_eq!(p.filesystems[0].marks.high, Watermark::Free(Bytes(200 << 30)));
        assert!(p.zones[0].include.matches(b"01.00.mp4", b"a/01.00.mp4"));
        assert!(!p.zones[0].include.matches(b"01.00.tmp", b"a/01.00.tmp"));
        assert!(p.zones[1].include.matches(b"x", b"x"));
        // The effective policy re-parses to the same thing.
        let again = parse(&p.describe()).unwrap();
        assert_eq!(again.zones[1].priority, -1);
        assert_eq!(again.zones[0].include.globs, vec!["*.mp4".to_string()]);
    }

    /// Found by fuzzing: `{:?}` wrote a combining mark as `\u{5c8}`, which
    /// TOML does not read, so `--check-config` output did not parse back.
    #[test]
    fn the_effective_policy_quotes_any_string_as_toml() {
        let globs = "include = [\"*1\u{5c8}av\", \"q\\\" and \\\\ b\"]\n";
        let p = parse(&format!("{ZONE}{globs}")).unwrap();
        assert_eq!(
            p.zones[0].include.globs,
            vec!["*1\u{5c8}av".to_string(), "q\" and \\ b".to_string()]
        );
        let again = parse(&p.describe()).unwrap();
        assert_eq!(again.zones[0].include.globs, p.zones[0].include.globs);
    }

    fn err(t: &str) -> String {
        parse(t).unwrap_err().to_string()
    }

    const ZONE: &str = "[[zone]]\nname = \"a\"\npaths = [\"/srv/a\"]\nmin_age = \"1d\"\nmax_age = \"2d\"\n";

    #[test]
    fn metrics_file_is_optional_absolute_and_a_prom_file() {
        assert_eq!(parse(ZONE).unwrap().daemon.metrics_file, None);
        let p = parse(&format!("[daemon]\nmetrics_file = \"/var/lib/node/r.prom\"\n{ZONE}")).unwrap();
        assert_eq!(p.daemon.metrics_file, Some(PathBuf::from("/var/lib/node/r.prom")));
        assert!(p.describe().contains("metrics_file = \"/var/lib/node/r.prom\""));
        let e = err(&format!("[daemon]\nmetrics_file = \"/var/lib/node/r.txt\"\n{ZONE}"));
        assert!(
            e.contains(":2:16: daemon.metrics_file: ") && e.contains("must end in .prom"),
            "{e}"
        );
        let e = err(&format!("[daemon]\nmetrics_file = \"r.prom\"\n{ZONE}"));
        assert!(
            e.contains("daemon.metrics_file") && e.contains("not an absolute path"),
            "{e}"
        );
    }

    #[test]
    fn a_full_reconcile_round_comes_no_more_often_than_a_round() {
        let p = parse(ZONE).unwrap();
        assert_eq!(
            (
                p.daemon.reconcile_interval.secs(),
                p.daemon.reconcile_full_interval.secs()
            ),
            (86400, 7 * 86400)
        );
        assert!(p.describe().contains("reconcile_full_interval = \"7d\""));
        let p = parse(&format!(
            "[daemon]\nreconcile_interval = \"1h\"\nreconcile_full_interval = \"1h\"\n{ZONE}"
        ))
        .unwrap();
        assert_eq!(p.daemon.reconcile_full_interval.secs(), 3600);
        let e = err(&format!("[daemon]\nreconcile_full_interval = \"12h\"\n{ZONE}"));
        assert!(
            e.contains(":2:27: daemon.reconcile_full_interval: must be at least daemon.reconcile_interval (1d)"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_line_column_and_key() {
        let m = err(&format!("{ZONE}colour = \"red\"\n"));
        assert!(
            m.starts_with("/etc/retentiond/retentiond.toml:6:1: colour: unknown field"),
            "{m}"
        );
        let m = err(&ZONE.replace("\"2d\"", "\"2x\""));
        assert!(
            m.starts_with("/etc/retentiond/retentiond.toml:5:11: zone \"a\": max_age:"),
            "{m}"
        );
        assert!(m.contains("not a duration"), "{m}");
        let m = err(&ZONE.replace("\"1d\"", "\"3d\""));
        assert!(
            m.contains(":4:11: zone \"a\": min_age: min_age 3d is longer than max_age 2d"),
            "{m}"
        );
        let m = err(&format!(
            "[capacity]\nhigh_watermark = \"80%\"\nlow_watermark = \"85%\"\n{ZONE}"
        ));
        assert!(
            m.contains(":3:17: capacity.low_watermark: low watermark 85% must be below"),
            "{m}"
        );
        let m = err(&format!("[capacity]\nhigh_watermark = \"80\"\n{ZONE}"));
        assert!(m.contains(":2:18: capacity.high_watermark:"), "{m}");
        let m = err(&format!("[daemon]\nsweep_interval = 5\n{ZONE}"));
        assert!(m.contains(":2:18"), "{m}");
    }

    #[test]
    fn rejects_dangerous_or_overlapping_roots() {
        for (root, what) in [
            ("/", "system directory"),
            ("/etc/cams", "system directory"),
            ("/usr", "system directory"),
            ("/var", "system directory"),
            ("/home", "system directory"),
            ("/root", "system directory"),
            ("/boot/x", "system directory"),
            ("/var/lib", "system directory"),
            ("relative/path", "not an absolute path"),
            ("/srv/../etc", "contains \"..\""),
        ] {
            let m = err(&ZONE.replace("/srv/a", root));
            assert!(m.contains(what), "{root}: {m}");
            assert!(m.contains("zone \"a\": paths"), "{m}");
        }
        let m = err(&format!("[daemon]\nstate_dir = \"/srv/a/state\"\n{ZONE}"));
        assert!(m.contains("contains the state directory"), "{m}");
        let m = err(&format!(
            "{ZONE}{}",
            ZONE.replace("name = \"a\"", "name = \"b\"")
                .replace("/srv/a", "/srv/a/sub")
        ));
        assert!(m.contains("/srv/a/sub is inside /srv/a of zone \"a\""), "{m}");
        let m = err(&format!("{ZONE}{}", ZONE));
        assert!(m.contains("defined twice"), "{m}");
        // Under /var and /tmp is fine, as recorders and tests put roots there.
        parse(&ZONE.replace("/srv/a", "/var/lib/frigate/recordings")).unwrap();
        parse(&ZONE.replace("/srv/a", "/tmp/x")).unwrap();
    }

    #[test]
    fn stall_after_and_source_depth_come_from_the_layout_or_the_zone() {
        let frigate = ZONE.replace("max_age = \"2d\"", "max_age = \"2d\"\nlayout = \"frigate\"");
        let p = parse(&frigate).unwrap();
        assert_eq!(
            (p.zones[0].source_depth, p.zones[0].stall_after),
            (3, Some(Age::from_secs(120)))
        );
        assert_eq!(p.forecast_alarm, Some(Age::from_secs(3 * 86_400)));
        // Without a layout: the whole zone, off.
        let p = parse(ZONE).unwrap();
        assert_eq!((p.zones[0].source_depth, p.zones[0].stall_after), (0, None));
        let p = parse(&format!("{frigate}stall_after = \"off\"\nsource_depth = 2\n")).unwrap();
        assert_eq!((p.zones[0].source_depth, p.zones[0].stall_after), (2, None));
        let p = parse(&format!(
            "[capacity]\nforecast_alarm = \"off\"\n{ZONE}stall_after = \"90s\"\n"
        ))
        .unwrap();
        assert_eq!(
            (p.forecast_alarm, p.zones[0].stall_after),
            (None, Some(Age::from_secs(90)))
        );
        // The effective policy says so, and parses back.
        assert!(p.describe().contains("forecast_alarm = \"off\""), "{}", p.describe());
        assert!(p.describe().contains("stall_after = \"1m 30s\""), "{}", p.describe());
        let again = parse(&p.describe()).unwrap();
        assert_eq!(again.zones[0].stall_after, Some(Age::from_secs(90)));
        // Errors name file:line:column and the key.
        let m = err(&format!("{ZONE}stall_after = \"soon\"\n"));
        assert!(
            m.contains(":6:15: zone \"a\": stall_after:") && m.contains("or \"off\""),
            "{m}"
        );
        let m = err(&format!("{ZONE}stall_after = \"0s\"\n"));
        assert!(
            m.contains(":6:15: zone \"a\": stall_after:") && m.contains("at least"),
            "{m}"
        );
        let m = err(&format!("{ZONE}source_depth = 33\n"));
        assert!(m.contains(":6:16: zone \"a\": source_depth: must be between 0"), "{m}");
        let m = err(&format!("[capacity]\nforecast_alarm = \"3\"\n{ZONE}"));
        assert!(m.contains(":2:18: capacity.forecast_alarm:"), "{m}");
    }

    #[test]
    fn alarm_hooks_default_per_kind_and_off() {
        let p = parse(ZONE).unwrap();
        assert_eq!(p.alarms, AlarmCommands::default());
        assert_eq!(p.alarms.command(AlarmKind::RootUnavailable), None);
        let t = format!(
            "[alarms]\ncommand = \"/hooks/alarm-mail ops@example.com\"\ntimeout = \"10s\"\n\
             [alarms.command_for]\n\"root-unavailable\" = \"/hooks/alarm-mqtt\"\nclock-suspect = \"\"\n{ZONE}"
        );
        let p = parse(&t).unwrap();
        assert_eq!(p.alarms.timeout.secs(), 10);
        assert_eq!(
            p.alarms.command(AlarmKind::RootUnavailable),
            Some(("/hooks/alarm-mqtt", "alarms.command_for.root-unavailable".to_string()))
        );
        assert_eq!(p.alarms.command(AlarmKind::ClockSuspect), None);
        assert_eq!(
            p.alarms.command(AlarmKind::HookFailed),
            Some(("/hooks/alarm-mail ops@example.com", "alarms.command".to_string()))
        );
        // The effective policy names all of it and parses back to it.
        let d = p.describe();
        assert!(
            d.contains("[alarms.command_for]\n\"root-unavailable\" = \"/hooks/alarm-mqtt\"\n"),
            "{d}"
        );
        assert_eq!(parse(&d).unwrap().alarms, p.alarms);
        assert_eq!(
            parse(&parse(ZONE).unwrap().describe()).unwrap().alarms,
            AlarmCommands::default()
        );
        // A kind that does not exist names its line and key.
        let m = err(&format!(
            "[alarms]\n[alarms.command_for]\nrecording-stale = \"x\"\n{ZONE}"
        ));
        assert!(
            m.contains(":3:19: alarms.command_for.recording-stale: \"recording-stale\" is not an alarm kind: use one of capacity-unrelieved,"),
            "{m}"
        );
        let m = err(&format!("[alarms]\ncommand = \" \"\n{ZONE}"));
        assert!(m.contains(":2:11: alarms.command: empty command"), "{m}");
        let m = err(&format!("[alarms]\ntimeout = \"0s\"\n{ZONE}"));
        assert!(m.contains(":2:11: alarms.timeout: must be at least 1s"), "{m}");
        let m = err(&format!("[alarms]\nrecipient = \"x\"\n{ZONE}"));
        assert!(m.contains(":2:1: recipient: unknown field"), "{m}");
    }

    #[test]
    fn requires_floor_and_ceiling() {
        let m = err("[[zone]]\nname = \"a\"\npaths = [\"/srv/a\"]\nmax_age = \"2d\"\n");
        assert!(m.contains(":1:1: zone \"a\": min_age: missing"), "{m}");
        let m = err("[daemon]\n");
        assert!(m.contains("no [[zone]]"), "{m}");
        let m = err(&ZONE.replace("max_age = \"2d\"", "max_age = \"2d\"\nwhen_full = \"panic\""));
        assert!(m.contains("when_full"), "{m}");
    }
}
