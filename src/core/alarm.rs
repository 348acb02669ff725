//! Every alarm kind, with its code in one place (the journal's
//! `RETENTION_ALARM`, the audit log's `alarm` records, `status`, metrics).

use std::fmt;

/// What an alarm is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmKind {
    /// A filesystem stays above its high watermark: floors or holds protect the rest.
    CapacityUnrelieved,
    /// A zone stays above its max_bytes.
    QuotaUnrelieved,
    /// The hold store cannot be read, or a hold names a zone the policy lacks: nothing is deleted.
    HoldsUnavailable,
    /// The audit log cannot be written: nothing is deleted.
    AuditUnwritable,
    /// A zone root cannot be read, or is not the filesystem it was.
    RootUnavailable,
    /// The mass-deletion guard caps a surge of deletions for age.
    MassDeletion,
    /// The wall clock is suspect; deletions for age are capped.
    ClockSuspect,
    /// Unlinks failed (permissions, read-only, immutable).
    DeleteFailed,
    /// What is on disk does not look like the zone's layout preset.
    LayoutMismatch,
    /// A zone's after_delete hook failed or timed out.
    HookFailed,
    /// A case (a data subject's request, an investigation) is open past its due date.
    CaseOverdue,
    /// A recording source (a camera, a call queue) has recorded nothing for
    /// longer than its zone's `stall_after`.
    RecordingStalled,
    /// At the current recording rate, a filesystem can keep its floors for
    /// fewer days than `[capacity] forecast_alarm`.
    CapacityForecast,
}

impl AlarmKind {
    /// Every kind, in the order the manual lists them.
    pub const ALL: [AlarmKind; 13] = [
        AlarmKind::CapacityUnrelieved,
        AlarmKind::QuotaUnrelieved,
        AlarmKind::HoldsUnavailable,
        AlarmKind::AuditUnwritable,
        AlarmKind::RootUnavailable,
        AlarmKind::MassDeletion,
        AlarmKind::ClockSuspect,
        AlarmKind::DeleteFailed,
        AlarmKind::LayoutMismatch,
        AlarmKind::HookFailed,
        AlarmKind::CaseOverdue,
        AlarmKind::RecordingStalled,
        AlarmKind::CapacityForecast,
    ];

    /// Its code.
    pub const fn code(self) -> &'static str {
        match self {
            AlarmKind::CapacityUnrelieved => "capacity-unrelieved",
            AlarmKind::QuotaUnrelieved => "quota-unrelieved",
            AlarmKind::HoldsUnavailable => "holds-unavailable",
            AlarmKind::AuditUnwritable => "audit-unwritable",
            AlarmKind::RootUnavailable => "root-unavailable",
            AlarmKind::MassDeletion => "mass-deletion",
            AlarmKind::ClockSuspect => "clock-suspect",
            AlarmKind::DeleteFailed => "delete-failed",
            AlarmKind::LayoutMismatch => "layout-mismatch",
            AlarmKind::HookFailed => "hook-failed",
            AlarmKind::CaseOverdue => "case-overdue",
            AlarmKind::RecordingStalled => "recording-stalled",
            AlarmKind::CapacityForecast => "capacity-forecast",
        }
    }
}

/// An alarm raised: its kind, what it concerns, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    /// What it is about.
    pub kind: AlarmKind,
    /// What it concerns: a mount point, a zone name, a file.
    pub subject: String,
    /// The full explanation.
    pub text: String,
}

impl Alarm {
    /// An alarm of `kind` about `subject`.
    pub fn new(kind: AlarmKind, subject: impl Into<String>, text: impl Into<String>) -> Alarm {
        Alarm {
            kind,
            subject: subject.into(),
            text: text.into(),
        }
    }
}

impl PartialEq<&str> for AlarmKind {
    fn eq(&self, code: &&str) -> bool {
        self.code() == *code
    }
}

impl serde::Serialize for AlarmKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
