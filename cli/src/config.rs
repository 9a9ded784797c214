//! `--config`, and what every command does with the file before acting on it.

use std::path::PathBuf;
use std::process::ExitCode;

use pier_config::load::{check, Checked, ServerChoice};
use pier_config::model::DEFAULT_CONFIG_PATH;

use crate::exit;

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

/// Loads pier.toml for a command that acts on it. When the command cannot go on, every error has
/// been printed to stderr and the exit status is returned: [`exit::CANNOT_RUN`] for a file that
/// cannot be read, [`exit::FAILED`] for an invalid one, in every binary. `nothing` says what did
/// not happen ("nothing rendered"). Warnings are left to the caller (`validate` prints them; a
/// command logs them).
pub fn load_valid(
    path: &ConfigPath,
    choice: &ServerChoice,
    nothing: &str,
) -> Result<Checked, ExitCode> {
    let checked = check(path, choice).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(exit::CANNOT_RUN)
    })?;
    if checked.valid_config().is_none() {
        for diagnostic in checked.errors() {
            eprintln!("{diagnostic}");
        }
        eprintln!(
            "error: {} is invalid; {nothing}",
            checked.source.path.display()
        );
        return Err(ExitCode::from(exit::FAILED));
    }
    for warning in checked.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(checked)
}
