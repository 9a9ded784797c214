//! Command-line interface of pier-broker.

mod diff_cmd;
mod provision_cmd;
mod render_cmd;
mod run_cmd;
mod status_cmd;
mod validate_cmd;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pier_cli::config::{load_valid, ConfigPath};
pub use pier_cli::exit;
pub use pier_cli::Format;
use pier_config::load::{Checked, ServerChoice};
use pier_config::ServerVersion;

use crate::companion::{self, PIER_BENCH};

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
    /// The TLS files' contents (a certificate, its own key, CA certificates) are shown to the
    /// nats-server found (`nats-server -t`), which judges them.
    ///
    /// Exit status: 0 valid, 1 invalid (or warnings with --deny-warnings), 2 could not run.
    Validate(ValidateArgs),
    /// Show what changed between two pier.toml files, key by key, and whether each change takes
    /// a reload (`systemctl reload pier-broker`) or a restart. The supervisor refuses a reload
    /// that needs a restart; the Ansible role asks this command which one to do.
    ///
    /// Exit status: 0 compared, 1 a file is not a valid pier.toml, 2 a file cannot be read.
    Diff(DiffArgs),
    /// Print the nats-server configuration rendered from pier.toml (secrets redacted).
    ///
    /// Exit status: 0 rendered, 1 invalid configuration, 2 could not run.
    Render(RenderArgs),
    /// Create and update the declared JetStream streams and consumers on the cluster.
    ///
    /// Prints a plan (create, update, recreate, unchanged, drift, delete, unmanaged, lost; field
    /// by field), then applies it. A change that loses data or cannot be made in place is
    /// refused, and then nothing at all is changed, unless its stream sets allow_destructive =
    /// true. A declared stream this node's record saw and the cluster no longer has (or whose
    /// last sequence went backwards) is lost: reported, and created again only with
    /// --accept-loss. See docs/jetstream.md.
    ///
    /// Exit status: 0 the cluster matches (or would, with --dry-run), 1 invalid configuration,
    /// changes refused or a stream lost, 2 could not run (server unreachable, JetStream
    /// unavailable past [provision] timeout, request rejected).
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
    /// Runs `pier-bench bench` with every argument: `pier-broker bench --help` shows its options
    /// and exit statuses. Exit status 2 when pier-bench is not installed.
    #[command(disable_help_flag = true)]
    Bench(ForwardArgs),
    /// The whole appliance in one command: three nodes on loopback under pier's supervisor,
    /// the seed's workload, figures beside the seed's.
    ///
    /// Runs `pier-bench demo` with every argument: `pier-broker demo --help` shows its options
    /// and exit statuses. Exit status 2 when pier-bench is not installed.
    #[command(disable_help_flag = true)]
    Demo(ForwardArgs),
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
pub struct DiffArgs {
    /// The configuration the node runs.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The configuration to apply.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
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
    /// Accept that declared stream NAME lost what it held (it is gone, or its last sequence
    /// went backwards): create it again if gone, and record what it holds now. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub accept_loss: Vec<String>,
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

/// A subcommand of pier-bench: clap accepts any arguments (`--help` included), and
/// [`companion::hand_over`] passes them on exactly as given.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// Loads pier.toml for a command that acts on it; see [`pier_cli::config::load_valid`].
fn valid_config(args: &ConfigArgs, nothing: &str, format: Format) -> Result<Checked, ExitCode> {
    load_valid(&args.config, &args.server_choice(), nothing, format)
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate_cmd::run(&args),
        Command::Diff(args) => diff_cmd::run(&args),
        Command::Render(args) => render_cmd::run(&args),
        Command::Provision(args) => provision_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Status(args) => status_cmd::run(&args),
        Command::Bench(_) => Err(companion::hand_over(PIER_BENCH, "bench").into()),
        Command::Demo(_) => Err(companion::hand_over(PIER_BENCH, "demo").into()),
    }
}
