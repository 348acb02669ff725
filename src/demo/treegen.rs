//! Synthetic recording trees for the demo, the tests and the benchmark:
//! Frigate's layout `ROOT/YYYY-MM-DD/HH/camNN/MM.SS.mp4` (UTC), mtime =
//! segment end, the same shape as the shared `gen_tree.py`.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct TreeSpec {
    /// Cameras `cam00`, `cam01`, …
    pub cams: u32,
    /// Days of footage ending at `end`.
    pub days: f64,
    /// Segment length in seconds.
    pub segment: i64,
    /// Bytes written into each file.
    pub size: usize,
    /// Unix time the footage ends (the newest segment starts before it).
    pub end: i64,
}

/// Writes the tree, one hour directory at a time spread over the CPUs
/// (creating files is system-call bound); returns how many files it made.
pub fn frigate(root: &Path, spec: &TreeSpec) -> io::Result<u64> {
    frigate_sized(root, spec, None)
}

/// [`frigate`], each file instead of its payload given an apparent size
/// of its own when `sparse` is set: between half and one and a half times
/// it, the same for the same camera and time (identical trees stay
/// identical), with no blocks (a size as varied as real segments', for
/// what records it, on a disk that holds millions of them).
pub fn frigate_sized(root: &Path, spec: &TreeSpec, sparse: Option<u64>) -> io::Result<u64> {
    let start = spec.end - (spec.days * 86_400.0) as i64;
    let first = start - start.rem_euclid(spec.segment);
    // Each hour's span: [from, to).
    let mut hours = Vec::new();
    let mut t = first;
    while t < spec.end {
        let hour_end = t - t.rem_euclid(3600) + 3600;
        hours.push((t, hour_end.min(spec.end)));
        t = hour_end;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let hours = &hours;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || -> io::Result<u64> {
                    let payload = vec![0u8; spec.size];
                    let mut n = 0;
                    for &(from, to) in hours.iter().skip(k).step_by(threads) {
                        n += hour(root, spec, &payload, sparse, from, to)?;
                    }
                    Ok(n)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("generator thread")).sum()
    })
}

fn hour(root: &Path, spec: &TreeSpec, payload: &[u8], sparse: Option<u64>, from: i64, to: i64) -> io::Result<u64> {
    let hour_dir = root.join(utc(from)?.format("%Y-%m-%d/%H").to_string());
    let mut n = 0;
    for c in 0..spec.cams {
        let d = hour_dir.join(format!("cam{c:02}"));
        std::fs::create_dir_all(&d)?;
        let mut tt = from;
        while tt < to {
            let f = d.join(utc(tt)?.format("%M.%S.mp4").to_string());
            match sparse {
                None => write_file(&f, payload, tt + spec.segment)?,
                Some(mean) => {
                    let size = mean / 2 + splitmix(((c as u64) << 40) ^ tt as u64) % mean.max(1);
                    let file = File::create(&f)?;
                    file.set_len(size)?;
                    file.set_modified(UNIX_EPOCH + Duration::from_secs((tt + spec.segment).max(0) as u64))?;
                }
            }
            n += 1;
            tt += spec.segment;
        }
    }
    Ok(n)
}

/// Creates (or truncates) `path` with `payload` and sets its mtime.
pub fn write_file(path: &Path, payload: &[u8], mtime: i64) -> io::Result<()> {
    let mut f = File::create(path)?;
    if !payload.is_empty() {
        f.write_all(payload)?;
    }
    f.set_modified(UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64))
}

/// A well-mixed 64-bit value of `x` (SplitMix64's finalizer).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn utc(t: i64) -> io::Result<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "time out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_shape_as_gen_tree_py() {
        let d = tempfile::tempdir().unwrap();
        // 2026-11-20 10:30:00 UTC, half a day of 10-minute segments, 2 cameras.
        let end = 1_795_170_600;
        let n = frigate(
            d.path(),
            &TreeSpec {
                cams: 2,
                days: 0.5,
                segment: 600,
                size: 3,
                end,
            },
        )
        .unwrap();
        assert_eq!(n, 2 * 72);
        let f = d.path().join("2026-11-20/10/cam01/20.00.mp4");
        let md = std::fs::metadata(&f).unwrap();
        assert_eq!(md.len(), 3);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(md.mtime(), end - 10 * 60 + 600);
        assert!(!d.path().join("2026-11-20/10/cam01/30.00.mp4").exists());
        assert!(d.path().join("2026-11-19/22/cam00/30.00.mp4").exists());
    }
}
