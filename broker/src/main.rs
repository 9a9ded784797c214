use std::process::ExitCode;

use clap::Parser;
use pier_broker::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit::CANNOT_RUN)
        }
    }
}
