//! Command-line interface of pier-bench. Its exit statuses and `--format` are pier-broker's.

mod bench_cmd;
mod demo_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use bench_cmd::BenchArgs;
pub use demo_cmd::DemoArgs;

/// Load a pier cluster and show the whole appliance at work. `pier-broker bench` and
/// `pier-broker demo` run this binary.
#[derive(Debug, Parser)]
#[command(name = "pier-bench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a running cluster: push (queue group), pull (JetStream) or mixed traffic; report
    /// msg/s, bytes/s, latency percentiles and whether every message arrived exactly once.
    ///
    /// Exit status: 0 every message received and acknowledged, 1 messages missing,
    /// duplicated or unacknowledged, or errors during the run, 2 could not run.
    Bench(Box<BenchArgs>),
    /// The whole appliance in one command: three nodes on loopback under pier's supervisor,
    /// the seed's stream and consumer provisioned, the seed's workload run against one node and
    /// against the cluster, figures printed beside the seed's; then everything is stopped and
    /// removed.
    ///
    /// Exit status: 0 every message arrived, 1 some did not, 2 could not run.
    Demo(DemoArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Demo(args) => demo_cmd::run(&args),
    }
}
