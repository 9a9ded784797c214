//! The conventions every pier binary shares, so that `pier-broker`, `pier-tuner` and `pier-bench`
//! behave alike for the operators and the tools (systemd, Ansible) that drive them:
//!
//! - [`logging`]: one tracing setup — journald fields under systemd, stderr otherwise, the level
//!   from `PIER_LOG`;
//! - [`exit`]: one meaning for each exit status;
//! - [`Format`]: one `--format text|json` flag;
//! - [`config`]: one `--config` flag and one way to refuse an invalid pier.toml;
//! - [`durable`]: one way to write a file that a power cut leaves whole;
//! - [`main`]: one way to end — an error printed once with its chain, a closed pipe ignored.

pub mod config;
pub mod durable;
pub mod exit;
pub mod logging;

use std::process::ExitCode;

pub use exit::main;

/// `--format`: text for people, JSON for programs. Every command that prints a report takes it,
/// and in JSON mode prints one JSON document whatever happens (errors included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Maps "did the thing judged pass?" to the shared exit statuses.
pub fn verdict(failed: bool) -> ExitCode {
    ExitCode::from(if failed { exit::FAILED } else { exit::OK })
}
