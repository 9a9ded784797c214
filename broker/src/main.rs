use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pier_broker::cli::{self, Cli, Command};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run(_)) {
        init_service_logging();
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit::CANNOT_RUN)
        }
    }
}

/// `run` logs through `tracing`: to the journal with priorities and fields under systemd
/// (JOURNAL_STREAM is set when stderr is the journal), human-readable on stderr otherwise.
/// nats-server's own lines come as target `nats_server`; their level is already filtered by
/// nats-server's debug/trace settings, so they pass whatever RUST_LOG says about pier itself.
fn init_service_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            "nats_server=trace"
                .parse()
                .unwrap_or_else(|_| tracing::Level::TRACE.into()),
        );
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            let priorities = tracing_journald::PriorityMappings {
                info: tracing_journald::Priority::Informational,
                debug: tracing_journald::Priority::Debug,
                ..tracing_journald::PriorityMappings::new()
            };
            let journald = journald
                .with_field_prefix(None)
                .with_syslog_identifier("pier-broker".to_owned())
                .with_priority_mappings(priorities);
            tracing_subscriber::registry()
                .with(filter)
                .with(journald)
                .init();
            return;
        }
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(true),
        )
        .init();
}
