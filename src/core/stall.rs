//! Recording sources and the `recording-stalled` alarm: a camera (or a
//! call queue) that stopped recording is found from the inventory's
//! per-directory summaries, without a walk and without per-file detail.
//!
//! A zone's *source* is the directory at its `source_depth` (a camera's
//! directory in `YYYY-MM-DD/HH/<camera>/`, a monitor's id in ZoneMinder's
//! tree); with `source_depth = 0` the whole zone is one source. A source's
//! newest activity is the latest recording time or file modification time
//! over every directory below a directory of that name: for Frigate, the
//! camera's directory of every hour. Either one moving shows the recorder
//! writes: a recorder whose names carry a time zone the policy does not
//! expect still writes fresh files, and a tree copied in one go keeps old
//! recording times.
//!
//! Invariants: a source exists only while it has recordings, so one whose
//! last directory retention deleted is gone, not stalled; an acknowledged
//! source raises nothing until it records again after the acknowledgement.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::inventory::{Inventory, NONE};
use crate::core::policy::Policy;
use crate::core::units::{Timestamp, ZoneId};

/// One recording source and when it last recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Its zone.
    pub zone: ZoneId,
    /// Its name: the source directory's name, or the zone's when the whole
    /// zone is one source.
    pub name: String,
    /// Its newest recording time or file modification time, whichever is later.
    pub newest: Timestamp,
}

impl Source {
    /// How alarms and acknowledgements name it: "cctv/cam07", or the
    /// zone's name alone when the whole zone is one source.
    pub fn subject(&self, policy: &Policy) -> String {
        let z = &policy.zones[self.zone.0 as usize];
        subject(&z.name.0, z.source_depth, &self.name)
    }
}

/// "zone/source", or "zone" when the whole zone is one source.
pub fn subject(zone: &str, source_depth: usize, source: &str) -> String {
    if source_depth == 0 {
        zone.to_string()
    } else {
        format!("{zone}/{source}")
    }
}

/// A source retired on purpose: `retentionctl alarm ack recording-stalled`.
/// It raises nothing while it records nothing newer than `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The alarm's subject: "cctv/cam07", or a zone's name.
    pub subject: String,
    /// When it was acknowledged.
    pub at: Timestamp,
    /// Who (the kernel's word for the caller).
    pub user: String,
    /// Their uid.
    pub uid: u32,
    /// Why.
    pub reason: String,
}

impl Ack {
    /// Whether it still silences `source` (which last recorded at `newest`).
    pub fn covers(&self, subject: &str, newest: Timestamp) -> bool {
        self.subject == subject && newest <= self.at
    }
}

/// Every zone's sources with their newest activity, sorted by zone and
/// name. One pass over the directory summaries (tens of thousands at
/// millions of files), in arena order: a parent precedes its children, so
/// each directory's depth and source directory follow from its parent's,
/// without walking up the tree; then one lookup by name per source
/// directory that holds recordings below it.
pub fn sources(policy: &Policy, inv: &Inventory) -> Vec<Source> {
    let mut out = Vec::new();
    for (zi, zone) in policy.zones.iter().enumerate() {
        let Some(zinv) = inv.zones.get(zi) else { continue };
        let want = zone.source_depth;
        let mut newest: HashMap<&[u8], Timestamp> = HashMap::new();
        for root in &zinv.roots {
            // Per directory: its depth (saturating: deeper than any source
            // level) and its source directory (NONE above the source level).
            let mut depth: Vec<u8> = Vec::with_capacity(root.dirs.len());
            let mut src: Vec<u32> = Vec::with_capacity(root.dirs.len());
            // The newest activity below each source directory, by index.
            let mut found: Vec<Timestamp> = vec![Timestamp::MIN; root.dirs.len()];
            for (k, d) in root.dirs.iter().enumerate() {
                debug_assert!(
                    d.parent == NONE || (d.parent as usize) < k,
                    "a parent precedes its children"
                );
                let (dp, s) = match depth.get(d.parent as usize) {
                    Some(&pd) => (pd.saturating_add(1), src[d.parent as usize]),
                    None => (0, NONE),
                };
                let s = if usize::from(dp) == want { k as u32 } else { s };
                depth.push(dp);
                src.push(s);
                // Recordings above the source level belong to no source.
                if d.files == 0 || d.gone || s == NONE {
                    continue;
                }
                let t = d.newest.max(Timestamp(d.newest_mtime));
                found[s as usize] = found[s as usize].max(t);
            }
            for (s, &t) in found.iter().enumerate().filter(|(_, &t)| t > Timestamp::MIN) {
                let name: &[u8] = if want == 0 { b"" } else { root.dir_name(s as u32) };
                let e = newest.entry(name).or_insert(t);
                *e = (*e).max(t);
            }
        }
        let mut here: Vec<Source> = newest
            .into_iter()
            .map(|(name, t)| Source {
                zone: zone.id,
                name: if want == 0 {
                    zone.name.0.clone()
                } else {
                    String::from_utf8_lossy(name).into_owned()
                },
                newest: t,
            })
            .collect();
        here.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(here);
    }
    out
}

/// `recording-stalled` for each source that has recorded nothing for
/// longer than its zone's `stall_after`, unless acknowledged.
pub fn alarms(policy: &Policy, sources: &[Source], acks: &[Ack], now: Timestamp) -> Vec<Alarm> {
    let mut out = Vec::new();
    for s in sources {
        let zone = &policy.zones[s.zone.0 as usize];
        let Some(after) = zone.stall_after else { continue };
        if s.newest.age_at(now) <= after {
            continue;
        }
        let subject = s.subject(policy);
        if acks.iter().any(|a| a.covers(&subject, s.newest)) {
            continue;
        }
        let what = if zone.source_depth == 0 {
            format!("zone {} has recorded nothing", zone.name)
        } else {
            format!("source {} of zone {} has recorded nothing", s.name, zone.name)
        };
        out.push(Alarm::new(
            AlarmKind::RecordingStalled,
            &subject,
            format!(
                "{what} since {} (stall_after {after}): check the camera, its network and the recorder; \
                 if it was retired on purpose, `retentionctl alarm ack recording-stalled {subject} --reason ...` \
                 silences it until it records again",
                s.newest.rfc3339()
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::inventory::{RootInventory, ZoneInventory};
    use std::ffi::OsStr;
    use std::path::{Path, PathBuf};

    fn policy(extra: &str) -> Policy {
        let text = format!(
            "[[zone]]\nname = \"cctv\"\npaths = [\"/srv/cctv\"]\nlayout = \"frigate\"\nmin_age = \"1d\"\nmax_age = \"7d\"\n{extra}\
             [[zone]]\nname = \"calls\"\npaths = [\"/srv/calls\"]\nmin_age = \"1d\"\nmax_age = \"7d\"\nstall_after = \"1h\"\n"
        );
        Policy::from_str(Path::new("t.toml"), &text).unwrap()
    }

    /// cctv: cam01 wrote a segment at 1000 (hour 14) and at 4600 (hour 15),
    /// cam02 only at 1000; calls: one call at 500 in its root.
    fn inventory() -> Inventory {
        let mut r = RootInventory::new(PathBuf::from("/srv/cctv"));
        let root = r.add_dir(NONE, OsStr::new(""), 1, 0);
        let day = r.add_dir(root, OsStr::new("2026-11-20"), 2, 0);
        for (h, cams) in [
            ("14", &[("cam01", 1000), ("cam02", 1000)][..]),
            ("15", &[("cam01", 4600)][..]),
        ] {
            let hour = r.add_dir(day, OsStr::new(h), 3, 0);
            for (cam, t) in cams {
                let c = r.add_dir(hour, OsStr::new(cam), 4, 0);
                // The recording time from the name; the mtime 10 s later.
                r.add_file(c, Timestamp(*t), 4096, t + 10);
            }
        }
        let mut calls = RootInventory::new(PathBuf::from("/srv/calls"));
        let croot = calls.add_dir(NONE, OsStr::new(""), 1, 0);
        calls.add_file(croot, Timestamp(500), 4096, 500);
        Inventory {
            zones: vec![ZoneInventory { roots: vec![r] }, ZoneInventory { roots: vec![calls] }],
            taken: None,
        }
    }

    #[test]
    fn sources_take_the_newest_over_every_hour_of_a_camera() {
        let p = policy("");
        let s = sources(&p, &inventory());
        let got: Vec<(String, i64)> = s.iter().map(|s| (s.subject(&p), s.newest.0)).collect();
        assert_eq!(
            got,
            vec![
                ("cctv/cam01".into(), 4610),
                ("cctv/cam02".into(), 1010),
                ("calls".into(), 500)
            ]
        );
    }

    #[test]
    fn stalled_sources_raise_until_acknowledged_or_recording_again() {
        let p = policy("");
        let inv = inventory();
        let s = sources(&p, &inv);
        // At 4700: cam02 silent for 3690 s > 2m; cam01 for 90 s; calls for 4200 s > 1h.
        let a = alarms(&p, &s, &[], Timestamp(4700));
        let subjects: Vec<&str> = a.iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(subjects, vec!["cctv/cam02", "calls"]);
        assert!(a[0].kind == AlarmKind::RecordingStalled);
        assert!(
            a[0].text
                .contains("source cam02 of zone cctv has recorded nothing since"),
            "{}",
            a[0].text
        );
        assert!(a[0].text.contains("stall_after 2m"), "{}", a[0].text);
        // Exactly at stall_after: not yet.
        assert!(alarms(&p, &s, &[], Timestamp(1010 + 120))
            .iter()
            .all(|a| a.subject != "cctv/cam02"));
        assert!(alarms(&p, &s, &[], Timestamp(1010 + 121))
            .iter()
            .any(|a| a.subject == "cctv/cam02"));
        // Acknowledged: silent while it records nothing newer.
        let ack = Ack {
            subject: "cctv/cam02".into(),
            at: Timestamp(4650),
            user: "sup".into(),
            uid: 1001,
            reason: "camera removed".into(),
        };
        let a = alarms(&p, &s, std::slice::from_ref(&ack), Timestamp(4700));
        assert_eq!(a.iter().map(|a| a.subject.as_str()).collect::<Vec<_>>(), vec!["calls"]);
        // It recorded again after the acknowledgement, then stopped: raised again.
        let again = vec![Source {
            newest: Timestamp(4660),
            ..s[1].clone()
        }];
        assert_eq!(alarms(&p, &again, std::slice::from_ref(&ack), Timestamp(9000)).len(), 1);
        // Off for the zone: nothing.
        let off = policy("stall_after = \"off\"\n");
        assert!(alarms(&off, &sources(&off, &inv), &[], Timestamp(4700))
            .iter()
            .all(|a| a.subject == "calls"));
    }

    /// What the sweep pays at the benchmark's scale (90 days x 24 hours x
    /// 10 cameras: 21,600 camera directories, as for 1.29 M files):
    /// `cargo test --lib cost_at_scale -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn cost_at_scale() {
        let p = policy("");
        let mut r = RootInventory::new(PathBuf::from("/srv/cctv"));
        r.dev = Some(1);
        let root = r.add_dir(NONE, OsStr::new(""), 1, 0);
        for day in 0..90 {
            let d = r.add_dir(root, OsStr::new(&format!("2026-08-{day:02}")), 2, 0);
            for h in 0..24 {
                let hour = r.add_dir(d, OsStr::new(&format!("{h:02}")), 3, 0);
                for cam in 0..10 {
                    let c = r.add_dir(hour, OsStr::new(&format!("cam{cam:02}")), 4, 0);
                    let t = (day * 24 + h) * 3600;
                    for k in 0..6 {
                        r.add_file(c, Timestamp(t + k * 600), 1 << 20, t + k * 600);
                    }
                }
            }
        }
        let inv = Inventory {
            zones: vec![ZoneInventory { roots: vec![r] }, ZoneInventory::default()],
            taken: None,
        };
        let now = Timestamp(90 * 86_400);
        let usage = crate::core::plan::Usage {
            filesystems: vec![crate::core::plan::FsUsage::new(
                1,
                "/srv".into(),
                crate::core::units::Bytes(1 << 40),
                crate::core::units::Bytes(1 << 40),
                p.default_marks,
            )],
        };
        let holds = crate::core::holds::HoldSet::default();
        let t0 = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..10 {
            let s = sources(&p, &inv);
            n += alarms(&p, &s, &[], now).len();
        }
        let stall = t0.elapsed() / 10;
        let t0 = std::time::Instant::now();
        for _ in 0..10 {
            n += crate::core::forecast::forecast(&p, &inv, &usage, &holds, now).len();
        }
        let forecast = t0.elapsed() / 10;
        eprintln!(
            "{} directories: sources and alarms {stall:?}, forecast {forecast:?} ({n})",
            inv.zones[0].roots[0].dirs.len()
        );
    }

    #[test]
    fn a_source_whose_recordings_are_all_gone_is_not_stalled() {
        let p = policy("");
        let mut inv = inventory();
        // Retention deleted hour 14: cam02's only directory empties.
        let r = &mut inv.zones[0].roots[0];
        let (h14, _) = r.lookup(b"2026-11-20/14");
        r.detach(h14);
        let s = sources(&p, &inv);
        assert!(s.iter().all(|s| s.name != "cam02"));
        assert!(alarms(&p, &s, &[], Timestamp(4700))
            .iter()
            .all(|a| a.subject != "cctv/cam02"));
        // A source at depth 1 of a zone without a layout.
        let mut z = policy("");
        z.zones[1].source_depth = 1;
        assert!(
            sources(&z, &inv).iter().all(|s| s.zone != ZoneId(1)),
            "a file in the root belongs to no source"
        );
    }
}
