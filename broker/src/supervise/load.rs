//! What `run` decides before the async runtime starts: the configuration read and validated by
//! the one loader and matched with its nats-server binary, and the cores (placement comes first:
//! threads inherit the affinity of the thread that starts them). A reload loads the same way.

use std::path::{Path, PathBuf};

use pier_config::load::{check, ServerChoice};
use pier_config::{Config, ServerVersion};

use super::placement::{self, Placement};
use super::SuperviseError;

/// A configuration read, validated and matched with its nats-server binary.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub version: ServerVersion,
    pub binary: PathBuf,
}

/// Reads and validates the configuration; warnings are logged, errors refuse it.
pub fn load(path: &Path, choice: &ServerChoice) -> Result<Loaded, SuperviseError> {
    let checked = check(path, choice)?;
    for warning in checked.warnings() {
        tracing::warn!("{warning}");
    }
    if checked.has_errors() {
        let errors: Vec<String> = checked.errors().map(ToString::to_string).collect();
        return Err(SuperviseError::Invalid(format!(
            "{} is invalid: {}",
            path.display(),
            errors.join("; ")
        )));
    }
    match (checked.config, checked.version, checked.server) {
        (Some(config), Some(version), Some(binary)) => Ok(Loaded {
            config,
            version,
            binary,
        }),
        _ => Err(SuperviseError::NoServer),
    }
}

/// Everything decided before the async runtime starts.
pub struct Prepared {
    pub config_path: PathBuf,
    pub choice: ServerChoice,
    pub loaded: Loaded,
    pub placement: Placement,
}

/// Loads the configuration, resolves its placement and pins the calling thread to the
/// supervisor's cores.
pub fn prepare(config_path: &Path, choice: ServerChoice) -> Result<Prepared, SuperviseError> {
    let loaded = load(config_path, &choice)?;
    let placement = placement::resolve_here(&loaded.config.resources.cpus)?;
    if let Some(cpus) = &placement.supervisor {
        placement::pin_current_thread(cpus)?;
    }
    Ok(Prepared {
        config_path: config_path.to_owned(),
        choice,
        loaded,
        placement,
    })
}
