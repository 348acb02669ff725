//! Planner tests: table cases with an explicit `now`, and properties over
//! random inventories, policies and holds.

use super::*;
use crate::core::holds::Hold;
use crate::core::inventory::{FileRec, RootInventory, ZoneInventory};
use crate::core::inventory::{FileStat, Kind};
use crate::core::units::{Watermark, ZoneName};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::Path;

const DAY: i64 = 86400;
const NOW: i64 = 1_800_000_000;

/// A file of the model world.
#[derive(Clone, Debug)]
struct MF {
    zone: u16,
    dir: String,
    name: String,
    time: i64,
    bytes: u64,
    mtime: i64,
}

fn mf(zone: u16, dir: &str, name: &str, age_secs: i64, bytes: u64) -> MF {
    let t = NOW - age_secs;
    MF {
        zone,
        dir: dir.into(),
        name: name.into(),
        time: t,
        bytes,
        mtime: t,
    }
}

fn policy(zones: &str, marks: &str) -> Policy {
    Policy::from_str(Path::new("test.toml"), &format!("[capacity]\n{marks}\n{zones}")).unwrap()
}

fn zone_toml(name: &str, root: &str, min: &str, max: &str, extra: &str) -> String {
    format!("[[zone]]\nname = \"{name}\"\npaths = [\"{root}\"]\nmin_age = \"{min}\"\nmax_age = \"{max}\"\n{extra}\n")
}

/// Builds summaries only; `devs[zone]` is the zone root's device.
fn inventory(files: &[MF], p: &Policy, devs: &[u64]) -> Inventory {
    let mut inv = Inventory::default();
    for z in &p.zones {
        let mut r = RootInventory::new(z.roots[0].clone());
        r.dev = Some(devs[z.id.0 as usize]);
        r.add_dir(u32::MAX, OsStr::new(""), 1, 0);
        inv.zones.push(ZoneInventory { roots: vec![r] });
    }
    for f in files {
        let r = &mut inv.zones[f.zone as usize].roots[0];
        let mut cur = 0u32;
        for comp in f.dir.split('/').filter(|c| !c.is_empty()) {
            let found = (0..r.dirs.len() as u32)
                .find(|&i| r.dirs[i as usize].parent == cur && r.dir_name(i) == comp.as_bytes());
            cur = match found {
                Some(i) => i,
                None => r.add_dir(cur, OsStr::new(comp), 0, 0),
            };
        }
        r.add_file(cur, Timestamp(f.time), f.bytes, f.mtime);
    }
    inv
}

fn stat_of(f: &MF, ino: u64) -> FileStat {
    FileStat {
        dev: 1,
        ino,
        kind: Kind::File,
        nlink: 1,
        size: f.bytes,
        alloc: f.bytes,
        mtime: f.mtime,
        mtime_nsec: 0,
    }
}

fn load_detail(inv: &mut Inventory, files: &[MF], d: DirRef) {
    let rel = String::from_utf8(inv.root(d).rel_path(d.dir)).unwrap();
    let recs: Vec<FileRec> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.zone == d.zone.0 && f.dir.trim_matches('/') == rel)
        .map(|(i, f)| FileRec {
            name: OsString::from(&f.name),
            time: Timestamp(f.time),
            stat: stat_of(f, i as u64 + 10),
        })
        .collect();
    inv.root_mut(d).set_detail(d.dir, recs);
}

/// Runs the NeedDetail loop (or preloads everything) and returns the plan
/// and the inventory it was made from.
fn run(
    files: &[MF],
    p: &Policy,
    holds: &HoldSet,
    usage: &Usage,
    all_detail: bool,
    devs: &[u64],
) -> (Plan, Inventory, usize) {
    run_at(files, p, holds, usage, all_detail, devs, NOW)
}

/// [`run`] at another time than `NOW`.
fn run_at(
    files: &[MF],
    p: &Policy,
    holds: &HoldSet,
    usage: &Usage,
    all_detail: bool,
    devs: &[u64],
    now: i64,
) -> (Plan, Inventory, usize) {
    let mut inv = inventory(files, p, devs);
    if all_detail {
        let dirs: Vec<DirRef> = inv.dirs().collect();
        for d in dirs {
            load_detail(&mut inv, files, d);
        }
    }
    let mut rounds = 0;
    loop {
        match plan(&inv, p, holds, usage, Timestamp(now)) {
            Ok(pl) => return (pl, inv, rounds),
            Err(NeedDetail(dirs)) => {
                rounds += 1;
                assert!(rounds < 50, "NeedDetail loop does not end");
                for d in &dirs {
                    assert!(inv.detail(*d).is_none(), "asked twice for {d:?}");
                    load_detail(&mut inv, files, *d);
                }
            }
        }
    }
}

/// What the executor would delete: (zone, path) → reason code.
fn deleted(
    pl: &Plan,
    inv: &Inventory,
    files: &[MF],
    p: &Policy,
    holds: &HoldSet,
) -> BTreeMap<(u16, String), &'static str> {
    let mut out = BTreeMap::new();
    for e in &pl.entries {
        let zone = &p.zones[e.dir.zone.0 as usize];
        let rel = String::from_utf8(inv.root(e.dir).rel_path(e.dir.dir)).unwrap();
        let chosen: Vec<MF> = match &e.files {
            Files::All => files
                .iter()
                .filter(|f| f.zone == e.dir.zone.0 && f.dir.trim_matches('/') == rel)
                .cloned()
                .collect(),
            Files::Some(ix) => {
                let det = inv.detail(e.dir).unwrap();
                ix.iter()
                    .map(|&i| {
                        let r = &det[i as usize];
                        files
                            .iter()
                            .find(|f| {
                                f.zone == e.dir.zone.0
                                    && f.dir.trim_matches('/') == rel
                                    && f.name == r.name.to_str().unwrap()
                            })
                            .unwrap()
                            .clone()
                    })
                    .collect()
            }
        };
        for f in chosen {
            let path = if rel.is_empty() {
                f.name.clone()
            } else {
                format!("{rel}/{}", f.name)
            };
            if let Verdict::Delete(r) = pl.verdict(e, zone, holds, path.as_bytes(), Timestamp(f.time), f.mtime) {
                assert!(out.insert((f.zone, path), r.code).is_none(), "a file is planned twice");
            }
        }
    }
    out
}

use std::collections::BTreeMap;

fn usage_fs(dev: u64, used: u64, avail: u64, marks: &str) -> FsUsage {
    let (h, l) = marks.split_once(',').unwrap();
    FsUsage {
        dev,
        mount: PathBuf::from("/srv"),
        used: Bytes(used),
        avail: Bytes(avail),
        marks: Watermarks {
            high: Watermark::parse(h).unwrap(),
            low: Watermark::parse(l).unwrap(),
        },
        log_bytes_per_deletion: 0,
        reserve_short: Bytes(0),
    }
}

fn hourly(zone: u16, cams: u32, from_age_days: i64, to_age_days: i64, bytes: u64) -> Vec<MF> {
    let mut v = Vec::new();
    let mut age = from_age_days * DAY;
    while age > to_age_days * DAY {
        for c in 0..cams {
            v.push(mf(
                zone,
                &format!("d{}/h{}/cam{c}", age / DAY, (age % DAY) / 3600),
                &format!("{age}.mp4"),
                age,
                bytes,
            ));
        }
        age -= 3600;
    }
    v
}

#[test]
fn max_age_deletes_exactly_the_expired_files() {
    let p = policy(&zone_toml("cctv", "/srv/cctv", "14d", "28d", ""), "");
    let files = hourly(0, 3, 35, 0, 1000);
    let usage = Usage {
        filesystems: vec![usage_fs(1, 10, 1000, "90%,80%")],
    };
    let (pl, inv, _) = run(&files, &p, &HoldSet::default(), &usage, false, &[1]);
    let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
    let expect: BTreeSet<(u16, String)> = files
        .iter()
        .filter(|f| f.time < NOW - 28 * DAY)
        .map(|f| (0, format!("{}/{}", f.dir, f.name)))
        .collect();
    assert_eq!(del.keys().cloned().collect::<BTreeSet<_>>(), expect);
    assert!(del.values().all(|c| *c == "max-age"));
    assert!(pl.alarms.is_empty());
    let e = &pl.entries[0];
    let r = pl.reason(e.cause, &p.zones[0], 0, Timestamp(NOW - 29 * DAY - 3 * 3600));
    assert_eq!(r.basis, "older than max_age 28d");
    assert!(
        r.text().starts_with("older than max_age 28d: recorded "),
        "{}",
        r.text()
    );
    assert!(r.text().ends_with("age 29d 3h"), "{}", r.text());
}

#[test]
fn settling_and_held_files_are_kept() {
    let p = policy(&zone_toml("cctv", "/srv/cctv", "1d", "2d", ""), "");
    let mut files = vec![
        mf(0, "a", "old.mp4", 10 * DAY, 10),
        mf(0, "a", "held.mp4", 10 * DAY + 5, 10),
        mf(0, "b", "writing.mp4", 10 * DAY, 10),
    ];
    files[2].mtime = NOW - 30; // still being written, though its path says it is old
    let hold = Hold::new(
        HoldId(7),
        Some(ZoneName("cctv".into())),
        Some("a/held*".into()),
        Timestamp(0),
        Timestamp(NOW),
        "POL-2026-1142".into(),
        "incident".into(),
        "op".into(),
        1000,
        Timestamp(NOW - 100),
        None,
    )
    .unwrap();
    let holds = HoldSet::new(vec![hold]);
    let usage = Usage {
        filesystems: vec![usage_fs(1, 10, 1000, "90%,80%")],
    };
    let (pl, inv, _) = run(&files, &p, &holds, &usage, false, &[1]);
    let del = deleted(&pl, &inv, &files, &p, &holds);
    assert_eq!(del.keys().map(|k| k.1.as_str()).collect::<Vec<_>>(), vec!["a/old.mp4"]);
    assert_eq!(pl.held_past_max.len(), 1);
    assert_eq!(pl.held_past_max[0].label, "hold 7 (case POL-2026-1142)");
    assert_eq!(pl.held_past_max[0].files, 1);
}

#[test]
fn released_hold_is_cited() {
    let p = policy(&zone_toml("cctv", "/srv/cctv", "1d", "2d", ""), "");
    let files = vec![mf(0, "a", "f.mp4", 10 * DAY, 10)];
    let mut hold = Hold::new(
        HoldId(3),
        None,
        None,
        Timestamp(0),
        Timestamp(NOW),
        "C-9".into(),
        "r".into(),
        "op".into(),
        0,
        Timestamp(0),
        None,
    )
    .unwrap();
    hold.released = Some(crate::core::holds::Release {
        by: "sup".into(),
        uid: 0,
        at: Timestamp(NOW - 60),
        reason: "case closed".into(),
    });
    let holds = HoldSet::new(vec![hold]);
    let (pl, inv, _) = run(&files, &p, &holds, &Usage::default(), false, &[1]);
    let e = &pl.entries[0];
    let det_time = Timestamp(files[0].time);
    let _ = inv;
    match pl.verdict(e, &p.zones[0], &holds, b"a/f.mp4", det_time, files[0].mtime) {
        Verdict::Delete(r) => assert!(
            r.text().contains("was held by hold 3 (case C-9), released") && r.text().contains("case closed"),
            "{}",
            r.text()
        ),
        v => panic!("{v:?}"),
    }
}

#[test]
fn capacity_deletes_oldest_first_down_to_low_watermark_never_below_floor() {
    let p = policy(
        &format!(
            "{}{}",
            zone_toml("a", "/srv/a", "2d", "100d", ""),
            zone_toml("b", "/srv/b", "2d", "100d", "")
        ),
        "",
    );
    // 10 days × 2 zones × 2 cams × 24 h × 100 bytes = 96000 bytes of recordings.
    let mut files = hourly(0, 2, 10, 0, 100);
    files.extend(hourly(1, 2, 10, 0, 100));
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    // Used 95 of 100 units → need to reach 80%: free 15% of capacity.
    let cap = total * 100 / 95;
    let used = total;
    let usage = Usage {
        filesystems: vec![usage_fs(1, used, cap - used, "90%,80%")],
    };
    let (pl, inv, rounds) = run(&files, &p, &HoldSet::default(), &usage, false, &[1, 1]);
    let _ = rounds;
    let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
    let need = Watermark::Percent(80.0).excess(Bytes(used), Bytes(cap - used)).0;
    let freed: u64 = del.len() as u64 * 100;
    assert!(freed >= need && freed - 100 < need, "freed {freed} need {need}");
    // Oldest first across both zones.
    let max_deleted = files
        .iter()
        .filter(|f| del.contains_key(&(f.zone, format!("{}/{}", f.dir, f.name))))
        .map(|f| f.time)
        .max()
        .unwrap();
    let min_kept = files
        .iter()
        .filter(|f| !del.contains_key(&(f.zone, format!("{}/{}", f.dir, f.name))))
        .map(|f| f.time)
        .min()
        .unwrap();
    assert!(max_deleted <= min_kept);
    assert!(del.values().all(|c| *c == "capacity"));
    assert!(pl.alarms.is_empty());
    assert_eq!(pl.filesystems[0].planned, Bytes(freed));
}

#[test]
fn floors_hold_and_alarm_when_capacity_cannot_be_relieved() {
    let p = policy(&zone_toml("a", "/srv/a", "5d", "100d", ""), "");
    let files = hourly(0, 1, 10, 0, 100);
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    // Everything must go to reach 10%: floors forbid the last 5 days.
    let usage = Usage {
        filesystems: vec![usage_fs(1, total + 1000, 100, "50%,10%")],
    };
    let (pl, inv, _) = run(&files, &p, &HoldSet::default(), &usage, false, &[1]);
    let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
    assert!(files
        .iter()
        .filter(|f| f.time >= NOW - 5 * DAY)
        .all(|f| !del.contains_key(&(0, format!("{}/{}", f.dir, f.name)))));
    assert_eq!(del.len(), files.iter().filter(|f| f.time < NOW - 5 * DAY).count());
    assert_eq!(pl.alarms.len(), 1);
    let a = &pl.alarms[0];
    assert_eq!(a.kind, "capacity-unrelieved");
    assert!(
        a.text.contains("floors protect") && a.text.contains("not recordings of any zone"),
        "{}",
        a.text
    );
    assert!(
        a.text.contains("1000 B of the filesystem is not recordings"),
        "{}",
        a.text
    );
}

#[test]
fn override_floor_zone_loses_below_floor_footage_lowest_priority_first() {
    let p = policy(
        &format!(
            "{}{}{}",
            zone_toml("keep", "/srv/keep", "5d", "100d", ""),
            zone_toml(
                "low",
                "/srv/low",
                "5d",
                "100d",
                "when_full = \"override-floor\"\npriority = 1"
            ),
            zone_toml(
                "lower",
                "/srv/lower",
                "5d",
                "100d",
                "when_full = \"override-floor\"\npriority = 0"
            ),
        ),
        "",
    );
    let mut files = Vec::new();
    for z in 0..3 {
        files.extend(hourly(z, 1, 3, 0, 100)); // all below the 5d floor
    }
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let per_zone = total / 3;
    // Need a bit more than one zone's worth: all of "lower", some of "low", none of "keep".
    let need = per_zone + 500;
    let cap = 100_000_000u64;
    let used = cap / 2 + need; // low watermark 50%: need exactly `need`
    let usage = Usage {
        filesystems: vec![usage_fs(1, used, cap - used, "50%,50%")],
    };
    let _ = usage;
    let usage = Usage {
        filesystems: vec![FsUsage {
            marks: Watermarks {
                high: Watermark::Percent(49.0),
                low: Watermark::Percent(50.0),
            },
            ..usage_fs(1, used, cap - used, "50%,40%")
        }],
    };
    let (pl, inv, _) = run(&files, &p, &HoldSet::default(), &usage, false, &[1, 1, 1]);
    let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
    let by_zone = |z: u16| del.keys().filter(|k| k.0 == z).count() as u64 * 100;
    assert_eq!(by_zone(0), 0);
    assert_eq!(by_zone(2), per_zone);
    assert_eq!(by_zone(1), 500);
    assert!(del.values().all(|c| *c == "capacity-override-floor"));
    // The five taken from "low" are its oldest.
    let low_oldest: BTreeSet<String> = {
        let mut v: Vec<&MF> = files.iter().filter(|f| f.zone == 1).collect();
        v.sort_by_key(|f| f.time);
        v.iter().take(5).map(|f| format!("{}/{}", f.dir, f.name)).collect()
    };
    assert_eq!(
        del.keys()
            .filter(|k| k.0 == 1)
            .map(|k| k.1.clone())
            .collect::<BTreeSet<_>>(),
        low_oldest
    );
}

#[test]
fn quota_keeps_a_zone_within_max_bytes() {
    let p = policy(
        &zone_toml("calls", "/srv/calls", "1d", "100d", "max_bytes = \"5000\""),
        "",
    );
    let files = hourly(0, 1, 4, 0, 100); // 96 files, 9600 bytes
    let (pl, inv, _) = run(
        &files,
        &p,
        &HoldSet::default(),
        &Usage {
            filesystems: vec![usage_fs(1, 10, 10_000_000, "90%,80%")],
        },
        false,
        &[1],
    );
    let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
    assert_eq!(del.len(), 46);
    assert!(del.values().all(|c| *c == "quota"));
}

// ---- properties ----

#[derive(Clone, Debug)]
struct World {
    files: Vec<MF>,
    policy: Policy,
    holds: HoldSet,
    usage: Usage,
    devs: Vec<u64>,
}

fn world() -> impl Strategy<Value = World> {
    let zone = (0u64..6, 0u64..12, any::<bool>(), -2i32..3, prop::option::of(1u64..40));
    // Per-source rules: by camera directory, by name, or both.
    let rule = (0u8..3, 0u32..6, 0u64..6, 0u64..12, -2i32..3, prop::option::of(1u64..30));
    (
        prop::collection::vec((zone, prop::collection::vec(rule, 0..3)), 1..4),
        prop::collection::vec(
            (0u16..4, 0u32..6, 0u32..4, 0i64..14 * 24, 1u64..5, any::<bool>()),
            0..120,
        ),
        prop::collection::vec(
            (
                prop::option::of(0u16..4),
                0u32..6,
                0i64..14 * 24,
                0i64..48,
                any::<bool>(),
            ),
            0..3,
        ),
        (0u64..100, 30u64..99, 1u64..30, any::<bool>()),
    )
        .prop_map(|(zs, fs, hs, (unclaimed, high, gap, same_dev))| {
            let mut toml = String::new();
            for (i, ((min_d, extra_d, over, prio, quota), rules)) in zs.iter().enumerate() {
                let wf = if *over { "override-floor" } else { "keep-floor" };
                let q = quota
                    .map(|q| format!("max_bytes = \"{}\"\n", q * 10))
                    .unwrap_or_default();
                toml.push_str(&zone_toml(
                    &format!("z{i}"),
                    &format!("/srv/z{i}"),
                    &format!("{min_d}d"),
                    &format!("{}d", min_d + extra_d),
                    &format!("when_full = \"{wf}\"\npriority = {prio}\n{q}"),
                ));
                for (kind, cam, rmin, rextra, rprio, rquota) in rules {
                    toml.push_str("[[zone.rule]]\n");
                    if *kind != 1 {
                        toml.push_str(&format!("source = \"c{cam}\"\n"));
                    }
                    if *kind != 0 {
                        toml.push_str(&format!("file = \"f*{}.mp4\"\n", cam % 3));
                    }
                    toml.push_str(&format!(
                        "min_age = \"{rmin}d\"\nmax_age = \"{}d\"\npriority = {rprio}\n",
                        rmin + rextra
                    ));
                    if let Some(q) = rquota {
                        toml.push_str(&format!("max_bytes = \"{}\"\n", q * 10));
                    }
                }
            }
            let high_mark = high.saturating_sub(gap / 2).max(2);
            let policy = policy(&toml, "");
            let nz = zs.len() as u16;
            let files: Vec<MF> = fs
                .iter()
                .enumerate()
                .map(|(i, (z, cam, hr_off, age_h, bytes, settling))| {
                    let age = age_h * 3600 + *hr_off as i64 * 60;
                    let mut f = mf(
                        z % nz,
                        &format!("d{}/h{}/c{cam}", age_h / 24, age_h),
                        &format!("f{i}.mp4"),
                        age,
                        *bytes,
                    );
                    if *settling && i % 7 == 0 {
                        f.mtime = NOW - 10;
                    }
                    f
                })
                .collect();
            let holds: Vec<Hold> = hs
                .iter()
                .enumerate()
                .map(|(i, (z, cam, from_h, len_h, released))| {
                    let mut h = Hold::new(
                        HoldId(i as u64 + 1),
                        z.map(|z| ZoneName(format!("z{}", z % nz))),
                        if *cam < 4 { Some(format!("*/c{cam}/*")) } else { None },
                        Timestamp(NOW - (from_h + len_h) * 3600),
                        Timestamp(NOW - from_h * 3600),
                        format!("CASE-{i}"),
                        "r".into(),
                        "op".into(),
                        0,
                        Timestamp(0),
                        None,
                    )
                    .unwrap();
                    if *released {
                        h.released = Some(crate::core::holds::Release {
                            by: "s".into(),
                            uid: 0,
                            at: Timestamp(NOW - 5),
                            reason: "done".into(),
                        });
                    }
                    h
                })
                .collect();
            let devs: Vec<u64> = (0..nz as u64).map(|i| if same_dev { 1 } else { 1 + i % 2 }).collect();
            let mut fss = Vec::new();
            for dev in [1u64, 2] {
                if !devs.contains(&dev) {
                    continue;
                }
                let rec: u64 = files
                    .iter()
                    .filter(|f| devs[f.zone as usize] == dev)
                    .map(|f| f.bytes)
                    .sum();
                let used = rec + unclaimed;
                let cap = (used * 100).div_ceil(high).max(used + 1);
                fss.push(FsUsage {
                    dev,
                    mount: PathBuf::from(format!("/srv{dev}")),
                    used: Bytes(used),
                    avail: Bytes(cap - used),
                    marks: Watermarks {
                        high: Watermark::Percent(high_mark as f64),
                        low: Watermark::Percent(high_mark.saturating_sub(gap).max(1) as f64),
                    },
                    log_bytes_per_deletion: 0,
                    reserve_short: Bytes(0),
                });
            }
            World {
                files,
                policy,
                holds: HoldSet::new(holds),
                usage: Usage { filesystems: fss },
                devs,
            }
        })
}

fn key(f: &MF) -> (u16, String) {
    if f.dir.is_empty() {
        (f.zone, f.name.clone())
    } else {
        (f.zone, format!("{}/{}", f.dir, f.name))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::core::plan::test_cases(), ..ProptestConfig::default() })]

    /// Summaries plus NeedDetail decide exactly what full detail decides.
    #[test]
    fn summaries_decide_like_full_detail(w in world()) {
        let (p1, i1, _) = run(&w.files, &w.policy, &w.holds, &w.usage, false, &w.devs);
        let (p2, i2, _) = run(&w.files, &w.policy, &w.holds, &w.usage, true, &w.devs);
        let d1 = deleted(&p1, &i1, &w.files, &w.policy, &w.holds);
        let d2 = deleted(&p2, &i2, &w.files, &w.policy, &w.holds);
        prop_assert_eq!(d1, d2);
        prop_assert_eq!(p1.alarms.len(), p2.alarms.len());
    }

    /// The rules hold for every plan.
    #[test]
    fn invariants(w in world()) {
        let (pl, inv, _) = run(&w.files, &w.policy, &w.holds, &w.usage, false, &w.devs);
        let del = deleted(&pl, &inv, &w.files, &w.policy, &w.holds);
        let now = Timestamp(NOW);
        for f in &w.files {
            let z = &w.policy.zones[f.zone as usize];
            let k = key(f);
            let rel = k.1.as_bytes();
            // The rule (class) that sets its floor and ceiling.
            let params = z.params(z.class_of_rel(rel));
            let held = w.holds.covering(&z.name, rel, Timestamp(f.time), now).is_some();
            let settling = f.mtime > NOW - w.policy.daemon.settle_time.secs();
            match del.get(&k) {
                Some(code) => {
                    prop_assert!(!held, "held file deleted: {:?}", k);
                    prop_assert!(!settling, "settling file deleted: {:?}", k);
                    let below_floor = f.time >= NOW - params.min_age.secs();
                    if below_floor {
                        prop_assert!(code.ends_with("override-floor"), "{:?} below floor deleted for {}", k, code);
                        prop_assert_eq!(z.when_full, WhenFull::OverrideFloor);
                    }
                }
                None => {
                    let expired = f.time < NOW - params.max_age.secs();
                    prop_assert!(!(expired && !held && !settling), "expired file kept: {:?}", k);
                }
            }
        }
        // Oldest first: on each filesystem, no capacity-eligible file is kept while a younger one went for capacity.
        for fsu in &w.usage.filesystems {
            let eligible = |f: &MF| {
                let z = &w.policy.zones[f.zone as usize];
                let min_age = z.params(z.class_of_rel(key(f).1.as_bytes())).min_age;
                w.devs[f.zone as usize] == fsu.dev
                    && f.mtime <= NOW - w.policy.daemon.settle_time.secs()
                    && f.time < NOW - min_age.secs()
                    && w.holds.covering(&z.name, key(f).1.as_bytes(), Timestamp(f.time), now).is_none()
            };
            let youngest_taken = w.files.iter().filter(|f| eligible(f) && del.get(&key(f)) == Some(&"capacity")).map(|f| f.time).max();
            if let Some(y) = youngest_taken {
                for f in w.files.iter().filter(|f| eligible(f) && !del.contains_key(&key(f))) {
                    prop_assert!(f.time >= y, "kept {:?} older than a capacity deletion at {}", key(f), y);
                }
            }
        }
    }

    /// The plan does not depend on the order the tree was read in.
    #[test]
    fn order_independent(w in world(), seed in any::<u64>()) {
        let mut shuffled = w.files.clone();
        let n = shuffled.len();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let (p1, i1, _) = run(&w.files, &w.policy, &w.holds, &w.usage, false, &w.devs);
        let (p2, i2, _) = run(&shuffled, &w.policy, &w.holds, &w.usage, false, &w.devs);
        prop_assert_eq!(deleted(&p1, &i1, &w.files, &w.policy, &w.holds), deleted(&p2, &i2, &shuffled, &w.policy, &w.holds));
    }
}

#[test]
fn capacity_never_overshoots_by_more_than_one_file() {
    // A flat directory: everything in one summary.
    let p = policy(&zone_toml("flat", "/srv/flat", "0s", "100d", ""), "");
    let files: Vec<MF> = (0..500)
        .map(|i| mf(0, "", &format!("{i:04}.wav"), (600 - i) as i64 * 600, 1000 + i as u64))
        .collect();
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let usage = Usage {
        filesystems: vec![usage_fs(1, total, total / 10, "85%,70%")],
    };
    let (pl, inv, _) = run(&files, &p, &HoldSet::default(), &usage, false, &[1]);
    let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
    let need = Watermark::Percent(70.0).excess(Bytes(total), Bytes(total / 10)).0;
    let freed: u64 = files
        .iter()
        .filter(|f| del.contains_key(&key(f)))
        .map(|f| f.bytes)
        .sum();
    assert!(freed >= need && freed < need + 1600, "freed {freed} need {need}");
    let _ = HashMap::<u8, u8>::new();
}

#[test]
fn capacity_budgets_the_audit_records_it_writes_on_the_same_filesystem() {
    let p = policy(&zone_toml("flat", "/srv/flat", "0s", "100d", ""), "");
    let files: Vec<MF> = (0..500)
        .map(|i| mf(0, "", &format!("{i:04}.wav"), (600 - i) as i64 * 600, 1000))
        .collect();
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let mut fsu = usage_fs(1, total, total / 10, "85%,70%");
    let need = Watermark::Percent(70.0).excess(Bytes(total), Bytes(total / 10)).0;
    let freed = |fsu: &FsUsage| {
        let usage = Usage {
            filesystems: vec![fsu.clone()],
        };
        let (pl, inv, _) = run(&files, &p, &HoldSet::default(), &usage, false, &[1]);
        let del = deleted(&pl, &inv, &files, &p, &HoldSet::default());
        files.iter().filter(|f| del.contains_key(&key(f))).count() as u64
    };
    let plain = freed(&fsu);
    assert!(plain * 1000 >= need && plain * 1000 < need + 2000);
    // Each deletion writes 200 bytes of log on this filesystem: 800 net.
    fsu.log_bytes_per_deletion = 200;
    let with_log = freed(&fsu);
    assert!(
        with_log * 800 >= need,
        "{with_log} files free {} net, need {need}",
        with_log * 800
    );
    assert!(with_log * 800 < need + 2000);
}

#[test]
fn capacity_counts_the_audit_logs_missing_reserve_as_used() {
    // 100 recordings of 1000 bytes, past their floor, on a filesystem of
    // 10000 + 100000 bytes at 10% free; the log's reserve (8000 bytes
    // here) is missing: the sweep frees room for it too.
    let p = policy(
        &zone_toml("cctv", "/srv/cctv", "1h", "30d", ""),
        "high_watermark = \"90%\"\nlow_watermark = \"80%\"",
    );
    let files: Vec<MF> = (0..100)
        .map(|i| mf(0, "d", &format!("{i:03}"), 2 * DAY - i, 1000))
        .collect();
    let cap = 200_000u64;
    let plain = usage_fs(1, cap * 89 / 100, cap * 11 / 100, "90%,80%");
    let freed = |fsu: FsUsage| {
        let usage = Usage { filesystems: vec![fsu] };
        let (pl, inv, _) = run(&files, &p, &HoldSet::default(), &usage, false, &[1]);
        deleted(&pl, &inv, &files, &p, &HoldSet::default()).len() as u64 * 1000
    };
    assert_eq!(freed(plain.clone()), 0, "89% is below the high watermark");
    let mut short = plain.clone();
    short.set_audit_log(0, Bytes(8000));
    assert!(
        short.excess(short.marks.high).0 > 0,
        "above the high watermark with the reserve counted"
    );
    // With less free than the reserve misses, the rest counts on top.
    let mut full = usage_fs(1, cap, 0, "90%,80%");
    full.set_audit_log(0, Bytes(8000));
    assert_eq!(full.excess(full.marks.low).0, cap / 5 + 8000);
    assert!(
        short.describe().contains("for the audit log's reserve"),
        "{}",
        short.describe()
    );
    let f = freed(short);
    // Down to 80% with the reserve set aside again.
    assert!(f >= cap * 9 / 100 + 8000 && f < cap * 9 / 100 + 8000 + 1000, "{f}");
}
