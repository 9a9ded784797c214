use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pier_bench::cli::{self, Cli};
use pier_broker::cli::exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::CANNOT_RUN)
        }
    }
}

/// PLACEHOLDER for the shared logging init (issue 14 item 2): the lead replaces this whole
/// function with the one every pier binary uses. Until then: warnings and errors on stderr
/// (RUST_LOG overrides the level), so a failed cleanup of a stream or consumer is not silent.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
