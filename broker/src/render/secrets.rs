//! Where the secrets a rendered configuration needs come from.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot read secret file {}: {reason}", path.display())]
pub struct SecretError {
    pub path: PathBuf,
    pub reason: String,
}

/// Supplies the contents of `*_file` secrets while rendering.
pub trait Secrets: Send + Sync {
    fn read(&self, path: &Path) -> Result<String, SecretError>;
}

/// Reads secrets from their files; what `run` uses for the configuration nats-server loads.
pub struct SecretFiles;

impl Secrets for SecretFiles {
    fn read(&self, path: &Path) -> Result<String, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let secret = text.trim_end_matches(['\r', '\n']);
        if secret.is_empty() {
            return Err(SecretError {
                path: path.to_owned(),
                reason: "the file is empty".into(),
            });
        }
        Ok(secret.to_owned())
    }
}

/// Stands in for every secret; what `render` prints, so no secret ever reaches a terminal.
pub struct Redacted;

/// The placeholder put where a secret would be.
pub const REDACTED: &str = "REDACTED";

impl Secrets for Redacted {
    fn read(&self, _path: &Path) -> Result<String, SecretError> {
        Ok(REDACTED.to_owned())
    }
}
