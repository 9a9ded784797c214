//! Command-line interface of pier-broker.

mod bench_cmd;
mod demo_cmd;
mod provision_cmd;
mod render_cmd;
mod run_cmd;
mod status_cmd;
mod validate_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pier_cli::config::{load_valid, ConfigPath};
pub use pier_cli::exit;
pub use pier_cli::Format;
use pier_config::load::{Checked, ServerChoice};
use pier_config::ServerVersion;

/// Run a tuned, supervised nats-server node of a pier cluster.
#[derive(Debug, Parser)]
#[command(name = "pier-broker", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration and report every problem at once.
    ///
    /// Exit status: 0 valid, 1 invalid (or warnings with --deny-warnings), 2 could not run.
    Validate(ValidateArgs),
    /// Print the nats-server configuration rendered from pier.toml (secrets redacted).
    ///
    /// Exit status: 0 rendered, 1 invalid configuration, 2 could not run.
    Render(RenderArgs),
    /// Create and update the declared JetStream streams and consumers on the cluster.
    ///
    /// Prints a plan (create, update, recreate, unchanged, drift, delete, unmanaged; field by
    /// field), then applies it. A change that loses data or cannot be made in place is refused,
    /// and then nothing at all is changed, unless its stream sets allow_destructive = true.
    /// See docs/jetstream.md.
    ///
    /// Exit status: 0 the cluster matches (or would, with --dry-run), 1 invalid configuration
    /// or changes refused, 2 could not run (server unreachable, JetStream unavailable past
    /// [provision] timeout, request rejected).
    Provision(ProvisionArgs),
    /// Supervise nats-server in the foreground: render, check, start pinned and without
    /// capabilities, report to systemd (Type=notify), reload on SIGHUP, lame duck on SIGTERM.
    ///
    /// Exit status: 0 stopped on SIGTERM/SIGINT, 1 invalid configuration, 2 could not run,
    /// 3 nats-server exited on its own (systemd's Restart= applies).
    Run(RunArgs),
    /// Show this node and its view of the cluster: routes, JetStream meta leader, streams,
    /// consumer lag.
    ///
    /// Exit status: 0 answered (with --wait-cluster: cluster formed), 1 --wait-cluster timed
    /// out (nats-server unreachable until then included), 2 could not run or nats-server not
    /// reachable (without --wait-cluster).
    Status(StatusArgs),
    /// Load a running cluster: push (queue group), pull (JetStream) or mixed traffic; report
    /// msg/s, bytes/s, latency percentiles and whether every message arrived exactly once.
    ///
    /// Exit status: 0 every message received and acknowledged, 1 messages missing,
    /// duplicated or unacknowledged, or errors during the run, 2 could not run.
    Bench(bench_cmd::BenchArgs),
    /// The whole appliance in one command: three nodes on loopback under pier's supervisor,
    /// the seed's stream and consumer provisioned, the seed's workload run against one node and
    /// against the cluster, figures printed beside the seed's; then everything is stopped and
    /// removed.
    ///
    /// Exit status: 0 every message arrived, 1 some did not, 2 could not run.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// The nats-server binary to check against (overrides node.nats_server).
    #[arg(long, value_name = "PATH")]
    pub nats_server: Option<PathBuf>,
    /// Assume this nats-server version instead of asking the binary (e.g. 2.10.24).
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<ServerVersion>,
}

impl ConfigArgs {
    pub fn server_choice(&self) -> ServerChoice {
        ServerChoice {
            binary: self.nats_server.clone(),
            version: self.server_version.into(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the plan without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// The nats-server to talk to (default: this node's client_listen, on loopback when it
    /// listens on every address).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Wait until every configured peer is routed and JetStream has a meta leader (a rollout gate).
    #[arg(long)]
    pub wait_cluster: bool,
    /// Seconds to wait with --wait-cluster (and at most per request otherwise).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

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

/// Loads pier.toml for a command that acts on it; see [`pier_cli::config::load_valid`].
fn valid_config(args: &ConfigArgs, nothing: &str, format: Format) -> Result<Checked, ExitCode> {
    load_valid(&args.config, &args.server_choice(), nothing, format)
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate_cmd::run(&args),
        Command::Render(args) => render_cmd::run(&args),
        Command::Provision(args) => provision_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Status(args) => status_cmd::run(&args),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Demo(args) => demo_cmd::run(&args),
    }
}
