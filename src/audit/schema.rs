//! The audit log's schema: every record's action, every alarm kind, with
//! their codes in one place. Writers name records by [`Action`], readers
//! match on it, and `tests/docs_in_sync.rs` checks the manual pages against
//! [`Action::ALL`] and [`crate::core::alarm::AlarmKind::ALL`].

use std::fmt;

/// What a record says happened (its `action` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// A policy was loaded (at start and on reload), with its digest.
    PolicyLoad,
    /// A recording is about to be deleted, and why (written ahead).
    Delete,
    /// A deletion batch's outcome: deleted, vanished, changed, failed.
    BatchDone,
    /// A batch a crash left open, closed at the next start.
    Recovered,
    /// A torn tail cut off the log at open.
    Repair,
    /// The live file ends here; the next one continues the chain.
    Rotate,
    /// The first record of a live file after a rotation.
    Continue,
    /// An alarm raised or cleared.
    Alarm,
    /// A hold placed.
    HoldAdd,
    /// A hold's expiry changed.
    HoldExtend,
    /// A hold released.
    HoldRelease,
    /// A hold's expiry passed.
    HoldLapse,
    /// A supervisor's erasure request.
    EraseRequest,
    /// A `find` of recordings by range.
    Find,
    /// A hold's recordings handed out for export.
    Export,
    /// An export's outcome, as the client reports it.
    ExportDone,
    /// Hourly retention figures per zone.
    Sample,
    /// A supervisor accepted deletions the guard held back.
    Confirm,
}

impl Action {
    /// Every action, in the order the manual lists them.
    pub const ALL: [Action; 18] = [
        Action::PolicyLoad,
        Action::Delete,
        Action::BatchDone,
        Action::Recovered,
        Action::Repair,
        Action::Rotate,
        Action::Continue,
        Action::Alarm,
        Action::HoldAdd,
        Action::HoldExtend,
        Action::HoldRelease,
        Action::HoldLapse,
        Action::EraseRequest,
        Action::Find,
        Action::Export,
        Action::ExportDone,
        Action::Sample,
        Action::Confirm,
    ];

    /// Its code in the log.
    pub const fn code(self) -> &'static str {
        match self {
            Action::PolicyLoad => "policy-load",
            Action::Delete => "delete",
            Action::BatchDone => "batch-done",
            Action::Recovered => "recovered",
            Action::Repair => "repair",
            Action::Rotate => "rotate",
            Action::Continue => "continue",
            Action::Alarm => "alarm",
            Action::HoldAdd => "hold-add",
            Action::HoldExtend => "hold-extend",
            Action::HoldRelease => "hold-release",
            Action::HoldLapse => "hold-lapse",
            Action::EraseRequest => "erase-request",
            Action::Find => "find",
            Action::Export => "export",
            Action::ExportDone => "export-done",
            Action::Sample => "sample",
            Action::Confirm => "confirm",
        }
    }

    /// The action with this code.
    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl PartialEq<Action> for str {
    fn eq(&self, a: &Action) -> bool {
        self == a.code()
    }
}

impl PartialEq<Action> for String {
    fn eq(&self, a: &Action) -> bool {
        self == a.code()
    }
}

impl PartialEq<Action> for serde_json::Value {
    fn eq(&self, a: &Action) -> bool {
        self.as_str() == Some(a.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_code(a.code()), Some(a));
        }
        let mut codes: Vec<&str> = Action::ALL.iter().map(|a| a.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Action::ALL.len());
    }
}
