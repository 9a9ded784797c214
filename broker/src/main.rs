use std::process::ExitCode;

use clap::Parser;
use pier_broker::cli::{self, Cli, Command};
use pier_cli::logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let service = matches!(cli.command, Command::Run(_));
    logging::init(logging::Defaults {
        // The supervisor reports what it does; a command speaks only when something is off.
        level: if service { "info" } else { "warn" },
        // nats-server's own lines (target `nats_server`) are already filtered by its debug/trace
        // settings, so they pass whatever PIER_LOG says about pier itself.
        always: &["nats_server=trace"],
        identifier: "pier-broker",
    });
    pier_cli::main(|| cli::run(cli))
}
