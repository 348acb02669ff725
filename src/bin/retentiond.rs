//! The retentiond daemon binary: argument parsing and process set-up only;
//! everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use log::LevelFilter;
use retentiond::cli::{DaemonArgs, EXIT_FAILURE};
use retentiond::core::policy::Policy;
use retentiond::host::logging;
use retentiond::{daemon, demo};

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
    logging::init(
        "retentiond",
        if args.verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        },
    );
    if args.demo {
        return report(demo::run(&mut std::io::stdout().lock()));
    }
    if args.check_config {
        return match Policy::load(&args.config) {
            Ok(p) => {
                print!("{}", p.describe());
                let gid = nix::unistd::Group::from_name("retentiond")
                    .ok()
                    .flatten()
                    .map(|g| g.gid.as_raw());
                for note in retentiond::fs::usage::small_box_notes(&p, gid) {
                    eprintln!("retentiond: note: {note}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("retentiond: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(Err(e.into())),
    };
    let opts = daemon::Options {
        config: args.config,
        once: args.once,
        dry_run: args.dry_run,
    };
    report(rt.block_on(async { daemon::run(opts, daemon::shutdown_signal()?).await }))
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
