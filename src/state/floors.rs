//! What each zone's floor has seen (`state_dir/floors.json`): when the zone
//! first held a recording as old as its floor, and when it last lost one
//! younger than its floor (capacity or quota overriding the floor).
//!
//! `status` flags a zone whose oldest recording is younger than its floor
//! only on that evidence: a zone whose floor equals its ceiling (calls kept
//! exactly 60 days) always holds footage a little younger than the floor
//! just after a sweep, and that is the promise kept, not broken. Written by
//! the sweeper only when a mark changes (a few times in a zone's life).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::core::units::Timestamp;

/// The file's name in the state directory.
pub const FILE: &str = "floors.json";

/// One zone's marks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloorMarks {
    /// When the zone first held a recording at least as old as its floor.
    pub reached: Option<Timestamp>,
    /// When it last lost a recording younger than its floor.
    pub young_deleted: Option<Timestamp>,
}

/// Marks by zone name.
pub type Floors = BTreeMap<String, FloorMarks>;

/// The marks in `state_dir` (none when the file is missing or unreadable:
/// a zone then reads as not yet at its floor until a sweep marks it).
pub fn read(state_dir: &Path) -> Floors {
    std::fs::read(state_dir.join(FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes the marks durably.
pub fn write(state_dir: &Path, floors: &Floors) -> std::io::Result<()> {
    let mut body = serde_json::to_vec_pretty(floors).expect("marks serialise");
    body.push(b'\n');
    crate::fs::handle::replace_file(&state_dir.join(FILE), &body)
}

/// Updates `zone`'s marks after a sweep at `now`: `at_floor` when its
/// oldest recording is at least as old as its floor, `young` when the sweep
/// deleted recordings younger than the floor. Returns whether they changed.
pub fn mark(floors: &mut Floors, zone: &str, at_floor: bool, young: bool, now: Timestamp) -> bool {
    let m = floors.entry(zone.to_string()).or_default();
    let before = *m;
    if at_floor && m.reached.is_none() {
        m.reached = Some(now);
    }
    if young {
        m.young_deleted = Some(now);
    }
    *m != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_change_rarely_and_survive_a_round_trip() {
        let mut f = Floors::new();
        assert!(!mark(&mut f, "calls", false, false, Timestamp(1)) || f["calls"] == FloorMarks::default());
        assert!(mark(&mut f, "calls", true, false, Timestamp(2)));
        assert!(!mark(&mut f, "calls", true, false, Timestamp(3)), "reached once");
        assert!(mark(&mut f, "calls", true, true, Timestamp(4)));
        assert_eq!(
            f["calls"],
            FloorMarks {
                reached: Some(Timestamp(2)),
                young_deleted: Some(Timestamp(4))
            }
        );
        let t = tempfile::tempdir().unwrap();
        write(t.path(), &f).unwrap();
        assert_eq!(read(t.path()), f);
        assert!(read(&t.path().join("missing")).is_empty());
    }
}
