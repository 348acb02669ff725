//! gen_tree: builds a Frigate-like recording tree for the system test and the
//! benchmark: `ROOT/YYYY-MM-DD/HH/camNN/MM.SS.mp4` (UTC), mtime = segment
//! end, the same shape as the shared `gen_tree.py`.
//!
//! `cargo run --release --example gen_tree -- ROOT --cams 32 --days 28 --segment 60`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use retentiond::demo::treegen::{frigate, TreeSpec};

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
    /// Unix time the footage ends (default: now).
    #[arg(long)]
    end: Option<i64>,
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
    match std::fs::create_dir_all(&a.root).and_then(|()| frigate(&a.root, &spec)) {
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
