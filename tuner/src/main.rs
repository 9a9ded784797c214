use std::process::ExitCode;

use clap::Parser;
use pier_cli::logging;

fn main() -> ExitCode {
    let cli = pier_tuner::cli::Cli::parse();
    logging::init(logging::Defaults {
        level: "warn",
        always: &[],
        identifier: "pier-tuner",
    });
    pier_cli::main(|| pier_tuner::cli::run(cli))
}
