//! Command-line interface of pier-tuner.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use pier_cli::config::{load_valid, ConfigPath};
pub use pier_cli::{exit, Format};
use pier_config::load::{ServerChoice, VersionSource};
use pier_config::{Config, CpuSet, ServerVersion};

use crate::checks::{self, Context};
use crate::host::Host;
use crate::report::{self, Summary};
use crate::{apply, boot_args, facts, pin};

/// Check and tune a host for a low-latency pier NATS node.
///
/// Every host fact is read under --root (default /), so checks also run against a captured tree.
#[derive(Debug, Parser)]
#[command(name = "pier-tuner", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the host against pier.toml: CPU isolation, pinning, IRQs, governor, THP, swap, NUMA,
    /// limits, JetStream storage, durability, memory, clock, routes.
    ///
    /// Exit status: 0 nothing failed, 1 something failed or errored (or warned, with
    /// --deny-warnings) or pier.toml is invalid (nothing checked), 2 could not run (pier.toml
    /// unreadable, no proc directory under --root).
    Check(CheckArgs),
    /// Apply the settings that are safe at run time: performance governor on the nats-server
    /// cores, THP madvise, sysctls (drop-in /etc/sysctl.d/60-pier.conf and /proc/sys), IRQ
    /// affinity off the nats-server cores, irqbalance banned cores. Originals are saved once to
    /// /var/lib/pier/tuner/originals.json.
    ///
    /// Exit status: 0 applied (or nothing to do), 1 some changes failed or pier.toml is invalid
    /// (nothing applied), 2 could not run (pier.toml unreadable, a host file missing or
    /// unparseable).
    Apply(ApplyArgs),
    /// Print the kernel command line isolating the nats-server cores, and how to install it on
    /// Debian (grub drop-in) and RHEL (grubby). Never reboots.
    ///
    /// Exit status: 0 printed, 1 no cores to isolate (cpus = "auto" with nothing isolated, or
    /// "all") or pier.toml is invalid (nothing printed), 2 could not run (pier.toml unreadable,
    /// a host file missing or unparseable).
    BootArgs(BootArgsArgs),
    /// Confine every thread of a running process to a CPU list (sched_setaffinity per thread,
    /// re-walking until no new thread appears).
    ///
    /// Exit status: 0 every thread pinned, 1 some threads could not be pinned, 2 could not run
    /// (no such process, bad CPU list).
    Pin(PinArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Read every host fact under this directory (a captured /proc, /sys, /etc tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Skip every check that needs the network (reported as skip, with the reason): the routes to
    /// the peers, which connect to them, and the clock, which is synchronised over it.
    #[arg(long)]
    pub offline: bool,
    /// The nats-server version to judge against (default: ask the running or configured binary,
    /// on the live host only).
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<ServerVersion>,
    /// Print how long each area of checks took, to stderr.
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the changes as a runnable shell script and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct BootArgsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// The process whose threads to confine.
    #[arg(long)]
    pub pid: u32,
    /// CPU list, e.g. 2-7.
    #[arg(long, value_name = "LIST")]
    pub cpus: CpuSet,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Apply(args) => apply_cmd(&args),
        Command::BootArgs(args) => boot_args_cmd(&args),
        Command::Pin(args) => pin_cmd(&args),
    }
}

/// Loads pier.toml with the loader `pier-broker` uses, so both reach the same verdict. The
/// nats-server version it is judged against: the given one, else that of pier's running
/// nats-server's binary, else the configured one's — on the live host only: a captured tree's
/// binaries are not on this machine, so there the version-dependent rules are not judged.
fn load(
    args: &ConfigArgs,
    given: Option<ServerVersion>,
    nothing: &str,
    format: Format,
) -> Result<(Config, Option<ServerVersion>), ExitCode> {
    let host = Host::new(&args.root);
    let version = match given {
        Some(version) => VersionSource::Given(version),
        None if !host.is_live() => VersionSource::Unknown,
        None => VersionSource::Running(running_servers(&host)),
    };
    let choice = ServerChoice {
        binary: None,
        version,
    };
    let checked = load_valid(&args.config, &choice, nothing, format)?;
    for warning in checked.warnings() {
        tracing::warn!("{warning}");
    }
    let version = checked.version;
    let config = checked.config.ok_or_else(|| ExitCode::from(exit::FAILED))?;
    Ok((config, version))
}

/// The executables of pier's nats-servers running on the live host, the unit's first: another
/// program's nats-server is no evidence of the version pier runs.
fn running_servers(host: &Host) -> Vec<PathBuf> {
    let processes = facts::process::processes(host).unwrap_or_default();
    facts::process::pier_servers(host, &processes)
        .unwrap_or_default()
        .into_iter()
        .map(|s| PathBuf::from(format!("/proc/{}/exe", s.pid)))
        .collect()
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let (config, version) = match load(
        &args.config,
        args.server_version,
        "nothing checked",
        args.format,
    ) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let host = Host::new(&args.config.root);
    if !host.path("/proc").is_dir() {
        eprintln!("error: {} has no proc directory", host.root().display());
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    }
    let loaded = start.elapsed();
    let ctx = Context::read(&config, &host, args.offline, version);
    let read = start.elapsed() - loaded;
    let (checks, timings) = checks::run(&ctx);
    let total = start.elapsed();

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => report::write_json(&mut stdout, host.root(), &checks)?,
        Format::Text => report::write_text(&mut stdout, &checks, std::io::stdout().is_terminal())?,
    }
    stdout.flush()?;
    if args.timings {
        let mut err = std::io::stderr().lock();
        for (what, t) in [("config", loaded), ("host facts", read)] {
            writeln!(err, "{what:<12} {:>9.3} ms", t.as_secs_f64() * 1e3)?;
        }
        for (area, t) in &timings {
            writeln!(err, "{area:<12} {:>9.3} ms", t.as_secs_f64() * 1e3)?;
        }
        writeln!(err, "{:<12} {:>9.3} ms", "total", total.as_secs_f64() * 1e3)?;
    }
    let failed = Summary::of(&checks).failed(args.deny_warnings);
    Ok(ExitCode::from(if failed { exit::FAILED } else { exit::OK }))
}

fn apply_cmd(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let (config, _) = match load(&args.config, None, "nothing applied", Format::Text) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let host = Host::new(&args.config.root);
    let plan = apply::plan(&config, &host).context("cannot read the host")?;
    let mut stdout = std::io::stdout().lock();
    if args.dry_run {
        write!(stdout, "{}", apply::script(&host, &plan)?)?;
        return Ok(ExitCode::from(exit::OK));
    }
    let outcome = apply::apply(&host, &plan)?;
    for line in &outcome.lines {
        writeln!(stdout, "{line}")?;
    }
    Ok(ExitCode::from(if outcome.failures > 0 {
        exit::FAILED
    } else {
        exit::OK
    }))
}

fn boot_args_cmd(args: &BootArgsArgs) -> anyhow::Result<ExitCode> {
    let (config, _) = match load(&args.config, None, "nothing printed", Format::Text) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let host = Host::new(&args.config.root);
    let mut stdout = std::io::stdout().lock();
    match boot_args::compute(&config, &host).context("cannot read the host")? {
        Ok(args) => {
            write!(stdout, "{}", args.instructions())?;
            Ok(ExitCode::from(exit::OK))
        }
        Err(explanation) => {
            writeln!(stdout, "{explanation}")?;
            Ok(ExitCode::from(exit::FAILED))
        }
    }
}

fn pin_cmd(args: &PinArgs) -> anyhow::Result<ExitCode> {
    if args.cpus.is_empty() {
        eprintln!("error: --cpus is empty");
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    }
    let threads = match pin::pin(args.pid, &args.cpus) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    for t in &threads {
        writeln!(stdout, "{t}")?;
        failed += usize::from(t.failed());
    }
    let pinned = threads.iter().filter(|t| t.pinned()).count();
    writeln!(
        stdout,
        "{pinned} threads of pid {} pinned to {}, {failed} failed",
        args.pid, args.cpus
    )?;
    Ok(ExitCode::from(if failed > 0 {
        exit::FAILED
    } else {
        exit::OK
    }))
}
