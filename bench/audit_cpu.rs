//! The audit log's CPU per deleted file: `--files N` deletions of hour
//! directories of `--per-dir` files, written as grouped records (one per
//! directory, as sweeps write them) and as a record per file (as they were
//! written before grouping), each in batches of 2,000 made durable, into a
//! fresh log under `--dir`. Prints the CPU time of each way, per file, and
//! the bytes each log compresses to as a rotated segment (zstd level 3).
//! Used by `bench/run`'s audit rows.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use retentiond::audit::schema::{BatchDone, Delete, GroupFile, RecPath, GROUPED};
use retentiond::audit::{AuditLog, AuditOptions};
use retentiond::core::plan::reason_text;
use retentiond::core::units::Timestamp;

#[derive(Parser)]
struct Args {
    /// Where to write the two logs (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Deleted files to record.
    #[arg(long, default_value_t = 200_000)]
    files: u64,
    /// Files per directory (360: an hour of 10 s segments).
    #[arg(long, default_value_t = 360)]
    per_dir: u64,
}

const BATCH: u64 = 2000;
const BASIS: &str = "older than max_age 28d";

/// The process's CPU time (user and system), in seconds.
fn cpu() -> f64 {
    let mut ru = std::mem::MaybeUninit::<nix::libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    let ru = unsafe {
        nix::libc::getrusage(nix::libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let t = |v: nix::libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// A segment's apparent size, varied as real ones are.
fn size(k: u64) -> u64 {
    2_000_000 + k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 3_000_000
}

fn run(dir: &std::path::Path, a: &Args, grouped: bool) -> std::io::Result<(f64, u64)> {
    let path = dir.join(if grouped { "grouped.jsonl" } else { "per-file.jsonl" });
    let mut log = AuditLog::open(&path, AuditOptions::default()).map_err(std::io::Error::other)?;
    let decided = Timestamp(1_800_000_000);
    let start = Timestamp(decided.0 - 30 * 86_400);
    let policy = "0".repeat(64);
    let c0 = cpu();
    let mut k = 0u64;
    let mut in_batch = 0u64;
    let mut first = None;
    let mut last = 0;
    while k < a.files {
        let d = k / a.per_dir;
        let n = a.per_dir.min(a.files - k);
        let dir_path = format!("/srv/nvr/2026-10-01/{:02}/cam{:02}", d % 24, d / 24 % 100);
        let t0 = Timestamp(start.0 + (d * 3600) as i64);
        let name = |j: u64| format!("{:02}.{:02}.mp4", j * 10 / 60 % 60, j * 10 % 60);
        if grouped {
            let seq = log
                .record(&Delete {
                    zone: "cctv".into(),
                    path: RecPath::from(&dir_path),
                    size: (0..n).map(|j| size(k + j)).sum(),
                    bytes: (0..n).map(|j| size(k + j).div_ceil(4096) * 4096).sum(),
                    rec_time: t0.rfc3339(),
                    reason: "max-age".into(),
                    text: BASIS.into(),
                    policy: policy.clone(),
                    unit: Some(GROUPED.into()),
                    decided: Some(decided.rfc3339()),
                    files: (0..n)
                        .map(|j| {
                            let s = size(k + j);
                            GroupFile(RecPath::from(name(j)), s, s.div_ceil(4096) * 4096, (j * 10) as i64)
                        })
                        .collect(),
                    ..Default::default()
                })
                .map_err(std::io::Error::other)?;
            first.get_or_insert(seq);
            last = seq;
        } else {
            for j in 0..n {
                let t = Timestamp(t0.0 + (j * 10) as i64);
                let s = size(k + j);
                let seq = log
                    .record(&Delete {
                        zone: "cctv".into(),
                        path: RecPath::from(format!("{dir_path}/{}", name(j))),
                        size: s,
                        bytes: s.div_ceil(4096) * 4096,
                        rec_time: t.rfc3339(),
                        reason: "max-age".into(),
                        text: reason_text(BASIS, t, decided, None),
                        policy: policy.clone(),
                        ..Default::default()
                    })
                    .map_err(std::io::Error::other)?;
                first.get_or_insert(seq);
                last = seq;
            }
        }
        k += n;
        in_batch += n;
        if in_batch >= BATCH || k == a.files {
            log.sync().map_err(std::io::Error::other)?;
            log.record(&BatchDone {
                first: first.take(),
                last: Some(last),
                deleted: in_batch,
                ..Default::default()
            })
            .map_err(std::io::Error::other)?;
            in_batch = 0;
        }
    }
    log.sync().map_err(std::io::Error::other)?;
    let took = cpu() - c0;
    // As a rotated segment: zstd at the log's level 3.
    let bytes = zstd::stream::encode_all(std::fs::File::open(&path)?, 3)?.len() as u64;
    Ok((took, bytes))
}

fn main() -> ExitCode {
    let a = Args::parse();
    let go = || -> std::io::Result<()> {
        std::fs::create_dir_all(&a.dir)?;
        let (gc, gb) = run(&a.dir, &a, true)?;
        let (pc, pb) = run(&a.dir, &a, false)?;
        let us = |c: f64| c * 1e6 / a.files as f64;
        println!(
            "audit_cpu: files {} grouped_us {:.3} per_file_us {:.3} grouped_zst {} per_file_zst {}",
            a.files,
            us(gc),
            us(pc),
            gb,
            pb
        );
        Ok(())
    };
    match go() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit_cpu: {e}");
            ExitCode::FAILURE
        }
    }
}
