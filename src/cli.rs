//! Command-line definitions of both binaries, in one place so that help,
//! man pages and shell completions come from one source.
//!
//! Exit statuses (both binaries): 0 success; 1 failure (an invalid policy,
//! a broken audit chain, a sweep that could not complete); 2 a usage error.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::core::policy::DEFAULT_PATH;
use crate::core::units::{Age, Timestamp};

/// Exit status of a failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error (clap's own).
pub const EXIT_USAGE: u8 = 2;

/// retentiond: enforces the retention policy of recordings.
#[derive(Debug, Parser)]
#[command(
    name = "retentiond",
    version,
    about = "Deletes recordings exactly as the retention policy says, with a tamper-evident record of why",
    long_about = "retentiond enforces the retention policy of recordings on an NVR box: every \
sweep deletes what is older than each zone's max_age, and, when a disk is above its high \
watermark, the oldest footage past each zone's floor (min_age) until the disk is back at its \
low watermark. Footage under a legal hold is never deleted. Every deletion is recorded, with \
its reason, in a hash-chained audit log before the file is unlinked.",
    after_help = "Signals: SIGTERM/SIGINT finish the current deletion batch and exit 0 (a second one exits at once); \
SIGHUP re-reads the policy (an invalid one is rejected and the old one stays in force).\n\
Exit status: 0 success, 1 failure (invalid policy, sweep failed), 2 usage error.\n\
See retentiond(8) and retentiond.toml(5)."
)]
pub struct DaemonArgs {
    /// The policy file.
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// Run one sweep and exit.
    #[arg(long)]
    pub once: bool,
    /// Print what would be deleted and why; delete nothing, write nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Validate the policy, print the effective policy (defaults filled in) and exit 0, or the error and exit 1.
    #[arg(long, short = 't')]
    pub check_config: bool,
    /// Build a synthetic recording tree in a temporary directory, sweep it under the example policy, and show what was deleted and why.
    #[arg(long, conflicts_with_all = ["once", "dry_run", "check_config"])]
    pub demo: bool,
    /// More detail in the log.
    #[arg(short, long)]
    pub verbose: bool,
}

/// retentionctl: the operator's and auditor's tool.
#[derive(Debug, Parser)]
#[command(
    name = "retentionctl",
    version,
    about = "Inspect and steer retentiond: legal holds, cases, status, find, play and copy, erase, export, the audit log, reports",
    long_about = "retentionctl talks to the running retentiond over its control socket; the daemon \
identifies you by your Unix user and allows what your groups allow (roles: viewers, operators, \
supervisors; see retentiond.toml(5) [roles]); opening recordings (cat, copy) needs each zone's \
access group. Every find, erase, export, cat, copy and case is recorded in the audit log with your \
user and reason. When the daemon is not running, root can still change holds and cases, find and \
erase (under the daemon's locks, audited the same way), and status, explain, plan, case list, audit \
show, audit access and report are served from the state directory to whoever can read it; export, \
cat, copy and confirm need the daemon.",
    after_help = "Times: RFC 3339 (2026-11-20T14:00:00+01:00) or local time \"2026-11-20 14:00\" (or a date, meaning its midnight); shown in local time with the offset (--utc: in UTC); JSON carries RFC 3339 UTC.\n\
Exit status: 0 success, 1 failure (refused, permission denied, a broken audit chain), 2 usage error.\nSee retentionctl(1)."
)]
pub struct CtlArgs {
    /// The policy file.
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_PATH, global = true)]
    pub config: PathBuf,
    /// The daemon's control socket (default: the policy's daemon.control_socket).
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show times in UTC (default: the box's local time zone; both with their offset).
    #[arg(long, global = true)]
    pub utc: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// retentionctl subcommands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show what the next sweep would delete, and why (nothing is deleted).
    Plan(PlanArgs),
    /// Legal holds: freeze footage so that no sweep deletes it.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// The audit log: query it, verify its chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Per zone: recordings, size, oldest and newest, retention achieved
    /// against min/max, held footage; per filesystem: usage against the
    /// watermarks, alarms, how many days of footage fit; the last sweep.
    Status,
    /// List the recordings of a zone in a time range (path, time, size,
    /// held by), for a data-subject access request or an investigation.
    /// The request is audited with your user and --reason.
    #[command(after_help = "Example: retentionctl find --zone cctv --match '*/cam07/*' \\\n  \
--from '2026-11-03 08:00' --to '2026-11-03 09:00' --reason 'access request DSAR-2026-031'")]
    Find(RangeArgs),
    /// Delete the recordings of a zone in a time range ahead of their time
    /// (a right-to-erasure request, footage recorded by mistake). Needs group
    /// supervisors. Refused, listing the holds, if any recording in range is
    /// held; each deletion is audited with reason `erasure`, your user and
    /// --reason.
    Erase(RangeArgs),
    /// Why a recording is still here or when it will go (zone, age against
    /// floor and ceiling, holds, capacity queue, the next sweep); for a path
    /// that is gone, the audit record that removed it.
    Explain {
        /// The recording's absolute path.
        path: PathBuf,
    },
    /// Copy a hold's recordings to separate media (a mounted USB disk) with
    /// a manifest (SHA-256 per file, the hold, who, when, why) and its
    /// digest, verified by re-reading the copy; audited. Needs group
    /// supervisors. `export verify DIR` checks a handed-over copy.
    #[command(args_conflicts_with_subcommands = true)]
    #[command(
        after_help = "Example: retentionctl export --hold 7 --to /media/usb0/POL-2026-1142 \\\n  \
--reason 'handed to the police, officer 4711'\n         retentionctl export verify /media/usb0/POL-2026-1142"
    )]
    Export(ExportArgs),
    /// The compliance report: per zone and day, the retention achieved
    /// against min/max, deletions by reason, holds placed and released;
    /// the alarms, holds and cases. From the audit log, so it covers past
    /// days too. `--format html` draws it as one self-contained page.
    Report(ReportArgs),
    /// Play recordings: write them to stdout (pipe into a player), after
    /// the daemon records who, why and which files. A path inside a unit (a
    /// frame of an event, one leg of a call) plays the whole unit. Needs
    /// the zone's access_group (retentiond.toml(5)).
    #[command(
        after_help = "Example: retentionctl cat --reason 'complaint 2026-17: caller asks what was said' \\\n  \
/var/spool/asterisk/monitor/2026/11/20/in-0611223344-20261120-141502-1732108502.17.wav | mpv -"
    )]
    Cat(AccessArgs),
    /// Copy recordings to other media (a USB disk for a supervisor or the
    /// data subject) with a manifest (SHA-256 per file, who, when, why),
    /// verified by re-reading the copy; recorded as saved to that place.
    /// Needs the zone's access_group.
    #[command(after_help = "Example: retentionctl copy --to /media/usb0/DSR-2026-014 \\\n  \
--reason 'access request DSR-2026-014, disclosed to the data subject' /srv/rec/2026-11-20/14/cam07/05.00.mp4")]
    Copy(CopyArgs),
    /// Cases with deadlines: a data subject's access or erasure request, or
    /// an investigation; opening one holds its footage, closing it records
    /// the outcome.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Accept the deletions the mass-deletion guard holds back (alarm
    /// `mass-deletion` or `clock-suspect`): the next sweep deletes them.
    /// Needs group supervisors; audited with your user and --reason.
    #[command(
        after_help = "Example: retentionctl confirm --zone cctv --reason 'max_age shortened to 14d, DPO ticket 2026-88'"
    )]
    Confirm(ConfirmArgs),
    /// Alarms: acknowledge one whose cause is intended (a camera retired on
    /// purpose).
    #[command(subcommand)]
    Alarm(AlarmCommand),
}

/// `retentionctl alarm`.
#[derive(Debug, Subcommand)]
pub enum AlarmCommand {
    /// Acknowledge a `recording-stalled` alarm: the source (a camera
    /// retired on purpose) raises nothing until it records again. Needs
    /// group supervisors; audited with your user and --reason; kept in the
    /// state directory across restarts.
    #[command(
        after_help = "Example: retentionctl alarm ack recording-stalled cctv/cam07 --reason 'camera removed, ticket 2026-112'"
    )]
    Ack(AlarmAckArgs),
}

/// `retentionctl alarm ack`.
#[derive(Debug, Args)]
pub struct AlarmAckArgs {
    /// The alarm kind (only recording-stalled can be acknowledged).
    #[arg(value_parser = ["recording-stalled"])]
    pub kind: String,
    /// Its subject as status shows it: ZONE/SOURCE ("cctv/cam07"), or
    /// ZONE where the whole zone is one source.
    pub subject: String,
    /// Why (recorded in the audit log; required).
    #[arg(long)]
    pub reason: String,
}

/// `retentionctl cat`.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Why you open them (recorded in the audit log; required).
    #[arg(long)]
    pub reason: String,
    /// The case this serves (recorded).
    #[arg(long, value_name = "REF")]
    pub case: Option<String>,
    /// The recordings (absolute paths, or relative to the current directory).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// `retentionctl copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// An existing, empty directory on the medium.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Why, and what it is for (recorded in the audit log and the manifest).
    #[arg(long)]
    pub reason: String,
    /// The case this serves (recorded).
    #[arg(long, value_name = "REF")]
    pub case: Option<String>,
    /// The recordings (absolute paths, or relative to the current directory).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// `retentionctl case …`.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Open a case: its reference, who asked, the recordings it concerns
    /// (zone, --match, time range) and when it is due (default a month).
    /// Places a hold on its recordings until it is closed. Needs group
    /// operators.
    #[command(
        after_help = "Example: retentionctl case open DSR-2026-014 --kind access --requested-by 'J. Doe (letter of 2 Dec)' \\\n  \
--zone cctv --match '*/cam07/*' --from '2026-11-20 14:00' --to '2026-11-20 15:00' \\\n  \
--reason 'wants the footage of herself at the entrance'"
    )]
    Open(CaseOpenArgs),
    /// Close a case with its outcome: disclosed (--to whom), erased (its
    /// recordings are erased once its hold is released), refused (--reason
    /// why) or no-action. Releases its hold unless --keep-hold. Needs group
    /// supervisors.
    Close(CaseCloseArgs),
    /// List open cases (with --all also closed ones): due dates, overdue, holds.
    List {
        /// Include closed cases.
        #[arg(long)]
        all: bool,
    },
}

/// `retentionctl case open`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["zone", "all_zones"])))]
pub struct CaseOpenArgs {
    /// The case's reference (unique; no '/').
    #[arg(value_name = "REF")]
    pub reference: String,
    /// What it is.
    #[arg(long, value_enum)]
    pub kind: CaseKindArg,
    /// Who asked (the data subject, a police force), as they named themselves.
    #[arg(long, value_name = "WHO")]
    pub requested_by: String,
    /// What is asked (recorded).
    #[arg(long)]
    pub reason: String,
    /// The zone whose footage it concerns.
    #[arg(long)]
    pub zone: Option<String>,
    /// Every zone.
    #[arg(long)]
    pub all_zones: bool,
    /// Only paths (relative to the zone root) matching this glob, e.g. '*/cam07/*'.
    #[arg(long = "match", value_name = "GLOB")]
    pub glob: Option<String>,
    /// The recording-time range it concerns.
    #[command(flatten)]
    pub range: TimeRange,
    /// When the answer is due (default: 30 days from now).
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "due_in")]
    pub due: Option<Timestamp>,
    /// Due this long from now ("30d", "2w").
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub due_in: Option<Age>,
}

/// Kinds of case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CaseKindArg {
    /// A data subject asks for their recordings.
    Access,
    /// A data subject asks for their recordings to be erased.
    Erasure,
    /// An investigation (police, insurer, internal).
    Investigation,
}

/// Outcomes of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeArg {
    /// Disclosed (name to whom with --to).
    Disclosed,
    /// Erased (its recordings are erased now).
    Erased,
    /// Refused (say why with --reason).
    Refused,
    /// Nothing found, or ended without action.
    NoAction,
}

/// `retentionctl case close`.
#[derive(Debug, Args)]
pub struct CaseCloseArgs {
    /// The case's reference.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// How it ended.
    #[arg(long, value_enum)]
    pub outcome: OutcomeArg,
    /// Disclosed to whom (required with --outcome disclosed).
    #[arg(long, value_name = "WHOM")]
    pub to: Option<String>,
    /// Why, what was done (recorded).
    #[arg(long)]
    pub reason: String,
    /// Keep the case's hold in force (e.g. a complaint is pending).
    #[arg(long)]
    pub keep_hold: bool,
}

/// `retentionctl audit access`.
#[derive(Debug, Args)]
pub struct AuditAccessArgs {
    /// Recordings of this zone.
    #[arg(long)]
    pub zone: Option<String>,
    /// Recordings made at or after this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Recordings made at or before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<Timestamp>,
    /// Recordings whose absolute path matches this glob ('*' also matches '/'), e.g. '*/cam07/*'.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// Only what this user did.
    #[arg(long)]
    pub user: Option<String>,
    /// Records since this long ago ("30d") or this time.
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_since)]
    pub since: Option<Timestamp>,
    /// Records before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// Leave out the deletions.
    #[arg(long)]
    pub no_deletions: bool,
    /// At most this many rows, the newest (default and maximum 100000).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Output format (--json is the same as --format json).
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,
}

/// Formats of `retentionctl audit access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// An aligned table.
    Text,
    /// JSON.
    Json,
    /// CSV, one row per access.
    Csv,
}

/// `retentionctl confirm`.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Only this zone (default: every zone with a held-back surge).
    #[arg(long)]
    pub zone: Option<String>,
    /// Why these deletions are right (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
}

/// `retentionctl report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period's start: this long ago ("30d") or a time.
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_since, default_value = "30d")]
    pub since: Timestamp,
    /// The period's end (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// Output format (--json is the same as --format json).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// Formats of `retentionctl report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// An aligned table.
    Text,
    /// JSON.
    Json,
    /// CSV, one row per zone and day.
    Csv,
    /// One self-contained HTML page (inline CSS and SVG charts, no scripts,
    /// nothing fetched): redirect it to a file and open it in a browser.
    Html,
}

/// `retentionctl export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Check a copy instead.
    #[command(subcommand)]
    pub verify: Option<ExportCommand>,
    /// The hold whose recordings to export.
    #[arg(long, value_name = "ID")]
    pub hold: Option<u64>,
    /// An existing, empty directory on the export medium.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Why (recorded in the audit log and the manifest; required).
    #[arg(long)]
    pub reason: Option<String>,
}

/// `retentionctl export verify`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Check an export directory against its manifest (every file's
    /// SHA-256, the manifest's own digest, files not listed), and, when the
    /// daemon can be asked, that the audit log recorded that manifest.
    Verify {
        /// The export directory.
        dir: PathBuf,
    },
}

/// A recording-time range: `--from T --to T`, or `--last D` ending now.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("range").required(true).args(["from", "last"])))]
pub struct TimeRange {
    /// Start of the recording-time range (inclusive).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "to")]
    pub from: Option<Timestamp>,
    /// End of the recording-time range (inclusive).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "from")]
    pub to: Option<Timestamp>,
    /// The range ending now, e.g. "2h", "3d".
    #[arg(long, value_name = "DURATION", value_parser = parse_age, conflicts_with_all = ["from", "to"])]
    pub last: Option<Age>,
}

impl TimeRange {
    /// The range as (from, to), `--last` counted back from `now`.
    pub fn resolve(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        match (self.from, self.to, self.last) {
            (Some(f), Some(t), _) => (f, t),
            (_, _, Some(l)) => (now.minus(l), now),
            _ => unreachable!("clap requires --from/--to or --last"),
        }
    }
}

/// The range of `find` and `erase`.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// The zone (see the policy's [[zone]] names).
    #[arg(long)]
    pub zone: String,
    /// Only paths (relative to the zone root) matching this glob, e.g. '*/cam07/*'; '*' also matches '/'.
    #[arg(long = "match", value_name = "GLOB")]
    pub glob: Option<String>,
    /// The recording-time range.
    #[command(flatten)]
    pub range: TimeRange,
    /// Why (recorded in the audit log; required).
    #[arg(long)]
    pub reason: String,
}

/// `retentionctl hold …`.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a hold over a zone (or every zone), an optional path glob and a
    /// recording-time range. Needs group operators. Prints the new hold's id
    /// and what it covers now.
    #[command(after_help = "Example: retentionctl hold add --zone cctv --match '*/cam07/*' \\\n  \
--from '2026-11-20 14:00' --to '2026-11-20 15:00' --case POL-2026-1142 \\\n  \
--reason 'police request: theft at the entrance' --for 90d")]
    Add(HoldAddArgs),
    /// List holds: active ones, or with --all also released and lapsed ones.
    List {
        /// Include released and lapsed holds.
        #[arg(long)]
        all: bool,
    },
    /// Show one hold: scope, who placed it, when and why, and the recordings and bytes it covers now.
    Show {
        /// The hold's id.
        id: u64,
    },
    /// Release a hold: its footage becomes ordinary again (deleted by later
    /// sweeps if past its time). Needs group supervisors.
    Release {
        /// The hold's id.
        id: u64,
        /// Why it is released (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Change when a hold lapses. Needs group operators.
    #[command(group(ArgGroup::new("expiry").required(true).args(["expires", "for_", "indefinite"])))]
    Extend {
        /// The hold's id.
        id: u64,
        /// The new expiry time.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        expires: Option<Timestamp>,
        /// The new expiry, counted from now ("90d", "12w").
        #[arg(long = "for", id = "for_", value_name = "DURATION", value_parser = parse_age)]
        for_: Option<Age>,
        /// Never lapse: only a release ends it.
        #[arg(long)]
        indefinite: bool,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// `retentionctl hold add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["zone", "all_zones"])))]
#[command(group(ArgGroup::new("expiry").required(true).args(["expires", "for_", "indefinite"])))]
pub struct HoldAddArgs {
    /// The zone whose footage to hold (see the policy's [[zone]] names).
    #[arg(long)]
    pub zone: Option<String>,
    /// Hold the range in every zone.
    #[arg(long)]
    pub all_zones: bool,
    /// Only paths (relative to the zone root) matching this glob, e.g. '*/cam07/*'; '*' also matches '/'.
    #[arg(long = "match", value_name = "GLOB")]
    pub glob: Option<String>,
    /// The recording-time range.
    #[command(flatten)]
    pub range: TimeRange,
    /// Case reference (police report number, complaint id).
    #[arg(long, value_name = "REF")]
    pub case: String,
    /// Why the footage is held (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    /// When the hold lapses by itself.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub expires: Option<Timestamp>,
    /// Lapse this long from now ("90d", "12w").
    #[arg(long = "for", id = "for_", value_name = "DURATION", value_parser = parse_age)]
    pub for_: Option<Age>,
    /// Never lapse: only a release ends it.
    #[arg(long)]
    pub indefinite: bool,
}

/// Parses a time argument: RFC 3339, or local "YYYY-MM-DD HH:MM[:SS]"
/// (also with 'T'), or a local date (its midnight), or "now".
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
    let t = s.trim();
    if t == "now" {
        return Ok(Timestamp::now());
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(Timestamp(d.timestamp()));
    }
    let local = |n: NaiveDateTime| -> Result<Timestamp, String> {
        Local
            .from_local_datetime(&n)
            .earliest()
            .map(|d| Timestamp(d.timestamp()))
            .ok_or_else(|| format!("{s:?} does not exist in the local time zone (a DST gap)"))
    };
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return local(n);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return local(d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    }
    Err(format!(
        "{s:?} is not a time: write RFC 3339 (2026-11-20T14:00:00+01:00) or local \"2026-11-20 14:00\""
    ))
}

/// `retentionctl audit show`.
#[derive(Debug, Args)]
pub struct AuditShowArgs {
    /// Records since this long ago ("24h", "7d") or this time.
    #[arg(long, value_name = "DURATION|TIME", value_parser = parse_since)]
    pub since: Option<Timestamp>,
    /// Records before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// Only records of this zone.
    #[arg(long)]
    pub zone: Option<String>,
    /// Only deletions for this reason (max-age, capacity, erasure, ...).
    #[arg(long)]
    pub reason: Option<String>,
    /// Only this action (delete, hold-add, erase-request, find, policy-load, alarm, ...).
    #[arg(long)]
    pub action: Option<String>,
    /// Only records whose path matches this glob ('*' also matches '/').
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// At most this many records, the newest (default and maximum 1000).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// Parses `--since`: a duration back from now ("24h") or a time.
pub fn parse_since(s: &str) -> Result<Timestamp, String> {
    match Age::parse(s) {
        Ok(a) => Ok(Timestamp::now().minus(a)),
        Err(_) => parse_time(s).map_err(|_| format!("{s:?} is neither a duration (\"24h\", \"7d\") nor a time")),
    }
}

/// Parses a duration argument ("2h", "90d", "12w").
pub fn parse_age(s: &str) -> Result<Age, String> {
    Age::parse(s)
}

/// `retentionctl plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only the totals per zone and reason, not every file.
    #[arg(long, conflicts_with_all = ["all", "limit"])]
    pub summary: bool,
    /// List every file the next sweep would delete (it streams: any
    /// length costs the daemon no memory).
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// List the first N files the next sweep would delete, in the order it
    /// deletes them.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: u64,
}

/// `retentionctl audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show audit records (every rotated file), newest last; all filters
    /// given must match. Example: why is cam07 footage from 3 November gone?
    /// retentionctl audit show --action delete --path '*/2026-11-03/*/cam07/*'
    Show(AuditShowArgs),
    /// The access log of recordings: who played, copied, found, exported or
    /// erased which recordings, when and why, which cases concerned them,
    /// and which were deleted on what basis. The written answer to a data
    /// subject's request (text, JSON or CSV). Example: retentionctl audit
    /// access --zone cctv --path '*/cam07/*' --from '2026-11-20 14:00' --to '2026-11-20 15:00'
    Access(AuditAccessArgs),
    /// Check the hash chain across all rotated files and the head anchor; report the first broken record.
    Verify {
        /// The live audit log file (default: the policy's daemon.audit_log).
        #[arg(long, value_name = "PATH")]
        log: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        DaemonArgs::command().debug_assert();
        CtlArgs::command().debug_assert();
    }
}
