//! Where the secrets a rendered configuration needs come from.

use std::path::Path;

pub use pier_config::secret::SecretError;

/// Supplies the contents of `*_file` secrets while rendering.
pub trait Secrets: Send + Sync {
    fn read(&self, path: &Path) -> Result<String, SecretError>;
}

/// Reads secrets from their files; what `run` uses for the configuration nats-server loads.
/// The same reader validation uses, so a secret validation passed is one rendering can read.
pub struct SecretFiles;

impl Secrets for SecretFiles {
    fn read(&self, path: &Path) -> Result<String, SecretError> {
        pier_config::secret::read_secret(path)
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
