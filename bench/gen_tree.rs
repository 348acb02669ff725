//! gen_tree: builds a Frigate-like recording tree for the system test and the
//! benchmark: `ROOT/YYYY-MM-DD/HH/camNN/MM.SS.mp4` (UTC), mtime = segment
//! end, the same shape as the shared `gen_tree.py`.
//!
//! `cargo run --release --example gen_tree -- ROOT --cams 32 --days 28 --segment 60`
//!
//! With `--frames N`, a ZoneMinder-like tree instead ("medium" scheme):
//! `ROOT/<monitor>/YYYY-MM-DD/<event id>/NNNNN-capture.jpg` (N frames) and
//! `<event id>-video.mp4`, one event per `--segment` seconds per monitor
//! (`--cams` monitors), mtime = event end.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use retentiond::demo::treegen::{frigate_sized, TreeSpec};

/// Builds a Frigate-like recording tree.
#[derive(Parser)]
struct Args {
    /// Where to build it (created if missing).
    root: PathBuf,
    /// Cameras.
    #[arg(long, default_value_t = 32)]
    cams: u32,
    /// Days of footage, ending at --end.
    #[arg(long, default_value_t = 28.0)]
    days: f64,
    /// Segment length in seconds.
    #[arg(long, default_value_t = 60)]
    segment: i64,
    /// Bytes in each file.
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// Instead of --size bytes of content, give each file an apparent
    /// size of its own around this many bytes, with no blocks (sparse).
    #[arg(long)]
    sparse_size: Option<u64>,
    /// Unix time the footage ends (default: now).
    #[arg(long)]
    end: Option<i64>,
    /// ZoneMinder-like events of this many frames (and a video) each.
    #[arg(long)]
    frames: Option<u32>,
}

/// A ZoneMinder "medium" tree; returns how many files it made.
fn zoneminder(root: &std::path::Path, spec: &TreeSpec, frames: u32) -> std::io::Result<u64> {
    use retentiond::demo::treegen::write_file;
    let start = spec.end - (spec.days * 86_400.0) as i64;
    let body = vec![0u8; spec.size];
    let mut n = 0;
    let mut id = 1u64;
    let mut t = start;
    while t < spec.end {
        for mon in 1..=spec.cams {
            let day = chrono::DateTime::from_timestamp(t, 0)
                .expect("in range")
                .format("%Y-%m-%d");
            let dir = root.join(format!("{mon}/{day}/{id}"));
            std::fs::create_dir_all(&dir)?;
            let end = t + spec.segment;
            for f in 1..=frames {
                write_file(&dir.join(format!("{f:05}-capture.jpg")), &body, end)?;
            }
            write_file(&dir.join(format!("{id}-video.mp4")), &body, end)?;
            n += u64::from(frames) + 1;
            id += 1;
        }
        t += spec.segment;
    }
    Ok(n)
}

fn main() -> ExitCode {
    let a = Args::parse();
    let spec = TreeSpec {
        cams: a.cams,
        days: a.days,
        segment: a.segment,
        size: a.size,
        end: a.end.unwrap_or_else(|| retentiond::core::units::Timestamp::now().0),
    };
    let t0 = std::time::Instant::now();
    let made = std::fs::create_dir_all(&a.root).and_then(|()| match a.frames {
        Some(f) => zoneminder(&a.root, &spec, f),
        None => frigate_sized(&a.root, &spec, a.sparse_size),
    });
    match made {
        Ok(n) => {
            eprintln!(
                "gen_tree: {n} files in {} ({:.1}s)",
                a.root.display(),
                t0.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_tree: {}: {e}", a.root.display());
            ExitCode::FAILURE
        }
    }
}
