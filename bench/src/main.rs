use std::process::ExitCode;

use clap::Parser;
use pier_bench::cli::{self, Cli};
use pier_cli::logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(logging::Defaults {
        level: "warn",
        always: &[],
        identifier: "pier-bench",
    });
    pier_cli::main(|| cli::run(cli))
}
