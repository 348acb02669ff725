//! Legal holds: which recordings an operator has frozen, and why.
//!
//! A hold's scope is a zone (or every zone), an optional glob over the path
//! relative to the zone root (`*/cam07/*`; `*` crosses '/'), and an
//! inclusive range of recording times. A recording is free only when no
//! *active* hold covers it; inactive (released or lapsed) holds are kept so
//! that later deletion records can cite them.
//!
//! This module is pure: it answers "does this hold cover that file". The
//! durable store and its lock live in [`crate::state::holdstore`].

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::core::units::{Timestamp, ZoneName};

/// A hold's number, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HoldId(pub u64);

impl std::fmt::Display for HoldId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who released a hold, when and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The caller's user name (from the peer credentials).
    pub by: String,
    /// The caller's uid.
    pub uid: u32,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// A change of a hold's expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The caller's user name.
    pub by: String,
    /// The caller's uid.
    pub uid: u32,
    /// When.
    pub at: Timestamp,
    /// The expiry before (None: indefinite).
    pub old: Option<Timestamp>,
    /// The expiry after (None: indefinite).
    pub new: Option<Timestamp>,
    /// Why.
    pub reason: String,
}

/// One legal hold.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// Its number.
    pub id: HoldId,
    /// The zone, or None for every zone.
    pub zone: Option<ZoneName>,
    /// Path glob relative to the zone root; None for every file.
    pub glob: Option<String>,
    /// Earliest recording time covered (inclusive).
    pub from: Timestamp,
    /// Latest recording time covered (inclusive).
    pub to: Timestamp,
    /// Case reference (police report, complaint number).
    pub case: String,
    /// Why it was placed.
    pub reason: String,
    /// Who placed it (user name from peer credentials).
    pub created_by: String,
    /// Their uid.
    pub created_uid: u32,
    /// When.
    pub created_at: Timestamp,
    /// When it lapses by itself; None when explicitly indefinite.
    pub expires: Option<Timestamp>,
    /// Set once released.
    pub released: Option<Release>,
    /// Changes of the expiry, oldest first.
    #[serde(default)]
    pub extensions: Vec<Extension>,
    /// The lapse (expiry reached) has been recorded in the audit log.
    #[serde(default)]
    pub lapse_recorded: bool,
    #[serde(skip)]
    matcher: Option<GlobMatcher>,
}

impl Hold {
    /// A new hold; compiles its glob (error text names the glob).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: HoldId,
        zone: Option<ZoneName>,
        glob: Option<String>,
        from: Timestamp,
        to: Timestamp,
        case: String,
        reason: String,
        created_by: String,
        created_uid: u32,
        created_at: Timestamp,
        expires: Option<Timestamp>,
    ) -> Result<Hold, String> {
        let mut h = Hold {
            id,
            zone,
            glob,
            from,
            to,
            case,
            reason,
            created_by,
            created_uid,
            created_at,
            expires,
            released: None,
            extensions: Vec::new(),
            lapse_recorded: false,
            matcher: None,
        };
        h.compile()?;
        Ok(h)
    }

    /// Compiles the glob after deserialisation.
    pub fn compile(&mut self) -> Result<(), String> {
        self.matcher = self.glob.as_deref().map(compile_glob).transpose()?;
        Ok(())
    }

    /// Whether the hold protects recordings at `now`.
    pub fn active_at(&self, now: Timestamp) -> bool {
        self.released.is_none() && self.expires.is_none_or(|e| now < e)
    }

    /// Whether the hold's scope covers a recording (whatever its state).
    pub fn covers(&self, zone: &ZoneName, rel: &[u8], time: Timestamp) -> bool {
        scope_covers(
            self.zone.as_ref(),
            self.glob.is_some(),
            self.matcher.as_ref(),
            (self.from, self.to),
            zone,
            rel,
            time,
        )
    }

    /// Conservatively, whether the hold might cover any recording of a
    /// directory whose recordings span `[oldest, newest]`.
    pub fn may_cover_range(&self, zone: &ZoneName, oldest: Timestamp, newest: Timestamp) -> bool {
        self.zone.as_ref().is_none_or(|z| z == zone) && oldest <= self.to && newest >= self.from
    }

    /// "hold 7 (case POL-2026-1142)".
    pub fn label(&self) -> String {
        format!("hold {} (case {})", self.id, self.case)
    }
}

/// Every hold known, active or not.
#[derive(Clone, Debug, Default)]
pub struct HoldSet {
    /// In id order.
    pub holds: Vec<Hold>,
}

impl HoldSet {
    /// A set from holds (sorted by id).
    pub fn new(mut holds: Vec<Hold>) -> HoldSet {
        holds.sort_by_key(|h| h.id);
        HoldSet { holds }
    }

    /// The active holds.
    pub fn active(&self, now: Timestamp) -> impl Iterator<Item = &Hold> {
        self.holds.iter().filter(move |h| h.active_at(now))
    }

    /// The lowest-numbered active hold covering a recording.
    pub fn covering(&self, zone: &ZoneName, rel: &[u8], time: Timestamp, now: Timestamp) -> Option<&Hold> {
        self.active(now).find(|h| h.covers(zone, rel, time))
    }

    /// The newest inactive (released or lapsed) hold that covered a recording:
    /// cited by its deletion record.
    pub fn former(&self, zone: &ZoneName, rel: &[u8], time: Timestamp, now: Timestamp) -> Option<&Hold> {
        self.holds
            .iter()
            .rev()
            .find(|h| !h.active_at(now) && h.covers(zone, rel, time))
    }

    /// Whether any active hold might cover a directory's recordings.
    pub fn may_cover_range(&self, zone: &ZoneName, oldest: Timestamp, newest: Timestamp, now: Timestamp) -> bool {
        self.active(now).any(|h| h.may_cover_range(zone, oldest, newest))
    }
}

/// What a hold or a `find`/`erase` scope covers, for the walks that list
/// the recordings it names ([`crate::fs::scan::for_each_covered`]).
pub trait Coverage {
    /// Conservatively, whether it might cover a recording of a directory
    /// whose recordings span `[oldest, newest]`.
    fn may_cover_range(&self, zone: &ZoneName, oldest: Timestamp, newest: Timestamp) -> bool;
    /// Whether it covers the recording `rel` recorded at `time`.
    fn covers(&self, zone: &ZoneName, rel: &[u8], time: Timestamp) -> bool;
}

impl Coverage for Hold {
    fn may_cover_range(&self, zone: &ZoneName, oldest: Timestamp, newest: Timestamp) -> bool {
        Hold::may_cover_range(self, zone, oldest, newest)
    }
    fn covers(&self, zone: &ZoneName, rel: &[u8], time: Timestamp) -> bool {
        Hold::covers(self, zone, rel, time)
    }
}

impl Coverage for Scope {
    fn may_cover_range(&self, zone: &ZoneName, oldest: Timestamp, newest: Timestamp) -> bool {
        Scope::may_cover_range(self, zone, oldest, newest)
    }
    fn covers(&self, zone: &ZoneName, rel: &[u8], time: Timestamp) -> bool {
        Scope::covers(self, zone, rel, time)
    }
}

/// Compiles a `--match` glob: relative to the zone root, `*` also matches `/`.
fn compile_glob(g: &str) -> Result<GlobMatcher, String> {
    Ok(GlobBuilder::new(g)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("bad --match glob {g:?}: {e}"))?
        .compile_matcher())
}

/// The one rule of what a scope covers, for holds and for [`Scope`].
fn scope_covers(
    scope_zone: Option<&ZoneName>,
    has_glob: bool,
    matcher: Option<&GlobMatcher>,
    (from, to): (Timestamp, Timestamp),
    zone: &ZoneName,
    rel: &[u8],
    time: Timestamp,
) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if scope_zone.is_some_and(|z| z != zone) || time < from || time > to {
        return false;
    }
    match matcher {
        None => !has_glob,
        Some(m) => m.is_match(std::path::Path::new(std::ffi::OsStr::from_bytes(rel))),
    }
}

/// What a `find` or an `erase` request covers: one zone, an optional path
/// glob and a recording-time range, with the same meaning as a hold's scope.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The zone.
    pub zone: ZoneName,
    /// Path glob relative to the zone root; None for every file.
    pub glob: Option<String>,
    /// Earliest recording time (inclusive).
    pub from: Timestamp,
    /// Latest recording time (inclusive).
    pub to: Timestamp,
    matcher: Option<GlobMatcher>,
}

impl Scope {
    /// A scope; the error names a bad glob or an empty range.
    pub fn new(zone: ZoneName, glob: Option<String>, from: Timestamp, to: Timestamp) -> Result<Scope, String> {
        if from > to {
            return Err(format!("--from {} is after --to {}", from.rfc3339(), to.rfc3339()));
        }
        let matcher = glob.as_deref().map(compile_glob).transpose()?;
        Ok(Scope {
            zone,
            glob,
            from,
            to,
            matcher,
        })
    }

    /// Whether it covers the recording `rel` (relative to its zone root) recorded at `time`.
    pub fn covers(&self, zone: &ZoneName, rel: &[u8], time: Timestamp) -> bool {
        scope_covers(
            Some(&self.zone),
            self.glob.is_some(),
            self.matcher.as_ref(),
            (self.from, self.to),
            zone,
            rel,
            time,
        )
    }

    /// Conservatively, whether it might cover a recording of a directory
    /// whose recordings span `[oldest, newest]`.
    pub fn may_cover_range(&self, zone: &ZoneName, oldest: Timestamp, newest: Timestamp) -> bool {
        &self.zone == zone && oldest <= self.to && newest >= self.from
    }
}

impl PartialEq for Scope {
    fn eq(&self, o: &Scope) -> bool {
        (&self.zone, &self.glob, self.from, self.to) == (&o.zone, &o.glob, o.from, o.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(id: u64, glob: Option<&str>, from: i64, to: i64, expires: Option<i64>) -> Hold {
        Hold::new(
            HoldId(id),
            Some(ZoneName("cctv".into())),
            glob.map(String::from),
            Timestamp(from),
            Timestamp(to),
            "POL-1".into(),
            "incident".into(),
            "op".into(),
            1000,
            Timestamp(0),
            expires.map(Timestamp),
        )
        .unwrap()
    }

    #[test]
    fn scope_and_state() {
        let z = ZoneName("cctv".into());
        let h = hold(7, Some("*/cam07/*"), 100, 200, Some(1000));
        assert!(h.covers(&z, b"2026-11-20/14/cam07/05.00.mp4", Timestamp(150)));
        assert!(!h.covers(&z, b"2026-11-20/14/cam08/05.00.mp4", Timestamp(150)));
        assert!(!h.covers(&z, b"2026-11-20/14/cam07/05.00.mp4", Timestamp(201)));
        assert!(!h.covers(&ZoneName("calls".into()), b"x/cam07/y", Timestamp(150)));
        assert!(h.active_at(Timestamp(999)));
        assert!(!h.active_at(Timestamp(1000)));
        let set = HoldSet::new(vec![h, hold(3, None, 0, 120, None)]);
        let rel = b"a/cam07/b";
        assert_eq!(
            set.covering(&z, rel, Timestamp(110), Timestamp(0)).unwrap().id,
            HoldId(3)
        );
        assert_eq!(
            set.covering(&z, rel, Timestamp(150), Timestamp(0)).unwrap().id,
            HoldId(7)
        );
        // Hold 7 lapsed: hold 3 no longer covers 150, hold 7 is cited as former.
        assert!(set.covering(&z, rel, Timestamp(150), Timestamp(2000)).is_none());
        assert_eq!(
            set.former(&z, rel, Timestamp(150), Timestamp(2000)).unwrap().id,
            HoldId(7)
        );
        assert!(set.may_cover_range(&z, Timestamp(190), Timestamp(300), Timestamp(0)));
        assert!(!set.may_cover_range(&z, Timestamp(201), Timestamp(300), Timestamp(0)));
        assert!(Hold::new(
            HoldId(1),
            None,
            Some("[".into()),
            Timestamp(0),
            Timestamp(1),
            String::new(),
            String::new(),
            String::new(),
            0,
            Timestamp(0),
            None
        )
        .is_err());
    }
}
