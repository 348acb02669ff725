//! Command-line definitions of both binaries, in one place so that help,
//! man pages and shell completions come from one source.
//!
//! Exit statuses (both binaries): 0 success; 1 failure (an invalid policy,
//! a broken audit chain, a sweep that could not complete); 2 a usage error.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::policy::DEFAULT_PATH;

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
    about = "Inspect and steer retentiond: the plan, the audit log",
    after_help = "Exit status: 0 success, 1 failure (for `audit verify`: the chain is broken), 2 usage error.\nSee retentionctl(1)."
)]
pub struct CtlArgs {
    /// The policy file.
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_PATH, global = true)]
    pub config: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// retentionctl subcommands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show what the next sweep would delete, and why (nothing is deleted).
    Plan(PlanArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `retentionctl plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only the totals per zone and reason, not every file.
    #[arg(long)]
    pub summary: bool,
}

/// `retentionctl audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
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
