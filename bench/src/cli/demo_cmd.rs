//! `pier-bench demo` (also reached as `pier-broker demo`): the README's main command.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use pier_cli::{exit, Format};

use crate::demo::{self, DemoOptions};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the temporary directory with the nodes' configs, stores and logs.
    #[arg(long)]
    pub keep: bool,
    /// Put configs, stores and logs in DIR (kept afterwards) instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The nats-server binary for every node (default: pier's, else the first on PATH).
    #[arg(long, value_name = "PATH")]
    pub nats_server: Option<PathBuf>,
    /// Messages per push (queue group) run.
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub push_msgs: u64,
    /// Messages per pull (JetStream) run.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub pull_msgs: u64,
    /// Payload bytes per message.
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub size: usize,
    /// Runs per workload and topology; the table shows medians.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub runs: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let options = DemoOptions {
        dir: args.dir.clone(),
        keep: args.keep,
        nats_server: args.nats_server.clone(),
        push_messages: args.push_msgs,
        pull_messages: args.pull_msgs,
        size: args.size,
        runs: usize::try_from(args.runs).unwrap_or(1),
        verbose: args.format == Format::Text || std::io::stderr().is_terminal(),
    };
    let report = match demo::run(&options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: demo: {e}");
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Text => report.write_text(&mut stdout)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
    }
    Ok(ExitCode::from(if report.complete() {
        exit::OK
    } else {
        exit::FAILED
    }))
}
