//! Cases: a data subject's request (access or erasure) or an investigation,
//! with its reference, who asked, the recordings it concerns, a due date
//! and, once closed, its outcome.
//!
//! A case's recordings are frozen by the hold opened with it (its `hold`),
//! so the footage is not overwritten while the request is handled; closing
//! records the outcome and releases or keeps that hold.
//!
//! This module is pure: it says what a case is, when it is overdue, and the
//! alarm it raises. The durable store is the hold store's
//! ([`crate::state::holdstore`]); the requests live in [`crate::ops`].

use serde::{Deserialize, Serialize};

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::holds::HoldId;
use crate::core::units::{Age, Timestamp};

/// How long a case has by default: one month, the GDPR's answer time
/// (Art. 12(3)), counted as 30 days.
pub const DEFAULT_DUE: Age = Age(std::time::Duration::from_secs(30 * 86_400));

/// What a case is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseKind {
    /// A data subject asks for their recordings (GDPR Art. 15).
    Access,
    /// A data subject asks for their recordings to be erased (Art. 17).
    Erasure,
    /// An investigation (police, insurer, internal).
    Investigation,
}

impl CaseKind {
    /// Every kind.
    pub const ALL: [CaseKind; 3] = [CaseKind::Access, CaseKind::Erasure, CaseKind::Investigation];

    /// Its code.
    pub const fn code(self) -> &'static str {
        match self {
            CaseKind::Access => "access",
            CaseKind::Erasure => "erasure",
            CaseKind::Investigation => "investigation",
        }
    }

    /// The kind with this code.
    pub fn from_code(s: &str) -> Option<CaseKind> {
        CaseKind::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The recordings were disclosed (to whom: [`Closure::to`]).
    Disclosed,
    /// The recordings were erased.
    Erased,
    /// The request was refused (why: [`Closure::reason`]).
    Refused,
    /// Nothing was found, or the matter ended without action.
    NoAction,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 4] = [Outcome::Disclosed, Outcome::Erased, Outcome::Refused, Outcome::NoAction];

    /// Its code.
    pub const fn code(self) -> &'static str {
        match self {
            Outcome::Disclosed => "disclosed",
            Outcome::Erased => "erased",
            Outcome::Refused => "refused",
            Outcome::NoAction => "no-action",
        }
    }

    /// The outcome with this code.
    pub fn from_code(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.code() == s)
    }
}

/// A case's closing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    /// Who closed it.
    pub by: String,
    /// Their uid.
    pub uid: u32,
    /// When.
    pub at: Timestamp,
    /// How it ended.
    pub outcome: Outcome,
    /// Disclosed to whom (with `disclosed`).
    pub to: Option<String>,
    /// Why / what was done.
    pub reason: String,
    /// The case's hold was kept in force.
    pub hold_kept: bool,
}

/// One case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Its reference (unique in the store), e.g. a ticket or file number.
    pub reference: String,
    /// What it is.
    pub kind: CaseKind,
    /// Who asked (the data subject, a police force), as told.
    pub requested_by: String,
    /// What is asked, in words (the description of the person, the event).
    pub reason: String,
    /// The hold freezing its recordings (its scope is the case's).
    pub hold: Option<HoldId>,
    /// Who opened it.
    pub opened_by: String,
    /// Their uid.
    pub opened_uid: u32,
    /// When.
    pub opened_at: Timestamp,
    /// When the answer is due.
    pub due: Timestamp,
    /// Set once closed.
    pub closed: Option<Closure>,
}

impl Case {
    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Whether it is open past its due date at `now`.
    pub fn overdue_at(&self, now: Timestamp) -> bool {
        self.is_open() && now > self.due
    }

    /// Its state at `now`: open, overdue or closed.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match (&self.closed, self.overdue_at(now)) {
            (Some(_), _) => "closed",
            (None, true) => "overdue",
            (None, false) => "open",
        }
    }
}

/// Checks a case reference: non-empty, printable, no '/' (it names files
/// and alarm subjects), at most 200 bytes.
pub fn check_reference(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("must not be empty".into());
    }
    if r.len() > 200 {
        return Err("longer than 200 bytes".into());
    }
    if r.chars().any(|c| c.is_control() || c == '/') {
        return Err("contains a control character or '/'".into());
    }
    Ok(())
}

/// The `case-overdue` alarms at `now`: one per open case past its due date.
pub fn overdue_alarms<'a>(cases: impl IntoIterator<Item = &'a Case>, now: Timestamp) -> Vec<Alarm> {
    cases
        .into_iter()
        .filter(|c| c.overdue_at(now))
        .map(|c| {
            Alarm::new(
                AlarmKind::CaseOverdue,
                &c.reference,
                format!(
                    "case {} ({} request by {}) was due {} UTC, {} ago; answer it and close it with retentionctl case close",
                    c.reference,
                    c.kind.code(),
                    c.requested_by,
                    c.due.short(),
                    Age::from_secs((now.0 - c.due.0).max(0) as u64)
                ),
            )
        })
        .collect()
}

/// (open, overdue) counts at `now`.
pub fn counts<'a>(cases: impl IntoIterator<Item = &'a Case>, now: Timestamp) -> (u64, u64) {
    cases.into_iter().fold((0, 0), |(o, d), c| {
        (o + u64::from(c.is_open()), d + u64::from(c.overdue_at(now)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(due: i64) -> Case {
        Case {
            reference: "DSR-1".into(),
            kind: CaseKind::Access,
            requested_by: "J. Doe".into(),
            reason: "own footage".into(),
            hold: Some(HoldId(3)),
            opened_by: "root".into(),
            opened_uid: 0,
            opened_at: Timestamp(0),
            due: Timestamp(due),
            closed: None,
        }
    }

    #[test]
    fn overdue_only_while_open_and_past_due() {
        let mut c = case(100);
        assert_eq!(c.state(Timestamp(100)), "open");
        assert_eq!(c.state(Timestamp(101)), "overdue");
        let a = overdue_alarms([&c], Timestamp(101 + 86_400));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, AlarmKind::CaseOverdue);
        assert_eq!(a[0].subject, "DSR-1");
        assert!(a[0].text.contains("1d 1s ago"), "{}", a[0].text);
        c.closed = Some(Closure {
            by: "root".into(),
            uid: 0,
            at: Timestamp(200),
            outcome: Outcome::Disclosed,
            to: Some("J. Doe".into()),
            reason: "sent".into(),
            hold_kept: false,
        });
        assert_eq!(c.state(Timestamp(300)), "closed");
        assert!(overdue_alarms([&c], Timestamp(300)).is_empty());
        assert_eq!(counts([&c, &case(100)], Timestamp(300)), (1, 1));
    }

    #[test]
    fn references_are_checked() {
        assert!(check_reference("DSR-2026-014").is_ok());
        for bad in ["", "a/b", "x\ny", &"x".repeat(201)] {
            assert!(check_reference(bad).is_err(), "{bad:?}");
        }
    }
}
