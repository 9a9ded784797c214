//! `pier-broker demo`: the README's main command.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use super::{exit, DemoArgs, Format};
use crate::demo::{self, DemoOptions};

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
        exit::INVALID
    }))
}
