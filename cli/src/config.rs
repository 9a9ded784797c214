//! `--config`, and what every command does with the file before acting on it.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use pier_config::load::{check, Checked, ServerChoice, VersionSource};
use pier_config::model::DEFAULT_CONFIG_PATH;
use pier_config::{Config, Diagnostic, ReadError};
use serde_json::json;

use crate::{exit, Format};

/// The appliance configuration file, `-c`/`--config` in every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigPath {
    /// The appliance configuration file.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
}

/// Commands hand the path on as it is (`check(&args.config, …)`).
impl std::ops::Deref for ConfigPath {
    type Target = std::path::Path;

    fn deref(&self) -> &Self::Target {
        &self.config
    }
}

/// Loads pier.toml for a command that acts on it. When the command cannot go on, the reason has
/// been reported and the exit status is returned: [`exit::CANNOT_RUN`] for a file that cannot be
/// read, [`exit::FAILED`] for an invalid one, in every binary. With `--format json` the report is
/// a JSON document on stdout (the shape `pier-broker validate` prints), so a program reading it
/// always gets one; otherwise every error goes to stderr. `nothing` says what did not happen
/// ("nothing rendered"). Warnings of a valid file are the caller's: which matter depends on the
/// command (`provision` does not care whether this machine has a nats-server binary).
pub fn load_valid(
    path: &ConfigPath,
    choice: &ServerChoice,
    nothing: &str,
    format: Format,
) -> Result<Checked, ExitCode> {
    let checked = check_reporting(path, choice, format)?;
    if checked.valid_config().is_none() {
        match format {
            Format::Json => print_json(&report_json(&checked, false)),
            Format::Text => {
                for diagnostic in checked.errors() {
                    eprintln!("{diagnostic}");
                }
                eprintln!(
                    "error: {} is invalid; {nothing}",
                    checked.source.path.display()
                );
            }
        }
        return Err(ExitCode::from(exit::FAILED));
    }
    Ok(checked)
}

/// Loads pier.toml for a command that only reads where the node listens (`status`): it must
/// parse, but it is not refused for what validation finds, so that an operator who cannot read
/// the node's secrets (0600, owned by pier) still gets an answer; the findings are logged at
/// debug level. Reported as [`load_valid`] reports.
pub fn load_parsed(path: &ConfigPath, format: Format) -> Result<Config, ExitCode> {
    let choice = ServerChoice {
        binary: None,
        version: VersionSource::Unknown,
    };
    let checked = check_reporting(path, &choice, format)?;
    for diagnostic in &checked.diagnostics {
        tracing::debug!("{diagnostic}");
    }
    match checked.config {
        Some(config) => Ok(config),
        None => {
            match format {
                Format::Json => print_json(&report_json(&checked, false)),
                Format::Text => {
                    for diagnostic in checked.errors() {
                        eprintln!("{diagnostic}");
                    }
                }
            }
            Err(ExitCode::from(exit::FAILED))
        }
    }
}

/// [`check`], with an unreadable file reported (JSON on stdout, or stderr).
fn check_reporting(
    path: &ConfigPath,
    choice: &ServerChoice,
    format: Format,
) -> Result<Checked, ExitCode> {
    check(path, choice).map_err(|e| {
        match format {
            Format::Json => print_json(&unreadable_json(&e)),
            Format::Text => eprintln!("error: {e}"),
        }
        ExitCode::from(exit::CANNOT_RUN)
    })
}

/// The JSON report of a checked file: whether it passed, every error and warning located, and
/// the nats-server it was judged against.
pub fn report_json(checked: &Checked, valid: bool) -> serde_json::Value {
    json!({
        "file": checked.source.path,
        "valid": valid,
        "readable": true,
        "nats_server": {
            "path": checked.server,
            "version": checked.version,
        },
        "errors": checked.errors().collect::<Vec<_>>(),
        "warnings": checked.warnings().collect::<Vec<_>>(),
    })
}

/// The same report for a file that could not be read at all.
pub fn unreadable_json(error: &ReadError) -> serde_json::Value {
    let mut diagnostic = Diagnostic::error("", error.to_string());
    diagnostic.file = Some(error.path.clone());
    json!({
        "file": error.path,
        "valid": false,
        "readable": false,
        "nats_server": null,
        "errors": [diagnostic],
        "warnings": [],
    })
}

/// Best effort: the exit status says what happened when stdout is gone.
fn print_json(report: &serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut stdout, report);
    let _ = writeln!(stdout);
}
